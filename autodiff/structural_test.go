package autodiff_test

import (
	"sort"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/engine"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
	"github.com/zerocost/zerocost/zoo"
)

func TestStructuralZerosOfNB201(t *testing.T) {
	// Node 1 is none(x) = 0, node 2 = avg_pool(node 1) = 0, so the conv on
	// edge 2→3 (layers.5) reads zeros; the conv on edge 0→3 (layers.3) is live.
	const arch = "|none~0|+|none~0|avg_pool_3x3~1|+|nor_conv_3x3~0|avg_pool_3x3~1|nor_conv_3x3~2|"
	cellBias := func(p string) bool { return strings.HasPrefix(p, "cells.") && strings.HasSuffix(p, ".op.1.bias") }
	deadConv := func(p string) bool { return strings.Contains(p, ".layers.5.op.1.weight") }
	runningStats := func(p string) bool { return strings.Contains(p, ".running_") }
	cases := []struct {
		variant string
		bn      autodiff.BNMode
		// want returns the words the reason must contain for a zero
		// gradient, "" for a gradient that is not zero by structure.
		want func(p string) string
	}{
		// Conv biases feed batch-statistics BN: cancelled. Running
		// statistics are not read in train mode.
		{"foresight", autodiff.BNTrain, func(p string) string {
			switch {
			case cellBias(p):
				return "cancelled by BatchNormalization"
			case deadConv(p):
				return "exactly zero"
			case runningStats(p):
				return "not read"
			}
			return ""
		}},
		// The foresight cells' BN has training_mode=1: batch statistics in
		// eval mode too. The other BNs read their running statistics.
		{"foresight", autodiff.BNEval, func(p string) string {
			switch {
			case cellBias(p):
				return "cancelled by BatchNormalization"
			case deadConv(p):
				return "exactly zero"
			}
			return ""
		}},
		// Without BN nothing cancels the biases.
		{"foresight", autodiff.BNRemove, func(p string) string {
			switch {
			case deadConv(p):
				return "exactly zero"
			case runningStats(p) || strings.HasSuffix(p, ".op.2.weight") || strings.HasSuffix(p, ".op.2.bias") || strings.HasPrefix(p, "stem.1.") || strings.HasPrefix(p, "lastact.0."):
				return "not read" // every BN is an Identity: none of its parameters is read
			}
			return ""
		}},
		// The benchmark's network: no conv biases; the dead conv's BN
		// normalises zeros, so its scale multiplies zeros (its shift is live).
		{"nb201", autodiff.BNTrain, func(p string) string {
			switch {
			case deadConv(p):
				return "exactly zero"
			case strings.Contains(p, ".layers.5.op.2.weight"):
				return "exactly zero"
			case runningStats(p):
				return "not read"
			}
			return ""
		}},
	}
	for _, c := range cases {
		fwd, got := nb201StructuralZeros(t, arch, c.variant, c.bn)
		var names []string
		for _, init := range fwd.Graph().GetInitializer() {
			if ox.IsFloat(init.GetDataType()) && !strings.HasPrefix(init.GetName(), "zerocost_") {
				names = append(names, init.GetName())
			}
		}
		names = append(names, "input")
		sort.Strings(names)
		zeros := 0
		for _, p := range names {
			want := c.want(p)
			reason, zero := got[p]
			switch {
			case want == "" && zero:
				t.Errorf("%s, bn %v: %s: zero by structure (%s), want not", c.variant, c.bn, p, reason)
			case want != "" && !zero:
				t.Errorf("%s, bn %v: %s: not found zero by structure, want %q", c.variant, c.bn, p, want)
			case want != "" && !strings.Contains(reason, want):
				t.Errorf("%s, bn %v: %s: reason %q, want it to say %q", c.variant, c.bn, p, reason, want)
			}
			if zero {
				zeros++
			}
		}
		if zeros == 0 {
			t.Errorf("%s, bn %v: no structural zero found", c.variant, c.bn)
		}
	}
}

