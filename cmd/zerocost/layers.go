package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/proxies"
)

// layersReport is what `zerocost layers` prints: what the proxies measure.
type layersReport struct {
	Model  string             `json:"model"`
	Layers []onnximport.Layer `json:"layers"`
	Stages onnximport.Stages  `json:"stages"`
	Relus  []reluReport       `json:"relus"`
	Params int                `json:"parameter_tensors"`
	Live   int                `json:"live_parameter_tensors"` // those the outputs depend on (layers_live)
	Head   string             `json:"head"`
	Notes  []string           `json:"notes,omitempty"`
	Ops    map[string]int     `json:"ops"`
}

type reluReport struct {
	Node  string `json:"node"`
	Input string `json:"input"`
}

// runLayers prints the layers (Conv/Gemm/MatMul weights that the weight
// proxies score), the stage tensors (AZ-NAS, Zen) and the Relu nodes
// (NASWOT, SWAP, linear regions) of a model, as the proxies see it.
func runLayers(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("layers", stderr)
	format := fs.String("format", "table", "output format: table or json")
	output := fs.String("output", "", "the output whose stages are found (default: the first)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one MODEL.onnx, got %d arguments", len(pos))
	}
	if *format != "table" && *format != "json" {
		return usagef("--format must be table or json, got %q", *format)
	}
	m, err := onnximport.Load(pos[0])
	if err != nil {
		return err
	}
	fwd, err := autodiff.Normalize(m, autodiff.BNTrain)
	if err != nil {
		return err
	}
	rep := layersReport{Model: pos[0], Layers: fwd.Layers(), Ops: map[string]int{}, Notes: m.Notes}
	if rep.Stages, err = m.Stages(*output); err != nil { // before Normalize expands train-mode BatchNormalization into a block of its own
		return err
	}
	rep.Head = *output
	if rep.Head == "" && len(fwd.Graph().GetOutput()) > 0 {
		rep.Head = fwd.Graph().GetOutput()[0].GetName()
	}
	for _, n := range fwd.Graph().GetNode() {
		rep.Ops[n.GetOpType()]++
		if n.GetOpType() == "Relu" && len(n.GetInput()) == 1 {
			rep.Relus = append(rep.Relus, reluReport{Node: n.GetName(), Input: n.GetInput()[0]})
		}
	}
	opts := proxies.Options{Proxies: []string{"layers", "layers_live"}}
	if shape, err := m.NaturalInputShape(); err == nil && len(m.Inputs()) == 1 {
		// layers_live needs the tensor shapes: at the size the model records.
		opts.Batch = &data.Batch{Input: data.Ones(append([]int64{1}, shape...))}
	}
	res, err := proxies.Score(m, opts)
	if err != nil {
		return err
	}
	if e := res.Errors["layers"]; e != "" {
		return fmt.Errorf("%s", e)
	}
	rep.Params = int(res.Proxies["layers"].Score)
	// layers_live needs the tensor shapes, which a model that static
	// inference cannot follow gets only by running it.
	liveErr := res.Errors["layers_live"]
	if liveErr != "" {
		rep.Notes = append(rep.Notes, "live parameter tensors not counted: "+liveErr)
	} else {
		rep.Live = int(res.Proxies["layers_live"].Score)
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	live := fmt.Sprintf(" (%d of them reach the outputs)", rep.Live)
	if liveErr != "" {
		live = ""
	}
	fmt.Fprintf(stdout, "model %s: %d layers, %d parameter tensors%s, %d Relu nodes, head %q\n\n", pos[0], len(rep.Layers), rep.Params, live, len(rep.Relus), rep.Head)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LAYER\tOP\tWEIGHT\tSHAPE\tFAN-IN")
	for _, l := range rep.Layers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%d\n", l.Node, l.Op, l.Param, l.Shape, l.FanIn())
	}
	tw.Flush()
	fmt.Fprintf(stdout, "\nstage tensors (AZ-NAS, Zen-NAS): %d", len(rep.Stages.Tensors))
	if rep.Stages.Fallback {
		fmt.Fprintf(stdout, " (fallback: %s)", rep.Stages.Why)
	}
	if rep.Stages.Declared {
		fmt.Fprintf(stdout, " (%s)", rep.Stages.Why)
	}
	fmt.Fprintln(stdout)
	for i, s := range rep.Stages.Tensors {
		fmt.Fprintf(stdout, "  %2d  %s\n", i, s)
	}
	fmt.Fprintf(stdout, "\nRelu nodes (NASWOT, SWAP, linear regions): %d\n", len(rep.Relus))
	for _, r := range rep.Relus {
		fmt.Fprintf(stdout, "  %s  (input %s)\n", r.Node, r.Input)
	}
	if liveErr != "" {
		fmt.Fprintf(stdout, "\nlive parameter tensors not counted: %s\n", liveErr)
	}
	return nil
}
