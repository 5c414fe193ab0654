package onnximport_test

import (
	"strings"
	"testing"

	"github.com/zerocost/zerocost/internal/badinputs"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/zoo"
)

// FuzzParse feeds arbitrary bytes to the loader and the checker, and to
// what every command reads next (inputs, layers, initializer values). Any
// input must give a model or an "onnximport: " error; a model accepted once
// must be accepted again after a round trip through Marshal. Seeds: the
// committed corpus in testdata/fuzz/FuzzParse (small models reaching
// external data, Constant nodes, subgraphs), the bad-model corpus and a
// healthy CNN.
func FuzzParse(f *testing.F) {
	for _, m := range badinputs.Models() {
		f.Add(m.Files[m.Name+".onnx"])
	}
	if b, err := zoo.TinyCNN(1, 10).Marshal(); err == nil {
		f.Add(b)
	}
	dir := f.TempDir() // external data is looked up in an empty folder
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ox.Parse(data, dir)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "onnximport: ") {
				t.Fatalf("error without the package prefix: %v", err)
			}
			return
		}
		if err := m.Check(); err != nil {
			t.Fatalf("Parse accepted a model that Check refuses: %v", err)
		}
		for _, in := range m.Inputs() {
			_, _ = in.ResolveShape(nil, 2)
			_, _ = in.FeedShape([]int64{3, 8, 8}, 2)
		}
		for _, l := range m.Layers() {
			_ = l.FanIn()
		}
		for _, init := range m.Graph().GetInitializer() {
			_, _ = ox.TensorFloat64s(init)
			_, _ = ox.TensorInt64s(init)
		}
		_ = m.OpTypes()
		b, err := m.Marshal()
		if err != nil {
			t.Fatalf("a parsed model does not encode: %v", err)
		}
		if _, err := ox.Parse(b, dir); err != nil {
			t.Fatalf("a parsed model is refused after a round trip: %v", err)
		}
		m.NameNodes()
	})
}
