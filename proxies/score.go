package proxies

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/engine"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
)

// Options configure Score.
type Options struct {
	// Proxies to compute (nil: Default(), every proxy but the later ones).
	Proxies []string
	// Batch is the minibatch for the proxies that need data. Its labels are
	// used when present; otherwise labels are drawn with Seed.
	Batch *data.Batch
	Seed  uint64
	// BN is the BatchNormalization mode of the data proxies (default train,
	// as the reference scores networks).
	BN autodiff.BNMode
	// PerLayer keeps the per-layer scores in the result.
	PerLayer bool
	Session  runtime.SessionOptions
	// Output is the output the gradient proxies differentiate ("": the
	// first float output).
	Output string
	// Head is the head of the weight-gradient proxies: HeadAuto (""), HeadCE
	// or HeadSum.
	Head string
	// Repeats, when > 0, overrides the number of repeats of the proxies
	// that re-initialise the weights or draw their input (Variant.Repeats:
	// zen and swap 32, linear_regions 3).
	Repeats int
	// KeepWeights runs the re-initialising proxies on the file's weights,
	// biases and normalisation parameters (no re-initialisation), so that
	// they can be checked against a reference on the same weights.
	KeepWeights bool
	// SHA256 is the hex SHA-256 of the model's file, when the caller has
	// read it: Result.SHA256 is then this, and Score does not serialise and
	// hash m itself (empty: the SHA-256 of m's serialisation).
	SHA256 string
}

// ErrNoLayers is returned for a model without Conv, Gemm or MatMul layers.
var ErrNoLayers = errors.New("proxies: the model has no Conv, ConvTranspose, Gemm or MatMul layer with a weight initializer")

// scorer holds what the groups of one Score call share.
type scorer struct {
	m       *ox.Model
	loose   *ox.Model // m before WithStaticInputs fixed its inputs to the batch
	fwd     *ox.Model // normalised with opts.BN: node names and layers
	layers  []ox.Layer
	opts    Options
	input   ox.Input   // the main input (data.MainInput)
	inputs  []ox.Input // every input
	head    string     // the output the gradients are taken of
	headErr string     // why there is none
	shapes  autodiff.Shapes
	weights map[string][]float64
	res     *Result
	// dataShapes discovers shapes at the batch's size, once per distinct graph.
	dataShapes autodiff.ShapeFunc
}

// Score computes the requested proxies of m. A proxy that fails is reported
// in Result.Errors and the others still come out; Score itself fails only
// when nothing can be computed (bad options, no layers, a batch of the
// wrong shape).
func Score(m *ox.Model, opts Options) (*Result, error) {
	if opts.Proxies == nil {
		opts.Proxies = Default()
	}
	var requested []*Proxy
	var needData []string
	for _, name := range opts.Proxies {
		p, ok := Lookup(name)
		if !ok {
			return nil, fmt.Errorf("proxies: unknown proxy %q (known: %v)", name, Names())
		}
		requested = append(requested, p)
		if p.NeedsData {
			needData = append(needData, name)
		}
	}
	sha := opts.SHA256
	if sha == "" {
		data, err := m.Marshal()
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		sha = hex.EncodeToString(sum[:])
	}
	s := &scorer{m: m, opts: opts, res: &Result{Model: m.Name(), SHA256: sha, Proxies: map[string]*ProxyResult{}, Errors: map[string]string{}}}
	var err error
	batchNote := ""
	// A static batch is made dynamic when the batch has another size, and
	// always when it is not 1: synflow runs on one sample.
	if b, n := opts.Batch, m.FixedBatch(); b != nil && b.Input != nil && len(b.Input.Shape) > 0 && n > 0 && (b.Input.Shape[0] != n || n > 1) {
		if s.m, s.opts.Batch, batchNote, err = fitFixedBatch(m, b, opts); err != nil {
			return nil, err
		}
		m, opts = s.m, s.opts
	}
	if opts.Batch != nil && opts.Batch.Input != nil {
		s.loose = m
		s.m = autodiff.WithStaticInputs(m, opts.Batch.Input.Shape) // recurrent ops unroll over the batch's length
		m = s.m
	}
	if s.fwd, err = autodiff.Normalize(m, opts.BN); err != nil {
		return nil, err
	}
	s.res.Notes = exportNotes(m, s.fwd, opts.BN)
	if opts.Batch != nil {
		s.res.Notes = append(s.res.Notes, opts.Batch.Notes...)
	}
	if batchNote != "" {
		s.res.Notes = append(s.res.Notes, batchNote)
	}
	if s.layers = s.fwd.Layers(); len(s.layers) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoLayers, m.Name())
	}
	if err := s.setInputs(); err != nil {
		return nil, err
	}
	if len(needData) > 0 && (opts.Batch == nil || opts.Batch.Input == nil) {
		return nil, fmt.Errorf("proxies: %v need an input batch (Options.Batch)", needData)
	}
	if opts.Batch != nil && opts.Batch.Input != nil {
		s.res.InputShape = opts.Batch.Input.Shape
		if s.multi() {
			s.dataShapes = engine.CachedShapeFinderFor(s.batchShapes(), opts.Session)
		} else {
			s.dataShapes = engine.CachedShapeFinder(opts.Batch.Input.Shape, opts.Session)
		}
	}
	s.pickHead()
	if err := finiteWeights(s.fwd, s.layers); err != nil {
		return nil, err
	}
	for _, j := range plan(requested) {
		s.runJob(j)
	}
	s.res.Notes = slices.Compact(s.res.Notes) // a split batch notes its head once per part
	if len(s.res.Errors) == 0 {
		s.res.Errors = nil
	}
	return s.res, nil
}

