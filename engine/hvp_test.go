package engine_test

import (
	"math"
	"testing"

	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/engine"
	"github.com/zerocost/zerocost/internal/testort"
	"github.com/zerocost/zerocost/runtime"
	"github.com/zerocost/zerocost/zoo"
)

// TestGradientHVPMatchesTwoGraphs checks NewGradientHVP, which computes g =
// dL/dW and H·g in one graph (g held constant by Request.Constants), against
// the two-graph form: the gradient graph run for g, then WithGradientDot's
// graph differentiated again with g fed as its direction. Both evaluate the
// same expressions with the same kernels, so they agree to float32 round-off
// (tolerance 1e-5 of each tensor's largest entry); without the stop-gradient
// H·g would come out twice as large.
func TestGradientHVPMatchesTwoGraphs(t *testing.T) {
	testort.Init(t)
	m, err := zoo.NB201("|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|", zoo.NB201Options{})
	if err != nil {
		t.Fatal(err)
	}
	var params []string
	for _, l := range m.Layers() {
		params = append(params, l.Param)
	}
	shape := []int64{8, 3, 32, 32}
	so := runtime.SessionOptions{Threads: 2}
	req := autodiff.Request{WRT: params, Head: autodiff.HeadCrossEntropy}
	one, err := engine.NewGradientHVP(m, engine.Options{Request: req, InputShape: shape, Session: so}, params, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Destroy()
	feeds := map[string]*runtime.Tensor{
		one.Inputs[0].Name: data.RandomNormal(shape, 3),
		one.Labels:         runtime.NewInt64([]int64{8}, data.RandomLabels(8, one.Classes, 5)),
	}
	got, err := one.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}

	first, err := engine.NewGradient(m, engine.Options{Request: req, InputShape: shape, Session: so})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Destroy()
	g, err := first.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	dot, err := autodiff.WithGradientDot(first.Result, params)
	if err != nil {
		t.Fatal(err)
	}
	second, err := engine.NewGradient(dot, engine.Options{
		Request:    autodiff.Request{WRT: params, Head: autodiff.HeadSum, Output: autodiff.HVPOutput},
		InputShape: shape, Session: so,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Destroy()
	feeds2 := map[string]*runtime.Tensor{}
	for k, v := range feeds {
		feeds2[k] = v
	}
	for _, p := range params {
		feeds2[autodiff.HVPInput(p)] = g[first.Grads[p]]
	}
	hg, err := second.Run(feeds2)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range params {
		compare(t, i, p+" (g)", got[one.Grads[p]].Float64s(), g[first.Grads[p]].Float64s())
		compare(t, i, p+" (H·g)", got[one.HVP[p]].Float64s(), hg[second.Grads[p]].Float64s())
	}
}

func compare(t *testing.T, i int, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("case %d: %s: want %d values, got %d", i, what, len(want), len(got))
	}
	scale := 0.0
	for _, w := range want {
		scale = math.Max(scale, math.Abs(w))
	}
	for j := range got {
		if math.Abs(got[j]-want[j]) > 1e-5*scale {
			t.Errorf("case %d: %s[%d]: want %g, got %g (largest entry %g)", i, what, j, want[j], got[j], scale)
			return
		}
	}
}
