package zoo_test

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/zerocost/zerocost/zoo"
)

func TestParseNB201Source(t *testing.T) {
	good := map[string]zoo.NB201Source{
		"nb201:all":              {Selection: zoo.NB201Selection{All: true, Seed: 1}, Variant: "nb201", Classes: 10, Seed: 1},
		"nb201:sample=50:seed=7": {Selection: zoo.NB201Selection{Sample: 50, Seed: 7}, Variant: "nb201", Classes: 10, Seed: 7},
		"nb201:index=3,1:variant=foresight:classes=100": {Selection: zoo.NB201Selection{Indices: []int{3, 1}, Seed: 1}, Variant: "foresight", Classes: 100, Seed: 1},
	}
	for s, want := range good {
		got, err := zoo.ParseNB201Source(s)
		if err != nil {
			t.Errorf("%s: %v", s, err)
			continue
		}
		if got.Variant != want.Variant || got.Classes != want.Classes || got.Seed != want.Seed || got.Selection.All != want.Selection.All ||
			got.Selection.Sample != want.Selection.Sample || got.Selection.Seed != want.Selection.Seed || !slices.Equal(got.Selection.Indices, want.Selection.Indices) {
			t.Errorf("%s: got %+v, want %+v", s, got, want)
		}
	}
	for _, s := range []string{"nb201:", "nb201:sample=0", "nb201:all:sample=3", "nb201:index=a", "nb201:all:variant=darts", "nb201:all:classes=-1", "nb201:all:colour=red", "cifar:all"} {
		if _, err := zoo.ParseNB201Source(s); err == nil {
			t.Errorf("%s: want an error", s)
		}
	}
}

func TestSelectNB201(t *testing.T) {
	archs, err := zoo.NB201Archs()
	if err != nil {
		t.Fatal(err)
	}
	all, err := zoo.SelectNB201(zoo.NB201Selection{All: true})
	if err != nil || len(all) != zoo.NB201Size || all[15624].Index != 15624 || all[15624].Arch != archs[15624] {
		t.Fatalf("all: %v, %d picks", err, len(all))
	}
	a, _ := zoo.SelectNB201(zoo.NB201Selection{Sample: 10, Seed: 3})
	b, _ := zoo.SelectNB201(zoo.NB201Selection{Sample: 10, Seed: 3})
	c, _ := zoo.SelectNB201(zoo.NB201Selection{Sample: 10, Seed: 4})
	if len(a) != 10 || !slices.Equal(a, b) || slices.Equal(a, c) || !slices.IsSortedFunc(a, func(x, y zoo.NB201Pick) int { return x.Index - y.Index }) {
		t.Fatalf("sample: seeded, sorted and seed-dependent: %v %v %v", a, b, c)
	}
	for _, p := range a {
		if p.Arch != archs[p.Index] {
			t.Errorf("sample pick %d: arch %q, want %q", p.Index, p.Arch, archs[p.Index])
		}
	}
	picks, err := zoo.SelectNB201(zoo.NB201Selection{Indices: []int{7, 0}})
	if err != nil || len(picks) != 2 || picks[0].Index != 7 || picks[1].Arch != archs[0] {
		t.Fatalf("indices: in the order given: %v %v", err, picks)
	}
	for _, bad := range []int{15625, -1} {
		if _, err := zoo.SelectNB201(zoo.NB201Selection{Indices: []int{5, bad}}); err == nil || !strings.Contains(err.Error(), itoa(bad)) {
			t.Errorf("index %d: want an error naming it, got %v", bad, err)
		}
	}
}

// TestNB201ArchsCoverSpace checks the built-in list without the ground
// truth: 15,625 valid, distinct cells, which is every cell of the space.
func TestNB201ArchsCoverSpace(t *testing.T) {
	archs, err := zoo.NB201Archs()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, a := range archs {
		if _, err := zoo.ParseNB201(a); err != nil {
			t.Fatalf("index %d: %v", i, err)
		}
		seen[a] = true
	}
	if len(archs) != zoo.NB201Size || len(seen) != zoo.NB201Size {
		t.Fatalf("want %d distinct architectures, got %d of %d", zoo.NB201Size, len(seen), len(archs))
	}
	// Index 0 and the best network by CIFAR-10 validation accuracy (index
	// 6111, ../shared/data/README.md), as the benchmark writes them.
	for i, want := range map[int]string{
		0:    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
		6111: "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
	} {
		if got, err := zoo.NB201Arch(i); err != nil || got != want {
			t.Errorf("index %d: want %s, got %s (%v)", i, want, got, err)
		}
	}
}

// TestNB201ArchsMatchGroundTruth checks the built-in list against the arch
// column of the ground truth it was generated from, row by row.
func TestNB201ArchsMatchGroundTruth(t *testing.T) {
	path := filepath.Join("..", "..", "shared", "data", "nb201", "nb201_accuracy.csv")
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs the shared data: %v", err)
		}
		t.Skipf("no ground truth to compare with: %v", err)
	}
	truth, err := zoo.ReadTruth(path, "index")
	if err != nil {
		t.Fatal(err)
	}
	archs, err := zoo.NB201Archs()
	if err != nil {
		t.Fatal(err)
	}
	if len(truth.Rows) != len(archs) {
		t.Fatalf("%s has %d rows, the built-in list %d", path, len(truth.Rows), len(archs))
	}
	for i, r := range truth.Rows {
		if r.Key != itoa(i) || r.Fields["arch"] != archs[i] {
			t.Fatalf("row %d (index %s): csv %s, built-in %s; regenerate with go generate ./zoo/", i, r.Key, r.Fields["arch"], archs[i])
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
