package proxies

import (
	"fmt"

	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/engine"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
)

// sampleJacobian is the per-sample Jacobian of the logits with respect to
// element 0 of every parameter tensor (Signals.SampleJacobian).
type sampleJacobian struct {
	params []string    // the parameter tensors, as parameterNames lists them
	rows   [][]float64 // rows[k][b·P + p] = ∂logit_k(x_b)/∂p₀
	logits []float64   // N × K
	n, k   int
}

// runSampleJacobian builds the model with per-sample probes on element 0 of
// every parameter (autodiff.WithElementProbes) and a one-hot class mask on
// the logits (autodiff.WithClassMask), then runs it once per class: the
// gradient of the masked sum with respect to each probe is, per sample,
// one entry of that class's Jacobian row. BatchNormalization runs on its
// running statistics (samples must not interact). With v.Init, the layer
// weights are re-initialised first (repeat 0's seeded weights; biases 0,
// BatchNormalization scale 1 and bias 0).
func (s *scorer) runSampleJacobian(v Variant) (*signals, error) {
	if s.headErr != "" {
		return nil, fmt.Errorf("%s", s.headErr)
	}
	dims, err := s.headShape()
	if err != nil {
		return nil, err
	}
	if len(dims) != 2 || dims[1] < 2 {
		return nil, fmt.Errorf("proxies: output %q of %s has shape %v; the per-sample Jacobian needs N×K logits (K ≥ 2): pick the logits with --output", s.head, s.m.Name(), dims)
	}
	classes := dims[1]
	shapes, err := s.dataShapes(s.fwd)
	if err != nil {
		return nil, err
	}
	params := s.parameterNames()
	if len(params) == 0 {
		return nil, fmt.Errorf("proxies: %s has no parameter tensors", s.m.Name())
	}
	m := s.m
	if v.Init != InitFile && !s.opts.KeepWeights {
		if m, err = s.reinitialised(v.Init); err != nil {
			return nil, err
		}
	}
	probed, err := autodiff.WithElementProbes(m, params, shapes)
	if err != nil {
		return nil, fmt.Errorf("proxies: %s: %w", s.m.Name(), err)
	}
	probed = autodiff.WithClassMask(probed, s.head, classes)
	n := s.opts.Batch.Input.Shape[0]
	extra := map[string][]int64{autodiff.ClassMaskInput: {1, classes}}
	req := autodiff.Request{Output: autodiff.ClassMaskOutput, Head: autodiff.HeadSum, BN: autodiff.BNRunning, ExtraOutputs: []string{s.head}}
	for _, p := range params {
		req.WRT = append(req.WRT, autodiff.ProbeInput(p))
		extra[autodiff.ProbeInput(p)] = []int64{n}
	}
	g, err := engine.NewGradient(probed, s.withShapes(engine.Options{Request: req, Session: s.opts.Session}, extra))
	if err != nil {
		return nil, err
	}
	defer g.Destroy()
	feeds := s.feeds()
	zeros := runtime.NewFloat32([]int64{n}, make([]float32, n))
	for _, p := range params {
		feeds[autodiff.ProbeInput(p)] = zeros
	}
	jac := &sampleJacobian{params: params, n: int(n), k: int(classes)}
	for k := range classes {
		mask := make([]float32, classes)
		mask[k] = 1
		feeds[autodiff.ClassMaskInput] = runtime.NewFloat32([]int64{1, classes}, mask)
		res, err := g.Run(feeds)
		if err != nil {
			return nil, err
		}
		row := make([]float64, int(n)*len(params))
		for j, p := range params {
			for b, v := range res[g.Grads[autodiff.ProbeInput(p)]].Float64s() {
				row[b*len(params)+j] = v
			}
		}
		jac.rows = append(jac.rows, row)
		if k == 0 {
			jac.logits = res[s.head].Float64s()
		}
	}
	return &signals{jacobian: jac}, nil
}

// reinitialised returns s's model with the layer weights of init's repeat
// 0 written into its initializers, biases 0 and normalisation scales 1 and
// biases 0 (resetBiasesAndNorms), for variants that build their own graph.
func (s *scorer) reinitialised(init InitChoice) (*ox.Model, error) {
	m, err := resetBiasesAndNorms(s.m, s.layers)
	if err != nil {
		return nil, err
	}
	weights := s.reinitWeights(init, 0, false)
	for _, t := range m.Graph().GetInitializer() {
		w, ok := weights[t.GetName()]
		if !ok {
			continue
		}
		if t.GetDataType() != ox.Float {
			return nil, fmt.Errorf("proxies: %s: weight %q is not float32; re-initialisation writes float32", s.m.Name(), t.GetName())
		}
		nt := ox.Float32Tensor(t.GetName(), t.GetDims(), w.F32)
		t.RawData, t.FloatData, t.DataLocation, t.ExternalData = nt.RawData, nt.FloatData, nt.DataLocation, nil
	}
	return m, nil
}
