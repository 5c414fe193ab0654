package zoo

import (
	_ "embed"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

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

//go:generate go run gen_nb201archs.go

// nb201ArchsFile is the benchmark's architecture list (see
// gen_nb201archs.go for its format), built into the binary so that
// NAS-Bench-201 networks can be built from any folder without the
// ground-truth file.
//
//go:embed nb201_archs.txt
var nb201ArchsFile string

// NB201Size is the number of architectures in NAS-Bench-201 (5^6 cells).
const NB201Size = 15625

var nb201Archs = sync.OnceValues(func() ([]string, error) {
	lines := strings.Split(strings.TrimSpace(nb201ArchsFile), "\n")
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, "#") {
			continue
		}
		if len(l) != 6 || strings.Trim(l, "01234") != "" {
			return nil, fmt.Errorf("zoo: the built-in NAS-Bench-201 list has a bad line %q at index %d; regenerate it with go generate ./zoo/", l, len(out))
		}
		var b strings.Builder
		for k, node := 0, 1; node <= 3; node++ {
			b.WriteByte('|')
			for from := 0; from < node; from, k = from+1, k+1 {
				fmt.Fprintf(&b, "%s~%d|", NB201Ops[l[k]-'0'], from)
			}
			if node < 3 {
				b.WriteByte('+')
			}
		}
		out = append(out, b.String())
	}
	if len(out) != NB201Size {
		return nil, fmt.Errorf("zoo: the built-in NAS-Bench-201 list has %d architectures, want %d; regenerate it with go generate ./zoo/", len(out), NB201Size)
	}
	return out, nil
})

// NB201Archs returns the architecture strings of all NAS-Bench-201
// networks, indexed by benchmark index (the order of the benchmark and of
// ../shared/data/nb201/nb201_accuracy.csv). The list is built into the
// binary; the slice is the caller's.
func NB201Archs() ([]string, error) {
	archs, err := nb201Archs()
	return slices.Clone(archs), err
}

// NB201Arch returns the architecture string of one benchmark index.
func NB201Arch(index int) (string, error) {
	archs, err := nb201Archs()
	if err != nil {
		return "", err
	}
	if index < 0 || index >= len(archs) {
		return "", fmt.Errorf("zoo: no NAS-Bench-201 index %d (0..%d)", index, len(archs)-1)
	}
	return archs[index], nil
}

// SelectNB201 returns the chosen architectures of the built-in list in
// index order (indices in the order given).
func SelectNB201(sel NB201Selection) ([]NB201Pick, error) {
	archs, err := nb201Archs()
	if err != nil {
		return nil, err
	}
	var idx []int
	switch {
	case sel.All:
		idx = make([]int, len(archs))
		for i := range idx {
			idx[i] = i
		}
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
		if i < 0 || i >= len(archs) {
			return nil, fmt.Errorf("zoo: no NAS-Bench-201 index %d (0..%d)", i, len(archs)-1)
		}
		picks[k] = NB201Pick{Index: i, Arch: archs[i]}
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
