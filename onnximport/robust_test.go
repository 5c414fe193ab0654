package onnximport_test

import (
	"math"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/zoo"
)

func TestNumElementsSaturates(t *testing.T) {
	for i, c := range []struct {
		dims []int64
		want int
	}{
		{nil, 1},
		{[]int64{2, 3, 4}, 24},
		{[]int64{1e9, 1e9, 1e9}, math.MaxInt},
		{[]int64{1e9, 1e9, 1e9, 0}, 0},
		{[]int64{4, -1}, -1},
	} {
		if got := ox.NumElements(c.dims); got != c.want {
			t.Errorf("case %d %v: want %d, got %d", i, c.dims, c.want, got)
		}
	}
}

// TestCheckRefusesBadAttributes covers the attributes that crash ONNX
// Runtime's CPU kernels (a floating-point exception ends the process) and
// the initializer shapes that cannot be right.
func TestCheckRefusesBadAttributes(t *testing.T) {
	for i, c := range []struct {
		edit func(m *ox.Model)
		want string
	}{
		{func(m *ox.Model) { setInts(m, "conv2", "strides", 0, 0) }, `node "conv2" (Conv) has strides [0 0]`},
		{func(m *ox.Model) { setInts(m, "conv1", "pads", -1, 0, 0, 0) }, `has pads [-1 0 0 0]`},
		{func(m *ox.Model) { setInts(m, "conv1", "kernel_shape", 3, 0) }, `has kernel_shape [3 0]`},
		{func(m *ox.Model) { setInts(m, "conv1", "dilations", 1, 1<<40) }, `has dilations [1 1099511627776]`},
		{func(m *ox.Model) {
			m.Graph().Node[0].Attribute = append(m.Graph().Node[0].Attribute, ox.AttrInt("group", 0))
		}, `has group 0`},
		{func(m *ox.Model) {
			g := m.Graph()
			g.Initializer = append(g.Initializer, ox.Int64Tensor("zero", []int64{1}, []int64{0}), ox.Int64Tensor("two", []int64{1}, []int64{2}))
			g.Node = append(g.Node, ox.Node("Div", "halve", []string{"two", "zero"}, []string{"half"}))
		}, `node "halve" (Div) divides integers by "zero", which holds 0`},
		{func(m *ox.Model) { m.Graph().Initializer[1].Dims = []int64{-8} }, `shape [-8], with a negative dimension`},
		{func(m *ox.Model) { m.Graph().Initializer[1].Dims = []int64{1e9, 1e9, 1e9} }, `element count overflows 64-bit integers`},
	} {
		m := zoo.TinyCNN(1, 10)
		c.edit(m)
		data, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		_, err = ox.Parse(data, "")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("case %d: want an error containing %q, got %v", i, c.want, err)
		}
	}
	// A healthy model with the same operators passes, and so does a float
	// division by a constant 0 (it gives Inf, which is no crash).
	m := zoo.TinyCNN(1, 10)
	g := m.Graph()
	g.Initializer = append(g.Initializer, ox.Float32Tensor("zero", []int64{1}, []float32{0}))
	g.Node = append(g.Node, ox.Node("Div", "inf", []string{"logits", "zero"}, []string{"inf"}))
	data, _ := m.Marshal()
	if _, err := ox.Parse(data, ""); err != nil {
		t.Errorf("healthy model: %v", err)
	}
}

func setInts(m *ox.Model, node, attr string, v ...int64) {
	for _, n := range m.Graph().GetNode() {
		if n.GetName() != node {
			continue
		}
		for _, a := range n.Attribute {
			if a.GetName() == attr {
				a.Ints = v
				return
			}
		}
		n.Attribute = append(n.Attribute, &onnx.AttributeProto{Name: attr, Type: onnx.AttributeProto_INTS, Ints: v})
	}
}
