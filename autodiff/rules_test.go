package autodiff_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/engine"
	"github.com/zerocost/zerocost/internal/testort"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
)

// in describes one input of a rule test. Float inputs are graph inputs and
// are differentiated; integer inputs are constants (axes, shapes, indices).
type in struct {
	name string
	dims []int64 // -1 marks a dynamic batch dimension (fed with batch 3)
	ints []int64 // integer constant values (nil: a float input)
	// float inputs: values drawn uniformly with 0.2 <= |x| <= 1 (away from
	// kinks at 0), or in [lo, hi] when hi > lo.
	lo, hi float64
	// float constant (not differentiated): the values
	consts []float64
	// distinct: values at least 0.05 apart (no near-ties for MaxPool)
	distinct bool
}

// gradCase is a small graph whose last output is the head.
type gradCase struct {
	name   string
	nodes  []*onnx.NodeProto
	inputs []in
	// float64 where the CPU provider has float64 kernels for every op of
	// the case; float32 otherwise.
	double bool
	bn     autodiff.BNMode
}

func node(op string, ins []string, outs []string, attrs ...ox.Attr) *onnx.NodeProto {
	return ox.Node(op, op+"_"+strings.Join(outs, "_"), ins, outs, attrs...)
}

func one(op string, ins ...string) []*onnx.NodeProto {
	return []*onnx.NodeProto{node(op, ins, []string{"y"})}
}

func oneA(op string, ins []string, attrs ...ox.Attr) []*onnx.NodeProto {
	return []*onnx.NodeProto{node(op, ins, []string{"y"}, attrs...)}
}

func f(name string, dims ...int64) in { return in{name: name, dims: dims} }

func fr(name string, lo, hi float64, dims ...int64) in {
	return in{name: name, dims: dims, lo: lo, hi: hi}
}

func ints(name string, vals ...int64) in { return in{name: name, ints: vals} }

// model builds the case's model and the values of its float inputs.
func (c gradCase) model(rng *rand.Rand, batch int64) (*ox.Model, map[string][]float64, map[string][]int64) {
	elem := ox.Float
	if c.double {
		elem = ox.Double
	}
	g := &onnx.GraphProto{Name: c.name, Node: c.nodes}
	values := map[string][]float64{}
	shapes := map[string][]int64{}
	for _, x := range c.inputs {
		switch {
		case x.ints != nil:
			g.Initializer = append(g.Initializer, ox.Int64Tensor(x.name, []int64{int64(len(x.ints))}, x.ints))
		case x.consts != nil:
			if c.double {
				g.Initializer = append(g.Initializer, ox.Float64Tensor(x.name, x.dims, x.consts))
			} else {
				g.Initializer = append(g.Initializer, ox.Float32Tensor(x.name, x.dims, toF32(x.consts)))
			}
		default:
			g.Input = append(g.Input, ox.ValueInfo(x.name, elem, x.dims))
			dims := append([]int64{}, x.dims...)
			for i := range dims {
				if dims[i] < 0 {
					dims[i] = batch
				}
			}
			v := make([]float64, runtime.NumElements(dims))
			perm := rng.Perm(len(v))
			for i := range v {
				if x.distinct {
					v[i] = 0.05 * float64(perm[i]-len(v)/2)
					continue
				}
				if x.hi > x.lo {
					v[i] = x.lo + (x.hi-x.lo)*rng.Float64()
				} else {
					v[i] = (0.2 + 0.8*rng.Float64()) * float64(2*rng.IntN(2)-1)
				}
			}
			values[x.name] = v
			shapes[x.name] = dims
		}
	}
	last := c.nodes[len(c.nodes)-1]
	g.Output = []*onnx.ValueInfoProto{{Name: last.Output[0]}}
	return ox.NewModel(g, 17), values, shapes
}

func toF32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func tensor(double bool, dims []int64, v []float64) *runtime.Tensor {
	if double {
		return runtime.NewFloat64(dims, append([]float64{}, v...))
	}
	return runtime.NewFloat32(dims, toF32(v))
}

