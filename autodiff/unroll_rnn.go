package autodiff

import (
	"fmt"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ox "github.com/zerocost/zerocost/onnximport"
)

// Recurrent nodes (LSTM, GRU, RNN) are unrolled by Normalize over their
// static sequence length into MatMul, Add, Mul, Split, Concat, Where and the
// gate activations, so that the existing rules differentiate them.
//
// Layout of the unrolled graph: every state is a column, [batch,
// directions, hidden, 1], and the input projection of all time steps and
// directions is one MatMul of W ([directions, gates·hidden, input]) with X
// ([batch, 1, input, seq]), giving [batch, directions, gates·hidden, seq].
// The reverse direction reads the time steps in reverse order (a Split and
// a Concat in reverse), so that both directions advance together, one
// MatMul of R with the state per step. W, R and B stay the node's own
// tensors, read as they are (no Transpose of a weight feeds a MatMul: ONNX
// Runtime would fuse it into FusedMatMul, which has no float64 kernel).
//
// The weights are not layers (onnximport.Layers): the weight is MatMul's
// first operand. The reference implementation of the proxies counts only
// Conv2d and Linear modules, not nn.LSTM, nn.GRU or nn.RNN, and PyTorch's
// training-mode exports compute W, R and B from the per-direction
// parameters (Slice, Concat), so they would be layers in some exports and
// not in others.

// recurrentKind describes one of the three recurrent ops.
type recurrentKind struct {
	gates       int64    // gate blocks in W, R and each half of B
	activations []string // default activations per direction
}

var recurrentKinds = map[string]recurrentKind{
	"LSTM": {4, []string{"Sigmoid", "Tanh", "Tanh"}},
	"GRU":  {3, []string{"Sigmoid", "Tanh"}},
	"RNN":  {1, []string{"Tanh"}},
}

// activation is one of the recurrent ops' activation functions.
type activation struct {
	name        string
	alpha, beta float64
}

// activationDefaults are the ONNX activation functions the recurrent ops
// accept, with their default alpha and beta (those that take them).
var activationDefaults = map[string][]float64{
	"relu": nil, "tanh": nil, "sigmoid": nil, "softsign": nil, "softplus": nil,
	"leakyrelu": {0.01}, "thresholdedrelu": {1}, "elu": {1},
	"hardsigmoid": {0.2, 0.5}, "affine": {1, 0}, "scaledtanh": {1, 1},
}

// rnnUnroller holds what the unrolling of one node needs.
type rnnUnroller struct {
	e      *emitter
	n      *onnx.NodeProto
	name   string
	op     string
	kind   recurrentKind
	elem   int32
	hidden int64
	seq    int64
	nd     int64 // number of directions
	dir    string
	acts   []activation // one direction's activations
	clip   float64      // 0: none
}

