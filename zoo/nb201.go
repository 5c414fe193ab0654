package zoo

import (
	"fmt"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ox "github.com/zerocost/zerocost/onnximport"
)

// NB201Ops are the candidate operations of a NAS-Bench-201 cell edge.
var NB201Ops = []string{"none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"}

// NB201Edge is one edge of a cell: an op applied to an earlier node.
type NB201Edge struct {
	Op   string
	From int
}

// ParseNB201 parses an architecture string
// "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|" into the incoming edges of nodes 1..3.
func ParseNB201(arch string) ([][]NB201Edge, error) {
	parts := strings.Split(arch, "+")
	if len(parts) != 3 {
		return nil, fmt.Errorf("zoo: NAS-Bench-201 architecture %q: want 3 nodes separated by +, got %d", arch, len(parts))
	}
	var nodes [][]NB201Edge
	for j, part := range parts {
		var edges []NB201Edge
		for _, e := range strings.Split(strings.Trim(part, "|"), "|") {
			op, from, ok := strings.Cut(e, "~")
			var src int
			if _, err := fmt.Sscanf(from, "%d", &src); !ok || err != nil {
				return nil, fmt.Errorf("zoo: NAS-Bench-201 architecture %q: bad edge %q (want op~input)", arch, e)
			}
			valid := false
			for _, o := range NB201Ops {
				valid = valid || o == op
			}
			if !valid {
				return nil, fmt.Errorf("zoo: NAS-Bench-201 architecture %q: unknown op %q (ops: %s)", arch, op, strings.Join(NB201Ops, ", "))
			}
			edges = append(edges, NB201Edge{Op: op, From: src})
		}
		if len(edges) != j+1 {
			return nil, fmt.Errorf("zoo: NAS-Bench-201 architecture %q: node %d has %d edges, want %d", arch, j+1, len(edges), j+1)
		}
		for i, e := range edges {
			if e.From != i {
				return nil, fmt.Errorf("zoo: NAS-Bench-201 architecture %q: node %d edge %d reads node %d, want %d", arch, j+1, i, e.From, i)
			}
		}
		nodes = append(nodes, edges)
	}
	return nodes, nil
}

// NB201Options configure NB201.
type NB201Options struct {
	Classes int    // default 10
	Seed    uint64 // weight initialisation
	Index   int    // benchmark index stored in the metadata (-1: unknown)
	// Variant is "nb201" (default: the benchmark's network) or "foresight"
	// (the zero-cost reference's re-implementation: inside the cells, convs
	// with a bias and BatchNormalization without affine parameters or
	// running statistics, so it always normalises with batch statistics).
	Variant string
}

// NB201InputShape is the size of one NAS-Bench-201 sample (CIFAR's
// 3×32×32), recorded in every network NB201 builds.
var NB201InputShape = []int64{3, 32, 32}

// NB201Variants are the values of NB201Options.Variant.
var NB201Variants = []string{"nb201", "foresight"}

// nb201Builder emits the network's nodes and PyTorch-named initializers.
type nb201Builder struct {
	g         *onnx.GraphProto
	init      *initializer
	n         int
	foresight bool
}

func (b *nb201Builder) tensor(prefix string) string {
	b.n++
	return fmt.Sprintf("%s/%d", prefix, b.n)
}

func (b *nb201Builder) node(op, name string, in []string, attrs ...ox.Attr) string {
	out := b.tensor(name)
	b.g.Node = append(b.g.Node, ox.Node(op, out, in, []string{out}, attrs...))
	return out
}

// conv adds a bias-free convolution with PyTorch's default initialisation.
func (b *nb201Builder) conv(name, x string, cin, cout, k, stride, pad int64) string {
	w := name + ".weight"
	fanIn := int(cin * k * k)
	b.g.Initializer = append(b.g.Initializer, ox.Float32Tensor(w, []int64{cout, cin, k, k}, b.init.kaiming(int(cout)*fanIn, fanIn)))
	return b.node("Conv", name, []string{x, w}, ox.AttrInts("kernel_shape", k, k), ox.AttrInts("strides", stride, stride), ox.AttrInts("pads", pad, pad, pad, pad))
}

// convBias adds a convolution with a bias, both initialised like PyTorch's
// default (bias uniform in ±1/sqrt(fan_in)).
func (b *nb201Builder) convBias(name, x string, cin, cout, k int64) string {
	w, bias := name+".weight", name+".bias"
	fanIn := int(cin * k * k)
	b.g.Initializer = append(b.g.Initializer,
		ox.Float32Tensor(w, []int64{cout, cin, k, k}, b.init.kaiming(int(cout)*fanIn, fanIn)),
		ox.Float32Tensor(bias, []int64{cout}, b.init.uniform(int(cout), 1/sqrtf(float64(fanIn)))))
	pad := (k - 1) / 2
	return b.node("Conv", name, []string{x, w, bias}, ox.AttrInts("kernel_shape", k, k), ox.AttrInts("strides", 1, 1), ox.AttrInts("pads", pad, pad, pad, pad))
}

