package engine

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/zerocost/zerocost/autodiff"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
)

// CheckOptions configure CheckGradients.
type CheckOptions struct {
	// Head is the head to differentiate; nil chooses cross-entropy when the
	// first output is a 2-D logits matrix and the sum of outputs otherwise.
	Head       *autodiff.HeadKind
	BN         autodiff.BNMode
	InputShape []int64 // dynamic dimensions of the data inputs
	Batch      int64   // batch size for a dynamic batch dimension (default 2)
	Seed       uint64
	// Step is the relative change of the loss that each finite-difference
	// step aims at (default 1e-4 in float32, 1e-6 in float64, and 1e-10 when
	// a float32 model's loss runs in float64: see Float32Differences).
	Step float64
	// Entries: tensors with at most this many elements are also checked
	// entry by entry (default 8).
	Entries int
	// Tolerance on the relative error left once the estimated noise is
	// taken off the difference (default 5e-2 in float32, 1e-6 in float64):
	// a margin for what the estimate misses, such as a kink of ReLU or
	// MaxPool that both finite-difference steps cross alike.
	Tolerance float64
	// Only restricts the check to these tensors (nil: every float parameter and input).
	Only []string
	// Float32Differences keeps the finite differences of a float32 model
	// in float32; by default its loss is lowered to float64 where every op
	// has a float64 form (see gradcheck64.go), which allows smaller steps.
	Float32Differences bool
	Session            runtime.SessionOptions

	// rewrite, when set, changes the gradient graph before it runs (tests
	// use it to plant a wrong gradient).
	rewrite func(*autodiff.Result) error
}

// Verdicts of a TensorCheck.
const (
	VerdictOK        = "ok"
	VerdictZero      = "ok (zero by structure)"
	VerdictKink      = "not checkable (kinks within the step)"
	VerdictWrong     = "WRONG"
	VerdictNotFinite = "not finite"
)

// TensorCheck is the result for one tensor: the analytic derivative along
// one direction (the gradient's own, or a random one where the gradient is
// zero), the central finite difference along it, their difference and the
// estimated noise of that difference.
type TensorCheck struct {
	Name  string  `json:"name"`
	Kind  string  `json:"kind"` // "param" or "input"
	Shape []int64 `json:"shape"`
	// Verdict is VerdictOK, VerdictZero, VerdictKink, VerdictWrong or VerdictNotFinite.
	Verdict string `json:"verdict"`
	// Failed: the verdict is WRONG, or the analytic gradient is not finite
	// where the finite difference is.
	Failed bool `json:"failed"`
	// Reason explains the verdict when it is not plain ok: why the gradient
	// is zero by structure, what is not finite, by how much a check failed.
	Reason string `json:"reason,omitempty"`
	// Entry is the entry whose check is reported (nil: the directional check).
	Entry *int `json:"entry,omitempty"`
	// GradNorm is the norm of the analytic gradient.
	GradNorm float64 `json:"grad_norm"`
	// Analytic and Numeric are the derivatives along the checked direction
	// (along the gradient itself, Analytic is its norm); Diff = |Analytic -
	// Numeric|.
	Analytic float64 `json:"analytic"`
	Numeric  float64 `json:"numeric"`
	Diff     float64 `json:"diff"`
	// Noise = AnalyticNoise + NumericNoise is what Diff may reach on a
	// correct gradient (see CheckGradients).
	Noise         float64 `json:"noise"`
	AnalyticNoise float64 `json:"analytic_noise"`
	NumericNoise  float64 `json:"numeric_noise"`
	// Step is the finite-difference step along the (unit) direction.
	Step float64 `json:"step"`
	// RelError is max(0, Diff - Noise) relative to the gradient's scale.
	RelError float64 `json:"rel_error"`
}

// CheckReport is the outcome of CheckGradients.
type CheckReport struct {
	Model string  `json:"model"`
	Head  string  `json:"head"`
	Loss  float64 `json:"loss"`
	// MaxRelError is the largest RelError of the tensors with finite values.
	MaxRelError float64 `json:"max_rel_error"`
	Tolerance   float64 `json:"tolerance"`
	// Differences is the precision of the finite differences: "float64"
	// or "float32"; DifferencesNote says why a float32 model's loss could
	// not run in float64.
	Differences     string `json:"differences"`
	DifferencesNote string `json:"differences_note,omitempty"`
	// OK: no unsupported op and no tensor Failed.
	OK bool `json:"ok"`
	// Failed counts the tensors that failed.
	Failed int `json:"failed"`
	// Verdicts counts the tensors of each verdict.
	Verdicts       map[string]int `json:"verdicts"`
	Params         []TensorCheck  `json:"params"`
	Inputs         []TensorCheck  `json:"inputs"`
	UnsupportedOps []string       `json:"unsupported_ops"`
}

