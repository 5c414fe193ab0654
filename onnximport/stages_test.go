package onnximport_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/zoo"
)

// producerOf strips the "/N" that zoo's NAS-Bench-201 builder appends to a
// node's name to name its output.
func producerOf(tensor string) string {
	if i := strings.LastIndex(tensor, "/"); i > 0 {
		return tensor[:i]
	}
	return tensor
}

// withoutDeclaredStages returns m without its StagesKey metadata, so that
// Stages finds the dominators.
func withoutDeclaredStages(m *ox.Model) *ox.Model {
	out := m.Clone()
	var keep []*onnx.StringStringEntryProto
	for _, p := range out.Proto.GetMetadataProps() {
		if p.GetKey() != ox.StagesKey {
			keep = append(keep, p)
		}
	}
	out.Proto.MetadataProps = keep
	return out
}

// TestStagesOfNB201 checks that the stage tensors of NAS-Bench-201 networks
// whose cells end in a sum of two or more edges are exactly the stem output
// and the 17 cell and reduction outputs, in order, both as the dominators
// find them and as zoo declares them.
func TestStagesOfNB201(t *testing.T) {
	var want []string
	want = append(want, "stem.1")
	for k := range 17 {
		if k == 5 || k == 11 {
			want = append(want, fmt.Sprintf("cells.%d.add", k))
		} else {
			want = append(want, fmt.Sprintf("cells.%d.sum", k))
		}
	}
	for i, arch := range []string{
		"|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
		"|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
		"|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|none~0|nor_conv_1x1~1|avg_pool_3x3~2|",
		"|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|nor_conv_1x1~2|",
		"|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
	} {
		declared, err := zoo.NB201(arch, zoo.NB201Options{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []*ox.Model{declared, withoutDeclaredStages(declared)} {
			st, err := m.Stages("")
			if err != nil {
				t.Fatalf("case %d: %v", i, err)
			}
			var got []string
			for _, s := range st.Tensors {
				got = append(got, producerOf(s))
			}
			if st.Fallback || strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("case %d (%s, declared %v): want %v, got %v (fallback %v)", i, arch, st.Declared, want, got, st.Fallback)
			}
		}
	}
}

// TestDeclaredStagesOfNB201 checks the stages zoo declares where the
// dominators differ: a cell whose output is one edge is a stage (as in
// AZ-NAS), and a cell that passes its input through repeats the tensor
// before it.
func TestDeclaredStagesOfNB201(t *testing.T) {
	for i, c := range []struct {
		arch string
		want []string // producers of stages 1..5 (the first stage's cells)
	}{
		{"|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|nor_conv_3x3~2|", []string{"cells.0.layers.5.op.2", "cells.1.layers.5.op.2", "cells.2.layers.5.op.2", "cells.3.layers.5.op.2", "cells.4.layers.5.op.2"}},
		{"|skip_connect~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|", []string{"stem.1", "stem.1", "stem.1", "stem.1", "stem.1"}},
		{"|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", []string{"cells.0.none", "cells.1.none", "cells.2.none", "cells.3.none", "cells.4.none"}},
	} {
		m, err := zoo.NB201(c.arch, zoo.NB201Options{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		st, err := m.Stages("")
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		var got []string
		for _, s := range st.Tensors {
			got = append(got, producerOf(s))
		}
		if !st.Declared || len(got) != 18 || got[0] != "stem.1" || strings.Join(got[1:6], " ") != strings.Join(c.want, " ") || got[6] != "cells.5.add" || got[12] != "cells.11.add" {
			t.Errorf("case %d (%s): want 18 declared stages, stem.1 %v cells.5.add …, got %v (declared %v)", i, c.arch, c.want, got, st.Declared)
		}
	}
}

// TestStagesOfAChainCell checks the documented edge of the dominators
// (without the stages zoo declares): a cell whose output node has one edge
// is a chain step: only the stem and the two reductions end blocks.
func TestStagesOfAChainCell(t *testing.T) {
	m, err := zoo.NB201("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|nor_conv_3x3~2|", zoo.NB201Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	st, err := withoutDeclaredStages(m).Stages("")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range st.Tensors {
		got = append(got, producerOf(s))
	}
	want := "stem.1 cells.5.add cells.11.add"
	if strings.Join(got, " ") != want {
		t.Errorf("want %s, got %v", want, got)
	}
}

// TestStagesFallBackToRelus checks the fallback of a plain chain (no block
// of parallel paths): the Relu outputs, in order, said so in Why.
func TestStagesFallBackToRelus(t *testing.T) {
	g := &onnx.GraphProto{Name: "chain"}
	g.Input = []*onnx.ValueInfoProto{ox.ValueInfo("x", ox.Float, []int64{-1, 4}, "N")}
	g.Output = []*onnx.ValueInfoProto{ox.ValueInfo("y", ox.Float, []int64{-1, 4}, "N")}
	g.Initializer = []*onnx.TensorProto{ox.Float32Tensor("w1", []int64{4, 4}, make([]float32, 16)), ox.Float32Tensor("w2", []int64{4, 4}, make([]float32, 16))}
	g.Node = []*onnx.NodeProto{
		ox.Node("MatMul", "mm1", []string{"x", "w1"}, []string{"a"}),
		ox.Node("Relu", "r1", []string{"a"}, []string{"b"}),
		ox.Node("MatMul", "mm2", []string{"b", "w2"}, []string{"c"}),
		ox.Node("Relu", "r2", []string{"c"}, []string{"y"}),
	}
	st, err := ox.NewModel(g, 17).Stages("")
	if err != nil {
		t.Fatal(err)
	}
	if !st.Fallback || strings.Join(st.Tensors, " ") != "b y" || !strings.Contains(st.Why, "plain chain") {
		t.Errorf("want the fallback to Relu outputs [b y], got %v (fallback %v, %q)", st.Tensors, st.Fallback, st.Why)
	}
}
