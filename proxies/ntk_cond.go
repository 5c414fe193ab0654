package proxies

import (
	"fmt"
	"math"

	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/engine"
	"github.com/zerocost/zerocost/runtime"
	"gonum.org/v1/gonum/mat"
)

// ntk_cond is TE-NAS's NTK condition number (Chen et al., ICLR 2021;
// VITA-Group/TENAS lib/procedures/ntk.py get_ntk_n): a train-mode forward
// of the whole batch (TE-NAS: 72 real images), then for each sample i the
// gradient of Σ logits[i] — through the batch's forward, BatchNormalization
// coupling the samples, as TE-NAS's backward of logit[i:i+1] — with respect
// to every weight: the Conv/Gemm/MatMul layer weights and the scales of the
// normalisation nodes (TE-NAS takes every parameter whose name holds
// "weight", BatchNorm's included; never biases). G is B × P, K = G·Gᵀ and the
// score κ = λ_max / λ_min (lower is better; te_nas ranks −ntk_cond).
// zerocost computes each sample's gradient with a fed cotangent on the head
// output (one session, one run per sample); the gradients stay in float32 and
// K is accumulated in float64. TE-NAS gives NaN for a zero NTK; AZ-NAS's
// port of it sets NaN to 100000; zerocost reports an error.
var _ = register(Proxy{
	Name: "ntk_cond", Order: 280, NeedsData: true,
	Summary: "TE-NAS: condition number λ_max/λ_min of the NTK G·Gᵀ of per-sample gradients of Σ logits",
	Variant: Variant{Graph: GraphNTK, BN: BNKeepTrain, Init: InitKaimingFanIn, Repeats: 3},
	Reduce: func(s *scorer, sig *signals) (*ProxyResult, error) {
		total := 0.0
		for _, k := range sig.ntk {
			var eig mat.EigenSym
			if !eig.Factorize(k, false) {
				return nil, fmt.Errorf("proxies: ntk_cond: the eigen-decomposition of the %d×%d NTK did not converge", k.SymmetricDim(), k.SymmetricDim())
			}
			v := eig.Values(nil)
			cond := v[len(v)-1] / v[0]
			if math.IsNaN(cond) || math.IsInf(cond, 0) || v[0] == 0 {
				return nil, fmt.Errorf("proxies: ntk_cond: the NTK is singular (eigenvalues %.3g … %.3g): the per-sample gradients are linearly dependent or zero", v[0], v[len(v)-1])
			}
			total += cond
		}
		return &ProxyResult{Score: total / float64(len(sig.ntk))}, nil
	},
})

// ntkParams lists the tensors ntk_cond differentiates: the layer weights,
// then the scale of every BatchNormalization, InstanceNormalization and
// LayerNormalization node that is a parameter, each once.
func (s *scorer) ntkParams() []string {
	var out []string
	seen := map[string]bool{}
	for _, l := range s.layers {
		if !seen[l.Param] {
			seen[l.Param] = true
			out = append(out, l.Param)
		}
	}
	params := map[string]bool{}
	for _, t := range s.m.Graph().GetInitializer() {
		if engine.IsParameter(t) {
			params[t.GetName()] = true
		}
	}
	for _, n := range s.m.Graph().GetNode() {
		switch n.GetOpType() {
		case "BatchNormalization", "InstanceNormalization", "LayerNormalization":
			if len(n.GetInput()) > 1 {
				if sc := n.GetInput()[1]; params[sc] && !seen[sc] {
					seen[sc] = true
					out = append(out, sc)
				}
			}
		}
	}
	return out
}

