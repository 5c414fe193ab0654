package autodiff

import (
	"fmt"
	"slices"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ox "github.com/zerocost/zerocost/onnximport"
)

// Names of what CutAtStages and the Covariance and Transfer requests add.
const (
	// CutHeadOutput is the float [1] output of a cut graph: Σ_l Σ seed_l ⊙ f_l
	// over every stage but the first.
	CutHeadOutput = "zerocost_cut/head"
)

// CutInput returns the input that replaces stage tensor t for its consumers
// in a cut graph.
func CutInput(t string) string { return "zerocost_cut/in/" + t }

// CutSeed returns the input that holds the cotangent of stage tensor t in a
// cut graph.
func CutSeed(t string) string { return "zerocost_cut/seed/" + t }

// CovarianceName returns the output holding the channel covariance of tensor t.
func CovarianceName(t string) string { return "zerocost_cov/" + t }

// TransferName returns the output holding the transfer matrix of a Transfer.
func TransferName(in string) string { return "zerocost_transfer/" + in }

// IdentityName returns the output holding max |dIn − seed| of a Transfer
// whose two tensors have the same shape (0 exactly when the block between
// them passes the cotangent through unchanged).
func IdentityName(in string) string { return "zerocost_transfer_identity/" + in }

// Transfer asks for AZ-NAS's transfer matrix between a block's input and
// output: In is a tensor in Request.WRT (a cut input), Seed the tensor that
// holds the cotangent fed to the block's output (a cut seed). Both are
// N×C×H×W; the gradient of In is pixel-unshuffled by Stride (1: not), as
// torch's pixel_unshuffle orders channels, and the output TransferName(In) is
// M = G_inᵀ·G_out / rows in float64, G the tensors read as rows of
// channels (N·H·W rows), of shape (C_in·Stride²)×C_out.
type Transfer struct {
	In, Seed string
	Stride   int64
}

// CutAtStages returns m cut at its stage tensors (in topological order, as
// onnximport.Stages finds them): every consumer of stages[l], l < L, reads
// the new input CutInput(stages[l]) instead, each stages[l], l ≥ 1, gets a
// cotangent input CutSeed(stages[l]), and the only output is CutHeadOutput
// = Σ_{l≥1} Σ CutSeed(f_l) ⊙ f_l. Fed with the forward values of the stages,
// the cut graph computes the same f_l as m, and the gradient of the head
// with respect to CutInput(f_l) is the vector–Jacobian product of the block
// from f_l to f_{l+1} alone with the cotangent of f_{l+1}. dims gives each
// stage tensor's shape (the batch's, static); its element type is float.
func CutAtStages(m *ox.Model, stages []string, dims map[string][]int64) (*ox.Model, error) {
	if len(stages) < 2 {
		return nil, fmt.Errorf("autodiff: %s: cutting at stages needs at least two stage tensors, got %d", m.Name(), len(stages))
	}
	out := m.Clone()
	g := out.Graph()
	produced := map[string]bool{}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			produced[o] = true
		}
	}
	for _, t := range stages {
		if !produced[t] {
			return nil, fmt.Errorf("autodiff: %s: stage tensor %q is not the output of a node", m.Name(), t)
		}
		if _, ok := dims[t]; !ok {
			return nil, fmt.Errorf("autodiff: %s: the shape of stage tensor %q is not given", m.Name(), t)
		}
	}
	cut := map[string]string{}
	for _, t := range stages[:len(stages)-1] {
		cut[t] = CutInput(t)
		g.Input = append(g.Input, ox.ValueInfo(CutInput(t), ox.Float, dims[t]))
	}
	for _, n := range g.GetNode() {
		for j, in := range n.GetInput() {
			if c, ok := cut[in]; ok {
				n.Input[j] = c
			}
		}
	}
	e := newEmitter(g, out.Opset(), nil)
	var terms []string
	for _, t := range stages[1:] {
		seed := CutSeed(t)
		g.Input = append(g.Input, ox.ValueInfo(seed, ox.Float, dims[t]))
		prod := e.node("zerocost_cut/dot/"+t, "Mul", []string{t, seed})
		terms = append(terms, e.reduce("zerocost_cut/sum/"+t, "ReduceSum", prod, nil, false))
	}
	total := e.sum("zerocost_cut/total", terms)
	g.Node = append(g.Node, ox.Node("Reshape", e.fresh(CutHeadOutput+"/node"), []string{total, e.ints(1)}, []string{CutHeadOutput}))
	g.Output = []*onnx.ValueInfoProto{ox.ValueInfo(CutHeadOutput, ox.Float, []int64{1})}
	g.ValueInfo = nil
	return out, nil
}

// rowsOfChannels returns x (N×C×…, channels on axis 1, C known) cast to
// float64 and read as rows of C channels: the other axes, in order, make the
// rows (B·H·W × C, as AZ-NAS's permute(0,2,3,1).view(-1, C)).
func rowsOfChannels(e *emitter, base, x string, rank int, c int64) string {
	perm := []int64{0}
	for i := 2; i < rank; i++ {
		perm = append(perm, int64(i))
	}
	perm = append(perm, 1)
	d := e.node(base+"/f64", "Cast", []string{x}, ox.AttrInt("to", int64(ox.Double)))
	if rank > 2 {
		d = e.transpose(base+"/channels_last", d, perm)
	}
	return e.reshape(base+"/rows", d, e.ints(-1, c))
}

