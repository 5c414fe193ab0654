package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/engine"
	"github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
)

// gradcheckHelp opens `zerocost gradcheck --help`.
const gradcheckHelp = `Usage: zerocost gradcheck [flags] MODEL.onnx

Compares the gradient graph of MODEL.onnx with central finite differences of
the loss, for every float parameter and input: along the gradient's own
direction, and entry by entry for tensors of at most 8 elements. Each tensor
gets a verdict:

  ok                      the difference is within the estimated noise (or
                          beyond it by at most --tolerance of the gradient)
  ok (zero by structure)  the gradient is zero whatever the values (a bias
                          before BatchNormalization with batch statistics, a
                          dead branch, an unread tensor), the analytic value
                          is within float round-off of zero and the loss does
                          not move beyond its noise
  WRONG                   the difference exceeds the noise and the tolerance
  not checkable (kinks within the step)
                          the difference exceeds them, but the steps move
                          the input of a ReLU, Clip, Hardsigmoid or Abs across
                          its corner (REASON names the node): the finite
                          difference mixes two slopes and cannot check the
                          gradient at this point (not a failure)
  not finite              NaN or Inf in the loss, the analytic or the numeric
                          value (named in REASON and in JSON's not_finite)

The noise of the difference is the sum of two estimates. Analytic: the
gradient is computed again at 2 points where every float value is moved by 4
units in the last place; 3x the largest change (plus 4 eps |analytic|) is its
round-off. Numeric: the central difference D is taken at steps h and h/2
(h moves the loss by 1e-4 relative); 2|D(h) - D(h/2)| bounds the truncation
error and kinks crossed, and rho/h its round-off, where rho, the round-off of
one loss evaluation, is the larger of eps |loss| and 3x the change of the loss,
less its first-order part, when the tensor moves by 4 units in the last place.
--tolerance is the margin beyond that noise (for a ReLU or MaxPool kink much
closer than h/2, which both steps cross alike).

Finite differences in float64: a float32 model's loss (not its gradient graph)
is lowered to float64 as synflow's graphs are, when every op of it has a
float64 form. Its steps are then sized by the measured round-off alone (the
smallest h whose round-off stays below 1e-4 of the derivative, at least 1e-8
of the largest step), so far fewer kinks are crossed, and the corners of the
kink ops are checked for a WRONG tensor. --float32-differences keeps them in
float32; the first line of the table says which was used.

Exit status 1 when a tensor is WRONG, when an analytic gradient is not finite
where the finite difference is, or when an op has no gradient rule; a
non-finite loss or finite difference alone (a step out of the domain of Sqrt
or Log) is reported, not failed.

Flags:
`

func runGradcheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("gradcheck", stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), gradcheckHelp)
		fs.PrintDefaults()
	}
	var rf runtimeFlags
	rf.register(fs)
	head := fs.String("head", "", "head to differentiate: ce (cross-entropy of the logits) or sum (sum of the outputs); default ce for a 2-D logits output, sum otherwise")
	shapeFlag := fs.String("input-shape", "", "shape of the data inputs without the batch dimension (CxHxW), or whole; needed for dynamic dimensions unless the model records its input size (zoo networks do)")
	batch := fs.Int64("batch-size", 2, "batch size for a dynamic batch dimension")
	seed := fs.Uint64("seed", 1, "seed of the random data, labels and directions")
	bnFlag := fs.String("bn", "train", "BatchNormalization: train (batch statistics), eval (running statistics) or remove")
	tol := fs.Float64("tolerance", 0, "largest relative error accepted beyond the estimated noise (default 5e-2 in float32, 1e-6 in float64)")
	format := fs.String("format", "table", "output format: table or json")
	f32 := fs.Bool("float32-differences", false, "take the finite differences of a float32 model in float32 (default: its loss is lowered to float64 where every op allows, for steps ~1e5 times smaller and a check of the kinks each step crosses)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one MODEL.onnx, got %d arguments", len(pos))
	}
	opts := engine.CheckOptions{Batch: *batch, Seed: *seed, Tolerance: *tol, Float32Differences: *f32}
	if _, err := parseShape(*shapeFlag); err != nil {
		return usagef("--input-shape: %v", err)
	}
	if opts.BN, err = autodiff.ParseBNMode(*bnFlag); err != nil {
		return usagef("--bn: %v", err)
	}
	switch *head {
	case "":
	case "ce":
		h := autodiff.HeadCrossEntropy
		opts.Head = &h
	case "sum":
		h := autodiff.HeadSum
		opts.Head = &h
	default:
		return usagef("--head must be ce or sum, got %q", *head)
	}
	if *format != "table" && *format != "json" {
		return usagef("--format must be table or json, got %q", *format)
	}
	if *batch < 1 {
		return usagef("--batch-size must be at least 1, got %d", *batch)
	}
	if opts.Session, err = rf.sessionOptions(); err != nil {
		return err
	}
	m, err := onnximport.Load(pos[0])
	if err != nil {
		return err
	}
	if opts.InputShape, err = inputShape(*shapeFlag, m); err != nil {
		return err
	}
	if err := runtime.Init(rf.ortLib); err != nil {
		return err
	}
	rep, err := engine.CheckGradients(m, opts)
	if err != nil {
		return err
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printCheckTable(stdout, rep)
	}
	if math.IsNaN(rep.Loss) || math.IsInf(rep.Loss, 0) {
		fmt.Fprintf(stderr, "zerocost gradcheck: warning: the loss is %v at the sample point, so no gradient could be checked: look for NaN or Inf in the weights\n", rep.Loss)
	}
	if len(rep.UnsupportedOps) > 0 {
		return fmt.Errorf("%s: no gradient rule for %v", pos[0], rep.UnsupportedOps)
	}
	if !rep.OK {
		return fmt.Errorf("%s: %d of %d tensors fail the gradient check (WRONG, or an analytic gradient not finite where finite differences are); see the table", pos[0], rep.Failed, len(rep.Params)+len(rep.Inputs))
	}
	return nil
}

func printCheckTable(w io.Writer, rep *engine.CheckReport) {
	fmt.Fprintf(w, "model %s, head %s, loss %.6g, finite differences in %s\n", rep.Model, rep.Head, rep.Loss, rep.Differences)
	if rep.DifferencesNote != "" {
		fmt.Fprintf(w, "(not in float64: %s)\n", rep.DifferencesNote)
	}
	if len(rep.UnsupportedOps) > 0 {
		fmt.Fprintf(w, "unsupported ops: %v\n", rep.UnsupportedOps)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tSHAPE\tANALYTIC\tNUMERIC\tDIFF\tNOISE\tVERDICT\tREASON")
	for _, c := range append(append([]engine.TensorCheck{}, rep.Params...), rep.Inputs...) {
		name := c.Name
		if c.Entry != nil {
			name = fmt.Sprintf("%s[%d]", c.Name, *c.Entry)
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%.6g\t%.6g\t%.2g\t%.2g\t%s\t%s\n", name, c.Kind, c.Shape, c.Analytic, c.Numeric, c.Diff, c.Noise, c.Verdict, c.Reason)
	}
	tw.Flush()
	verdict := "ok"
	if !rep.OK {
		verdict = "FAILED"
	}
	var counts []string
	for _, v := range []string{engine.VerdictOK, engine.VerdictZero, engine.VerdictKink, engine.VerdictWrong, engine.VerdictNotFinite} {
		if n := rep.Verdicts[v]; n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n, v))
		}
	}
	fmt.Fprintf(w, "%s; max relative error beyond noise %.2e (tolerance %.1e): %s\n", strings.Join(counts, ", "), rep.MaxRelError, rep.Tolerance, verdict)
}
