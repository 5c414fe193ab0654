package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/zerocost/zerocost/internal/testort"
	"github.com/zerocost/zerocost/ranking"
)

// badModelsDir is the bad-model corpus (written by go run ./internal/cmd/badinputs).
var badModelsDir = filepath.Join("..", "..", "testdata", "badmodels")

// badModelWant is what scoring each model of the corpus must give. Exactly
// one field is set:
//   - model: the command fails as a whole, with an error that names the
//     file and contains this;
//   - proxy: a result whose every failed proxy's error contains this;
//   - result: a result without errors;
//   - either: a result (errors allowed) or an error that names the file.
//     These are the cases other work changes (opset upgrading, fp16
//     conversion, token and multi-input models): any clear outcome passes.
type badModelWant struct {
	model, proxy   string
	result, either bool
}

var badModelWants = map[string]badModelWant{
	"absurd_batch":          {model: "declares a static batch of 1000000000 that cannot be made dynamic"},
	"absurd_dim":            {model: "the model declares size 1000000000 at axis 2) needs about 179 GiB, more than the memory limit"},
	"channel_mismatch":      {proxy: "channel_mismatch.onnx"},
	"custom_op":             {proxy: "com.example:FancyAct"},
	"duplicate_output":      {model: `node "relu2" (Relu) writes tensor "relu1.out", already written by "relu1"`},
	"empty":                 {model: "is empty"},
	"external_absolute":     {model: `names external file "/etc/hostname" outside the model's folder`},
	"external_escape":       {model: `names external file "../outside.data" outside the model's folder`},
	"external_missing":      {model: "external_missing.data: no such file"},
	"external_ok":           {result: true},
	"external_truncated":    {model: "has 432 bytes, shape [8 3 3 3] needs 864"},
	"fp16_weights":          {either: true},
	"html_page":             {model: "cannot be decoded"},
	"huge_initializer_dims": {model: `initializer "conv1.bias" has shape [1000000000 1000000000 1000000000], whose element count overflows 64-bit integers`},
	"huge_pads":             {model: `node "conv1" (Conv) has pads [1000000000000000000 1000000000000000000 1000000000000000000 1000000000000000000]`},
	"huge_weights":          {either: true},
	"if_node":               {either: true},
	"inf_weights":           {model: `weight "conv2.weight" holds NaN or infinite values`},
	"loop_node":             {model: `node "forever" (Loop): unrolling its 1000000000000000 iterations of 2 nodes makes more than`},
	"nan_weights":           {model: `weight "conv1.weight" holds NaN or infinite values`},
	"negative_dims":         {model: `initializer "conv1.bias" has shape [-8], with a negative dimension`},
	"no_inputs":             {either: true},
	"no_ir_version":         {model: "has no graph or IR version"},
	"no_layers":             {model: "has no Conv, ConvTranspose, Gemm or MatMul layer"},
	"no_opset":              {model: "imports no ai.onnx opset"},
	"no_outputs":            {either: true},
	"old_opset":             {either: true},
	"overflow_dims":         {model: "needs more than 8 EiB (its size overflows 64-bit integers)"},
	"random_bytes":          {model: "not an ONNX model"},
	"scalar_input":          {either: true},
	"sequence_input":        {model: `input "seq" is a sequence, not a tensor`},
	"tile_explosion":        {proxy: "more than the memory limit"},
	"tile_overflow":         {proxy: `node "tile" (Tile) computes a tensor of shape [`},
	"token_input":           {either: true},
	"truncated":             {model: "not an ONNX model"},
	"two_inputs":            {either: true},
	"undefined_input":       {model: `node "relu1" (Relu) reads tensor "ghost" that no earlier node`},
	"unsorted_nodes":        {model: "not in topological order"},
	"wrong_value_count":     {model: `initializer "conv1.weight" has 10 values but its shape [8 3 3 3] needs 216`},
	"zero_stride":           {model: `node "conv2" (Conv) has strides [0 0]`},
}

