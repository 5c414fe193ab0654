package onnximport

import (
	"fmt"
	"slices"
	"strings"
)

// Stages are the feature maps at the stage boundaries of a network, in
// topological order (AZ-NAS's f₀..f_L, Zen-NAS's last feature map).
type Stages struct {
	Tensors []string
	// Fallback is true when the graph has no branching block, so that the
	// stages are the outputs of its Relu nodes instead (Why says so).
	Fallback bool
	// Declared is true when the model lists its stages under StagesKey
	// (Why says so).
	Declared bool
	Why      string
}

// StagesKey is the metadata_props key under which a model may declare its
// stage tensors, comma-separated in topological order; a tensor may repeat
// (a NAS-Bench-201 cell that passes its input through unchanged has the
// same output tensor as the cell before). Stages returns the declared list
// instead of the dominators. zoo's NAS-Bench-201 networks declare the stem
// and the 17 cell and reduction outputs, so that a cell whose output is a
// single edge (a chain step for the dominators) is a stage too, as in
// AZ-NAS's extract_cell_features.
const StagesKey = "zerocost.stages"

// Stages finds the stage tensors of the graph on the paths from its float
// inputs to output head ("" means the first output). A model that declares
// its stages under StagesKey gets the declared list (each checked to be a
// tensor computed from the input); otherwise they are found as follows.
//
// A tensor every input→head path passes through is a dominator of the head
// (computed on the dataflow DAG of tensors, Cooper–Harvey–Kennedy's
// intersection in topological order). Consecutive dominators d → d′ are
// either one node apart (d′'s producer reads d and nothing else on a path:
// a chain step such as Conv → BatchNormalization → Relu) or a block of
// parallel paths apart (a residual block, a NAS cell). The stages are the
// dominators that end a block, preceded by the stem: the last dominator
// before the first Relu or, without a Relu on the way, before the first
// block. On NAS-Bench-201 these are exactly the stem's BatchNormalization
// output and the 17 cell and reduction outputs when every cell's output is
// a sum of two or more distinct tensors; a cell whose output node has one
// edge (or sums one tensor twice) is a chain step and is not counted. A
// graph with no
// block at all (a plain chain such as VGG) falls back to every Relu output
// on a path, in topological order.
func (m *Model) Stages(head string) (Stages, error) {
	g := m.Graph()
	if head == "" {
		if len(g.GetOutput()) == 0 {
			return Stages{}, fmt.Errorf("onnximport: %s has no outputs", m.Name())
		}
		head = g.GetOutput()[0].GetName()
	}
	inits := map[string]bool{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = true
	}
	const source = "" // the virtual source that feeds every float input
	reach := map[string]bool{source: true}
	preds := map[string][]string{} // tensor -> on-path inputs of its producer
	producer := map[string]int{}
	var order []string // reachable tensors in topological order
	for _, in := range g.GetInput() {
		elem, _, _ := ValueDims(in)
		if inits[in.GetName()] || (elem != 0 && !IsFloat(elem)) {
			continue
		}
		reach[in.GetName()] = true
		preds[in.GetName()] = []string{source}
		order = append(order, in.GetName())
	}
	for i, n := range g.GetNode() {
		var from []string
		for _, x := range n.GetInput() {
			if reach[x] && !slices.Contains(from, x) {
				from = append(from, x)
			}
		}
		if len(from) == 0 {
			continue
		}
		for _, o := range n.GetOutput() {
			if o == "" || reach[o] {
				continue
			}
			reach[o], preds[o], producer[o] = true, from, i
			order = append(order, o)
		}
	}
	if !reach[head] {
		return Stages{}, fmt.Errorf("onnximport: %s: output %q does not depend on a float input, so it has no stages", m.Name(), head)
	}
	if list, ok := m.Metadata(StagesKey); ok {
		st := Stages{Tensors: strings.Split(list, ","), Declared: true, Why: fmt.Sprintf("%s declares its stages (metadata %s)", m.Name(), StagesKey)}
		for _, t := range st.Tensors {
			if !reach[t] {
				return Stages{}, fmt.Errorf("onnximport: %s: declared stage tensor %q (metadata %s) is not a tensor computed from the input", m.Name(), t, StagesKey)
			}
		}
		return st, nil
	}
	// Keep the tensors that reach the head.
	useful := map[string]bool{head: true}
	for i := len(order) - 1; i >= 0; i-- {
		if t := order[i]; useful[t] {
			for _, p := range preds[t] {
				useful[p] = true
			}
		}
	}
	idom := map[string]string{}
	depth := map[string]int{source: 0}
	for _, t := range order {
		if !useful[t] {
			continue
		}
		var d string
		first := true
		for _, p := range preds[t] {
			if !useful[p] {
				continue
			}
			if first {
				d, first = p, false
				continue
			}
			for d != p { // the nearest common dominator
				if depth[d] >= depth[p] {
					d = idom[d]
				} else {
					p = idom[p]
				}
			}
		}
		idom[t], depth[t] = d, depth[d]+1
	}
	var chain []string // the head's dominators, from the input side
	for t := head; t != source; t = idom[t] {
		chain = append(chain, t)
	}
	slices.Reverse(chain)
	var st Stages
	stem := "" // the last dominator before the first Relu or the first block
	for i := 1; i < len(chain); i++ {
		prev, t := chain[i-1], chain[i]
		if !slices.Equal(preds[t], []string{prev}) { // t ends a block
			if len(st.Tensors) == 0 {
				if stem == "" {
					stem = prev
				}
				if _, inner := producer[stem]; inner {
					st.Tensors = append(st.Tensors, stem)
				}
			}
			st.Tensors = append(st.Tensors, t)
			continue
		}
		if len(st.Tensors) == 0 && stem == "" && g.GetNode()[producer[t]].GetOpType() == "Relu" {
			stem = prev
		}
	}
	if len(st.Tensors) > 0 {
		return st, nil
	}
	st.Fallback = true
	st.Why = fmt.Sprintf("%s has no block of parallel paths between its input and %q (a plain chain): the stages are its Relu outputs", m.Name(), head)
	for _, t := range order {
		if i, ok := producer[t]; ok && useful[t] && g.GetNode()[i].GetOpType() == "Relu" {
			st.Tensors = append(st.Tensors, t)
		}
	}
	if len(st.Tensors) == 0 {
		st.Why = fmt.Sprintf("%s has no block of parallel paths between its input and %q and no Relu: no stages", m.Name(), head)
	}
	return st, nil
}
