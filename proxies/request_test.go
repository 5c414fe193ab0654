package proxies_test

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/proxies"
	"github.com/zerocost/zerocost/runtime"
	"github.com/zerocost/zerocost/zoo"
)

func parseRequest(t *testing.T, args ...string) (*proxies.Request, error) {
	t.Helper()
	var r proxies.Request
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	r.RegisterFlags(fs)
	return &r, fs.Parse(args)
}

// Every bad setting is a *SettingsError that names the flag.
func TestRequestSettingsErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"--proxies", "magic"}, "--proxies"},
		{[]string{"--bn", "remove"}, "--bn must be train or eval"},
		{[]string{"--batch-size", "0"}, "--batch-size must be at least 1"},
		{[]string{"--input-shape", "3xx"}, "--input-shape"},
		{[]string{"--layout", "chw"}, "--layout"},
		{[]string{"--vocab", "-1"}, "--vocab"},
		{[]string{"--head", "mse"}, "--head must be auto, ce or sum"},
	} {
		r, err := parseRequest(t, c.args...)
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		err = r.Check()
		var se *proxies.SettingsError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%v: want a SettingsError saying %q, got %v", c.args, c.says, err)
		}
	}
	if _, err := parseRequest(t, "--input", "ids=8:int64", "--input", "ids=4"); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("an input given twice: want an error, got %v", err)
	}
}

// The defaults are the score command's, and Options loads the batch at
// the size the model records.
func TestRequestOptions(t *testing.T) {
	r, err := parseRequest(t, "--proxies", "synflow,params", "--batch-size", "3", "--bn", "eval", "--head", "sum", "--seed", "9")
	if err != nil {
		t.Fatal(err)
	}
	if def, _ := parseRequest(t); def.Proxies != "default" || def.Data != "random" || def.BatchSize != 64 || def.Seed != 1 || def.BN != "train" || def.Head != proxies.HeadAuto || def.Layout != "auto" {
		t.Errorf("defaults: %+v", def)
	}
	m := zoo.TinyCNN(1, 10)
	if _, err := r.Options(m, runtime.SessionOptions{}); err == nil || !strings.Contains(err.Error(), "--input-shape") {
		t.Errorf("a model with dynamic sizes and none recorded: want an error asking for --input-shape, got %v", err)
	}
	m.SetNaturalInputShape([]int64{3, 8, 8})
	opts, err := r.Options(m, runtime.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := opts.Batch.Input.Shape; len(got) != 4 || got[0] != 3 || got[2] != 8 {
		t.Errorf("batch shape: want [3 3 8 8], got %v", got)
	}
	want, _ := proxies.ParseList("synflow,params")
	if strings.Join(opts.Proxies, ",") != strings.Join(want, ",") || opts.BN != autodiff.BNEval || opts.Head != proxies.HeadSum || opts.Seed != 9 {
		t.Errorf("options: %+v", opts)
	}
}
