package engine

import (
	"fmt"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/internal/testort"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/zoo"
)

// scaleRule returns a rewrite that multiplies by k the output of the last
// node emitted by the gradient rule of forward node node (its input
// gradient): every gradient upstream of that node becomes k times too large.
func scaleRule(node string, k float32) func(*autodiff.Result) error {
	return func(res *autodiff.Result) error {
		g := res.Model.Graph()
		at := -1
		for i, n := range g.GetNode() {
			if strings.HasPrefix(n.GetName(), node+"_Grad/") {
				at = i
			}
		}
		if at < 0 {
			return fmt.Errorf("no gradient node of %q", node)
		}
		n := g.Node[at]
		out := n.Output[0]
		n.Output[0] = out + "/unscaled"
		g.Initializer = append(g.Initializer, ox.Float32Tensor(out+"/k", nil, []float32{k}))
		mul := ox.Node("Mul", out+"/scaled", []string{out + "/unscaled", out + "/k"}, []string{out})
		g.Node = append(g.Node[:at+1], append([]*onnx.NodeProto{mul}, g.Node[at+1:]...)...)
		return nil
	}
}

// TestCheckFindsPlantedWrongGradients plants a wrong gradient rule (the
// input gradient of TinyCNN's second ReLU scaled by k) and checks the
// verdict of every tensor: those upstream of the ReLU are WRONG, the
// classifier's are ok, and what is zero by structure stays so (the conv1
// bias feeds train-mode BN; the running statistics are not read). k = 1 is
// the control: nothing fails. A 10% error is twice the default tolerance.
func TestCheckFindsPlantedWrongGradients(t *testing.T) {
	testort.Init(t)
	upstream := []string{"conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight", "input"}
	zero := []string{"conv1.bias", "bn1.running_mean", "bn1.running_var"}
	for _, k := range []float32{1, 1.5, -1, 1.1, 0.9} {
		rep, err := CheckGradients(zoo.TinyCNN(1, 10), CheckOptions{InputShape: []int64{3, 8, 8}, Batch: 3, Seed: 1, rewrite: scaleRule("relu2", k)})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"fc.weight": VerdictOK, "fc.bias": VerdictOK}
		for _, p := range upstream {
			want[p] = VerdictWrong
			if k == 1 {
				want[p] = VerdictOK
			}
		}
		for _, p := range zero {
			want[p] = VerdictZero
		}
		got := map[string]TensorCheck{}
		for _, c := range append(rep.Params, rep.Inputs...) {
			got[c.Name] = c
		}
		for p, v := range want {
			c, ok := got[p]
			switch {
			case !ok:
				t.Errorf("k %g: %s not checked", k, p)
			case c.Verdict != v:
				t.Errorf("k %g: %s: verdict %q (%s; analytic %.6g, numeric %.6g, noise %.2g), want %q", k, p, c.Verdict, c.Reason, c.Analytic, c.Numeric, c.Noise, v)
			case c.Failed != (v == VerdictWrong):
				t.Errorf("k %g: %s: failed %v with verdict %q", k, p, c.Failed, c.Verdict)
			}
		}
		if rep.OK != (k == 1) {
			t.Errorf("k %g: report ok %v", k, rep.OK)
		}
	}
}
