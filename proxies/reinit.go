package proxies

import (
	"fmt"
	"math"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/zerocost/zerocost/data"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
)

// InitChoice is how a variant's layer weights are set before each repeat.
type InitChoice int

const (
	// InitFile keeps the model's own weights (every paper proxy).
	InitFile InitChoice = iota
	// InitNormal draws every layer weight (Conv, ConvTranspose, Gemm,
	// MatMul: the layer table) from N(0, 1), as Zen-NAS's and SWAP's
	// network_weight_gaussian_init do; the layers' biases become 0 and
	// BatchNormalization's (and GroupNormalization's) scale 1 and bias 0.
	InitNormal
	// InitKaimingFanIn draws every layer weight from N(0, 2/fan_in), as
	// TE-NAS's and AZ-NAS's kaiming_normal_fanin_init do
	// (nn.init.kaiming_normal_(mode='fan_in', nonlinearity='relu')), with the
	// same biases and normalisation parameters as InitNormal. fan_in is
	// PyTorch's: the weight's dim 1 times its kernel size (C_in/groups·k·k
	// for Conv), in_features for Gemm and MatMul.
	InitKaimingFanIn
)

// InputChoice is where a variant's batch comes from.
type InputChoice int

const (
	// InputData is the data batch (cut to Variant.Samples when set).
	InputData InputChoice = iota
	// InputNormal is a seeded N(0, 1) batch of Variant.Batch samples, one
	// per repeat, at the data batch's sample shape (or the model's static
	// input shape), with H and W replaced by Variant.InputHW when it is set.
	InputNormal
)

// Purposes of the seeded streams (streamKey's second argument).
const (
	streamWeights = 1 // layer weights: index = the layer's index in the layer table
	streamInput   = 2 // a generated batch: index 0
	streamPerturb = 3 // Zen-NAS's ε: index 0
)

// streamKey is the seed of one stream of random numbers: the weights of
// layer index (or a batch) at repeat r, for Options.Seed seed. Every
// random number of re-initialisations and generated inputs is
// splitMix(streamKey(…), j) for j = 1, 2, …, so any of them can be
// recomputed alone, in Go or in NumPy (testdata/proxies/gen_reinit.py).
func streamKey(seed uint64, purpose, repeat, index int) uint64 {
	k := splitMix(seed, uint64(purpose))
	k = splitMix(k, uint64(repeat)+1)
	return splitMix(k, uint64(index)+1)
}

// normals fills dst with N(0, 1) values of the stream key: Box–Muller on
// pairs of SplitMix64 outputs, u1 = (z₁>>11 + 1)·2⁻⁵³ ∈ (0, 1],
// u2 = (z₂>>11)·2⁻⁵³, dst[2k] = √(−2 ln u1)·cos 2πu2 and
// dst[2k+1] = √(−2 ln u1)·sin 2πu2, z₁ = splitMix(key, 2k+1),
// z₂ = splitMix(key, 2k+2).
func normals(key uint64, dst []float64) {
	for j := 0; j < len(dst); j += 2 {
		u1 := (float64(splitMix(key, uint64(j)+1)>>11) + 1) * 0x1p-53
		u2 := float64(splitMix(key, uint64(j)+2)>>11) * 0x1p-53
		r := math.Sqrt(-2 * math.Log(u1))
		dst[j] = r * math.Cos(2*math.Pi*u2)
		if j+1 < len(dst) {
			dst[j+1] = r * math.Sin(2*math.Pi*u2)
		}
	}
}

// NormalInput returns the N(0, 1) batch of the given shape that a variant
// with InputNormal draws at repeat r for seed (float32, as the data batches).
func NormalInput(shape []int64, seed uint64, repeat int) *runtime.Tensor {
	return normalTensor(shape, streamKey(seed, streamInput, repeat, 0))
}

func normalTensor(shape []int64, key uint64) *runtime.Tensor {
	v := make([]float64, runtime.NumElements(shape))
	normals(key, v)
	f := make([]float32, len(v))
	for i, x := range v {
		f[i] = float32(x)
	}
	return runtime.NewFloat32(append([]int64{}, shape...), f)
}

