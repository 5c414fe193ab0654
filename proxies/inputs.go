package proxies

import (
	"fmt"
	"slices"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/engine"

	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
)

// Heads of the weight-gradient proxies (Options.Head).
const (
	// HeadAuto takes the cross-entropy where the head output has a class
	// axis (N×C; N×C×H×W for an image model; N×T×V for a model whose main
	// input is token ids) and the sum of the output otherwise.
	HeadAuto = "auto"
	// HeadCE forces the cross-entropy (an error for other shapes).
	HeadCE = "ce"
	// HeadSum forces the sum of the head output.
	HeadSum = "sum"
)

// setInputs finds the model's inputs and the main one (data.MainInput, or
// the one the batch names), and checks the batch against them.
func (s *scorer) setInputs() error {
	s.inputs = s.fwd.Inputs()
	if len(s.inputs) == 0 {
		return fmt.Errorf("proxies: %s has no inputs", s.m.Name())
	}
	main := data.MainInput(s.inputs)
	b := s.opts.Batch
	if b != nil && b.Name != "" {
		main = slices.IndexFunc(s.inputs, func(in ox.Input) bool { return in.Name == b.Name })
		if main < 0 {
			return fmt.Errorf("proxies: %s: the batch feeds input %q, which the model does not have (its inputs: %s)", s.m.Name(), b.Name, inputList(s.inputs))
		}
	}
	s.input = s.inputs[main]
	if b == nil || b.Input == nil {
		return nil
	}
	if len(s.inputs) > 1 && b.Name == "" && b.Others == nil {
		return fmt.Errorf("proxies: %s has %d inputs (%s): build the batch with data.LoadInputs (the CLI: --input NAME=SHAPE[:DTYPE][:SOURCE] per input)", s.m.Name(), len(s.inputs), inputList(s.inputs))
	}
	feeds := b.Feeds(s.input.Name)
	for _, in := range s.inputs {
		t, ok := feeds[in.Name]
		if !ok {
			return fmt.Errorf("proxies: %s: the batch has no tensor for input %q (inputs: %s)", s.m.Name(), in.Name, inputList(s.inputs))
		}
		if err := s.checkBatch(in, t.Shape); err != nil {
			return err
		}
	}
	for name := range feeds {
		if !slices.ContainsFunc(s.inputs, func(in ox.Input) bool { return in.Name == name }) {
			return fmt.Errorf("proxies: %s: the batch has a tensor for %q, which is not an input of the model (inputs: %s)", s.m.Name(), name, inputList(s.inputs))
		}
	}
	return nil
}

func inputList(ins []ox.Input) string {
	names := make([]string, len(ins))
	for i, in := range ins {
		names[i] = in.Name
	}
	return strings.Join(names, ", ")
}

// multi reports whether the batch feeds more than one input.
func (s *scorer) multi() bool {
	return s.opts.Batch != nil && len(s.opts.Batch.Others) > 0
}

// feeds returns the data batch by input name.
func (s *scorer) feeds() map[string]*runtime.Tensor {
	return s.opts.Batch.Feeds(s.input.Name)
}

// batchShapes returns the shape of every input of the data batch.
func (s *scorer) batchShapes() map[string][]int64 {
	out := map[string][]int64{}
	for name, t := range s.feeds() {
		out[name] = t.Shape
	}
	return out
}

// withShapes sets the input shapes of a gradient session over the data
// batch: the main input's shape, as for a one-input model, or every
// input's (extra, such as labels, added by name).
func (s *scorer) withShapes(o engine.Options, extra map[string][]int64) engine.Options {
	if !s.multi() && len(extra) == 0 {
		o.InputShape = s.opts.Batch.Input.Shape
		return o
	}
	o.InputShapes = s.batchShapes()
	for k, v := range extra {
		o.InputShapes[k] = v
	}
	return o
}

// pickHead chooses the output the gradients are taken of: Options.Output,
// or the first float output.
func (s *scorer) pickHead() {
	outs := s.fwd.Graph().GetOutput()
	var names []string
	for _, o := range outs {
		names = append(names, o.GetName())
	}
	if want := s.opts.Output; want != "" {
		if !slices.Contains(names, want) {
			s.headErr = fmt.Sprintf("proxies: %s has no output %q (outputs: %s): give one of them with --output", s.m.Name(), want, strings.Join(names, ", "))
			return
		}
		if elem, _, _ := ox.ValueDims(outs[slices.Index(names, want)]); elem != 0 && !ox.IsFloat(elem) {
			s.headErr = fmt.Sprintf("proxies: output %q of %s is not float: the gradient proxies differentiate a float output; pick another with --output (outputs: %s)", want, s.m.Name(), strings.Join(names, ", "))
			return
		}
		s.head = want
	} else {
		for _, o := range outs {
			if elem, _, _ := ox.ValueDims(o); elem == 0 || ox.IsFloat(elem) {
				s.head = o.GetName()
				break
			}
		}
		if s.head == "" {
			s.headErr = fmt.Sprintf("proxies: %s has no float output (outputs: %s): the gradient proxies (grad_norm, snip, grasp, fisher, plain, jacob_cov, synflow) differentiate one; the others still come out", s.m.Name(), strings.Join(names, ", "))
			return
		}
	}
	if len(names) > 1 {
		s.res.Notes = append(s.res.Notes, fmt.Sprintf("head: output %q of %d (%s); --output NAME picks another", s.head, len(names), strings.Join(names, ", ")))
	} // A model that ends in a softmax is scored on its logits, as the
	// reference scores classifiers: the outputs of a Softmax sum to 1 for
	// every input (synflow's R = Σ outputs would have no gradient), and
	// cross-entropy on probabilities is not the training loss.
	if n := softmaxBefore(s.fwd, s.head); n != nil {
		s.res.Notes = append(s.res.Notes, fmt.Sprintf("the model ends in %s (node %q): zerocost scores its input %q, the logits, as the reference scores classifiers (the outputs of a softmax sum to 1 for every input, so synflow would be 0, and cross-entropy needs logits)", n.GetOpType(), n.GetName(), n.GetInput()[0]))
		s.head = n.GetInput()[0]
	}
}

