package autodiff

import (
	"fmt"
	"math"

	ox "github.com/zerocost/zerocost/onnximport"
)

// A Resize that changes only the last one or two axes of its input, in any
// mode but tf_crop_and_resize, is linear and separable: with static sizes,
// Y = A_h · X · A_wᵀ, where A_h (Ho×H) and A_w (Wo×W) hold the
// interpolation weights of each output row and column. Its gradient is
// dX = A_hᵀ · dY · A_w, two MatMuls with constant matrices, and so is its
// float64 form (ONNX Runtime's CPU Resize has no float64 kernel). This
// covers the bilinear upsampling of every torchvision segmenter
// (F.interpolate(..., mode="bilinear")), bicubic resizing, and nearest
// resizing by fractional factors; nearest by whole factors keeps its
// cheaper block rule. Pad in reflect, edge or wrap mode is linear the same
// way (each output position copies one input position), and its gradient
// is the transposed 0/1 matrices.

// resizeSpec is what a Resize node says about one axis's interpolation.
type resizeSpec struct {
	mode, transform, nearest string
	cubicA                   float64
	excludeOutside           bool
}

// resizeMatrices returns, for a Resize node whose resized axes are all
// among the last two, the interpolation matrix of each resized axis
// (rows: output positions, columns: input positions), keyed by axis.
func (c *gctx) resizeMatrices() (map[int][][]float64, error) {
	spec := resizeSpec{
		mode:           ox.AttrStringOr(c.n, "mode", "nearest"),
		transform:      ox.AttrStringOr(c.n, "coordinate_transformation_mode", "half_pixel"),
		nearest:        ox.AttrStringOr(c.n, "nearest_mode", "round_prefer_floor"),
		cubicA:         float64(c.attrFloat("cubic_coeff_a", -0.75)),
		excludeOutside: c.attrInt("exclude_outside", 0) != 0,
	}
	switch spec.mode {
	case "nearest", "linear", "cubic":
	default:
		return nil, c.errorf("Resize mode %q is not an ONNX mode (nearest, linear, cubic)", spec.mode)
	}
	if spec.transform == "tf_crop_and_resize" {
		return nil, c.errorf("Resize with coordinate_transformation_mode tf_crop_and_resize is not supported (its output depends on the roi input)")
	}
	if ox.HasAttr(c.n, "axes") {
		return nil, c.errorf("Resize with the axes attribute is not supported")
	}
	xd, yd := c.inDims(0), c.outDims(0)
	if len(xd) == 0 || len(xd) != len(yd) {
		return nil, c.errorf("the ranks of input and output (%v, %v) are not known", xd, yd)
	}
	scales, err := c.resizeScales(len(xd))
	if err != nil {
		return nil, err
	}
	mats := map[int][][]float64{}
	for a := range xd {
		resized := xd[a] != yd[a] || (scales != nil && scales[a] != 1)
		if !resized {
			continue
		}
		if a < len(xd)-2 {
			return nil, c.errorf("axis %d is resized (%d to %d); only the last two axes can be (give static input shapes if this axis should not change)", a, xd[a], yd[a])
		}
		if xd[a] <= 0 || yd[a] <= 0 {
			return nil, c.errorf("axis %d goes from %d to %d: interpolating needs static sizes; give static input shapes (--input-shape)", a, xd[a], yd[a])
		}
		scale := float64(yd[a]) / float64(xd[a])
		if scales != nil {
			scale = scales[a]
		}
		m, err := spec.matrix(xd[a], yd[a], scale)
		if err != nil {
			return nil, c.errorf("axis %d: %v", a, err)
		}
		mats[a] = m
	}
	return mats, nil
}

// resizeScales returns the constant scales input of the node, nil when the
// node gives sizes instead.
func (c *gctx) resizeScales(rank int) ([]float64, error) {
	name := c.in(2)
	if name == "" {
		return nil, nil
	}
	for _, t := range c.g.GetInitializer() {
		if t.GetName() != name {
			continue
		}
		if len(t.GetDims()) == 1 && t.GetDims()[0] == 0 {
			return nil, nil // an empty scales tensor: sizes are given
		}
		v, err := ox.TensorFloat64s(t)
		if err != nil {
			return nil, c.errorf("reading scales: %v", err)
		}
		if len(v) != rank {
			return nil, c.errorf("scales has %d values for a rank-%d input", len(v), rank)
		}
		return v, nil
	}
	return nil, c.errorf("the scales input %q is computed in the graph; zerocost needs it constant (re-export with a fixed scale_factor or with sizes)", name)
}

// matrix returns the out×in interpolation weights of one axis, as ONNX
// Runtime computes them.
func (s resizeSpec) matrix(in, out int64, scale float64) ([][]float64, error) {
	m := make([][]float64, out)
	for y := range m {
		m[y] = make([]float64, in)
		x, err := s.original(float64(y), scale, in, out)
		if err != nil {
			return nil, err
		}
		switch s.mode {
		case "nearest":
			m[y][s.nearestIndex(x, in)] = 1
		case "linear":
			x = math.Max(0, math.Min(x, float64(in-1)))
			x0 := int64(x)
			x1 := min(x0+1, in-1)
			w := x - float64(x0)
			m[y][x0] += 1 - w
			m[y][x1] += w
		case "cubic":
			s.cubicRow(m[y], x, in)
		}
	}
	return m, nil
}

