package search

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/zerocost/zerocost/ranking"
)

// Reinforce is REINFORCE over the choices of a Categorical space, as the
// NAS-Bench-201 baseline: a policy of independent softmaxes (one per cell
// edge), the reward the validation accuracy (a fraction), an
// exponential-moving-average baseline, Adam.
//
// With Warmup N, the policy is first trained on proxy rewards for N
// samples, in batches of WarmupBatch whose rewards are the samples' ranks
// by the proxy within the batch (centred, in [-0.5, 0.5]). With Move k,
// each step samples k candidates from the policy and trains the best by
// the proxy.
type Reinforce struct {
	LR          float64 // default 0.01
	Momentum    float64 // of the baseline; default 0.9
	Warmup      int
	WarmupBatch int // default 16
	Move        int // candidates per step (0 or 1: none)
}

// Name implements Algorithm.
func (a *Reinforce) Name() string {
	move := a.Move
	if move == 1 {
		move = 0
	}
	return variantName("reinforce", a.Warmup, move)
}

// policy is one softmax per decision with its Adam state.
type policy struct {
	logits [][]float64
	adam   *adam
}

func newPolicy(choices []int, lr float64) *policy {
	p := &policy{}
	n := 0
	for _, c := range choices {
		p.logits = append(p.logits, make([]float64, c))
		n += c
	}
	p.adam = newAdam(n, lr)
	return p
}

func (p *policy) probs(d int) []float64 {
	l := p.logits[d]
	m := math.Inf(-1)
	for _, v := range l {
		m = max(m, v)
	}
	out := make([]float64, len(l))
	s := 0.0
	for i, v := range l {
		out[i] = math.Exp(v - m)
		s += out[i]
	}
	for i := range out {
		out[i] /= s
	}
	return out
}

func (p *policy) sample(rng *rand.Rand) []int {
	c := make([]int, len(p.logits))
	for d := range p.logits {
		u, acc := rng.Float64(), 0.0
		pr := p.probs(d)
		c[d] = len(pr) - 1
		for k, q := range pr {
			if acc += q; u < acc {
				c[d] = k
				break
			}
		}
	}
	return c
}

// step does one gradient ascent step on Σ adv_i log π(c_i) / n.
func (p *policy) step(samples [][]int, adv []float64) {
	var grad []float64
	for d := range p.logits {
		pr := p.probs(d)
		g := make([]float64, len(pr))
		for i, c := range samples {
			for k := range g {
				ind := 0.0
				if c[d] == k {
					ind = 1
				}
				// Ascent on the objective: Adam minimises, so negate.
				g[k] -= adv[i] * (ind - pr[k]) / float64(len(samples))
			}
		}
		grad = append(grad, g...)
	}
	k := 0
	upd := p.adam.update(grad)
	for d := range p.logits {
		for j := range p.logits[d] {
			p.logits[d][j] -= upd[k]
			k++
		}
	}
}

// Search implements Algorithm.
func (a *Reinforce) Search(ctx context.Context, env *Env) error {
	cat, ok := env.Space.(Categorical)
	if !ok {
		return fmt.Errorf("search: REINFORCE needs a space of independent choices (search.Categorical), which %T is not", env.Space)
	}
	lr, mom, wb := a.LR, a.Momentum, a.WarmupBatch
	if lr <= 0 {
		lr = 0.01
	}
	if mom <= 0 {
		mom = 0.9
	}
	if wb <= 0 {
		wb = 16
	}
	pol := newPolicy(cat.Choices(), lr)
	for done := 0; done < a.Warmup; done += wb {
		n := min(wb, a.Warmup-done)
		samples := make([][]int, n)
		archs := make([]string, n)
		for i := range samples {
			samples[i] = pol.sample(env.Rng)
			archs[i] = cat.FromChoices(samples[i])
		}
		vals, err := env.Score(ctx, archs)
		if err != nil {
			return err
		}
		adv := ranking.Ranks(vals)
		for i := range adv {
			if n > 1 {
				adv[i] = (adv[i]-1)/float64(n-1) - 0.5
			} else {
				adv[i] = 0
			}
		}
		pol.step(samples, adv)
	}
	if a.Warmup > 0 {
		pol.adam = newAdam(len(pol.adam.m), lr) // a fresh optimiser for the real rewards
	}
	baseline, first := 0.0, true
	for {
		c := pol.sample(env.Rng)
		arch := cat.FromChoices(c)
		if a.Move > 1 {
			cs := [][]int{c}
			archs := []string{arch}
			for len(cs) < a.Move {
				s := pol.sample(env.Rng)
				cs, archs = append(cs, s), append(archs, cat.FromChoices(s))
			}
			vals, err := env.Score(ctx, archs)
			if err != nil {
				return err
			}
			best := 0
			for i := range vals {
				if vals[i] > vals[best] {
					best = i
				}
			}
			c, arch = cs[best], archs[best]
		}
		t, err := env.Train(ctx, arch)
		if err != nil {
			return err
		}
		r := t.Valid / 100
		if first {
			baseline, first = r, false
		}
		pol.step([][]int{c}, []float64{r - baseline})
		baseline = mom*baseline + (1-mom)*r
	}
}

// adam is the Adam optimiser (Kingma & Ba) over a flat parameter vector:
// update returns the step to subtract.
type adam struct {
	lr, b1, b2, eps float64
	m, v            []float64
	t               int
}

func newAdam(n int, lr float64) *adam {
	return &adam{lr: lr, b1: 0.9, b2: 0.999, eps: 1e-8, m: make([]float64, n), v: make([]float64, n)}
}

func (o *adam) update(g []float64) []float64 {
	o.t++
	c1 := 1 - math.Pow(o.b1, float64(o.t))
	c2 := 1 - math.Pow(o.b2, float64(o.t))
	out := make([]float64, len(g))
	for i, gi := range g {
		o.m[i] = o.b1*o.m[i] + (1-o.b1)*gi
		o.v[i] = o.b2*o.v[i] + (1-o.b2)*gi*gi
		out[i] = o.lr * (o.m[i] / c1) / (math.Sqrt(o.v[i]/c2) + o.eps)
	}
	return out
}
