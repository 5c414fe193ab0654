package proxies

import (
	"flag"
	"fmt"
	"strings"

	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/data"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
)

// Request holds the scoring settings of one model in the words of the
// score command's flags. The command line (zerocost score and rank) and
// the HTTP service (query parameters and JSON options of zerocost serve)
// both fill one through RegisterFlags, so that they accept the same names,
// defaults and values and reject the same mistakes with the same messages.
// Its JSON names are the flags' names.
type Request struct {
	Proxies    string     `json:"proxies"`          // default, all, paper, datafree, later, or a comma-separated list
	Data       string     `json:"data"`             // random, ones, FILE.npy or a CIFAR-10 FILE.bin
	Labels     string     `json:"labels,omitempty"` // FILE.npy
	BatchSize  int        `json:"batch-size"`
	InputShape string     `json:"input-shape,omitempty"` // CxHxW; "" for the size the model records
	Seed       uint64     `json:"seed"`
	Sample     bool       `json:"sample,omitempty"`
	BN         string     `json:"bn"` // train or eval
	PerLayer   bool       `json:"per-layer,omitempty"`
	Inputs     InputSpecs `json:"input,omitempty"`
	Output     string     `json:"output,omitempty"`
	Head       string     `json:"head"` // auto, ce or sum
	Vocab      int64      `json:"vocab,omitempty"`
	Layout     string     `json:"layout"` // auto, nchw or nhwc
	// Repeats overrides the repeats of the re-initialising proxies (zen,
	// swap, reg_swap, linear_regions); 0 keeps each one's own.
	Repeats int `json:"repeats,omitempty"`
}

// SettingsError is a bad value of one setting: a usage error of the
// command line, a 400 of the service.
type SettingsError struct{ Msg string }

func (e *SettingsError) Error() string { return e.Msg }

func settingsf(format string, args ...any) error {
	return &SettingsError{fmt.Sprintf(format, args...)}
}

// InputSpecs collects the repeatable --input setting.
type InputSpecs []data.InputSpec

func (l *InputSpecs) String() string {
	parts := make([]string, len(*l))
	for i, s := range *l {
		parts[i] = s.String()
	}
	return strings.Join(parts, " ")
}

// Set adds one specification NAME=SHAPE[:DTYPE][:SOURCE].
func (l *InputSpecs) Set(v string) error {
	spec, err := data.ParseInputSpec(v)
	if err != nil {
		return err
	}
	for _, s := range *l {
		if s.Name == spec.Name {
			return fmt.Errorf("input %q is given twice", spec.Name)
		}
	}
	*l = append(*l, spec)
	return nil
}

// RegisterFlags defines the settings on fs (proxies, data, labels,
// batch-size, input-shape, seed, sample, bn, per-layer, input, output,
// head, vocab, layout) with their defaults.
func (r *Request) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&r.Proxies, "proxies", "default", "proxies to compute: default (all but the later ones), all, paper, datafree, later (published since the paper: zico, meco, …), or a comma-separated list of "+fmt.Sprint(Names()))
	fs.StringVar(&r.Data, "data", "random", "input batch: random (standard normal), ones, FILE.npy (float32 N×C×H×W, or as the model's input), or a CIFAR-10 binary FILE.bin")
	fs.StringVar(&r.Labels, "labels", "", "int64 labels as FILE.npy (default: from CIFAR-10 data, otherwise random with --seed)")
	fs.IntVar(&r.BatchSize, "batch-size", 64, "batch size for random, ones and CIFAR-10 data")
	fs.StringVar(&r.InputShape, "input-shape", "", "shape of one sample (CxHxW) for models with dynamic sizes")
	fs.Uint64Var(&r.Seed, "seed", 1, "seed of random data, labels and CIFAR-10 sampling")
	fs.BoolVar(&r.Sample, "sample", false, "draw the CIFAR-10 images at random (with --seed) instead of taking the first ones")
	fs.StringVar(&r.BN, "bn", "train", "BatchNormalization for the data proxies: train (batch statistics, as the reference) or eval")
	fs.BoolVar(&r.PerLayer, "per-layer", false, "report every layer's score")
	fs.Var(&r.Inputs, "input", "an input specification NAME=SHAPE[:DTYPE][:SOURCE] (repeatable), e.g. ids=128:int64:tokens, attention_mask=128:ones, image=3x64x64:cifar.bin; SHAPE may be empty (declared shape)")
	fs.StringVar(&r.Output, "output", "", "the output the gradient proxies differentiate (default: the first float output)")
	fs.StringVar(&r.Head, "head", HeadAuto, "head of grad_norm, snip, grasp, fisher and plain: auto (cross-entropy where the output has a class axis, else the sum), ce or sum")
	fs.Int64Var(&r.Vocab, "vocab", 0, "token ids are drawn in [0, N) for integer inputs whose embedding table zerocost cannot find")
	fs.IntVar(&r.Repeats, "repeats", 0, "re-initialisations of zen, swap and reg_swap (default 32) and linear_regions (default 3); 0 keeps each proxy's own")
	fs.StringVar(&r.Layout, "layout", "auto", "image input layout: auto (channels-last when the input is declared N×H×W×C with 1, 3 or 4 channels), nchw or nhwc; CIFAR-10 and N×C×H×W .npy images are transposed for nhwc")
}

