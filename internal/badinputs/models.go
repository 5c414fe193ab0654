// Package badinputs writes the bad-input corpus: ONNX models as users
// should not, but do, hand zerocost (testdata/badmodels/), and the seed
// corpora of the fuzz targets (testdata/fuzz/ of onnximport, engine, data
// and ranking). Everything is deterministic: `go run
// ./internal/cmd/badinputs` rewrites the committed files byte for byte, and
// a test checks that they are up to date.
package badinputs

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/zoo"
	"google.golang.org/protobuf/proto"
)

// Model is one case of the bad-model corpus.
type Model struct {
	// Name is the file name without .onnx.
	Name string
	// About says what is wrong with it (one line, for the README).
	About string
	// Files maps file names (the model's Name+".onnx" and any side file,
	// such as external data) to their contents.
	Files map[string][]byte
}

// base is the healthy model every case starts from: zoo.TinyCNN with a
// dynamic batch and a static 3×8×8 image, so that the corpus scores
// without --input-shape.
func base() *ox.Model {
	m := zoo.TinyCNN(1, 10)
	m.Graph().Input[0] = ox.ValueInfo("input", ox.Float, []int64{-1, 3, 8, 8}, "N")
	return m
}

func marshal(m *ox.Model) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m.Proto)
	if err != nil {
		panic("badinputs: " + err.Error()) // the builders below make valid protobuf
	}
	return b
}

// one is a case made of its .onnx file only.
func one(name, about string, data []byte) Model {
	return Model{Name: name, About: about, Files: map[string][]byte{name + ".onnx": data}}
}

// edited is the base model changed by edit.
func edited(name, about string, edit func(m *ox.Model)) Model {
	m := base()
	edit(m)
	return one(name, about, marshal(m))
}

func initializer(m *ox.Model, name string) *onnx.TensorProto {
	for _, t := range m.Graph().GetInitializer() {
		if t.GetName() == name {
			return t
		}
	}
	panic("badinputs: no initializer " + name)
}

func node(m *ox.Model, name string) *onnx.NodeProto {
	for _, n := range m.Graph().GetNode() {
		if n.GetName() == name {
			return n
		}
	}
	panic("badinputs: no node " + name)
}

// setFloat sets value i of a raw float32 initializer.
func setFloat(t *onnx.TensorProto, i int, v float32) {
	binary.LittleEndian.PutUint32(t.RawData[4*i:], math.Float32bits(v))
}

// externalise moves an initializer's bytes to an external-data location
// and returns them.
func externalise(t *onnx.TensorProto, location string) []byte {
	data := t.RawData
	t.RawData = nil
	t.DataLocation = onnx.TensorProto_EXTERNAL
	t.ExternalData = []*onnx.StringStringEntryProto{{Key: "location", Value: location}}
	return data
}

// insertAfter puts nodes after the node called after and makes the next
// readers of its first output read the last new node's output instead.
func insertAfter(m *ox.Model, after string, nodes ...*onnx.NodeProto) {
	g := m.Graph()
	var out []*onnx.NodeProto
	var old string
	for _, n := range g.GetNode() {
		for i, in := range n.Input {
			if in == old && old != "" {
				n.Input[i] = nodes[len(nodes)-1].Output[0]
			}
		}
		out = append(out, n)
		if n.GetName() == after {
			old = n.Output[0]
			out = append(out, nodes...)
		}
	}
	g.Node = out
}

