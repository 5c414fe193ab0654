package zoo_test

import (
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
	truth := &zoo.Truth{Columns: []string{"index", "arch"}}
	for i := 0; i < 40; i++ {
		a := strings.Repeat("x", i)
		truth.Rows = append(truth.Rows, zoo.TruthRow{Key: itoa(i), Fields: map[string]string{"index": itoa(i), "arch": a + "arch"}})
	}
	all, err := zoo.SelectNB201(truth, zoo.NB201Selection{All: true})
	if err != nil || len(all) != 40 || all[39].Index != 39 || all[39].Arch != strings.Repeat("x", 39)+"arch" {
		t.Fatalf("all: %v %v", err, all)
	}
	a, _ := zoo.SelectNB201(truth, zoo.NB201Selection{Sample: 10, Seed: 3})
	b, _ := zoo.SelectNB201(truth, zoo.NB201Selection{Sample: 10, Seed: 3})
	c, _ := zoo.SelectNB201(truth, zoo.NB201Selection{Sample: 10, Seed: 4})
	if len(a) != 10 || !slices.Equal(a, b) || slices.Equal(a, c) || !slices.IsSortedFunc(a, func(x, y zoo.NB201Pick) int { return x.Index - y.Index }) {
		t.Fatalf("sample: seeded, sorted and seed-dependent: %v %v %v", a, b, c)
	}
	if _, err := zoo.SelectNB201(truth, zoo.NB201Selection{Indices: []int{5, 40}}); err == nil || !strings.Contains(err.Error(), "40") {
		t.Fatalf("unknown index: want an error naming it, got %v", err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
