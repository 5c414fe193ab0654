package data

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
)

// InputSpec says how to fill one input of a model with several inputs or
// a non-float input (the --input flag, NAME=SHAPE[:DTYPE][:SOURCE]).
type InputSpec struct {
	Name string `json:"name"`
	// Shape is the whole shape or one sample's (without the batch axis);
	// nil keeps the declared shape, with dynamic sizes filled as
	// LoadInputs says.
	Shape []int64 `json:"shape,omitempty"`
	// DType is the element type the input must have ("float32",
	// "float64", "int64", "int32" or "bool"); "" takes the declared one.
	DType string `json:"dtype,omitempty"`
	// Source is one of Sources, a .npy file or a CIFAR-10 .bin file; ""
	// takes the default of the input's kind (see LoadInputs).
	Source string `json:"source,omitempty"`
}

// Sources are the generated data an input can be filled with.
var Sources = []string{"random", "ones", "zeros", "tokens", "mask"}

// dtypes maps the element type names of an InputSpec to ONNX types.
var dtypes = map[string]int32{
	"float32": onnximport.Float, "float": onnximport.Float, "float64": onnximport.Double, "double": onnximport.Double,
	"int64": onnximport.Int64, "int32": onnximport.Int32, "bool": onnximport.Bool,
}

// ParseInputSpec reads NAME=SHAPE[:DTYPE][:SOURCE]: SHAPE as "3x32x32"
// (one sample, or the whole shape), or empty for the declared shape; DTYPE
// one of float32, float64, int64, int32, bool; SOURCE one of Sources, a
// .npy file or a CIFAR-10 .bin file. "ids=16:tokens", "mask=:ones",
// "image=3x64x64:cifar.bin" and "flag=:bool:zeros" are specifications.
func ParseInputSpec(s string) (InputSpec, error) {
	name, rest, ok := strings.Cut(s, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return InputSpec{}, fmt.Errorf("data: input specification %q: want NAME=SHAPE[:DTYPE][:SOURCE], for example ids=16:int64:tokens", s)
	}
	parts := strings.Split(rest, ":")
	spec := InputSpec{Name: name}
	if sh := strings.TrimSpace(parts[0]); sh != "" && sh != "scalar" {
		shape, err := ParseShape(sh)
		if err != nil {
			return InputSpec{}, fmt.Errorf("data: input specification %q: %w", s, err)
		}
		spec.Shape = shape
	}
	parts = parts[1:]
	if len(parts) > 0 {
		if _, isType := dtypes[strings.ToLower(strings.TrimSpace(parts[0]))]; isType {
			spec.DType = strings.ToLower(strings.TrimSpace(parts[0]))
			parts = parts[1:]
		}
	}
	spec.Source = strings.TrimSpace(strings.Join(parts, ":")) // a path may hold ':'
	if src := strings.ToLower(spec.Source); src != "" && !isFile(src) && !contains(Sources, src) {
		return InputSpec{}, fmt.Errorf("data: input specification %q: unknown source or type %q: use one of %s, a .npy file or a CIFAR-10 .bin file (types: float32, float64, int64, int32, bool)", s, spec.Source, strings.Join(Sources, ", "))
	} else if src != "" && !isFile(src) {
		spec.Source = src
	}
	return spec, nil
}

// ParseInputSpecs reads a list of specifications separated by ';' (the
// inputs column of a manifest).
func ParseInputSpecs(s string) ([]InputSpec, error) {
	var out []InputSpec
	for _, part := range strings.Split(s, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		spec, err := ParseInputSpec(part)
		if err != nil {
			return nil, err
		}
		out = append(out, spec)
	}
	return out, nil
}

// String writes the specification back in the flag's notation.
func (s InputSpec) String() string {
	out := s.Name + "=" + strings.Trim(strings.ReplaceAll(fmt.Sprint(s.Shape), " ", "x"), "[]")
	if s.DType != "" {
		out += ":" + s.DType
	}
	if s.Source != "" {
		out += ":" + s.Source
	}
	return out
}