// unrollRecurrent replaces an LSTM, GRU or RNN node by its unrolled form.
func unrollRecurrent(e *emitter, n *onnx.NodeProto, k knownDims) error {
	op := n.GetOpType()
	u := &rnnUnroller{e: e, n: n, name: sanitize(n.GetName()), op: op, kind: recurrentKinds[op]}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("node %q (%s): %s", n.GetName(), op, fmt.Sprintf(format, args...))
	}
	in := func(i int) string {
		if i < len(n.Input) {
			return n.Input[i]
		}
		return ""
	}
	x, w, r := in(0), in(1), in(2)
	if x == "" || w == "" || r == "" {
		return fail("needs X, W and R")
	}
	u.elem = k.elemOf(x)
	u.dir = ox.AttrStringOr(n, "direction", "forward")
	switch u.dir {
	case "forward", "reverse":
		u.nd = 1
	case "bidirectional":
		u.nd = 2
	default:
		return fail("direction %q is not forward, reverse or bidirectional", u.dir)
	}
	layout := ox.AttrIntOr(n, "layout", 0)
	if layout != 0 && layout != 1 {
		return fail("layout %d is not 0 or 1", layout)
	}
	u.hidden = ox.AttrIntOr(n, "hidden_size", 0)
	if u.hidden <= 0 {
		if rd := k.dimsOf(r); len(rd) == 3 && rd[2] > 0 {
			u.hidden = rd[2]
		} else {
			return fail("has no hidden_size")
		}
	}
	xd := k.dimsOf(x)
	seqAxis := int(layout)
	if len(xd) != 3 || xd[seqAxis] <= 0 {
		return fail("the sequence length of its input %q (axis %d) is not known before running the model; zerocost unrolls recurrent ops over the static sequence length of the scoring batch: give the shape of one sample with --input-shape (for example --input-shape 5x4 for 5 steps of 4 features, batch first)", x, seqAxis)
	}
	u.seq = xd[seqAxis]
	if a := ox.Attribute(n, "clip"); a != nil {
		u.clip = float64(a.GetF())
	}
	var err error
	if u.acts, err = u.activations(); err != nil {
		return fail("%v", err)
	}

	// X as [batch, 1, input, seq], projected for every step and direction.
	perm := []int64{1, 2, 0}
	if layout == 1 {
		perm = []int64{0, 2, 1}
	}
	xcols := e.unsqueeze(u.name+"/x_b1is", e.transpose(u.name+"/x_bis", x, perm), []int64{1})
	xw := e.node(u.name+"/xw", "MatMul", []string{w, xcols})
	gh := u.kind.gates * u.hidden
	var rb string // recurrent bias added per step (GRU), [dirs, gates·hidden, 1]
	if b := in(3); b != "" {
		wb := e.node(u.name+"/wb", "Slice", []string{b, e.ints(0), e.ints(gh), e.ints(1)})
		rbias := e.node(u.name+"/rb", "Slice", []string{b, e.ints(gh), e.ints(2 * gh), e.ints(1)})
		if op == "GRU" {
			xw = e.node(u.name+"/xw_b", "Add", []string{xw, e.unsqueeze(u.name+"/wb_dg1", wb, []int64{2})})
			rb = e.unsqueeze(u.name+"/rb_dg1", rbias, []int64{2})
		} else {
			bias := e.node(u.name+"/bias", "Add", []string{wb, rbias})
			xw = e.node(u.name+"/xw_b", "Add", []string{xw, e.unsqueeze(u.name+"/bias_dg1", bias, []int64{2})})
		}
	}
	steps := u.splitTime(u.name+"/xw_step", u.alignDirections(u.name+"/xw_aligned", xw))

	// Masks for sequence_lens: step k is valid where its time index (k, or
	// seq−1−k for the reverse direction) is below the sample's length.
	var masks []string
	if lens := in(4); lens != "" {
		l64 := e.node(u.name+"/lens_i64", "Cast", []string{lens}, ox.AttrInt("to", int64(ox.Int64)))
		l := e.reshape(u.name+"/lens_b111", l64, e.ints(-1, 1, 1, 1))
		for s := int64(0); s < u.seq; s++ {
			t := []int64{s}
			switch u.dir {
			case "reverse":
				t = []int64{u.seq - 1 - s}
			case "bidirectional":
				t = []int64{s, u.seq - 1 - s}
			}
			masks = append(masks, e.node(fmt.Sprintf("%s/valid_%d", u.name, s), "Less", []string{e.intsShaped([]int64{u.nd, 1, 1}, t...), l}))
		}
	}

	state := func(i int, label string) string {
		v := in(i)
		if v == "" {
			return ""
		}
		if layout == 0 {
			v = e.transpose(u.name+"/"+label+"_bdh", v, []int64{1, 0, 2})
		}
		return e.unsqueeze(u.name+"/"+label+"_bdh1", v, []int64{3})
	}
	h, c := state(5, "h0"), state(6, "c0")
	var peep [3]string
	if op == "LSTM" && in(7) != "" {
		pp := e.unsqueeze(u.name+"/p_dp1", in(7), []int64{2})
		parts := e.nodeN(u.name+"/p_split", "Split", []string{pp, e.ints(u.hidden, u.hidden, u.hidden)}, 3, ox.AttrInt("axis", 1))
		copy(peep[:], parts) // i, o, f
	}
	ys := make([]string, u.seq)
	for s := int64(0); s < u.seq; s++ {
		base := fmt.Sprintf("%s/t%d", u.name, s)
		var hNew, cNew string
		switch op {
		case "LSTM":
			hNew, cNew = u.lstmCell(base, steps[s], h, c, r, peep)
		case "GRU":
			hNew = u.gruCell(base, steps[s], h, r, rb)
		default:
			hNew = u.rnnCell(base, steps[s], h, r)
		}
		if masks == nil {
			h, c, ys[s] = hNew, cNew, hNew
			continue
		}
		keep := func(label, next, prev string) string {
			if prev == "" {
				prev = e.node(base+"/zero_"+label, "Sub", []string{next, next})
			}
			return e.node(base+"/"+label+"_masked", "Where", []string{masks[s], next, prev})
		}
		ys[s] = keep("y", hNew, e.node(base+"/zero_y", "Sub", []string{hNew, hNew}))
		h = keep("h", hNew, h)
		if cNew != "" {
			c = keep("c", cNew, c)
		}
	}

	out := func(i int) string {
		if i < len(n.Output) {
			return n.Output[i]
		}
		return ""
	}
	if y := out(0); y != "" {
		all := ys[0]
		if len(ys) > 1 {
			all = e.node(u.name+"/y_bdhs", "Concat", ys, ox.AttrInt("axis", 3))
		}
		all = u.alignDirections(u.name+"/y_aligned", all)
		perm := []int64{3, 1, 0, 2} // [seq, dirs, batch, hidden]
		if layout == 1 {
			perm = []int64{0, 3, 1, 2} // [batch, seq, dirs, hidden]
		}
		e.g.Node = append(e.g.Node, ox.Node("Transpose", e.fresh(u.name+"/Y"), []string{all}, []string{y}, ox.AttrInts("perm", perm...)))
	}
	final := func(v, name string) {
		sq := e.node(u.name+"/final_bdh", "Squeeze", []string{v, e.ints(3)})
		if layout == 1 {
			e.g.Node = append(e.g.Node, ox.Node("Identity", e.fresh(u.name+"/final"), []string{sq}, []string{name}))
			return
		}
		e.g.Node = append(e.g.Node, ox.Node("Transpose", e.fresh(u.name+"/final"), []string{sq}, []string{name}, ox.AttrInts("perm", 1, 0, 2)))
	}
	if o := out(1); o != "" {
		final(h, o)
	}
	if o := out(2); o != "" && op == "LSTM" {
		final(c, o)
	}
	return nil
}