// fitFixedBatch scores a model exported with a static batch (the example
// input of torch.onnx.export without dynamic_axes) at the batch's size when
// the graph allows it (engine.DynamicBatch), and on the batch's first
// samples otherwise; the note says which.
func fitFixedBatch(m *ox.Model, b *data.Batch, opts Options) (*ox.Model, *data.Batch, string, error) {
	n, fixed := b.Input.Shape[0], m.FixedBatch()
	relaxed, err := engine.DynamicBatch(m, b.Input.Shape[1:], opts.Seed, opts.Session)
	if err == nil {
		return relaxed, b, fmt.Sprintf("the model declares a static batch of %d (the export's example input); zerocost scored it at batch %d (synflow at 1) with axis 0 made dynamic, after checking that the graph computes each sample alone as before", fixed, n), nil
	}
	if fixed != 1 {
		if n < fixed {
			return nil, nil, "", fmt.Errorf("proxies: %s declares a static batch of %d that cannot be made dynamic (%w), and the batch has %d samples: give --batch-size %d, or re-export with dynamic_axes={'input': {0: 'batch'}}", m.Name(), fixed, err, n, fixed)
		}
		cut := &data.Batch{Input: samplesOf(b.Input, fixed), Name: b.Name, Notes: b.Notes, Labels: b.Labels, LabelShape: b.LabelShape}
		if b.Labels != nil {
			per := len(b.Labels) / int(n)
			cut.Labels = b.Labels[:per*int(fixed)]
			if b.LabelShape != nil {
				cut.LabelShape = append([]int64{fixed}, b.LabelShape[1:]...)
			}
		}
		for name, t := range b.Others {
			if cut.Others == nil {
				cut.Others = map[string]*runtime.Tensor{}
			}
			cut.Others[name] = t
			if len(t.Shape) > 0 && t.Shape[0] == n {
				cut.Others[name] = samplesOf(t, fixed)
			}
		}
		return m, cut, fmt.Sprintf("the data proxies ran on the first %d samples, the model's static batch: %v; synflow and synflow_bn need a batch of 1 and fail: re-export with dynamic_axes={'input': {0: 'batch'}}", fixed, err), nil
	}
	first := &data.Batch{Input: firstSample(b.Input), Name: b.Name, Notes: b.Notes}
	for name, t := range b.Others {
		if first.Others == nil {
			first.Others = map[string]*runtime.Tensor{}
		}
		first.Others[name] = t
		if len(t.Shape) > 0 && t.Shape[0] == n {
			first.Others[name] = firstSample(t)
		}
	}
	if b.Labels != nil {
		per := len(b.Labels) / int(n)
		first.Labels, first.LabelShape = b.Labels[:per], nil
		if b.LabelShape != nil {
			first.LabelShape = append([]int64{1}, b.LabelShape[1:]...)
		}
	}
	return m, first, fmt.Sprintf("the data proxies ran on one sample, not %d: %v; jacob_cov and nwot compare samples and need at least 2: re-export with dynamic_axes={'input': {0: 'batch'}}", n, err), nil
}

