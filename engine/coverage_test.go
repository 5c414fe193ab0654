package engine_test

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/engine"
	"github.com/zerocost/zerocost/internal/testort"
	"github.com/zerocost/zerocost/internal/torchfixture"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/zoo"
)

// standardOps is the ai.onnx operator set (opset 17) minus training,
// sequence, optional and string operators: every op an emitted graph may use.
var standardOps = strings.Fields(`Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh AveragePool
BatchNormalization Bernoulli BitShift BlackmanWindow Cast CastLike Ceil Celu Clip Compress Concat
Constant ConstantOfShape Conv ConvInteger ConvTranspose Cos Cosh CumSum DFT DepthToSpace
DequantizeLinear Det Div Dropout DynamicQuantizeLinear Einsum Elu Equal Erf Exp Expand EyeLike
Flatten Floor GRU Gather GatherElements GatherND Gemm GlobalAveragePool GlobalLpPool GlobalMaxPool
Greater GreaterOrEqual GridSample HammingWindow HannWindow HardSigmoid HardSwish Hardmax Identity
If InstanceNormalization IsInf IsNaN LRN LSTM LayerNormalization LeakyRelu Less LessOrEqual Log
LogSoftmax Loop LpNormalization LpPool MatMul MatMulInteger Max MaxPool MaxRoiPool MaxUnpool Mean
MelWeightMatrix Min Mod Mul Multinomial Neg NonMaxSuppression NonZero Not OneHot Or PRelu Pad Pow
QLinearConv QLinearMatMul QuantizeLinear RNN RandomNormal RandomNormalLike RandomUniform
RandomUniformLike Range Reciprocal ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean
ReduceMin ReduceProd ReduceSum ReduceSumSquare Relu Reshape Resize ReverseSequence RoiAlign Round
STFT Scan Scatter ScatterElements ScatterND Selu Shape Shrink Sigmoid Sign Sin Sinh Size Slice
Softmax SoftmaxCrossEntropyLoss Softplus Softsign SpaceToDepth Split Sqrt Squeeze Sub Sum Tan Tanh
ThresholdedRelu Tile TopK Transpose Trilu Unique Unsqueeze Where Xor`)

// checkStandard fails when a graph uses an op outside ai.onnx.
func checkStandard(t *testing.T, m *ox.Model) {
	t.Helper()
	std := map[string]bool{}
	for _, op := range standardOps {
		std[op] = true
	}
	for _, n := range m.Graph().GetNode() {
		if d := n.GetDomain(); d != "" && d != "ai.onnx" {
			t.Fatalf("%s: node %q uses domain %q", m.Name(), n.GetName(), d)
		}
		if !std[n.GetOpType()] {
			t.Fatalf("%s: node %q uses %s, which is not a standard ai.onnx operator", m.Name(), n.GetName(), n.GetOpType())
		}
	}
	for _, o := range m.Proto.GetOpsetImport() {
		if d := o.GetDomain(); d != "" && d != "ai.onnx" {
			t.Fatalf("%s: imports opset domain %q", m.Name(), d)
		}
	}
}

func TestStandardOpsCheckerRejectsContribOps(t *testing.T) {
	m := zoo.TinyCNN(1, 10)
	m.Graph().Node[0].OpType = "FusedConv"
	ft := &testing.T{}
	done := make(chan bool)
	go func() {
		defer func() { done <- ft.Failed() }()
		checkStandard(ft, m)
	}()
	if !<-done {
		t.Fatal("checkStandard accepted FusedConv")
	}
}

