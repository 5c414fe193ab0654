package data

import (
	"fmt"
	"strings"

	"github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
)

// Layout is the axis order of an image input.
type Layout string

// The layouts of image inputs: channels first (PyTorch) and channels last
// (TensorFlow/Keras, TFLite and MediaPipe exports).
const (
	NCHW Layout = "nchw"
	NHWC Layout = "nhwc"
)

// ParseLayout reads --layout: "" or "auto" (detect), "nchw" or "nhwc".
func ParseLayout(s string) (Layout, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return "", nil
	case "nchw":
		return NCHW, nil
	case "nhwc":
		return NHWC, nil
	}
	return "", fmt.Errorf("unknown layout %q: use auto, nchw or nhwc", s)
}

// DetectLayout tells channels-last image inputs from channels-first ones by
// their declared shape: a rank-4 input whose last axis has 1, 3 or 4
// entries (grey, RGB, RGBA) and whose axis 1 has more, or is dynamic, is
// N×H×W×C. Everything else is taken as N×C×H×W.
func DetectLayout(in onnximport.Input) Layout {
	d := in.Dims
	if len(d) != 4 {
		return NCHW
	}
	channels := func(v int64) bool { return v == 1 || v == 3 || v == 4 }
	if channels(d[3]) && (d[1] < 0 || d[1] > 4) {
		return NHWC
	}
	return NCHW
}

// ToNHWC transposes an N×C×H×W float32 batch to N×H×W×C.
func ToNHWC(t *runtime.Tensor) *runtime.Tensor {
	n, c, h, w := t.Shape[0], t.Shape[1], t.Shape[2], t.Shape[3]
	out := make([]float32, len(t.F32))
	for i := int64(0); i < n; i++ {
		for ch := int64(0); ch < c; ch++ {
			for y := int64(0); y < h; y++ {
				for x := int64(0); x < w; x++ {
					out[((i*h+y)*w+x)*c+ch] = t.F32[((i*c+ch)*h+y)*w+x]
				}
			}
		}
	}
	return runtime.NewFloat32([]int64{n, h, w, c}, out)
}

// matchLayout transposes a channels-first image batch (CIFAR-10, or a .npy
// file of N×C×H×W images) for a channels-last input, and says so in the
// batch's notes.
func matchLayout(b *Batch, in onnximport.Input, layout Layout, source string) {
	if layout == "" {
		layout = DetectLayout(in)
	}
	if layout != NHWC || len(b.Input.Shape) != 4 || b.Input.F32 == nil {
		return
	}
	if s := b.Input.Shape; fits(in.Dims, s) && !fits(in.Dims, []int64{s[0], s[2], s[3], s[1]}) {
		return // already channels last
	}
	b.Input = ToNHWC(b.Input)
	b.Notes = append(b.Notes, fmt.Sprintf("input %q is channels-last (N×H×W×C, declared %v): the N×C×H×W images of %s were transposed to match (--layout nchw if the model is channels-first)", in.Name, fmtDims(in.Dims), source))
}

// fits reports whether a batch shape agrees with the declared dims.
func fits(dims, shape []int64) bool {
	if len(dims) != len(shape) {
		return false
	}
	for i, d := range dims {
		if d > 0 && d != shape[i] && !(i == 0 && d == 1) {
			return false
		}
	}
	return true
}

func fmtDims(dims []int64) string {
	parts := make([]string, len(dims))
	for i, d := range dims {
		if d < 0 {
			parts[i] = "?"
		} else {
			parts[i] = fmt.Sprint(d)
		}
	}
	return strings.Join(parts, "×")
}

// channelsLastShape reads a one-sample shape given as C×H×W (the PyTorch
// habit) as H×W×C when the input is channels-last and only that reading
// fits its declared channels.
func channelsLastShape(shape []int64, in onnximport.Input, layout Layout) ([]int64, string) {
	if layout == "" {
		layout = DetectLayout(in)
	}
	if layout != NHWC || len(shape) != 3 || len(in.Dims) != 4 || in.Dims[3] <= 0 || shape[0] != in.Dims[3] || shape[2] == in.Dims[3] {
		return shape, ""
	}
	hwc := []int64{shape[1], shape[2], shape[0]}
	return hwc, fmt.Sprintf("input %q is channels-last (declared %v): the shape %s was read as H×W×C %s", in.Name, fmtDims(in.Dims), fmtDims(shape), fmtDims(hwc))
}
