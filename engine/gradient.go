package engine

import (
	"fmt"
	"slices"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/zerocost/zerocost/autodiff"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
)

// Options configure a gradient session.
type Options struct {
	Request autodiff.Request
	// InputShape gives dynamic dimensions of the data inputs: the whole shape
	// or the shape without the batch dimension (nil when all are static).
	InputShape []int64
	// InputShapes gives the whole shape of inputs by name, for models with
	// several inputs (ShapeFinderFor); it takes precedence over InputShape.
	InputShapes map[string][]int64
	// FeedParams makes the initializers in Result.Params inputs that every
	// Run must feed (to change weights without rebuilding the session).
	FeedParams bool
	Session    runtime.SessionOptions
	// Shapes finds tensor shapes (nil: ShapeFinder(InputShape, Session)).
	Shapes autodiff.ShapeFunc
	// Batch is the batch size that dynamic dimensions stand for in the
	// memory estimate (0: the batch of InputShapes, or InputShape's first
	// size when it is the whole shape, otherwise 1). The limit is
	// Session.MaxMemory.
	Batch int64
}

// Gradient is a gradient graph with its ONNX Runtime session.
type Gradient struct {
	*autodiff.Result
	// Inputs are the data inputs of the model (not labels, seed or params).
	Inputs  []ox.Input
	Classes int64 // number of classes of the cross-entropy head (0 otherwise)
	// HVP maps each parameter to the output holding H·g, g the gradient
	// dL/dparam (NewGradientHVP only).
	HVP     map[string]string
	session *runtime.Session
	feeds   []string
	release func() // gives the session's memory back to its budget
}

// NewGradient builds the gradient graph of m and opens a session on it.
func NewGradient(m *ox.Model, opts Options) (*Gradient, error) {
	shapes := opts.Shapes
	if shapes == nil {
		shapes = opts.inputShapeFinder()
	}
	res, err := autodiff.Build(autodiff.WithStaticInputs(m, opts.InputShape), opts.Request, shapes)
	if err != nil {
		return nil, err
	}
	return newGradient(res, opts, nil)
}

// NewGradientHVP is NewGradient whose one graph also computes the
// Hessian-vector product H·g for each of params (Gradient.HVP), g = dL/dp
// from the same graph, held constant: the gradient graph of
// autodiff.WithSelfGradientDot, differentiated again (reverse over
// reverse), so that g and H·g come out of one session and one run.
// dotShapes finds the shapes of that graph's tensors (nil: ShapeFinder at
// opts.InputShape, or ShapeFinderFor at opts.InputShapes).
func NewGradientHVP(m *ox.Model, opts Options, params []string, dotShapes autodiff.ShapeFunc) (*Gradient, error) {
	shapes := opts.Shapes
	if shapes == nil {
		shapes = opts.inputShapeFinder()
	}
	first, err := autodiff.Build(autodiff.WithStaticInputs(m, opts.InputShape), opts.Request, shapes)
	if err != nil {
		return nil, err
	}
	dot, constants, err := autodiff.WithSelfGradientDot(first, params)
	if err != nil {
		return nil, err
	}
	if dotShapes == nil {
		dotShapes = opts.inputShapeFinder()
	}
	second, err := autodiff.Build(dot, autodiff.Request{WRT: params, Head: autodiff.HeadSum, Output: autodiff.HVPOutput, BN: opts.Request.BN, Constants: constants}, dotShapes)
	if err != nil {
		return nil, err
	}
	both := *first
	both.Model = second.Model
	g, err := newGradientEstimated(&both, second, opts, nil)
	if err != nil {
		return nil, err
	}
	g.HVP = map[string]string{}
	for _, p := range params {
		g.HVP[p] = second.Grads[p]
	}
	return g, nil
}

// inputShapeFinder finds tensor shapes at the options' input shapes:
// ShapeFinderFor at InputShapes when set, ShapeFinder at InputShape
// otherwise.
func (o Options) inputShapeFinder() autodiff.ShapeFunc {
	if o.InputShapes != nil {
		return ShapeFinderFor(o.InputShapes, o.Session)
	}
	return ShapeFinder(o.InputShape, o.Session)
}

// newGradient opens a session on res; outputs nil means every output.
func newGradient(res *autodiff.Result, opts Options, outputs []string) (*Gradient, error) {
	return newGradientEstimated(res, res, opts, outputs)
}

