package engine

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/data"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
	"google.golang.org/protobuf/proto"
)

// ShapeFinder returns an autodiff.ShapeFunc that finds the element type and
// shape of every tensor at two batch sizes (2 and 3); dimensions that differ
// between them follow the batch and become -1. Graphs made of common
// operators are inferred statically (inferStatic); others are run, with an
// extra output per tensor.
// inputShape is the shape of the data inputs without (or with) the batch
// dimension, as for onnximport.Input.ResolveShape.
func ShapeFinder(inputShape []int64, opts runtime.SessionOptions) autodiff.ShapeFunc {
	return finder(feedPlan{shape: inputShape}, opts)
}

// ShapeFinderFor is ShapeFinder for models with several inputs: shapes
// gives the whole shape of inputs by name (the scoring batch), and the
// model is inferred or run once at them. Inputs not in shapes (labels, a
// gradient graph's extra inputs) take their declared shape, with a dynamic
// axis 0 set to the batch size of the named inputs.
func ShapeFinderFor(shapes map[string][]int64, opts runtime.SessionOptions) autodiff.ShapeFunc {
	return finder(feedPlan{byName: shapes}, opts)
}

func finder(plan feedPlan, opts runtime.SessionOptions) autodiff.ShapeFunc {
	return func(m *ox.Model) (autodiff.Shapes, error) {
		shapes, err := staticShapes(m, plan)
		var overflow *ShapeOverflowError
		switch {
		case err == nil:
			return shapes, nil
		case errors.As(err, &overflow):
			return nil, err // running the model would try to allocate it
		}
		if err := checkProbe(m, plan, opts.MaxMemory); err != nil {
			return nil, err
		}
		return probeShapes(m, plan, opts)
	}
}

// feedPlan gives the input shapes of a shape discovery: one shape for
// every data input (shape, as for onnximport.Input.FeedShape), or whole
// shapes by name (byName).
type feedPlan struct {
	shape  []int64
	byName map[string][]int64
}

// batches returns the batch sizes to infer or run at: 2 and 3 (sizes that
// differ between them follow the batch), or the one given.
func (p feedPlan) batches(ins []ox.Input) []int64 {
	if p.byName != nil {
		return []int64{p.batch(ins)}
	}
	if len(ins) > 0 && len(p.shape) > 0 && len(p.shape) == len(ins[0].Dims) {
		return []int64{p.shape[0]} // the whole shape is given: one run at its batch
	}
	return []int64{2, 3}
}

// batch is the size at axis 0 of the named inputs whose axis 0 is dynamic.
func (p feedPlan) batch(ins []ox.Input) int64 {
	for _, in := range ins {
		if d, ok := p.byName[in.Name]; ok && len(in.Dims) > 0 && in.Dims[0] < 0 && len(d) > 0 {
			return d[0]
		}
	}
	return 1
}

// dims returns the shape to feed in at batch.
func (p feedPlan) dims(in ox.Input, batch int64) ([]int64, error) {
	if d, ok := p.byName[in.Name]; ok {
		return d, nil
	}
	if p.byName != nil {
		return in.FeedShape(nil, batch)
	}
	return in.FeedShape(p.shape, batch)
}