// runWithin runs zerocost with args and fails the test when it takes
// longer than limit (a hang): the command cannot be stopped from outside,
// so its goroutine is left behind.
func runWithin(t *testing.T, limit time.Duration, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	type outcome struct {
		code     int
		out, err string
	}
	done := make(chan outcome, 1)
	go func() {
		var out, errb bytes.Buffer
		c := Main(context.Background(), args, &out, &errb)
		done <- outcome{c, out.String(), errb.String()}
	}()
	select {
	case o := <-done:
		for _, crash := range []string{"panic", "goroutine ", "internal error", "SIGFPE", "fatal error"} {
			if strings.Contains(o.out+o.err, crash) {
				t.Errorf("%v: output mentions %q:\n%s\n%s", args, crash, o.out, o.err)
			}
		}
		return o.code, o.out, o.err
	case <-time.After(limit):
		t.Fatalf("%v did not finish within %v", args, limit)
	}
	return 0, "", ""
}

func badModels(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(badModelsDir, "*.onnx"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad models in %s (%v): run go run ./internal/cmd/badinputs", badModelsDir, err)
	}
	sort.Strings(files)
	return files
}

// TestBadModels scores every model of the bad-model corpus with every
// proxy: each gives its clear error or a result, never a panic or a hang.
func TestBadModels(t *testing.T) {
	testort.Init(t)
	files := badModels(t)
	if len(files) != len(badModelWants) {
		t.Errorf("the corpus has %d models, the table %d: keep them in step", len(files), len(badModelWants))
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".onnx")
		t.Run(name, func(t *testing.T) {
			want, ok := badModelWants[name]
			if !ok {
				t.Fatalf("no expectation for %s", name)
			}
			code, out, errs := runWithin(t, 2*time.Minute, "score", path, "--batch-size", "2", "--format", "json")
			var res struct {
				Model   string                     `json:"model"`
				Proxies map[string]json.RawMessage `json:"proxies"`
				Errors  map[string]string          `json:"errors"`
			}
			haveResult := strings.TrimSpace(out) != ""
			if haveResult {
				if err := json.Unmarshal([]byte(out), &res); err != nil {
					t.Fatalf("bad JSON (%v):\n%s", err, out)
				}
				if res.Model != path {
					t.Errorf("result for model %q, want %q", res.Model, path)
				}
			}
			switch {
			case want.model != "":
				if code != 1 || haveResult || !strings.Contains(errs, path) || !strings.Contains(errs, want.model) {
					t.Errorf("want exit 1 and an error naming %s and containing %q; got exit %d, stdout %q, stderr %q", path, want.model, code, out, errs)
				}
			case want.proxy != "":
				if code != 1 || !haveResult || len(res.Errors) == 0 {
					t.Fatalf("want a result with failed proxies; got exit %d, stdout %q, stderr %q", code, out, errs)
				}
				for proxy, e := range res.Errors {
					if !strings.Contains(e, want.proxy) {
						t.Errorf("%s: want an error containing %q, got %q", proxy, want.proxy, e)
					}
				}
			case want.result:
				if code != 0 || !haveResult || len(res.Errors) > 0 || len(res.Proxies) == 0 {
					t.Errorf("want a full result; got exit %d, stdout %q, stderr %q", code, out, errs)
				}
			case want.either:
				clearError := code == 1 && (strings.Contains(errs, path) || haveResult && len(res.Errors) > 0)
				if !(code == 0 && haveResult) && !clearError {
					t.Errorf("want a result or an error naming the file; got exit %d, stdout %q, stderr %q", code, out, errs)
				}
				t.Logf("outcome: exit %d, %d proxies, errors %v, stderr %q", code, len(res.Proxies), res.Errors, errs)
			}
		})
	}
}

