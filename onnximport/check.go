package onnximport

import (
	"fmt"
	"math"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"sort"
	"strings"
)

// Check verifies the structure of the model: a default-domain opset, every
// node input produced before it is used (topological order), every graph
// output produced, and unique tensor producers. The error names the file,
// the node and the tensor at fault.
func (m *Model) Check() error {
	if m.Opset() == 0 {
		return fmt.Errorf("onnximport: %s imports no ai.onnx opset; re-export it with an opset (for example opset 17)", m.Name())
	}
	g := m.Graph()
	for _, t := range g.GetInitializer() {
		if err := checkTensorData(t); err != nil {
			return fmt.Errorf("onnximport: %s: %w", m.Name(), err)
		}
	}
	defined := map[string]string{} // tensor -> what defines it
	for _, in := range g.GetInput() {
		defined[in.GetName()] = "graph input"
	}
	for _, t := range g.GetInitializer() {
		defined[t.GetName()] = "initializer"
	}
	for i, n := range g.GetNode() {
		for _, in := range n.GetInput() {
			if in == "" {
				continue // optional input left out
			}
			if _, ok := defined[in]; !ok {
				return fmt.Errorf("onnximport: %s: node %s reads tensor %q that no earlier node, input or initializer defines; the graph is not in topological order or is incomplete", m.Name(), describeNode(i, n.GetName(), n.GetOpType()), in)
			}
		}
		for _, out := range n.GetOutput() {
			if out == "" {
				continue
			}
			if by, ok := defined[out]; ok && by != "graph input" && by != "initializer" {
				return fmt.Errorf("onnximport: %s: node %s writes tensor %q, already written by %s", m.Name(), describeNode(i, n.GetName(), n.GetOpType()), out, by)
			}
			defined[out] = describeNode(i, n.GetName(), n.GetOpType())
		}
	}
	for _, out := range g.GetOutput() {
		if _, ok := defined[out.GetName()]; !ok {
			return fmt.Errorf("onnximport: %s: graph output %q is produced by no node", m.Name(), out.GetName())
		}
	}
	if err := checkNodeAttrs(g, map[string]*onnx.TensorProto{}); err != nil {
		return fmt.Errorf("onnximport: %s: %w; the model is invalid: re-export it", m.Name(), err)
	}
	return nil
}

func describeNode(index int, name, op string) string {
	if name == "" {
		return fmt.Sprintf("#%d (%s)", index, op)
	}
	return fmt.Sprintf("%q (%s)", name, op)
}

// Opset returns the model's ai.onnx opset version (0 when it imports none).
func (m *Model) Opset() int64 {
	for _, o := range m.Proto.GetOpsetImport() {
		if o.GetDomain() == "" || o.GetDomain() == "ai.onnx" {
			return o.GetVersion()
		}
	}
	return 0
}

// OpTypes returns the sorted, distinct operator types of the main graph.
func (m *Model) OpTypes() []string {
	seen := map[string]bool{}
	for _, n := range m.Graph().GetNode() {
		op := n.GetOpType()
		if d := n.GetDomain(); d != "" && d != "ai.onnx" {
			op = d + "." + op
		}
		seen[op] = true
	}
	ops := make([]string, 0, len(seen))
	for op := range seen {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	return ops
}

// NameNodes gives every unnamed node a unique name "<OpType>_<index>", so
// that errors and generated tensor names can refer to it.
func (m *Model) NameNodes() {
	used := map[string]bool{}
	for _, n := range m.Graph().GetNode() {
		used[n.GetName()] = true
	}
	for i, n := range m.Graph().GetNode() {
		if n.GetName() != "" {
			continue
		}
		name := fmt.Sprintf("%s_%d", strings.ToLower(n.GetOpType()), i)
		for used[name] {
			name += "_"
		}
		used[name] = true
		n.Name = name
	}
}

// checkTensorData checks that an initializer holds as many values as its
// shape needs.
func checkTensorData(t *onnx.TensorProto) error {
	want := NumElements(t.GetDims())
	switch {
	case want < 0:
		return fmt.Errorf("initializer %q has shape %v, with a negative dimension; the file is corrupt: re-export it", t.GetName(), t.GetDims())
	case want == math.MaxInt:
		return fmt.Errorf("initializer %q has shape %v, whose element count overflows 64-bit integers; the file is corrupt: re-export it", t.GetName(), t.GetDims())
	}
	dt := onnx.TensorProto_DataType(t.GetDataType())
	var have int
	switch {
	case t.GetRawData() != nil:
		size := elementSize(dt)
		if size == 0 {
			return nil // strings and exotic types: not checked
		}
		have = len(t.GetRawData()) / size
	case len(t.GetFloatData()) > 0:
		have = len(t.GetFloatData())
	case len(t.GetDoubleData()) > 0:
		have = len(t.GetDoubleData())
	case len(t.GetInt64Data()) > 0:
		have = len(t.GetInt64Data())
	case len(t.GetInt32Data()) > 0:
		have = len(t.GetInt32Data())
	case len(t.GetStringData()) > 0 || len(t.GetUint64Data()) > 0:
		return nil
	}
	if have != want {
		return fmt.Errorf("initializer %q has %d values but its shape %v needs %d (was the model saved without its weights?)", t.GetName(), have, t.GetDims(), want)
	}
	return nil
}
