package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/proxies"
	"github.com/zerocost/zerocost/runtime"
)

// scoreFlags are the proxy and data flags shared by score and rank.
type scoreFlags struct {
	runtimeFlags
	proxies, data, labels, shape, bn, layout string
	batch                                    int
	seed                                     uint64
	sample, perLayer                         bool
	inputs                                   inputSpecs
	output, head                             string
	vocab                                    int64
}

// inputSpecs collects the repeatable --input flag.
type inputSpecs []data.InputSpec

func (l *inputSpecs) String() string {
	parts := make([]string, len(*l))
	for i, s := range *l {
		parts[i] = s.String()
	}
	return strings.Join(parts, " ")
}

func (l *inputSpecs) Set(v string) error {
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

// scoreHelp says which proxies apply to which models, for score -h and rank -h.
const scoreHelp = `Which proxies apply (docs/models.md):
  grad_norm, snip, grasp, fisher, plain  any model with a float output (the head: --output, default the
        first float output); cross-entropy on N×C logits, per pixel on N×C×H×W of an image model, per
        token on N×T×V of a model whose main input is token ids, the sum of the output otherwise
        (--head sum|ce forces one); the result's notes say which head was used
  jacob_cov  input Jacobian w.r.t. the main input (the first float input of rank >= 1 not named like a mask), or,
        when it holds token ids, w.r.t. the output of the embedding lookup (Gather) it indexes; the
        notes name the tensor; an error when there is neither
  nwot       models with Relu nodes whose inputs keep the batch on axis 0
  synflow, synflow_bn  one sample of ones in every input (float 1, token id 1, masks 1, bool true)
  params, flops, l2_norm  every model with Conv/Gemm/MatMul layers
Inputs: --input NAME=SHAPE[:DTYPE][:SOURCE] per input (repeatable); the main input takes --data,
  --input-shape and --layout; other float inputs are random normal (0-d ones: 1), integer inputs
  random token ids in [0, vocab) (vocab: the embedding table's rows, else --vocab), inputs named
  like *mask* all ones, bool inputs true. SOURCE: random, ones, zeros, tokens, mask, FILE.npy, FILE.bin.
`

// setUsage prints what applies before the flags.
func setUsage(fs *flag.FlagSet, synopsis string) {
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: %s\n\n%s\nFlags:\n", synopsis, scoreHelp)
		fs.PrintDefaults()
	}
}

func (f *scoreFlags) register(fs *flag.FlagSet) {
	f.runtimeFlags.register(fs)
	fs.StringVar(&f.proxies, "proxies", "default", "proxies to compute: default (all but the later ones), all, paper, datafree, later (published since the paper: zico, meco, …), or a comma-separated list of "+fmt.Sprint(proxies.Names()))
	fs.StringVar(&f.data, "data", "random", "input batch: random (standard normal), ones, FILE.npy (float32 N×C×H×W, or as the model's input), or a CIFAR-10 binary FILE.bin")
	fs.StringVar(&f.labels, "labels", "", "int64 labels as FILE.npy (default: from CIFAR-10 data, otherwise random with --seed)")
	fs.IntVar(&f.batch, "batch-size", 64, "batch size for random, ones and CIFAR-10 data")
	fs.StringVar(&f.shape, "input-shape", "", "shape of one sample (CxHxW) for models with dynamic sizes")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of random data, labels and CIFAR-10 sampling")
	fs.BoolVar(&f.sample, "sample", false, "draw the CIFAR-10 images at random (with --seed) instead of taking the first ones")
	fs.StringVar(&f.bn, "bn", "train", "BatchNormalization for the data proxies: train (batch statistics, as the reference) or eval")
	fs.BoolVar(&f.perLayer, "per-layer", false, "report every layer's score")
	fs.Var(&f.inputs, "input", "an input specification NAME=SHAPE[:DTYPE][:SOURCE] (repeatable), e.g. ids=128:int64:tokens, attention_mask=128:ones, image=3x64x64:cifar.bin; SHAPE may be empty (declared shape)")
	fs.StringVar(&f.output, "output", "", "the output the gradient proxies differentiate (default: the first float output)")
	fs.StringVar(&f.head, "head", "auto", "head of grad_norm, snip, grasp, fisher and plain: auto (cross-entropy where the output has a class axis, else the sum), ce or sum")
	fs.Int64Var(&f.vocab, "vocab", 0, "token ids are drawn in [0, N) for integer inputs whose embedding table zerocost cannot find")
	fs.StringVar(&f.layout, "layout", "auto", "image input layout: auto (channels-last when the input is declared N×H×W×C with 1, 3 or 4 channels), nchw or nhwc; CIFAR-10 and N×C×H×W .npy images are transposed for nhwc")
}