// newGradientEstimated is newGradient with the memory estimate made of est
// (the graph res.Model, with the shapes of all its tensors).
func newGradientEstimated(res, est *autodiff.Result, opts Options, outputs []string) (*Gradient, error) {
	g := &Gradient{Result: res, Inputs: res.Forward.Inputs()}
	for _, in := range g.Inputs {
		g.feeds = append(g.feeds, in.Name)
	}
	if res.Labels != "" {
		g.feeds = append(g.feeds, res.Labels)
		g.Classes = res.Shapes[res.Head].Dims[res.ClassAxis]
	}
	if res.Seed != "" {
		g.feeds = append(g.feeds, res.Seed)
	}
	if opts.FeedParams {
		g.feeds = append(g.feeds, res.Params...)
	}
	release, err := checkGradientMemory(est, opts)
	if err != nil {
		return nil, err
	}
	g.release = release
	ok := false
	defer func() {
		if !ok {
			release()
		}
	}()
	model := res.Model
	if outputs != nil {
		model = model.Clone()
		model.Graph().Output = nil
		for _, o := range outputs {
			model.Graph().Output = append(model.Graph().Output, &onnx.ValueInfoProto{Name: o})
		}
	}
	data, err := marshalWithout(model, fedParams(res, opts))
	if err != nil {
		return nil, err
	}
	so := opts.Session
	if so.Optimization == "" {
		// ONNX Runtime's highest level adds layout transformations (NCHWc)
		// that, on ill-conditioned train-mode BatchNormalization, move float32
		// gradients measurably further from float64 (densenet121: 5e-2 against
		// 2e-2 for PyTorch's own float32 pass); "extended" keeps the fusions.
		so.Optimization = "extended"
	}
	so.Inputs = g.feeds
	so.Outputs = nil
	if outputs != nil {
		so.Outputs = outputs
	} else {
		for _, o := range model.Graph().GetOutput() {
			so.Outputs = append(so.Outputs, o.GetName())
		}
	}
	s, err := runtime.NewSession(data, so)
	if err != nil {
		return nil, fmt.Errorf("engine: %s: opening the gradient graph: %w", res.Forward.Name(), err)
	}
	g.session = s
	ok = true
	return g, nil
}

// Feeds returns the names Run expects.
func (g *Gradient) Feeds() []string { return g.feeds }

// Run feeds the inputs and returns every output by name.
func (g *Gradient) Run(feeds map[string]*runtime.Tensor) (map[string]*runtime.Tensor, error) {
	if g.Labels != "" {
		if err := checkLabels(feeds[g.Labels], g.Classes); err != nil {
			return nil, fmt.Errorf("engine: %s: %w", g.Forward.Name(), err)
		}
	}
	out, err := g.session.Run(feeds)
	if err != nil {
		return nil, fmt.Errorf("engine: %s: %w", g.Forward.Name(), err)
	}
	return out, nil
}

// Destroy releases the session.
func (g *Gradient) Destroy() {
	if g != nil {
		g.session.Destroy()
		g.release()
	}
}

func checkLabels(t *runtime.Tensor, classes int64) error {
	if t == nil {
		return fmt.Errorf("labels missing: feed %s (int64, one per sample, or per position of the logits)", autodiff.LabelsInput)
	}
	if t.I64 == nil {
		return fmt.Errorf("labels must be int64")
	}
	for i, l := range t.I64 {
		if l < 0 || l >= classes {
			return fmt.Errorf("label %d of sample %d is outside 0..%d (the model has %d classes)", l, i, classes-1, classes)
		}
	}
	return nil
}

// fedParams is the set of parameters every Run feeds (nil without
// FeedParams).
func fedParams(res *autodiff.Result, opts Options) map[string]bool {
	if !opts.FeedParams {
		return nil
	}
	fed := map[string]bool{}
	for _, p := range res.Params {
		fed[p] = true
	}
	return fed
}

// marshalWithout serialises m without the initializers named in omit: a
// parameter fed at every Run stays a graph input, and its values would only
// be serialised, parsed and copied by ONNX Runtime to be overridden
// (NAS-Bench-201's synflow graph: 3.3 MB of its 3.5).
func marshalWithout(m *ox.Model, omit map[string]bool) ([]byte, error) {
	if len(omit) == 0 {
		return m.Marshal()
	}
	g := m.Graph()
	all := g.Initializer
	kept := make([]*onnx.TensorProto, 0, len(all))
	for _, t := range all {
		if !omit[t.GetName()] {
			kept = append(kept, t)
		}
	}
	g.Initializer = kept
	defer func() { g.Initializer = all }()
	return m.Marshal()
}

// ParamValues returns the current value of every initializer in names, as
// float32 or float64 tensors, for feeding with FeedParams.
func ParamValues(m *ox.Model, names []string) (map[string]*runtime.Tensor, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]*runtime.Tensor{}
	for _, t := range m.Graph().GetInitializer() {
		if !want[t.GetName()] {
			continue
		}
		switch t.GetDataType() {
		case ox.Double:
			v, err := ox.TensorFloat64s(t)
			if err != nil {
				return nil, err
			}
			out[t.GetName()] = runtime.NewFloat64(t.GetDims(), v)
		default:
			v, err := ox.TensorFloat32s(t)
			if err != nil {
				return nil, err
			}
			if t.GetRawData() == nil {
				v = slices.Clone(v) // TensorFloat32s returns float_data itself
			}
			out[t.GetName()] = runtime.NewFloat32(append([]int64{}, t.GetDims()...), v)
		}
	}
	for _, n := range names {
		if out[n] == nil {
			return nil, fmt.Errorf("engine: %s is not a float initializer of %s", n, m.Name())
		}
	}
	return out, nil
}