// activations parses the activations attribute (one direction's list; a
// bidirectional node must use the same functions both ways).
func (u *rnnUnroller) activations() ([]activation, error) {
	names := ox.Attribute(u.n, "activations")
	per := len(u.kind.activations)
	var list []string
	if names == nil {
		list = u.kind.activations
	} else {
		for _, s := range names.GetStrings() {
			list = append(list, string(s))
		}
	}
	alphas, betas := ox.Attribute(u.n, "activation_alpha").GetFloats(), ox.Attribute(u.n, "activation_beta").GetFloats()
	var acts []activation
	ai, bi := 0, 0
	for _, s := range list {
		def, ok := activationDefaults[strings.ToLower(s)]
		if !ok {
			return nil, fmt.Errorf("activation %q is not one of ONNX's recurrent activations", s)
		}
		a := activation{name: strings.ToLower(s)}
		// alpha and beta are consumed in order by the functions that take them.
		if len(def) > 0 {
			a.alpha = def[0]
			if ai < len(alphas) {
				a.alpha = float64(alphas[ai])
				ai++
			}
		}
		if len(def) > 1 {
			a.beta = def[1]
			if bi < len(betas) {
				a.beta = float64(betas[bi])
				bi++
			}
		}
		acts = append(acts, a)
	}
	switch {
	case len(acts) == per:
	case len(acts) == 2*per && u.nd == 2:
		for i := 0; i < per; i++ {
			if acts[i] != acts[per+i] {
				return nil, fmt.Errorf("the two directions use different activations (%v); zerocost unrolls both directions together and needs the same ones", list)
			}
		}
		acts = acts[:per]
	default:
		return nil, fmt.Errorf("has %d activations, want %d per direction", len(acts), per)
	}
	return acts, nil
}

// act applies activation a to x, after the cell clip (when set) of a gate's
// pre-activation.
func (u *rnnUnroller) act(base string, a activation, x string) string {
	return u.actClip(base, a, x, true)
}