// rowCount returns the number of rows of a rows × C tensor, as a float64 scalar.
func rowCount(e *emitter, base, rows string) string {
	n := e.node(base+"/n_int", "Gather", []string{e.shapeOf(base+"/shape", rows), e.intsShaped([]int64{}, 0)})
	return e.node(base+"/n", "Cast", []string{n}, ox.AttrInt("to", int64(ox.Double)))
}

// emitCovariance adds CovarianceName(t): the C×C covariance of t's
// channels over its rows (centred, divided by the number of rows), float64.
func emitCovariance(e *emitter, t string) error {
	info, ok := e.shapes[t]
	if !ok {
		return fmt.Errorf("covariance tensor %q is not a tensor of the model", t)
	}
	if len(info.Dims) < 2 || info.Dims[1] < 1 {
		return fmt.Errorf("covariance tensor %q of shape %v has no static channel axis 1", t, info.Dims)
	}
	base := "zerocost_cov/" + sanitize(t)
	rows := rowsOfChannels(e, base, t, len(info.Dims), info.Dims[1])
	centred := e.node(base+"/centred", "Sub", []string{rows, e.reduce(base+"/mean", "ReduceMean", rows, []int64{0}, true)})
	// Gemm with transA, not Transpose → MatMul: ONNX Runtime fuses the latter
	// into com.microsoft.FusedMatMul, which has no float64 kernel.
	prod := e.node(base+"/gram", "Gemm", []string{centred, centred}, ox.AttrInt("transA", 1))
	name := CovarianceName(t)
	e.g.Node = append(e.g.Node, ox.Node("Div", e.fresh(name), []string{prod, rowCount(e, base, rows)}, []string{name}))
	e.g.Output = append(e.g.Output, &onnx.ValueInfoProto{Name: name})
	return nil
}

// emitTransfer adds TransferName(tr.In) (and IdentityName where the shapes
// agree) from grad, the gradient of tr.In.
func emitTransfer(e *emitter, tr Transfer, grad string) error {
	in, ok := e.shapes[tr.In]
	if !ok {
		return fmt.Errorf("transfer input %q is not a tensor of the model", tr.In)
	}
	out, ok := e.shapes[tr.Seed]
	if !ok {
		return fmt.Errorf("transfer seed %q is not a tensor of the model", tr.Seed)
	}
	if grad == "" {
		grad = e.zerosLike(sanitize(tr.In)+"_zero_grad", tr.In)
	}
	if len(in.Dims) != len(out.Dims) || len(in.Dims) < 2 || slices.Contains(in.Dims, -1) || slices.Contains(out.Dims, -1) {
		return fmt.Errorf("transfer from %q %v to %q %v: want two tensors of one rank with static shapes", tr.In, in.Dims, tr.Seed, out.Dims)
	}
	base := "zerocost_transfer/" + sanitize(tr.In)
	if slices.Equal(in.Dims, out.Dims) {
		diff := e.node(base+"/abs_diff", "Abs", []string{e.node(base+"/diff", "Sub", []string{grad, tr.Seed})})
		name := IdentityName(tr.In)
		e.g.Node = append(e.g.Node, ox.Node("Reshape", e.fresh(name), []string{e.reduce(base+"/max", "ReduceMax", diff, nil, false), e.ints(1)}, []string{name}))
		e.g.Output = append(e.g.Output, &onnx.ValueInfoProto{Name: name})
	}
	g, dims := grad, in.Dims
	if s := tr.Stride; s > 1 {
		if len(dims) != 4 || dims[2]%s != 0 || dims[3]%s != 0 {
			return fmt.Errorf("transfer from %q %v: cannot pixel-unshuffle by %d", tr.In, dims, s)
		}
		n, c, h, w := dims[0], dims[1], dims[2], dims[3]
		g = e.reshape(base+"/blocks", g, e.ints(n, c, h/s, s, w/s, s))
		g = e.transpose(base+"/unshuffle", g, []int64{0, 1, 3, 5, 2, 4})
		g = e.reshape(base+"/unshuffled", g, e.ints(n, c*s*s, h/s, w/s))
		dims = []int64{n, c * s * s, h / s, w / s}
	}
	gin := rowsOfChannels(e, base+"/in", g, len(dims), dims[1])
	gout := rowsOfChannels(e, base+"/out", tr.Seed, len(out.Dims), out.Dims[1])
	prod := e.node(base+"/prod", "Gemm", []string{gin, gout}, ox.AttrInt("transA", 1))
	name := TransferName(tr.In)
	e.g.Node = append(e.g.Node, ox.Node("Div", e.fresh(name), []string{prod, rowCount(e, base+"/out", gout)}, []string{name}))
	e.g.Output = append(e.g.Output, &onnx.ValueInfoProto{Name: name})
	return nil
}
