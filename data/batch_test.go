package data_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/onnximport"
)

// writeNPY writes a version-1 .npy file.
func writeNPY(t *testing.T, path, descr string, shape []int64, data any) {
	t.Helper()
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = fmt.Sprint(d)
	}
	sh := strings.Join(dims, ", ")
	if len(shape) == 1 {
		sh += ","
	}
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, sh)
	for (10+len(header)+1)%64 != 0 {
		header += " "
	}
	header += "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(header)))
	b.WriteString(header)
	binary.Write(&b, binary.LittleEndian, data)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadBatchNPYAndLabels(t *testing.T) {
	dir := t.TempDir()
	x := make([]float32, 2*3*4*4)
	for i := range x {
		x[i] = float32(i)
	}
	writeNPY(t, filepath.Join(dir, "x.npy"), "<f4", []int64{2, 3, 4, 4}, x)
	writeNPY(t, filepath.Join(dir, "y.npy"), "<i8", []int64{2}, []int64{7, 1})
	in := onnximport.Input{Name: "input", ElemType: onnximport.Float, Dims: []int64{-1, 3, -1, -1}}
	b, err := data.LoadBatch(data.DataSpec{Source: filepath.Join(dir, "x.npy"), Labels: filepath.Join(dir, "y.npy")}, in)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(b.Input.Shape) != "[2 3 4 4]" || b.Input.F32[95] != 95 || b.Labels[0] != 7 || b.Labels[1] != 1 {
		t.Fatalf("unexpected batch: shape %v, labels %v", b.Input.Shape, b.Labels)
	}
	writeNPY(t, filepath.Join(dir, "bad.npy"), "<i8", []int64{3}, []int64{1, 2, 3})
	if _, err := data.LoadBatch(data.DataSpec{Source: filepath.Join(dir, "x.npy"), Labels: filepath.Join(dir, "bad.npy")}, in); err == nil || !strings.Contains(err.Error(), "3 labels for a batch of 2") {
		t.Fatalf("want a label-count error, got %v", err)
	}
	os.WriteFile(filepath.Join(dir, "trunc.npy"), []byte("\x93NUMPY\x01\x00"), 0o644)
	if _, err := data.LoadBatch(data.DataSpec{Source: filepath.Join(dir, "trunc.npy")}, in); err == nil {
		t.Fatal("a truncated .npy must be an error")
	}
}

func TestReadCIFAR10(t *testing.T) {
	dir := t.TempDir()
	rec := make([]byte, 2*3073)
	rec[0], rec[3073] = 3, 9
	for i := 1; i < 3073; i++ {
		rec[i] = 255
	}
	path := filepath.Join(dir, "data_batch_1.bin")
	os.WriteFile(path, rec, 0o644)
	b, err := data.ReadCIFAR10(path, 2, false, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Pixel 255 of the red plane normalises to (1 − 0.4914)/0.2023.
	want := (1 - 0.4914) / 0.2023
	if b.Labels[0] != 3 || b.Labels[1] != 9 || math.Abs(float64(b.Input.F32[0])-want) > 1e-5 {
		t.Fatalf("labels %v, first pixel %v (want %v)", b.Labels, b.Input.F32[0], want)
	}
	if _, err := data.ReadCIFAR10(path, 3, false, 1); err == nil || !strings.Contains(err.Error(), "holds 2 images") {
		t.Fatalf("want a count error, got %v", err)
	}
	os.WriteFile(filepath.Join(dir, "odd.bin"), make([]byte, 100), 0o644)
	if _, err := data.ReadCIFAR10(filepath.Join(dir, "odd.bin"), 1, false, 1); err == nil || !strings.Contains(err.Error(), "not a CIFAR-10 binary file") {
		t.Fatalf("want a format error, got %v", err)
	}
}
