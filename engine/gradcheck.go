package engine

import (
	"strings"

	"fmt"
	"github.com/advancedclimatesystems/gonnx/onnx"
	"math"
	"math/rand/v2"

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
	// step aims at (default 1e-4 in float32, 1e-6 in float64).
	Step float64
	// Entries: tensors with at most this many elements are also checked
	// entry by entry (default 8).
	Entries int
	// Tolerance on the relative error (default 1e-6 in float64, 5e-2 in float32: a
	// float32 step crosses some ReLU and MaxPool kinks on deep networks).
	Tolerance float64
	// Only restricts the check to these tensors (nil: every float parameter and input).
	Only    []string
	Session runtime.SessionOptions
}

// TensorCheck is the result for one tensor.
type TensorCheck struct {
	Name     string  `json:"name"`
	Kind     string  `json:"kind"` // "param" or "input"
	Shape    []int64 `json:"shape"`
	RelError float64 `json:"rel_error"`
	// Analytic and Numeric are the directional derivatives along the
	// gradient (Analytic is its norm).
	Analytic float64 `json:"analytic"`
	Numeric  float64 `json:"numeric"`
}

// CheckReport is the outcome of CheckGradients.
type CheckReport struct {
	Model          string        `json:"model"`
	Head           string        `json:"head"`
	Loss           float64       `json:"loss"`
	MaxRelError    float64       `json:"max_rel_error"`
	Tolerance      float64       `json:"tolerance"`
	OK             bool          `json:"ok"`
	Params         []TensorCheck `json:"params"`
	Inputs         []TensorCheck `json:"inputs"`
	UnsupportedOps []string      `json:"unsupported_ops"`
}

// CheckGradients builds the gradient graph of m with respect to every float
// initializer and float input, and compares each gradient with central
// finite differences of the loss: along the gradient's own direction for
// every tensor, and entry by entry for small tensors. An *autodiff.UnsupportedError
// is reported in the report (OK false), not returned.
func CheckGradients(m *ox.Model, opts CheckOptions) (*CheckReport, error) {
	if opts.Batch <= 0 {
		opts.Batch = 2
	}
	if opts.Entries == 0 {
		opts.Entries = 8
	}
	report := &CheckReport{Model: m.Name(), UnsupportedOps: []string{}, Params: []TensorCheck{}, Inputs: []TensorCheck{}}
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
	if opts.Step == 0 {
		opts.Step = 1e-4
		if double {
			opts.Step = 1e-6
		}
	}
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
	gopts := Options{Request: req, InputShape: opts.InputShape, FeedParams: true, Session: opts.Session}
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
		batch := feeds[grad.Inputs[0].Name].Shape[0]
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
	loss := func() (float64, error) {
		o, err := lossOnly.Run(feeds)
		if err != nil {
			return 0, err
		}
		return o[res.Loss].Float64s()[0], nil
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x6463686b))
	for _, w := range wrt {
		tc, err := checkTensor(feeds[w], out[res.Grads[w]].Float64s(), report.Loss, loss, rng, opts)
		if err != nil {
			return nil, fmt.Errorf("engine: %s: checking %s: %w", m.Name(), w, err)
		}
		tc.Name, tc.Kind, tc.Shape = w, kinds[w], feeds[w].Shape
		if tc.Kind == "param" {
			report.Params = append(report.Params, tc)
		} else {
			report.Inputs = append(report.Inputs, tc)
		}
		report.MaxRelError = math.Max(report.MaxRelError, tc.RelError)
	}
	report.OK = report.MaxRelError <= opts.Tolerance
	return report, nil
}

