package autodiff

import ox "github.com/zerocost/zerocost/onnximport"

// sliceGrad places dY back on x's grid. With constant starts, ends, axes
// and steps and x's sliced axes of static size, that is a Pad of dY with
// zeros (steps of 1), after spreading each element over |step| positions
// (Unsqueeze, Pad, Reshape) for larger steps, and reversing dY first for
// negative ones: a few cheap copies. Otherwise the positions x's elements
// would have are sliced like x and dY is scattered onto them.
func sliceGrad(c *gctx) error {
	if dx, ok := slicePadGrad(c); ok {
		c.set(0, dx)
		return nil
	}
	idx := c.op("idx", "Slice", append([]string{c.iota(c.in(0))}, c.n.Input[1:]...))
	c.set(0, c.scatterAdd(c.in(0), idx, c.dOut(0)))
	return nil
}

// sliceAxis is what Slice keeps of one axis: m elements from start, step
// apart (step > 0 after the reversal of a negative step).
type sliceAxis struct {
	axis, dim, start, step, count int64
	reversed                      bool
}

// sliceAxes resolves the node's constant starts, ends, axes and steps on
// x's static dims as the ONNX Slice operator clamps them; ok is false when
// an input is not constant, a sliced axis depends on the batch, or a step
// is 0.
func sliceAxes(c *gctx, xd []int64) (out []sliceAxis, ok bool) {
	if c.in(1) == "" || c.in(2) == "" {
		return nil, false
	}
	starts, err1 := c.constInts(c.in(1))
	ends, err2 := c.constInts(c.in(2))
	if err1 != nil || err2 != nil || len(starts) != len(ends) {
		return nil, false
	}
	rank := len(xd)
	axes := make([]int64, len(starts))
	for i := range axes {
		axes[i] = int64(i)
	}
	if len(c.n.Input) > 3 && c.in(3) != "" {
		a, err := c.constInts(c.in(3))
		if err != nil || len(a) != len(starts) {
			return nil, false
		}
		axes = a
	}
	steps := make([]int64, len(starts))
	for i := range steps {
		steps[i] = 1
	}
	if len(c.n.Input) > 4 && c.in(4) != "" {
		s, err := c.constInts(c.in(4))
		if err != nil || len(s) != len(starts) {
			return nil, false
		}
		steps = s
	}
	for i := range starts {
		a := axis(axes[i], rank)
		if a < 0 || int(a) >= rank || xd[a] < 0 || steps[i] == 0 {
			return nil, false
		}
		d, step := xd[a], steps[i]
		st, count := ox.SliceSpan(d, starts[i], ends[i], step)
		if count == 0 {
			return nil, false
		}
		s := sliceAxis{axis: a, dim: d, start: st, step: step, count: count}
		if step < 0 {
			s.start, s.step, s.reversed = st+(count-1)*step, -step, true
		}
		out = append(out, s)
	}
	return out, true
}

func slicePadGrad(c *gctx) (string, bool) {
	xd := c.inDims(0)
	axes, ok := sliceAxes(c, xd)
	if !ok {
		return "", false
	}
	rank := len(xd)
	g := c.dOut(0)
	cur := append([]int64{}, c.outDims(0)...) // g's shape
	if len(cur) != rank {
		return "", false
	}
	dynamic := 0
	for _, d := range cur {
		if d < 0 {
			dynamic++
		}
	}
	pads := make([]int64, 2*rank)
	padded := false
	for _, s := range axes {
		if s.reversed {
			g = c.op("dY_reversed", "Slice", []string{g, c.ints(-1), c.ints(-(1 << 62)), c.ints(s.axis), c.ints(-1)})
		}
		length := s.count
		if s.step > 1 {
			// [.., m, ..] → [.., m, 1, ..] → [.., m, step, ..] → [.., m·step, ..]
			u := c.unsqueeze(c.tmp("spread"), g, []int64{s.axis + 1})
			sp := make([]int64, 2*(rank+1))
			sp[rank+1+int(s.axis)+1] = s.step - 1
			u = c.op("spread_pad", "Pad", []string{u, c.ints(sp...)})
			if dynamic > 1 {
				return "", false // Reshape infers one size only
			}
			shape := append([]int64{}, cur...)
			shape[s.axis] = s.count * s.step
			g = c.reshape(c.tmp("spread_flat"), u, c.ints(shape...))
			length = s.count * s.step
			if s.start+length > s.dim {
				length = s.dim - s.start
				g = c.op("spread_crop", "Slice", []string{g, c.ints(0), c.ints(length), c.ints(s.axis)})
			}
		}
		cur[s.axis] = length
		pads[s.axis] += s.start
		pads[rank+int(s.axis)] += s.dim - s.start - length
		padded = padded || s.start > 0 || s.dim-s.start-length > 0
	}
	if !padded {
		return c.op("dX", "Identity", []string{g}), true
	}
	return c.op("dX", "Pad", []string{g, c.ints(pads...)}, ox.AttrString("mode", "constant")), true
}
