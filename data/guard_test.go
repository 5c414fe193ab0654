package data_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
)

// TestLoadBatchMemoryGuard checks that absurd batches are refused before
// anything is allocated, and that the limit applies to files too.
func TestLoadBatchMemoryGuard(t *testing.T) {
	dir := t.TempDir()
	x := make([]float32, 2*3*8*8)
	writeNPY(t, filepath.Join(dir, "x.npy"), "<f4", []int64{2, 3, 8, 8}, x)
	cifar := filepath.Join(dir, "c.bin")
	if err := os.WriteFile(cifar, make([]byte, 4*3073), 0o644); err != nil {
		t.Fatal(err)
	}
	dynamic := onnximport.Input{Name: "input", ElemType: onnximport.Float, Dims: []int64{-1, 3, -1, -1}}
	declared := onnximport.Input{Name: "input", ElemType: onnximport.Float, Dims: []int64{-1, 3, 1e9, 8}}
	for i, c := range []struct {
		spec data.DataSpec
		in   onnximport.Input
		want string // "" for success
	}{
		{data.DataSpec{BatchSize: 2, Shape: []int64{3, 8, 8}}, dynamic, ""},
		{data.DataSpec{BatchSize: 2}, declared, `the input batch of shape [2 3 1000000000 8] for input "input" (float32; the model declares size 1000000000 at axis 2) needs about 179 GiB`},
		{data.DataSpec{Source: "ones", BatchSize: 1e9, Shape: []int64{3, 1e9, 1e9}}, dynamic, "needs more than 8 EiB (its size overflows 64-bit integers)"},
		{data.DataSpec{BatchSize: 64, Shape: []int64{3, 224, 224}, MaxMemory: 1 << 20}, dynamic, "needs about 36.8 MiB, more than the memory limit of 1 MiB"},
		{data.DataSpec{BatchSize: 2, Shape: []int64{3, 8, 8}, MaxMemory: runtime.NoMemoryLimit}, dynamic, ""},
		{data.DataSpec{Source: filepath.Join(dir, "x.npy"), MaxMemory: 1024}, dynamic, "data: reading the .npy file " + filepath.Join(dir, "x.npy")},
		{data.DataSpec{Source: cifar, BatchSize: 2, MaxMemory: 1024}, dynamic, "data: reading the CIFAR-10 file"},
		{data.DataSpec{Source: cifar, BatchSize: 2}, dynamic, ""},
		{data.DataSpec{Source: filepath.Join(dir, "missing.npy")}, dynamic, "missing.npy: no such file"},
		{data.DataSpec{Source: dir + "/sub.bin"}, dynamic, "no such file"},
	} {
		b, err := data.LoadBatch(c.spec, c.in)
		if c.want == "" {
			if err != nil || b == nil {
				t.Errorf("case %d: want a batch, got %v", i, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("case %d: want an error containing %q, got %v", i, c.want, err)
		}
		if strings.Contains(c.want, "needs") && !errors.Is(err, runtime.ErrMemoryLimit) {
			t.Errorf("case %d: want errors.Is(err, runtime.ErrMemoryLimit)", i)
		}
	}
}

func TestDecodeNPYRefusesLyingHeaders(t *testing.T) {
	header := func(shape string) []byte {
		h := "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }\n"
		return append([]byte("\x93NUMPY\x01\x00"+string([]byte{byte(len(h)), 0})), h...)
	}
	for i, c := range []struct {
		b    []byte
		want string
	}{
		{append(header("(1000000000, 1000000000, 1000000000)"), 0, 0, 0x80, 0x3f), "is truncated: shape [1000000000 1000000000 1000000000] of <f4 needs more than 8 EiB"},
		{append(header("(3,)"), 0, 0, 0x80, 0x3f), "is truncated: shape [3] of <f4 needs 12 B, the file holds 4 B"},
		{header("(-1,)"), `bad shape "-1,"`},
		{[]byte("\x93NUMPY\x01\x00\xff\xff{}"), "truncated header"},
		{[]byte("\x93NUMPY\x07\x00\x10\x00"), "format version 7"},
	} {
		_, _, _, err := data.DecodeNPY(c.b, "x.npy")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("case %d: want an error containing %q, got %v", i, c.want, err)
		}
	}
}
