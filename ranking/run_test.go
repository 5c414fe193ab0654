package ranking_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/internal/testort"
	"github.com/zerocost/zerocost/ranking"
	"github.com/zerocost/zerocost/zoo"
)

func writeTiny(t *testing.T, dir, name string, seed uint64) string {
	t.Helper()
	data, err := zoo.TinyCNN(seed, 10).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunRecordsFailuresAndResumes(t *testing.T) {
	testort.Init(t)
	dir := t.TempDir()
	models := filepath.Join(dir, "models")
	os.MkdirAll(filepath.Join(models, "sub"), 0o755)
	writeTiny(t, models, "a.onnx", 1)
	writeTiny(t, filepath.Join(models, "sub"), "b.onnx", 2)
	os.WriteFile(filepath.Join(models, "broken.onnx"), []byte("not a model"), 0o644)
	entries, err := ranking.Collect([]string{models})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Fatalf("want 3 models found recursively, got %d", len(entries))
	}
	results := filepath.Join(dir, "results.jsonl")
	opts := ranking.Options{
		Proxies: []string{"synflow", "params", "snip"},
		Data:    data.DataSpec{BatchSize: 2, Shape: []int64{3, 8, 8}},
		Workers: 2,
		Results: results,
	}
	var stats ranking.RunStats
	opts.Stats = &stats
	recs, err := ranking.Run(context.Background(), entries, opts)
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, r := range recs {
		if r.Error != "" {
			failed++
			if !strings.Contains(r.Error, "broken.onnx") {
				t.Errorf("the error should name the file: %s", r.Error)
			}
		} else if r.Proxies["synflow"] == nil || r.Proxies["snip"] == nil {
			t.Errorf("%s: missing proxies: %v", r.Name, r.Errors)
		}
	}
	if failed != 1 {
		t.Fatalf("want 1 failed model, got %d", failed)
	}
	saved, _ := ranking.ReadResults(results)
	if len(saved) != 3 {
		t.Fatalf("want 3 lines in the results file, got %d", len(saved))
	}
	// snip's gradient session reserved its estimate in the workers' pool.
	if stats.Scored != 3 || stats.PeakReserved <= 0 || stats.WorkerPeakReserved <= 0 ||
		stats.WorkerPeakReserved > stats.PeakReserved || stats.PoolCapacity <= 0 || stats.Workers != 2 {
		t.Errorf("stats of the first run: %+v", stats)
	}
	if !strings.Contains(stats.Summary(), "scored 3 models in") {
		t.Errorf("summary: %s", stats.Summary())
	}
	// A second run reuses the two scored models and retries the broken one.
	if _, err := ranking.Run(context.Background(), entries, opts); err != nil {
		t.Fatal(err)
	}
	if stats.Scored != 1 {
		t.Errorf("the second run scored %d models, want 1 (the broken one, retried)", stats.Scored)
	}
	saved, _ = ranking.ReadResults(results)
	if len(saved) != 4 {
		t.Fatalf("resume: want 4 lines (2 reused, the broken model retried), got %d", len(saved))
	}
	// Other settings score again.
	opts.Proxies = []string{"params"}
	if _, err := ranking.Run(context.Background(), entries, opts); err != nil {
		t.Fatal(err)
	}
	saved, _ = ranking.ReadResults(results)
	if len(saved) != 7 {
		t.Fatalf("new settings: want 7 lines, got %d", len(saved))
	}
}

func TestManifests(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "m.csv"), []byte("path,name,acc\na.onnx,first,91.5\nsub/b.onnx,,88\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "m.jsonl"), []byte(`{"path": "c.onnx", "acc": 70, "input_shape": "3x16x16"}`+"\n"), 0o644)
	es, err := ranking.Collect([]string{filepath.Join(dir, "m.csv"), filepath.Join(dir, "m.jsonl")})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 3 || es[0].Name != "first" || es[0].Truth["acc"] != 91.5 || es[1].Name != "b" || es[1].Path != filepath.Join(dir, "sub", "b.onnx") || es[2].Shape != "3x16x16" {
		t.Fatalf("unexpected entries: %+v", es)
	}
	if _, err := ranking.Collect([]string{filepath.Join(dir, "missing")}); err == nil {
		t.Fatal("a missing path must be an error")
	}
}

func TestSortByVote(t *testing.T) {
	recs := []ranking.Record{{Name: "low"}, {Name: "high"}, {Name: "mid"}}
	set := func(r *ranking.Record, a, b float64) {
		r.Proxies = map[string]*proxiesResult{"a": {Score: a}, "b": {Score: b}}
	}
	set(&recs[0], 1, 1)
	set(&recs[1], 3, 3)
	set(&recs[2], 2, 2)
	ranking.Sort(recs, "vote", []string{"a", "b"})
	if recs[0].Name != "high" || recs[2].Name != "low" {
		t.Fatalf("vote order: %s %s %s", recs[0].Name, recs[1].Name, recs[2].Name)
	}
}
