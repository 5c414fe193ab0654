package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/zerocost/zerocost/zoo"
)

// TestLayersPrintsStagesAndRelus runs `zerocost layers` on a NAS-Bench-201
// network: 18 stage tensors (stem + 17 cells and reductions), its layers
// and Relu nodes, the table and the JSON agreeing.
func TestLayersPrintsStagesAndRelus(t *testing.T) {
	m, err := zoo.NB201("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|", zoo.NB201Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	path := writeModel(t, m)
	code, out, errs := run(t, "layers", "--format", "json", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rep layersReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Stages.Tensors) != 18 || rep.Stages.Fallback || !strings.HasPrefix(rep.Stages.Tensors[0], "stem.1/") {
		t.Errorf("want 18 stages from stem.1, got %v (fallback %v)", rep.Stages.Tensors, rep.Stages.Fallback)
	}
	if len(rep.Layers) == 0 || len(rep.Relus) == 0 || rep.Params == 0 {
		t.Errorf("want layers, Relus and parameter tensors, got %d, %d, %d", len(rep.Layers), len(rep.Relus), rep.Params)
	}
	code, table, errs := run(t, "layers", path)
	if code != 0 || !strings.Contains(table, "stage tensors (AZ-NAS, Zen-NAS): 18") || !strings.Contains(table, rep.Layers[0].Param) {
		t.Errorf("table: exit %d (%s), want 18 stages and layer %s:\n%s", code, errs, rep.Layers[0].Param, table)
	}
	if code, _, _ := run(t, "layers"); code != 2 {
		t.Errorf("no model: want exit 2, got %d", code)
	}
}

// On a network whose cells' nodes 1 and 2 get only `none` edges, `layers`
// counts every parameter tensor and the live count leaves out what the
// dead edges hold: per cell, the two convolutions reading zeros keep only
// their BN bias (21 + 15·(3 + 1 + 1) = 96 of 21 + 45·3 = 156).
func TestLayersCountsLiveTensors(t *testing.T) {
	m, err := zoo.NB201("|none~0|+|none~0|none~1|+|nor_conv_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|", zoo.NB201Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs := run(t, "layers", "--format", "json", writeModel(t, m))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rep layersReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Params != 156 || rep.Live != 96 {
		t.Errorf("want 156 parameter tensors, 96 live, got %d and %d (notes %v)", rep.Params, rep.Live, rep.Notes)
	}
}