// batchStatsBN adds BatchNorm2d(affine=False, track_running_stats=False):
// a BatchNormalization in training mode (batch statistics in every mode)
// whose unit scale, zero shift and placeholder statistics are constants
// (zerocost_ names: not parameters), shared by every layer of c channels.
func (b *nb201Builder) batchStatsBN(name, x string, c int64) string {
	ones, zeros := fmt.Sprintf("zerocost_nb201/ones_%d", c), fmt.Sprintf("zerocost_nb201/zeros_%d", c)
	if !hasInit(b.g, ones) {
		b.g.Initializer = append(b.g.Initializer,
			ox.Float32Tensor(ones, []int64{c}, constant(int(c), 1)),
			ox.Float32Tensor(zeros, []int64{c}, constant(int(c), 0)))
	}
	return b.node("BatchNormalization", name, []string{x, ones, zeros, zeros, ones}, ox.AttrFloat("epsilon", 1e-5), ox.AttrInt("training_mode", 1))
}

// bn adds an affine BatchNormalization with PyTorch's initial values.
func (b *nb201Builder) bn(name, x string, c int64) string {
	for _, p := range []struct {
		suffix string
		v      float32
	}{{"weight", 1}, {"bias", 0}, {"running_mean", 0}, {"running_var", 1}} {
		b.g.Initializer = append(b.g.Initializer, ox.Float32Tensor(name+"."+p.suffix, []int64{c}, constant(int(c), p.v)))
	}
	return b.node("BatchNormalization", name, []string{x, name + ".weight", name + ".bias", name + ".running_mean", name + ".running_var"}, ox.AttrFloat("epsilon", 1e-5))
}

// reluConvBN is NAS-Bench-201's ReLU → Conv → BN.
func (b *nb201Builder) reluConvBN(name, x string, cin, cout, k, stride, pad int64) string {
	r := b.node("Relu", name+".op.0", []string{x})
	c := b.conv(name+".op.1", r, cin, cout, k, stride, pad)
	return b.bn(name+".op.2", c, cout)
}

// cellConv is a cell's ReLU → Conv → BN: the benchmark's, or the foresight
// variant's conv with bias and affine-free batch-statistics BN.
func (b *nb201Builder) cellConv(name, x string, c, k int64) string {
	if !b.foresight {
		return b.reluConvBN(name, x, c, c, k, 1, (k-1)/2)
	}
	r := b.node("Relu", name+".op.0", []string{x})
	return b.batchStatsBN(name+".op.2", b.convBias(name+".op.1", r, c, c, k), c)
}

