package runtime

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	ort "github.com/yalue/onnxruntime_go"
)

// Provider names an ONNX Runtime execution provider.
type Provider string

// The execution providers zerocost can ask for.
const (
	CPU  Provider = "cpu"
	CUDA Provider = "cuda"
)

// ParseProvider turns a flag value into a Provider.
func ParseProvider(s string) (Provider, error) {
	switch p := Provider(strings.ToLower(s)); p {
	case CPU, CUDA:
		return p, nil
	case "":
		return CPU, nil
	}
	return "", fmt.Errorf("runtime: unknown execution provider %q (use cpu or cuda)", s)
}

// ErrProviderUnavailable is returned when the loaded library lacks the
// requested execution provider. zerocost never falls back silently.
var ErrProviderUnavailable = errors.New("runtime: execution provider not available")

// SessionOptions configure a session. The zero value runs on the CPU with
// ONNX Runtime's default thread count and discovers input and output names
// from the model.
type SessionOptions struct {
	Provider Provider // cpu (default) or cuda
	Threads  int      // intra-op threads; 0 means ONNX Runtime's default
	DeviceID int      // CUDA device
	// Inputs and Outputs name the graph inputs to feed and the outputs to
	// return, in order. Nil means all of the model's inputs and outputs.
	Inputs, Outputs []string
	// Optimization is ONNX Runtime's graph optimisation level: "" or "all"
	// (the default), "extended", "basic" or "none". Fusions of the higher
	// levels emit contrib ops that have float32 kernels only.
	Optimization string
	// Spin lets ONNX Runtime's worker threads spin while they wait for work
	// (its own default). Off (the zero value), they sleep: on a machine whose
	// cores are busy with other processes or with parallel workers, spinning
	// threads take the cores from the threads that have work (a NAS-Bench-201
	// grasp run at load 4 on 2 cores: 10.2 s spinning, 6.5 s not).
	Spin bool
	// Profile, when not empty, makes ONNX Runtime write a JSON trace of every
	// node it runs to a file starting with this prefix.
	Profile string
	// MaxMemory is the memory limit in bytes that packages opening sessions
	// check their estimates against (0: DefaultMemoryLimit, negative: no
	// limit; see CheckMemory). NewSession itself does not check it.
	MaxMemory int64
	// Budget, when not nil, is the share of MaxMemory of one of several
	// parallel workers: packages opening sessions reserve their estimate in
	// it (engine's gradient sessions do), waiting for the other workers when
	// it does not fit. NewSession itself does not use it.
	Budget *MemoryBudget
}

// Session is an ONNX Runtime inference session. It is safe for concurrent
// use by several goroutines. Release it with Destroy.
type Session struct {
	s       *ort.DynamicAdvancedSession
	inputs  []string
	outputs []string
}

// NewSession opens a session on the ONNX model in model.
func NewSession(model []byte, opts SessionOptions) (*Session, error) {
	if Version() == "" {
		return nil, errors.New("runtime: ONNX Runtime is not loaded; call runtime.Init first")
	}
	inputs, outputs := opts.Inputs, opts.Outputs
	if inputs == nil || outputs == nil {
		ins, outs, err := ort.GetInputOutputInfoWithONNXData(model)
		if err != nil {
			return nil, fmt.Errorf("runtime: reading the model's inputs and outputs: %w", err)
		}
		if inputs == nil {
			for _, in := range ins {
				inputs = append(inputs, in.Name)
			}
		}
		if outputs == nil {
			for _, out := range outs {
				outputs = append(outputs, out.Name)
			}
		}
	}
	if len(inputs) == 0 || len(outputs) == 0 {
		// onnxruntime_go's Run indexes the first input and output name.
		return nil, fmt.Errorf("runtime: the model has %d inputs and %d outputs; a session needs at least one of each", len(inputs), len(outputs))
	}
	so, err := newSessionOptions(opts)
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(model, inputs, outputs, so)
	if err != nil {
		return nil, fmt.Errorf("runtime: creating the session: %w", err)
	}
	return &Session{s: s, inputs: inputs, outputs: outputs}, nil
}

