package data_test

import (
	"math"
	"strings"
	"testing"

	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/runtime"
)

// FuzzDecodeNPY feeds arbitrary bytes to the .npy reader: it must return
// values matching the shape it reports, or a "data: " error, and allocate
// no more than the bytes hold (a header claiming 10^27 values is an error,
// not an allocation). Seeds: testdata/fuzz/FuzzDecodeNPY.
func FuzzDecodeNPY(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		shape, floats, ints, err := data.DecodeNPY(b, "fuzz.npy")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "data: fuzz.npy") {
				t.Fatalf("error without the package prefix and file: %v", err)
			}
			return
		}
		n := runtime.NumElements(shape)
		if (floats == nil) == (ints == nil) {
			t.Fatalf("shape %v: want floats or ints, got %d floats and %d ints", shape, len(floats), len(ints))
		}
		if len(floats)+len(ints) != n {
			t.Fatalf("shape %v needs %d values, got %d", shape, n, len(floats)+len(ints))
		}
		for _, v := range floats {
			if math.IsNaN(float64(v)) {
				t.Fatalf("NaN accepted")
			}
		}
	})
}

// FuzzDecodeCIFAR10 feeds arbitrary bytes and counts to the CIFAR-10
// reader: it must return n normalised images with labels 0..9, or a
// "data: " error. Seeds: testdata/fuzz/FuzzDecodeCIFAR10.
func FuzzDecodeCIFAR10(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		batch, err := data.DecodeCIFAR10(b, "fuzz.bin", n, n%2 == 0, uint64(n))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "data: fuzz.bin") {
				t.Fatalf("error without the package prefix and file: %v", err)
			}
			return
		}
		if len(batch.Labels) != n || len(batch.Input.F32) != n*3*32*32 || batch.Input.Shape[0] != int64(n) {
			t.Fatalf("%d images asked: %d labels, %d values, shape %v", n, len(batch.Labels), len(batch.Input.F32), batch.Input.Shape)
		}
		for _, l := range batch.Labels {
			if l < 0 || l > 9 {
				t.Fatalf("label %d", l)
			}
		}
		for _, v := range batch.Input.F32 {
			// (0 − 0.4914)/0.2023 ≥ −2.5 and (1 − 0.4465)/0.2010 ≤ 2.8.
			if v < -2.5 || v > 2.8 {
				t.Fatalf("pixel %v outside the normalised range", v)
			}
		}
	})
}
