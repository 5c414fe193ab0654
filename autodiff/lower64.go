package autodiff

import (
	"fmt"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ox "github.com/zerocost/zerocost/onnximport"
)

// LowerToFloat64 returns a float64 copy of a normalised model that ONNX
// Runtime's CPU provider can run: its Conv, AveragePool and
// GlobalAveragePool kernels are float32-only, so convolutions become
// im2col products (strided slices of the padded input, stacked, times the
// weight with MatMul), average pools become sums of slices times the inverse
// window counts, global average pools ReduceMean, nearest Resize by whole
// factors Reshape and Expand, and HardSigmoid and HardSwish their Clip
// forms. Every float initializer, input and Cast
// becomes float64. shapes are the model's tensor shapes at the input size
// it will run at (the spatial sizes must be static).
//
// synflow and synflow_bn use it: the reference computes them in float64,
// and train-mode BatchNormalization on one all-ones sample cancels so
// strongly that float32 keeps no correct digit in some layers.
func LowerToFloat64(m *ox.Model, shapes Shapes) (*ox.Model, error) {
	out := m.Clone()
	g := out.Graph()
	e := newEmitter(g, out.Opset(), shapes)
	for _, t := range g.GetInitializer() {
		if t.GetDataType() == ox.Float || t.GetDataType() == ox.Float16 {
			if err := mapTensorToDouble(t); err != nil {
				return nil, err
			}
		}
	}
	for _, v := range append(append([]*onnx.ValueInfoProto{}, g.GetInput()...), g.GetOutput()...) {
		if tt := v.GetType().GetTensorType(); tt != nil && (tt.GetElemType() == ox.Float || tt.GetElemType() == ox.Float16) {
			tt.ElemType = ox.Double
		}
	}
	g.ValueInfo = nil
	old := g.Node
	g.Node = nil
	for _, n := range old {
		c := &gctx{emitter: e, n: n}
		var err error
		switch n.GetOpType() {
		case "Conv":
			err = lowerConv(c)
		case "AveragePool":
			err = lowerAveragePool(c)
		case "GlobalAveragePool":
			e.g.Node = append(e.g.Node, ox.Node("ReduceMean", n.GetName(), n.Input, n.Output, ox.AttrInts("axes", 2, 3), ox.AttrInt("keepdims", 1)))
		case "HardSigmoid", "HardSwish":
			alpha, beta := 1.0/6, 0.5
			if n.GetOpType() == "HardSigmoid" {
				alpha, beta = float64(c.attrFloat("alpha", 0.2)), float64(c.attrFloat("beta", 0.5))
			}
			z := c.op("affine", "Add", []string{c.op("scaled", "Mul", []string{n.Input[0], e.scalar(alpha, ox.Double)}), e.scalar(beta, ox.Double)})
			if n.GetOpType() == "HardSigmoid" {
				e.g.Node = append(e.g.Node, ox.Node("Clip", n.GetName(), []string{z, e.scalar(0, ox.Double), e.scalar(1, ox.Double)}, n.Output))
			} else {
				hs := c.op("hard_sigmoid", "Clip", []string{z, e.scalar(0, ox.Double), e.scalar(1, ox.Double)})
				e.g.Node = append(e.g.Node, ox.Node("Mul", n.GetName(), []string{n.Input[0], hs}, n.Output))
			}
		case "Cast":
			if to := c.attrInt("to", 0); to == int64(ox.Float) || to == int64(ox.Float16) {
				n.Attribute = []*onnx.AttributeProto{ox.AttrInt("to", int64(ox.Double))}
			}
			e.g.Node = append(e.g.Node, n)
		case "ConstantOfShape":
			if a := ox.Attribute(n, "value"); a != nil && a.GetT().GetDataType() == ox.Float {
				if err := mapTensorToDouble(a.GetT()); err != nil {
					return nil, err
				}
			}
			e.g.Node = append(e.g.Node, n)
		case "Erf":
			// No float64 Erf kernel: erf is evaluated in float32 (relative
			// error 6e-8; its input may overflow to ±Inf, where erf is ±1).
			x32 := c.op("x_f32", "Cast", []string{n.Input[0]}, ox.AttrInt("to", int64(ox.Float)))
			y32 := c.op("erf_f32", "Erf", []string{x32})
			e.g.Node = append(e.g.Node, ox.Node("Cast", n.GetName(), []string{y32}, n.Output, ox.AttrInt("to", int64(ox.Double))))
		case "Resize":
			err = lowerResize(c)
		case "OneHot":
			// No float64 OneHot kernel: the one-hot rows are made in float32
			// (their values are exact: 0 and 1, or the given pair) and cast.
			values := c.op("values_f32", "Cast", []string{n.Input[2]}, ox.AttrInt("to", int64(ox.Float)))
			hot := c.op("onehot_f32", "OneHot", []string{n.Input[0], n.Input[1], values}, n.GetAttribute()...)
			e.g.Node = append(e.g.Node, ox.Node("Cast", n.GetName(), []string{hot}, n.Output, ox.AttrInt("to", int64(ox.Double))))
		case "ConvTranspose", "LayerNormalization":
			return nil, fmt.Errorf("autodiff: %s: node %q (%s) has no float64 kernel in ONNX Runtime's CPU provider", m.Name(), n.GetName(), n.GetOpType())
		default:
			e.g.Node = append(e.g.Node, n)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func mapTensorToDouble(t *onnx.TensorProto) error {
	v, err := ox.TensorFloat64s(t)
	if err != nil {
		return err
	}
	d := ox.Float64Tensor(t.GetName(), t.GetDims(), v)
	t.DataType, t.RawData, t.FloatData, t.Int32Data, t.DoubleData = ox.Double, d.RawData, nil, nil, nil
	return nil
}

// stackWindows returns the k² strided slices of x (N×C×H×W, padded by
// pads) that meet the output grid, stacked as [N, C, kh·kw, Ho, Wo].
func (c *gctx) stackWindows(x string, geo convGeometry) string {
	kh, kw := geo.kernel[0], geo.kernel[1]
	ho, wo := geo.out[0], geo.out[1]
	xp := x
	// Extra end padding where a ceil-mode window runs past the padded input.
	pads := append([]int64{}, geo.pads...)
	for a := 0; a < 2; a++ {
		need := geo.dilations[a]*(geo.kernel[a]-1) + geo.strides[a]*(geo.out[a]-1) + 1
		if have := geo.in[a] + pads[a] + pads[2+a]; need > have {
			pads[2+a] += need - have
		}
	}
	if pads[0]+pads[1]+pads[2]+pads[3] > 0 {
		xp = c.op("x_pad", "Pad", []string{x, c.ints(0, 0, pads[0], pads[1], 0, 0, pads[2], pads[3])})
	}
	var slices []string
	for i := int64(0); i < kh; i++ {
		for j := int64(0); j < kw; j++ {
			r0, c0 := i*geo.dilations[0], j*geo.dilations[1]
			sl := c.op("window", "Slice", []string{xp,
				c.ints(r0, c0),
				c.ints(r0+geo.strides[0]*(ho-1)+1, c0+geo.strides[1]*(wo-1)+1),
				c.ints(2, 3),
				c.ints(geo.strides[0], geo.strides[1])})
			slices = append(slices, c.unsqueeze(c.tmp("window_u"), sl, []int64{2}))
		}
	}
	if len(slices) == 1 {
		return slices[0]
	}
	return c.op("windows", "Concat", slices, ox.AttrInt("axis", 2))
}

// lowerConv rewrites a 2-D Conv as y = W[g, M/g, C/g·k²] · windows[N, g, C/g·k², Ho·Wo].
func lowerConv(c *gctx) error {
	wd := c.inDims(1)
	geo, err := c.geometry(wd[2:])
	if err != nil {
		return err
	}
	if len(wd) != 4 {
		return c.errorf("float64 lowering handles 2-D convolutions only")
	}
	groups := c.attrInt("group", 1)
	m, cg, kh, kw := wd[0], wd[1], wd[2], wd[3]
	n := c.inDims(0)[0]
	if n < 0 {
		n = 0 // Reshape copies a dynamic batch
	}
	win := c.stackWindows(c.in(0), geo)
	cols := c.reshape(c.tmp("cols"), win, c.ints(n, groups, cg*kh*kw, geo.out[0]*geo.out[1]))
	wm := c.reshape(c.tmp("w_mat"), c.in(1), c.ints(groups, m/groups, cg*kh*kw))
	prod := c.op("prod", "MatMul", []string{wm, cols}) // [N, g, M/g, Ho·Wo]
	y := c.out(0)
	if c.in(2) == "" {
		c.g.Node = append(c.g.Node, ox.Node("Reshape", c.n.GetName(), []string{prod, c.ints(n, m, geo.out[0], geo.out[1])}, []string{y}))
		return nil
	}
	yr := c.reshape(c.tmp("y"), prod, c.ints(n, m, geo.out[0], geo.out[1]))
	b := c.reshape(c.tmp("bias"), c.in(2), c.ints(1, m, 1, 1))
	c.g.Node = append(c.g.Node, ox.Node("Add", c.n.GetName(), []string{yr, b}, []string{y}))
	return nil
}

// lowerAveragePool rewrites a 2-D AveragePool as the sum of its windows
// times the inverse window counts.
func lowerAveragePool(c *gctx) error {
	geo, err := c.geometry(c.attrInts("kernel_shape", nil))
	if err != nil {
		return err
	}
	if len(geo.kernel) != 2 {
		return c.errorf("float64 lowering handles 2-D pooling only")
	}
	win := c.stackWindows(c.in(0), geo)
	sum := c.reduce(c.tmp("window_sum"), "ReduceSum", win, []int64{2}, false)
	inv := averagePoolInverseCounts(geo, c.attrInt("count_include_pad", 0) != 0)
	c.g.Node = append(c.g.Node, ox.Node("Mul", c.n.GetName(), []string{sum, c.floats(ox.Double, []int64{geo.out[0], geo.out[1]}, inv...)}, c.n.Output))
	return nil
}