// Models returns the corpus, in file-name order.
func Models() []Model {
	healthy := marshal(base())
	rng := rand.New(rand.NewPCG(9, 0x626164))
	random := make([]byte, 2048)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	ms := []Model{
		one("empty", "a file of 0 bytes", nil),
		one("truncated", "the healthy model cut in the middle (an interrupted download)", healthy[:len(healthy)/2]),
		one("random_bytes", "2 KiB of random bytes", random),
		one("html_page", "an HTML error page saved as .onnx (a failed download)",
			[]byte("<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n<body><h1>Not Found</h1><p>The requested URL was not found on this server.</p></body></html>\n")),
		edited("no_ir_version", "a graph but no IR version", func(m *ox.Model) { m.Proto.IrVersion = 0 }),
		edited("no_opset", "no opset import", func(m *ox.Model) { m.Proto.OpsetImport = nil }),
		edited("old_opset", "the healthy graph declared as opset 9 (third-party files are often opset 7–12)", func(m *ox.Model) {
			m.Proto.OpsetImport[0].Version = 9
		}),
		edited("nan_weights", "a NaN in the first convolution's weight", func(m *ox.Model) {
			setFloat(initializer(m, "conv1.weight"), 0, float32(math.NaN()))
		}),
		edited("inf_weights", "+Inf in the second convolution's weight", func(m *ox.Model) {
			setFloat(initializer(m, "conv2.weight"), 5, float32(math.Inf(1)))
		}),
		edited("huge_weights", "every layer weight scaled by 1e30 (finite in float32, overflows in the forward pass)", func(m *ox.Model) {
			for _, name := range []string{"conv1.weight", "conv2.weight", "fc.weight"} {
				t := initializer(m, name)
				for i := 0; i < len(t.RawData)/4; i++ {
					v := math.Float32frombits(binary.LittleEndian.Uint32(t.RawData[4*i:]))
					setFloat(t, i, v*1e30)
				}
			}
		}),
		fp16(),
		edited("wrong_value_count", "an initializer holding 10 values for a shape that needs 216", func(m *ox.Model) {
			t := initializer(m, "conv1.weight")
			t.RawData = t.RawData[:40]
		}),
		edited("negative_dims", "an initializer of shape [-8]", func(m *ox.Model) {
			initializer(m, "conv1.bias").Dims = []int64{-8}
		}),
		edited("huge_initializer_dims", "an initializer of shape [10^9 10^9 10^9] with 8 values (the element count overflows int64)", func(m *ox.Model) {
			initializer(m, "conv1.bias").Dims = []int64{1e9, 1e9, 1e9}
		}),
		external("external_ok", "conv1.weight in a data file next to the model (healthy: gives a result)", "external_ok.data", true),
		external("external_missing", "conv1.weight in a data file that is not there", "external_missing.data", false),
		external("external_escape", "conv1.weight in a data file outside the model's folder (../)", "../outside.data", false),
		external("external_absolute", "conv1.weight in an absolute path (/etc/hostname)", "/etc/hostname", false),
		externalTruncated(),
		edited("undefined_input", "a node reads a tensor that nothing defines", func(m *ox.Model) {
			node(m, "relu1").Input[0] = "ghost"
		}),
		edited("unsorted_nodes", "the nodes not in topological order", func(m *ox.Model) {
			g := m.Graph()
			g.Node[1], g.Node[2] = g.Node[2], g.Node[1]
		}),
		edited("duplicate_output", "two nodes write the same tensor", func(m *ox.Model) {
			node(m, "relu2").Output[0] = "relu1.out"
			node(m, "gap").Input[0] = "relu1.out"
		}),
		edited("no_outputs", "a graph without outputs", func(m *ox.Model) { m.Graph().Output = nil }),
		edited("no_layers", "no Conv, Gemm or MatMul: nothing to score", func(m *ox.Model) {
			g := m.Graph()
			g.Initializer = nil
			g.Node = []*onnx.NodeProto{ox.Node("Relu", "relu", []string{"input"}, []string{"logits"})}
			g.Output = []*onnx.ValueInfoProto{ox.ValueInfo("logits", ox.Float, []int64{-1, 3, 8, 8}, "N")}
		}),
		edited("no_inputs", "no graph input: the image is an initializer", func(m *ox.Model) {
			g := m.Graph()
			g.Input = nil
			g.Initializer = append(g.Initializer, ox.Float32Tensor("input", []int64{1, 3, 8, 8}, make([]float32, 3*8*8)))
		}),
		edited("two_inputs", "two image inputs multiplied together", func(m *ox.Model) {
			g := m.Graph()
			g.Input = append(g.Input, ox.ValueInfo("mask", ox.Float, []int64{-1, 3, 8, 8}, "N"))
			g.Node = append([]*onnx.NodeProto{ox.Node("Mul", "masked", []string{"input", "mask"}, []string{"masked"})}, g.Node...)
			node(m, "conv1").Input[0] = "masked"
		}),
		tokens(),
		edited("sequence_input", "an input of type sequence(tensor(float)), not a tensor", func(m *ox.Model) {
			seq := &onnx.TypeProto{Value: &onnx.TypeProto_SequenceType{SequenceType: &onnx.TypeProto_Sequence{
				ElemType: m.Graph().Input[0].Type}}}
			m.Graph().Input[0] = &onnx.ValueInfoProto{Name: "seq", Type: seq}
			m.Graph().Node = append([]*onnx.NodeProto{ox.Node("SequenceAt", "at", []string{"seq", "zero"}, []string{"input"})}, m.Graph().Node...)
			m.Graph().Initializer = append(m.Graph().Initializer, ox.Int64Tensor("zero", nil, []int64{0}))
		}),
		scalarInput(),
		ifNode(),
		loopNode(),
		edited("custom_op", "an operator of a custom domain (com.example.FancyAct) that ONNX Runtime does not know", func(m *ox.Model) {
			m.Proto.OpsetImport = append(m.Proto.OpsetImport, &onnx.OperatorSetIdProto{Domain: "com.example", Version: 1})
			n := ox.Node("FancyAct", "fancy", []string{"relu1.out"}, []string{"fancy.out"})
			n.Domain = "com.example"
			insertAfter(m, "relu1", n)
		}),
		edited("channel_mismatch", "the second convolution expects 4 input channels, the first gives 8", func(m *ox.Model) {
			t := initializer(m, "conv2.weight")
			t.Dims = []int64{16, 4, 3, 3}
			t.RawData = t.RawData[:4*16*4*9]
		}),
		edited("zero_stride", "a convolution with strides 0", func(m *ox.Model) {
			for _, a := range node(m, "conv2").Attribute {
				if a.GetName() == "strides" {
					a.Ints = []int64{0, 0}
				}
			}
		}),
		edited("absurd_dim", "an input that declares a dimension of 10^9 (N×3×10^9×8)", func(m *ox.Model) {
			m.Graph().Input[0] = ox.ValueInfo("input", ox.Float, []int64{-1, 3, 1e9, 8}, "N")
		}),
		edited("absurd_batch", "an input that declares a batch of 10^9 (10^9×3×8×8)", func(m *ox.Model) {
			m.Graph().Input[0] = ox.ValueInfo("input", ox.Float, []int64{1e9, 3, 8, 8})
		}),
		edited("overflow_dims", "an input of 10^9×10^9×10^9×10^9 (the element count overflows int64)", func(m *ox.Model) {
			m.Graph().Input[0] = ox.ValueInfo("input", ox.Float, []int64{1e9, 1e9, 1e9, 1e9})
		}),
		edited("tile_explosion", "a small input tiled 10^5×10^5 times (a 2.4 TB activation)", func(m *ox.Model) {
			m.Graph().Initializer = append(m.Graph().Initializer, ox.Int64Tensor("repeats", []int64{4}, []int64{1, 1, 1e5, 1e5}))
			m.Graph().Node = append([]*onnx.NodeProto{ox.Node("Tile", "tile", []string{"input", "repeats"}, []string{"tiled"})}, m.Graph().Node...)
			node(m, "conv1").Input[0] = "tiled"
		}),
		edited("tile_overflow", "a small input tiled 10^10×10^10 times (the element count overflows int64)", func(m *ox.Model) {
			m.Graph().Initializer = append(m.Graph().Initializer, ox.Int64Tensor("repeats", []int64{4}, []int64{1, 1, 1e10, 1e10}))
			m.Graph().Node = append([]*onnx.NodeProto{ox.Node("Tile", "tile", []string{"input", "repeats"}, []string{"tiled"})}, m.Graph().Node...)
			node(m, "conv1").Input[0] = "tiled"
		}),
		edited("huge_pads", "a convolution padded by 10^18 on every side", func(m *ox.Model) {
			for _, a := range node(m, "conv1").Attribute {
				if a.GetName() == "pads" {
					a.Ints = []int64{1e18, 1e18, 1e18, 1e18}
				}
			}
		}),
	}
	sortModels(ms)
	return ms
}

