package autodiff

import (
	"fmt"
	"sort"
	"strings"

	ox "github.com/zerocost/zerocost/onnximport"
)

// BNMode says how BatchNormalization nodes are treated.
type BNMode int

const (
	// BNTrain normalises with the statistics of the current batch, as the
	// NAS literature scores networks (the default).
	BNTrain BNMode = iota
	// BNEval normalises with the running statistics stored in the model
	// (a node with training_mode=1, which has none, keeps batch statistics).
	BNEval
	// BNRemove replaces every BatchNormalization by the identity.
	BNRemove
	// BNRunning normalises with the running statistics (inputs 3 and 4)
	// even where training_mode=1: PyTorch's model.eval() applied to a
	// training-mode export, as VKDNW scores networks. A node without
	// running statistics keeps batch statistics.
	BNRunning
)

func (m BNMode) String() string {
	switch m {
	case BNTrain:
		return "train"
	case BNEval:
		return "eval"
	case BNRemove:
		return "remove"
	case BNRunning:
		return "running"
	}
	return fmt.Sprintf("BNMode(%d)", int(m))
}

// ParseBNMode turns "train", "eval" or "remove" into a BNMode.
func ParseBNMode(s string) (BNMode, error) {
	switch strings.ToLower(s) {
	case "train", "":
		return BNTrain, nil
	case "eval":
		return BNEval, nil
	case "remove", "none":
		return BNRemove, nil
	}
	return 0, fmt.Errorf("autodiff: unknown BatchNormalization mode %q (use train, eval or remove)", s)
}

// HeadKind says which scalar (or seed) the gradients are taken of.
type HeadKind int

const (
	// HeadCrossEntropy is the cross-entropy of the logits output against
	// an int64 label input, averaged over the batch: logits N×K with labels
	// N, per token N×T×K with labels N×T, or per pixel N×K×H×W with labels
	// N×H×W (CEClassAxis), as torch's cross_entropy averages them.
	HeadCrossEntropy HeadKind = iota
	// HeadSum is the sum of every element of the head output.
	HeadSum
	// HeadSeed takes the output gradient from an input fed by the caller.
	HeadSeed
)

func (h HeadKind) String() string {
	switch h {
	case HeadCrossEntropy:
		return "ce"
	case HeadSum:
		return "sum"
	case HeadSeed:
		return "seed"
	}
	return fmt.Sprintf("HeadKind(%d)", int(h))
}

// Names of the tensors Build adds.
const (
	LabelsInput = "zerocost_labels" // int64 labels ([N], [N T] or [N H W]), with HeadCrossEntropy
	LossOutput  = "zerocost_loss"   // float [1]: the loss (HeadCrossEntropy) or the sum (HeadSum); see Result.Loss
	gradPrefix  = "zerocost_grad/"
	seedSuffix  = "/zerocost_seed"
)

// GradName returns the name of the output that holds the gradient with
// respect to tensor (Result.Grads has the names actually used: a graph that
// already has an output of that name gets a suffix).
func GradName(tensor string) string { return gradPrefix + tensor }

// SeedName returns the name of the input that takes the output gradient of
// output with HeadSeed.
func SeedName(output string) string { return output + seedSuffix }