// noiseRuns is the number of analytic runs at perturbed points that
// estimate the float round-off of the analytic gradient.
const noiseRuns = 2

// CheckGradients builds the gradient graph of m with respect to every float
// initializer and float input, and compares each gradient with central
// finite differences of the loss: along the gradient's own direction for
// every tensor, and entry by entry for small tensors. An
// *autodiff.UnsupportedError is reported in the report (OK false), not
// returned.
//
// A tensor fails only when the difference between the analytic and the
// numeric derivative exceeds the estimated noise of both by more than
// Tolerance (relative to the gradient's scale). The noise is estimated so:
//
//   - analytic: the gradient is computed again at noiseRuns points where
//     every float parameter and input is moved by 4 units in the last place
//     (random signs). That changes the true gradient by far less than float
//     round-off but reshuffles the rounding of every operation, so the
//     spread shows the round-off of the analytic value, however many terms
//     it accumulates and however ill-conditioned (BatchNormalization of a
//     nearly constant channel): AnalyticNoise is 3 × the largest deviation
//     plus 4ε|Analytic|.
//   - numeric: the central difference D(h) is taken at h and h/2. Its
//     truncation error (and the effect of a kink crossed) grows with h and
//     is at most about 2|D(h) - D(h/2)|; its round-off is ρ/h, where ρ, the
//     round-off of one loss evaluation, is the larger of ε|L| and 3 × the
//     largest change of the loss (less its first-order part g·δx) when the
//     tensor's entries move by 4 units in the last place. NumericNoise =
//     2|D(h) - D(h/2)| + ρ/h.
//
// What this cannot see is a kink of ReLU or MaxPool much closer to the
// sample point than h/2: both steps cross it and make the same error.
// Tolerance is the margin for that.
//
// Gradients that are zero by structure (autodiff.StructuralZeros: a bias
// before BatchNormalization with batch statistics, dead branches, unread
// tensors) are not compared as noise: their analytic norm must be within
// float round-off of zero (3 × its spread at the perturbed points, or 8ε
// times the largest gradient norm of the model), and the finite difference
// along a random direction within its own noise; the verdict is then
// VerdictZero.
//
// NaN or Inf in the loss, the analytic or the numeric value gives
// VerdictNotFinite; the tensor fails only when the analytic gradient is
// not finite and the finite difference is (the other cases say nothing
// about the gradient: the loss is not finite there, or a step leaves the
// function's domain, as Sqrt or Log near zero).
func CheckGradients(m *ox.Model, opts CheckOptions) (*CheckReport, error) {
	if opts.Batch <= 0 {
		opts.Batch = 2
	}
	if opts.Entries == 0 {
		opts.Entries = 8
	}
	report := &CheckReport{Model: m.Name(), UnsupportedOps: []string{}, Params: []TensorCheck{}, Inputs: []TensorCheck{}, Verdicts: map[string]int{}}
	m = autodiff.WithStaticInputs(m, opts.InputShape)
	fwd, err := autodiff.Normalize(m, opts.BN)
	if err != nil {
		return nil, err
	}
	shapes, err := ShapeFinder(opts.InputShape, opts.Session)(fwd)
	if err != nil {
		return nil, err
	}
	var wrt []string
	kinds := map[string]string{}
	only := map[string]bool{}
	for _, o := range opts.Only {
		only[o] = true
	}
	constants := autodiff.StopGradientInitializers(fwd) // Resize scales, running statistics, …
	for _, t := range fwd.Graph().GetInitializer() {
		if IsParameter(t) && !constants[t.GetName()] && (len(only) == 0 || only[t.GetName()]) {
			wrt = append(wrt, t.GetName())
			kinds[t.GetName()] = "param"
		}
	}
	double := false
	for _, in := range fwd.Inputs() {
		if (in.ElemType == ox.Float || in.ElemType == ox.Double) && (len(only) == 0 || only[in.Name]) {
			wrt = append(wrt, in.Name)
			kinds[in.Name] = "input"
		}
		double = double || in.ElemType == ox.Double
	}
	head := autodiff.HeadSum
	if opts.Head != nil {
		head = *opts.Head
	} else if out := fwd.Graph().GetOutput(); len(out) > 0 && len(shapes[out[0].GetName()].Dims) == 2 {
		head = autodiff.HeadCrossEntropy
	}
	report.Head = head.String()
	if opts.Tolerance == 0 {
		opts.Tolerance = 5e-2
		if double {
			opts.Tolerance = 1e-6
		}
	}
	report.Tolerance = opts.Tolerance
	req := autodiff.Request{WRT: wrt, Head: head, BN: opts.BN}
	res, err := autodiff.BuildNormalized(fwd, req, shapes)
	if unsup, ok := err.(*autodiff.UnsupportedError); ok {
		report.UnsupportedOps = unsup.OpTypes()
		return report, nil
	}
	if err != nil {
		return nil, err
	}
	if opts.rewrite != nil {
		if err := opts.rewrite(res); err != nil {
			return nil, err
		}
	}
	zeros := autodiff.StructuralZeros(fwd, shapes)
	read := map[string]bool{} // tensors some node reads: the loss cannot move with the others
	for _, n := range fwd.Graph().GetNode() {
		for _, in := range n.GetInput() {
			read[in] = true
		}
	}
	gopts := Options{Request: req, InputShape: opts.InputShape, FeedParams: true, Session: opts.Session, Batch: opts.Batch}
	grad, err := newGradient(res, gopts, nil)
	if err != nil {
		return nil, err
	}
	defer grad.Destroy()
	lossOnly, err := newGradient(res, gopts, []string{res.Loss})
	if err != nil {
		return nil, err
	}
	defer lossOnly.Destroy()

	feeds, err := ParamValues(fwd, res.Params)
	if err != nil {
		return nil, err
	}
	for i, in := range grad.Inputs {
		dims, err := in.FeedShape(opts.InputShape, opts.Batch)
		if err != nil {
			return nil, fmt.Errorf("engine: %s: %w", m.Name(), err)
		}
		feeds[in.Name] = sampleInput(in, dims, opts.Seed+uint64(i)+1)
	}
	if res.Labels != "" {
		// The first input's batch; a model without inputs (or with a
		// scalar one) has the logits' static batch.
		batch := opts.Batch
		if d := res.Shapes[res.Head].Dims; len(d) > 0 && d[0] > 0 {
			batch = d[0]
		}
		if len(grad.Inputs) > 0 && len(feeds[grad.Inputs[0].Name].Shape) > 0 {
			batch = feeds[grad.Inputs[0].Name].Shape[0]
		}
		var shape []int64 // the head's shape without its class axis: [N], [N T] or [N H W]
		for i, d := range res.Shapes[res.Head].Dims {
			if i == res.ClassAxis {
				continue
			}
			if d < 0 {
				d = batch
			}
			shape = append(shape, d)
		}
		rng := rand.New(rand.NewPCG(opts.Seed, 0x6c6162656c73))
		labels := make([]int64, runtime.NumElements(shape))
		for i := range labels {
			labels[i] = rng.Int64N(grad.Classes)
		}
		feeds[res.Labels] = runtime.NewInt64(shape, labels)
	}
	out, err := grad.Run(feeds)
	if err != nil {
		return nil, err
	}
	report.Loss = out[res.Loss].Float64s()[0]
	lossAt := func(f map[string]*runtime.Tensor) (float64, error) {
		o, err := lossOnly.Run(f)
		if err != nil {
			return 0, err
		}
		return o[res.Loss].Float64s()[0], nil
	}
	// The tensors the finite differences move: feeds themselves, or their
	// float64 copies for a float64 loss.
	stepped := feeds
	var kinks func() (map[string][]int64, error)
	report.Differences = "float32"
	if double {
		report.Differences = "float64"
	} else if !opts.Float32Differences {
		l64, err := newLossGraph64(res, grad.Feeds(), opts.Session, runBatch(res, gopts))
		if err == nil {
			defer l64.Destroy()
			stepped, lossAt = toFloat64(feeds), l64.Run
			kinks = func() (map[string][]int64, error) { return l64.Kinks(stepped) }
			report.Differences = "float64"
			if opts.Step == 0 {
				opts.Step = 1e-10
			}
		} else {
			report.DifferencesNote = err.Error()
		}
	}
	if opts.Step == 0 {
		opts.Step = 1e-4
		if double {
			opts.Step = 1e-6
		}
	}
	c := &checker{opts: opts, loss: func() (float64, error) { return lossAt(stepped) }, eps: 1.2e-7, rng: rand.New(rand.NewPCG(opts.Seed, 0x6463686b))}
	if report.Differences == "float64" {
		c.eps, c.fine, c.kinks = 2.3e-16, !double, kinks
	}
	if c.loss0, err = c.loss(); err != nil {
		return nil, err
	}

	// The analytic gradient at points moved by a few units in the last
	// place: its spread is its round-off.
	grads := map[string][]float64{}
	for _, w := range wrt {
		grads[w] = append([]float64{}, out[res.Grads[w]].Float64s()...)
	}
	perturbed := map[string][][]float64{}
	prng := rand.New(rand.NewPCG(opts.Seed, 0x70657274))
	for r := 0; r < noiseRuns; r++ {
		moved := perturbFeeds(feeds, prng)
		o, err := grad.Run(moved)
		if err != nil {
			return nil, err
		}
		for _, w := range wrt {
			perturbed[w] = append(perturbed[w], append([]float64{}, o[res.Grads[w]].Float64s()...))
		}
	}
	for _, w := range wrt {
		if n := norm(grads[w]); !math.IsNaN(n) && !math.IsInf(n, 0) {
			c.scale = math.Max(c.scale, n)
		}
	}

	for _, w := range wrt {
		tc, err := c.tensor(stepped[w], grads[w], perturbed[w], zeros[w], !read[w])
		if err != nil {
			return nil, fmt.Errorf("engine: %s: checking %s: %w", m.Name(), w, err)
		}
		tc.Name, tc.Kind, tc.Shape = w, kinds[w], feeds[w].Shape
		if tc.Kind == "param" {
			report.Params = append(report.Params, tc)
		} else {
			report.Inputs = append(report.Inputs, tc)
		}
		report.Verdicts[tc.Verdict]++
		if !math.IsNaN(tc.RelError) && tc.Verdict != VerdictKink {
			report.MaxRelError = math.Max(report.MaxRelError, tc.RelError)
		}
		if tc.Failed {
			report.Failed++
		}
	}
	report.OK = report.Failed == 0
	return report, nil
}

