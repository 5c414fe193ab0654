package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/zerocost/zerocost/internal/testort"
	"github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/ranking"
	"github.com/zerocost/zerocost/zoo"
)

// TestRankNB201SourceMatchesZooFiles checks that ranking an nb201: source
// (networks built in memory) gives the same models, content hashes and
// scores as ranking the files `zoo nb201` writes with the same seed, for
// the foresight variant, and that bad sources are usage errors.
func TestRankNB201SourceMatchesZooFiles(t *testing.T) {
	testort.Init(t)
	dir := t.TempDir()
	// Accuracies of its own, so the test does not depend on ../shared/data
	// (the architectures are built into zoo).
	truth := filepath.Join(dir, "truth.csv")
	rows := "index,cifar10_test\n"
	for i := 0; i < 10; i++ {
		rows += fmt.Sprintf("%d,%d\n", i, 50+i)
	}
	if err := os.WriteFile(truth, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	nets := filepath.Join(dir, "nets")
	if code, _, errs := run(t, "zoo", "nb201", "--out", nets, "--index", "3,7", "--seed", "2", "--variant", "foresight"); code != 0 {
		t.Fatalf("zoo: exit %d: %s", code, errs)
	}
	hashes := map[string]string{}
	for _, i := range []string{"3", "7"} {
		raw, err := os.ReadFile(filepath.Join(nets, i+".onnx"))
		if err != nil {
			t.Fatal(err)
		}
		m, err := onnximport.Parse(raw, nets)
		if err != nil {
			t.Fatal(err)
		}
		variant := ""
		for _, md := range m.Proto.GetMetadataProps() {
			if md.GetKey() == "nb201_variant" {
				variant = md.GetValue()
			}
		}
		if variant != "foresight" {
			t.Fatalf("%s.onnx: metadata nb201_variant %q, want foresight", i, variant)
		}
		sum := sha256.Sum256(raw)
		hashes[i] = hex.EncodeToString(sum[:])
	}
	score := []string{"--proxies", "synflow,params", "--batch-size", "1"}
	fromFiles, fromSource := filepath.Join(dir, "files.jsonl"), filepath.Join(dir, "source.jsonl")
	score = append(score, "--truth", truth)
	if code, _, errs := run(t, append([]string{"rank", nets, "--results", fromFiles}, score...)...); code != 0 {
		t.Fatalf("rank files: exit %d: %s", code, errs)
	}
	if code, _, errs := run(t, append([]string{"rank", "nb201:index=3,7:seed=2:variant=foresight", "--results", fromSource}, score...)...); code != 0 {
		t.Fatalf("rank source: exit %d: %s", code, errs)
	}
	a, _ := ranking.ReadResults(fromFiles)
	b, _ := ranking.ReadResults(fromSource)
	if len(a) != 2 || len(b) != 2 {
		t.Fatalf("want 2 results each, got %d and %d", len(a), len(b))
	}
	for _, r := range b {
		if r.SHA256 != hashes[r.Key] || !strings.HasPrefix(r.Path, "nb201:index="+r.Key+":seed=2:variant=foresight") {
			t.Errorf("source result %s: sha %s path %s, want the file's sha %s", r.Key, r.SHA256, r.Path, hashes[r.Key])
		}
		for _, f := range a {
			if f.Key == r.Key && (*f.Proxies["synflow"].Log10 != *r.Proxies["synflow"].Log10 || f.Proxies["params"].Score != r.Proxies["params"].Score) {
				t.Errorf("index %s: file and source scores differ: %+v vs %+v", r.Key, f.Proxies, r.Proxies)
			}
		}
	}
	for _, bad := range []string{"nb201:sample=0", "nb201:all:variant=darts", "nb201:index=x"} {
		if code, _, _ := run(t, append([]string{"rank", bad}, score...)...); code != 2 {
			t.Errorf("rank %s: want exit 2, got %d", bad, code)
		}
	}
	if code, _, errs := run(t, append([]string{"rank", "nb201:index=99999"}, score...)...); code != 1 || !strings.Contains(errs, "99999") {
		t.Errorf("rank nb201:index=99999: want exit 1 naming the index, got %d: %s", code, errs)
	}
}

// TestZooNetworksCarryTheirInputShape runs zoo and rank as a new user
// would, from a folder outside the repository and with no shape flags: the
// networks record 3x32x32 and every one is scored at that size; a shape the
// user gives wins, and a model without the record fails as before.
func TestZooNetworksCarryTheirInputShape(t *testing.T) {
	testort.Init(t)
	t.Chdir(t.TempDir())
	if code, out, errs := run(t, "zoo", "nb201", "--out", "nets", "--sample", "5", "--seed", "3"); code != 0 || !strings.Contains(out, "wrote 5 NAS-Bench-201 networks") {
		t.Fatalf("zoo from a temp folder: exit %d: %s %s", code, out, errs)
	}
	// The same sample as an nb201: source: same indices, no files.
	want, err := zoo.SelectNB201(zoo.NB201Selection{Sample: 5, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	// A copy of one network without the record: it has dynamic H and W
	// and nothing to fill them with.
	bare := filepath.Join("bare", "bare.onnx")
	m, err := onnximport.Load(filepath.Join("nets", fmt.Sprintf("%d.onnx", want[0].Index)))
	if err != nil {
		t.Fatal(err)
	}
	var kept []*onnx.StringStringEntryProto
	for _, p := range m.Proto.GetMetadataProps() {
		if p.GetKey() != onnximport.InputShapeKey {
			kept = append(kept, p)
		}
	}
	m.Proto.MetadataProps = kept
	raw, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("bare", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bare, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		args      []string
		wantCode  int
		wantShape []int64 // of every result; nil: every result failed
		wantErr   string
	}{
		{args: []string{"rank", "nets", "--proxies", "synflow,params"}, wantShape: []int64{1, 3, 32, 32}},
		{args: []string{"rank", "nets", "--proxies", "params", "--input-shape", "3x16x16"}, wantShape: []int64{1, 3, 16, 16}},
		{args: []string{"rank", "nb201:sample=5:seed=3", "--proxies", "params"}, wantShape: []int64{1, 3, 32, 32}},
		{args: []string{"rank", "bare", "--proxies", "params"}, wantCode: 1, wantErr: "dynamic size at axis 2"},
		{args: []string{"rank", "bare", "--proxies", "params", "--input-shape", "3x8x8"}, wantShape: []int64{1, 3, 8, 8}},
	} {
		results := fmt.Sprintf("r%d.jsonl", i)
		code, out, errs := run(t, append(c.args, "--batch-size", "1", "--results", results)...)
		if code != c.wantCode {
			t.Errorf("case %d %v: want exit %d, got %d: %s", i, c.args, c.wantCode, code, errs)
			continue
		}
		recs, err := ranking.ReadResults(results)
		if err != nil {
			t.Fatal(err)
		}
		wantN := 5
		if strings.Contains(c.args[1], "bare") {
			wantN = 1
		}
		if len(recs) != wantN {
			t.Errorf("case %d: want %d results, got %d\n%s", i, wantN, len(recs), out)
		}
		for _, r := range recs {
			if c.wantShape == nil {
				if !strings.Contains(r.Error, c.wantErr) {
					t.Errorf("case %d: %s: want an error with %q, got %q", i, r.Name, c.wantErr, r.Error)
				}
				continue
			}
			if r.Error != "" || !slices.Equal(r.InputShape, c.wantShape) {
				t.Errorf("case %d: %s: want input %v, got %v (error %q)", i, r.Name, c.wantShape, r.InputShape, r.Error)
			}
		}
		if c.args[1] != "bare" && len(recs) == wantN {
			var names []string
			for _, r := range recs {
				names = append(names, r.Key)
			}
			slices.Sort(names)
			var wantNames []string
			for _, p := range want {
				wantNames = append(wantNames, fmt.Sprint(p.Index))
			}
			slices.Sort(wantNames)
			if !slices.Equal(names, wantNames) {
				t.Errorf("case %d: want the networks %v, got %v", i, wantNames, names)
			}
		}
	}
	// score takes the recorded shape too (default batch 64).
	code, out, errs := run(t, "score", filepath.Join("nets", fmt.Sprintf("%d.onnx", want[1].Index)), "--proxies", "params", "--format", "json")
	if code != 0 || !strings.Contains(out, `"input_shape": [
    64,
    3,
    32,
    32
  ]`) {
		t.Fatalf("score without --input-shape: exit %d: %s %s", code, out, errs)
	}
}
