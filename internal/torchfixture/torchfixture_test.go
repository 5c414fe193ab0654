package torchfixture

import (
	"math"
	"testing"
)

// The test vectors of testdata/torch/README.md, computed by gen_fixtures.py.
func TestUniformMatchesPython(t *testing.T) {
	for i, c := range []struct {
		seed      uint64
		low, high float64
		want      []uint32
	}{
		{7, -2, 2, []uint32{0xbee1a0f8, 0xbff76788, 0x3fcd3080, 0x3ea9d758}},
		{1000, -0.19245008972987526, 0.19245008972987526, []uint32{0xbdd10420, 0x3df7cf99, 0x3dd78668}},
	} {
		got := Uniform(c.seed, len(c.want), c.low, c.high)
		for j, w := range c.want {
			if math.Float32bits(got[j]) != w {
				t.Errorf("case %d, value %d: want %#x, got %#x (%v)", i, j, w, math.Float32bits(got[j]), got[j])
			}
		}
	}
}
