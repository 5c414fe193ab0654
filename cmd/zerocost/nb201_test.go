package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	// A ground truth of its own (index → architecture), so the test does
	// not depend on ../shared/data.
	truth := filepath.Join(dir, "truth.csv")
	rows := "index,arch,cifar10_test\n"
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 10; i++ {
		rows += fmt.Sprintf("%d,%s,%d\n", i, zoo.RandomNB201Arch(rng), 50+i)
	}
	if err := os.WriteFile(truth, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	nets := filepath.Join(dir, "nets")
	if code, _, errs := run(t, "zoo", "nb201", "--out", nets, "--index", "3,7", "--seed", "2", "--variant", "foresight", "--truth", truth); code != 0 {
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
	score := []string{"--proxies", "synflow,params", "--batch-size", "1", "--input-shape", "3x32x32"}
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