// samplesOf returns the first k samples of a batch.
func samplesOf(t *runtime.Tensor, k int64) *runtime.Tensor {
	shape := append([]int64{k}, t.Shape[1:]...)
	d := runtime.NumElements(shape)
	out := *t
	out.Shape = shape
	switch {
	case t.F32 != nil:
		out.F32 = t.F32[:d]
	case t.F64 != nil:
		out.F64 = t.F64[:d]
	default:
		out.I64 = t.I64[:d]
	}
	return &out
}

// firstSample returns sample 0 of a batch, with the batch axis kept.
func firstSample(t *runtime.Tensor) *runtime.Tensor { return samplesOf(t, 1) }

// checkBatch checks a batch shape against a model input.
func (s *scorer) checkBatch(in ox.Input, shape []int64) error {
	if len(shape) != len(in.Dims) {
		return fmt.Errorf("proxies: %s: the batch has shape %v but input %q has rank %d (%v)", s.m.Name(), shape, in.Name, len(in.Dims), in.Dims)
	}
	for i, d := range in.Dims {
		if d > 0 && d != shape[i] {
			return fmt.Errorf("proxies: %s: the batch has shape %v but input %q needs size %d at axis %d (%v)", s.m.Name(), shape, in.Name, d, i, in.Dims)
		}
	}
	return nil
}

// finiteWeights fails when a layer's weight holds NaN or an infinity. It
// reads float32 raw data in place (synflow alone never needs the weights in
// Go, and a float64 copy of every weight was 4% of its time).
func finiteWeights(m *ox.Model, layers []ox.Layer) error {
	want := map[string]bool{}
	for _, l := range layers {
		want[l.Param] = true
	}
	for _, t := range m.Graph().GetInitializer() {
		if !want[t.GetName()] {
			continue
		}
		finite := true
		if raw := t.GetRawData(); t.GetDataType() == ox.Float && len(raw) == 4*ox.NumElements(t.GetDims()) {
			for i := 0; i < len(raw) && finite; i += 4 {
				finite = binary.LittleEndian.Uint32(raw[i:])&0x7f800000 != 0x7f800000 // exponent all ones: NaN or ±Inf
			}
		} else {
			v, err := ox.TensorFloat64s(t)
			if err != nil {
				return err
			}
			for _, x := range v {
				finite = finite && !math.IsNaN(x) && !math.IsInf(x, 0)
			}
		}
		if !finite {
			return fmt.Errorf("proxies: %s: weight %q holds NaN or infinite values; re-initialise or re-export the model", m.Name(), t.GetName())
		}
	}
	return nil
}

// layerWeights returns the weight of every layer as float64, read from the
// normalised model on first use.
func (s *scorer) layerWeights() (map[string][]float64, error) {
	if s.weights != nil {
		return s.weights, nil
	}
	names := make([]string, len(s.layers))
	for i, l := range s.layers {
		names[i] = l.Param
	}
	vals, err := engine.ParamValues(s.fwd, names)
	if err != nil {
		return nil, err
	}
	s.weights = map[string][]float64{}
	for name, t := range vals {
		s.weights[name] = t.Float64s()
	}
	return s.weights, nil
}

// perLayer builds a ProxyResult from one score per layer.
func (s *scorer) perLayer(scores []float64) *ProxyResult {
	r := &ProxyResult{}
	for i, l := range s.layers {
		r.Score += scores[i]
		r.Layers = append(r.Layers, newLayerScore(l, scores[i]))
	}
	return r
}
