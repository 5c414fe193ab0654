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

	"github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/proxies"
	"github.com/zerocost/zerocost/runtime"
)

// scoreFlags are the proxy and data flags shared by score and rank: the
// settings of proxies.Request (which the service reads too) and the
// runtime flags.
type scoreFlags struct {
	runtimeFlags
	proxies.Request
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
	f.Request.RegisterFlags(fs)
}

// options turns the flags into proxies.Options for model m.
func (f *scoreFlags) options(m *onnximport.Model) (proxies.Options, error) {
	so, err := f.sessionOptions()
	if err != nil {
		return proxies.Options{}, err
	}
	return f.Request.Options(m, so)
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
	if err := sf.Check(); err != nil {
		return err
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
	if raw, err := os.ReadFile(pos[0]); err == nil {
		opts.SHA256 = sha256Hex(raw)
	}
	res, err := proxies.Score(m, opts)
	if err != nil {
		return err
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
