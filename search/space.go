package search

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"

	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/zoo"
)

// Space is a search space. Architectures are strings in the space's own
// notation (NAS-Bench-201's "|op~0|+…", a file path, …).
type Space interface {
	// Sample draws an architecture uniformly.
	Sample(rng *rand.Rand) string
	// Neighbours are the architectures one mutation away (nil: none).
	Neighbours(arch string) []string
	// Encode is the feature vector a predictor reads (nil: none).
	Encode(arch string) []float64
	// Key names the architecture in oracles' tables and results files.
	Key(arch string) string
	// Build builds the network, for scorers that compute proxies.
	Build(arch string) (*ox.Model, error)
}

// Enumerable is a space that can list all its architectures.
type Enumerable interface {
	All() []string
}

// Categorical is a space whose architectures are a sequence of
// independent choices (the edges of a NAS-Bench-201 cell), as a policy
// over the choices (Reinforce) needs.
type Categorical interface {
	// Choices is the number of options of each decision.
	Choices() []int
	// FromChoices makes an architecture from one option per decision.
	FromChoices(c []int) string
	// ToChoices returns the options of arch.
	ToChoices(arch string) ([]int, error)
}

// NB201Space is the NAS-Bench-201 cell space: 6 edges, each one of 5 ops
// (zoo.NB201Ops), 15,625 architectures in the benchmark's index order.
// Networks are built as `zerocost rank nb201:index=I` builds them (weights
// seeded with 1+I) with Classes outputs (default 10).
type NB201Space struct {
	Classes int
}

// nb201Table indexes the benchmark's architectures: string → index, and
// each one's op choices.
type nb201Table struct {
	index   map[string]int
	choices [][]int
}

var nb201Tab = sync.OnceValues(func() (*nb201Table, error) {
	archs, err := zoo.NB201Archs()
	if err != nil {
		return nil, err
	}
	t := &nb201Table{index: make(map[string]int, len(archs)), choices: make([][]int, len(archs))}
	for i, a := range archs {
		t.index[a] = i
		if t.choices[i], err = parseChoices(a); err != nil {
			return nil, err
		}
	}
	return t, nil
})

// NB201Index returns the benchmark index of an architecture string.
func NB201Index(arch string) (int, error) {
	t, err := nb201Tab()
	if err != nil {
		return 0, err
	}
	i, ok := t.index[arch]
	if !ok {
		return 0, fmt.Errorf("search: %q is not a NAS-Bench-201 architecture (want |op~0|+|op~0|op~1|+|op~0|op~1|op~2| with ops %s)", arch, strings.Join(zoo.NB201Ops, ", "))
	}
	return i, nil
}

// Sample implements Space.
func (s NB201Space) Sample(rng *rand.Rand) string {
	c := make([]int, 6)
	for i := range c {
		c[i] = rng.IntN(len(zoo.NB201Ops))
	}
	return s.FromChoices(c)
}

// Neighbours implements Space: the 24 architectures that differ in one edge.
func (s NB201Space) Neighbours(arch string) []string {
	c, err := s.ToChoices(arch)
	if err != nil {
		return nil
	}
	out := make([]string, 0, 6*(len(zoo.NB201Ops)-1))
	for e := range c {
		orig := c[e]
		for op := range zoo.NB201Ops {
			if op != orig {
				c[e] = op
				out = append(out, s.FromChoices(c))
			}
		}
		c[e] = orig
	}
	return out
}

// Encode implements Space: the one-hot ops of the 6 edges (30 numbers).
func (s NB201Space) Encode(arch string) []float64 {
	c, err := s.ToChoices(arch)
	if err != nil {
		return nil
	}
	x := make([]float64, 6*len(zoo.NB201Ops))
	for e, op := range c {
		x[e*len(zoo.NB201Ops)+op] = 1
	}
	return x
}

// Key implements Space: the benchmark index, as `zerocost rank` writes it
// in results files ("" for a string that is not an architecture).
func (s NB201Space) Key(arch string) string {
	i, err := NB201Index(arch)
	if err != nil {
		return ""
	}
	return strconv.Itoa(i)
}

// Build implements Space.
func (s NB201Space) Build(arch string) (*ox.Model, error) {
	i, err := NB201Index(arch)
	if err != nil {
		return nil, err
	}
	src := zoo.NB201Source{Variant: "nb201", Classes: 10, Seed: 1}
	if s.Classes > 0 {
		src.Classes = s.Classes
	}
	return src.Build(zoo.NB201Pick{Index: i, Arch: arch})
}

// All implements Enumerable: the benchmark's architectures in index order.
func (s NB201Space) All() []string {
	archs, err := zoo.NB201Archs()
	if err != nil {
		return nil
	}
	return archs
}

// Choices implements Categorical.
func (s NB201Space) Choices() []int {
	return []int{5, 5, 5, 5, 5, 5}
}

// FromChoices implements Categorical.
func (s NB201Space) FromChoices(c []int) string {
	var b strings.Builder
	k := 0
	for node := 1; node <= 3; node++ {
		if node > 1 {
			b.WriteByte('+')
		}
		b.WriteByte('|')
		for from := 0; from < node; from++ {
			b.WriteString(zoo.NB201Ops[c[k]])
			b.WriteByte('~')
			b.WriteByte(byte('0' + from))
			b.WriteByte('|')
			k++
		}
	}
	return b.String()
}

// ToChoices implements Categorical.
func (s NB201Space) ToChoices(arch string) ([]int, error) {
	if t, err := nb201Tab(); err == nil {
		if i, ok := t.index[arch]; ok {
			return slices.Clone(t.choices[i]), nil
		}
	}
	return parseChoices(arch)
}

func parseChoices(arch string) ([]int, error) {
	nodes, err := zoo.ParseNB201(arch)
	if err != nil {
		return nil, err
	}
	var c []int
	for _, edges := range nodes {
		for _, e := range edges {
			for k, op := range zoo.NB201Ops {
				if op == e.Op {
					c = append(c, k)
				}
			}
		}
	}
	return c, nil
}

// CollectionSpace is a user's finite collection of models (files, or any
// names its Builder understands): no mutations, and no encoding, so the
// algorithms that apply are RandomSearch (with a warm-up of the whole
// collection: training in proxy order) and Predictor over proxy scores.
type CollectionSpace struct {
	Archs []string // paths
	Names []string // keys in results files (default: the paths)
	// Builder builds a model (default: onnximport.Load of the path).
	Builder func(arch string) (*ox.Model, error)
}

// Sample implements Space.
func (s *CollectionSpace) Sample(rng *rand.Rand) string { return s.Archs[rng.IntN(len(s.Archs))] }

// Neighbours implements Space: a collection has none.
func (s *CollectionSpace) Neighbours(string) []string { return nil }

// Encode implements Space: a collection has none.
func (s *CollectionSpace) Encode(string) []float64 { return nil }

// Key implements Space.
func (s *CollectionSpace) Key(arch string) string {
	for i, a := range s.Archs {
		if a == arch && i < len(s.Names) {
			return s.Names[i]
		}
	}
	return arch
}

// Build implements Space.
func (s *CollectionSpace) Build(arch string) (*ox.Model, error) {
	if s.Builder != nil {
		return s.Builder(arch)
	}
	return ox.Load(arch)
}

// All implements Enumerable.
func (s *CollectionSpace) All() []string { return s.Archs }
