package search

import (
	"context"
	"fmt"
)

// Evolution is aging evolution (regularized evolution, Real et al. 2019):
// a pool of the last Pool trained models; each cycle, the best by
// validation of Tournament random members is mutated, the child trained
// and added, and the oldest member removed.
//
// With Warmup N, the initial pool is the top Pool of N proxy-scored
// random candidates, trained in proxy order. With Move, the child is the
// neighbour of the parent best by the proxy among those not yet trained
// in this search (all of them, when every one is), and a uniformly random
// neighbour with probability RandomMove.
type Evolution struct {
	Pool       int     // default 64
	Tournament int     // default 10
	Warmup     int     // 0: a random initial pool
	Move       bool    // proxy move proposal
	RandomMove float64 // with Move; default 0.25, negative: never random
}

// Name implements Algorithm.
func (a *Evolution) Name() string { return variantName("rea", a.Warmup, btoi(a.Move)) }

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Search implements Algorithm.
func (a *Evolution) Search(ctx context.Context, env *Env) error {
	pool, tour, randomMove := a.Pool, a.Tournament, a.RandomMove
	if pool <= 0 {
		pool = 64
	}
	if tour <= 0 {
		tour = 10
	}
	if randomMove == 0 {
		randomMove = 0.25
	}
	tour = min(tour, pool)
	var init []string
	if a.Warmup > 0 {
		order, _, err := proxyOrder(ctx, env, a.Warmup)
		if err != nil {
			return err
		}
		init = order[:min(pool, len(order))]
	} else {
		init = candidates(env, pool)
	}
	type member struct {
		arch  string
		valid float64
	}
	var population []member
	for _, arch := range init {
		t, err := env.Train(ctx, arch)
		if err != nil {
			return err
		}
		population = append(population, member{arch, t.Valid})
	}
	for {
		best := -1
		for _, k := range env.Rng.Perm(len(population))[:min(tour, len(population))] {
			if best < 0 || population[k].valid > population[best].valid {
				best = k
			}
		}
		parent := population[best].arch
		nb := env.Space.Neighbours(parent)
		if len(nb) == 0 {
			return fmt.Errorf("search: aging evolution needs mutations, and the space gives %s no neighbours", parent)
		}
		child := nb[env.Rng.IntN(len(nb))]
		if a.Move && env.Rng.Float64() >= randomMove {
			vals, err := env.Score(ctx, nb)
			if err != nil {
				return err
			}
			child = bestUntrained(env, nb, vals)
		}
		t, err := env.Train(ctx, child)
		if err != nil {
			return err
		}
		population = append(population[1:], member{child, t.Valid})
	}
}

// bestUntrained returns the candidate best by value among those not yet
// trained in this search, or the best of all when every one is.
func bestUntrained(env *Env, cand []string, vals []float64) string {
	best, bestAny := -1, 0
	for i := range cand {
		if vals[i] > vals[bestAny] {
			bestAny = i
		}
		if !env.Seen(cand[i]) && (best < 0 || vals[i] > vals[best]) {
			best = i
		}
	}
	if best < 0 {
		return cand[bestAny]
	}
	return cand[best]
}