// probeShapes runs m (see ShapeFinder).
func probeShapes(m *ox.Model, plan feedPlan, opts runtime.SessionOptions) (autodiff.Shapes, error) {
	probe, probes := shapeProbe(m)
	data, err := probe.Marshal()
	if err != nil {
		return nil, err
	}
	opts.Inputs, opts.Outputs = nil, nil
	for _, in := range m.Inputs() {
		opts.Inputs = append(opts.Inputs, in.Name)
	}
	for _, o := range probe.Graph().GetOutput() {
		opts.Outputs = append(opts.Outputs, o.GetName())
	}
	// The probe graph has three extra nodes per tensor and runs twice:
	// optimising it costs far more than it saves.
	opts.Optimization = "none"
	s, err := runtime.NewSession(data, opts)
	if err != nil {
		return nil, fmt.Errorf("engine: %s: finding tensor shapes: %w", m.Name(), err)
	}
	defer s.Destroy()
	var runs []map[string]*runtime.Tensor
	dynamicBatch := false
	for _, batch := range plan.batches(m.Inputs()) {
		feeds := map[string]*runtime.Tensor{}
		for i, in := range m.Inputs() {
			if len(in.Dims) > 0 && in.Dims[0] < 0 {
				dynamicBatch = true
			}
			dims, err := plan.dims(in, batch)
			if err != nil {
				return nil, fmt.Errorf("engine: %s: %w", m.Name(), err)
			}
			feeds[in.Name] = sampleInput(in, dims, uint64(i))
		}
		out, err := s.Run(feeds)
		if err != nil {
			return nil, fmt.Errorf("engine: %s: running the model to find tensor shapes: %w", m.Name(), err)
		}
		runs = append(runs, out)
		if !dynamicBatch {
			break
		}
	}
	shapes := autodiff.Shapes{}
	for _, t := range m.Graph().GetInitializer() {
		elem := ox.Int64
		if ox.IsFloat(t.GetDataType()) {
			elem = t.GetDataType()
		}
		shapes[t.GetName()] = autodiff.TensorInfo{Elem: elem, Dims: append([]int64{}, t.GetDims()...)}
	}
	for tensor, p := range probes {
		first := runs[0][p.shape].I64
		dims := append([]int64{}, first...)
		if len(runs) > 1 {
			second := runs[1][p.shape].I64
			for i := range dims {
				if i < len(second) && second[i] != dims[i] {
					dims[i] = -1
				}
			}
		}
		elem := ox.Int64
		switch runs[0][p.sample].DType() {
		case runtime.Float32:
			elem = ox.Float
		case runtime.Float64:
			elem = ox.Double
		}
		shapes[tensor] = autodiff.TensorInfo{Elem: elem, Dims: dims, ONNXType: runs[0][p.sample].ONNXType}
	}
	return shapes, nil
}

// staticShapes infers shapes without running m (see inferStatic), at the
// same batch sizes as the probe run, when every operator has a rule.
func staticShapes(m *ox.Model, plan feedPlan) (autodiff.Shapes, error) {
	ins := m.Inputs()
	var runs []autodiff.Shapes
	for _, batch := range plan.batches(ins) {
		feeds := map[string][]int64{}
		dynamic := false
		for _, in := range ins {
			if len(in.Dims) > 0 && in.Dims[0] < 0 {
				dynamic = true
			}
			dims, err := plan.dims(in, batch)
			if err != nil {
				return nil, err
			}
			feeds[in.Name] = dims
		}
		shapes, err := inferStatic(m, feeds)
		if err != nil {
			return nil, err
		}
		runs = append(runs, shapes)
		if !dynamic {
			break
		}
	}
	if len(runs) > 1 {
		for name, info := range runs[0] {
			other := runs[1][name].Dims
			for i := range info.Dims {
				if i < len(other) && other[i] != info.Dims[i] {
					info.Dims[i] = -1
				}
			}
		}
	}
	return runs[0], nil
}

// probeNames are the outputs that report one tensor's shape and element type.
type probeNames struct{ shape, sample string }

// shapeProbe returns a copy of m whose outputs are, for every tensor, its
// shape and its first element (rank-1 outputs, as onnxruntime_go cannot
// return 0-d tensors).
func shapeProbe(m *ox.Model) (*ox.Model, map[string]probeNames) {
	p := m.Clone()
	g := p.Graph()
	g.Output = nil
	probes := map[string]probeNames{}
	var tensors []string
	for _, in := range m.Inputs() {
		tensors = append(tensors, in.Name)
	}
	for _, n := range m.Graph().GetNode() {
		for _, o := range n.GetOutput() {
			if o != "" {
				tensors = append(tensors, o)
			}
		}
	}
	flat := "zerocost_probe/minus_one"
	zero, one := "zerocost_probe/zero", "zerocost_probe/one"
	g.Initializer = append(g.Initializer,
		ox.Int64Tensor(flat, []int64{1}, []int64{-1}),
		ox.Int64Tensor(zero, []int64{1}, []int64{0}),
		ox.Int64Tensor(one, []int64{1}, []int64{1}))
	for i, t := range tensors {
		if _, done := probes[t]; done {
			continue
		}
		pn := probeNames{shape: fmt.Sprintf("zerocost_probe/%d/shape", i), sample: fmt.Sprintf("zerocost_probe/%d/sample", i)}
		flatName := fmt.Sprintf("zerocost_probe/%d/flat", i)
		g.Node = append(g.Node,
			ox.Node("Shape", pn.shape, []string{t}, []string{pn.shape}),
			ox.Node("Reshape", flatName, []string{t, flat}, []string{flatName}),
			ox.Node("Slice", pn.sample, []string{flatName, zero, one}, []string{pn.sample}))
		g.Output = append(g.Output, &onnx.ValueInfoProto{Name: pn.shape}, &onnx.ValueInfoProto{Name: pn.sample})
		probes[t] = pn
	}
	return p, probes
}

