package search

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/proxies"
	"github.com/zerocost/zerocost/ranking"
)

// Scorer scores candidates with a proxy or an ensemble of proxies: one
// value per architecture, higher is better. Values are compared only
// within one call (an ensemble's are mean ranks within the call).
type Scorer interface {
	Name() string
	Score(ctx context.Context, archs []string) ([]float64, error)
}

// combine turns per-proxy values (one row per architecture) into one value
// each: the value itself for one proxy, the mean rank over the proxies
// within the call for several (the vote of the paper's ensembles). A
// missing value (NaN) ranks last.
func combine(rows [][]float64, nProxies int) []float64 {
	out := make([]float64, len(rows))
	if nProxies == 1 {
		for i, r := range rows {
			out[i] = r[0]
			if math.IsNaN(out[i]) {
				out[i] = math.Inf(-1)
			}
		}
		return out
	}
	col := make([]float64, len(rows))
	for p := 0; p < nProxies; p++ {
		for i, r := range rows {
			col[i] = r[p]
			if math.IsNaN(col[i]) {
				col[i] = math.Inf(-1)
			}
		}
		for i, rk := range ranking.Ranks(col) {
			out[i] += rk / float64(nProxies)
		}
	}
	return out
}

// TableScorer reads proxy values from a results file written by `zerocost
// rank --results` (or any records): an architecture is found by its
// space key, then by its path. Reading costs nothing; an architecture that
// is not in the table is an error.
type TableScorer struct {
	Proxies []string
	space   Space
	byKey   map[string][]float64
}

// NewTableScorer indexes records for the proxies (one proxy, or several
// for their vote). A record that failed or lacks one of the proxies
// still counts, its missing values ranking last.
func NewTableScorer(space Space, records []ranking.Record, proxyNames []string) (*TableScorer, error) {
	if len(proxyNames) == 0 {
		return nil, fmt.Errorf("search: a table scorer needs at least one proxy")
	}
	s := &TableScorer{Proxies: proxyNames, space: space, byKey: map[string][]float64{}}
	found := make([]int, len(proxyNames))
	for _, r := range records {
		vals := make([]float64, len(proxyNames))
		for i, p := range proxyNames {
			vals[i] = ranking.Value(r, p)
			if !math.IsNaN(vals[i]) {
				found[i]++
			}
		}
		for _, k := range []string{r.Key, r.Path, r.Name} {
			if k != "" {
				s.byKey[k] = vals
			}
		}
	}
	for i, p := range proxyNames {
		if found[i] == 0 && len(records) > 0 {
			return nil, fmt.Errorf("search: no record of the results has proxy %q (score it with zerocost rank --proxies %s)", p, p)
		}
	}
	return s, nil
}

// LoadTableScorer reads a results file (see NewTableScorer).
func LoadTableScorer(space Space, path string, proxyNames []string) (*TableScorer, error) {
	recs, err := ranking.ReadResults(path)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("search: the results file %s is missing or empty (write it with zerocost rank --results)", path)
	}
	s, err := NewTableScorer(space, recs, proxyNames)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return s, nil
}

// Name implements Scorer.
func (s *TableScorer) Name() string { return strings.Join(s.Proxies, "+") }

// Score implements Scorer.
func (s *TableScorer) Score(_ context.Context, archs []string) ([]float64, error) {
	rows := make([][]float64, len(archs))
	for i, a := range archs {
		v, ok := s.byKey[s.space.Key(a)]
		if !ok {
			if v, ok = s.byKey[a]; !ok {
				return nil, fmt.Errorf("search: %s (key %q) is not in the results table; score it with zerocost rank", a, s.space.Key(a))
			}
		}
		rows[i] = v
	}
	return combine(rows, len(s.Proxies)), nil
}

// EngineScorer computes proxies with the engine (proxies.Score through
// ranking.Run) on networks the space builds, each architecture once per
// scorer: the values are kept for every later call, from any goroutine,
// so repeats of a search share them. ONNX Runtime must be initialised
// (runtime.Init) first.
type EngineScorer struct {
	Space   Space
	Proxies []string
	// Data builds the batch (default: the natural input size of the
	// networks, batch of 64 random samples; synflow uses its own sample).
	Data    data.DataSpec
	Options proxies.Options // BN, Session, Head, Output

	mu      sync.Mutex
	cache   map[string]*scored
	evals   atomic.Int64
	nanos   atomic.Int64
	Workers int // parallel networks per call (default 1)
}

type scored struct {
	done chan struct{}
	vals []float64
	err  error
}

// Evaluations returns how many networks the scorer has computed (cache
// hits excluded) and the wall time it spent.
func (s *EngineScorer) Evaluations() (int, time.Duration) {
	return int(s.evals.Load()), time.Duration(s.nanos.Load())
}

// Name implements Scorer.
func (s *EngineScorer) Name() string { return strings.Join(s.Proxies, "+") }

// Score implements Scorer. A network that fails to score gets no value
// (it ranks last); the error is returned only when no candidate scores.
func (s *EngineScorer) Score(ctx context.Context, archs []string) ([]float64, error) {
	if len(s.Proxies) == 0 {
		return nil, fmt.Errorf("search: the engine scorer has no proxies")
	}
	s.mu.Lock()
	if s.cache == nil {
		s.cache = map[string]*scored{}
	}
	var mine []string
	entries := make([]*scored, len(archs))
	for i, a := range archs {
		k := s.Space.Key(a) + "\x00" + a
		e, ok := s.cache[k]
		if !ok {
			e = &scored{done: make(chan struct{})}
			s.cache[k] = e
			mine = append(mine, a)
		}
		entries[i] = e
	}
	s.mu.Unlock()
	if len(mine) > 0 {
		s.compute(ctx, mine, func(a string) *scored {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.cache[s.Space.Key(a)+"\x00"+a]
		})
	}
	rows := make([][]float64, len(archs))
	var firstErr error
	ok := 0
	for i, e := range entries {
		select {
		case <-e.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		rows[i] = e.vals
		if e.err != nil && firstErr == nil {
			firstErr = e.err
		}
		if e.err == nil {
			ok++
		}
	}
	if ok == 0 && firstErr != nil {
		return nil, firstErr
	}
	return combine(rows, len(s.Proxies)), nil
}

// compute scores archs and fills (and closes) their cache entries.
func (s *EngineScorer) compute(ctx context.Context, archs []string, entry func(string) *scored) {
	start := time.Now()
	entries := make([]ranking.Entry, len(archs))
	for i, a := range archs {
		entries[i] = ranking.Entry{Path: a, Name: s.Space.Key(a), Model: func() (*onnximport.Model, error) { return s.Space.Build(a) }}
	}
	opts := ranking.Options{Proxies: s.Proxies, Data: s.Data, Score: s.Options, Workers: max(1, s.Workers)}
	recs, err := ranking.Run(ctx, entries, opts)
	s.nanos.Add(int64(time.Since(start)))
	for i, a := range archs {
		e := entry(a)
		e.vals = make([]float64, len(s.Proxies))
		switch {
		case err != nil:
			e.err = err
		case recs[i].Error != "":
			e.err = fmt.Errorf("search: scoring %s: %s", a, recs[i].Error)
		default:
			s.evals.Add(1)
		}
		for p, name := range s.Proxies {
			e.vals[p] = math.NaN()
			if e.err == nil {
				e.vals[p] = ranking.Value(recs[i], name)
			}
		}
		close(e.done)
	}
}