// perturbFeeds returns a copy of feeds with every float value moved by 4
// units in the last place of its type (relative 2^-21 in float32, 2^-50 in
// float64), with random signs; integers, such as labels, are kept.
func perturbFeeds(feeds map[string]*runtime.Tensor, rng *rand.Rand) map[string]*runtime.Tensor {
	names := make([]string, 0, len(feeds))
	for name := range feeds {
		names = append(names, name)
	}
	sort.Strings(names) // the same draws for the same tensors every time
	out := map[string]*runtime.Tensor{}
	for _, name := range names {
		t := feeds[name]
		switch {
		case t.F32 != nil:
			v := make([]float32, len(t.F32))
			for i, x := range t.F32 {
				v[i] = float32(float64(x) * (1 + float64(2*rng.IntN(2)-1)*0x1p-21))
			}
			out[name] = runtime.NewFloat32(t.Shape, v)
		case t.F64 != nil:
			v := make([]float64, len(t.F64))
			for i, x := range t.F64 {
				v[i] = x * (1 + float64(2*rng.IntN(2)-1)*0x1p-50)
			}
			out[name] = runtime.NewFloat64(t.Shape, v)
		default:
			out[name] = t
		}
	}
	return out
}

// checker holds what the checks of all tensors share.
type checker struct {
	opts  CheckOptions
	loss  func() (float64, error) // at the current feeds
	loss0 float64                 // the loss at the sample point
	eps   float64                 // unit round-off of the element type
	scale float64                 // largest finite gradient norm of the model
	rng   *rand.Rand
	// fine: the loss runs in float64 for a float32 model, so steps are
	// sized by the measured round-off, as small as it allows.
	fine bool
	// kinks, when set, returns which side of its corner every kink op's
	// input is on at the current feeds (see lossGraph64.Kinks).
	kinks func() (map[string][]int64, error)
}

