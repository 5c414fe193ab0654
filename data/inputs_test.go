package data_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/zerocost/zerocost/data"
	ox "github.com/zerocost/zerocost/onnximport"
)

func TestParseInputSpec(t *testing.T) {
	for i, c := range []struct {
		in      string
		want    data.InputSpec
		wantErr string
	}{
		{"ids=16:int64:tokens", data.InputSpec{Name: "ids", Shape: []int64{16}, DType: "int64", Source: "tokens"}, ""},
		{"mask=:ones", data.InputSpec{Name: "mask", Source: "ones"}, ""},
		{"image=3x64x64:cifar/train.bin", data.InputSpec{Name: "image", Shape: []int64{3, 64, 64}, Source: "cifar/train.bin"}, ""},
		{"flag=scalar:bool:zeros", data.InputSpec{Name: "flag", DType: "bool", Source: "zeros"}, ""},
		{"x=4x8", data.InputSpec{Name: "x", Shape: []int64{4, 8}}, ""},
		{"x=4:C:/data/x.npy", data.InputSpec{Name: "x", Shape: []int64{4}, Source: "C:/data/x.npy"}, ""},
		{"=4", data.InputSpec{}, "want NAME=SHAPE"},
		{"ids", data.InputSpec{}, "want NAME=SHAPE"},
		{"ids=16:words", data.InputSpec{}, `unknown source or type "words"`},
		{"ids=16xq", data.InputSpec{}, "ids=16xq"},
	} {
		got, err := data.ParseInputSpec(c.in)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("case %d (%s): want an error with %q, got %v", i, c.in, c.wantErr, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("case %d (%s): %v", i, c.in, err)
			continue
		}
		if got.Name != c.want.Name || !slices.Equal(got.Shape, c.want.Shape) || got.DType != c.want.DType || got.Source != c.want.Source {
			t.Errorf("case %d (%s): want %+v, got %+v", i, c.in, c.want, got)
		}
	}
	specs, err := data.ParseInputSpecs("ids=16:tokens; attention_mask=16:mask;")
	if err != nil || len(specs) != 2 || specs[1].Name != "attention_mask" || specs[1].Source != "mask" {
		t.Errorf("ParseInputSpecs: want two specifications, got %+v, %v", specs, err)
	}
}

// textModel has token ids (through a Cast into a 10-row embedding), a
// mask sharing the sequence axis, a 0-d bool and a 0-d float, and int64
// ids that index nothing. Only its inputs and lookups matter here.
func textModel(t *testing.T, withOther bool) *ox.Model {
	t.Helper()
	g := &onnx.GraphProto{
		Name: "text",
		Input: []*onnx.ValueInfoProto{
			ox.ValueInfo("ids", ox.Int64, []int64{-1, -1}, "N", "seq"),
			ox.ValueInfo("attention_mask", ox.Int64, []int64{-1, -1}, "N", "seq"),
			ox.ValueInfo("flag", ox.Bool, []int64{}),
			ox.ValueInfo("scale", ox.Float, []int64{}),
		},
		Initializer: []*onnx.TensorProto{ox.Float32Tensor("emb.weight", []int64{10, 4}, make([]float32, 40))},
		Node: []*onnx.NodeProto{
			ox.Node("Cast", "cast", []string{"ids"}, []string{"ids32"}, ox.AttrInt("to", int64(ox.Int32))),
			ox.Node("Gather", "lookup", []string{"emb.weight", "ids32"}, []string{"e"}),
		},
		Output: []*onnx.ValueInfoProto{ox.ValueInfo("e", ox.Float, []int64{-1, -1, 4})},
	}
	if withOther {
		g.Input = append(g.Input, ox.ValueInfo("other_ids", ox.Int64, []int64{-1, 3}))
	}
	return ox.NewModel(g, 17)
}

func TestLoadInputsDefaults(t *testing.T) {
	m := textModel(t, false)
	if e, ok := m.EmbeddingOf("ids"); !ok || e.Vocab != 10 || e.Output != "e" || e.Table != "emb.weight" {
		t.Fatalf("want the lookup of ids through the Cast (10 rows, output e), got %+v, %v", e, ok)
	}
	b, err := data.LoadInputs(data.DataSpec{BatchSize: 3, Shape: []int64{5}, Seed: 4}, m)
	if err != nil {
		t.Fatal(err)
	}
	if b.Name != "ids" || !slices.Equal(b.Input.Shape, []int64{3, 5}) {
		t.Fatalf("want the main input ids at 3×5 (--input-shape 5), got %s %v", b.Name, b.Input.Shape)
	}
	distinct := map[int64]bool{}
	for _, v := range b.Input.I64 {
		if v < 0 || v >= 10 {
			t.Fatalf("token id %d outside [0, 10)", v)
		}
		distinct[v] = true
	}
	if len(distinct) < 3 {
		t.Errorf("want random token ids, got %v", b.Input.I64)
	}
	mask := b.Others["attention_mask"]
	if mask == nil || !slices.Equal(mask.Shape, []int64{3, 5}) || slices.ContainsFunc(mask.I64, func(v int64) bool { return v != 1 }) {
		t.Errorf("want a 3×5 mask of ones (seq from ids), got %+v", mask)
	}
	if f := b.Others["flag"]; f == nil || len(f.Shape) != 0 || f.ONNXType != ox.Bool || f.I64[0] != 1 {
		t.Errorf("want a 0-d bool true, got %+v", f)
	}
	if s := b.Others["scale"]; s == nil || len(s.Shape) != 0 || len(s.F32) != 1 || s.F32[0] != 1 {
		t.Errorf("want a 0-d float 1, got %+v", s)
	}
	notes := strings.Join(b.Notes, "\n")
	for _, want := range []string{`random token ids in [0, 10) (the rows of embedding table "emb.weight")`, "attention_mask 3×5: ones", "flag (0-d): true"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q: %q", want, b.Notes)
		}
	}
	again, err := data.LoadInputs(data.DataSpec{BatchSize: 3, Shape: []int64{5}, Seed: 4}, m)
	if err != nil || !slices.Equal(again.Input.I64, b.Input.I64) {
		t.Errorf("the same seed must give the same ids: %v, %v", again.Input.I64, err)
	}
}

