package proxies

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/zerocost/zerocost/runtime"
	"gonum.org/v1/gonum/mat"
)

// GraphKind is how a variant's graph is made and run.
type GraphKind int

const (
	// GraphStatic needs no graph: weights and shapes only.
	GraphStatic GraphKind = iota
	// GraphData is the model (BatchNormalization as Options.BN) on the data
	// batch, differentiated with the variant's head where a signal needs a
	// gradient.
	GraphData
	// GraphSynflow is the model with every parameter replaced by its
	// absolute value on one all-ones sample (synflow.go): BatchNormalization
	// removed (and the model rescaled to carry magnitudes beyond float32 in
	// log10) or, with BN set to BNKeepTrain, kept in train mode.
	GraphSynflow
	// GraphStages is the model on the data batch with its stage tensors
	// (onnximport.Stages) read out, and the model cut at those tensors for
	// vector–Jacobian products of each block alone (run_stages.go).
	GraphStages
	// GraphNTK is the model on the data batch differentiated once per
	// sample with a fed cotangent on the head (ntk_cond.go).
	GraphNTK
)

// HeadChoice is the scalar a variant's gradients are taken of.
type HeadChoice int

const (
	// HeadLoss is the weight-gradient head: cross-entropy on the logits
	// (Options.Head may force the sum, and the sum is taken where the head
	// output has no class axis).
	HeadLoss HeadChoice = iota
	// HeadOutputSum is Σ of the head output (input Jacobians).
	HeadOutputSum
)

// BNChoice is the BatchNormalization mode of a variant.
type BNChoice int

const (
	BNFromOptions  BNChoice = iota // Options.BN (train by default)
	BNRemoved                      // identity everywhere
	BNKeepTrain                    // train mode whatever Options.BN says
	BNRunningStats                 // running statistics, even in a training-mode export (autodiff.BNRunning)
)

// Variant is a graph variant with its inputs. Proxies whose Variant is equal
// share one graph and its runs; the planner merges their Signals.
type Variant struct {
	Graph GraphKind
	Head  HeadChoice
	BN    BNChoice
	// Split runs the graph on Split equal parts of the data batch, one run
	// each (0 or 1: one run on the whole batch).
	Split int
	// Samples runs the graph on the first Samples samples of the data batch
	// only (0: all of them).
	Samples int
	// PerSample runs the graph on each sample of the batch alone (a batch
	// of one: train-mode BatchNormalization takes its statistics over the
	// sample's spatial positions).
	PerSample bool
	// Float64 lowers the graph to float64 (autodiff.LowerToFloat64), for a
	// reduction that float32 round-off would dominate (zico's ratios of
	// nearly equal gradients).
	Float64 bool
	// Init re-initialises the layer weights before each repeat (reinit.go:
	// InitNormal, InitKaimingFanIn; seeded from Options.Seed and the repeat
	// index), unless Options.KeepWeights is set. InitFile (the default) keeps
	// the file's weights.
	Init InitChoice
	// Input is where the batch comes from: the data batch (InputData, cut
	// to Samples when set) or a seeded N(0, 1) batch of Batch samples
	// (InputNormal), drawn anew for each repeat.
	Input InputChoice
	// Batch is the size of an InputNormal batch.
	Batch int
	// InputHW, when set, makes an InputNormal batch C×InputHW×InputHW
	// (TE-NAS's linear regions: 3) whatever the data's resolution.
	InputHW int
	// Repeats runs the variant this many times (0: once; Options.Repeats
	// overrides it), each with its own re-initialisation and generated
	// batch, on one graph and session: signals.runs holds one set per repeat.
	Repeats int
	// Perturb, when set, runs each repeat a second time on x + Perturb·ε,
	// ε another seeded N(0, 1) batch (Zen-NAS's mixup, 0.01), with the same
	// weights: the signals of that run are in signals.perturbed.
	Perturb float64
}

// repeated reports whether a variant goes through runRepeats: it
// re-initialises, generates its input or repeats.
func (v Variant) repeated() bool {
	return v.Init != InitFile || v.Input != InputData || v.Repeats > 0 || v.Perturb > 0
}

