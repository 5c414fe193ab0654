package engine

import (
	"fmt"
	"slices"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/zerocost/zerocost/autodiff"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
	"google.golang.org/protobuf/proto"
)

// The memory guard. Before a session opens, the bytes it needs are
// estimated from the static shapes of the model's tensors, and above the
// limit (runtime.SessionOptions.MaxMemory; 0 is runtime.DefaultMemoryLimit)
// the session is refused with a *runtime.MemoryError. The estimate is of
// the whole process while that session runs, and the factors are upper
// bounds of the peak resident memory measured on real models (resnet18,
// mobilenet_v2, vit_b_16 and a NAS-Bench-201 network, every proxy; see
// docs/robustness.md): the peak stayed between 0.4 and 0.97 of the
// estimate.
const (
	// activationFactor applies to the sum of every tensor the graph
	// computes, as if none were freed. ONNX Runtime's memory planner
	// reuses buffers, which pays for the backward pass's gradients: the
	// measured peaks grew by 0.4 to 0.7 bytes per byte of this sum.
	activationFactor = 1
	// paramFactor covers the copies of the initializers: in Go (the
	// file's bytes, the decoded model, its normalised and gradient copies,
	// their serialisation, float64 weights for the per-layer scores, fed
	// values and gradients) and in the session. resnet18 holds 7.4 times
	// its 43 MiB of weights before any session opens.
	paramFactor = 16
	// sessionOverhead is what the Go runtime, the ONNX Runtime library,
	// its arena and thread pools take before any tensor.
	sessionOverhead = 256 << 20
)

// MemoryEstimate is the memory a session is expected to need, in bytes,
// saturated at math.MaxInt64.
type MemoryEstimate struct {
	// Activations are the forward model's tensors (inputs and node
	// outputs), at the run's batch size.
	Activations int64
	// Params are the initializers.
	Params int64
	// Graph is the serialised graph handed to ONNX Runtime.
	Graph int64
	// Backward is true for a gradient graph (activationFactor and
	// paramFactor apply), false for a plain forward run.
	Backward bool
}

// Total is the estimate: for a gradient graph activationFactor×Activations
// + paramFactor×Params + Graph + a fixed session overhead; for a forward
// run Activations + 2×Params + Graph + the overhead.
func (e MemoryEstimate) Total() int64 {
	af, pf := int64(1), int64(2)
	if e.Backward {
		af, pf = activationFactor, paramFactor
	}
	t := runtime.MulSat(e.Activations, af)
	t = runtime.AddSat(t, runtime.MulSat(e.Params, pf))
	t = runtime.AddSat(t, e.Graph)
	return runtime.AddSat(t, sessionOverhead)
}

// String says how Total is made up.
func (e MemoryEstimate) String() string {
	af, pf := 1, 2
	if e.Backward {
		af, pf = activationFactor, paramFactor
	}
	return fmt.Sprintf("tensors %s ×%d, initializers %s ×%d, graph %s, session %s",
		runtime.FormatBytes(e.Activations), af, runtime.FormatBytes(e.Params), pf, runtime.FormatBytes(e.Graph), runtime.FormatBytes(sessionOverhead))
}

// EstimateMemory estimates what a session on the gradient graph res needs
// when the dynamic dimensions (-1) of its shapes stand for batch.
func EstimateMemory(res *autodiff.Result, batch int64) MemoryEstimate {
	e := MemoryEstimate{Backward: true, Graph: int64(proto.Size(res.Model.Proto))}
	e.Params, e.Activations = tensorBytes(res.Forward, res.Shapes, batch)
	return e
}