// nb201StructuralZeros builds a NAS-Bench-201 network at 8×8, normalised
// with bn, and returns it with its structural zeros.
func nb201StructuralZeros(t *testing.T, arch, variant string, bn autodiff.BNMode) (*ox.Model, map[string]string) {
	t.Helper()
	m, err := zoo.NB201(arch, zoo.NB201Options{Variant: variant})
	if err != nil {
		t.Fatal(err)
	}
	fwd, err := autodiff.Normalize(m, bn)
	if err != nil {
		t.Fatal(err)
	}
	shapes, err := engine.ShapeFinder([]int64{3, 8, 8}, runtime.SessionOptions{})(fwd)
	if err != nil {
		t.Fatal(err)
	}
	return fwd, autodiff.StructuralZeros(fwd, shapes)
}

// TestStructuralZerosOfSmallGraphs covers the ways a change can be
// cancelled or not. Every graph reads x (2×4×5) and outputs y.
func TestStructuralZerosOfSmallGraphs(t *testing.T) {
	type node struct {
		op      string
		in, out []string
		attrs   []ox.Attr
	}
	cases := []struct {
		name  string
		inits map[string][]int64 // float initializers (all 0.5) and their shapes
		zeros []string           // scalar initializers holding 0
		nodes []node
		want  map[string]string // tensor → words of its reason; no other tensor may be listed
	}{
		{
			// A per-channel bias [4,1] added before a mean subtraction over
			// axes 0 and 2: cancelled. A per-position term [5] varies along
			// axis 2: kept.
			name:  "per-channel bias before mean subtraction",
			inits: map[string][]int64{"b": {4, 1}, "p": {5}, "s": {4, 1}},
			nodes: []node{
				{"Add", []string{"x", "b"}, []string{"xb"}, nil},
				{"Add", []string{"xb", "p"}, []string{"xp"}, nil},
				{"ReduceMean", []string{"xp"}, []string{"m"}, []ox.Attr{ox.AttrInts("axes", 0, 2)}},
				{"Sub", []string{"xp", "m"}, []string{"c"}, nil},
				{"Mul", []string{"c", "s"}, []string{"y"}, nil},
			},
			want: map[string]string{"b": "mean subtraction"},
		},
		{
			// The mean is used elsewhere too: nothing cancels.
			name:  "mean used twice",
			inits: map[string][]int64{"b": {4, 1}},
			nodes: []node{
				{"Add", []string{"x", "b"}, []string{"xb"}, nil},
				{"ReduceMean", []string{"xb"}, []string{"m"}, []ox.Attr{ox.AttrInts("axes", 0, 2)}},
				{"Sub", []string{"xb", "m"}, []string{"c"}, nil},
				{"Add", []string{"c", "m"}, []string{"y"}, nil},
			},
			want: map[string]string{},
		},
		{
			// A ReLU between the bias and the subtraction: the bias matters.
			name:  "nonlinearity in between",
			inits: map[string][]int64{"b": {4, 1}},
			nodes: []node{
				{"Add", []string{"x", "b"}, []string{"xb"}, nil},
				{"Relu", []string{"xb"}, []string{"r"}, nil},
				{"ReduceMean", []string{"r"}, []string{"m"}, []ox.Attr{ox.AttrInts("axes", 0, 2)}},
				{"Sub", []string{"r", "m"}, []string{"y"}, nil},
			},
			want: map[string]string{},
		},
		{
			// Through a per-channel scale and a transpose (N×C×L → N×L×C),
			// then the mean over axes 0 and 1 of the transposed tensor.
			name:  "scale and transpose",
			inits: map[string][]int64{"b": {4, 1}, "s": {4, 1}},
			nodes: []node{
				{"Add", []string{"x", "b"}, []string{"xb"}, nil},
				{"Mul", []string{"xb", "s"}, []string{"xs"}, nil},
				{"Transpose", []string{"xs"}, []string{"xt"}, []ox.Attr{ox.AttrInts("perm", 0, 2, 1)}},
				{"ReduceMean", []string{"xt"}, []string{"m"}, []ox.Attr{ox.AttrInts("axes", 0, 1)}},
				{"Sub", []string{"xt", "m"}, []string{"y"}, nil},
			},
			want: map[string]string{"b": "mean subtraction"},
		},
		{
			// A scale that varies along an averaged axis: the bias matters.
			name:  "scale varying along the mean's axes",
			inits: map[string][]int64{"b": {4, 1}, "s": {4, 5}},
			nodes: []node{
				{"Add", []string{"x", "b"}, []string{"xb"}, nil},
				{"Mul", []string{"xb", "s"}, []string{"xs"}, nil},
				{"ReduceMean", []string{"xs"}, []string{"m"}, []ox.Attr{ox.AttrInts("axes", 0, 2)}},
				{"Sub", []string{"xs", "m"}, []string{"y"}, nil},
			},
			want: map[string]string{},
		},
		{
			// Through a reshape that merges the last two axes of x·k
			// (2×4×5 → 2×20): the mean over axis 1 cancels a constant
			// along axes 1 and 2 of the original, a scalar added before.
			name:  "reshape",
			inits: map[string][]int64{"c": {}, "k": {4, 1}},
			nodes: []node{
				{"Add", []string{"x", "c"}, []string{"xc"}, nil},
				{"Mul", []string{"xc", "k"}, []string{"xk"}, nil},
				{"Reshape", []string{"xk", "shape"}, []string{"r"}, nil},
				{"ReduceMean", []string{"r"}, []string{"m"}, []ox.Attr{ox.AttrInts("axes", 1)}},
				{"Sub", []string{"r", "m"}, []string{"y"}, nil},
			},
			// c·k varies along axis 1 (k is per channel): not cancelled.
			want: map[string]string{},
		},
		{
			// The same without the scale: a scalar is cancelled.
			name:  "reshape without scale",
			inits: map[string][]int64{"c": {}},
			nodes: []node{
				{"Add", []string{"x", "c"}, []string{"xc"}, nil},
				{"Reshape", []string{"xc", "shape"}, []string{"r"}, nil},
				{"ReduceMean", []string{"r"}, []string{"m"}, []ox.Attr{ox.AttrInts("axes", 1)}},
				{"Sub", []string{"r", "m"}, []string{"y"}, nil},
			},
			want: map[string]string{"c": "mean subtraction"},
		},
		{
			// Concatenated along the channel axis, which the mean keeps:
			// cancelled.
			name:  "concat along a kept axis",
			inits: map[string][]int64{"b": {4, 1}},
			nodes: []node{
				{"Add", []string{"x", "b"}, []string{"xb"}, nil},
				{"Concat", []string{"xb", "x"}, []string{"xx"}, []ox.Attr{ox.AttrInt("axis", 1)}},
				{"ReduceMean", []string{"xx"}, []string{"m"}, []ox.Attr{ox.AttrInts("axes", 0, 2)}},
				{"Sub", []string{"xx", "m"}, []string{"y"}, nil},
			},
			want: map[string]string{"b": "mean subtraction"},
		},
		{
			// Concatenated along an averaged axis: only half of the values
			// move, the mean does not cancel it.
			name:  "concat along an averaged axis",
			inits: map[string][]int64{"b": {4, 1}},
			nodes: []node{
				{"Add", []string{"x", "b"}, []string{"xb"}, nil},
				{"Concat", []string{"xb", "x"}, []string{"xx"}, []ox.Attr{ox.AttrInt("axis", 2)}},
				{"ReduceMean", []string{"xx"}, []string{"m"}, []ox.Attr{ox.AttrInts("axes", 0, 2)}},
				{"Sub", []string{"xx", "m"}, []string{"y"}, nil},
			},
			want: map[string]string{},
		},
		{
			// Multiplication by zero, a weight whose data input is zero, and
			// a tensor nobody reads. z itself has a gradient (Σ x·dy).
			name:  "zeros and unread",
			inits: map[string][]int64{"w": {5, 3}, "u": {3}, "k": {4, 1}},
			zeros: []string{"z"},
			nodes: []node{
				{"Mul", []string{"x", "z"}, []string{"x0"}, nil},
				{"MatMul", []string{"x0", "w"}, []string{"h"}, nil},
				{"Mul", []string{"x", "k"}, []string{"xk"}, nil},
				{"ReduceMean", []string{"h"}, []string{"hm"}, []ox.Attr{ox.AttrInts("axes", 2), ox.AttrInt("keepdims", 1)}},
				{"Sum", []string{"xk", "x0"}, []string{"y0"}, nil},
				{"Add", []string{"y0", "hm"}, []string{"y"}, nil},
			},
			want: map[string]string{"w": "exactly zero", "u": "not read"},
		},
	}
	for _, c := range cases {
		g := &onnx.GraphProto{
			Name:   "case",
			Input:  []*onnx.ValueInfoProto{ox.ValueInfo("x", ox.Float, []int64{2, 4, 5})},
			Output: []*onnx.ValueInfoProto{ox.ValueInfo("y", ox.Float, nil)},
		}
		var names []string
		for name := range c.inits {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			dims := c.inits[name]
			v := make([]float32, ox.NumElements(dims))
			for i := range v {
				v[i] = 0.5
			}
			g.Initializer = append(g.Initializer, ox.Float32Tensor(name, dims, v))
		}
		for _, z := range c.zeros {
			g.Initializer = append(g.Initializer, ox.Float32Tensor(z, nil, []float32{0}))
		}
		g.Initializer = append(g.Initializer, ox.Int64Tensor("shape", []int64{2}, []int64{2, 20}))
		for _, n := range c.nodes {
			g.Node = append(g.Node, ox.Node(n.op, "", n.in, n.out, n.attrs...))
		}
		m := ox.NewModel(g, 17)
		m.NameNodes()
		shapes, err := engine.ShapeFinder(nil, runtime.SessionOptions{})(m)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := autodiff.StructuralZeros(m, shapes)
		for name, words := range c.want {
			if reason, ok := got[name]; !ok || !strings.Contains(reason, words) {
				t.Errorf("%s: %s: got %q (listed %v), want a reason with %q", c.name, name, reason, ok, words)
			}
		}
		for name, reason := range got {
			if _, ok := c.want[name]; !ok {
				t.Errorf("%s: %s listed as zero by structure (%s), want not", c.name, name, reason)
			}
		}
	}
}