// dataSpec turns the data flags into a data.DataSpec.
func (f *scoreFlags) dataSpec() (data.DataSpec, error) {
	shape, err := parseShape(f.shape)
	if err != nil {
		return data.DataSpec{}, usagef("--input-shape: %v", err)
	}
	if f.batch < 1 {
		return data.DataSpec{}, usagef("--batch-size must be at least 1, got %d", f.batch)
	}
	layout, err := data.ParseLayout(f.layout)
	if err != nil {
		return data.DataSpec{}, usagef("--layout: %v", err)
	}
	if f.vocab < 0 {
		return data.DataSpec{}, usagef("--vocab must be positive, got %d", f.vocab)
	}
	if f.head != proxies.HeadAuto && f.head != proxies.HeadCE && f.head != proxies.HeadSum {
		return data.DataSpec{}, usagef("--head must be auto, ce or sum, got %q", f.head)
	}
	return data.DataSpec{Source: f.data, Labels: f.labels, BatchSize: f.batch, Shape: shape, Seed: f.seed, Sample: f.sample, Layout: layout, Inputs: f.inputs, Vocab: f.vocab}, nil
}

// options turns the flags into proxies.Options for model m.
func (f *scoreFlags) options(m *onnximport.Model) (proxies.Options, error) {
	var opts proxies.Options
	var err error
	if opts.Proxies, err = proxies.ParseList(f.proxies); err != nil {
		return opts, usagef("--proxies: %v", err)
	}
	if opts.BN, err = autodiff.ParseBNMode(f.bn); err != nil || opts.BN == autodiff.BNRemove {
		return opts, usagef("--bn must be train or eval, got %q", f.bn)
	}
	if opts.Session, err = f.sessionOptions(); err != nil {
		return opts, err
	}
	spec, err := f.dataSpec()
	if err != nil {
		return opts, err
	}
	if spec.Shape, err = inputShape(f.shape, m); err != nil { // the flag's, or the size the model records
		return opts, err
	}
	spec.MaxMemory = opts.Session.MaxMemory
	opts.Batch, err = data.LoadInputs(spec, m)
	if err != nil {
		return opts, namingFile(err, m.Name())
	}
	opts.Seed, opts.PerLayer, opts.Output, opts.Head = f.seed, f.perLayer, f.output, f.head
	return opts, nil
}

func runScore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("score", stderr)
	var sf scoreFlags
	sf.register(fs)
	setUsage(fs, "zerocost score MODEL.onnx [flags]")
	format := fs.String("format", "table", "output format: table, json or csv")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one MODEL.onnx, got %d arguments", len(pos))
	}
	if *format != "table" && *format != "json" && *format != "csv" {
		return usagef("--format must be table, json or csv, got %q", *format)
	}
	if _, err := proxies.ParseList(sf.proxies); err != nil {
		return usagef("--proxies: %v", err)
	}
	m, err := onnximport.Load(pos[0])
	if err != nil {
		return err
	}
	opts, err := sf.options(m)
	if err != nil {
		return err
	}
	if err := runtime.Init(sf.ortLib); err != nil {
		return err
	}
	res, err := proxies.Score(m, opts)
	if err != nil {
		return err
	}
	if raw, err := os.ReadFile(pos[0]); err == nil {
		res.SHA256 = sha256Hex(raw)
	}
	switch *format {
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(res)
	case "csv":
		err = writeScoreCSV(stdout, res, opts.Proxies)
	default:
		writeScoreTable(stdout, res, opts.Proxies)
	}
	if err != nil {
		return err
	}
	if len(res.Errors) > 0 {
		return fmt.Errorf("%d proxy(ies) failed: see errors", len(res.Errors))
	}
	return nil
}