func norm(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// tensor checks the gradient g of tensor t; gp are the gradients at the
// perturbed points, zero the reason why g is zero by structure ("" if not).
// A tensor that no node reads (unread) needs no finite difference: the
// loss cannot move with it.
func (c *checker) tensor(t *runtime.Tensor, g []float64, gp [][]float64, zero string, unread bool) (TensorCheck, error) {
	x := t.Float64s()
	n := len(x)
	tc := TensorCheck{GradNorm: norm(g)}
	fd := &stepper{checker: c, t: t, orig: append([]float64{}, x...), unread: unread}
	if err := fd.measureRoundoff(g); err != nil {
		return tc, err
	}
	// Never move an entry by more than 10% of the tensor's scale.
	fd.maxStep = 0.1 * math.Max(math.Sqrt(dot(x, x)/float64(max(n, 1))), 0.1)
	if !finite(c.loss0) {
		tc.Verdict, tc.Reason = VerdictNotFinite, fmt.Sprintf("the loss is %v at the sample point: nothing to compare", c.loss0)
		tc.Analytic, tc.Numeric, tc.Diff, tc.RelError = math.NaN(), math.NaN(), math.NaN(), math.NaN()
		return tc, nil
	}
	if !finite(tc.GradNorm) || zero != "" || tc.GradNorm == 0 {
		// A random unit direction: the gradient's own is not finite, or is
		// round-off.
		dir := make([]float64, n)
		for i := range dir {
			dir[i] = float64(2*c.rng.IntN(2)-1) / math.Sqrt(float64(n))
		}
		a := dot(g, dir)
		num, nnoise, h, err := fd.numeric(dir, 0, 0)
		if err != nil {
			return tc, err
		}
		tc.Analytic, tc.Numeric, tc.Step, tc.NumericNoise = a, num, h, nnoise
		tc.Diff = math.Abs(a - num)
		switch {
		case !finite(tc.GradNorm):
			tc.Verdict = VerdictNotFinite
			tc.RelError = math.NaN()
			if finite(num) {
				tc.Failed = true
				tc.Reason = fmt.Sprintf("the analytic gradient is %v where the finite difference is %.6g", nonFinite(g), num)
			} else {
				tc.Reason = fmt.Sprintf("the analytic gradient is %v and so is the finite difference", nonFinite(g))
			}
			return tc, nil
		case !finite(num):
			tc.Verdict, tc.RelError = VerdictNotFinite, math.NaN()
			tc.Reason = fmt.Sprintf("the finite difference is %v (the loss is not finite at a step of %.3g)", num, h)
			return tc, nil
		}
		// Round-off of zero: the spread at the perturbed points, or a few
		// units of round-off of the model's largest gradient.
		bound := 8 * c.eps * c.scale
		for _, p := range gp {
			d := make([]float64, n)
			for i := range d {
				d[i] = p[i] - g[i]
			}
			if s := 3 * norm(d); finite(s) {
				bound = math.Max(bound, s)
			}
		}
		tc.AnalyticNoise = bound
		tc.Noise = tc.AnalyticNoise + tc.NumericNoise
		tc.RelError = relExcess(tc.Diff, tc.Noise, math.Max(math.Abs(num), c.scale))
		if zero == "" {
			// No gradient at all: the loss must not move either.
			tc.Verdict = VerdictOK
			if tc.RelError > c.opts.Tolerance {
				tc.Verdict, tc.Failed = VerdictWrong, true
				tc.Reason = fmt.Sprintf("the analytic gradient is 0 but the loss moves: numeric %.3g, noise %.2g", num, tc.Noise)
			}
			return tc, nil
		}
		tc.Verdict, tc.Reason = VerdictZero, "zero by structure: "+zero
		switch {
		case tc.GradNorm > bound:
			tc.Verdict, tc.Failed = VerdictWrong, true
			tc.Reason = fmt.Sprintf("zero by structure (%s), but the analytic gradient's norm %.3g exceeds its round-off %.2g", zero, tc.GradNorm, bound)
		case tc.RelError > c.opts.Tolerance:
			tc.Verdict, tc.Failed = VerdictWrong, true
			tc.Reason = fmt.Sprintf("zero by structure (%s), but the loss moves: numeric %.3g, noise %.2g", zero, num, tc.NumericNoise)
		}
		return tc, nil
	}

	// Along the gradient itself the derivative is largest (‖g‖), so the step
	// is smallest and crosses the fewest kinks of ReLU and MaxPool: the check
	// float32 can afford on deep networks. A wrong gradient (wrong entries,
	// scale or sign) is not the direction of steepest ascent and fails it.
	dir := make([]float64, n)
	for i := range dir {
		dir[i] = g[i] / tc.GradNorm
	}
	spread := func(val func(p []float64) float64, a float64) float64 {
		s := 0.0
		for _, p := range gp {
			if d := math.Abs(val(p) - a); finite(d) {
				s = math.Max(s, d)
			}
		}
		return 3*s + 4*c.eps*math.Abs(a)
	}
	check := func(a, anoise float64, dir []float64, idx int, scale float64) (TensorCheck, error) {
		r := tc
		// An entry's step is sized by the gradient's norm (its largest
		// possible derivative), like the directional check's.
		num, nnoise, h, err := fd.numeric(dir, idx, math.Max(math.Abs(a), scale))
		if err != nil {
			return r, err
		}
		r.Analytic, r.Numeric, r.Step = a, num, h
		r.AnalyticNoise, r.NumericNoise, r.Noise = anoise, nnoise, anoise+nnoise
		r.Diff = math.Abs(a - num)
		if !finite(num) {
			r.Verdict, r.RelError = VerdictNotFinite, math.NaN()
			r.Reason = fmt.Sprintf("the finite difference is %v (the loss is not finite at a step of %.3g)", num, h)
			return r, nil
		}
		r.RelError = relExcess(r.Diff, r.Noise, math.Max(math.Max(math.Abs(a), math.Abs(num)), scale))
		r.Verdict = VerdictOK
		if r.RelError > c.opts.Tolerance {
			r.Verdict, r.Failed = VerdictWrong, true
			r.Reason = fmt.Sprintf("the difference %.3g exceeds the noise %.2g by %.2g of the gradient's scale (tolerance %.2g)", r.Diff, r.Noise, r.RelError, c.opts.Tolerance)
			return c.kinksCrossed(fd, r, dir, idx)
		}
		return r, nil
	}
	tc, err := check(tc.GradNorm, spread(func(p []float64) float64 { return dot(p, dir) }, tc.GradNorm), dir, 0, tc.GradNorm)
	if err != nil || tc.Verdict != VerdictOK || n > c.opts.Entries {
		return tc, err
	}
	for i := 0; i < n; i++ {
		e, err := check(g[i], spread(func(p []float64) float64 { return p[i] }, g[i]), nil, i, tc.GradNorm)
		if err != nil {
			return tc, err
		}
		if e.Verdict == VerdictKink {
			if tc.Verdict == VerdictOK {
				e.Entry = &i
				tc = e // reported, and the other entries still checked
			}
			continue
		}
		if e.Verdict != VerdictOK || (e.RelError > tc.RelError && tc.Verdict == VerdictOK) {
			e.Entry = &i
			tc = e
			if e.Verdict != VerdictOK {
				break
			}
		}
	}
	return tc, nil
}

// kinksCrossed takes a second look at a WRONG check r when the float64
// loss graph can show its kinks (the inputs of Relu, LeakyRelu, PRelu, Abs
// and Clip, HardSigmoid and HardSwish included, each against its corner):
// if a step of r's size moves any of them across its corner, the finite
// difference averages slopes on both sides and cannot check the gradient
// there (zero-initialised biases in front of a ReLU, fed by activations
// that have all but vanished, sit within 1e-14 of the corner). The verdict
// is then VerdictKink, not a failure; otherwise r stands.
func (c *checker) kinksCrossed(fd *stepper, r TensorCheck, dir []float64, idx int) (TensorCheck, error) {
	if c.kinks == nil {
		return r, nil
	}
	node, n, err := fd.kinksWithin(dir, idx, r.Step)
	if err != nil || n == 0 {
		return r, err
	}
	r.Verdict, r.Failed = VerdictKink, false
	r.Reason = fmt.Sprintf("not checkable here: a step of %.3g crosses %d kinks (the first at node %q), so the finite difference (%.6g against %.6g) mixes slopes", r.Step, n, node, r.Numeric, r.Analytic)
	return r, nil
}

// stepper takes finite differences of the loss along one tensor.
type stepper struct {
	*checker
	t       *runtime.Tensor
	orig    []float64
	maxStep float64
	// lossNoise (ρ) is the round-off of one loss evaluation as this tensor
	// moves.
	lossNoise float64
	unread    bool // the loss does not read the tensor: every difference is 0
}

// measureRoundoff sets lossNoise: the larger of ε|L| (the rounding of the
// result alone) and 3 × the largest change of the loss, less its
// first-order part g·δx, when every entry of the tensor moves by 4 units in
// the last place (noiseRuns times, random signs). Such a move changes the
// exact loss by g·δx only, but reshuffles the rounding of everything
// downstream of the tensor.
func (s *stepper) measureRoundoff(g []float64) error {
	s.lossNoise = s.eps * math.Abs(s.loss0)
	if !finite(s.loss0) || s.unread {
		return nil
	}
	rel := 0x1p-21
	if s.t.F64 != nil {
		rel = 0x1p-50
	}
	defer s.restore()
	for r := 0; r < noiseRuns; r++ {
		linear := 0.0
		for i, x := range s.orig {
			s.set(i, x*(1+float64(2*s.rng.IntN(2)-1)*rel))
			linear += g[i] * (s.value(i) - x)
		}
		l, err := s.loss()
		if err != nil {
			return err
		}
		if d := 3 * math.Abs(l-s.loss0-linear); finite(d) && d > s.lossNoise {
			s.lossNoise = d
		}
	}
	return nil
}

func (s *stepper) set(i int, v float64) {
	if s.t.F64 != nil {
		s.t.F64[i] = v
	} else {
		s.t.F32[i] = float32(v)
	}
}

func (s *stepper) value(i int) float64 {
	if s.t.F64 != nil {
		return s.t.F64[i]
	}
	return float64(s.t.F32[i])
}

func (s *stepper) restore() {
	for i, x := range s.orig {
		s.set(i, x)
	}
}

// numeric returns the central difference along dir (nil: along entry idx)
// for an expected derivative a, its noise and its step h. The step moves the
// loss by about Step relative: large enough that round-off stays small,
// small enough that few kinks are crossed.
func (s *stepper) numeric(dir []float64, idx int, a float64) (num, noise, h float64, err error) {
	h = math.Min(s.opts.Step*math.Max(math.Abs(s.loss0), 1e-3)/math.Max(math.Abs(a), 1e-12), s.maxStep)
	if s.fine && a != 0 && s.lossNoise > 0 {
		// The smallest step whose round-off stays below 1e-4 of the
		// derivative (and at least 1e-8 of the largest step): the fewer
		// kinks crossed, the better.
		h = math.Min(math.Max(s.lossNoise/(1e-4*math.Abs(a)), 1e-8*s.maxStep), s.maxStep)
	}
	if s.unread {
		return 0, 0, h, nil
	}
	d1, err := s.central(dir, idx, h)
	if err != nil {
		return 0, 0, h, err
	}
	d2, err := s.central(dir, idx, h/2)
	if err != nil {
		return 0, 0, h, err
	}
	return d1, 2*math.Abs(d1-d2) + s.lossNoise/h, h, nil
}

// central is (L(x + h·dir) - L(x - h·dir)) / 2h.
func (s *stepper) central(dir []float64, idx int, h float64) (float64, error) {
	lp, lm, err := s.around(dir, idx, h)
	return (lp - lm) / (2 * h), err
}

// around returns L(x + h·dir) and L(x - h·dir) (dir nil: entry idx).
func (s *stepper) around(dir []float64, idx int, h float64) (lp, lm float64, err error) {
	apply := func(sign float64) {
		if dir == nil {
			s.set(idx, s.orig[idx]+sign*h)
			return
		}
		for i := range s.orig {
			s.set(i, s.orig[i]+sign*h*dir[i])
		}
	}
	defer s.restore()
	apply(1)
	if lp, err = s.loss(); err != nil {
		return 0, 0, err
	}
	apply(-1)
	lm, err = s.loss()
	return lp, lm, err
}

// kinksWithin counts the kink-op entries that change side between the
// point and a step of h either way along dir (nil: entry idx), and names
// the first node where one does.
func (s *stepper) kinksWithin(dir []float64, idx int, h float64) (node string, n int, err error) {
	at, err := s.kinks()
	if err != nil {
		return "", 0, err
	}
	defer s.restore()
	for _, sign := range []float64{1, -1} {
		if dir == nil {
			s.set(idx, s.orig[idx]+sign*h)
		} else {
			for i := range s.orig {
				s.set(i, s.orig[i]+sign*h*dir[i])
			}
		}
		moved, err := s.kinks()
		if err != nil {
			return "", 0, err
		}
		for _, name := range slices.Sorted(maps.Keys(at)) {
			for i, v := range at[name] {
				if moved[name][i] != v {
					if n == 0 {
						node = name
					}
					n++
				}
			}
		}
	}
	return node, n, nil
}

// relExcess is the part of diff beyond noise, relative to scale.
func relExcess(diff, noise, scale float64) float64 {
	ex := diff - noise
	if ex <= 0 {
		return 0
	}
	if scale == 0 {
		return math.Inf(1)
	}
	return ex / scale
}

// nonFinite names the first non-finite value of v ("NaN", "+Inf", "-Inf").
func nonFinite(v []float64) string {
	for _, x := range v {
		if !finite(x) {
			return fmt.Sprint(x)
		}
	}
	return "finite"
}

// IsParameter reports whether an initializer of a normalised model is a
// parameter that can be differentiated and fed: a float tensor of rank >= 1
// that Normalize did not add (its constants are named zerocost_*).
func IsParameter(t *onnx.TensorProto) bool {
	return ox.IsFloat(t.GetDataType()) && len(t.GetDims()) > 0 && !strings.HasPrefix(t.GetName(), "zerocost_")
}

// jsonFloat is a float64 that JSON encodes as null when it is NaN or ±Inf
// (encoding/json refuses those); the owner names them in a not_finite field.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	if !finite(float64(f)) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f))
}

