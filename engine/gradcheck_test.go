package engine_test

import (
	"testing"

	"github.com/zerocost/zerocost/engine"
	"github.com/zerocost/zerocost/internal/testort"
	"github.com/zerocost/zerocost/zoo"
)

func TestTinyCNNGradients(t *testing.T) {
	testort.Init(t)
	rep, err := engine.CheckGradients(zoo.TinyCNN(1, 10), engine.CheckOptions{InputShape: []int64{3, 8, 8}, Batch: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append(rep.Params, rep.Inputs...) {
		t.Logf("%-20s %-6s %v rel %.2e  a %.6g n %.6g", p.Name, p.Kind, p.Shape, p.RelError, p.Analytic, p.Numeric)
	}
	if !rep.OK {
		t.Fatalf("max rel error %.3g > %.3g (unsupported: %v)", rep.MaxRelError, rep.Tolerance, rep.UnsupportedOps)
	}
}