// Signals are what a proxy reads from its variant's runs. The planner ORs
// the Signals of the proxies of one variant and asks the graph for each once.
type Signals struct {
	WeightGrads bool // dHead/dW of every layer weight, into Go (one vector per layer)
	// Fisher is fisher's per-channel product of every layer output with its
	// gradient, reduced inside the graph to one value per channel.
	Fisher bool
	// HVP is H·g (grasp): the gradient graph differentiated again along the
	// weight gradients of the first run.
	HVP bool
	// InputJacobian is dHead/dx per sample of the main input (or of the
	// embedding it indexes): N × D into Go.
	InputJacobian bool
	// ReluKernel is NASWOT's N×N kernel of ReLU codes, reduced in the graph.
	ReluKernel bool
	// LayerOutputs are the forward values of every layer's output tensor.
	LayerOutputs bool
	// FeatureMap is the forward value of the last feature map before global
	// pooling (featureMap: the input of the last GlobalAveragePool, or
	// ReduceMean over H and W, on the way to the head), into Go.
	FeatureMap bool
	// BNVariances are the per-channel batch variances of the input of every
	// BatchNormalization node, reduced in the graph (C values each).
	BNVariances bool
	// ReluPatterns is the number of distinct sign patterns of the neurons
	// of the 4-D Relu inputs over the samples (SWAP), packed in the graph
	// (one code per neuron) and counted in Go as each run ends.
	ReluPatterns bool
	// RegionPatterns is the number of distinct sign patterns of the samples
	// over the neurons of the 4-D Relu inputs (TE-NAS's linear regions),
	// packed in the graph (52 signs to a float64) and counted in Go.
	RegionPatterns bool
	// SampleJacobian is each sample's Jacobian of the logits with respect
	// to element 0 of every parameter tensor (run_jacobian.go), with
	// BatchNormalization on its running statistics: K runs of one session.
	SampleJacobian bool
	// StageCovariances are the C×C channel covariances of every stage
	// tensor (GraphStages), reduced in the graph.
	StageCovariances bool
	// StageTransfers are AZ-NAS's transfer matrices of every block between
	// consecutive stages (GraphStages): a seeded ±1 cotangent on the block's
	// output pulled back to its input, reduced in the graph.
	StageTransfers bool
}

func (a Signals) or(b Signals) Signals {
	return Signals{
		WeightGrads:      a.WeightGrads || b.WeightGrads,
		Fisher:           a.Fisher || b.Fisher,
		HVP:              a.HVP || b.HVP,
		InputJacobian:    a.InputJacobian || b.InputJacobian,
		ReluKernel:       a.ReluKernel || b.ReluKernel,
		LayerOutputs:     a.LayerOutputs || b.LayerOutputs,
		FeatureMap:       a.FeatureMap || b.FeatureMap,
		BNVariances:      a.BNVariances || b.BNVariances,
		ReluPatterns:     a.ReluPatterns || b.ReluPatterns,
		RegionPatterns:   a.RegionPatterns || b.RegionPatterns,
		SampleJacobian:   a.SampleJacobian || b.SampleJacobian,
		StageCovariances: a.StageCovariances || b.StageCovariances,
		StageTransfers:   a.StageTransfers || b.StageTransfers,
	}
}

// signals are the values one variant's runs produced.
type signals struct {
	// runs holds one set per run (Variant.Split, Variant.PerSample) or per
	// repeat (Variant.Repeats); the fields below are those of the first run.
	runs    []*signals
	grads   map[string][]float64 // by layer weight
	fisher  map[string][]float64 // by layer output tensor
	hvp     map[string][]float64 // by layer weight
	hvpErr  error
	jacob   *runtime.Tensor            // N × … input Jacobian
	kernel  *runtime.Tensor            // N × N
	outputs map[string]*runtime.Tensor // forward values by tensor name
	synflow *ProxyResult               // GraphSynflow: the score, already reduced (see synflow.go)
	// jacobian is Signals.SampleJacobian's.
	jacobian *sampleJacobian
	// features is the FeatureMap tensor (N×C×H×W).
	features *runtime.Tensor
	// variances holds the BNVariances by BatchNormalization input tensor.
	variances map[string][]float64
	// patterns is the ReluPatterns count (or RegionPatterns'), read from
	// reluNodes Relu nodes holding reluNeurons neurons per sample.
	patterns, reluNodes, reluNeurons int
	// perturbed holds the signals of the run on the perturbed batch
	// (Variant.Perturb), with the same weights.
	perturbed *signals
	stages    *stageSignals   // GraphStages
	ntk       []*mat.SymDense // GraphNTK: one B×B kernel per repeat
}

// job is one variant with the proxies that share it.
type job struct {
	variant Variant
	signals Signals
	proxies []*Proxy
}

