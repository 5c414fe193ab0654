package search

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	goruntime "runtime"
	"slices"
	"sort"
	"sync"
	"time"
)

// ErrBudget is returned by Env.Train once the budget is spent: an
// algorithm stops when it sees it (Run treats it as the normal end).
var ErrBudget = errors.New("search: the budget of trained models is spent")

// Options configure one search.
type Options struct {
	Budget int    // trained models (oracle queries); default 300
	Seed   uint64 // of the search and of the oracle's noise
	// Dedup makes a query of an architecture already trained in this
	// search free (its first result is returned); otherwise every query
	// costs one trained model and draws a new result.
	Dedup bool
}

// Algorithm is a search algorithm. Search proposes candidates through env
// until env.Train returns ErrBudget. An Algorithm value holds settings
// only, so one value can run many searches at once.
type Algorithm interface {
	Name() string
	Search(ctx context.Context, env *Env) error
}

// Step is one trained model of a search.
type Step struct {
	Arch    string
	Trained Trained
}

// Env is what an algorithm sees of one search: the space, the oracle
// (Train, which enforces the budget) and the scorer (Score, free of
// budget). It keeps the protocol: the architecture best by validation so
// far, and its test accuracy after every trained model.
type Env struct {
	Space  Space
	Rng    *rand.Rand // the algorithm's random numbers
	oracle Oracle
	scorer Scorer
	noise  *rand.Rand // the oracle's
	opts   Options

	history    []Step
	seen       map[string]Trained
	bestValid  float64
	bestTest   float64
	best       string
	curveTest  []float64
	curveValid []float64
	free       int // consecutive free (deduplicated) queries
	evals      int
	scoreTime  time.Duration
}

// Train trains arch through the oracle and counts it against the budget
// (a repeat query is free with Options.Dedup). It returns ErrBudget once
// the budget is spent.
func (e *Env) Train(ctx context.Context, arch string) (Trained, error) {
	if len(e.history) >= e.opts.Budget {
		return Trained{}, ErrBudget
	}
	if t, ok := e.seen[arch]; ok && e.opts.Dedup {
		e.free++
		if e.free > 100*e.opts.Budget+1000 {
			return Trained{}, fmt.Errorf("search: the algorithm proposed %d architectures in a row that were already trained (is the space smaller than the budget? it is exhausted after %d distinct ones)", e.free, len(e.seen))
		}
		return t, nil
	}
	e.free = 0
	t, err := e.oracle.Train(ctx, arch, e.noise)
	if err != nil {
		return Trained{}, err
	}
	if _, ok := e.seen[arch]; !ok {
		e.seen[arch] = t
	}
	e.history = append(e.history, Step{Arch: arch, Trained: t})
	if len(e.history) == 1 || t.Valid > e.bestValid {
		e.bestValid, e.bestTest, e.best = t.Valid, t.Test, arch
	}
	e.curveTest = append(e.curveTest, e.bestTest)
	e.curveValid = append(e.curveValid, e.bestValid)
	return t, nil
}

// Done reports whether the budget is spent.
func (e *Env) Done() bool { return len(e.history) >= e.opts.Budget }

// Trained returns how many models have been trained.
func (e *Env) Trained() int { return len(e.history) }

// Seen reports whether arch has been trained in this search.
func (e *Env) Seen(arch string) bool { _, ok := e.seen[arch]; return ok }

// Score scores archs with the scorer (no budget; the count and wall time
// are reported).
func (e *Env) Score(ctx context.Context, archs []string) ([]float64, error) {
	if e.scorer == nil {
		return nil, fmt.Errorf("search: this variant needs a proxy, and the search has no scorer")
	}
	start := time.Now()
	v, err := e.scorer.Score(ctx, archs)
	e.scoreTime += time.Since(start)
	e.evals += len(archs)
	if err == nil && len(v) != len(archs) {
		err = fmt.Errorf("search: the scorer %s returned %d values for %d architectures", e.scorer.Name(), len(v), len(archs))
	}
	return v, err
}

// Result is one finished search.
type Result struct {
	Best      string  // the architecture best by validation
	BestValid float64 // its validation accuracy (as the oracle returned it)
	BestTest  float64 // its test accuracy: the figure to report
	// CurveTest[t] is the test accuracy of the architecture best by
	// validation after t+1 trained models; CurveValid its validation.
	CurveTest, CurveValid []float64
	History               []Step
	ProxyEvaluations      int           // candidates scored (cache hits included)
	ProxyTime             time.Duration // wall time spent in the scorer
}

