package runtime_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/internal/testort"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
	"github.com/zerocost/zerocost/zoo"
)

func TestVersionIsPinned(t *testing.T) {
	testort.Init(t)
	if got := runtime.Version(); got != runtime.WantVersion {
		t.Fatalf("want ONNX Runtime %s, got %s", runtime.WantVersion, got)
	}
	if ps := runtime.Providers(); len(ps) == 0 || ps[0] != runtime.CPU {
		t.Fatalf("want cpu first among providers, got %v", ps)
	}
}

func TestInitTwiceAndConcurrentSessions(t *testing.T) {
	testort.Init(t)
	if err := runtime.Init(""); err != nil {
		t.Fatalf("second Init: %v", err)
	}
	if err := runtime.Init("/elsewhere/libonnxruntime.so"); err == nil {
		t.Fatal("Init with another path after loading: want an error")
	}
	raw, err := zoo.TinyCNN(3, 5).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	s, err := runtime.NewSession(raw, runtime.SessionOptions{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	x := data.RandomNormal([]int64{2, 3, 8, 8}, 7)
	want, err := s.Run(map[string]*runtime.Tensor{"input": x})
	if err != nil {
		t.Fatal(err)
	}
	if got := want["logits"].Shape; len(got) != 2 || got[0] != 2 || got[1] != 5 {
		t.Fatalf("want logits of shape [2 5], got %v", got)
	}
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func() {
			out, err := s.Run(map[string]*runtime.Tensor{"input": x})
			if err == nil {
				for j, v := range out["logits"].F32 {
					if v != want["logits"].F32[j] {
						err = errors.New("concurrent run gave a different result")
						break
					}
				}
			}
			errs <- err
		}()
	}
	for i := 0; i < 8; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestFloat64AndInt64RoundTrip(t *testing.T) {
	testort.Init(t)
	for _, c := range []struct {
		elem int32
		in   *runtime.Tensor
	}{
		{11, runtime.NewFloat64([]int64{4}, []float64{1, 2.5, math.Pi, -4})},
		{7, runtime.NewInt64([]int64{3}, []int64{1, -2, 1 << 40})},
		{1, runtime.NewFloat32([]int64{1}, []float32{3.5})},
	} {
		data := identityModel(t, c.elem)
		s, err := runtime.NewSession(data, runtime.SessionOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.Run(map[string]*runtime.Tensor{"x": c.in})
		s.Destroy()
		if err != nil {
			t.Fatal(err)
		}
		y := out["y"]
		if y.DType() != c.in.DType() {
			t.Fatalf("elem %d: want dtype %v, got %v", c.elem, c.in.DType(), y.DType())
		}
		got, want := y.Float64s(), c.in.Float64s()
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("elem %d: entry %d: want %v, got %v", c.elem, i, want[i], got[i])
			}
		}
	}
}

func TestBadInputsGiveClearErrors(t *testing.T) {
	testort.Init(t)
	raw, _ := zoo.TinyCNN(1, 10).Marshal()
	s, err := runtime.NewSession(raw, runtime.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	for i, c := range []struct {
		feeds map[string]*runtime.Tensor
		want  string
	}{
		{map[string]*runtime.Tensor{}, `missing input "input"`},
		{map[string]*runtime.Tensor{"input": runtime.NewFloat32([]int64{1, 3, 4, 4}, make([]float32, 5))}, "has 5 elements but shape"},
		{map[string]*runtime.Tensor{"input": runtime.NewFloat32([]int64{1, 4, 4, 4}, make([]float32, 64))}, "runtime:"},
		{map[string]*runtime.Tensor{"input": data.RandomNormal([]int64{1, 3, 4, 4}, 1), "extra": data.RandomNormal([]int64{1}, 1)}, `unknown input "extra"`},
	} {
		_, err := s.Run(c.feeds)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("case %d: want an error containing %q, got %v", i, c.want, err)
		}
	}
	if _, err := runtime.NewSession([]byte("not a model"), runtime.SessionOptions{}); err == nil {
		t.Error("NewSession on garbage: want an error")
	}
}

func TestCUDAIsNeverASilentFallback(t *testing.T) {
	testort.Init(t)
	raw, _ := zoo.TinyCNN(1, 10).Marshal()
	s, err := runtime.NewSession(raw, runtime.SessionOptions{Provider: runtime.CUDA})
	hasCUDA := false
	for _, p := range runtime.Providers() {
		hasCUDA = hasCUDA || p == runtime.CUDA
	}
	if hasCUDA {
		if err != nil {
			t.Fatalf("cuda listed as available but session failed: %v", err)
		}
		s.Destroy()
		return
	}
	if !errors.Is(err, runtime.ErrProviderUnavailable) || !strings.Contains(err.Error(), "--ep cpu") {
		t.Fatalf("want ErrProviderUnavailable with a hint, got %v", err)
	}
}

func TestLibraryErrorListsCandidates(t *testing.T) {
	err := &runtime.LibraryError{Tried: runtime.Candidates("/no/such/lib.so")}
	msg := err.Error()
	for _, want := range []string{"/no/such/lib.so", "--ort-lib flag", "system loader path", "make setup"} {
		if !strings.Contains(msg, want) {
			t.Errorf("library error lacks %q:\n%s", want, msg)
		}
	}
	if !errors.Is(err, runtime.ErrLibraryNotFound) {
		t.Error("LibraryError does not unwrap to ErrLibraryNotFound")
	}
}

// TestNarrowAndScalarInputs feeds int32, bool, uint8 and 0-d inputs: each
// reaches ONNX Runtime with its declared element type and shape (a wrong
// type would be refused by the session), and comes back widened to int64.
func TestNarrowAndScalarInputs(t *testing.T) {
	testort.Init(t)
	for _, c := range []struct {
		name string
		elem int32
		in   *runtime.Tensor
		want []int64
	}{
		{"int32", ox.Int32, runtime.NewInt32([]int64{3}, []int32{-7, 0, 1 << 30}), []int64{-7, 0, 1 << 30}},
		{"bool", ox.Bool, runtime.NewBool([]int64{3}, []bool{true, false, true}), []int64{1, 0, 1}},
		{"uint8", 2, mustInteger(t, []int64{2}, []int64{255, 3}, 2), []int64{255, 3}},
		{"int64 0-d", ox.Int64, runtime.NewInt64([]int64{}, []int64{42}), []int64{42}},
		{"bool 0-d", ox.Bool, runtime.NewBool([]int64{}, []bool{true}), []int64{1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dims := c.in.Shape
			// The graph returns the input reshaped to [-1]: outputs must keep rank >= 1.
			g := &onnx.GraphProto{
				Name:        "narrow",
				Input:       []*onnx.ValueInfoProto{ox.ValueInfo("x", c.elem, dims)},
				Output:      []*onnx.ValueInfoProto{ox.ValueInfo("y", c.elem, []int64{-1})},
				Initializer: []*onnx.TensorProto{ox.Int64Tensor("flat", []int64{1}, []int64{-1})},
				Node:        []*onnx.NodeProto{ox.Node("Reshape", "r", []string{"x", "flat"}, []string{"y"})},
			}
			raw, err := ox.NewModel(g, 17).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			s, err := runtime.NewSession(raw, runtime.SessionOptions{Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Destroy()
			out, err := s.Run(map[string]*runtime.Tensor{"x": c.in})
			if err != nil {
				t.Fatal(err)
			}
			y := out["y"]
			if y.ONNXType != c.elem || len(y.I64) != len(c.want) {
				t.Fatalf("want %d values of type %d, got %v (type %d)", len(c.want), c.elem, y.I64, y.ONNXType)
			}
			for i := range c.want {
				if y.I64[i] != c.want[i] {
					t.Errorf("element %d: want %d, got %d", i, c.want[i], y.I64[i])
				}
			}
		})
	}
	if _, err := runtime.NewInteger([]int64{1}, []int64{1}, ox.Float); err == nil {
		t.Error("NewInteger with a float type: want an error")
	}
}

func mustInteger(t *testing.T, shape, data []int64, elem int32) *runtime.Tensor {
	t.Helper()
	x, err := runtime.NewInteger(shape, data, elem)
	if err != nil {
		t.Fatal(err)
	}
	return x
}
