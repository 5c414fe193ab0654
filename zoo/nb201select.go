package zoo

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"

	ox "github.com/zerocost/zerocost/onnximport"
)

// NB201Pick is one benchmark architecture: its index and string.
type NB201Pick struct {
	Index int
	Arch  string
}

// NB201Selection chooses benchmark architectures: every one, a seeded
// sample of Sample, or the listed indices.
type NB201Selection struct {
	All     bool
	Sample  int
	Seed    uint64 // of the sample
	Indices []int
}

// SelectNB201 returns the chosen architectures in index order (indices in
// the order given), their strings read from the ground truth (columns index
// and arch, as ../shared/data/nb201/nb201_accuracy.csv).
func SelectNB201(t *Truth, sel NB201Selection) ([]NB201Pick, error) {
	archs := map[int]string{}
	for _, r := range t.Rows {
		i, err := strconv.Atoi(r.Key)
		if err != nil || r.Fields["arch"] == "" {
			return nil, fmt.Errorf("zoo: the NAS-Bench-201 ground truth needs integer index and arch columns (row %q)", r.Key)
		}
		archs[i] = r.Fields["arch"]
	}
	var idx []int
	switch {
	case sel.All:
		for i := range archs {
			idx = append(idx, i)
		}
		sort.Ints(idx)
	case sel.Sample > 0:
		rng := rand.New(rand.NewPCG(sel.Seed, 0x6e623230))
		idx = rng.Perm(len(archs))[:min(sel.Sample, len(archs))]
		sort.Ints(idx)
	case len(sel.Indices) > 0:
		idx = sel.Indices
	default:
		return nil, fmt.Errorf("zoo: choose all, a sample or indices of NAS-Bench-201")
	}
	picks := make([]NB201Pick, len(idx))
	for k, i := range idx {
		arch, ok := archs[i]
		if !ok {
			return nil, fmt.Errorf("zoo: no NAS-Bench-201 index %d in the ground truth (0..%d)", i, len(archs)-1)
		}
		picks[k] = NB201Pick{Index: i, Arch: arch}
	}
	return picks, nil
}

// NB201Source is a collection of NAS-Bench-201 networks built in memory,
// written as a pseudo-path:
//
//	nb201:all
//	nb201:sample=1000[:seed=7]
//	nb201:index=0,5,42
//
// followed by any of :variant=nb201|foresight, :classes=K and :seed=S (the
// sample's seed; network i's weights are drawn with seed S+i, as `zerocost
// zoo nb201 --seed S` writes them, so both give identical models).
type NB201Source struct {
	Selection NB201Selection
	Variant   string
	Classes   int
	Seed      uint64
}

// NB201SourcePrefix starts a pseudo-path naming an NB201Source.
const NB201SourcePrefix = "nb201:"

// ParseNB201Source parses an NB201Source pseudo-path.
func ParseNB201Source(s string) (NB201Source, error) {
	src := NB201Source{Variant: "nb201", Classes: 10, Seed: 1}
	body, ok := strings.CutPrefix(s, NB201SourcePrefix)
	if !ok {
		return src, fmt.Errorf("zoo: %q does not start with %s", s, NB201SourcePrefix)
	}
	bad := func(part, why string) error {
		return fmt.Errorf("zoo: %q: %s %s (want nb201:all, nb201:sample=N or nb201:index=I,J,… with optional :seed=S, :variant=nb201|foresight, :classes=K)", s, part, why)
	}
	for _, part := range strings.Split(body, ":") {
		key, val, _ := strings.Cut(part, "=")
		var err error
		switch key {
		case "all":
			src.Selection.All = true
		case "sample":
			src.Selection.Sample, err = strconv.Atoi(val)
			if err == nil && src.Selection.Sample <= 0 {
				return src, bad(part, "is not a positive count")
			}
		case "index":
			for _, f := range strings.Split(val, ",") {
				i, e := strconv.Atoi(strings.TrimSpace(f))
				if e != nil || i < 0 {
					return src, bad(part, "has a bad index")
				}
				src.Selection.Indices = append(src.Selection.Indices, i)
			}
		case "seed":
			src.Seed, err = strconv.ParseUint(val, 10, 64)
		case "classes":
			src.Classes, err = strconv.Atoi(val)
			if err == nil && src.Classes <= 0 {
				return src, bad(part, "is not a positive count")
			}
		case "variant":
			src.Variant = val
			if val != "nb201" && val != "foresight" {
				return src, bad(part, "is not a variant")
			}
		default:
			return src, bad(part, "is not understood")
		}
		if err != nil {
			return src, bad(part, "is not a number")
		}
	}
	sel := src.Selection
	if n := btoi(sel.All) + btoi(sel.Sample > 0) + btoi(len(sel.Indices) > 0); n != 1 {
		return src, bad("the selection", "must be exactly one of all, sample=N, index=LIST")
	}
	src.Selection.Seed = src.Seed
	return src, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Build builds one picked network of the source.
func (src NB201Source) Build(p NB201Pick) (*ox.Model, error) {
	return NB201(p.Arch, NB201Options{Classes: src.Classes, Seed: src.Seed + uint64(max(p.Index, 0)), Index: p.Index, Variant: src.Variant})
}
