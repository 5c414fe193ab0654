package autodiff_test

import (
	"strings"
	"testing"

	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/zoo"
)

func TestZeroGradientsOfNB201NoneEdges(t *testing.T) {
	cases := []struct {
		arch string
		zero func(param string) bool
	}{
		// Every cell outputs x·0: nothing before the classifier reaches the
		// output, and the classifier reads zeros.
		{"|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", func(string) bool { return true }},
		// Node 1 feeds nothing: the conv on edge 0→1 (layers.0) is dead in
		// every cell; everything else is live.
		{"|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|", func(p string) bool { return strings.Contains(p, ".layers.0.") }},
		// Node 2 reaches node 3 only through none: its conv on edge 0→2
		// (layers.1) is dead.
		{"|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|", func(p string) bool { return strings.Contains(p, ".layers.1.") }},
		{"|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|", func(string) bool { return false }},
	}
	for _, c := range cases {
		m, err := zoo.NB201(c.arch, zoo.NB201Options{})
		if err != nil {
			t.Fatal(err)
		}
		fwd, err := autodiff.Normalize(m, autodiff.BNRemove)
		if err != nil {
			t.Fatal(err)
		}
		got := autodiff.ZeroGradients(fwd)
		for _, l := range fwd.Layers() {
			if got[l.Param] != c.zero(l.Param) {
				t.Errorf("%s: %s: zero gradient %v, want %v", c.arch, l.Param, got[l.Param], c.zero(l.Param))
			}
		}
	}
}
