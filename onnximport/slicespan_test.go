package onnximport

import (
	"math"
	"testing"
)

// TestSliceSpan checks SliceSpan against slices written out by hand as
// NumPy (and ONNX's Slice) take them, including out-of-range and
// reversed bounds.
func TestSliceSpan(t *testing.T) {
	cases := []struct {
		dim, start, end, step int64
		first, count          int64
	}{
		{6, 1, 5, 2, 1, 2},                          // a[1:5:2] = a[1], a[3]
		{6, 0, 6, 1, 0, 6},                          // the whole axis
		{4, -100, 100, 1, 0, 4},                     // clamped both ends
		{6, 2, 2, 1, 2, 0},                          // empty
		{6, -1, -7, -1, 5, 6},                       // a[-1:-7:-1]: all, reversed
		{6, 10, 0, -2, 5, 3},                        // a[10:0:-2] = a[5], a[3], a[1]
		{4, math.MaxInt64, math.MinInt64, -1, 3, 4}, // ONNX's "reverse the axis"
		{5, -2, math.MaxInt64, 1, 3, 2},             // a[-2:]
		{5, 0, math.MaxInt64, 3, 0, 2},              // a[::3] = a[0], a[3]
		{5, 4, 1, 1, 4, 0},                          // start past end, forward
	}
	for _, c := range cases {
		first, count := SliceSpan(c.dim, c.start, c.end, c.step)
		if count != c.count || (count > 0 && first != c.first) {
			t.Errorf("SliceSpan(%d, %d, %d, %d) = %d, %d; want %d, %d", c.dim, c.start, c.end, c.step, first, count, c.first, c.count)
		}
	}
}
