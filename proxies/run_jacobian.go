package proxies

import (
	"fmt"

	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/engine"
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
// every parameter (autodiff.WithElementProbes: reduced inside the gradient
// graph to one [N] output per parameter) and a one-hot class mask on the
// logits (autodiff.WithClassMask), then runs it once per class: each
// probe output is, per sample, one entry of that class's Jacobian row.
// BatchNormalization runs on its running statistics (samples must not
// interact). With v.Init, the layer
// weights are re-initialised first (repeat 0's seeded weights; biases 0,
// BatchNormalization scale 1 and bias 0).
func (s *scorer) runSampleJacobian(v Variant) (*signals, error) {
	sub, err := s.reinitialised(v)
	if err != nil {
		return nil, err
	}
	return sub.sampleJacobian()
}

func (s *scorer) sampleJacobian() (*signals, error) {
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
	probed, probes, err := autodiff.WithElementProbes(s.m, params, shapes)
	if err != nil {
		return nil, fmt.Errorf("proxies: %s: %w", s.m.Name(), err)
	}
	probed = autodiff.WithClassMask(probed, s.head, classes)
	n := s.opts.Batch.Input.Shape[0]
	extra := map[string][]int64{autodiff.ClassMaskInput: {1, classes}}
	req := autodiff.Request{Output: autodiff.ClassMaskOutput, Head: autodiff.HeadSum, BN: autodiff.BNRunning, ExtraOutputs: []string{s.head}, Probes: probes}
	g, err := engine.NewGradient(probed, s.withShapes(engine.Options{Request: req, Session: s.opts.Session}, extra))
	if err != nil {
		return nil, err
	}
	defer g.Destroy()
	feeds := s.feeds()
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
			for b, v := range res[autodiff.ProbeOutput(p)].Float64s() {
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
