package autodiff

import "github.com/advancedclimatesystems/gonnx/onnx"

// capturedInputs returns the tensors of the enclosing graph that the
// subgraphs of n (If's branches, Loop's and Scan's bodies) read by name
// without receiving them as inputs. They are inputs of n as much as its
// listed ones: a gradient flows through them, so a node without a rule
// that captures an active tensor is on the gradient's path.
func capturedInputs(n *onnx.NodeProto) []string {
	var out []string
	seen := map[string]bool{}
	for _, a := range n.GetAttribute() {
		for _, g := range append([]*onnx.GraphProto{a.GetG()}, a.GetGraphs()...) {
			if g != nil {
				collectCaptured(g, map[string]bool{}, seen, &out)
			}
		}
	}
	return out
}

// collectCaptured appends to out the names g reads that neither g nor the
// graphs between it and n define (local holds those).
func collectCaptured(g *onnx.GraphProto, outer, seen map[string]bool, out *[]string) {
	local := map[string]bool{}
	for k := range outer {
		local[k] = true
	}
	for _, v := range g.GetInput() {
		local[v.GetName()] = true
	}
	for _, t := range g.GetInitializer() {
		local[t.GetName()] = true
	}
	for _, sn := range g.GetNode() {
		reads := append([]string{}, sn.GetInput()...)
		for _, a := range sn.GetAttribute() {
			for _, sub := range append([]*onnx.GraphProto{a.GetG()}, a.GetGraphs()...) {
				if sub != nil {
					var inner []string
					collectCaptured(sub, local, map[string]bool{}, &inner)
					reads = append(reads, inner...)
				}
			}
		}
		for _, in := range reads {
			if in != "" && !local[in] && !seen[in] {
				seen[in] = true
				*out = append(*out, in)
			}
		}
		for _, o := range sn.GetOutput() {
			local[o] = true
		}
	}
}