// softmaxBefore returns the Softmax or LogSoftmax node that produces
// tensor t, directly or through reshapes (an upgraded opset < 13 Softmax
// is Flatten → Softmax → Reshape), or nil.
func softmaxBefore(m *ox.Model, t string) *onnx.NodeProto {
	producer := map[string]*onnx.NodeProto{}
	for _, n := range m.Graph().GetNode() {
		for _, o := range n.GetOutput() {
			producer[o] = n
		}
	}
	for range 4 {
		n := producer[t]
		if n == nil || len(n.GetInput()) == 0 {
			return nil
		}
		switch n.GetOpType() {
		case "Softmax", "LogSoftmax":
			return n
		case "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity":
			t = n.GetInput()[0]
		default:
			return nil
		}
	}
	return nil
}

// ceHead decides the head of the weight-gradient proxies for a head output
// of shape dims (at the batch's size): the cross-entropy with its class
// axis, or the sum head with the reason in why.
func (s *scorer) ceHead(dims []int64) (ce bool, why string, err error) {
	rank := len(dims)
	axis := autodiff.CEClassAxis(rank)
	mode := s.opts.Head
	if mode == "" {
		mode = HeadAuto
	}
	switch mode {
	case HeadSum:
		return false, "--head sum", nil
	case HeadCE:
		if axis < 0 || dims[axis] < 1 {
			return false, "", fmt.Errorf("proxies: --head ce: the cross-entropy head needs 2-D logits (N×classes), N×T×V or N×C×H×W; output %q has shape %v: use --head sum or auto", s.head, dims)
		}
		return true, "", nil
	case HeadAuto:
	default:
		return false, "", fmt.Errorf("proxies: unknown head %q: use auto, ce or sum", mode)
	}
	tokens := data.IsInteger(s.input.ElemType)
	image := len(s.input.Dims) == 4 && ox.IsFloat(s.input.ElemType)
	switch {
	case rank == 2 && dims[1] >= 2:
		return true, "", nil
	case rank == 3 && dims[2] >= 2 && tokens:
		return true, "", nil
	case rank == 4 && dims[1] >= 2 && image:
		return true, "", nil
	case rank == 2:
		return false, "it has one column, and cross-entropy over one class is 0", nil
	case rank == 3 && !tokens:
		return false, "an N×A×B output of a model whose main input is not token ids has no class axis zerocost can tell (boxes, embeddings); per-token cross-entropy is for language models", nil
	case rank == 4 && !image:
		return false, "an N×C×H×W output of a model whose main input is not an image has no class axis zerocost can tell", nil
	}
	return false, fmt.Sprintf("a %d-D output has no class axis for cross-entropy (N×C, N×T×V or N×C×H×W)", rank), nil
}

// headNote describes the head of the weight-gradient proxies for the result.
func (s *scorer) headNote(names []string, ce bool, why string, dims []int64, labels string) string {
	list := strings.Join(names, ", ")
	if !ce {
		return fmt.Sprintf("%s: the sum head (Σ of output %q, shape %v) instead of cross-entropy: %s; --head ce forces cross-entropy", list, s.head, dims, why)
	}
	switch len(dims) {
	case 3:
		return fmt.Sprintf("%s: cross-entropy per token: output %q (N×T×V %v) against labels N×T (%s), the mean over every token", list, s.head, dims, labels)
	case 4:
		return fmt.Sprintf("%s: cross-entropy per pixel: output %q (N×C×H×W %v) against labels N×H×W (%s), the mean over every pixel, as torch's cross_entropy", list, s.head, dims, labels)
	}
	return ""
}

