package onnximport

import (
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

// upgradeRule converts one node of an older ai.onnx opset into its opset-17
// form, appending it (changed) or its replacement nodes to the graph. It
// reads c.u.from, the model's original opset, where the meaning changed.
type upgradeRule func(c *upgradeNode) error

// upgradeRules is the registry: one conversion per op type whose form or
// meaning changed between opsets 7 and 17 (ONNX docs/Changelog.md). Every
// other op is kept as it is: its later versions only added types, clarified
// the text, or added attributes whose defaults keep the old behaviour.
var upgradeRules = map[string]upgradeRule{
	// Attributes that became inputs.
	"Squeeze":   attrToInput("axes", 1),  // 13
	"Unsqueeze": attrToInput("axes", 1),  // 13
	"ReduceSum": attrToInput("axes", 1),  // 13 (the other Reduce* keep the attribute until 18)
	"Split":     attrToInput("split", 1), // 13
	"Clip":      clipUpgrade,             // 11: min and max
	"Pad":       padUpgrade,              // 11: pads and the constant value
	"Slice":     sliceUpgrade,            // 10: starts, ends, axes
	"TopK":      topKUpgrade,             // 10: k
	"Dropout":   dropoutUpgrade,          // 12: ratio; 10: the mask became bool

	// Operators replaced or renamed.
	"Upsample":    upsampleUpgrade, // deprecated at 10: Resize
	"Resize":      resizeUpgrade,   // 11: roi input, coordinate modes; 13: scales or sizes
	"Scatter":     scatterUpgrade,  // deprecated at 11: ScatterElements
	"ImageScaler": imageScalerUpgrade,

	// Changed meaning or removed attributes.
	"BatchNormalization": batchNormUpgrade, // 9: spatial; 14: training_mode, three outputs
	"Softmax":            softmaxUpgrade,   // 13: one axis instead of a 2-D coercion
	"LogSoftmax":         softmaxUpgrade,
	"Hardmax":            softmaxUpgrade,
	"RoiAlign":           roiAlignUpgrade, // 16: coordinate_transformation_mode, default changed
	"Gemm":               gemmUpgrade,     // 7: broadcast attribute removed
	"Cast":               castUpgrade,     // 6: `to` is an enum, not a string
	"Concat":             concatUpgrade,   // 4: axis required (was 1 by default)
	"Add":                legacyBroadcastUpgrade,
	"Sub":                legacyBroadcastUpgrade,
	"Mul":                legacyBroadcastUpgrade,
	"Div":                legacyBroadcastUpgrade,
	"Pow":                legacyBroadcastUpgrade,

	// Old forms zerocost does not convert.
	"Scan":               scanUpgrade,
	"Affine":             experimental,
	"Crop":               experimental,
	"ScaledTanh":         experimental,
	"ParametricSoftplus": experimental,
	"GivenTensorFill":    experimental,
	"ConstantFill":       experimental,
	"GRUUnit":            experimental,
	"Scale":              experimental,
	"DynamicSlice":       experimental,
	"ATen":               experimental,
}

// attrToInput moves an integer-list attribute to input i (an int64
// initializer); an absent attribute stays absent (same default).
func attrToInput(attr string, i int) upgradeRule {
	return func(c *upgradeNode) error {
		if a := c.take(attr); a != nil {
			if c.in(i) != "" {
				return c.errorf("has both the %s attribute and input %d; drop one and reload", attr, i)
			}
			c.setInput(i, c.ints(attr, a.GetInts()))
		}
		return c.keep()
	}
}

func clipUpgrade(c *upgradeNode) error {
	x := c.in(0)
	// Absent bounds were ±FLT_MAX, which for float32 equals no bound.
	if a := c.take("min"); a != nil {
		c.setInput(1, c.floatsLike("min", nil, []float32{a.GetF()}, x))
	}
	if a := c.take("max"); a != nil {
		c.setInput(2, c.floatsLike("max", nil, []float32{a.GetF()}, x))
	}
	return c.keep()
}

func padUpgrade(c *upgradeNode) error {
	pads := c.take("pads")
	if pads == nil {
		pads = c.take("paddings") // Pad-1's name
	}
	value := c.take("value")
	if pads != nil {
		c.setInput(1, c.ints("pads", pads.GetInts()))
	} else if c.in(1) == "" {
		return c.errorf("Pad has no pads; the model is incomplete: re-export it")
	}
	if value != nil && value.GetF() != 0 {
		if mode := AttrStringOr(c.n, "mode", "constant"); mode == "constant" {
			c.setInput(2, c.floatsLike("value", nil, []float32{value.GetF()}, c.in(0)))
		}
	}
	return c.keep()
}

func sliceUpgrade(c *upgradeNode) error {
	starts, ends, axes := c.take("starts"), c.take("ends"), c.take("axes")
	if starts == nil && ends == nil && axes == nil {
		return c.keep()
	}
	if starts == nil || ends == nil {
		return c.errorf("Slice has only one of the starts and ends attributes; the model is invalid: re-export it")
	}
	c.setInput(1, c.ints("starts", starts.GetInts()))
	c.setInput(2, c.ints("ends", ends.GetInts()))
	if axes != nil {
		c.setInput(3, c.ints("axes", axes.GetInts()))
	}
	return c.keep()
}

func topKUpgrade(c *upgradeNode) error {
	if k := c.take("k"); k != nil {
		c.setInput(1, c.ints("k", []int64{k.GetI()}))
	}
	return c.keep()
}

// dropoutUpgrade: before 12 Dropout is the identity at inference (ONNX
// Runtime runs it so); at 12 it is too when training_mode is not given. The
// ratio becomes an input. The mask cannot be carried over: ONNX Runtime
// fills it with zeros (false) before 12 and opset 12 defines it as all
// true at inference, so a model that reads it is refused.
func dropoutUpgrade(c *upgradeNode) error {
	c.take("is_test") // Dropout-6 and older; inference is the only mode zerocost reads
	c.take("consumed_inputs")
	if ratio := c.take("ratio"); ratio != nil && c.in(1) == "" {
		c.setInput(1, c.init(Float32Tensor(c.u.fresh(c.base()+"/ratio"), nil, []float32{ratio.GetF()})))
	}
	if len(c.n.Output) < 2 || c.n.Output[1] == "" || c.u.from >= 12 {
		return c.keep()
	}
	if mask := c.n.Output[1]; c.used(mask) {
		return c.errorf("the mask output %q is read; at inference ONNX Runtime makes it all zeros before opset 12 and opset 12 defines it as all ones, so zerocost cannot keep its value: re-export the model without using the mask", mask)
	}
	c.n.Output = c.n.Output[:1]
	return c.keep()
}

// upsampleUpgrade turns Upsample (7: scales attribute, 9: scales input)
// into Resize with the coordinate mapping that Upsample had: asymmetric
// (x_in = x_out / scale), nearest rounding down.
func upsampleUpgrade(c *upgradeNode) error {
	mode := AttrStringOr(c.n, "mode", "nearest")
	switch mode {
	case "nearest", "linear":
	case "bilinear": // Upsample-1's name
		mode = "linear"
	default:
		return c.errorf("Upsample mode %q is not one ONNX defines; re-export with nearest or linear", mode)
	}
	scales := c.in(1)
	if a := Attribute(c.n, "scales"); a != nil {
		scales = c.init(Float32Tensor(c.u.fresh(c.base()+"/scales"), []int64{int64(len(a.GetFloats()))}, a.GetFloats()))
	} else if h, w := Attribute(c.n, "height_scale"), Attribute(c.n, "width_scale"); h != nil && w != nil {
		scales = c.init(Float32Tensor(c.u.fresh(c.base()+"/scales"), []int64{4}, []float32{1, 1, h.GetF(), w.GetF()}))
	}
	if scales == "" {
		return c.errorf("Upsample has no scales; the model is invalid: re-export it")
	}
	c.n.OpType = "Resize"
	c.n.Input = []string{c.in(0), "", scales}
	c.n.Attribute = nil
	return c.resizeFrom10(mode, scales)
}

// resizeFrom10 sets the attributes that make Resize-11+ compute what
// Upsample and Resize-10 computed: x_in = x_out / scale; nearest rounds down
// when upsampling and up when downsampling (ONNX Runtime's rounding for
// those versions; the ONNX text does not say).
func (c *upgradeNode) resizeFrom10(mode, scales string) error {
	c.setAttr(AttrString("mode", mode))
	c.setAttr(AttrString("coordinate_transformation_mode", "asymmetric"))
	if mode != "nearest" {
		return c.keep()
	}
	rounding := "floor"
	if v, ok := c.constFloats(scales); ok {
		up, down := false, false
		for _, s := range v {
			up = up || s > 1
			down = down || s < 1
		}
		switch {
		case up && down:
			return c.errorf("nearest %s enlarges some axes and shrinks others (scales %v), which Resize-11+ cannot round the same way; re-export with opset 11 or later", c.op, v)
		case down:
			rounding = "ceil"
		}
	}
	c.setAttr(AttrString("nearest_mode", rounding))
	return c.keep()
}

func resizeUpgrade(c *upgradeNode) error {
	if c.u.from <= 10 {
		c.n.Input = []string{c.in(0), "", c.in(1)}
		return c.resizeFrom10(AttrStringOr(c.n, "mode", "nearest"), c.in(2))
	}
	if c.u.from >= 13 {
		return c.keep()
	}
	// Resize-11 and 12: scales must be empty when sizes is given; from 13
	// on it is left out instead.
	if c.in(3) != "" {
		c.n.Input[2] = ""
	}
	if AttrStringOr(c.n, "coordinate_transformation_mode", "half_pixel") == "tf_half_pixel_for_nn" {
		// x_in = (x_out + 0.5) / scale, rounded by nearest_mode; half_pixel
		// gives that minus 0.5, so floor(h) becomes round-half-up(h - 0.5)
		// and round-half-down(h) becomes ceil(h - 0.5).
		mapped := map[string]string{"floor": "round_prefer_ceil", "round_prefer_floor": "ceil"}
		nearest := AttrStringOr(c.n, "nearest_mode", "round_prefer_floor")
		to, ok := mapped[nearest]
		if !ok || AttrStringOr(c.n, "mode", "nearest") != "nearest" {
			return c.errorf("coordinate_transformation_mode tf_half_pixel_for_nn (removed at 13) with mode %q and nearest_mode %q has no opset-13 equivalent; re-export the model with half_pixel", AttrStringOr(c.n, "mode", "nearest"), nearest)
		}
		c.setAttr(AttrString("coordinate_transformation_mode", "half_pixel"))
		c.setAttr(AttrString("nearest_mode", to))
	}
	return c.keep()
}

func scatterUpgrade(c *upgradeNode) error {
	c.n.OpType = "ScatterElements" // same inputs, axis and meaning
	return c.keep()
}

// imageScalerUpgrade: the experimental ImageScaler (y = scale·x + bias[c]
// on N×C×H×W) as Mul and Add.
func imageScalerUpgrade(c *upgradeNode) error {
	x, y := c.in(0), c.n.Output[0]
	bias := AttrFloatsOr(c.n, "bias", nil)
	scale := AttrFloatOr(c.n, "scale", 1)
	s := c.floatsLike("scale", nil, []float32{scale}, x)
	if len(bias) == 0 {
		c.g.Node = append(c.g.Node, Node("Mul", c.n.GetName(), []string{x, s}, []string{y}))
		return nil
	}
	scaled := c.emit("Mul", "scaled", []string{x, s})
	b := c.floatsLike("bias", []int64{1, int64(len(bias)), 1, 1}, bias, x)
	c.g.Node = append(c.g.Node, Node("Add", c.n.GetName(), []string{scaled, b}, []string{y}))
	return nil
}

// batchNormUpgrade drops the attributes later versions removed
// (consumed_inputs, is_test, spatial) and turns the training form of
// opsets 7–13 (optional outputs mean, var, saved_mean, saved_var present:
// Y is computed with batch statistics) into training_mode=1 with the three
// outputs of opset 14 (Y, running mean, running variance).
func batchNormUpgrade(c *upgradeNode) error {
	c.take("consumed_inputs")
	c.take("is_test")
	training := false
	for _, o := range c.n.Output[1:] {
		training = training || o != ""
	}
	if c.u.from >= 14 {
		return c.keep()
	}
	if training {
		for _, o := range c.n.Output[min(3, len(c.n.Output)):] {
			if c.used(o) {
				return c.errorf("output %q (saved_mean or saved_var of the training form) is read, and opset 14 removed it; re-export the model in eval mode or with opset 14 or later", o)
			}
		}
	}
	if spatial := c.take("spatial"); spatial != nil && spatial.GetI() == 0 && c.u.from < 9 {
		r, ok := c.u.ranks[c.in(1)]
		if !ok {
			return c.errorf("spatial=0 (per-activation statistics, removed at 9) needs the rank of scale %q, which the model does not record; re-export the model", c.in(1))
		}
		if r > 1 {
			if training {
				return c.errorf("spatial=0 in training form has no opset-17 equivalent; re-export the model in eval mode")
			}
			return c.batchNormPerActivation()
		}
	}
	if !training {
		c.n.Output = c.n.Output[:1]
		return c.keep()
	}
	outs := []string{c.n.Output[0], "", ""}
	for i := 1; i <= 2; i++ {
		if i < len(c.n.Output) && c.n.Output[i] != "" {
			outs[i] = c.n.Output[i]
		} else {
			outs[i] = c.u.fresh(c.base() + []string{"", "/running_mean", "/running_var"}[i])
		}
	}
	c.n.Output = outs
	c.setAttr(AttrInt("training_mode", 1))
	return c.keep()
}

// batchNormPerActivation writes BatchNormalization-7 with spatial=0
// (statistics of shape C×D1×…, broadcast against N×C×D1×…) elementwise:
// Y = (X − mean) / √(var + ε) · scale + B.
func (c *upgradeNode) batchNormPerActivation() error {
	x, scale, b, mean, variance := c.in(0), c.in(1), c.in(2), c.in(3), c.in(4)
	eps := c.floatsLike("epsilon", nil, []float32{AttrFloatOr(c.n, "epsilon", 1e-5)}, scale)
	centred := c.emit("Sub", "centred", []string{x, mean})
	std := c.emit("Sqrt", "std", []string{c.emit("Add", "var_eps", []string{variance, eps})})
	scaled := c.emit("Mul", "scaled", []string{c.emit("Div", "normalised", []string{centred, std}), scale})
	c.g.Node = append(c.g.Node, Node("Add", c.n.GetName(), []string{scaled, b}, c.n.Output[:1]))
	return nil
}

// softmaxUpgrade: before 13, Softmax, LogSoftmax and Hardmax coerce the
// input to 2-D at axis (default 1) and normalise over everything after it.
// When axis is the last one that is the opset-13 meaning; otherwise the
// node becomes Flatten(axis) → op(axis=-1) → Reshape to the input's shape.
func softmaxUpgrade(c *upgradeNode) error {
	if c.u.from >= 13 {
		return c.keep()
	}
	x, y := c.in(0), c.n.Output[0]
	a := AttrIntOr(c.n, "axis", 1)
	if r, ok := c.u.ranks[x]; a == -1 || ok && a == int64(r)-1 {
		c.setAttr(AttrInt("axis", -1))
		return c.keep()
	}
	shape := c.emit("Shape", "shape", []string{x})
	flat := c.emit("Flatten", "flatten", []string{x}, AttrInt("axis", a))
	out2d := c.u.fresh(c.base() + "/2d")
	c.n.Input[0], c.n.Output[0] = flat, out2d
	c.setAttr(AttrInt("axis", -1))
	c.keep()
	c.g.Node = append(c.g.Node, Node("Reshape", c.u.fresh(c.base()+"/reshape"), []string{out2d, shape}, []string{y}))
	return nil
}

func roiAlignUpgrade(c *upgradeNode) error {
	// RoiAlign-10 shifted no half pixel; opset 16's default does.
	if c.u.from < 16 && !HasAttr(c.n, "coordinate_transformation_mode") {
		c.setAttr(AttrString("coordinate_transformation_mode", "output_half_pixel"))
	}
	return c.keep()
}

func gemmUpgrade(c *upgradeNode) error {
	// broadcast=1 (Gemm-6) is opset 7's unidirectional broadcasting of C;
	// broadcast=0 required C to be M×N, which it allows too.
	c.take("broadcast")
	return c.keep()
}

func castUpgrade(c *upgradeNode) error {
	a := Attribute(c.n, "to")
	if a == nil || a.GetType() != onnx.AttributeProto_STRING {
		return c.keep()
	}
	name := strings.ToUpper(string(a.GetS()))
	v, ok := onnx.TensorProto_DataType_value[name]
	if !ok || v == 0 {
		return c.errorf("Cast to %q, which is not an ONNX element type; re-export the model", a.GetS())
	}
	c.setAttr(AttrInt("to", int64(v)))
	return c.keep()
}

func concatUpgrade(c *upgradeNode) error {
	if !HasAttr(c.n, "axis") {
		c.setAttr(AttrInt("axis", 1)) // Concat-1's default
	}
	return c.keep()
}

// legacyBroadcastUpgrade handles the broadcast and axis attributes of
// opset-6 arithmetic that some exporters still wrote into opset 7+ files:
// B's dimensions align with A's starting at axis. Numpy broadcasting
// aligns them at the end, so B gets trailing 1-dimensions when it is short.
func legacyBroadcastUpgrade(c *upgradeNode) error {
	c.take("broadcast")
	ax := c.take("axis")
	if ax == nil {
		return c.keep()
	}
	ra, okA := c.u.ranks[c.in(0)]
	rb, okB := c.u.ranks[c.in(1)]
	if !okA || !okB {
		return c.errorf("opset-6 broadcasting with axis=%d needs the ranks of %q and %q, which the model does not record; re-export the model", ax.GetI(), c.in(0), c.in(1))
	}
	a := ax.GetI()
	if a < 0 {
		a += int64(ra)
	}
	trailing := int64(ra) - a - int64(rb)
	if a < 0 || trailing < 0 {
		return c.errorf("opset-6 broadcasting with axis=%d of a rank-%d tensor over a rank-%d one is invalid; re-export the model", ax.GetI(), rb, ra)
	}
	if trailing > 0 {
		axes := make([]int64, trailing)
		for i := range axes {
			axes[i] = int64(rb) + int64(i)
		}
		c.setInput(1, c.emit("Unsqueeze", "aligned", []string{c.in(1), c.ints("aligned_axes", axes)}))
	}
	return c.keep()
}

func scanUpgrade(c *upgradeNode) error {
	if c.u.from >= 9 {
		return c.keep()
	}
	return c.errorf("Scan-8 (with a batch axis and sequence_lens) is not converted; re-export the model with opset 9 or later")
}

func experimental(c *upgradeNode) error {
	return c.errorf("%s is an experimental operator that ONNX removed and zerocost does not convert; re-export the model without it (or replace it with standard operators)", c.op)
}