func newSessionOptions(opts SessionOptions) (*ort.SessionOptions, error) {
	provider := opts.Provider
	if provider == "" {
		provider = CPU
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("runtime: session options: %w", err)
	}
	// ONNX Runtime's own log lines repeat the errors that Run and
	// NewSession return (with the node), on stderr and mid-table: keep only
	// fatal ones.
	if err := so.SetLogSeverityLevel(ort.LoggingLevelFatal); err != nil {
		so.Destroy()
		return nil, fmt.Errorf("runtime: setting the log level: %w", err)
	}
	if opts.Threads > 0 {
		if err := so.SetIntraOpNumThreads(opts.Threads); err != nil {
			so.Destroy()
			return nil, fmt.Errorf("runtime: setting %d intra-op threads: %w", opts.Threads, err)
		}
		if err := so.SetInterOpNumThreads(1); err != nil {
			so.Destroy()
			return nil, fmt.Errorf("runtime: setting inter-op threads: %w", err)
		}
	}
	if !opts.Spin {
		for _, key := range []string{"session.intra_op.allow_spinning", "session.inter_op.allow_spinning"} {
			if err := so.AddSessionConfigEntry(key, "0"); err != nil {
				so.Destroy()
				return nil, fmt.Errorf("runtime: setting %s: %w", key, err)
			}
		}
	}
	if level, ok := optimizationLevels[opts.Optimization]; !ok {
		so.Destroy()
		return nil, fmt.Errorf("runtime: unknown optimisation level %q (use all, extended, basic or none)", opts.Optimization)
	} else if err := so.SetGraphOptimizationLevel(level); err != nil {
		so.Destroy()
		return nil, fmt.Errorf("runtime: setting the optimisation level: %w", err)
	}
	if opts.Profile != "" {
		if err := so.EnableProfiling(opts.Profile); err != nil {
			so.Destroy()
			return nil, fmt.Errorf("runtime: enabling profiling: %w", err)
		}
	}
	switch provider {
	case CPU:
	case CUDA:
		if err := appendCUDA(so, opts.DeviceID); err != nil {
			so.Destroy()
			return nil, err
		}
	default:
		so.Destroy()
		return nil, fmt.Errorf("runtime: unknown execution provider %q (use cpu or cuda)", provider)
	}
	return so, nil
}

var optimizationLevels = map[string]ort.GraphOptimizationLevel{
	"":         ort.GraphOptimizationLevelEnableAll,
	"all":      ort.GraphOptimizationLevelEnableAll,
	"extended": ort.GraphOptimizationLevelEnableExtended,
	"basic":    ort.GraphOptimizationLevelEnableBasic,
	"none":     ort.GraphOptimizationLevelDisableAll,
}

func appendCUDA(so *ort.SessionOptions, device int) error {
	co, err := ort.NewCUDAProviderOptions()
	if err != nil {
		return cudaError(err)
	}
	defer co.Destroy()
	if err := co.Update(map[string]string{"device_id": fmt.Sprint(device)}); err != nil {
		return cudaError(err)
	}
	if err := so.AppendExecutionProviderCUDA(co); err != nil {
		return cudaError(err)
	}
	return nil
}

func cudaError(err error) error {
	return fmt.Errorf("%w: cuda is not usable with %s (%v); use --ep cpu, or point --ort-lib at a CUDA build of ONNX Runtime %s (onnxruntime-gpu) with its CUDA and cuDNN libraries on the loader path",
		ErrProviderUnavailable, LoadedLibrary(), err, WantVersion)
}

// Providers returns the execution providers the loaded library can use here.
// cpu is always present; cuda is present when a CUDA session can be opened.
func Providers() []Provider {
	if Version() == "" {
		return nil
	}
	ps := []Provider{CPU}
	so, err := ort.NewSessionOptions()
	if err != nil {
		return ps
	}
	defer so.Destroy()
	if appendCUDA(so, 0) == nil {
		ps = append(ps, CUDA)
	}
	return ps
}

// Inputs returns the names of the inputs Run expects.
func (s *Session) Inputs() []string { return s.inputs }

// Outputs returns the names of the outputs Run returns.
func (s *Session) Outputs() []string { return s.outputs }

// Destroy releases the session. It is safe to call more than once.
func (s *Session) Destroy() {
	if s != nil && s.s != nil {
		s.s.Destroy()
		s.s = nil
	}
}

// Run feeds inputs (every input of the session, by name) and returns every
// output by name, copied into Go memory.
func (s *Session) Run(inputs map[string]*Tensor) (map[string]*Tensor, error) {
	if s.s == nil {
		return nil, errors.New("runtime: session used after Destroy")
	}
	ins := make([]ort.Value, len(s.inputs))
	defer destroyAll(ins)
	for i, name := range s.inputs {
		t, ok := inputs[name]
		if !ok {
			return nil, fmt.Errorf("runtime: missing input %q (the model needs %s)", name, strings.Join(s.inputs, ", "))
		}
		v, err := toValue(name, t)
		if err != nil {
			return nil, err
		}
		ins[i] = v
	}
	for name := range inputs {
		if !slices.Contains(s.inputs, name) {
			return nil, fmt.Errorf("runtime: unknown input %q (the model needs %s)", name, strings.Join(s.inputs, ", "))
		}
	}
	outs := make([]ort.Value, len(s.outputs))
	defer destroyAll(outs)
	if err := s.s.Run(ins, outs); err != nil {
		msg := err.Error()
		if strings.Contains(msg, "not supported to create a Go value") || strings.Contains(msg, "zero dimensions") {
			msg += " (outputs must have rank >= 1: reshape 0-d outputs to [1])"
		}
		return nil, fmt.Errorf("runtime: %s", msg)
	}
	result := make(map[string]*Tensor, len(outs))
	for i, v := range outs {
		t, err := fromValue(v)
		if err != nil {
			return nil, fmt.Errorf("runtime: output %q: %w", s.outputs[i], err)
		}
		result[s.outputs[i]] = t
	}
	return result, nil
}