// NB201 builds the NAS-Bench-201 network of an architecture string: the
// benchmark's macro-architecture with C = 16 and N = 5 (3×3 stem conv + BN;
// three stages of five cells at 16, 32 and 64 channels with a ResNet basic
// reduction block between stages; BN, ReLU, global average pooling and a
// linear classifier), cells of 4 nodes and 6 edges with ReLU-Conv-BN
// convolutions (affine BN, no conv bias) and average pools that do not
// count padding. Initializers are named like the PyTorch module's
// state_dict; weights are drawn like PyTorch's default initialisation from
// Seed. The input "input" is N×3×H×W and the output "logits" N×Classes.
// N, H and W stay dynamic (the network is fully convolutional up to its
// global pooling, and ImageNet16-120 runs it at 16×16); the benchmark's
// CIFAR size, 3×32×32, is recorded as the natural input size
// (onnximport.InputShapeKey), which scoring uses when given no shape.
func NB201(arch string, opts NB201Options) (*ox.Model, error) {
	cells, err := ParseNB201(arch)
	if err != nil {
		return nil, err
	}
	classes := int64(opts.Classes)
	if classes <= 0 {
		classes = 10
	}
	variant := opts.Variant
	if variant == "" {
		variant = "nb201"
	}
	if variant != "nb201" && variant != "foresight" {
		return nil, fmt.Errorf("zoo: NAS-Bench-201 variant %q: want one of %s", variant, strings.Join(NB201Variants, ", "))
	}
	b := &nb201Builder{g: &onnx.GraphProto{Name: "nas_bench_201"}, init: newInitializer(opts.Seed), foresight: variant == "foresight"}
	b.g.Input = []*onnx.ValueInfoProto{ox.ValueInfo("input", ox.Float, []int64{-1, 3, -1, -1}, "N", "", "H", "W")}
	b.g.Output = []*onnx.ValueInfoProto{ox.ValueInfo("logits", ox.Float, []int64{-1, classes}, "N")}
	const c0, n = 16, 5
	h := b.bn("stem.1", b.conv("stem.0", "input", 3, c0, 3, 1, 1), c0)
	stages := []string{h}
	cin := int64(c0)
	idx := 0
	for stage := 0; stage < 3; stage++ {
		c := int64(c0) << stage
		if stage > 0 {
			name := fmt.Sprintf("cells.%d", idx)
			a := b.reluConvBN(name+".conv_a", h, cin, c, 3, 2, 1)
			bb := b.reluConvBN(name+".conv_b", a, c, c, 3, 1, 1)
			pool := b.node("AveragePool", name+".downsample.0", []string{h}, ox.AttrInts("kernel_shape", 2, 2), ox.AttrInts("strides", 2, 2))
			ds := b.conv(name+".downsample.1", pool, cin, c, 1, 1, 0)
			h = b.node("Add", name+".add", []string{ds, bb})
			stages = append(stages, h)
			idx++
		}
		for k := 0; k < n; k++ {
			h = b.cell(fmt.Sprintf("cells.%d", idx), h, cells, c)
			stages = append(stages, h)
			idx++
		}
		cin = c
	}
	h = b.node("Relu", "lastact.1", []string{b.bn("lastact.0", h, cin)})
	h = b.node("GlobalAveragePool", "global_pooling", []string{h})
	h = b.node("Flatten", "flatten", []string{h}, ox.AttrInt("axis", 1))
	fanIn := int(cin)
	b.g.Initializer = append(b.g.Initializer,
		ox.Float32Tensor("classifier.weight", []int64{classes, cin}, b.init.kaiming(int(classes)*fanIn, fanIn)),
		ox.Float32Tensor("classifier.bias", []int64{classes}, b.init.uniform(int(classes), 1/sqrtf(float64(fanIn)))))
	b.g.Node = append(b.g.Node, ox.Node("Gemm", "classifier", []string{h, "classifier.weight", "classifier.bias"}, []string{"logits"}, ox.AttrInt("transB", 1)))
	m := ox.NewModel(b.g, 17)
	m.Proto.DocString = "NAS-Bench-201 network built by zerocost"
	m.Proto.MetadataProps = []*onnx.StringStringEntryProto{{Key: "nb201_arch", Value: arch}, {Key: "nb201_index", Value: fmt.Sprint(opts.Index)}, {Key: "nb201_variant", Value: variant}}
	m.SetNaturalInputShape(NB201InputShape)
	m.SetMetadata(ox.StagesKey, strings.Join(stages, ","))
	return m, nil
}

// cell emits one NAS-Bench-201 cell: node j = Σ_i op_{j,i}(node i).
func (b *nb201Builder) cell(name, x string, nodes [][]NB201Edge, c int64) string {
	vals := []string{x}
	layer := 0
	for _, edges := range nodes {
		var terms []string
		for _, e := range edges {
			lname := fmt.Sprintf("%s.layers.%d", name, layer)
			layer++
			in := vals[e.From]
			switch e.Op {
			case "none":
				continue // x·0 adds nothing; a node whose edges are all none is zero
			case "skip_connect":
				terms = append(terms, in)
			case "nor_conv_1x1":
				terms = append(terms, b.cellConv(lname, in, c, 1))
			case "nor_conv_3x3":
				terms = append(terms, b.cellConv(lname, in, c, 3))
			case "avg_pool_3x3":
				terms = append(terms, b.node("AveragePool", lname, []string{in}, ox.AttrInts("kernel_shape", 3, 3), ox.AttrInts("strides", 1, 1), ox.AttrInts("pads", 1, 1, 1, 1), ox.AttrInt("count_include_pad", 0)))
			}
		}
		switch len(terms) {
		case 0:
			zero := name + ".zero"
			if !hasInit(b.g, zero) {
				b.g.Initializer = append(b.g.Initializer, ox.Float32Tensor(zero, nil, []float32{0}))
			}
			vals = append(vals, b.node("Mul", name+".none", []string{x, zero}))
		case 1:
			vals = append(vals, terms[0])
		default:
			vals = append(vals, b.node("Sum", name+".sum", terms))
		}
	}
	return vals[len(vals)-1]
}

func hasInit(g *onnx.GraphProto, name string) bool {
	for _, t := range g.GetInitializer() {
		if t.GetName() == name {
			return true
		}
	}
	return false
}

// RandomNB201Arch draws an architecture string uniformly from the 5^6 cells.
func RandomNB201Arch(rng interface{ IntN(int) int }) string {
	var b strings.Builder
	for node := 1; node <= 3; node++ {
		if node > 1 {
			b.WriteByte('+')
		}
		b.WriteByte('|')
		for from := 0; from < node; from++ {
			fmt.Fprintf(&b, "%s~%d|", NB201Ops[rng.IntN(len(NB201Ops))], from)
		}
	}
	return b.String()
}
