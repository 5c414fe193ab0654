package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/engine"
	"github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
)

func runGradcheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("gradcheck", stderr)
	var rf runtimeFlags
	rf.register(fs)
	head := fs.String("head", "", "head to differentiate: ce (cross-entropy of the logits) or sum (sum of the outputs); default ce for a 2-D logits output, sum otherwise")
	shapeFlag := fs.String("input-shape", "", "shape of the data inputs without the batch dimension (CxHxW), or whole; needed for dynamic dimensions")
	batch := fs.Int64("batch-size", 2, "batch size for a dynamic batch dimension")
	seed := fs.Uint64("seed", 1, "seed of the random data, labels and directions")
	bnFlag := fs.String("bn", "train", "BatchNormalization: train (batch statistics), eval (running statistics) or remove")
	tol := fs.Float64("tolerance", 0, "largest relative error accepted (default 5e-2 in float32, 1e-6 in float64)")
	format := fs.String("format", "table", "output format: table or json")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one MODEL.onnx, got %d arguments", len(pos))
	}
	opts := engine.CheckOptions{Batch: *batch, Seed: *seed, Tolerance: *tol}
	if opts.InputShape, err = parseShape(*shapeFlag); err != nil {
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
	if len(rep.UnsupportedOps) > 0 {
		return fmt.Errorf("%s: no gradient rule for %v", pos[0], rep.UnsupportedOps)
	}
	if !rep.OK {
		return fmt.Errorf("%s: gradients differ from finite differences (max relative error %.3g > %.3g)", pos[0], rep.MaxRelError, rep.Tolerance)
	}
	return nil
}

func printCheckTable(w io.Writer, rep *engine.CheckReport) {
	fmt.Fprintf(w, "model %s, head %s, loss %.6g\n", rep.Model, rep.Head, rep.Loss)
	if len(rep.UnsupportedOps) > 0 {
		fmt.Fprintf(w, "unsupported ops: %v\n", rep.UnsupportedOps)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tSHAPE\tANALYTIC\tNUMERIC\tREL_ERROR\tSTATUS")
	for _, c := range append(append([]engine.TensorCheck{}, rep.Params...), rep.Inputs...) {
		status := "ok"
		if c.RelError > rep.Tolerance {
			status = "WRONG"
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%.6g\t%.6g\t%.2e\t%s\n", c.Name, c.Kind, c.Shape, c.Analytic, c.Numeric, c.RelError, status)
	}
	tw.Flush()
	verdict := "ok"
	if !rep.OK {
		verdict = "FAILED"
	}
	fmt.Fprintf(w, "max relative error %.2e (tolerance %.1e): %s\n", rep.MaxRelError, rep.Tolerance, verdict)
}
