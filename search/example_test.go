package search_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/search"
)

// gridSpace is a user's own space: networks of 1–8 blocks of width 1–8
// ("d3w5"), a mutation changes one of the two by one.
type gridSpace struct{}

func (gridSpace) Sample(rng *rand.Rand) string {
	return fmt.Sprintf("d%dw%d", 1+rng.IntN(8), 1+rng.IntN(8))
}

func (gridSpace) Neighbours(a string) []string {
	d, w := parse(a)
	var out []string
	for _, n := range [][2]int{{d - 1, w}, {d + 1, w}, {d, w - 1}, {d, w + 1}} {
		if n[0] >= 1 && n[0] <= 8 && n[1] >= 1 && n[1] <= 8 {
			out = append(out, fmt.Sprintf("d%dw%d", n[0], n[1]))
		}
	}
	return out
}

func (gridSpace) Encode(a string) []float64 {
	d, w := parse(a)
	return []float64{float64(d), float64(w)}
}
func (gridSpace) Key(a string) string { return a }
func (gridSpace) Build(a string) (*onnximport.Model, error) {
	return nil, fmt.Errorf("this example scores without building networks")
}

func parse(a string) (d, w int) {
	fmt.Sscanf(a, "d%dw%d", &d, &w)
	return d, w
}

// trainer is the user's oracle: here a formula, in practice a training run
// (search.CommandOracle runs a command). The best is d6w7.
type trainer struct{}

func (trainer) Train(_ context.Context, a string, rng *rand.Rand) (search.Trained, error) {
	d, w := parse(a)
	acc := 90 - math.Abs(float64(d)-6)*2 - math.Abs(float64(w)-7)*1.5
	return search.Trained{Valid: acc + rng.NormFloat64()*0.1, Test: acc}, nil
}

// sizeProxy is the user's zero-cost proxy: bigger is better (in practice
// search.EngineScorer computes proxies from the built networks).
type sizeProxy struct{}

func (sizeProxy) Name() string { return "size" }
func (sizeProxy) Score(_ context.Context, archs []string) ([]float64, error) {
	out := make([]float64, len(archs))
	for i, a := range archs {
		d, w := parse(a)
		out[i] = float64(d * w)
	}
	return out, nil
}

// Search a custom space with aging evolution, with and without the
// zero-cost warm-up, 20 seeded repeats each.
func Example() {
	ctx := context.Background()
	for _, alg := range []search.Algorithm{
		&search.Evolution{Pool: 8, Tournament: 3},
		&search.Evolution{Pool: 8, Tournament: 3, Warmup: 16, Move: true},
	} {
		curve, err := search.Repeat(ctx, alg, gridSpace{}, trainer{}, sizeProxy{},
			search.RepeatOptions{Options: search.Options{Budget: 30, Seed: 1}, Repeats: 20})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%-18s test accuracy after 10 trained: %.2f, after 30: %.2f\n", alg.Name(), curve.At(10), curve.At(30))
	}
	// Output:
	// rea                test accuracy after 10 trained: 87.72, after 30: 89.75
	// rea+warmup16+move  test accuracy after 10 trained: 88.60, after 30: 90.00
}