func (u *rnnUnroller) actClip(base string, a activation, x string, clip bool) string {
	e := u.e
	if clip && u.clip > 0 {
		x = e.node(base+"_clipped", "Clip", []string{x, e.scalar(-u.clip, u.elem), e.scalar(u.clip, u.elem)})
	}
	switch a.name {
	case "relu":
		return e.node(base, "Relu", []string{x})
	case "tanh":
		return e.node(base, "Tanh", []string{x})
	case "sigmoid":
		return e.node(base, "Sigmoid", []string{x})
	case "softsign":
		return e.node(base, "Softsign", []string{x})
	case "softplus":
		return e.node(base, "Softplus", []string{x})
	case "leakyrelu":
		return e.node(base, "LeakyRelu", []string{x}, ox.AttrFloat("alpha", float32(a.alpha)))
	case "thresholdedrelu":
		return e.node(base, "ThresholdedRelu", []string{x}, ox.AttrFloat("alpha", float32(a.alpha)))
	case "elu":
		return e.node(base, "Elu", []string{x}, ox.AttrFloat("alpha", float32(a.alpha)))
	case "hardsigmoid":
		return e.node(base, "HardSigmoid", []string{x}, ox.AttrFloat("alpha", float32(a.alpha)), ox.AttrFloat("beta", float32(a.beta)))
	case "affine":
		return e.node(base, "Add", []string{e.node(base+"_scaled", "Mul", []string{x, e.scalar(a.alpha, u.elem)}), e.scalar(a.beta, u.elem)})
	default: // scaledtanh
		t := e.node(base+"_tanh", "Tanh", []string{e.node(base+"_scaled", "Mul", []string{x, e.scalar(a.beta, u.elem)})})
		return e.node(base, "Mul", []string{t, e.scalar(a.alpha, u.elem)})
	}
}

// recurrent returns gates + R·h (just gates for the zero initial state).
func (u *rnnUnroller) recurrent(base, gates, h, r string) string {
	if h == "" {
		return gates
	}
	return u.e.node(base, "Add", []string{gates, u.e.node(base+"_rh", "MatMul", []string{r, h})})
}

func (u *rnnUnroller) split(base, x string, parts int) []string {
	sizes := make([]int64, parts)
	for i := range sizes {
		sizes[i] = u.hidden
	}
	return u.e.nodeN(base, "Split", []string{x, u.e.ints(sizes...)}, parts, ox.AttrInt("axis", 2))
}

// lstmCell is one LSTM step (gate order i, o, f, c as ONNX stores them;
// peepholes p in order i, o, f).
func (u *rnnUnroller) lstmCell(base, xw, h, c, r string, p [3]string) (string, string) {
	e := u.e
	g := u.split(base+"/gates", u.recurrent(base+"/pre", xw, h, r), 4)
	peep := func(label, gate, pv, cv string) string {
		if pv == "" || cv == "" {
			return gate
		}
		return e.node(base+"/"+label+"_peep", "Add", []string{gate, e.node(base+"/"+label+"_pc", "Mul", []string{pv, cv})})
	}
	f, gAct, hAct := u.acts[0], u.acts[1], u.acts[2]
	i := u.act(base+"/i", f, peep("i", g[0], p[0], c))
	var fg string
	if ox.AttrIntOr(u.n, "input_forget", 0) != 0 {
		fg = e.node(base+"/f", "Sub", []string{e.scalar(1, u.elem), i})
	} else {
		fg = u.act(base+"/f", f, peep("f", g[2], p[2], c))
	}
	cand := u.act(base+"/c_cand", gAct, g[3])
	cNew := e.node(base+"/ic", "Mul", []string{i, cand})
	if c != "" {
		cNew = e.node(base+"/c", "Add", []string{e.node(base+"/fc", "Mul", []string{fg, c}), cNew})
	}
	o := u.act(base+"/o", f, peep("o", g[1], p[1], cNew))
	// The clip bounds the gates' pre-activations, not the cell state (as
	// ONNX Runtime's kernel does).
	return e.node(base+"/h", "Mul", []string{o, u.actClip(base+"/h_act", hAct, cNew, false)}), cNew
}