// checkTensor compares the gradient g of tensor t with central differences.
// Each step is chosen so that the loss moves by Step relative (1e-3 by
// default): large enough that the float32 round-off of the loss (~1e-7·|L|)
// stays ~1e-4 of the difference, small enough that few kinks are crossed.
// The error of a directional derivative is scaled by ‖g‖ (the typical size
// of a derivative along a random ±1 direction).
func checkTensor(t *runtime.Tensor, g []float64, loss0 float64, loss func() (float64, error), rng *rand.Rand, opts CheckOptions) (TensorCheck, error) {
	x := t.Float64s()
	n := len(x)
	rms, gnorm := 0.0, 0.0
	for i := range x {
		rms += x[i] * x[i]
		gnorm += g[i] * g[i]
	}
	rms, gnorm = math.Sqrt(rms/float64(max(n, 1))), math.Sqrt(gnorm)
	maxStep := 0.1 * math.Max(rms, 0.1) // never move an entry by more than 10% of the tensor's scale
	eps := 1.2e-7                       // float32 round-off
	if t.F64 != nil {
		eps = 2.3e-16
	}
	set := func(i int, v float64) {
		if t.F64 != nil {
			t.F64[i] = v
		} else {
			t.F32[i] = float32(v)
		}
	}
	// central difference of the loss along dir (nil: along entry idx),
	// for an expected derivative a.
	central := func(dir []float64, idx int, a float64) (num, floor float64, err error) {
		h := math.Min(opts.Step*math.Max(math.Abs(loss0), 1e-3)/math.Max(math.Abs(a), 1e-12), maxStep)
		orig := append([]float64{}, x...)
		apply := func(s float64) {
			if dir == nil {
				set(idx, orig[idx]+s*h)
				return
			}
			for i := range orig {
				set(i, orig[i]+s*h*dir[i])
			}
		}
		apply(1)
		lp, err := loss()
		if err == nil {
			apply(-1)
			var lm float64
			lm, err = loss()
			num = (lp - lm) / (2 * h)
			floor = 4 * eps * math.Max(math.Abs(lp), math.Abs(lm)) / (2 * h)
		}
		for i := range orig {
			set(i, orig[i])
		}
		return num, floor, err
	}
	tc := TensorCheck{}
	if gnorm == 0 {
		// No gradient: the loss must not move along a random direction.
		dir := make([]float64, n)
		for i := range dir {
			dir[i] = float64(2*rng.IntN(2) - 1)
		}
		num, floor, err := central(dir, 0, 1)
		if err != nil {
			return tc, err
		}
		tc.Numeric = num
		tc.RelError = relError(0, num, math.Abs(loss0)*opts.Step, floor)
		return tc, nil
	}
	// Along the gradient itself the derivative is largest (‖g‖), so the step
	// is smallest and crosses the fewest kinks of ReLU and MaxPool: the check
	// float32 can afford on deep networks. A wrong gradient (wrong entries,
	// scale or sign) is not the direction of steepest ascent and fails it.
	dir := make([]float64, n)
	for i := range dir {
		dir[i] = g[i] / gnorm
	}
	tc.Analytic = gnorm
	num, floor, err := central(dir, 0, gnorm)
	if err != nil {
		return tc, err
	}
	tc.Numeric = num
	tc.RelError = relError(tc.Analytic, num, gnorm, floor)
	if n <= opts.Entries {
		for i := 0; i < n; i++ {
			num, floor, err := central(nil, i, math.Max(math.Abs(g[i]), gnorm))
			if err != nil {
				return tc, err
			}
			tc.RelError = math.Max(tc.RelError, relError(g[i], num, gnorm, floor))
		}
	}
	return tc, nil
}

func relError(analytic, numeric, scale, floor float64) float64 {
	diff := math.Abs(analytic-numeric) - floor
	if diff <= 0 {
		return 0
	}
	den := math.Max(math.Max(math.Abs(analytic), math.Abs(numeric)), scale)
	if den == 0 {
		return math.Inf(1)
	}
	return diff / den
}

// IsParameter reports whether an initializer of a normalised model is a
// parameter that can be differentiated and fed: a float tensor of rank >= 1
// that Normalize did not add (its constants are named zerocost_*).
func IsParameter(t *onnx.TensorProto) bool {
	return ox.IsFloat(t.GetDataType()) && len(t.GetDims()) > 0 && !strings.HasPrefix(t.GetName(), "zerocost_")
}