// TestMaxMemoryFlag checks --max-memory on a healthy model: a bad value
// is a usage error, a limit below the estimate refuses the model with the
// estimate and the flag, none lifts the limit.
func TestMaxMemoryFlag(t *testing.T) {
	testort.Init(t)
	path := filepath.Join(badModelsDir, "external_ok.onnx")
	if code, _, errs := runWithin(t, time.Minute, "score", path, "--max-memory", "lots"); code != 2 || !strings.Contains(errs, "--max-memory") {
		t.Errorf("--max-memory lots: want exit 2 naming the flag, got %d, %q", code, errs)
	}
	code, out, errs := runWithin(t, time.Minute, "score", path, "--batch-size", "2", "--proxies", "snip", "--max-memory", "64MiB", "--format", "json")
	var res struct{ Errors map[string]string }
	_ = json.Unmarshal([]byte(out), &res)
	snip := res.Errors["snip"]
	if code != 1 || !strings.Contains(snip, `the gradient graph for input "input" of shape [2 3 8 8] needs about`) || !strings.Contains(snip, "more than the memory limit of 64 MiB") || !strings.Contains(snip, "--max-memory") {
		t.Errorf("--max-memory 64MiB: want snip's gradient graph refused, got %d, %q, %q", code, out, errs)
	}
	if code, _, errs := runWithin(t, time.Minute, "score", path, "--batch-size", "2", "--proxies", "snip", "--max-memory", "none"); code != 0 {
		t.Errorf("--max-memory none: got %d, %q", code, errs)
	}
	if code, _, errs := runWithin(t, time.Minute, "run-model", path, "--max-memory", "1KiB"); code != 1 || !strings.Contains(errs, "a forward run needs about") {
		t.Errorf("run-model --max-memory 1KiB: got %d, %q", code, errs)
	}
}

// TestBadModelsOtherCommands runs the other commands that run a model
// (run-model, gradcheck) on the whole corpus: each ends with exit 0, or
// exit 1 and a message, never a panic or a hang.
func TestBadModelsOtherCommands(t *testing.T) {
	testort.Init(t)
	for _, path := range badModels(t) {
		for _, args := range [][]string{
			{"run-model", path, "--batch-size", "2"},
			{"gradcheck", path, "--batch-size", "2", "--format", "json"},
		} {
			code, out, errs := runWithin(t, 2*time.Minute, args...)
			if code != 0 && (code != 1 || !strings.Contains(errs, "zerocost "+args[0]+": ")) {
				t.Errorf("%v: want exit 0, or 1 with a message; got %d, stdout %q, stderr %q", args, code, out, errs)
			}
		}
	}
}

// TestRankBadModels ranks the whole corpus: every model gets one record,
// with its error or its scores, and rank exits 1 because some failed.
func TestRankBadModels(t *testing.T) {
	testort.Init(t)
	files := badModels(t)
	results := filepath.Join(t.TempDir(), "results.jsonl")
	code, out, errs := runWithin(t, 5*time.Minute, "rank", badModelsDir, "--batch-size", "2", "--workers", "2", "--results", results, "--format", "csv")
	if code != 1 || !strings.Contains(errs, "models failed") {
		t.Errorf("want exit 1 with failed models, got %d; stderr %q", code, errs)
	}
	recs, err := ranking.ReadResults(results)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range recs {
		seen[r.Path]++
		if r.Error == "" && len(r.Proxies) == 0 && len(r.Errors) == 0 {
			t.Errorf("%s: a record with neither an error nor scores", r.Path)
		}
		if r.Error != "" && !strings.Contains(r.Error, filepath.Base(r.Path)) {
			t.Errorf("%s: the error does not name the file: %s", r.Path, r.Error)
		}
	}
	for _, f := range files {
		if seen[f] != 1 {
			t.Errorf("%s: %d records in the results, want 1", f, seen[f])
		}
	}
	if len(recs) != len(files) {
		t.Errorf("%d records for %d models", len(recs), len(files))
	}
	if lines := strings.Count(out, "\n"); lines != len(files)+1 {
		t.Errorf("the ranking table has %d lines, want a header and %d rows", lines, len(files))
	}
	if _, err := os.Stat(results); err != nil {
		t.Fatal(err)
	}
}
