package proxies

import (
	"fmt"
	"slices"
	"strings"

	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/engine"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
)

// stageSignals are what a GraphStages variant's runs read out.
type stageSignals struct {
	// tensors are the stage tensors f_0..f_L (onnximport.Stages).
	tensors []string
	// cov is the C×C channel covariance of each stage (row-major), and
	// channels its C.
	cov      map[string][]float64
	channels map[string]int
	// pairs are the blocks f_l → f_{l+1}, l = 0..L−1, with their transfer
	// matrices (StageTransfers).
	pairs []stagePair
}

// stagePair is one block between consecutive stages: M = G_inᵀ·G_out / rows
// (rows × cols), and whether the block passed the cotangent through
// unchanged (AZ-NAS's identity block).
type stagePair struct {
	from, to   string
	m          []float64
	rows, cols int
	identity   bool
}

// runStages runs the model on the data batch in train mode with its stage
// tensors (and their covariances) as outputs, then, for StageTransfers, the
// model cut at the stages (autodiff.CutAtStages), fed with the stage values
// of the first run and a seeded ±1 cotangent per stage, whose gradients with
// respect to the cut inputs are each block's vector–Jacobian product: one
// gradient graph for every block, two runs in all.
func (s *scorer) runStages(v Variant, need Signals) (*signals, error) {
	if s.headErr != "" {
		return nil, fmt.Errorf("%s", s.headErr)
	}
	sub, err := s.reinitialised(v)
	if err != nil {
		return nil, err
	}
	return sub.runStagesOn(need)
}

// reinitialised returns the scorer of a GraphStages variant's one run: its
// batch (the data, or a generated one: Variant.Input) and its model, whose
// layer weights are drawn with Variant.Init (repeat 0) and whose biases and
// normalisation parameters are reset, unless the variant keeps the file's
// weights or Options.KeepWeights is set.
func (s *scorer) reinitialised(v Variant) (*scorer, error) {
	x, _, err := s.variantBatch(v, 0)
	if err != nil {
		return nil, err
	}
	base := s.loose
	if base == nil {
		base = s.m
	}
	if v.Init != InitFile && !s.opts.KeepWeights {
		if base, err = resetBiasesAndNorms(base, s.layers); err != nil {
			return nil, err
		}
		base = withWeights(base, s.reinitWeights(v.Init, 0, false))
	}
	sub := *s
	sub.opts.Batch = x
	sub.m = autodiff.WithStaticInputs(base, x.Input.Shape)
	sub.dataShapes = engine.CachedShapeFinder(x.Input.Shape, s.opts.Session)
	return &sub, nil
}

// withWeights returns a copy of m whose initializers named in w hold w's values.
func withWeights(m *ox.Model, w map[string]*runtime.Tensor) *ox.Model {
	out := m.Clone()
	inits := out.Graph().GetInitializer()
	for i, t := range inits {
		if v, ok := w[t.GetName()]; ok {
			inits[i] = ox.Float32Tensor(t.GetName(), t.GetDims(), v.F32)
		}
	}
	return out
}

// runStagesOn runs the stage graphs on s's batch and model.
func (s *scorer) runStagesOn(need Signals) (*signals, error) {
	st, err := s.m.Stages(s.head)
	if err != nil {
		return nil, err
	}
	if st.Fallback {
		s.res.Notes = append(s.res.Notes, "AZ-NAS stages: "+st.Why)
	}
	if st.Tensors, err = s.featureMaps(st.Tensors); err != nil {
		return nil, err
	}
	if len(st.Tensors) < 2 {
		return nil, fmt.Errorf("proxies: %s has %d stage tensor(s) (`zerocost layers` lists them); AZ-NAS compares consecutive stages and needs at least 2", s.m.Name(), len(st.Tensors))
	}
	distinct, _ := distinctStages(st.Tensors)
	for i := 1; i < len(st.Tensors); i++ {
		if t := st.Tensors[i]; t != st.Tensors[i-1] && slices.Index(st.Tensors, t) < i {
			return nil, fmt.Errorf("proxies: %s: stage tensor %q comes back after other stages; a stage may only repeat the one just before", s.m.Name(), t)
		}
	}
	req := autodiff.Request{Head: autodiff.HeadSum, Output: s.head, BN: autodiff.BNTrain, ExtraOutputs: distinct}
	if need.StageCovariances {
		req.Covariance = distinct
	}
	g, err := engine.NewGradient(s.m, s.withShapes(engine.Options{Request: req, Session: s.opts.Session, Shapes: s.dataShapes}, nil))
	if err != nil {
		return nil, err
	}
	defer g.Destroy()
	feeds := s.feeds()
	res, err := g.Run(feeds)
	if err != nil {
		return nil, err
	}
	sig := &stageSignals{tensors: st.Tensors, cov: map[string][]float64{}, channels: map[string]int{}}
	dims := map[string][]int64{}
	for _, t := range st.Tensors {
		v := res[t]
		if v == nil || len(v.Shape) < 2 {
			return nil, fmt.Errorf("proxies: %s: stage tensor %q has no channel axis", s.m.Name(), t)
		}
		dims[t] = v.Shape
		sig.channels[t] = int(v.Shape[1])
		if need.StageCovariances {
			sig.cov[t] = res[autodiff.CovarianceName(t)].Float64s()
		}
	}
	if need.StageTransfers {
		if err := s.stageTransfers(sig, res, dims, feeds); err != nil {
			return nil, err
		}
	}
	return &signals{stages: sig}, nil
}

