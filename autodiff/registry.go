package autodiff

import ox "github.com/zerocost/zerocost/onnximport"

// rule is the gradient of one op type. inputs lists the inputs that can
// carry a gradient (nil: all of them); the others are stop-gradient edges
// (shapes, indices, axes, bounds, running statistics).
type rule struct {
	grad   func(c *gctx) error
	inputs []int
}

// rules is the registry: one gradient rule per op type.
var rules = map[string]rule{
	// Arithmetic, with broadcasting reduced back to each input's shape.
	"Add": {addGrad, nil},
	"Sub": {subGrad, nil},
	"Mul": {mulGrad, nil},
	"Div": {divGrad, nil},
	"Sum": {sumGrad, nil},
	"Neg": {negGrad, nil},
	"Pow": {powGrad, nil},
	"Max": {maxMinGrad, nil},
	"Min": {maxMinGrad, nil},

	// Elementwise functions.
	"Sqrt":        {sqrtGrad, nil},
	"Exp":         {expGrad, nil},
	"Log":         {logGrad, nil},
	"Reciprocal":  {reciprocalGrad, nil},
	"Abs":         {absGrad, nil},
	"Erf":         {erfGrad, nil},
	"Relu":        {reluGrad, nil},
	"LeakyRelu":   {leakyReluGrad, nil},
	"PRelu":       {preluGrad, nil},
	"Elu":         {eluGrad, nil},
	"Selu":        {seluGrad, nil},
	"Celu":        {celuGrad, nil},
	"Softplus":    {softplusGrad, nil},
	"Softsign":    {softsignGrad, nil},
	"Clip":        {clipGrad, []int{0}},
	"Sigmoid":     {sigmoidGrad, nil},
	"HardSigmoid": {hardSigmoidGrad, nil},
	"HardSwish":   {hardSwishGrad, nil},
	"Tanh":        {tanhGrad, nil},
	"Softmax":     {softmaxGrad, nil},
	"LogSoftmax":  {logSoftmaxGrad, nil},
	"Identity":    {identityGrad, nil},
	"Dropout":     {dropoutGrad, []int{0}},
	"Cast":        {castGrad, nil}, // float to float only: integer results carry no gradient
	"Where":       {whereGrad, []int{1, 2}},

	// Linear layers.
	"MatMul":        {matMulGrad, nil},
	"Gemm":          {gemmGrad, nil},
	"Conv":          {convGrad, nil},
	"ConvTranspose": {convTransposeGrad, nil},

	// Normalisation in inference form (Normalize decomposes train mode).
	"BatchNormalization": {batchNormGrad, []int{0, 1, 2}},

	// Pooling.
	"MaxPool":           {maxPoolGrad, []int{0}},
	"AveragePool":       {averagePoolGrad, nil},
	"GlobalAveragePool": {globalAveragePoolGrad, nil},
	"GlobalMaxPool":     {globalMaxPoolGrad, nil},

	// Shape manipulation; shape, index and axes inputs stop the gradient.
	"Flatten":         {reshapeGrad, []int{0}},
	"Reshape":         {reshapeGrad, []int{0}},
	"Squeeze":         {reshapeGrad, []int{0}},
	"Unsqueeze":       {reshapeGrad, []int{0}},
	"Transpose":       {transposeGrad, nil},
	"Concat":          {concatGrad, nil},
	"Split":           {splitGrad, []int{0}},
	"Slice":           {sliceGrad, []int{0}},
	"Gather":          {gatherGrad, []int{0}},
	"Expand":          {expandGrad, []int{0}},
	"Tile":            {tileGrad, []int{0}},
	"Pad":             {padGrad, []int{0}},
	"Einsum":          {einsumGrad, nil},
	"Resize":          {resizeGrad, []int{0}},
	"ReduceSum":       {reduceSumGrad, []int{0}},
	"ReduceMean":      {reduceMeanGrad, []int{0}},
	"ScatterElements": {scatterElementsGrad, []int{0, 2}},
}

// noGradient lists ops whose outputs carry no gradient (integer, boolean or
// shape results, and piecewise-constant functions whose derivative is zero
// almost everywhere).
var noGradient = map[string]bool{
	"Shape": true, "Size": true, "Range": true, "ConstantOfShape": true, "Constant": true,
	"Equal": true, "Greater": true, "Less": true, "GreaterOrEqual": true, "LessOrEqual": true,
	"Not": true, "And": true, "Or": true, "Xor": true, "IsNaN": true, "IsInf": true,
	"ArgMax": true, "ArgMin": true, "NonZero": true, "OneHot": true, "EyeLike": true,
	"Floor": true, "Ceil": true, "Round": true, "Sign": true,
	"RandomNormal": true, "RandomUniform": true, "RandomNormalLike": true, "RandomUniformLike": true,
}

// differentiable reports whether input i of a node of this op type can carry a gradient.
func (r rule) differentiable(i int) bool {
	if r.inputs == nil {
		return true
	}
	for _, j := range r.inputs {
		if j == i {
			return true
		}
	}
	return false
}

// SupportedOps returns the op types that have gradient rules.
func SupportedOps() []string {
	ops := make([]string, 0, len(rules))
	for op := range rules {
		ops = append(ops, op)
	}
	return ops
}

// StopGradientInitializers returns the initializers of a normalised model
// that reach the graph outputs only through inputs that stop the gradient
// (shapes, axes, Resize scales and roi, bounds, running statistics) or
// through ops without gradients: constants of the model, not parameters,
// even when they are float tensors. An initializer that reaches no output
// at all is not listed.
func StopGradientInitializers(m *ox.Model) map[string]bool {
	g := m.Graph()
	// Walking the nodes backwards: reaches marks tensors with any path to
	// an output, live those with a path along which a gradient flows.
	reaches, live := map[string]bool{}, map[string]bool{}
	for _, o := range g.GetOutput() {
		reaches[o.GetName()], live[o.GetName()] = true, true
	}
	nodes := g.GetNode()
	for i := len(nodes) - 1; i >= 0; i-- {
		n := nodes[i]
		anyReaches, anyLive := false, false
		for _, o := range n.GetOutput() {
			anyReaches = anyReaches || reaches[o]
			anyLive = anyLive || live[o]
		}
		r, hasRule := rules[n.GetOpType()]
		for j, in := range n.GetInput() {
			if in == "" {
				continue
			}
			reaches[in] = reaches[in] || anyReaches
			// An op without a rule is assumed to pass gradients (it is
			// reported as unsupported elsewhere).
			if anyLive && !noGradient[n.GetOpType()] && (!hasRule || r.differentiable(j)) {
				live[in] = true
			}
		}
	}
	stop := map[string]bool{}
	for _, t := range g.GetInitializer() {
		if reaches[t.GetName()] && !live[t.GetName()] {
			stop[t.GetName()] = true
		}
	}
	return stop
}