func sortModels(ms []Model) {
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && ms[j].Name < ms[j-1].Name; j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}

// external stores conv1.weight at location; with present the data file is
// written next to the model.
func external(name, about, location string, present bool) Model {
	m := base()
	data := externalise(initializer(m, "conv1.weight"), location)
	c := one(name, about, marshal(m))
	if present {
		c.Files[location] = data
	}
	return c
}

func externalTruncated() Model {
	m := base()
	data := externalise(initializer(m, "conv1.weight"), "external_truncated.data")
	c := one("external_truncated", "conv1.weight in a data file that holds half of its bytes", marshal(m))
	c.Files["external_truncated.data"] = data[:len(data)/2]
	return c
}

// fp16 is the base model in float16: inputs, outputs and initializers.
func fp16() Model {
	m := base()
	g := m.Graph()
	for _, t := range g.GetInitializer() {
		raw := make([]byte, len(t.RawData)/2)
		for i := range len(raw) / 2 {
			v := math.Float32frombits(binary.LittleEndian.Uint32(t.RawData[4*i:]))
			binary.LittleEndian.PutUint16(raw[2*i:], toHalf(v))
		}
		t.RawData, t.DataType = raw, ox.Float16
	}
	for _, v := range append(g.GetInput(), g.GetOutput()...) {
		v.GetType().GetTensorType().ElemType = ox.Float16
	}
	return one("fp16_weights", "the base model in float16 (inputs, outputs and weights)", marshal(m))
}

