package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zerocost/zerocost/internal/testort"
	"github.com/zerocost/zerocost/ranking"
)

// csvColumn reads rank --format csv output into name → value of col.
func csvColumn(t *testing.T, out, col string) map[string]string {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) < 2 {
		t.Fatalf("rank csv: %v:\n%s", err, out)
	}
	at := -1
	for i, h := range rows[0] {
		if h == col {
			at = i
		}
	}
	if at < 0 {
		t.Fatalf("rank csv has no column %q: %v", col, rows[0])
	}
	got := map[string]string{}
	for _, r := range rows[1:] {
		got[r[1]] = r[at]
	}
	return got
}

// TestEnsembleOverResumedRank: an ensemble column of a run resumed from a
// results file equals the one of the same collection scored in one go, is
// never written to the results file, and eval computes the same from
// either file.
func TestEnsembleOverResumedRank(t *testing.T) {
	testort.Init(t)
	dir := t.TempDir()
	truth := filepath.Join(dir, "truth.csv")
	rows := "index,cifar10_test\n"
	for i, acc := range []float64{80, 91, 85, 60, 88, 90} {
		rows += fmt.Sprintf("%d,%g\n", i, acc)
	}
	if err := os.WriteFile(truth, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	common := []string{"--proxies", "synflow,params", "--batch-size", "1", "--workers", "1", "--format", "csv",
		"--ensemble", "e=logrank:synflow,params", "--ensemble", "v=vote:synflow,params"}
	resumed, whole := filepath.Join(dir, "resumed.jsonl"), filepath.Join(dir, "whole.jsonl")
	if code, _, errs := run(t, append([]string{"rank", "nb201:index=0,1,2", "--results", resumed}, common...)...); code != 0 {
		t.Fatalf("first part: exit %d: %s", code, errs)
	}
	code, outResumed, errs := run(t, append([]string{"rank", "nb201:index=0,1,2,3,4,5", "--results", resumed, "--sort", "e"}, common...)...)
	if code != 0 {
		t.Fatalf("resumed run: exit %d: %s", code, errs)
	}
	code, outWhole, errs := run(t, append([]string{"rank", "nb201:index=0,1,2,3,4,5", "--results", whole, "--sort", "e"}, common...)...)
	if code != 0 {
		t.Fatalf("whole run: exit %d: %s", code, errs)
	}
	for _, col := range []string{"e", "v"} {
		a, b := csvColumn(t, outResumed, col), csvColumn(t, outWhole, col)
		if len(a) != 6 {
			t.Fatalf("%s: want 6 models, got %v", col, a)
		}
		for name, v := range b {
			if a[name] != v || v == "" {
				t.Errorf("ensemble %s of %s: resumed %q, whole %q", col, name, a[name], v)
			}
		}
	}
	if outResumed != outWhole {
		t.Errorf("the resumed ranking differs from the one-go ranking:\n%s\n%s", outResumed, outWhole)
	}
	raw, err := os.ReadFile(resumed)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), `"e":`) || strings.Contains(string(raw), `"v":`) {
		t.Error("an ensemble was stored in the results file")
	}
	recs, _ := ranking.ReadResults(resumed)
	if len(recs) != 6 {
		t.Errorf("the resumed file must hold each model once, got %d lines", len(recs))
	}

	evalJSON := func(path string) map[string]ranking.Stats {
		code, out, errs := run(t, "eval", path, "--truth", truth, "--ensemble", "e=logrank:synflow,params", "--ensemble", "paper=vote:synflow,params", "--format", "json")
		if code != 0 {
			t.Fatalf("eval %s: exit %d: %s", path, code, errs)
		}
		var got struct {
			Proxies map[string]ranking.Stats
			Votes   map[string]float64 `json:"vote_pair_accuracy"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("eval json: %v\n%s", err, out)
		}
		if _, ok := got.Votes["paper"]; !ok {
			t.Errorf("eval json: want the pairwise vote accuracy of paper, got %v", got.Votes)
		}
		return got.Proxies
	}
	a, b := evalJSON(resumed), evalJSON(whole)
	for _, p := range []string{"synflow", "params", "e", "paper"} {
		if a[p].N != 6 || a[p] != b[p] {
			t.Errorf("eval %s: resumed %+v, whole %+v", p, a[p], b[p])
		}
	}
	// The built-in zc_free (synflow, params) appears by default in eval.
	code, out, errs := run(t, "eval", resumed, "--truth", truth)
	if code != 0 || !strings.Contains(out, "zc_free") {
		t.Errorf("eval: want the built-in zc_free row, exit %d:\n%s%s", code, out, errs)
	}
	code, out, errs = run(t, "eval", resumed, "--truth", truth, "--ensemble", "none")
	if code != 0 || strings.Contains(out, "zc_free") {
		t.Errorf("eval --ensemble none: want no ensemble row, exit %d:\n%s%s", code, out, errs)
	}
	for i, bad := range [][]string{
		{"--ensemble", "x=vote:synflow,nwot"},         // nwot is not in the file
		{"--ensemble", "synflow=vote:synflow,params"}, // a proxy's name
		{"--ensemble", "x=median:synflow,params"},
		{"--ensemble", "x=vote:synflow,"},
		{"--ensemble", "no_such_builtin"},
		{"--learned-proxies", "nwot", "--learned", "3"},
	} {
		if code, _, errs := run(t, append([]string{"eval", resumed, "--truth", truth}, bad...)...); code != 2 {
			t.Errorf("case %d %v: want exit 2, got %d: %s", i, bad, code, errs)
		}
	}
	code, out, errs = run(t, "eval", resumed, "--truth", truth, "--learned", "4", "--learned-seed", "3")
	if code != 0 || !strings.Contains(out, "fitted on the cifar10_test of 4 labelled models (seed 3), evaluated on the other 2") {
		t.Errorf("--learned 4: exit %d:\n%s%s", code, out, errs)
	}
	if code, _, errs := run(t, "eval", resumed, "--truth", truth, "--learned", "4", "--learned-fit", "nosuch"); code != 1 || !strings.Contains(errs, "--learned-fit") {
		t.Errorf("--learned-fit nosuch: want exit 1 naming the flag, got %d: %s", code, errs)
	}
	// Six models cannot hold out anything after fitting on six.
	if code, _, errs := run(t, "eval", resumed, "--truth", truth, "--learned", "6"); code != 1 || !strings.Contains(errs, "--learned") {
		t.Errorf("--learned 6 of 6: want exit 1 naming the flag, got %d: %s", code, errs)
	}
}