// runNTK runs ntk_cond's gradient graph once per sample of the batch, for
// each repeat (Variant.Repeats, each with its own re-initialisation:
// Variant.Init), and returns one NTK per repeat.
func (s *scorer) runNTK(v Variant) (*signals, error) {
	if s.headErr != "" {
		return nil, fmt.Errorf("%s", s.headErr)
	}
	x, _, err := s.variantBatch(v, 0)
	if err != nil {
		return nil, err
	}
	base := s.loose
	if base == nil {
		base = s.m
	}
	reinit := v.Init != InitFile && !s.opts.KeepWeights
	if reinit {
		if base, err = resetBiasesAndNorms(base, s.layers); err != nil {
			return nil, err
		}
	}
	sub := *s
	sub.opts.Batch = x
	sub.m = autodiff.WithStaticInputs(base, x.Input.Shape)
	sub.dataShapes = engine.CachedShapeFinder(x.Input.Shape, s.opts.Session)
	dims, err := sub.headShape()
	if err != nil {
		return nil, err
	}
	n := x.Input.Shape[0]
	if n < 2 {
		return nil, fmt.Errorf("proxies: ntk_cond compares samples and needs a batch of at least 2 (TE-NAS: 72); give --batch-size 72")
	}
	if n != 72 {
		s.res.Notes = append(s.res.Notes, fmt.Sprintf("ntk_cond: the NTK is %d×%d, one row per sample of the batch; TE-NAS uses 72 samples (--batch-size 72)", n, n))
	}
	shape := append([]int64{}, dims...)
	if len(shape) == 0 || (shape[0] != -1 && shape[0] != n) {
		return nil, fmt.Errorf("proxies: ntk_cond: output %q has shape %v; want the batch on axis 0", s.head, dims)
	}
	shape[0] = n
	params := s.ntkParams()
	req := autodiff.Request{Head: autodiff.HeadSeed, Output: s.head, WRT: params, BN: autodiff.BNTrain}
	g, err := engine.NewGradient(sub.m, sub.withShapes(engine.Options{Request: req, Session: s.opts.Session, Shapes: sub.dataShapes, FeedParams: reinit}, nil))
	if err != nil {
		return nil, err
	}
	defer g.Destroy()
	var fixed map[string]*runtime.Tensor // the parameters a re-initialisation leaves (normalisation scales, reset)
	if reinit {
		if fixed, err = engine.ParamValues(base, g.Params); err != nil {
			return nil, err
		}
	}
	out := &signals{}
	for r := range s.repeats(v) {
		feeds := sub.feeds()
		if reinit {
			w := s.reinitWeights(v.Init, r, false)
			for _, p := range g.Params {
				if t, ok := w[p]; ok {
					feeds[p] = t
				} else {
					feeds[p] = fixed[p]
				}
			}
		}
		k, err := ntkOf(g, feeds, params, shape)
		if err != nil {
			return nil, err
		}
		out.ntk = append(out.ntk, k)
	}
	return out, nil
}

// ntkOf runs g once per sample i with the cotangent 1 on sample i's head
// output and 0 elsewhere, and returns K = G·Gᵀ of the gradients of params.
func ntkOf(g *engine.Gradient, feeds map[string]*runtime.Tensor, params []string, shape []int64) (*mat.SymDense, error) {
	n := int(shape[0])
	per := runtime.NumElements(shape[1:])
	seed := make([]float32, n*per)
	rows := make([][]float32, n)
	for i := range n {
		clear(seed)
		for j := range per {
			seed[i*per+j] = 1
		}
		feeds[g.Seed] = runtime.NewFloat32(shape, seed)
		res, err := g.Run(feeds)
		if err != nil {
			return nil, err
		}
		var row []float32
		for _, p := range params {
			t := res[g.Grads[p]]
			if t.F32 == nil {
				return nil, fmt.Errorf("proxies: ntk_cond: the gradient of %q is not float32", p)
			}
			row = append(row, t.F32...)
		}
		rows[i] = row
	}
	k := mat.NewSymDense(n, nil)
	for i := range rows {
		for j := i; j < n; j++ {
			k.SetSym(i, j, dot32(rows[i], rows[j]))
		}
	}
	return k, nil
}

// dot32 is Σ a_i·b_i accumulated in float64.
func dot32(a, b []float32) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += float64(a[i]) * float64(b[i])
		s1 += float64(a[i+1]) * float64(b[i+1])
		s2 += float64(a[i+2]) * float64(b[i+2])
		s3 += float64(a[i+3]) * float64(b[i+3])
	}
	for ; i < len(a); i++ {
		s0 += float64(a[i]) * float64(b[i])
	}
	return s0 + s1 + s2 + s3
}