// toHalf rounds a float32 to the nearest IEEE 754 half (values of the base
// model are small and normal: no subnormal or overflow handling needed
// beyond flushing to zero).
func toHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int((b>>23)&0xff) - 127 + 15
	mant := b & 0x7fffff
	switch {
	case exp <= 0:
		return sign
	case exp >= 31:
		return sign | 0x7c00
	}
	h := sign | uint16(exp)<<10 | uint16(mant>>13)
	if mant&0x1000 != 0 {
		h++ // round half up: carries into the exponent correctly
	}
	return h
}

// tokens is a tiny text classifier: int64 token ids → embedding → mean →
// linear.
func tokens() Model {
	rng := rand.New(rand.NewPCG(3, 0x746f6b))
	emb := make([]float32, 100*8)
	fc := make([]float32, 10*8)
	for i := range emb {
		emb[i] = float32(rng.NormFloat64())
	}
	for i := range fc {
		fc[i] = float32(rng.NormFloat64() / 3)
	}
	g := &onnx.GraphProto{Name: "tokens"}
	g.Input = []*onnx.ValueInfoProto{ox.ValueInfo("input_ids", ox.Int64, []int64{-1, 16}, "N")}
	g.Output = []*onnx.ValueInfoProto{ox.ValueInfo("logits", ox.Float, []int64{-1, 10}, "N")}
	g.Initializer = []*onnx.TensorProto{
		ox.Float32Tensor("embedding.weight", []int64{100, 8}, emb),
		ox.Float32Tensor("fc.weight", []int64{10, 8}, fc),
	}
	g.Node = []*onnx.NodeProto{
		ox.Node("Gather", "embed", []string{"embedding.weight", "input_ids"}, []string{"embedded"}),
		ox.Node("ReduceMean", "mean", []string{"embedded"}, []string{"pooled"}, ox.AttrInts("axes", 1), ox.AttrInt("keepdims", 0)),
		ox.Node("Gemm", "fc", []string{"pooled", "fc.weight"}, []string{"logits"}, ox.AttrInt("transB", 1)),
	}
	return one("token_input", "int64 token ids (a text model: embedding, mean, linear)", marshal(ox.NewModel(g, 17)))
}

// scalarInput is a model whose only input is a 0-d float (no batch axis):
// reshaped to 1×1 and fed to a linear layer.
func scalarInput() Model {
	g := &onnx.GraphProto{Name: "scalar"}
	g.Input = []*onnx.ValueInfoProto{ox.ValueInfo("x", ox.Float, []int64{})}
	g.Output = []*onnx.ValueInfoProto{ox.ValueInfo("logits", ox.Float, []int64{1, 3})}
	g.Initializer = []*onnx.TensorProto{
		ox.Int64Tensor("shape", []int64{2}, []int64{1, 1}),
		ox.Float32Tensor("fc.weight", []int64{3, 1}, []float32{0.5, -1, 2}),
	}
	g.Node = []*onnx.NodeProto{
		ox.Node("Reshape", "as_matrix", []string{"x", "shape"}, []string{"x2"}),
		ox.Node("Gemm", "fc", []string{"x2", "fc.weight"}, []string{"logits"}, ox.AttrInt("transB", 1)),
	}
	return one("scalar_input", "a 0-d float input (no batch axis) into a linear layer", marshal(ox.NewModel(g, 17)))
}

