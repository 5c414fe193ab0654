package runtime_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/zerocost/zerocost/runtime"
)

func TestParseBytes(t *testing.T) {
	for i, c := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "8GiB", want: 8 << 30},
		{in: "8gib", want: 8 << 30},
		{in: "512MiB", want: 512 << 20},
		{in: "1.5G", want: 3 << 29},
		{in: "2GB", want: 2e9},
		{in: "100 MB", want: 1e8},
		{in: "2e9", want: 2e9},
		{in: "4096", want: 4096},
		{in: "1Ki", want: 1024},
		{in: "auto", want: 0},
		{in: "", want: 0},
		{in: "none", want: runtime.NoMemoryLimit},
		{in: "off", want: runtime.NoMemoryLimit},
		{in: "0", bad: true},
		{in: "-1GiB", bad: true},
		{in: "8 parsecs", bad: true},
		{in: "GiB", bad: true},
		{in: "1e30", bad: true}, // beyond int64
		{in: "NaN", bad: true},
	} {
		got, err := runtime.ParseBytes(c.in)
		if c.bad {
			if err == nil || !strings.Contains(err.Error(), "8GiB") {
				t.Errorf("case %d %q: want an error naming the syntax, got %d, %v", i, c.in, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("case %d %q: want %d, got %d (%v)", i, c.in, c.want, got, err)
		}
	}
}

func TestSaturatingArithmetic(t *testing.T) {
	for i, c := range []struct {
		shape []int64
		elem  int64
		bytes int64
		count int
	}{
		{[]int64{2, 3}, 4, 24, 6},
		{nil, 8, 8, 1},
		{[]int64{1e9, 1e9, 1e9}, 4, math.MaxInt64, math.MaxInt},
		{[]int64{1 << 31, 1 << 31}, 4, math.MaxInt64, 1 << 62}, // 2^62 elements fit, 2^64 bytes do not
		{[]int64{0, 1e18, 1e18}, 4, 0, 0},
		{[]int64{-1, 5}, 4, 20, -1}, // a dynamic size counts as 1 byte-wise; NumElements says -1
	} {
		if got := runtime.ShapeBytes(c.shape, c.elem); got != c.bytes {
			t.Errorf("case %d: ShapeBytes(%v, %d): want %d, got %d", i, c.shape, c.elem, c.bytes, got)
		}
		if got := runtime.NumElements(c.shape); got != c.count {
			t.Errorf("case %d: NumElements(%v): want %d, got %d", i, c.shape, c.count, got)
		}
	}
	if runtime.MulSat(math.MaxInt64/2, 3) != math.MaxInt64 || runtime.MulSat(6, 7) != 42 {
		t.Errorf("MulSat does not saturate or multiply")
	}
	if runtime.AddSat(math.MaxInt64, 1) != math.MaxInt64 || runtime.AddSat(2, 3) != 5 {
		t.Errorf("AddSat does not saturate or add")
	}
}

func TestCheckMemory(t *testing.T) {
	if err := runtime.CheckMemory("x", 1<<40, runtime.NoMemoryLimit, ""); err != nil {
		t.Errorf("no limit: want nil, got %v", err)
	}
	if err := runtime.CheckMemory("x", 1<<20, 1<<21, ""); err != nil {
		t.Errorf("under the limit: want nil, got %v", err)
	}
	err := runtime.CheckMemory("data: the input batch", 3<<30, 1<<30, "tensors 1 GiB ×3")
	var me *runtime.MemoryError
	if !errors.Is(err, runtime.ErrMemoryLimit) || !errors.As(err, &me) || me.Need != 3<<30 || me.Limit != 1<<30 || me.Default {
		t.Fatalf("over the limit: want a *MemoryError, got %#v", err)
	}
	for _, want := range []string{"data: the input batch needs about 3 GiB", "(tensors 1 GiB ×3)", "memory limit of 1 GiB", "--max-memory"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	err = runtime.CheckMemory("engine: m.onnx: the gradient graph", math.MaxInt64, 0, "")
	if !errors.As(err, &me) || !me.Default || !strings.Contains(err.Error(), "overflows 64-bit integers") || !strings.Contains(err.Error(), "75% of the memory available") {
		t.Errorf("an overflowing estimate against the default limit: got %v", err)
	}
	if d := runtime.DefaultMemoryLimit(); d <= 0 {
		t.Errorf("DefaultMemoryLimit: got %d", d)
	}
	if got := runtime.FormatBytes(1536 << 20); got != "1.5 GiB" {
		t.Errorf("FormatBytes: want 1.5 GiB, got %q", got)
	}
}