// original maps an output coordinate to the input's, by the node's
// coordinate_transformation_mode.
func (s resizeSpec) original(y, scale float64, in, out int64) (float64, error) {
	switch s.transform {
	case "half_pixel":
		return (y+0.5)/scale - 0.5, nil
	case "pytorch_half_pixel":
		if out > 1 {
			return (y+0.5)/scale - 0.5, nil
		}
		return 0, nil
	case "align_corners":
		if out == 1 {
			return 0, nil
		}
		return y * float64(in-1) / float64(out-1), nil
	case "asymmetric":
		return y / scale, nil
	case "tf_half_pixel_for_nn":
		return (y + 0.5) / scale, nil
	case "half_pixel_symmetric":
		adjustment := float64(out) / (scale * float64(in))
		center := float64(in) / 2
		offset := center * (1 - adjustment)
		return offset + (y+0.5)/scale - 0.5, nil
	}
	return 0, fmt.Errorf("coordinate_transformation_mode %q is not an ONNX mode", s.transform)
}

// nearestIndex rounds an input coordinate by the node's nearest_mode and
// clamps it to the axis.
func (s resizeSpec) nearestIndex(x float64, in int64) int64 {
	var i float64
	switch s.nearest {
	case "floor":
		i = math.Floor(x)
	case "ceil":
		i = math.Ceil(x)
	case "round_prefer_ceil":
		i = math.Floor(x + 0.5)
	default: // round_prefer_floor
		if x-math.Floor(x) == 0.5 {
			i = math.Floor(x)
		} else {
			i = math.Round(x)
		}
	}
	return int64(math.Max(0, math.Min(i, float64(in-1))))
}

// cubicRow adds the four cubic weights of coordinate x to row, clamping
// indices to the axis (edge padding), or dropping the ones outside and
// renormalising with exclude_outside.
func (s resizeSpec) cubicRow(row []float64, x float64, in int64) {
	a := s.cubicA
	x0 := math.Floor(x)
	t := x - x0
	dist := [4]float64{1 + t, t, 1 - t, 2 - t}
	var w [4]float64
	for k, d := range dist {
		if d <= 1 {
			w[k] = ((a+2)*d-(a+3))*d*d + 1
		} else {
			w[k] = ((a*d-5*a)*d+8*a)*d - 4*a
		}
	}
	total := 0.0
	for k := range w {
		i := int64(x0) - 1 + int64(k)
		if s.excludeOutside && (i < 0 || i >= in) {
			w[k] = 0
		}
		total += w[k]
	}
	for k := range w {
		i := min(max(int64(x0)-1+int64(k), 0), in-1)
		if s.excludeOutside {
			w[k] /= total
		}
		row[i] += w[k]
	}
}

// applyAxisMatrices multiplies x along each axis of mats (the last two at
// most) by its matrix (forward) or by the matrix's transpose (backward):
// A·x on the second-to-last axis, x·Aᵀ on the last.
func (c *gctx) applyAxisMatrices(x string, mats map[int][][]float64, rank int, elem int32, backward bool) string {
	for _, a := range []int{rank - 2, rank - 1} {
		m, ok := mats[a]
		if !ok {
			continue
		}
		if backward {
			m = transpose2(m)
		}
		if a == rank-2 {
			x = c.op("rows", "MatMul", []string{c.matrix(m, elem), x})
		} else {
			x = c.op("cols", "MatMul", []string{x, c.matrix(transpose2(m), elem)})
		}
	}
	return x
}

// padMatrices returns, for a reflect, edge or wrap Pad whose padded axes
// are among the last two, the 0/1 matrix of each padded axis: output
// position o copies input position src(o). Its transpose adds the gradient
// of every copy back onto its source.
func (c *gctx) padMatrices(mode string, pads, axes []int64) (map[int][][]float64, error) {
	xd := c.inDims(0)
	rank := len(xd)
	mats := map[int][][]float64{}
	for i, a := range axes {
		a = axis(a, rank)
		begin, end := pads[i], pads[len(axes)+i]
		if begin == 0 && end == 0 {
			continue
		}
		n := xd[a]
		switch {
		case begin < 0 || end < 0:
			return nil, c.errorf("negative pads (cropping) in mode %q are not supported", mode)
		case int(a) < rank-2:
			return nil, c.errorf("axis %d is padded in mode %q; only the last two axes can be", a, mode)
		case n <= 0:
			return nil, c.errorf("axis %d has no static size (%d); give static input shapes (--input-shape)", a, n)
		case mode == "reflect" && (begin >= n || end >= n):
			return nil, c.errorf("reflect pads (%d, %d) reach beyond the axis of size %d", begin, end, n)
		}
		m := make([][]float64, n+begin+end)
		for o := range m {
			m[o] = make([]float64, n)
			src := int64(o) - begin
			switch mode {
			case "reflect":
				if src < 0 {
					src = -src
				} else if src >= n {
					src = 2*(n-1) - src
				}
			case "edge":
				src = min(max(src, 0), n-1)
			case "wrap":
				src = ((src % n) + n) % n
			default:
				return nil, c.errorf("Pad mode %q is not an ONNX mode (constant, reflect, edge, wrap)", mode)
			}
			m[o][src] = 1
		}
		mats[int(a)] = m
	}
	return mats, nil
}

// matrix returns m as a constant of the element type.
func (c *gctx) matrix(m [][]float64, elem int32) string {
	v := make([]float64, 0, len(m)*len(m[0]))
	for _, row := range m {
		v = append(v, row...)
	}
	return c.floats(elem, []int64{int64(len(m)), int64(len(m[0]))}, v...)
}

func transpose2(m [][]float64) [][]float64 {
	t := make([][]float64, len(m[0]))
	for j := range t {
		t[j] = make([]float64, len(m))
		for i := range m {
			t[j][i] = m[i][j]
		}
	}
	return t
}