// fanIn is PyTorch's fan-in of a layer weight (torch.nn.init's
// _calculate_fan_in_and_fan_out: dim 1 times the receptive field for
// convolutions, in_features for fully connected layers).
func fanIn(l ox.Layer) int64 {
	switch l.Op {
	case "Conv", "ConvTranspose":
		n := int64(1)
		for _, d := range l.Shape[1:] {
			n *= d
		}
		return n
	}
	return l.FanIn()
}

// initStd returns the standard deviation of a layer's weights under init.
func initStd(init InitChoice, l ox.Layer) float64 {
	if init == InitKaimingFanIn {
		return math.Sqrt(2 / float64(max(fanIn(l), 1)))
	}
	return 1
}

// reinitWeights draws the weights of every layer for repeat r, as float32
// tensors (float64 when f64), by parameter name.
func (s *scorer) reinitWeights(init InitChoice, r int, f64 bool) map[string]*runtime.Tensor {
	out := map[string]*runtime.Tensor{}
	for k, l := range s.layers {
		v := make([]float64, runtime.NumElements(l.Shape))
		normals(streamKey(s.opts.Seed, streamWeights, r, k), v)
		std := initStd(init, l)
		for i := range v {
			v[i] *= std
		}
		if f64 {
			out[l.Param] = runtime.NewFloat64(append([]int64{}, l.Shape...), v)
			continue
		}
		f := make([]float32, len(v))
		for i, x := range v {
			f[i] = float32(x)
		}
		out[l.Param] = runtime.NewFloat32(append([]int64{}, l.Shape...), f)
	}
	return out
}

// resetBiasesAndNorms returns a copy of m in which the biases of the layers
// are 0 and the scale and bias of every BatchNormalization and
// GroupNormalization node are 1 and 0, as the re-initialisations of Zen-NAS,
// SWAP, TE-NAS and AZ-NAS set them (running statistics are left: the
// variants run BN in train mode). A layer's bias is its node's third input
// (Conv, ConvTranspose, Gemm) or, for MatMul, an initializer added to its
// output by the next node (PyTorch's export of Linear on 3-D inputs).
func resetBiasesAndNorms(m *ox.Model, layers []ox.Layer) (*ox.Model, error) {
	out := m.Clone()
	g := out.Graph()
	inits := map[string]*onnx.TensorProto{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = t
	}
	consumers := map[string][]*onnx.NodeProto{}
	for _, n := range g.GetNode() {
		for _, in := range n.GetInput() {
			consumers[in] = append(consumers[in], n)
		}
	}
	fill := map[string]float64{}
	layerNode := map[string]bool{}
	for _, l := range layers {
		for _, name := range l.Nodes {
			layerNode[name] = true
		}
	}
	for _, n := range g.GetNode() {
		in := n.GetInput()
		switch op := n.GetOpType(); {
		case layerNode[n.GetName()] && (op == "Conv" || op == "ConvTranspose" || op == "Gemm"):
			if len(in) > 2 && in[2] != "" {
				fill[in[2]] = 0
			}
		case layerNode[n.GetName()] && op == "MatMul":
			if c := consumers[n.GetOutput()[0]]; len(c) == 1 && c[0].GetOpType() == "Add" {
				for _, b := range c[0].GetInput() {
					if t, ok := inits[b]; ok && len(t.GetDims()) == 1 {
						fill[b] = 0
					}
				}
			}
		case op == "BatchNormalization" || op == "GroupNormalization":
			if len(in) > 2 {
				fill[in[1]], fill[in[2]] = 1, 0
			}
		}
	}
	for name, v := range fill {
		t, ok := inits[name]
		if !ok || !ox.IsFloat(t.GetDataType()) {
			continue // a computed bias (a Constant Normalize has not turned into an initializer yet) is left
		}
		if err := setConstant(t, v); err != nil {
			return nil, fmt.Errorf("proxies: %s: resetting %q: %w", m.Name(), name, err)
		}
	}
	return out, nil
}

