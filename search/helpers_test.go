package search

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"

	"gonum.org/v1/gonum/mat"

	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/zoo"
)

const nb201Dir = "../../shared/data/nb201"

// bitSpace is a synthetic space for tests: bit strings of length n,
// neighbours one flip away, encoded as the bits.
type bitSpace struct{ n int }

func (s bitSpace) Sample(rng *rand.Rand) string {
	b := make([]byte, s.n)
	for i := range b {
		b[i] = '0' + byte(rng.IntN(2))
	}
	return string(b)
}

func (s bitSpace) Neighbours(a string) []string {
	var out []string
	for i := range a {
		b := []byte(a)
		b[i] ^= 1
		out = append(out, string(b))
	}
	return out
}

func (s bitSpace) Encode(a string) []float64 {
	x := make([]float64, len(a))
	for i := range a {
		x[i] = float64(a[i] - '0')
	}
	return x
}

func (s bitSpace) Key(a string) string             { return a }
func (s bitSpace) Build(string) (*ox.Model, error) { return zoo.TinyCNN(1, 10), nil }
func (s bitSpace) Choices() []int {
	c := make([]int, s.n)
	for i := range c {
		c[i] = 2
	}
	return c
}
func (s bitSpace) FromChoices(c []int) string {
	b := make([]byte, len(c))
	for i, v := range c {
		b[i] = '0' + byte(v)
	}
	return string(b)
}
func (s bitSpace) ToChoices(a string) ([]int, error) {
	c := make([]int, len(a))
	for i := range a {
		c[i] = int(a[i] - '0')
	}
	return c, nil
}
func (s bitSpace) All() []string {
	var out []string
	for v := 0; v < 1<<s.n; v++ {
		out = append(out, fmt.Sprintf("%0*b", s.n, v))
	}
	return out
}

// weightedValue is the synthetic accuracy of a bit string: bit i weighs i+1.
func weightedValue(a string) float64 {
	v := 0.0
	for i := range a {
		if a[i] == '1' {
			v += float64(i + 1)
		}
	}
	return v
}

// countingOracle is a synthetic oracle: Valid from valid, Test from test;
// it counts its queries.
type countingOracle struct {
	valid, test func(string) float64
	mu          sync.Mutex
	queries     int
}

func (o *countingOracle) Train(_ context.Context, a string, _ *rand.Rand) (Trained, error) {
	o.mu.Lock()
	o.queries++
	o.mu.Unlock()
	return Trained{Valid: o.valid(a), Test: o.test(a)}, nil
}

// funcScorer is a test scorer: a function of the architecture, counting
// its calls.
type funcScorer struct {
	f     func(string) float64
	mu    sync.Mutex
	evals int
}

func (s *funcScorer) Name() string { return "test-scorer" }
func (s *funcScorer) Score(_ context.Context, archs []string) ([]float64, error) {
	s.mu.Lock()
	s.evals += len(archs)
	s.mu.Unlock()
	out := make([]float64, len(archs))
	for i, a := range archs {
		out[i] = s.f(a)
	}
	return out, nil
}

// epoch12Scorer is a test scorer on the real benchmark: the 12-epoch
// CIFAR-10 validation accuracy of nb201_epoch12.csv (the reduced-training
// baseline, cheap to read), standing in for a proxy.
func epoch12Scorer(t testing.TB) *funcScorer {
	t.Helper()
	tr, err := zoo.ReadTruth(nb201Dir+"/nb201_epoch12.csv", "index")
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]float64{}
	for _, r := range tr.Rows {
		vals[r.Fields["arch"]] = r.Numbers["cifar10_valid_hp12"]
	}
	if len(vals) != zoo.NB201Size {
		t.Fatalf("epoch12 table: want %d architectures, got %d", zoo.NB201Size, len(vals))
	}
	return &funcScorer{f: func(a string) float64 { return vals[a] }}
}

var oracleCache sync.Map

func nb201Oracle(t testing.TB, dataset string) *NB201Oracle {
	t.Helper()
	if o, ok := oracleCache.Load(dataset); ok {
		return o.(*NB201Oracle)
	}
	o, err := LoadNB201Oracle(nb201Dir, dataset, false)
	if err != nil {
		t.Fatal(err)
	}
	oracleCache.Store(dataset, o)
	return o
}

var _ = strconv.Itoa

func randDense(rng *rand.Rand, r, c int) *mat.Dense {
	d := mat.NewDense(r, c, nil)
	for i := range d.RawMatrix().Data {
		d.RawMatrix().Data[i] = rng.NormFloat64()
	}
	return d
}
