package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/zerocost/zerocost/proxies"
	"github.com/zerocost/zerocost/ranking"
)

// ensembleList is the repeatable --ensemble flag of rank and eval.
type ensembleList []string

func (l *ensembleList) String() string { return strings.Join(*l, " ") }

func (l *ensembleList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

const ensembleHelp = "an ensemble column over the whole collection, computed when the results are reported (repeatable): " +
	"NAME=METHOD:PROXY,PROXY,… with METHOD vote (the paper's majority vote: share of the other models beaten), " +
	"meanrank (mean rank/N) or logrank (AZ-NAS's Σ log(rank/N)), -PROXY where lower is better; " +
	"or a built-in name (paper_vote, te_nas, az_nas, vkdnw_agg, zc_sota, zc_free, zc_data), builtin for every built-in whose proxies are present, none for none"

// resolve turns the flag's values into ensembles over the columns present
// (proxy names); "builtin" adds every built-in ensemble whose components
// are all present, and an empty list means def ("builtin" or "none").
func (l ensembleList) resolve(present []string, def string) ([]ranking.Ensemble, error) {
	specs := []string(l)
	if len(specs) == 0 {
		specs = []string{def}
	}
	var out []ranking.Ensemble
	seen := map[string]bool{}
	add := func(e ranking.Ensemble) error {
		if seen[e.Name] {
			return usagef("--ensemble: %q is given twice", e.Name)
		}
		if slices.Contains(present, e.Name) {
			return usagef("--ensemble: %q is the name of a proxy column; choose another name", e.Name)
		}
		if _, ok := proxies.Lookup(e.Name); ok {
			return usagef("--ensemble: %q is the name of a proxy; choose another name", e.Name)
		}
		seen[e.Name] = true
		out = append(out, e)
		return nil
	}
	for _, s := range specs {
		switch strings.TrimSpace(s) {
		case "none":
			continue
		case "builtin":
			for _, e := range ranking.Builtin {
				if !seen[e.Name] && allPresent(e, present) {
					if err := add(e); err != nil {
						return nil, err
					}
				}
			}
			continue
		}
		e, err := ranking.ParseEnsemble(s)
		if err != nil {
			return nil, usagef("--ensemble: %v", strings.TrimPrefix(err.Error(), "ranking: "))
		}
		for _, p := range e.Proxies() {
			if !slices.Contains(present, p) {
				return nil, usagef("--ensemble %s: no proxy column %q (columns: %s); score it with --proxies or name another", e.Name, p, strings.Join(present, ", "))
			}
		}
		if err := add(e); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func allPresent(e ranking.Ensemble, present []string) bool {
	for _, p := range e.Proxies() {
		if !slices.Contains(present, p) {
			return false
		}
	}
	return true
}

func ensembleNames(es []ranking.Ensemble) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Name
	}
	return out
}

// columnsOf lists the proxy columns the records hold: the registry's in
// its order, then any others (proxies of a newer zerocost, or another
// registry) by name.
func columnsOf(records []ranking.Record) []string {
	have := map[string]bool{}
	for _, r := range records {
		for p := range r.Proxies {
			have[p] = true
		}
	}
	var out []string
	for _, p := range proxies.Names() {
		if have[p] {
			out = append(out, p)
			delete(have, p)
		}
	}
	return append(out, slices.Sorted(maps.Keys(have))...)
}

// learnedReport is the learned ensemble's evaluation, reported apart from
// the zero-training rankings.
type learnedReport struct {
	K       int                `json:"k"`
	Fit     string             `json:"fit"` // the truth column fitted on
	Seed    uint64             `json:"seed"`
	Proxies []string           `json:"proxies"`
	Weights map[string]float64 `json:"weights"`
	Stats   ranking.Stats      `json:"held_out"`
}

// learned fits the learned ensemble of --learned K on the records' proxy
// columns (or --learned-proxies) against fit (the --learned-fit column)
// and evaluates it against truth on the other models.
func (f *evalFlags) learned(records []ranking.Record, fit, truth map[string]float64, columns []string) (*learnedReport, error) {
	if f.learnedK <= 0 {
		return nil, nil
	}
	names := columns
	if f.learnedProxies != "" {
		names = nil
		for _, p := range strings.Split(f.learnedProxies, ",") {
			p = strings.TrimSpace(p)
			if !slices.Contains(columns, p) {
				return nil, usagef("--learned-proxies: no proxy column %q (columns: %s)", p, strings.Join(columns, ", "))
			}
			names = append(names, p)
		}
	}
	l, err := ranking.FitLearned(records, fit, ranking.LearnedOptions{Proxies: names, K: f.learnedK, Seed: f.learnedSeed})
	if err != nil {
		return nil, fmt.Errorf("--learned: %w", err)
	}
	s, ok := l.EvaluateHeldOut(records, truth)
	if !ok {
		return nil, fmt.Errorf("--learned: fewer than two held-out models with a truth value")
	}
	rep := &learnedReport{K: f.learnedK, Fit: cmp.Or(f.learnedFit, f.col), Seed: f.learnedSeed, Proxies: names, Weights: map[string]float64{}, Stats: s}
	for i, p := range names {
		rep.Weights[p] = l.Weights[i]
	}
	return rep, nil
}

// writeEnsembleNotes prints, under the statistics table, the paper's own
// measure of each vote ensemble and the learned ensemble apart.
func writeEnsembleNotes(w io.Writer, records []ranking.Record, truth map[string]float64, es []ranking.Ensemble, rep *learnedReport) error {
	for _, e := range es {
		if e.Method != ranking.Vote {
			continue
		}
		if acc, n := ranking.VotePairAccuracy(records, truth, e); n >= 2 {
			fmt.Fprintf(w, "\n%s: the majority of %s orders %.3f of the pairs of %d models as the truth does (the paper's measure of its vote)\n",
				e.Name, strings.Join(e.Proxies(), ", "), acc, n)
		}
	}
	if rep == nil {
		return nil
	}
	fmt.Fprintf(w, "\nLearned ensemble (not zero-training): ridge regression on the log(rank/N) of %s, fitted on the %s of %d labelled models (seed %d), evaluated on the other %d\n",
		strings.Join(rep.Proxies, ", "), rep.Fit, rep.K, rep.Seed, rep.Stats.N)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PROXY\tN\tSPEARMAN\tKENDALL\tPEARSON\tTOP10_PRECISION\tPAIR_ACCURACY")
	s := rep.Stats
	fmt.Fprintf(tw, "learned\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\n", s.N, s.Spearman, s.Kendall, s.Pearson, s.Top10Precision, s.PairAccuracy)
	if err := tw.Flush(); err != nil {
		return err
	}
	parts := make([]string, len(rep.Proxies))
	for i, p := range rep.Proxies {
		parts[i] = fmt.Sprintf("%s %+.3f", p, rep.Weights[p])
	}
	fmt.Fprintf(w, "weights (per standard deviation of each proxy's log rank): %s\n", strings.Join(parts, ", "))
	return nil
}