// Request says what Build differentiates.
type Request struct {
	// WRT names the tensors to differentiate with respect to: float
	// initializers (they also become graph inputs, so that their values can
	// be changed per run), graph inputs, or intermediate tensors.
	WRT []string
	// Head is the quantity differentiated; Output names the graph output it
	// applies to ("" means the first graph output).
	Head   HeadKind
	Output string
	// ExtraOutputs are intermediate tensors to return as well.
	ExtraOutputs []string
	// BN is the BatchNormalization mode.
	BN BNMode
	// Fisher lists tensors (each also in WRT) whose per-channel Fisher
	// information is returned under FisherName: 0.5 · mean over the batch of
	// (Σ over the other axes of t ⊙ dL/dt)², one value per channel, computed
	// inside the graph so that activations never leave ONNX Runtime.
	Fisher []FisherTensor
	// ReluKernel adds the NASWOT kernel output ReluKernelOutput (N×N):
	// Σ over Relu nodes of c·cᵀ + (1−c)·(1−c)ᵀ with c = (Relu input > 0)
	// flattened per sample.
	ReluKernel bool
	// Covariance lists tensors (N×C×…) whose C×C channel covariance, in
	// float64, is returned under CovarianceName (AZ-NAS's expressivity).
	Covariance []string
	// Transfer lists AZ-NAS transfer matrices to return (see Transfer).
	Transfer []Transfer
	// ReluSampleCodes adds ReluSampleCodeName(node) for every Relu node
	// whose input has rank 4 (the ReLUs that SWAP's and TE-NAS's hooks read:
	// `len(input[0].size()) == 4`): each sample's signs (x > 0) over the
	// node's C·H·W neurons packed 52 to a float64 (Σ_j 2^j over a chunk),
	// N × ⌈C·H·W/52⌉ values: two samples share an activation pattern exactly
	// when all their codes are equal (TE-NAS's linear regions).
	ReluSampleCodes bool
	// ReluCodes, when N > 0, adds ReluCodeName(node) for every Relu node
	// whose input has rank 4 and N samples on axis 0: Σ_i 2^i · (x_i > 0)
	// over the batch axis, in float64, one code per neuron (C×H×W): the
	// neuron's sign pattern over the samples (SWAP), packed in the graph so
	// that only one value per neuron leaves it. N is at most 53.
	ReluCodes int
	// Variances lists tensors (N×C×…) whose per-channel variance over every
	// axis but 1 (the population variance, as train-mode BatchNormalization
	// normalises with) is returned under VarianceName, C values each.
	Variances []string
	// Fed lists float initializers to make graph inputs without
	// differentiating with respect to them (Result.Params), so that one
	// session runs with several sets of weights (re-initialisations).
	Fed []string
	// Constants lists tensors that the differentiation treats as
	// constants (stop-gradient): no gradient flows back through them, even
	// where they are computed from a tensor in WRT (WithSelfGradientDot).
	Constants []string
	// Probes asks for per-sample derivatives with respect to single
	// parameter elements (WithElementProbes), as outputs ProbeOutput.
	Probes []Probe
}

// ReluSampleCodeName returns the output holding the per-sample packed
// sign codes of a Relu node (Request.ReluSampleCodes).
func ReluSampleCodeName(node string) string { return "zerocost_regions/" + node }

// ReluCodeName returns the output holding the packed sign codes of a Relu node.
func ReluCodeName(node string) string { return "zerocost_swap/" + node }

// VarianceName returns the output holding the per-channel variance of tensor.
func VarianceName(tensor string) string { return "zerocost_var/" + tensor }

// FisherTensor is a layer activation and the axis of its channels.
type FisherTensor struct {
	Tensor      string
	ChannelAxis int
}

// ReluKernelOutput is the output that holds the NASWOT kernel.
const ReluKernelOutput = "zerocost_nwot/kernel"

// FisherName returns the output holding the per-channel Fisher information of tensor.
func FisherName(tensor string) string { return "zerocost_fisher/" + tensor }

// TensorInfo is the element type and shape of a tensor found at a concrete
// input shape. A dimension that follows the batch size is -1.
type TensorInfo struct {
	Elem int32 // ox.Float, ox.Double or ox.Int64 (integers and bools)
	Dims []int64
	// ONNXType is the exact element type (bool, int32, …) when known; it
	// lets Build declare the tensor's type and shape in the graph.
	ONNXType int32
}

// IsFloat reports whether the tensor holds floating-point values.
func (t TensorInfo) IsFloat() bool { return t.Elem == ox.Float || t.Elem == ox.Double }

// Shapes maps every tensor of a normalised model to its TensorInfo.
type Shapes map[string]TensorInfo

// ShapeFunc finds the Shapes of every tensor of a normalised model
// (initializers, inputs and node outputs).
type ShapeFunc func(m *ox.Model) (Shapes, error)

// UnsupportedError lists every op type on the path from the requested tensors
// to the head that has no gradient rule, with the nodes of each.
type UnsupportedError struct {
	Model string
	Ops   map[string][]string // op type -> node names
}

func (e *UnsupportedError) Error() string {
	ops := e.OpTypes()
	var parts []string
	for _, op := range ops {
		nodes := e.Ops[op]
		shown := nodes
		if len(shown) > 3 {
			shown = append(append([]string{}, nodes[:3]...), fmt.Sprintf("and %d more", len(nodes)-3))
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", op, strings.Join(shown, ", ")))
	}
	return fmt.Sprintf("autodiff: %s: no gradient rule for %d op type(s): %s; the forward pass still runs, and gradients are available for models without these ops",
		e.Model, len(ops), strings.Join(parts, "; "))
}

// OpTypes returns the unsupported op types, sorted.
func (e *UnsupportedError) OpTypes() []string {
	ops := make([]string, 0, len(e.Ops))
	for op := range e.Ops {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	return ops
}