// labelsFor returns the labels of a cross-entropy head of shape dims at
// the batch's size: the batch's (checked against the shape) or seeded
// random ones in 0..classes-1, and how they were made.
func (s *scorer) labelsFor(dims []int64, axis int, classes int64) (*runtime.Tensor, string, error) {
	var shape []int64
	for i, d := range dims {
		if i != axis {
			shape = append(shape, d)
		}
	}
	for i, d := range shape {
		if d < 0 {
			return nil, "", fmt.Errorf("proxies: output %q has a size at axis %d that zerocost could not find (shape %v)", s.head, i, dims)
		}
	}
	b := s.opts.Batch
	if b.Labels == nil {
		return runtime.NewInt64(shape, data.RandomLabels(runtime.NumElements(shape), classes, s.opts.Seed)), fmt.Sprintf("random in [0, %d), seed %d", classes, s.opts.Seed), nil
	}
	have := b.LabelShape
	if have == nil {
		have = []int64{int64(len(b.Labels))}
	}
	if !slices.Equal(have, shape) {
		if len(shape) == 1 {
			return nil, "", fmt.Errorf("proxies: %d labels for a batch of %d", len(b.Labels), shape[0])
		}
		return nil, "", fmt.Errorf("proxies: the labels have shape %v; output %q (%v) needs labels of shape %v (one per position): give them as a .npy file with --labels", have, s.head, dims, shape)
	}
	return runtime.NewInt64(shape, b.Labels), "from the data", nil
}

// jacobTarget returns the tensor jacob_cov differentiates with respect to:
// the main input when it is float, else the output of the embedding lookup
// it indexes; the note says which when it is not a one-input model's input.
func (s *scorer) jacobTarget() (tensor, note string, err error) {
	if ox.IsFloat(s.input.ElemType) {
		if len(s.inputs) > 1 {
			note = fmt.Sprintf("jacob_cov: input Jacobian with respect to input %q (the first float input), the other inputs held fixed", s.input.Name)
		}
		return s.input.Name, note, nil
	}
	if e, ok := s.fwd.EmbeddingOf(s.input.Name); ok {
		return e.Output, fmt.Sprintf("jacob_cov: Jacobian with respect to tensor %q, the output of embedding lookup %q (table %q, %d rows) of integer input %q: token ids have no gradient", e.Output, e.Node, e.Table, e.Vocab, s.input.Name), nil
	}
	return "", "", fmt.Errorf("proxies: jacob_cov needs a float input or an embedding lookup (a Gather of an initializer) of the integer input %q; %s has neither", s.input.Name, s.m.Name())
}

// onesFeeds returns synflow's input: one sample of ones in every input
// (float 1, integer 1 — token id 1, as id 0 is often the padding row that
// padding_idx keeps at zero; 0 for a vocabulary of one — and bool true),
// at the batch's shapes (or the declared ones) with axis 0 set to 1 where
// it is the batch.
func (s *scorer) onesFeeds() (map[string]*runtime.Tensor, error) {
	feeds := map[string]*runtime.Tensor{}
	var batch map[string]*runtime.Tensor
	if s.opts.Batch != nil && s.opts.Batch.Input != nil {
		batch = s.feeds()
	}
	ins := s.inputs
	if ins == nil { // a scorer built for the main input alone
		ins = []ox.Input{s.input}
	}
	for _, in := range ins {
		shape := append([]int64{}, in.Dims...)
		if t, ok := batch[in.Name]; ok {
			shape = append([]int64{}, t.Shape...)
		}
		if len(shape) > 0 && (in.Name == s.input.Name || in.Dims[0] < 0 || in.Dims[0] == 1) {
			shape[0] = 1 // the main input as before; the others where axis 0 is the batch
		}
		for i, d := range shape {
			if d < 0 {
				return nil, fmt.Errorf("proxies: input %q has a dynamic size at axis %d: give the input shape", in.Name, i)
			}
		}
		switch {
		case in.ElemType == ox.Double:
			feeds[in.Name] = runtime.NewFloat64(shape, data.Ones(shape).Float64s())
		case in.ElemType == 0 || ox.IsFloat(in.ElemType):
			feeds[in.Name] = data.Ones(shape)
		default:
			one := int64(1)
			if e, ok := s.fwd.EmbeddingOf(in.Name); ok && e.Vocab < 2 {
				one = 0
			}
			v := make([]int64, runtime.NumElements(shape))
			for i := range v {
				v[i] = one
			}
			t, err := runtime.NewInteger(shape, v, in.ElemType)
			if err != nil {
				return nil, fmt.Errorf("proxies: input %q: %w", in.Name, err)
			}
			feeds[in.Name] = t
		}
	}
	return feeds, nil
}

// shapesOf returns the shapes of a feed map.
func shapesOf(feeds map[string]*runtime.Tensor) map[string][]int64 {
	out := map[string][]int64{}
	for k, t := range feeds {
		out[k] = t.Shape
	}
	return out
}

// headShape returns the shape of the head output at the batch's size.
func (s *scorer) headShape() ([]int64, error) {
	shapes, err := s.dataShapes(s.fwd)
	if err != nil {
		return nil, err
	}
	info, ok := shapes[s.head]
	if !ok {
		return nil, fmt.Errorf("proxies: %s: output %q is not a tensor of the model", s.m.Name(), s.head)
	}
	if !info.IsFloat() {
		return nil, fmt.Errorf("proxies: output %q of %s is not float: the gradient proxies differentiate a float output; pick one with --output", s.head, s.m.Name())
	}
	return info.Dims, nil
}