// plan groups proxies by variant, in the order of their first proxy.
func plan(ps []*Proxy) []*job {
	var jobs []*job
	for _, p := range ps {
		i := slices.IndexFunc(jobs, func(j *job) bool { return j.variant == p.Variant })
		if i < 0 {
			jobs = append(jobs, &job{variant: p.Variant})
			i = len(jobs) - 1
		}
		jobs[i].signals = jobs[i].signals.or(p.Signals)
		jobs[i].proxies = append(jobs[i].proxies, p)
	}
	// Static proxies last: flops reuses shapes a data graph found.
	slices.SortStableFunc(jobs, func(a, b *job) int {
		return boolInt(a.variant.Graph == GraphStatic) - boolInt(b.variant.Graph == GraphStatic)
	})
	return jobs
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// runJob runs a job's variant and reduces every proxy of it. A proxy that
// fails its Check or its Reduce fails alone; when the shared graph cannot
// be built or run, each proxy of the job is retried on its own signals, so
// that one proxy's missing gradient rule does not fail the others.
func (s *scorer) runJob(j *job) {
	var ok []*Proxy
	for _, p := range j.proxies {
		if p.Check != nil {
			if err := p.Check(s); err != nil {
				s.res.Errors[p.Name] = err.Error()
				continue
			}
		}
		ok = append(ok, p)
	}
	if len(ok) == 0 {
		return
	}
	need := Signals{}
	for _, p := range ok {
		need = need.or(p.Signals)
	}
	start := time.Now()
	sig, err := s.runVariant(j.variant, need, ok)
	if err != nil {
		// Proxies that need fewer signals may still come out: retry each
		// distinct set of signals alone.
		var sets []Signals
		for _, p := range ok {
			if !slices.Contains(sets, p.Signals) {
				sets = append(sets, p.Signals)
			}
		}
		if len(sets) > 1 {
			for _, set := range sets {
				var same []*Proxy
				for _, p := range ok {
					if p.Signals == set {
						same = append(same, p)
					}
				}
				s.runJob(&job{variant: j.variant, signals: set, proxies: same})
			}
			return
		}
	}
	for _, p := range ok {
		if err != nil {
			s.res.Errors[p.Name] = err.Error()
			continue
		}
		r, err := s.reduce(p, sig)
		if err != nil {
			s.res.Errors[p.Name] = err.Error()
			continue
		}
		r.TimeMS = float64(time.Since(start).Microseconds()) / 1000
		if !s.opts.PerLayer {
			r.Layers = nil
		}
		s.res.Proxies[p.Name] = r
	}
}

// runVariant builds and runs a variant's graph for the signals need.
func (s *scorer) runVariant(v Variant, need Signals, ps []*Proxy) (sig *signals, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("proxies: internal error: %v", p)
		}
	}()
	switch v.Graph {
	case GraphStatic:
		return &signals{}, nil
	case GraphData:
		return s.runData(v, need, ps)
	case GraphSynflow:
		return s.runSynflow(v)
	case GraphStages:
		return s.runStages(v, need)
	case GraphNTK:
		return s.runNTK(v)
	}
	return nil, fmt.Errorf("proxies: unknown graph kind %d", v.Graph)
}

// reduce calls a proxy's Reduce; a score that is not a number is an error.
func (s *scorer) reduce(p *Proxy, sig *signals) (r *ProxyResult, err error) {
	defer func() {
		if e := recover(); e != nil {
			err = fmt.Errorf("proxies: %s: internal error: %v", p.Name, e)
		}
	}()
	if r, err = p.Reduce(s, sig); err != nil {
		return nil, err
	}
	if math.IsNaN(r.Score) || (math.IsInf(r.Score, 0) && r.Log10 == nil) {
		return nil, fmt.Errorf("proxies: %s is %v (the network's signals vanish or overflow)", p.Name, r.Score)
	}
	return r, nil
}

// perLayerOf builds a per-layer result with f(weight, gradient) of every layer.
func (s *scorer) perLayerOf(grads map[string][]float64, f func(w, g []float64) float64) (*ProxyResult, error) {
	weights, err := s.layerWeights()
	if err != nil {
		return nil, err
	}
	scores := make([]float64, len(s.layers))
	for i, l := range s.layers {
		scores[i] = f(weights[l.Param], grads[l.Param])
	}
	return s.perLayer(scores), nil
}
