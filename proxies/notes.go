package proxies

import (
	"fmt"
	"strings"

	"github.com/zerocost/zerocost/autodiff"
	ox "github.com/zerocost/zerocost/onnximport"
)

// exportNotes lists the facts about how m was exported that change what a
// proxy measures, each with what to do about it; fwd is m normalised with
// bn. The notes the loader left on m (upgraded opset, converted precision)
// come first.
func exportNotes(m, fwd *ox.Model, bn autodiff.BNMode) []string {
	notes := append([]string(nil), m.Notes...)
	bnNodes, trainDropout := 0, 0
	for _, n := range m.Graph().GetNode() {
		if n.GetOpType() == "BatchNormalization" {
			bnNodes++
		}
	}
	for _, n := range fwd.Graph().GetNode() {
		if n.GetOpType() == "Dropout" { // Normalize made every other Dropout an Identity
			trainDropout++
		}
	}
	if folded := foldedConvs(m); folded > 0 && bnNodes == 0 {
		notes = append(notes, "exported in eval mode: the model has no BatchNormalization node and its convolutions carry weights and biases that the exporter computed (names like onnx::Conv_N), so BatchNormalization was folded into them; the data proxies see unnormalised activations and synflow the folded weights, not the network the reference scores; export with `training=torch.onnx.TrainingMode.TRAINING` (and `do_constant_folding=False`) to keep BatchNormalization")
	} else if folded > 0 {
		stats := "their running statistics"
		if bn == autodiff.BNTrain {
			stats = "batch statistics"
		}
		notes = append(notes, fmt.Sprintf("exported in eval mode, partly folded: %d convolutions carry BatchNormalization folded into them (weights and biases named onnx::Conv_N) and %d BatchNormalization nodes remain, which --bn %s computes with %s; export with `training=torch.onnx.TrainingMode.TRAINING` (and `do_constant_folding=False`) to keep every BatchNormalization", folded, bnNodes, bn, stats))
	} else if bn == autodiff.BNEval {
		notes = append(notes, fmt.Sprintf("--bn eval: the %d BatchNormalization nodes use the running statistics stored in the model (for an untrained network mean 0 and variance 1, so they do not normalise); the reference scores with batch statistics (--bn train)", bnNodes))
	}
	if trainDropout > 0 {
		notes = append(notes, fmt.Sprintf("%d Dropout nodes are in training mode with a non-zero ratio: the data proxies see random masks that change from run to run; export with the dropout probabilities set to 0, or in eval mode", trainDropout))
	}
	return notes
}

// foldedConvs counts the Conv nodes whose weight and bias are both
// initializers named by the exporter (onnx::…), the mark of constant
// folding: PyTorch names the tensors it computes itself, as the fused
// Conv+BatchNormalization weights, after the op that reads them.
func foldedConvs(m *ox.Model) int {
	inits := map[string]bool{}
	for _, t := range m.Graph().GetInitializer() {
		inits[t.GetName()] = true
	}
	generated := func(name string) bool { return inits[name] && strings.HasPrefix(name, "onnx::") }
	n := 0
	for _, node := range m.Graph().GetNode() {
		in := node.GetInput()
		if node.GetOpType() == "Conv" && len(in) > 2 && in[2] != "" && generated(in[1]) {
			n++
		}
	}
	return n
}