func isFile(src string) bool {
	l := strings.ToLower(src)
	return strings.HasSuffix(l, ".npy") || strings.HasSuffix(l, ".bin")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// IsMask reports whether an input is named like an attention or padding
// mask (its name contains "mask"): such inputs default to all ones, and
// are never the main input.
func IsMask(name string) bool { return strings.Contains(strings.ToLower(name), "mask") }

// IsInteger reports whether an ONNX element type is an integer type.
func IsInteger(elem int32) bool {
	switch elem {
	case onnximport.Int64, onnximport.Int32, 2, 3, 4, 5, 12, 13:
		return true
	}
	return false
}

// MainInput returns the index of a model's main input: the first float
// input of rank >= 1 not named like a mask, else the first input of rank
// >= 1 not named like a mask (token ids), else the first float input, else
// the first. (A 0-d input is a setting, a scale or a flag, not data.) The main input takes the
// data flags (--data, --input-shape, --layout), its batch is Batch.Input,
// and jacob_cov differentiates with respect to it (or, when it holds token
// ids, to its embedding).
func MainInput(ins []onnximport.Input) int {
	for _, pass := range []func(onnximport.Input) bool{
		func(in onnximport.Input) bool {
			return onnximport.IsFloat(in.ElemType) && len(in.Dims) > 0 && !IsMask(in.Name)
		},
		func(in onnximport.Input) bool { return len(in.Dims) > 0 && !IsMask(in.Name) },
		func(in onnximport.Input) bool { return onnximport.IsFloat(in.ElemType) },
	} {
		for i, in := range ins {
			if pass(in) {
				return i
			}
		}
	}
	return 0
}

// LoadInputs builds the scoring batch for every input of m.
//
// The main input (MainInput) is filled from spec as LoadBatch fills a
// model's only input (Source, Shape, Layout, Sample), so a one-input float
// model gets exactly LoadBatch's batch. Every other input gets its
// InputSpec from spec.Inputs, or defaults by kind:
//
//   - float: random normal values (seeded per input); a 0-d float (a
//     scale, a temperature) is 1;
//   - integer: an input named like a mask (IsMask) is all ones; any other
//     gets random token ids in [0, vocab), vocab the number of rows of the
//     embedding table the input indexes (onnximport.Model.EmbeddingOf),
//     else spec.Vocab, else an error that says what to give;
//   - bool: all true.
//
// Dynamic sizes are the batch size at a dynamic axis 0, the size of a
// dimension of the same name (dim_param) in the main input, or an error
// naming the input and the flag to give. An integer main input defaults to
// random token ids. Labels come as in LoadBatch (a .npy file of any shape
// whose first axis is the batch).
func LoadInputs(spec DataSpec, m *onnximport.Model) (*Batch, error) {
	ins := m.Inputs()
	if len(ins) == 0 {
		return nil, fmt.Errorf("data: %s has no inputs to feed", m.Name())
	}
	if err := checkTensorInputs(m); err != nil {
		return nil, err
	}
	specs := map[string]InputSpec{}
	for _, s := range spec.Inputs {
		found := false
		for _, in := range ins {
			found = found || in.Name == s.Name
		}
		if !found {
			return nil, fmt.Errorf("data: --input %s: %s has no input %q (its inputs: %s)", s, m.Name(), s.Name, inputNames(ins))
		}
		specs[s.Name] = s
	}
	n := spec.BatchSize
	if n <= 0 {
		n = 64
	}
	main := MainInput(ins)
	fixed := m.FixedBatch()
	b := &Batch{Name: ins[main].Name}
	named := map[string]int64{} // sizes of the main input's named dimensions
	var described []string
	order := append([]int{main}, func() []int {
		var rest []int
		for i := range ins {
			if i != main {
				rest = append(rest, i)
			}
		}
		return rest
	}()...)
	for _, i := range order {
		in := ins[i]
		is := specs[in.Name]
		if is.DType != "" {
			if want := dtypes[is.DType]; in.ElemType != 0 && want != in.ElemType {
				return nil, fmt.Errorf("data: --input %s: input %q is declared %s, not %s", is, in.Name, typeName(in.ElemType), is.DType)
			} else if in.ElemType == 0 {
				in.ElemType = want
			}
		}
		if fixed > 0 && len(in.Dims) > 0 && in.Dims[0] == fixed {
			in.Dims = append([]int64{-1}, in.Dims[1:]...) // see LoadBatch
		}
		f := filler{in: in, src: is.Source, shape: is.Shape, batch: n, seed: spec.Seed + uint64(i)*0x9e3779b97f4a7c15, spec: spec, named: named}
		if i == main {
			f.seed, f.main = spec.Seed, true
			if f.src == "" {
				f.src = spec.Source
			}
			if f.shape == nil {
				f.shape = spec.Shape
			}
		}
		if e, ok := m.EmbeddingOf(in.Name); ok {
			f.embedding = &e
		}
		t, err := f.fill()
		if err != nil {
			return nil, err
		}
		b.Notes = append(b.Notes, t.Notes...)
		if i == main {
			b.Input, b.Labels = t.Input, t.Labels
			for axis, name := range in.DimNames {
				if name != "" && axis < len(t.Input.Shape) {
					named[name] = t.Input.Shape[axis]
				}
			}
		} else {
			if b.Others == nil {
				b.Others = map[string]*runtime.Tensor{}
			}
			b.Others[in.Name] = t.Input
		}
		if len(ins) > 1 || !onnximport.IsFloat(in.ElemType) {
			described = append(described, fmt.Sprintf("%s %s: %s", in.Name, fmtShape(t.Input.Shape), f.what))
		}
	}
	if len(described) > 0 {
		b.Notes = append(b.Notes, "inputs: "+strings.Join(described, "; "))
	}
	if spec.Labels != "" {
		if err := b.readLabels(spec.Labels, spec.MaxMemory); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func fmtShape(shape []int64) string {
	if len(shape) == 0 {
		return "(0-d)"
	}
	return fmtDims(shape)
}

func inputNames(ins []onnximport.Input) string {
	names := make([]string, len(ins))
	for i, in := range ins {
		names[i] = in.Name
	}
	return strings.Join(names, ", ")
}

func typeName(elem int32) string {
	for name, e := range dtypes {
		if e == elem && name != "float" && name != "double" {
			return name
		}
	}
	return fmt.Sprintf("element type %d", elem)
}

// filler fills one input.
type filler struct {
	in        onnximport.Input
	src       string
	shape     []int64 // from the spec or the flags (nil: declared)
	batch     int
	seed      uint64
	spec      DataSpec
	named     map[string]int64
	main      bool
	embedding *onnximport.Embedding
	what      string // how it was filled, for the notes
}

func (f *filler) flag() string {
	if f.main {
		return "--input-shape (or --input " + f.in.Name + "=SHAPE)"
	}
	return "--input " + f.in.Name + "=SHAPE"
}

// dims resolves the input's shape: the given one, else the declared one
// with a dynamic axis 0 set to the batch size and other dynamic sizes from
// the main input's dimensions of the same name.
func (f *filler) dims() ([]int64, error) {
	in := f.in
	if len(f.shape) > 0 {
		d, err := in.ResolveShape(f.shape, int64(f.batch))
		if err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		return d, nil
	}
	dims := append([]int64{}, in.Dims...)
	for i, d := range dims {
		if d >= 0 {
			continue
		}
		if i < len(in.DimNames) && in.DimNames[i] != "" && f.named[in.DimNames[i]] > 0 {
			dims[i] = f.named[in.DimNames[i]]
		} else if i == 0 {
			dims[i] = int64(f.batch)
		} else {
			return nil, fmt.Errorf("data: input %q has a dynamic size at axis %d (dims %s); give it with %s", in.Name, i, fmtDims(in.Dims), f.flag())
		}
	}
	return dims, nil
}

// fill builds the tensor; Labels are set for CIFAR-10 data.
func (f *filler) fill() (*Batch, error) {
	in := f.in
	src := strings.ToLower(f.src)
	isFloat := onnximport.IsFloat(in.ElemType) || in.ElemType == 0
	switch {
	case isFloat && (src == "" || src == "random" || src == "ones" || isFile(src)):
		if src == "" {
			src = "random"
			if len(in.Dims) == 0 && !f.main {
				src = "ones" // a 0-d float is a setting (scale, temperature), not data
			}
		}
		ds := DataSpec{Source: src, BatchSize: f.batch, Shape: f.shape, Seed: f.seed, Sample: f.spec.Sample, Layout: f.spec.Layout, MaxMemory: f.spec.MaxMemory}
		f.what = map[string]string{"random": "random normal", "ones": "ones"}[src]
		if isFile(src) {
			ds.Source, f.what = f.src, "from "+f.src
		} else if !f.main {
			dims, err := f.dims()
			if err != nil {
				return nil, err
			}
			ds.Shape = dims
		}
		b, err := LoadBatch(ds, in) // the main input exactly as a one-input model's
		if err != nil {
			return nil, err
		}
		if in.ElemType == onnximport.Double && b.Input.F32 != nil && !f.main {
			b.Input = runtime.NewFloat64(b.Input.Shape, b.Input.Float64s())
		}
		return b, nil
	case isFloat && src == "zeros":
		dims, err := f.dims()
		if err != nil {
			return nil, err
		}
		f.what = "zeros"
		size, typ := int64(4), "float32"
		if in.ElemType == onnximport.Double {
			size, typ = 8, "float64"
		}
		if err := checkTensorMemory(in, dims, size, typ, f.spec.MaxMemory); err != nil {
			return nil, err
		}
		if in.ElemType == onnximport.Double {
			return &Batch{Input: runtime.NewFloat64(dims, make([]float64, runtime.NumElements(dims)))}, nil
		}
		return &Batch{Input: runtime.NewFloat32(dims, make([]float32, runtime.NumElements(dims)))}, nil
	case isFloat:
		return nil, fmt.Errorf("data: input %q is float: source %q is for integer inputs; use random, ones, zeros, a .npy file or a CIFAR-10 .bin file", in.Name, f.src)
	}
	if strings.HasSuffix(src, ".bin") {
		return nil, fmt.Errorf("data: input %q holds %s values: a CIFAR-10 file gives float images; use tokens, ones, zeros or a .npy file", in.Name, typeName(in.ElemType))
	}
	if in.ElemType == onnximport.Bool && (src == "random" || src == "tokens") {
		return nil, fmt.Errorf("data: input %q is bool: use ones (true), zeros (false) or a .npy file", in.Name)
	}
	if !IsInteger(in.ElemType) && in.ElemType != onnximport.Bool {
		return nil, fmt.Errorf("data: input %q has %s values, which zerocost cannot generate; feed a float, integer or bool input", in.Name, typeName(in.ElemType))
	}
	if src == "" {
		switch {
		case in.ElemType == onnximport.Bool:
			src = "ones"
		case IsMask(in.Name):
			src = "mask"
		default:
			src = "tokens"
		}
	}
	var values []int64
	var dims []int64
	if strings.HasSuffix(src, ".npy") {
		shape, floats, ints, err := readNPY(f.src, f.spec.MaxMemory)
		if err != nil {
			return nil, err
		}
		if ints == nil {
			return nil, fmt.Errorf("data: %s holds %d floats; input %q needs %s values", f.src, len(floats), in.Name, typeName(in.ElemType))
		}
		if !fits(in.Dims, shape) {
			return nil, fmt.Errorf("data: %s has shape %v, input %q is declared %s", f.src, shape, in.Name, fmtDims(in.Dims))
		}
		dims, values = shape, ints
		f.what = "from " + f.src
	} else {
		var err error
		if dims, err = f.dims(); err != nil {
			return nil, err
		}
		if err := checkTensorMemory(in, dims, 8, "int64", f.spec.MaxMemory); err != nil {
			return nil, err
		}
		values = make([]int64, runtime.NumElements(dims))
		switch src {
		case "ones", "mask":
			for i := range values {
				values[i] = 1
			}
			f.what = "ones"
			if src == "mask" {
				f.what = "ones (a mask: every position attended)"
			}
		case "zeros":
			f.what = "zeros"
		case "tokens", "random":
			vocab, from := f.spec.Vocab, "--vocab"
			if f.embedding != nil {
				vocab, from = f.embedding.Vocab, fmt.Sprintf("the rows of embedding table %q", f.embedding.Table)
			}
			if vocab <= 0 {
				return nil, fmt.Errorf("data: input %q holds %s token ids and indexes no embedding table zerocost can read (a Gather of an initializer): give the vocabulary with --vocab N, or fill it with --input %s=SHAPE:ones|zeros|FILE.npy", in.Name, typeName(in.ElemType), in.Name)
			}
			rng := rand.New(rand.NewPCG(f.seed, 0x746f6b656e73))
			for i := range values {
				values[i] = rng.Int64N(vocab)
			}
			f.what = fmt.Sprintf("random token ids in [0, %d) (%s)", vocab, from)
		default:
			return nil, fmt.Errorf("data: input %q holds %s values: source %q does not apply; use tokens, mask, ones, zeros or a .npy file", in.Name, typeName(in.ElemType), f.src)
		}
	}
	if in.ElemType == onnximport.Bool {
		f.what = strings.NewReplacer("ones", "true", "zeros", "false").Replace(f.what)
	}
	t, err := runtime.NewInteger(dims, values, in.ElemType)
	if err != nil {
		return nil, fmt.Errorf("data: input %q: %w", in.Name, err)
	}
	return &Batch{Input: t}, nil
}