// featureMaps keeps the stage tensors that are feature maps, N×C×H×W (the
// features AZ-NAS reads): a stage after the global pooling (a flattened
// N×C vector, which an export's Reshape makes a stage) is left out, with a
// note.
func (s *scorer) featureMaps(ts []string) ([]string, error) {
	shapes, err := s.dataShapes(s.fwd)
	if err != nil {
		return nil, err
	}
	var keep, left []string
	for _, t := range ts {
		if info, ok := shapes[t]; ok && len(info.Dims) == 4 {
			keep = append(keep, t)
		} else {
			left = append(left, t)
		}
	}
	if len(left) > 0 {
		s.res.Notes = append(s.res.Notes, fmt.Sprintf("AZ-NAS reads the %d stage tensors that are N×C×H×W feature maps; %d other(s) left out: %s", len(keep), len(left), strings.Join(left, ", ")))
	}
	return keep, nil
}

// stageTransfers fills sig.pairs from the cut graph's run. A stage that
// repeats the one before (a declared stage list: a cell that passes its
// input through) is an identity block without a run.
func (s *scorer) stageTransfers(sig *stageSignals, fwd map[string]*runtime.Tensor, dims map[string][]int64, feeds map[string]*runtime.Tensor) error {
	ts := sig.tensors
	distinct, first := distinctStages(ts)
	req := autodiff.Request{Head: autodiff.HeadSum, Output: autodiff.CutHeadOutput, BN: autodiff.BNTrain}
	extra := map[string][]int64{}
	cutFeeds := map[string]*runtime.Tensor{}
	for k, v := range feeds {
		cutFeeds[k] = v
	}
	for l := range len(distinct) - 1 {
		in, out := distinct[l], distinct[l+1]
		stride, err := unshuffleStride(dims[in], dims[out])
		if err != nil {
			return fmt.Errorf("proxies: %s: AZ-NAS trainability from stage %q to %q: %w", s.m.Name(), in, out, err)
		}
		req.WRT = append(req.WRT, autodiff.CutInput(in))
		req.Transfer = append(req.Transfer, autodiff.Transfer{In: autodiff.CutInput(in), Seed: autodiff.CutSeed(out), Stride: stride})
		extra[autodiff.CutInput(in)] = dims[in]
		extra[autodiff.CutSeed(out)] = dims[out]
		cutFeeds[autodiff.CutInput(in)] = fwd[in]
		cutFeeds[autodiff.CutSeed(out)] = runtime.NewFloat32(dims[out], signCotangent(s.opts.Seed, first[out], runtime.NumElements(dims[out])))
	}
	var res map[string]*runtime.Tensor
	if len(distinct) > 1 {
		cut, err := autodiff.CutAtStages(s.m, distinct, dims)
		if err != nil {
			return err
		}
		g, err := engine.NewGradient(cut, s.withShapes(engine.Options{Request: req, Session: s.opts.Session}, extra))
		if err != nil {
			return err
		}
		defer g.Destroy()
		if res, err = g.Run(cutFeeds); err != nil {
			return err
		}
	}
	for l := range len(ts) - 1 {
		in, out := ts[l], ts[l+1]
		if in == out {
			sig.pairs = append(sig.pairs, stagePair{from: in, to: out, identity: true})
			continue
		}
		m := res[autodiff.TransferName(autodiff.CutInput(in))]
		p := stagePair{from: in, to: out, m: m.Float64s(), rows: int(m.Shape[0]), cols: int(m.Shape[1])}
		if d := res[autodiff.IdentityName(autodiff.CutInput(in))]; d != nil && d.Float64s()[0] == 0 {
			p.identity = true
		}
		sig.pairs = append(sig.pairs, p)
	}
	return nil
}

// distinctStages returns the stage tensors without their repeats, and the
// index in ts of each one's first occurrence.
func distinctStages(ts []string) ([]string, map[string]int) {
	var out []string
	first := map[string]int{}
	for i, t := range ts {
		if _, seen := first[t]; !seen {
			first[t] = i
			out = append(out, t)
		}
	}
	return out, first
}

// unshuffleStride is the pixel-unshuffle factor that brings the gradient of
// a block's input (N×C×H×W) to its output's resolution, as AZ-NAS's
// int(H_in/H_out): 1 when the resolutions agree.
func unshuffleStride(in, out []int64) (int64, error) {
	if len(in) != len(out) {
		return 0, fmt.Errorf("the stages have ranks %d and %d", len(in), len(out))
	}
	if len(in) != 4 {
		for i := 2; i < len(in); i++ {
			if in[i] != out[i] {
				return 0, fmt.Errorf("shapes %v and %v: resolution changes are read only on N×C×H×W tensors", in, out)
			}
		}
		return 1, nil
	}
	if in[2] == out[2] && in[3] == out[3] {
		return 1, nil
	}
	s := in[2] / out[2]
	if s < 2 || in[2] != s*out[2] || in[3] != s*out[3] {
		return 0, fmt.Errorf("shapes %v and %v: the resolution does not shrink by one integer factor, so the gradient cannot be pixel-unshuffled onto the output", in, out)
	}
	return s, nil
}

// signCotangent returns n values ±1 for stage l: the top bit of the j-th
// SplitMix64 output from the stage's seed splitMix(seed, l) (1 → +1,
// 0 → −1), as the PyTorch reference draws them
// (testdata/proxies/gen_az_nas.py).
func signCotangent(seed uint64, l, n int) []float32 {
	ls := splitMix(seed, uint64(l))
	out := make([]float32, n)
	for j := range out {
		out[j] = -1
		if splitMix(ls, uint64(j+1))>>63 == 1 {
			out[j] = 1
		}
	}
	return out
}