// EstimateForward estimates what a plain forward run of m needs for the
// given input shape (as for onnximport.Input.ResolveShape) and batch. ok is
// false when the shapes cannot be inferred without running m; an overflow
// of the shapes is an error.
func EstimateForward(m *ox.Model, inputShape []int64, batch int64) (e MemoryEstimate, ok bool, err error) {
	spec := inputShape
	if ins := m.Inputs(); len(ins) > 0 && len(spec) == len(ins[0].Dims)-1 {
		spec = append([]int64{max(batch, 1)}, spec...) // the whole shape: one inference at this batch
	}
	shapes, err := staticShapes(m, feedPlan{shape: spec})
	if err != nil {
		if _, soft := err.(errNotStatic); soft {
			return e, false, nil
		}
		return e, false, err
	}
	e = MemoryEstimate{Graph: int64(proto.Size(m.Proto))}
	e.Params, e.Activations = tensorBytes(m, shapes, batch)
	return e, true, nil
}

// tensorBytes sums the bytes of m's initializers and of its other tensors
// in shapes, with dynamic dimensions set to batch.
func tensorBytes(m *ox.Model, shapes autodiff.Shapes, batch int64) (params, activations int64) {
	inits := map[string]bool{}
	for _, t := range m.Graph().GetInitializer() {
		inits[t.GetName()] = true
		params = runtime.AddSat(params, runtime.ShapeBytes(t.GetDims(), elemBytes(t.GetDataType())))
	}
	for name, info := range shapes {
		if inits[name] {
			continue
		}
		elem := info.ONNXType
		if elem == 0 {
			elem = info.Elem
		}
		activations = runtime.AddSat(activations, runtime.ShapeBytes(withBatch(info.Dims, batch), elemBytes(elem)))
	}
	return params, activations
}

// withBatch replaces dynamic dimensions by batch.
func withBatch(dims []int64, batch int64) []int64 {
	out := slices.Clone(dims)
	for i, d := range out {
		if d < 0 {
			out[i] = max(batch, 1)
		}
	}
	return out
}

// elemBytes is the size of one element of an ONNX element type (8 for
// types of no fixed size, as an upper bound).
func elemBytes(t int32) int64 {
	if n := ox.ElementSize(t); n > 0 {
		return int64(n)
	}
	return 8
}

// runBatch is the batch size that dynamic dimensions stand for when a
// session of res runs with opts: Batch, else the batch of InputShapes or of
// a whole InputShape, else 1.
func runBatch(res *autodiff.Result, opts Options) int64 {
	if opts.Batch > 0 {
		return opts.Batch
	}
	if len(opts.InputShapes) > 0 {
		return feedPlan{byName: opts.InputShapes}.batch(res.Forward.Inputs())
	}
	if ins := res.Forward.Inputs(); len(ins) > 0 && len(opts.InputShape) == len(ins[0].Dims) && len(opts.InputShape) > 0 {
		return opts.InputShape[0]
	}
	return 1
}

// checkGradientMemory refuses a gradient session whose estimate exceeds
// the limit, and otherwise reserves it in the session's budget (when there
// is one); release gives it back.
func checkGradientMemory(res *autodiff.Result, opts Options) (release func(), err error) {
	if opts.Session.MaxMemory < 0 {
		return func() {}, nil
	}
	batch := runBatch(res, opts)
	e := EstimateMemory(res, batch)
	what := fmt.Sprintf("engine: %s: the gradient graph", res.Forward.Name())
	if ins := res.Forward.Inputs(); len(ins) > 0 {
		what += fmt.Sprintf(" for input %q of shape %v", ins[0].Name, withBatch(res.Shapes[ins[0].Name].Dims, batch))
	}
	if err := runtime.CheckMemory(what, e.Total(), opts.Session.MaxMemory, e.String()); err != nil {
		return nil, err
	}
	// The process's own share (Go, the library) is counted once, in the
	// pool's capacity (NewMemoryPool), not per session.
	return opts.Session.Budget.Reserve(e.Total() - sessionOverhead), nil
}

// NewMemoryPool returns the pool that parallel workers share under the
// memory limit (runtime.SessionOptions.MaxMemory: 0 is
// runtime.DefaultMemoryLimit, read now), or nil for no limit. Each
// gradient session reserves its estimate less the process's fixed
// overhead, which the pool holds back once.
func NewMemoryPool(limit int64) *runtime.MemoryPool {
	if limit < 0 {
		return nil
	}
	if limit == 0 {
		limit = runtime.DefaultMemoryLimit()
	}
	return runtime.NewMemoryPool(limit - sessionOverhead)
}