func fmtLog10(p *proxies.ProxyResult) string {
	if p.Log10 == nil {
		return ""
	}
	return fmt.Sprintf("%.4f", *p.Log10)
}

// writeScoreTable prints one model's scores: one row per proxy, an empty
// cell where a proxy failed, the errors and notes in a footer so that the
// columns keep their width.
func writeScoreTable(w io.Writer, res *proxies.Result, names []string) {
	fmt.Fprintf(w, "model %s  input %v\n", res.Model, res.InputShape)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PROXY\tSCORE\tLOG10(SCORE)\tTIME_MS")
	var failed []string
	for _, name := range names {
		if p, ok := res.Proxies[name]; ok {
			fmt.Fprintf(tw, "%s\t%.6g\t%s\t%.1f\n", name, p.Score, fmtLog10(p), p.TimeMS)
		} else if _, ok := res.Errors[name]; ok {
			fmt.Fprintf(tw, "%s\t\t\t\n", name)
			failed = append(failed, name)
		}
	}
	tw.Flush()
	writeFooter(w, "errors", failed, res.Errors)
	writeFooter(w, "notes", nil, nil, res.Notes...)
	for _, name := range names {
		p, ok := res.Proxies[name]
		if !ok || len(p.Layers) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s per layer\n", name)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tOP\tPARAM\tSHAPE\tSCORE\tSHARED_BY")
		for _, l := range p.Layers {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%.6g\t%s\n", l.Node, l.Op, l.Param, l.Shape, l.Score, strings.Join(l.SharedBy, ","))
		}
		tw.Flush()
	}
}

// writeFooter prints "title:" and one line per key (key: messages[key]) or
// per line, nothing when there are none.
func writeFooter(w io.Writer, title string, keys []string, messages map[string]string, lines ...string) {
	if len(keys) == 0 && len(lines) == 0 {
		return
	}
	fmt.Fprintf(w, "%s:\n", title)
	for _, k := range keys {
		fmt.Fprintf(w, "  %s: %s\n", k, messages[k])
	}
	for _, l := range lines {
		fmt.Fprintf(w, "  - %s\n", l)
	}
}

func writeScoreCSV(w io.Writer, res *proxies.Result, names []string) error {
	cw := csv.NewWriter(w)
	perLayer := false
	for _, p := range res.Proxies {
		perLayer = perLayer || len(p.Layers) > 0
	}
	header := []string{"model", "proxy", "score", "log10", "time_ms", "error"}
	if perLayer {
		header = []string{"model", "proxy", "node", "op", "param", "shape", "score", "log10"}
	}
	cw.Write(header)
	for _, name := range names {
		p, ok := res.Proxies[name]
		if !perLayer {
			if ok {
				cw.Write([]string{res.Model, name, fmtFloat(p.Score), fmtLog10(p), fmtFloat(p.TimeMS), ""})
			} else {
				cw.Write([]string{res.Model, name, "", "", "", res.Errors[name]})
			}
			continue
		}
		if !ok {
			continue
		}
		for _, l := range p.Layers {
			lg := ""
			if l.Log10 != nil {
				lg = fmtFloat(*l.Log10)
			}
			cw.Write([]string{res.Model, name, l.Node, l.Op, l.Param, fmt.Sprint(l.Shape), fmtFloat(l.Score), lg})
		}
	}
	cw.Flush()
	return cw.Error()
}

func fmtFloat(v float64) string {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return fmt.Sprint(v)
	}
	return fmt.Sprintf("%.10g", v)
}

// namingFile prefixes err with path unless its message names it already.
func namingFile(err error, path string) error {
	if strings.Contains(err.Error(), path) {
		return err
	}
	return fmt.Errorf("%s: %w", path, err)
}
