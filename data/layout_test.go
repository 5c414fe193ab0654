package data_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
)

func TestDetectLayout(t *testing.T) {
	for i, c := range []struct {
		dims []int64
		want data.Layout
	}{
		{[]int64{1, 3, 224, 224}, data.NCHW},
		{[]int64{1, 224, 224, 3}, data.NHWC},
		{[]int64{-1, -1, -1, 3}, data.NHWC},
		{[]int64{1, 128, 128, 1}, data.NHWC},
		{[]int64{-1, 3, -1, -1}, data.NCHW},
		{[]int64{1, 4, 4, 3}, data.NCHW}, // ambiguous: channels first, the PyTorch default
		{[]int64{1, 3, 32}, data.NCHW},
	} {
		if got := data.DetectLayout(onnximport.Input{Dims: c.dims}); got != c.want {
			t.Errorf("case %d %v: want %s, got %s", i, c.dims, c.want, got)
		}
	}
	if _, err := data.ParseLayout("nwhc"); err == nil {
		t.Error("ParseLayout(nwhc): want an error")
	}
}

func TestCIFARIsTransposedForChannelsLast(t *testing.T) {
	path := filepath.Join("..", "..", "shared", "data", "cifar10", "train_1000.bin")
	nchw, err := data.LoadBatch(data.DataSpec{Source: path, BatchSize: 4}, onnximport.Input{Name: "x", Dims: []int64{-1, 3, 32, 32}})
	if err != nil {
		t.Skipf("no CIFAR-10 sample: %v", err)
	}
	nhwc, err := data.LoadBatch(data.DataSpec{Source: path, BatchSize: 4}, onnximport.Input{Name: "x", Dims: []int64{-1, 32, 32, 3}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(nhwc.Input.Shape, []int64{4, 32, 32, 3}) || len(nhwc.Notes) != 1 || !strings.Contains(nhwc.Notes[0], "channels-last") {
		t.Fatalf("want a 4×32×32×3 batch with a note, got %v %q", nhwc.Input.Shape, nhwc.Notes)
	}
	at := func(t *runtime.Tensor, i ...int64) float32 {
		k := int64(0)
		for a, v := range i {
			k = k*t.Shape[a] + v
		}
		return t.F32[k]
	}
	for _, p := range [][4]int64{{0, 0, 0, 0}, {3, 2, 31, 5}, {1, 1, 7, 30}} { // n, c, y, x
		if a, b := at(nchw.Input, p[0], p[1], p[2], p[3]), at(nhwc.Input, p[0], p[2], p[3], p[1]); a != b {
			t.Errorf("pixel %v: NCHW %v, NHWC %v", p, a, b)
		}
	}
	forced, err := data.LoadBatch(data.DataSpec{Source: path, BatchSize: 4, Layout: data.NCHW}, onnximport.Input{Name: "x", Dims: []int64{-1, -1, -1, 3}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(forced.Input.Shape, []int64{4, 3, 32, 32}) {
		t.Errorf("--layout nchw: want the images as they are, got %v", forced.Input.Shape)
	}
	random, err := data.LoadBatch(data.DataSpec{BatchSize: 2, Shape: []int64{3, 64, 48}}, onnximport.Input{Name: "x", Dims: []int64{-1, -1, -1, 3}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(random.Input.Shape, []int64{2, 64, 48, 3}) {
		t.Errorf("--input-shape 3x64x48 on a channels-last input: want 2×64×48×3, got %v", random.Input.Shape)
	}
}
