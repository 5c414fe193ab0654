package engine_test

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/zerocost/zerocost/internal/testort"
	"github.com/zerocost/zerocost/internal/torchfixture"
	"github.com/zerocost/zerocost/runtime"
)

// TestRecurrentGradientsMatchPyTorch compares the gradients of the unrolled
// nn.LSTM (2 layers, bidirectional), nn.GRU (2 layers) and nn.RNN (2
// layers, bidirectional) models of testdata/recurrent with PyTorch autograd
// in float64: every parameter (the state_dict tensors from which the export
// computes ONNX's W, R and B) and the input.
//
// Tolerance: 1e-5 relative per tensor (entries and norm), or three times
// PyTorch's own float32 error where that is larger. These nets have no
// kinks and no batch statistics; float32 round-off through five steps of
// two layers stays near 1e-6 (PyTorch float32 lands within 1e-6 of float64
// here), and 1e-5 leaves room for ONNX Runtime's different summation order.
func TestRecurrentGradientsMatchPyTorch(t *testing.T) {
	testort.Init(t)
	root := runtime.RepositoryRoot()
	if root == "" {
		root = ".."
	}
	for _, name := range []string{"lstm", "gru", "rnn"} {
		t.Run(name, func(t *testing.T) {
			fx, err := torchfixture.LoadDir(filepath.Join(root, "testdata", "recurrent", name))
			if err != nil {
				t.Fatal(err)
			}
			loss, ours, torch32 := gradErrors(t, fx)
			if d := math.Abs(loss - fx.Reference.Loss); d > 1e-5*fx.Reference.Loss {
				t.Errorf("loss: want %.7f (PyTorch), got %.7f", fx.Reference.Loss, loss)
			}
			worst, worstName := 0.0, ""
			for _, ref := range fx.Reference.Grads {
				o, p := ours[ref.Name], torch32[ref.Name]
				tolS, tolN := math.Max(1e-5, 3*p.sampled), math.Max(1e-5, 3*math.Max(p.norm, p.sampled))
				if o.sampled > tolS || o.norm > tolN {
					t.Errorf("d/d%s: rel error %.2e (entries), %.2e (norm); PyTorch float32: %.2e, %.2e", ref.Name, o.sampled, o.norm, p.sampled, p.norm)
				}
				if o.sampled > worst {
					worst, worstName = o.sampled, ref.Name
				}
			}
			t.Logf("%s: loss %.6f (PyTorch %.6f); %d tensors, worst rel error %.2e at %s", name, loss, fx.Reference.Loss, len(fx.Reference.Grads), worst, worstName)
		})
	}
}
