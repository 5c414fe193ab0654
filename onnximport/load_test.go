package onnximport_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/internal/testort"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
	"github.com/zerocost/zerocost/zoo"
)

func writeModel(t *testing.T, dir string, m *ox.Model) string {
	t.Helper()
	data, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// externalise moves every initializer's bytes into one file "weights.bin"
// next to the model, as torch.onnx.export(..., external_data) does.
func externalise(t *testing.T, dir string, m *ox.Model) {
	t.Helper()
	var blob []byte
	for _, init := range m.Graph().GetInitializer() {
		offset := len(blob)
		blob = append(blob, init.GetRawData()...)
		init.ExternalData = []*onnx.StringStringEntryProto{
			{Key: "location", Value: "weights.bin"},
			{Key: "offset", Value: strconv.Itoa(offset)},
			{Key: "length", Value: strconv.Itoa(len(init.GetRawData()))},
		}
		init.DataLocation = onnx.TensorProto_EXTERNAL
		init.RawData = nil
	}
	if err := os.WriteFile(filepath.Join(dir, "weights.bin"), blob, 0o644); err != nil {
		t.Fatal(err)
	}
}

func forward(t *testing.T, m *ox.Model) []float32 {
	t.Helper()
	raw, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	s, err := runtime.NewSession(raw, runtime.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	out, err := s.Run(map[string]*runtime.Tensor{"input": data.RandomNormal([]int64{2, 3, 8, 8}, 5)})
	if err != nil {
		t.Fatal(err)
	}
	return out["logits"].F32
}

func TestLoadExternalData(t *testing.T) {
	testort.Init(t)
	dir := t.TempDir()
	inline := zoo.TinyCNN(4, 10)
	want := forward(t, inline)

	ext := zoo.TinyCNN(4, 10)
	externalise(t, dir, ext)
	path := writeModel(t, dir, ext)
	loaded, err := ox.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	got := forward(t, loaded)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("logit %d: want %v (inline weights), got %v (external weights)", i, want[i], got[i])
		}
	}

	// The data file missing or short gives an error naming the initializer.
	if err := os.Truncate(filepath.Join(dir, "weights.bin"), 100); err != nil {
		t.Fatal(err)
	}
	if _, err := ox.Load(path); err == nil || !strings.Contains(err.Error(), "initializer") {
		t.Fatalf("truncated external data: want an error naming the initializer, got %v", err)
	}
	os.Remove(filepath.Join(dir, "weights.bin"))
	if _, err := ox.Load(path); err == nil || !strings.Contains(err.Error(), "keep the data file next to the model") {
		t.Fatalf("missing external data: want a clear error, got %v", err)
	}
}

func TestLoadBadFiles(t *testing.T) {
	dir := t.TempDir()
	good, err := zoo.TinyCNN(1, 10).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"truncated.onnx": good[:len(good)/2],
		"corrupt.onnx":   append(append([]byte{}, good[:40]...), []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}...),
		"text.onnx":      []byte("this is a README, not a model\n"),
		"empty.onnx":     {},
		"png.onnx":       {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'},
	}
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ox.Load(path)
		if err == nil {
			t.Errorf("%s: want an error, got none", name)
			continue
		}
		if !errors.Is(err, ox.ErrNotONNX) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: want ErrNotONNX naming the file, got %v", name, err)
		}
	}
	_, err = ox.Load(filepath.Join(dir, "missing.onnx"))
	if err == nil || !strings.Contains(err.Error(), "no such file") || !strings.Contains(err.Error(), "missing.onnx") {
		t.Errorf("missing file: want a clear error, got %v", err)
	}
}

func TestCheckNamesTheNode(t *testing.T) {
	m := zoo.TinyCNN(1, 10)
	nodes := m.Graph().Node
	nodes[0], nodes[1] = nodes[1], nodes[0] // bn1 now reads conv1.out before conv1 writes it
	data, _ := m.Marshal()
	_, err := ox.Parse(data, "")
	if err == nil || !strings.Contains(err.Error(), `"bn1"`) || !strings.Contains(err.Error(), "conv1.out") {
		t.Fatalf("want an error naming node bn1 and tensor conv1.out, got %v", err)
	}
}

func TestRoundTrip(t *testing.T) {
	m := zoo.TinyCNN(2, 7)
	data, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ox.Parse(data, "")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := back.Marshal()
	if string(again) != string(data) {
		t.Fatal("model bytes changed in a parse/marshal round trip")
	}
	if got := strings.Join(back.OpTypes(), ","); got != "BatchNormalization,Conv,Flatten,Gemm,GlobalAveragePool,Relu" {
		t.Fatalf("op types: got %s", got)
	}
	w, err := ox.TensorFloat32s(back.Graph().GetInitializer()[0])
	if err != nil || len(w) != 8*3*3*3 {
		t.Fatalf("reading conv1.weight: %d values, %v", len(w), err)
	}
}