// Run runs one search with alg. scorer may be nil for variants that use
// no proxy.
func Run(ctx context.Context, alg Algorithm, space Space, oracle Oracle, scorer Scorer, opts Options) (*Result, error) {
	if opts.Budget <= 0 {
		opts.Budget = 300
	}
	env := &Env{
		Space:  space,
		Rng:    rand.New(rand.NewPCG(opts.Seed, 0x73656172636801)),
		oracle: oracle,
		scorer: scorer,
		noise:  rand.New(rand.NewPCG(opts.Seed, 0x6e6f69736502)),
		opts:   opts,
		seen:   map[string]Trained{},
	}
	err := alg.Search(ctx, env)
	if err != nil && !errors.Is(err, ErrBudget) {
		return nil, fmt.Errorf("search: %s: %w", alg.Name(), err)
	}
	if len(env.history) == 0 {
		return nil, fmt.Errorf("search: %s trained nothing", alg.Name())
	}
	return &Result{
		Best: env.best, BestValid: env.bestValid, BestTest: env.bestTest,
		CurveTest: env.curveTest, CurveValid: env.curveValid, History: env.history,
		ProxyEvaluations: env.evals, ProxyTime: env.scoreTime,
	}, nil
}

// Curve is the summary of repeated searches: per number of trained models
// (Trained[t] = t+1), the mean and the 25% and 75% quantiles over the
// repeats of the test accuracy of the architecture best by validation.
type Curve struct {
	Trained        []int
	Mean, Q25, Q75 []float64
	// Valid is the mean of the best validation accuracy.
	Valid            []float64
	Repeats          int
	ProxyEvaluations float64       // mean per repeat
	ProxyTime        time.Duration // total over the repeats
	Wall             time.Duration // of all repeats
	Results          []*Result
}

// RepeatOptions configure Repeat.
type RepeatOptions struct {
	Options
	Repeats int // default 100; repeat r runs with seed Seed+r
	Workers int // parallel searches (default: the number of cores)
}

// Repeat runs seeded repeats of a search in parallel and summarises them.
// A search that ends before the budget (an exhausted space) holds its last
// value to the end of the curve.
func Repeat(ctx context.Context, alg Algorithm, space Space, oracle Oracle, scorer Scorer, opts RepeatOptions) (*Curve, error) {
	if opts.Repeats <= 0 {
		opts.Repeats = 100
	}
	if opts.Budget <= 0 {
		opts.Budget = 300
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = goruntime.NumCPU()
	}
	start := time.Now()
	results := make([]*Result, opts.Repeats)
	errs := make([]error, opts.Repeats)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(workers, opts.Repeats); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range jobs {
				o := opts.Options
				o.Seed += uint64(r)
				results[r], errs[r] = Run(ctx, alg, space, oracle, scorer, o)
			}
		}()
	}
	for r := 0; r < opts.Repeats; r++ {
		jobs <- r
	}
	close(jobs)
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("repeat %d (seed %d): %w", r, opts.Seed+uint64(r), err)
		}
	}
	c := Summarise(results, opts.Budget)
	c.Wall = time.Since(start)
	return c, nil
}

// Summarise builds the curve of finished searches over budget trained models.
func Summarise(results []*Result, budget int) *Curve {
	c := &Curve{Repeats: len(results), Results: results}
	col := make([]float64, len(results))
	for t := 0; t < budget; t++ {
		valid := 0.0
		for r, res := range results {
			k := min(t, len(res.CurveTest)-1)
			col[r] = res.CurveTest[k]
			valid += res.CurveValid[k]
		}
		sorted := slices.Clone(col)
		sort.Float64s(sorted)
		c.Trained = append(c.Trained, t+1)
		c.Mean = append(c.Mean, mean(col))
		c.Q25 = append(c.Q25, quantile(sorted, 0.25))
		c.Q75 = append(c.Q75, quantile(sorted, 0.75))
		c.Valid = append(c.Valid, valid/float64(len(results)))
	}
	for _, res := range results {
		c.ProxyEvaluations += float64(res.ProxyEvaluations) / float64(len(results))
		c.ProxyTime += res.ProxyTime
	}
	return c
}

// At returns the curve's mean after n trained models (NaN beyond it).
func (c *Curve) At(n int) float64 {
	if n < 1 || n > len(c.Mean) {
		return math.NaN()
	}
	return c.Mean[n-1]
}

// Reach returns the first number of trained models at which the mean
// reaches target, or 0 when it never does.
func (c *Curve) Reach(target float64) int {
	for i, m := range c.Mean {
		if m >= target {
			return c.Trained[i]
		}
	}
	return 0
}

func mean(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

// quantile interpolates linearly between the order statistics of sorted
// (as numpy's default).
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 1 {
		return sorted[0]
	}
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(sorted)-1)
	return sorted[lo] + (pos-float64(lo))*(sorted[hi]-sorted[lo])
}