// ifNode puts an If between the pooling and the classifier: identity when
// the features sum to more than 0, negation otherwise.
func ifNode() Model {
	m := base()
	g := m.Graph()
	feat := ox.ValueInfo("flat", ox.Float, []int64{-1, 16}, "N")
	branch := func(name, op string) *onnx.GraphProto {
		out := ox.ValueInfo(name+".out", ox.Float, []int64{-1, 16}, "N")
		return &onnx.GraphProto{Name: name, Output: []*onnx.ValueInfoProto{out},
			Node: []*onnx.NodeProto{ox.Node(op, name+".node", []string{feat.GetName()}, []string{name + ".out"})}}
	}
	g.Initializer = append(g.Initializer, &onnx.TensorProto{Name: "zero_f", DataType: ox.Float, FloatData: []float32{0}})
	then := &onnx.AttributeProto{Name: "then_branch", Type: onnx.AttributeProto_GRAPH, G: branch("then", "Identity")}
	els := &onnx.AttributeProto{Name: "else_branch", Type: onnx.AttributeProto_GRAPH, G: branch("else", "Neg")}
	insertAfter(m, "flatten",
		ox.Node("ReduceSum", "total", []string{"flat"}, []string{"total"}, ox.AttrInt("keepdims", 0)),
		ox.Node("Greater", "positive", []string{"total", "zero_f"}, []string{"positive"}),
		ox.Node("If", "branch", []string{"positive"}, []string{"branched"}, then, els))
	// insertAfter rewired readers of "flat" to the If's output; the
	// ReduceSum must keep reading "flat".
	node(m, "total").Input[0] = "flat"
	node(m, "fc").Input[0] = "branched"
	return one("if_node", "an If node choosing between two branches from the data", marshal(m))
}

// loopNode runs the image through a Loop of 10^15 iterations before the
// network: any attempt to run it would hang.
func loopNode() Model {
	m := base()
	g := m.Graph()
	body := &onnx.GraphProto{
		Name: "body",
		Input: []*onnx.ValueInfoProto{
			ox.ValueInfo("iter", ox.Int64, []int64{}),
			ox.ValueInfo("cond_in", ox.Bool, []int64{}),
			ox.ValueInfo("x_in", ox.Float, []int64{-1, 3, 8, 8}, "N"),
		},
		Output: []*onnx.ValueInfoProto{
			ox.ValueInfo("cond_out", ox.Bool, []int64{}),
			ox.ValueInfo("x_out", ox.Float, []int64{-1, 3, 8, 8}, "N"),
		},
		Node: []*onnx.NodeProto{
			ox.Node("Identity", "keep_going", []string{"cond_in"}, []string{"cond_out"}),
			ox.Node("Identity", "same", []string{"x_in"}, []string{"x_out"}),
		},
	}
	g.Initializer = append(g.Initializer,
		ox.Int64Tensor("trips", nil, []int64{1e15}),
		&onnx.TensorProto{Name: "always", DataType: ox.Bool, Int32Data: []int32{1}})
	loop := ox.Node("Loop", "forever", []string{"trips", "always", "input"}, []string{"looped"},
		&onnx.AttributeProto{Name: "body", Type: onnx.AttributeProto_GRAPH, G: body})
	g.Node = append([]*onnx.NodeProto{loop}, g.Node...)
	node(m, "conv1").Input[0] = "looped"
	return one("loop_node", "a Loop of 10^15 iterations before the network (running it would hang)", marshal(m))
}

// README is the corpus's README.md.
func README(ms []Model) []byte {
	var b strings.Builder
	b.WriteString("# Bad-model corpus\n\n")
	b.WriteString("Models as users should not, but do, hand zerocost. Written by `go run ./internal/cmd/badinputs`\n")
	b.WriteString("(package `internal/badinputs`); do not edit by hand. `cmd/zerocost`'s `TestBadModels` scores each\n")
	b.WriteString("one and checks that it gives a clear error or a result, never a panic or a hang, and that `rank` over\n")
	b.WriteString("this folder records every one. All start from `zoo.TinyCNN` with an N×3×8×8 input.\n\n")
	b.WriteString("| file | what is wrong |\n| --- | --- |\n")
	for _, m := range ms {
		b.WriteString("| `" + m.Name + ".onnx` | " + m.About + " |\n")
	}
	return []byte(b.String())
}