// check compares the gradient graph of c with central differences of
// L = Σ seed ⊙ y, entry by entry, requesting the gradients of the inputs in wrt.
func (c gradCase) check(t *testing.T, wrt []string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, uint64(len(c.name))))
	const batch = 3
	m, values, shapes := c.model(rng, batch)
	grad, err := engine.NewGradient(m, engine.Options{
		Request: autodiff.Request{WRT: wrt, Head: autodiff.HeadSeed, BN: c.bn},
		// Basic optimisation keeps ONNX Runtime from fusing ops into
		// contrib ops that have no float64 kernels.
		Session: runtime.SessionOptions{Optimization: "basic"},
	})
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	defer grad.Destroy()
	for _, op := range grad.Model.OpTypes() {
		if strings.Contains(op, ".") {
			t.Fatalf("%s: gradient graph uses non-standard op %s", c.name, op)
		}
	}
	fwdData, err := grad.Forward.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	fwd, err := runtime.NewSession(fwdData, runtime.SessionOptions{Optimization: "basic"})
	if err != nil {
		t.Fatalf("%s: forward: %v", c.name, err)
	}
	defer fwd.Destroy()
	feeds := func() map[string]*runtime.Tensor {
		fs := map[string]*runtime.Tensor{}
		for name, v := range values {
			fs[name] = tensor(c.double, shapes[name], v)
		}
		return fs
	}
	y, err := fwd.Run(feeds())
	if err != nil {
		t.Fatalf("%s: forward: %v", c.name, err)
	}
	head := grad.Head
	yShape := y[head].Shape
	seed := make([]float64, runtime.NumElements(yShape))
	for i := range seed {
		seed[i] = 0.5 + rng.Float64()
	}
	loss := func() float64 {
		out, err := fwd.Run(feeds())
		if err != nil {
			t.Fatalf("%s: forward: %v", c.name, err)
		}
		s := 0.0
		for i, v := range out[head].Float64s() {
			s += seed[i] * v
		}
		return s
	}
	gfeeds := feeds()
	gfeeds[grad.Seed] = tensor(c.double, yShape, seed)
	out, err := grad.Run(gfeeds)
	if err != nil {
		t.Fatalf("%s: gradient graph: %v", c.name, err)
	}
	// Tolerances: in float64, step 1e-6 leaves a truncation error ~1e-12·f'''
	// and a round-off error ~1e-16/1e-6 = 1e-10 relative: 1e-6 is ample. In
	// float32 the round-off of the loss is ~1e-7·|L|/h; with h = 1e-2 it is
	// ~1e-5·|L|, and the curvature term ~1e-4·f'': 2e-2 relative to the
	// largest entry holds for these smooth, kink-free inputs.
	h, tol := 1e-2, 2e-2
	if c.double {
		h, tol = 1e-6, 1e-6
	}
	for _, w := range wrt {
		g := out[grad.Grads[w]].Float64s()
		if len(g) != len(values[w]) {
			t.Fatalf("%s: d/d%s has %d entries, want %d", c.name, w, len(g), len(values[w]))
		}
		scale := 0.0
		for _, v := range g {
			scale = math.Max(scale, math.Abs(v))
		}
		for i := range values[w] {
			orig := values[w][i]
			values[w][i] = orig + h
			lp := loss()
			values[w][i] = orig - h
			lm := loss()
			values[w][i] = orig
			num := (lp - lm) / (2 * h)
			if diff := math.Abs(num - g[i]); diff > tol*math.Max(1, math.Max(scale, math.Abs(num))) {
				t.Errorf("%s: d/d%s[%d]: want %.9g (finite differences), got %.9g", c.name, w, i, num, g[i])
				return
			}
		}
	}
}

// floatInputs returns the names of the differentiated inputs of c.
func (c gradCase) floatInputs() []string {
	var names []string
	for _, x := range c.inputs {
		if x.ints == nil && x.consts == nil {
			names = append(names, x.name)
		}
	}
	return names
}

func TestRulesAgainstFiniteDifferences(t *testing.T) {
	testort.Init(t)
	for _, c := range ruleCases() {
		t.Run(c.name, func(t *testing.T) {
			all := c.floatInputs()
			c.check(t, all)
			if len(all) > 1 {
				// Switch each input's gradient off in turn.
				for skip := range all {
					var some []string
					for i, n := range all {
						if i != skip {
							some = append(some, n)
						}
					}
					c.check(t, some)
				}
			}
		})
	}
}

func TestEveryRuleHasACase(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range ruleCases() {
		for _, n := range c.nodes {
			covered[n.GetOpType()] = true
		}
	}
	// Normalize rewrites these into ops that have their own rules.
	covered["Dropout"] = covered["Dropout"] || covered["Identity"]
	var missing []string
	for _, op := range autodiff.SupportedOps() {
		if !covered[op] {
			missing = append(missing, op)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("rules without a finite-difference case: %v", missing)
	}
}

var _ = fmt.Sprint
