package autodiff

import (
	"github.com/advancedclimatesystems/gonnx/onnx"
	ox "github.com/zerocost/zerocost/onnximport"
)

// unrolledOps are the ops that Normalize unrolls over a length it must
// know before running the model.
var unrolledOps = map[string]bool{"LSTM": true, "GRU": true, "RNN": true, "Loop": true, "Scan": true}

// WithStaticInputs returns a copy of m whose data inputs declare the
// dimensions that inputShape gives, read as onnximport.Input.FeedShape
// reads it: the whole shape fixes every axis (a sequence-first input, as
// PyTorch's default nn.LSTM takes, has its length on axis 0); the shape
// without the batch leaves a dynamic axis 0 dynamic. It applies only to models with
// LSTM, GRU, RNN, Loop or Scan nodes, whose unrolling needs a static
// sequence length (or trip count): any other model, an empty inputShape, or
// an input the shape does not fit, is returned unchanged. Callers that know
// the scoring batch's shape (proxies.Score, engine.NewGradient,
// engine.CheckGradients) apply it before Normalize.
func WithStaticInputs(m *ox.Model, inputShape []int64) *ox.Model {
	if len(inputShape) == 0 || !hasUnrolledOps(m.Graph()) {
		return m
	}
	out := m.Clone()
	changed := false
	byName := map[string]*onnx.ValueInfoProto{}
	for _, v := range out.Graph().GetInput() {
		byName[v.GetName()] = v
	}
	for _, in := range out.Inputs() {
		if in.Static() || len(in.Dims) == 0 {
			continue
		}
		dims, err := in.FeedShape(inputShape, 1)
		if err != nil {
			continue
		}
		names := make([]string, len(in.Dims))
		if in.Dims[0] < 0 && len(inputShape) != len(in.Dims) {
			dims[0] = -1
			names[0] = "N"
			if shape := byName[in.Name].GetType().GetTensorType().GetShape(); shape != nil && shape.GetDim()[0].GetDimParam() != "" {
				names[0] = shape.GetDim()[0].GetDimParam()
			}
		}
		*byName[in.Name] = *ox.ValueInfo(in.Name, in.ElemType, dims, names...)
		changed = true
	}
	if !changed {
		return m
	}
	out.Graph().ValueInfo = nil // recorded shapes may hold the old symbols
	return out
}

func hasUnrolledOps(g *onnx.GraphProto) bool {
	for _, n := range g.GetNode() {
		if unrolledOps[n.GetOpType()] {
			return true
		}
		for _, a := range n.GetAttribute() {
			if a.GetG() != nil && hasUnrolledOps(a.GetG()) {
				return true
			}
		}
	}
	return false
}