// TestStructuralZerosThroughNormalize: the decompositions of Normalize
// are recognised. x is 2×4×3×3; a per-channel bias before batch-statistics
// BatchNormalization or InstanceNormalization is cancelled, not before
// inference-form BN (eval mode); before LayerNormalization over the last
// axis a scalar is cancelled, a per-position term is not.
func TestStructuralZerosThroughNormalize(t *testing.T) {
	ones := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = 1
		}
		return v
	}
	norm := map[string]func() []*onnx.NodeProto{
		"BatchNormalization": func() []*onnx.NodeProto {
			return []*onnx.NodeProto{ox.Node("BatchNormalization", "bn", []string{"xb", "g", "beta", "mean", "var"}, []string{"y"})}
		},
		"InstanceNormalization": func() []*onnx.NodeProto {
			return []*onnx.NodeProto{ox.Node("InstanceNormalization", "in", []string{"xb", "g", "beta"}, []string{"y"})}
		},
		"LayerNormalization": func() []*onnx.NodeProto {
			return []*onnx.NodeProto{ox.Node("LayerNormalization", "ln", []string{"xb", "g3", "beta3"}, []string{"y"}, ox.AttrInt("axis", -1))}
		},
	}
	cases := []struct {
		norm string
		bn   autodiff.BNMode
		bias []int64 // shape of b in xb = x + b
		want string  // words of b's reason; "" for not zero
	}{
		{"BatchNormalization", autodiff.BNTrain, []int64{4, 1, 1}, "cancelled by BatchNormalization \"bn\""},
		{"BatchNormalization", autodiff.BNEval, []int64{4, 1, 1}, ""},
		{"BatchNormalization", autodiff.BNTrain, []int64{3, 3}, ""}, // varies over the averaged spatial axes
		{"InstanceNormalization", autodiff.BNTrain, []int64{4, 1, 1}, "mean subtraction over axes [2]"},
		{"LayerNormalization", autodiff.BNTrain, []int64{1}, "mean subtraction"},
		{"LayerNormalization", autodiff.BNTrain, []int64{3}, ""},
	}
	for _, c := range cases {
		g := &onnx.GraphProto{
			Name:   "case",
			Input:  []*onnx.ValueInfoProto{ox.ValueInfo("x", ox.Float, []int64{2, 4, 3, 3})},
			Output: []*onnx.ValueInfoProto{ox.ValueInfo("y", ox.Float, nil)},
			Initializer: []*onnx.TensorProto{
				ox.Float32Tensor("b", c.bias, ones(ox.NumElements(c.bias))),
				ox.Float32Tensor("g", []int64{4}, ones(4)), ox.Float32Tensor("beta", []int64{4}, ones(4)),
				ox.Float32Tensor("mean", []int64{4}, ones(4)), ox.Float32Tensor("var", []int64{4}, ones(4)),
				ox.Float32Tensor("g3", []int64{3}, ones(3)), ox.Float32Tensor("beta3", []int64{3}, ones(3)),
			},
		}
		g.Node = append([]*onnx.NodeProto{ox.Node("Add", "add", []string{"x", "b"}, []string{"xb"})}, norm[c.norm]()...)
		fwd, err := autodiff.Normalize(ox.NewModel(g, 17), c.bn)
		if err != nil {
			t.Fatal(err)
		}
		shapes, err := engine.ShapeFinder(nil, runtime.SessionOptions{})(fwd)
		if err != nil {
			t.Fatalf("%s %v: %v", c.norm, c.bias, err)
		}
		reason, zero := autodiff.StructuralZeros(fwd, shapes)["b"]
		if c.want == "" && zero || c.want != "" && !strings.Contains(reason, c.want) {
			t.Errorf("%s (bn %v), bias %v: zero %v (%q), want %q", c.norm, c.bn, c.bias, zero, reason, c.want)
		}
	}
}