// checkProbe guards the probe run of shape discovery (used when static
// inference cannot follow m): models with Loop or Scan nodes are refused
// (checkLoops), and the inputs at each of the probe's batch sizes and the
// probe graph must fit in limit together. What the model computes from
// them is unknown before it runs.
func checkProbe(m *ox.Model, plan feedPlan, limit int64) error {
	if err := checkLoops(m); err != nil {
		return err
	}
	if limit < 0 {
		return nil
	}
	need := runtime.MulSat(int64(proto.Size(m.Proto)), 2)
	var shapes [][]int64
	for _, batch := range plan.batches(m.Inputs()) {
		var at [][]int64
		sum := int64(0)
		for _, in := range m.Inputs() {
			dims, err := plan.dims(in, batch)
			if err != nil {
				return nil // probeShapes reports it
			}
			at = append(at, dims)
			sum = runtime.AddSat(sum, runtime.ShapeBytes(dims, elemBytes(in.ElemType)))
		}
		shapes = at // the largest batch comes last
		need = runtime.AddSat(need, sum)
	}
	return runtime.CheckMemory(fmt.Sprintf("engine: %s: running the model on inputs of shapes %v to find its tensor shapes", m.Name(), shapes),
		runtime.AddSat(need, sessionOverhead), limit, "inputs and graph only: static shape inference cannot follow this model")
}

// checkLoops refuses to run a model with Loop or Scan nodes: how long they
// run is known only by running them (a trip count of 10^15 never ends).
// Normalisation unrolls those with a static length (autodiff.Normalize), so
// only forward runs of the model as it is meet this.
func checkLoops(m *ox.Model) error {
	if n := findNode(m.Graph(), "Loop", "Scan"); n != nil {
		return fmt.Errorf("engine: %s: node %q is a %s, whose running time is known only by running it; zerocost runs loops only unrolled (score and gradcheck unroll those of a static length)", m.Name(), n.GetName(), n.GetOpType())
	}
	return nil
}

// findNode returns the first node of g, or of a subgraph of its nodes, with
// one of the op types.
func findNode(g *onnx.GraphProto, ops ...string) *onnx.NodeProto {
	for _, n := range g.GetNode() {
		if slices.Contains(ops, n.GetOpType()) {
			return n
		}
		for _, a := range n.GetAttribute() {
			for _, sub := range append([]*onnx.GraphProto{a.GetG()}, a.GetGraphs()...) {
				if sub == nil {
					continue
				}
				if found := findNode(sub, ops...); found != nil {
					return found
				}
			}
		}
	}
	return nil
}

// CheckForwardMemory refuses a plain forward run of m with Loop or Scan
// nodes (see checkLoops), or (inputs of inputShape, dynamic batch
// dimensions set to batch) whose estimate
// (EstimateForward, or the inputs and graph alone when the shapes cannot be
// inferred statically) exceeds limit, as runtime.CheckMemory.
func CheckForwardMemory(m *ox.Model, inputShape []int64, batch int64, limit int64) error {
	if err := checkLoops(m); err != nil {
		return err
	}
	if limit < 0 {
		return nil
	}
	e, ok, err := EstimateForward(m, inputShape, batch)
	if err != nil {
		return err
	}
	detail := e.String()
	if !ok {
		e = MemoryEstimate{Graph: int64(proto.Size(m.Proto))}
		for _, in := range m.Inputs() {
			dims, err := in.ResolveShape(inputShape, batch)
			if err != nil {
				return nil // the run reports it
			}
			e.Activations = runtime.AddSat(e.Activations, runtime.ShapeBytes(dims, elemBytes(in.ElemType)))
		}
		detail = "inputs and graph only: static shape inference cannot follow this model"
	}
	return runtime.CheckMemory(fmt.Sprintf("engine: %s: a forward run", m.Name()), e.Total(), limit, detail)
}