func TestLoadInputsSpecsAndErrors(t *testing.T) {
	dir := t.TempDir()
	writeNPY(t, filepath.Join(dir, "ids.npy"), "<i8", []int64{2, 3}, []int64{1, 2, 3, 4, 5, 6})
	writeNPY(t, filepath.Join(dir, "f.npy"), "<f4", []int64{2, 3}, make([]float32, 6))
	spec := func(n int, specs ...string) data.DataSpec {
		s := data.DataSpec{BatchSize: n, Shape: []int64{4}}
		for _, v := range specs {
			is, err := data.ParseInputSpec(v)
			if err != nil {
				t.Fatal(err)
			}
			s.Inputs = append(s.Inputs, is)
		}
		return s
	}
	other := textModel(t, true)
	if _, err := data.LoadInputs(spec(2), other); err == nil || !strings.Contains(err.Error(), "--vocab N") || !strings.Contains(err.Error(), `"other_ids"`) {
		t.Errorf("ids that index no table without --vocab: want an error naming the input and --vocab, got %v", err)
	}
	s := spec(2)
	s.Vocab = 7
	b, err := data.LoadInputs(s, other)
	if err != nil {
		t.Fatal(err)
	}
	if o := b.Others["other_ids"]; !slices.Equal(o.Shape, []int64{2, 3}) || slices.ContainsFunc(o.I64, func(v int64) bool { return v < 0 || v >= 7 }) {
		t.Errorf("want 2×3 ids in [0, 7) with --vocab 7, got %+v", o)
	}
	b, err = data.LoadInputs(spec(2, "other_ids=:"+filepath.Join(dir, "ids.npy"), "flag=:zeros", "attention_mask=4:zeros"), other)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(b.Others["other_ids"].I64, []int64{1, 2, 3, 4, 5, 6}) || b.Others["flag"].I64[0] != 0 || b.Others["attention_mask"].I64[0] != 0 {
		t.Errorf("specifications not applied: %+v", b.Others)
	}
	for i, c := range []struct {
		spec data.DataSpec
		want string
	}{
		{spec(2, "nope=3"), `has no input "nope"`},
		{spec(2, "flag=:float32"), `input "flag" is declared bool, not float32`},
		{spec(2, "flag=:tokens"), `input "flag" is bool`},
		{spec(2, "scale=:tokens"), `input "scale" is float`},
		{spec(2, "ids=4:"+filepath.Join(dir, "f.npy")), "holds 6 floats"},
		{data.DataSpec{BatchSize: 2}, `input "ids" has a dynamic size at axis 1`},
		{spec(2, "ids=4:x.bin"), "a CIFAR-10 file gives float images"},
	} {
		if _, err := data.LoadInputs(c.spec, other); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("case %d: want an error with %q, got %v", i, c.want, err)
		}
	}
}

// TestLoadInputsOneFloatInput: a one-input float model gets exactly
// LoadBatch's batch.
func TestLoadInputsOneFloatInput(t *testing.T) {
	in := ox.ValueInfo("input", ox.Float, []int64{-1, 3, -1, -1}, "N")
	m := ox.NewModel(&onnx.GraphProto{Name: "cnn", Input: []*onnx.ValueInfoProto{in}, Output: []*onnx.ValueInfoProto{in}}, 17)
	spec := data.DataSpec{BatchSize: 2, Shape: []int64{3, 5, 4}, Seed: 9}
	want, err := data.LoadBatch(spec, m.Inputs()[0])
	if err != nil {
		t.Fatal(err)
	}
	got, err := data.LoadInputs(spec, m)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Input.Shape, want.Input.Shape) || !slices.Equal(got.Input.F32, want.Input.F32) || got.Others != nil || len(got.Notes) != 0 {
		t.Errorf("want LoadBatch's batch %v, got %v (others %v, notes %q)", want.Input.Shape, got.Input.Shape, got.Others, got.Notes)
	}
}