// setConstant overwrites a float initializer with the value v everywhere.
func setConstant(t *onnx.TensorProto, v float64) error {
	n := ox.NumElements(t.GetDims())
	var nt *onnx.TensorProto
	switch t.GetDataType() {
	case ox.Double:
		vals := make([]float64, n)
		for i := range vals {
			vals[i] = v
		}
		nt = ox.Float64Tensor(t.GetName(), t.GetDims(), vals)
	case ox.Float:
		vals := make([]float32, n)
		for i := range vals {
			vals[i] = float32(v)
		}
		nt = ox.Float32Tensor(t.GetName(), t.GetDims(), vals)
	default:
		return fmt.Errorf("element type %d is not float32 or float64", t.GetDataType())
	}
	t.DataType, t.RawData, t.FloatData, t.DoubleData, t.Int32Data = nt.DataType, nt.RawData, nil, nil, nil
	t.DataLocation, t.ExternalData = nt.DataLocation, nil
	return nil
}

// repeats returns how many times a variant runs: Options.Repeats when set
// for a variant that repeats at all, else the variant's own (at least 1).
func (s *scorer) repeats(v Variant) int {
	if v.Repeats > 0 && s.opts.Repeats > 0 {
		return s.opts.Repeats
	}
	return max(v.Repeats, 1)
}

// sampleShape returns the shape of one sample of the main input: the data
// batch's, or the model's static input dimensions.
func (s *scorer) sampleShape() ([]int64, error) {
	if s.opts.Batch != nil && s.opts.Batch.Input != nil {
		return append([]int64{}, s.opts.Batch.Input.Shape[1:]...), nil
	}
	dims := s.input.Dims
	if len(dims) == 0 {
		return nil, fmt.Errorf("proxies: %s: input %q is a scalar; a generated batch needs a sample shape", s.m.Name(), s.input.Name)
	}
	for i, d := range dims[1:] {
		if d <= 0 {
			return nil, fmt.Errorf("proxies: %s: input %q has a dynamic size at axis %d: give the input shape (--input-shape)", s.m.Name(), s.input.Name, i+1)
		}
	}
	return append([]int64{}, dims[1:]...), nil
}

// variantBatch returns the batch of repeat r (and, with Perturb, the
// perturbed batch x + Perturb·ε).
func (s *scorer) variantBatch(v Variant, r int) (x, perturbed *data.Batch, err error) {
	if v.Input == InputData {
		b := s.opts.Batch
		if b == nil || b.Input == nil {
			return nil, nil, fmt.Errorf("proxies: %s: this proxy needs a data batch", s.m.Name())
		}
		if v.Samples > 0 {
			if n := b.Input.Shape[0]; n < int64(v.Samples) {
				return nil, nil, fmt.Errorf("proxies: the proxy reads the first %d samples of the batch; the batch has %d: give --batch-size %d or more", v.Samples, n, v.Samples)
			}
			b = batchPart(b, 0, int64(v.Samples))
		}
		return b, nil, nil
	}
	if s.multi() || (s.input.ElemType != 0 && !ox.IsFloat(s.input.ElemType)) {
		return nil, nil, fmt.Errorf("proxies: %s: a generated N(0,1) batch needs a model with one float input (this one reads %s)", s.m.Name(), inputList(s.inputs))
	}
	sample, err := s.sampleShape()
	if err != nil {
		return nil, nil, err
	}
	if v.InputHW > 0 {
		if len(sample) != 3 {
			return nil, nil, fmt.Errorf("proxies: %s: the proxy draws C×%d×%d inputs and needs an image input (C×H×W); input %q has sample shape %v", s.m.Name(), v.InputHW, v.InputHW, s.input.Name, sample)
		}
		sample[1], sample[2] = int64(v.InputHW), int64(v.InputHW)
	}
	shape := append([]int64{int64(max(v.Batch, 1))}, sample...)
	x = &data.Batch{Input: NormalInput(shape, s.opts.Seed, r), Name: s.input.Name}
	if v.Perturb > 0 {
		eps := normalTensor(shape, streamKey(s.opts.Seed, streamPerturb, r, 0))
		mixed := make([]float32, len(eps.F32))
		for i := range mixed {
			// In float64, then rounded: x + γ·ε as the reference computes it.
			mixed[i] = float32(float64(x.Input.F32[i]) + v.Perturb*float64(eps.F32[i]))
		}
		perturbed = &data.Batch{Input: runtime.NewFloat32(shape, mixed), Name: s.input.Name}
	}
	return x, perturbed, nil
}