// A convolution edge whose cell node leads nowhere (node 1 feeds only
// node 2, and node 2 nothing): its weight and both BN parameters do not
// reach the output, although the weight's train-mode BN centres it (the
// centred tensor is ignored, so the centring cancels everything); the conv
// on edge 0→3 stays live.
func TestStructuralZerosOfADeadEndEdge(t *testing.T) {
	_, got := nb201StructuralZeros(t, "|nor_conv_1x1~0|+|avg_pool_3x3~0|skip_connect~1|+|nor_conv_1x1~0|none~1|none~2|", "nb201", autodiff.BNTrain)
	for _, p := range []string{"cells.0.layers.0.op.1.weight", "cells.0.layers.0.op.2.weight", "cells.0.layers.0.op.2.bias"} {
		if reason, zero := got[p]; !zero || !strings.Contains(reason, "does not reach") {
			t.Errorf("%s: want zero by structure (does not reach the outputs), got %v %q", p, zero, reason)
		}
	}
	for _, p := range []string{"cells.0.layers.3.op.1.weight", "cells.0.layers.3.op.2.weight", "cells.0.layers.3.op.2.bias"} {
		if reason, zero := got[p]; zero {
			t.Errorf("%s: live, found zero by structure (%s)", p, reason)
		}
	}
}