// sampleInput returns data for an input while finding shapes.
// Integer and bool inputs get zeros: valid indices and labels.
func sampleInput(in ox.Input, dims []int64, seed uint64) *runtime.Tensor {
	switch {
	case in.ElemType == ox.Double:
		return runtime.NewFloat64(dims, data.RandomNormal(dims, seed).Float64s())
	case in.ElemType == 0 || ox.IsFloat(in.ElemType):
		return data.RandomNormal(dims, seed)
	}
	zeros := make([]int64, runtime.NumElements(dims))
	if t, err := runtime.NewInteger(dims, zeros, in.ElemType); err == nil {
		return t
	}
	return runtime.NewInt64(dims, zeros)
}

// CachedShapeFinderFor is ShapeFinderFor with the memory of
// CachedShapeFinder.
func CachedShapeFinderFor(shapes map[string][]int64, opts runtime.SessionOptions) autodiff.ShapeFunc {
	return cached(feedPlan{byName: shapes}, opts)
}

// CachedShapeFinder is ShapeFinder with a memory: a model it has seen is
// not inferred or run again. Proxies that build several graphs of one
// model share one discovery this way. Static inference does not read
// float weights, so its results are remembered by the model's structure
// (everything but the float initializers' values: hashing a large model's
// weights cost more than the inference); a probe run's by the model's
// bytes. It is not safe for concurrent use.
func CachedShapeFinder(inputShape []int64, opts runtime.SessionOptions) autodiff.ShapeFunc {
	return cached(feedPlan{shape: inputShape}, opts)
}

func cached(plan feedPlan, opts runtime.SessionOptions) autodiff.ShapeFunc {
	static := map[[32]byte]autodiff.Shapes{}
	probed := map[[32]byte]autodiff.Shapes{}
	return func(m *ox.Model) (autodiff.Shapes, error) {
		key, err := structureKey(m)
		if err != nil {
			return nil, err
		}
		if s, ok := static[key]; ok {
			return s, nil
		}
		s, err := staticShapes(m, plan)
		var overflow *ShapeOverflowError
		switch {
		case err == nil:
			static[key] = s
			return s, nil
		case errors.As(err, &overflow):
			return nil, err
		}
		data, err := m.Marshal()
		if err != nil {
			return nil, err
		}
		full := sha256.Sum256(data)
		if s, ok := probed[full]; ok {
			return s, nil
		}
		if err := checkProbe(m, plan, opts.MaxMemory); err != nil {
			return nil, err
		}
		s, err = probeShapes(m, plan, opts)
		if err == nil {
			probed[full] = s
		}
		return s, err
	}
}

// structureKey hashes what static shape inference reads of m: the opsets,
// the nodes, inputs, outputs and value infos, and the initializers' names,
// types and dims, with the values of all but the float ones.
func structureKey(m *ox.Model) ([32]byte, error) {
	h := sha256.New()
	mo := proto.MarshalOptions{Deterministic: true}
	var buf []byte
	add := func(msg proto.Message) error {
		var err error
		if buf, err = mo.MarshalAppend(buf[:0], msg); err != nil {
			return err
		}
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(buf)))
		h.Write(n[:])
		h.Write(buf)
		return nil
	}
	for _, o := range m.Proto.GetOpsetImport() {
		if err := add(o); err != nil {
			return [32]byte{}, err
		}
	}
	g := m.Graph()
	for _, n := range g.GetNode() {
		if err := add(n); err != nil {
			return [32]byte{}, err
		}
	}
	for _, list := range [][]*onnx.ValueInfoProto{g.GetInput(), g.GetOutput(), g.GetValueInfo()} {
		h.Write([]byte{0xff})
		for _, v := range list {
			if err := add(v); err != nil {
				return [32]byte{}, err
			}
		}
	}
	h.Write([]byte{0xfe})
	for _, t := range g.GetInitializer() {
		if ox.IsFloat(t.GetDataType()) || t.GetDataType() == ox.Float16 || t.GetDataType() == ox.BFloat16 {
			head := &onnx.TensorProto{Name: t.GetName(), DataType: t.GetDataType(), Dims: t.GetDims()}
			if err := add(head); err != nil {
				return [32]byte{}, err
			}
			continue
		}
		if err := add(t); err != nil {
			return [32]byte{}, err
		}
	}
	var key [32]byte
	copy(key[:], h.Sum(nil))
	return key, nil
}