func destroyAll(vs []ort.Value) {
	for _, v := range vs {
		// A failed conversion can leave a typed nil behind the interface.
		if v != nil && !reflect.ValueOf(v).IsNil() {
			v.Destroy()
		}
	}
}

func toValue(name string, t *Tensor) (ort.Value, error) {
	if err := t.check(name); err != nil {
		return nil, err
	}
	var v ort.Value
	var err error
	switch t.DType() {
	case Float32:
		v, err = newValue(t.Shape, t.F32)
	case Float64:
		v, err = newValue(t.Shape, t.F64)
	case Int64:
		switch t.ONNXType {
		case 0, onnxInt64:
			v, err = newValue(t.Shape, t.I64)
		case onnxInt32:
			v, err = newValue(t.Shape, narrow[int32](t.I64))
		case onnxBool:
			b := make([]bool, len(t.I64))
			for i, x := range t.I64 {
				b[i] = x != 0
			}
			v, err = newValue(t.Shape, b)
		case onnxUint8:
			v, err = newValue(t.Shape, narrow[uint8](t.I64))
		case onnxInt8:
			v, err = newValue(t.Shape, narrow[int8](t.I64))
		case onnxUint16:
			v, err = newValue(t.Shape, narrow[uint16](t.I64))
		case onnxInt16:
			v, err = newValue(t.Shape, narrow[int16](t.I64))
		case onnxUint32:
			v, err = newValue(t.Shape, narrow[uint32](t.I64))
		case onnxUint64:
			v, err = newValue(t.Shape, narrow[uint64](t.I64))
		default:
			return nil, fmt.Errorf("runtime: input %q: integer values with element type %d cannot be fed (use int64, int32, bool, or 8/16-bit and unsigned integers)", name, t.ONNXType)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("runtime: input %q: %w", name, err)
	}
	return v, nil
}

// newValue wraps data as an ONNX Runtime value of the given shape: a 0-d
// tensor (scalar) for an empty shape, which ort.NewTensor refuses.
func newValue[T ort.TensorData](shape []int64, data []T) (ort.Value, error) {
	if len(shape) == 0 {
		return ort.NewScalar(data[0])
	}
	return ort.NewTensor(ort.NewShape(shape...), data)
}

// narrow converts int64 values to a narrower integer type.
func narrow[T int32 | uint8 | int8 | int16 | uint16 | uint32 | uint64](s []int64) []T {
	out := make([]T, len(s))
	for i, v := range s {
		out[i] = T(v)
	}
	return out
}

func fromValue(v ort.Value) (*Tensor, error) {
	shape := []int64(v.GetShape())
	if shape == nil {
		shape = []int64{}
	}
	t := &Tensor{Shape: shape}
	switch x := v.(type) {
	case *ort.Tensor[float32]:
		t.F32, t.ONNXType = nonNil(x.GetData()), 1
	case *ort.Tensor[float64]:
		t.F64, t.ONNXType = nonNil(x.GetData()), 11
	case *ort.Tensor[int64]:
		t.I64, t.ONNXType = nonNil(x.GetData()), 7
	case *ort.Tensor[int32]:
		t.I64, t.ONNXType = widen(x.GetData()), 6
	case *ort.Tensor[uint8]:
		t.I64, t.ONNXType = widen(x.GetData()), 2
	case *ort.Tensor[int8]:
		t.I64, t.ONNXType = widen(x.GetData()), 3
	case *ort.Tensor[int16]:
		t.I64, t.ONNXType = widen(x.GetData()), 5
	case *ort.Tensor[uint16]:
		t.I64, t.ONNXType = widen(x.GetData()), 4
	case *ort.Tensor[uint32]:
		t.I64, t.ONNXType = widen(x.GetData()), 12
	case *ort.Tensor[uint64]:
		t.I64, t.ONNXType = widen(x.GetData()), 13
	case *ort.Tensor[bool]:
		data := x.GetData()
		out := make([]int64, len(data))
		for i, b := range data {
			if b {
				out[i] = 1
			}
		}
		t.I64, t.ONNXType = out, 9
	default:
		return nil, fmt.Errorf("unsupported output type %T (zerocost reads float32, float64 and integer tensors)", v)
	}
	return t, nil
}

// nonNil keeps an empty tensor's slice non-nil so that DType still works.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func widen[T int32 | uint8 | int8 | int16 | uint16 | uint32 | uint64](s []T) []int64 {
	out := make([]int64, len(s))
	for i, v := range s {
		out[i] = int64(v)
	}
	return out
}