// ProxyNames returns the proxies the request asks for.
func (r *Request) ProxyNames() ([]string, error) {
	names, err := ParseList(r.Proxies)
	if err != nil {
		return nil, settingsf("--proxies: %v", err)
	}
	return names, nil
}

// BNMode returns the BatchNormalization mode of the data proxies.
func (r *Request) BNMode() (autodiff.BNMode, error) {
	bn, err := autodiff.ParseBNMode(r.BN)
	if err != nil || bn == autodiff.BNRemove {
		return bn, settingsf("--bn must be train or eval, got %q", r.BN)
	}
	return bn, nil
}

// DataSpec returns the data settings (without the model's natural size:
// see Options).
func (r *Request) DataSpec() (data.DataSpec, error) {
	shape, err := data.ParseShape(r.InputShape)
	if err != nil {
		return data.DataSpec{}, settingsf("--input-shape: %v", err)
	}
	if r.BatchSize < 1 {
		return data.DataSpec{}, settingsf("--batch-size must be at least 1, got %d", r.BatchSize)
	}
	layout, err := data.ParseLayout(r.Layout)
	if err != nil {
		return data.DataSpec{}, settingsf("--layout: %v", err)
	}
	if r.Vocab < 0 {
		return data.DataSpec{}, settingsf("--vocab must be positive, got %d", r.Vocab)
	}
	if r.Repeats < 0 {
		return data.DataSpec{}, settingsf("--repeats must be 0 (each proxy's own) or more, got %d", r.Repeats)
	}
	if r.Head != HeadAuto && r.Head != HeadCE && r.Head != HeadSum {
		return data.DataSpec{}, settingsf("--head must be auto, ce or sum, got %q", r.Head)
	}
	return data.DataSpec{Source: r.Data, Labels: r.Labels, BatchSize: r.BatchSize, Shape: shape, Seed: r.Seed, Sample: r.Sample, Layout: layout, Inputs: r.Inputs, Vocab: r.Vocab}, nil
}

// Check reports the first bad setting without loading any data.
func (r *Request) Check() error {
	if _, err := r.ProxyNames(); err != nil {
		return err
	}
	if _, err := r.BNMode(); err != nil {
		return err
	}
	_, err := r.DataSpec()
	return err
}

// Options turns the request into Score's options for model m, with the
// session settings given: the batch is loaded at --input-shape, or at the
// size m records (onnximport.Model.NaturalInputShape) when it is empty.
// Errors in the settings are *SettingsError; errors loading the data name
// the model.
func (r *Request) Options(m *ox.Model, session runtime.SessionOptions) (Options, error) {
	var opts Options
	var err error
	if opts.Proxies, err = r.ProxyNames(); err != nil {
		return opts, err
	}
	if opts.BN, err = r.BNMode(); err != nil {
		return opts, err
	}
	opts.Session = session
	spec, err := r.DataSpec()
	if err != nil {
		return opts, err
	}
	if len(spec.Shape) == 0 {
		if spec.Shape, err = m.NaturalInputShape(); err != nil {
			return opts, fmt.Errorf("%w with --input-shape", err)
		}
	}
	spec.MaxMemory = session.MaxMemory
	if opts.Batch, err = data.LoadInputs(spec, m); err != nil {
		if !strings.Contains(err.Error(), m.Name()) {
			err = fmt.Errorf("%s: %w", m.Name(), err)
		}
		return opts, err
	}
	opts.Seed, opts.PerLayer, opts.Output, opts.Head, opts.Repeats = r.Seed, r.PerLayer, r.Output, r.Head, r.Repeats
	return opts, nil
}
