package engine

import (
	"errors"
	"testing"

	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/internal/badinputs"
	ox "github.com/zerocost/zerocost/onnximport"
)

// FuzzShapes runs what every model goes through before ONNX Runtime sees
// it, on any model the loader accepts: normalisation, static shape
// inference, the memory estimates and the gradient graph. None may panic;
// shapes must come out non-negative (or -1 where they follow the batch) and
// within maxDim, or as a ShapeOverflowError. Seeds: testdata/fuzz/FuzzShapes
// (small models of the common operators) and the bad-model corpus.
func FuzzShapes(f *testing.F) {
	for _, m := range badinputs.Models() {
		f.Add(m.Files[m.Name+".onnx"])
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ox.Parse(data, dir)
		if err != nil {
			return
		}
		fwd, err := autodiff.Normalize(m, autodiff.BNTrain)
		if err != nil {
			return
		}
		for _, spec := range [][]int64{nil, {3, 8, 8}} {
			shapes, err := staticShapes(fwd, feedPlan{shape: spec})
			var overflow *ShapeOverflowError
			var soft errNotStatic
			if errors.As(err, &overflow) || errors.As(err, &soft) {
				continue
			}
			if err != nil {
				continue // an input shape the spec does not fit: the caller says so
			}
			for name, info := range shapes {
				if ox.NumElements(info.Dims) > maxDim {
					t.Fatalf("tensor %q has shape %v, beyond maxDim without an error", name, info.Dims)
				}
				for _, d := range info.Dims {
					if d < -1 {
						t.Fatalf("tensor %q has shape %v", name, info.Dims)
					}
				}
			}
			_, _, _ = EstimateForward(fwd, spec, 2)
			var wrt []string
			for _, l := range fwd.Layers() {
				wrt = append(wrt, l.Param)
			}
			res, err := autodiff.BuildNormalized(fwd, autodiff.Request{WRT: wrt, Head: autodiff.HeadSum, BN: autodiff.BNTrain}, shapes)
			if err != nil {
				continue
			}
			if e := EstimateMemory(res, 2); e.Total() <= 0 {
				t.Fatalf("memory estimate %v", e)
			}
			if _, err := res.Model.Marshal(); err != nil {
				t.Fatalf("the gradient graph does not encode: %v", err)
			}
		}
	})
}