// gruCell is one GRU step (gate order z, r, h).
func (u *rnnUnroller) gruCell(base, xw, h, r, rb string) string {
	e := u.e
	xg := u.split(base+"/x_gates", xw, 3)
	var hr string // R·h + Rb, or Rb alone for the zero state, or nothing
	switch {
	case h != "":
		hr = e.node(base+"/rh", "MatMul", []string{r, h})
		if rb != "" {
			hr = e.node(base+"/hr_b", "Add", []string{hr, rb})
		}
	case rb != "":
		hr = rb
	}
	var hg []string
	pre := func(label string, i int) string {
		if hr == "" {
			return xg[i]
		}
		return e.node(base+"/"+label+"_pre", "Add", []string{xg[i], hg[i]})
	}
	if hr != "" {
		if h == "" {
			// Rb alone, [dirs, 3·hidden, 1].
			hg = e.nodeN(base+"/h_gates", "Split", []string{hr, e.ints(u.hidden, u.hidden, u.hidden)}, 3, ox.AttrInt("axis", 1))
		} else {
			hg = u.split(base+"/h_gates", hr, 3)
		}
	}
	f, g := u.acts[0], u.acts[1]
	z := u.act(base+"/z", f, pre("z", 0))
	rg := u.act(base+"/r", f, pre("r", 1))
	var cand string
	switch {
	case hr == "":
		cand = xg[2]
	case ox.AttrIntOr(u.n, "linear_before_reset", 0) != 0:
		cand = e.node(base+"/h_pre", "Add", []string{xg[2], e.node(base+"/r_hr", "Mul", []string{rg, hg[2]})})
	case h == "":
		cand = e.node(base+"/h_pre", "Add", []string{xg[2], hg[2]}) // (r ⊙ 0)·Rhᵀ + Rbh
	default:
		// R·(r ⊙ h), of which the h block is used (R stays one MatMul operand).
		rh := u.split(base+"/rh_gates", e.node(base+"/r_rh", "MatMul", []string{r, e.node(base+"/rh", "Mul", []string{rg, h})}), 3)
		pre := e.node(base+"/h_pre", "Add", []string{xg[2], rh[2]})
		if rb != "" {
			rbh := e.node(base+"/rbh", "Slice", []string{rb, e.ints(2 * u.hidden), e.ints(3 * u.hidden), e.ints(1)})
			pre = e.node(base+"/h_pre_b", "Add", []string{pre, rbh})
		}
		cand = pre
	}
	hc := u.act(base+"/h_cand", g, cand)
	// H = (1 − z) ⊙ ĥ + z ⊙ H_prev = ĥ + z ⊙ (H_prev − ĥ)
	if h == "" {
		return e.node(base+"/h", "Sub", []string{hc, e.node(base+"/zh", "Mul", []string{z, hc})})
	}
	return e.node(base+"/h", "Add", []string{hc, e.node(base+"/zd", "Mul", []string{z, e.node(base+"/d", "Sub", []string{h, hc})})})
}

// rnnCell is one step of the plain RNN.
func (u *rnnUnroller) rnnCell(base, xw, h, r string) string {
	return u.act(base+"/h", u.acts[0], u.recurrent(base+"/pre", xw, h, r))
}

// splitTime splits x ([batch, dirs, features, seq]) into its seq steps.
func (u *rnnUnroller) splitTime(base, x string) []string {
	if u.seq == 1 {
		return []string{x}
	}
	ones := make([]int64, u.seq)
	for i := range ones {
		ones[i] = 1
	}
	return u.e.nodeN(base, "Split", []string{x, u.e.ints(ones...)}, int(u.seq), ox.AttrInt("axis", 3))
}

// reverseTime reverses x along its time axis (3).
func (u *rnnUnroller) reverseTime(base, x string) string {
	steps := u.splitTime(base+"_steps", x)
	if len(steps) == 1 {
		return x
	}
	rev := make([]string, len(steps))
	for i, s := range steps {
		rev[len(steps)-1-i] = s
	}
	return u.e.node(base, "Concat", rev, ox.AttrInt("axis", 3))
}

// alignDirections reverses the time axis of the reverse direction of x
// ([batch, dirs, features, seq]): from time order to step order, and back.
func (u *rnnUnroller) alignDirections(base, x string) string {
	switch u.dir {
	case "reverse":
		return u.reverseTime(base, x)
	case "bidirectional":
		parts := u.e.nodeN(base+"_dirs", "Split", []string{x, u.e.ints(1, 1)}, 2, ox.AttrInt("axis", 1))
		return u.e.node(base, "Concat", []string{parts[0], u.reverseTime(base+"_rev", parts[1])}, ox.AttrInt("axis", 1))
	}
	return x
}