// TestEvalExportsAgainstFiniteDifferences builds the gradient graph of every
// eval-mode export (BatchNormalization folded or in inference form, Dropout
// removed), checks that it uses only standard ops, and compares the
// gradients of the input and of a seeded sample of parameters with central
// finite differences along each gradient. Float32 differences (steps that
// move the loss by 1e-4) carry a round-off of ~1e-3 and cross a few kinks on
// deep networks: 5e-2 relative is the CheckGradients default (see
// engine/gradcheck.go). The rules themselves are checked exactly in package
// autodiff, and the train exports against PyTorch in torch_test.go.
func TestEvalExportsAgainstFiniteDifferences(t *testing.T) {
	testort.Init(t)
	for _, name := range torchModels {
		t.Run(name, func(t *testing.T) {
			fx, err := torchfixture.Load(name, "eval")
			if err != nil {
				t.Fatal(err)
			}
			var params []string
			for _, init := range fx.Model.Graph().GetInitializer() {
				if engine.IsParameter(init) {
					params = append(params, init.GetName())
				}
			}
			rng := rand.New(rand.NewPCG(uint64(len(name)), 3))
			rng.Shuffle(len(params), func(i, j int) { params[i], params[j] = params[j], params[i] })
			only := append(params[:min(4, len(params))], "input")
			shape := append([]int64{}, fx.Input.Shape[1:]...)
			rep, err := engine.CheckGradients(fx.Model, engine.CheckOptions{BN: autodiff.BNEval, InputShape: shape, Batch: 2, Seed: 5, Only: only})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.UnsupportedOps) > 0 {
				t.Fatalf("unsupported ops: %v", rep.UnsupportedOps)
			}
			for _, c := range append(rep.Params, rep.Inputs...) {
				if c.RelError > rep.Tolerance {
					t.Errorf("d/d%s: rel error %.2e > %.2e (analytic %.6g, numeric %.6g)", c.Name, c.RelError, rep.Tolerance, c.Analytic, c.Numeric)
				}
			}
			t.Logf("%s: loss %.4f, %d tensors checked, max rel error %.2e", name, rep.Loss, len(rep.Params)+len(rep.Inputs), rep.MaxRelError)
		})
	}
}

// TestEmittedGraphsUseStandardOps walks the gradient graphs of every fixture
// (train and eval exports, all three BatchNormalization modes).
func TestEmittedGraphsUseStandardOps(t *testing.T) {
	testort.Init(t)
	for _, name := range []string{"nb201_a", "mobilenet_v3_small", "efficientnet_b0", "shufflenet_v2_x0_5", "googlenet", "convnext_tiny", "vit_b_16"} {
		for _, mode := range []string{"train", "eval"} {
			fx, err := torchfixture.Load(name, mode)
			if err != nil {
				t.Fatal(err)
			}
			var wrt []string
			for _, init := range fx.Model.Graph().GetInitializer() {
				if engine.IsParameter(init) {
					wrt = append(wrt, init.GetName())
				}
			}
			for _, bn := range []autodiff.BNMode{autodiff.BNTrain, autodiff.BNEval, autodiff.BNRemove} {
				res, err := autodiff.Build(fx.Model, autodiff.Request{WRT: append(wrt, "input"), BN: bn}, engine.ShapeFinder([]int64{3, fx.Input.Shape[2], fx.Input.Shape[3]}, engineSession))
				if err != nil {
					t.Fatalf("%s_%s, bn %v: %v", name, mode, bn, err)
				}
				checkStandard(t, res.Model)
			}
		}
	}
}

func TestUnsupportedOpsAreListedTogether(t *testing.T) {
	testort.Init(t)
	m := zoo.TinyCNN(1, 10)
	g := m.Graph()
	// Insert two ops without gradient rules on the path: ThresholdedRelu and Shrink.
	for _, n := range g.Node {
		if n.GetName() == "relu1" {
			n.OpType = "ThresholdedRelu"
		}
		if n.GetName() == "relu2" {
			n.OpType = "Shrink"
		}
	}
	g.Node = append(g.Node, ox.Node("Hardmax", "unused_branch", []string{"flat"}, []string{"unused"}))
	_, err := engine.NewGradient(m, engine.Options{Request: autodiff.Request{WRT: []string{"conv1.weight"}}, InputShape: []int64{3, 8, 8}})
	var unsup *autodiff.UnsupportedError
	if !errors.As(err, &unsup) {
		t.Fatalf("want an UnsupportedError, got %v", err)
	}
	if got := strings.Join(unsup.OpTypes(), ","); got != "Shrink,ThresholdedRelu" {
		t.Fatalf("want Shrink and ThresholdedRelu (not the unused Hardmax), got %s", got)
	}
	if !strings.Contains(err.Error(), "relu1") || !strings.Contains(err.Error(), "relu2") {
		t.Fatalf("the error should name the nodes: %v", err)
	}
	// The forward part still runs.
	fwd, err := autodiff.Normalize(m, autodiff.BNTrain)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := engine.ShapeFinder([]int64{3, 8, 8}, engineSession)(fwd); err != nil {
		t.Fatalf("forward of a model without gradient rules: %v", err)
	}
}

var engineSession = runtimeOptions()