// notFinite maps the JSON name of each non-finite value to "NaN", "+Inf" or
// "-Inf" (nil when all are finite).
func notFinite(fields map[string]float64) map[string]string {
	var m map[string]string
	for name, v := range fields {
		if !finite(v) {
			if m == nil {
				m = map[string]string{}
			}
			m[name] = fmt.Sprint(v)
		}
	}
	return m
}

// MarshalJSON encodes NaN and ±Inf as null and lists them, by field name,
// in "not_finite" (for example {"numeric": "NaN"}).
func (c TensorCheck) MarshalJSON() ([]byte, error) {
	type plain TensorCheck
	return json.Marshal(struct {
		plain
		GradNorm      jsonFloat         `json:"grad_norm"`
		Analytic      jsonFloat         `json:"analytic"`
		Numeric       jsonFloat         `json:"numeric"`
		Diff          jsonFloat         `json:"diff"`
		Noise         jsonFloat         `json:"noise"`
		AnalyticNoise jsonFloat         `json:"analytic_noise"`
		NumericNoise  jsonFloat         `json:"numeric_noise"`
		Step          jsonFloat         `json:"step"`
		RelError      jsonFloat         `json:"rel_error"`
		NotFinite     map[string]string `json:"not_finite,omitempty"`
	}{
		plain(c), jsonFloat(c.GradNorm), jsonFloat(c.Analytic), jsonFloat(c.Numeric), jsonFloat(c.Diff), jsonFloat(c.Noise),
		jsonFloat(c.AnalyticNoise), jsonFloat(c.NumericNoise), jsonFloat(c.Step), jsonFloat(c.RelError),
		notFinite(map[string]float64{"grad_norm": c.GradNorm, "analytic": c.Analytic, "numeric": c.Numeric, "diff": c.Diff, "noise": c.Noise,
			"analytic_noise": c.AnalyticNoise, "numeric_noise": c.NumericNoise, "step": c.Step, "rel_error": c.RelError}),
	})
}

// MarshalJSON encodes a non-finite loss as null and names it in
// "not_finite" ({"loss": "NaN"}).
func (r CheckReport) MarshalJSON() ([]byte, error) {
	type plain CheckReport
	return json.Marshal(struct {
		plain
		Loss        jsonFloat         `json:"loss"`
		MaxRelError jsonFloat         `json:"max_rel_error"`
		NotFinite   map[string]string `json:"not_finite,omitempty"`
	}{plain(r), jsonFloat(r.Loss), jsonFloat(r.MaxRelError), notFinite(map[string]float64{"loss": r.Loss, "max_rel_error": r.MaxRelError})})
}
