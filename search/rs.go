package search

import (
	"context"
	"fmt"
	"sort"
)

// RandomSearch trains random architectures. With Warmup N, it first scores
// N distinct random candidates with the proxy and trains them in proxy
// order (best first), then goes on at random.
type RandomSearch struct {
	Warmup int
}

// Name implements Algorithm.
func (a *RandomSearch) Name() string { return variantName("rs", a.Warmup, 0) }

// Search implements Algorithm.
func (a *RandomSearch) Search(ctx context.Context, env *Env) error {
	if a.Warmup > 0 {
		order, _, err := proxyOrder(ctx, env, a.Warmup)
		if err != nil {
			return err
		}
		for _, arch := range order {
			if _, err := env.Train(ctx, arch); err != nil {
				return err
			}
		}
	}
	for {
		if _, err := env.Train(ctx, env.Space.Sample(env.Rng)); err != nil {
			return err
		}
	}
}

// candidates returns n distinct random architectures: a random subset of
// an enumerable space (all of it when n reaches its size), otherwise
// distinct samples (fewer when the space runs out).
func candidates(env *Env, n int) []string {
	if en, ok := env.Space.(Enumerable); ok {
		all := en.All()
		if n >= len(all) {
			out := append([]string(nil), all...)
			env.Rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
			return out
		}
		perm := env.Rng.Perm(len(all))[:n]
		out := make([]string, n)
		for i, p := range perm {
			out[i] = all[p]
		}
		return out
	}
	seen := map[string]bool{}
	var out []string
	for tries := 0; len(out) < n && tries < 20*n; tries++ {
		a := env.Space.Sample(env.Rng)
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// proxyOrder scores n random candidates and returns them best first by
// the proxy, with their values in the same order.
func proxyOrder(ctx context.Context, env *Env, n int) ([]string, []float64, error) {
	cand := candidates(env, n)
	vals, err := env.Score(ctx, cand)
	if err != nil {
		return nil, nil, err
	}
	idx := make([]int, len(cand))
	for i := range idx {
		idx[i] = i
	}
	// Stable on the random order: ties keep a random order.
	sort.SliceStable(idx, func(x, y int) bool { return vals[idx[x]] > vals[idx[y]] })
	order, ov := make([]string, len(cand)), make([]float64, len(cand))
	for i, k := range idx {
		order[i], ov[i] = cand[k], vals[k]
	}
	return order, ov, nil
}

// variantName names a variant as the CLI's tables do: "rea", "rea+warmup3000",
// "rea+move", "reinforce+move100".
func variantName(algo string, warmup, move int) string {
	s := algo
	if warmup > 0 {
		s += fmt.Sprintf("+warmup%d", warmup)
	}
	switch {
	case move == 1:
		s += "+move"
	case move > 1:
		s += fmt.Sprintf("+move%d", move)
	}
	return s
}
