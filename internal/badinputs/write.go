package badinputs

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ox "github.com/zerocost/zerocost/onnximport"
)

// ModelsDir is where the bad-model corpus goes, relative to the repository root.
const ModelsDir = "testdata/badmodels"

// Files returns every file of the corpus and of the fuzz seed corpora,
// keyed by its path relative to the repository root.
func Files() map[string][]byte {
	out := map[string][]byte{}
	ms := Models()
	for _, m := range ms {
		for name, data := range m.Files {
			if filepath.IsAbs(name) || strings.HasPrefix(name, "..") {
				continue // external data that must not exist next to the model
			}
			out[filepath.Join(ModelsDir, name)] = data
		}
	}
	out[filepath.Join(ModelsDir, "README.md")] = README(ms)
	for target, seeds := range fuzzSeeds() {
		for name, values := range seeds {
			out[filepath.Join(target, name)] = encodeSeed(values...)
		}
	}
	return out
}

// Write writes Files under root (the repository root), replacing the
// corpus folder and the seed folders (crashers that a fuzz run added and
// that are kept are listed in keptCrashers, and left alone).
func Write(root string) error {
	files := Files()
	dirs := map[string]bool{}
	for path := range files {
		dirs[filepath.Dir(path)] = true
	}
	for dir := range dirs {
		entries, err := os.ReadDir(filepath.Join(root, dir))
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			if _, ours := files[p]; !ours && !e.IsDir() && !isCrasher(p) {
				if err := os.Remove(filepath.Join(root, p)); err != nil {
					return err
				}
			}
		}
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, files[p], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// isCrasher reports whether a seed file is one that `go test -fuzz` wrote
// (a hexadecimal name) rather than one of ours: crashers found by fuzzing
// are committed as they are and kept as regression seeds.
func isCrasher(path string) bool {
	name := filepath.Base(path)
	if len(name) != 16 {
		return false
	}
	for _, c := range name {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// encodeSeed writes values in the file format of Go's fuzzing corpora.
func encodeSeed(values ...any) []byte {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, v := range values {
		switch v := v.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case string:
			fmt.Fprintf(&b, "string(%q)\n", v)
		case int:
			fmt.Fprintf(&b, "int(%d)\n", v)
		default:
			panic(fmt.Sprintf("badinputs: seed value of type %T", v))
		}
	}
	return b.Bytes()
}

// fuzzSeeds returns, per fuzz corpus folder, the seeds by file name.
func fuzzSeeds() map[string]map[string][]any {
	models := map[string][]any{}
	for name, m := range smallModels() {
		models[name] = []any{marshal(m)}
	}
	return map[string]map[string][]any{
		"onnximport/testdata/fuzz/FuzzParse": models,
		"engine/testdata/fuzz/FuzzShapes":    models,
		"data/testdata/fuzz/FuzzDecodeNPY": {
			"f4":        {npy("<f4", "(2, 3)", float32s(1, 2, 3, 4, 5, 6))},
			"f8":        {npy("<f8", "(2,)", float64s(0.5, -1))},
			"i8":        {npy("<i8", "(3,)", int64s(0, 9, 3))},
			"i4":        {npy("<i4", "(2,)", int32s(7, 1))},
			"scalar":    {npy("<f4", "()", float32s(2))},
			"fortran":   {[]byte("\x93NUMPY\x01\x00\x46\x00{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }          \n" + "\x00\x00\x80\x3f")},
			"v2":        {npyV2("<f4", "(1,)", float32s(1))},
			"f2":        {npy("<f2", "(1,)", []byte{0, 0x3c})},
			"huge":      {npy("<f4", "(1000000000, 1000000000, 1000000000)", float32s(1))},
			"truncated": {npy("<f8", "(4,)", float64s(1))},
		},
		"data/testdata/fuzz/FuzzDecodeCIFAR10": {
			"two":       {cifar(3, 7), 2},
			"one_of_2":  {cifar(0, 9), 1},
			"bad_label": {cifar(10), 1},
			"short":     {cifar(1)[:100], 1},
		},
		"ranking/testdata/fuzz/FuzzCSVManifest": {
			"basic":  {[]byte("path,name,input_shape,acc\nnets/a.onnx,a,3x32x32,93.1\n/abs/b.onnx,,,nan\n")},
			"quoted": {[]byte("path,acc\n\"a,b.onnx\",\"1e3\"\n")},
			"ragged": {[]byte("path,acc\nx.onnx\n")},
		},
		"ranking/testdata/fuzz/FuzzJSONLManifest": {
			"basic":  {[]byte(`{"path": "a.onnx", "name": "a", "input_shape": "3x8x8", "acc": 91.5}` + "\n\n" + `{"path": "b.onnx", "truth": {"x": 1}}` + "\n")},
			"null":   {[]byte("null\n")},
			"number": {[]byte(`{"path": 3, "acc": 1e400}` + "\n")},
		},
	}
}

// smallModels are seeds for the ONNX fuzz targets: small enough to
// mutate quickly, together reaching the loader's and the shape rules'
// branches (external data, Constant nodes, subgraphs, the common ops).
func smallModels() map[string]*ox.Model {
	w := ox.Float32Tensor("w", []int64{2, 1, 1, 1}, []float32{0.5, -1})
	fc := ox.Float32Tensor("fc", []int64{3, 2}, []float32{1, 2, 3, 4, 5, 6})
	conv := &onnx.GraphProto{
		Name:        "conv",
		Input:       []*onnx.ValueInfoProto{ox.ValueInfo("x", ox.Float, []int64{-1, 1, 4, 4}, "N")},
		Output:      []*onnx.ValueInfoProto{ox.ValueInfo("y", ox.Float, []int64{-1, 3}, "N")},
		Initializer: []*onnx.TensorProto{w, fc, ox.Int64Tensor("shape", []int64{2}, []int64{0, -1})},
		Node: []*onnx.NodeProto{
			ox.Node("Conv", "conv", []string{"x", "w"}, []string{"c"}, ox.AttrInts("kernel_shape", 1, 1), ox.AttrInts("pads", 0, 0, 0, 0)),
			ox.Node("MaxPool", "pool", []string{"c"}, []string{"p"}, ox.AttrInts("kernel_shape", 2, 2), ox.AttrInts("strides", 2, 2)),
			ox.Node("GlobalAveragePool", "gap", []string{"p"}, []string{"g"}),
			ox.Node("Reshape", "flat", []string{"g", "shape"}, []string{"f"}),
			ox.Node("Gemm", "fc", []string{"f", "fc"}, []string{"y"}, ox.AttrInt("transB", 1)),
		},
	}
	ops := &onnx.GraphProto{
		Name:   "ops",
		Input:  []*onnx.ValueInfoProto{ox.ValueInfo("x", ox.Float, []int64{2, 3}, "")},
		Output: []*onnx.ValueInfoProto{ox.ValueInfo("y", ox.Float, []int64{-1, -1}, "")},
		Initializer: []*onnx.TensorProto{
			ox.Int64Tensor("reps", []int64{2}, []int64{2, 1}),
			ox.Int64Tensor("pads", []int64{4}, []int64{0, 1, 0, 1}),
			ox.Int64Tensor("starts", []int64{1}, []int64{1}),
			ox.Int64Tensor("ends", []int64{1}, []int64{3}),
			ox.Int64Tensor("axes", []int64{1}, []int64{0}),
		},
		Node: []*onnx.NodeProto{
			ox.Node("Constant", "k", nil, []string{"k"}, ox.AttrTensor("value", ox.Float32Tensor("", []int64{1}, []float32{2}))),
			ox.Node("Mul", "mul", []string{"x", "k"}, []string{"m"}),
			ox.Node("Tile", "tile", []string{"m", "reps"}, []string{"t"}),
			ox.Node("Pad", "pad", []string{"t", "pads"}, []string{"p"}),
			ox.Node("Slice", "slice", []string{"p", "starts", "ends"}, []string{"s"}),
			ox.Node("Concat", "cat", []string{"s", "s"}, []string{"c"}, ox.AttrInt("axis", 1)),
			ox.Node("Unsqueeze", "unsq", []string{"c", "axes"}, []string{"u"}),
			ox.Node("Squeeze", "sq", []string{"u", "axes"}, []string{"q"}),
			ox.Node("Transpose", "tr", []string{"q"}, []string{"y"}, ox.AttrInts("perm", 1, 0)),
		},
	}
	ext := ox.Float32Tensor("w", []int64{2, 1, 1, 1}, nil)
	ext.RawData = nil
	ext.DataLocation = onnx.TensorProto_EXTERNAL
	ext.ExternalData = []*onnx.StringStringEntryProto{{Key: "location", Value: "w.data"}, {Key: "offset", Value: "0"}, {Key: "length", Value: "8"}}
	external := &onnx.GraphProto{
		Name:        "external",
		Input:       []*onnx.ValueInfoProto{ox.ValueInfo("x", ox.Float, []int64{1, 1, 2, 2}, "")},
		Output:      []*onnx.ValueInfoProto{ox.ValueInfo("y", ox.Float, []int64{1, 2, 2, 2}, "")},
		Initializer: []*onnx.TensorProto{ext},
		Node:        []*onnx.NodeProto{ox.Node("Conv", "conv", []string{"x", "w"}, []string{"y"})},
	}
	then := &onnx.GraphProto{Name: "then", Output: []*onnx.ValueInfoProto{ox.ValueInfo("a", ox.Float, []int64{2}, "")},
		Node: []*onnx.NodeProto{ox.Node("Relu", "r", []string{"x"}, []string{"a"})}}
	els := &onnx.GraphProto{Name: "else", Output: []*onnx.ValueInfoProto{ox.ValueInfo("b", ox.Float, []int64{2}, "")},
		Node: []*onnx.NodeProto{ox.Node("Neg", "n", []string{"x"}, []string{"b"})}}
	branch := &onnx.GraphProto{
		Name:   "if",
		Input:  []*onnx.ValueInfoProto{ox.ValueInfo("x", ox.Float, []int64{2}, ""), ox.ValueInfo("c", ox.Bool, []int64{}, "")},
		Output: []*onnx.ValueInfoProto{ox.ValueInfo("y", ox.Float, []int64{2}, "")},
		Node: []*onnx.NodeProto{ox.Node("If", "if", []string{"c"}, []string{"y"},
			&onnx.AttributeProto{Name: "then_branch", Type: onnx.AttributeProto_GRAPH, G: then},
			&onnx.AttributeProto{Name: "else_branch", Type: onnx.AttributeProto_GRAPH, G: els})},
	}
	return map[string]*ox.Model{
		"conv":     ox.NewModel(conv, 17),
		"ops":      ox.NewModel(ops, 17),
		"external": ox.NewModel(external, 17),
		"if":       ox.NewModel(branch, 17),
	}
}

// npy writes a version-1 .npy file.
func npy(descr, shape string, payload []byte) []byte {
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape)
	for (10+len(header)+1)%64 != 0 {
		header += " "
	}
	header += "\n"
	out := []byte("\x93NUMPY\x01\x00")
	out = binary.LittleEndian.AppendUint16(out, uint16(len(header)))
	return append(append(out, header...), payload...)
}

// npyV2 writes a version-2 .npy file (4-byte header length).
func npyV2(descr, shape string, payload []byte) []byte {
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }\n", descr, shape)
	out := []byte("\x93NUMPY\x02\x00")
	out = binary.LittleEndian.AppendUint32(out, uint32(len(header)))
	return append(append(out, header...), payload...)
}

func float32s(v ...float32) []byte {
	var out []byte
	for _, x := range v {
		out = binary.LittleEndian.AppendUint32(out, math.Float32bits(x))
	}
	return out
}

func float64s(v ...float64) []byte {
	var out []byte
	for _, x := range v {
		out = binary.LittleEndian.AppendUint64(out, math.Float64bits(x))
	}
	return out
}

func int64s(v ...int64) []byte {
	var out []byte
	for _, x := range v {
		out = binary.LittleEndian.AppendUint64(out, uint64(x))
	}
	return out
}

func int32s(v ...int32) []byte {
	var out []byte
	for _, x := range v {
		out = binary.LittleEndian.AppendUint32(out, uint32(x))
	}
	return out
}

// cifar writes CIFAR-10 records with the given labels and a pixel ramp.
func cifar(labels ...byte) []byte {
	var out []byte
	for k, l := range labels {
		out = append(out, l)
		for p := 0; p < 3*32*32; p++ {
			out = append(out, byte(p+k))
		}
	}
	return out
}
