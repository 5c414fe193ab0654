package ranking_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zerocost/zerocost/ranking"
)

// records builds one record per row of values, named m0, m1, …, with the
// proxies of names; NaN leaves a proxy out of that record.
func records(names []string, rows ...[]float64) []ranking.Record {
	out := make([]ranking.Record, len(rows))
	for i, row := range rows {
		out[i].Name = fmt.Sprintf("m%d", i)
		out[i].Key = out[i].Name
		out[i].Proxies = map[string]*proxiesResult{}
		for k, v := range row {
			if !math.IsNaN(v) {
				out[i].Proxies[names[k]] = &proxiesResult{Score: v}
			}
		}
	}
	return out
}

func TestParseEnsemble(t *testing.T) {
	for i, c := range []struct {
		in, want, err string
	}{
		{"mine=logrank:synflow,-ntk_cond", "mine=logrank:synflow,-ntk_cond", ""},
		{" v = vote : a , b , c ", "v=vote:a,b,c", ""},
		{"paper_vote", "paper_vote=vote:synflow,jacob_cov,snip", ""},
		{"te_nas", "te_nas=meanrank:-ntk_cond,linear_regions", ""},
		{"nosuch", "", "built-in ensemble"},
		{"x=median:a,b", "", "METHOD one of vote, meanrank, logrank"},
		{"x=meanrank:-a", "x=meanrank:-a", ""},
		{"x=vote:a,a", "", "given twice"},
		{"x=vote:a,,b", "", "empty proxy"},
		{"=vote:a,b", "", "name before ="},
		{"x=vote", "", "METHOD one of"},
	} {
		e, err := ranking.ParseEnsemble(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("case %d (%q): want an error with %q, got %v", i, c.in, c.err, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("case %d (%q): %v", i, c.in, err)
			continue
		}
		if got := e.Name + "=" + e.Spec(); got != c.want {
			t.Errorf("case %d (%q): want %s, got %s", i, c.in, c.want, got)
		}
	}
}

func TestEnsembleValues(t *testing.T) {
	names := []string{"a", "b", "c"}
	nan := math.NaN()
	recs := records(names,
		[]float64{1, 30, 5}, // ranks 1, 3, 3
		[]float64{2, 10, 6}, // ranks 2, 1, 4
		[]float64{3, 20, 4}, // ranks 3, 2, 2
		[]float64{4, 40, 3}, // ranks 4, 4, 1
	)
	// Values are exact small-integer ratios and logs: 1e-12 covers round-off.
	const tol = 1e-12
	check := func(name string, got, want []float64) {
		t.Helper()
		for i := range want {
			if math.IsNaN(want[i]) != math.IsNaN(got[i]) || !math.IsNaN(want[i]) && math.Abs(got[i]-want[i]) > tol {
				t.Errorf("%s: model %d: want %v, got %v", name, i, want[i], got[i])
			}
		}
	}
	mean, _ := ranking.EnsembleValues(recs, ranking.Ensemble{Method: ranking.MeanRank, Components: []ranking.Component{{Proxy: "a"}, {Proxy: "b"}, {Proxy: "c", Lower: true}}})
	check("meanrank", mean, []float64{(1 + 3 + 2) / 12.0, (2 + 1 + 1) / 12.0, (3 + 2 + 3) / 12.0, (4 + 4 + 4) / 12.0})
	lr, _ := ranking.EnsembleValues(recs, ranking.Ensemble{Method: ranking.LogRank, Components: []ranking.Component{{Proxy: "a"}, {Proxy: "b"}}})
	check("logrank", lr, []float64{math.Log(1.0 / 16 * 3), math.Log(2.0 / 16), math.Log(6.0 / 16), math.Log(1)})
	// Vote of a, b, c pair by pair (the winner of each pair): (0,1) m1 by
	// a and c; (0,2) m0 by b and c; (0,3), (1,3), (2,3) m3; (1,2) m2. Every
	// model but m3 beats one of the three others.
	vote, _ := ranking.EnsembleValues(recs, ranking.Ensemble{Method: ranking.Vote, Components: []ranking.Component{{Proxy: "a"}, {Proxy: "b"}, {Proxy: "c"}}})
	check("vote", vote, []float64{1.0 / 3, 1.0 / 3, 1.0 / 3, 1})

	// A missing value ranks last in its component; a record without any
	// component has no value and does not count in N.
	recs = records(names, []float64{1, 1, nan}, []float64{2, nan, nan}, []float64{3, 3, nan}, []float64{nan, nan, 7})
	mean, missing := ranking.EnsembleValues(recs, ranking.Ensemble{Method: ranking.MeanRank, Components: []ranking.Component{{Proxy: "a"}, {Proxy: "b"}}})
	check("meanrank with missing", mean, []float64{(1 + 2) / 6.0, (2 + 1) / 6.0, (3 + 3) / 6.0, nan})
	if missing["b"] != 1 || missing["a"] != 0 {
		t.Errorf("missing counts: want b 1, a 0, got %v", missing)
	}
	// One proxy: its ranking with the failed model last instead of left
	// out (NASLib's convention).
	recs = records(names, []float64{5, nan, nan}, []float64{nan, 2, nan}, []float64{7, nan, nan}, []float64{nan, 3, nan})
	recs[1].Errors = map[string]string{"a": "proxies: the input gradient of sample 0 is constant"}
	one, _ := ranking.EnsembleValues(recs, ranking.Ensemble{Method: ranking.MeanRank, Components: []ranking.Component{{Proxy: "a"}}})
	check("one proxy, failed last", one, []float64{2.0 / 3, 1.0 / 3, 1, nan})
}

// TestVoteIsThePapersVote compares VotePairAccuracy and the vote column
// with the paper's notebook, written out as it is (every ordered pair,
// sign by "at least half the metrics say i > j"), on random values without
// ties, where the two definitions agree.
func TestVoteIsThePapersVote(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 60
	names := []string{"synflow", "jacob_cov", "snip"}
	rows := make([][]float64, n)
	acc := map[string]float64{}
	for i := range rows {
		q := rng.NormFloat64()
		rows[i] = []float64{q + rng.NormFloat64(), q + 2*rng.NormFloat64(), q + 3*rng.NormFloat64()}
		acc[fmt.Sprintf("m%d", i)] = q + 0.5*rng.NormFloat64()
	}
	recs := records(names, rows...)
	right, tot := 0, 0
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			diff := acc[fmt.Sprintf("m%d", i)] - acc[fmt.Sprintf("m%d", j)]
			if i == j || diff == 0 {
				continue
			}
			numpos := 0
			for k := range names {
				if rows[i][k]-rows[j][k] > 0 {
					numpos++
				}
			}
			sign := -1.0
			if float64(numpos) >= float64(len(names))/2 {
				sign = 1
			}
			if sign*diff > 0 {
				right++
			}
			tot++
		}
	}
	want := float64(right) / float64(tot)
	e, _ := ranking.LookupEnsemble("paper_vote")
	got, used := ranking.VotePairAccuracy(recs, acc, e)
	// Counts of pairs: exact up to the division.
	if used != n || math.Abs(got-want) > 1e-12 {
		t.Fatalf("pairwise vote accuracy: want %v over %d models, got %v over %d", want, n, got, used)
	}
	// The vote column is the Copeland score of the same vote: a model's
	// value is the share of the others it beats.
	vote, _ := ranking.EnsembleValues(recs, e)
	for i := range rows {
		beats := 0
		for j := range rows {
			votes := 0
			for k := range names {
				if rows[i][k] > rows[j][k] {
					votes++
				}
			}
			if i != j && votes >= 2 {
				beats++
			}
		}
		if w := float64(beats) / (n - 1); math.Abs(vote[i]-w) > 1e-12 {
			t.Fatalf("model %d: Copeland score want %v, got %v", i, w, vote[i])
		}
	}
}

// TestEnsembleOfResumedRun: a results file written in two runs (the
// second resuming the first, with a retried failure) gives the same
// ensemble values as the whole collection scored at once, and adding
// models to the collection changes every model's value (it is a property
// of the collection, so it is computed at report time, not stored).
func TestEnsembleOfResumedRun(t *testing.T) {
	names := []string{"a", "b"}
	nan := math.NaN()
	whole := records(names, []float64{1, 4}, []float64{2, 3}, []float64{3, 1}, []float64{4, 2}, []float64{5, 5})
	e := ranking.Ensemble{Name: "e", Method: ranking.LogRank, Components: []ranking.Component{{Proxy: "a"}, {Proxy: "b"}}}
	want, _ := ranking.EnsembleValues(whole, e)

	path := filepath.Join(t.TempDir(), "r.jsonl")
	failed := records(names, []float64{nan, nan})[0]
	failed.Name, failed.Key, failed.Error = "m3", "m3", "killed"
	first := append(slices.Clone(whole[:3]), failed)
	second := whole[3:]
	var lines []string
	for _, r := range append(first, second...) {
		b, err := jsonLine(r)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, b)
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	read, err := ranking.ReadResults(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(read) != 6 {
		t.Fatalf("want 6 lines, got %d", len(read))
	}
	latest := ranking.Latest(read)
	if len(latest) != 5 || latest[3].Error != "" || latest[3].Name != "m3" {
		t.Fatalf("Latest: want 5 models with m3's success, got %d: %+v", len(latest), latest)
	}
	got, notes := ranking.WithEnsembles(latest, []ranking.Ensemble{e})
	if len(notes) != 0 {
		t.Errorf("no component is missing, got notes %v", notes)
	}
	byName := map[string]float64{}
	for _, r := range got {
		byName[r.Name] = ranking.Value(r, "e")
	}
	for i, r := range whole {
		if math.Abs(byName[r.Name]-want[i]) > 1e-12 {
			t.Errorf("%s: want %v, got %v", r.Name, want[i], byName[r.Name])
		}
		if _, ok := r.Proxies["e"]; ok {
			t.Errorf("%s: WithEnsembles changed the caller's record", r.Name)
		}
	}
	part, _ := ranking.EnsembleValues(whole[:3], e)
	if part[0] == want[0] {
		t.Errorf("the first models' values must change when the collection grows: %v and %v", part[0], want[0])
	}
}

func TestLearnedIsHeldOut(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const n = 400
	names := []string{"good", "weak", "noise"}
	rows := make([][]float64, n)
	acc := map[string]float64{}
	for i := range rows {
		q := rng.NormFloat64()
		rows[i] = []float64{q + 0.3*rng.NormFloat64(), q + 1.5*rng.NormFloat64(), rng.NormFloat64()}
		acc[fmt.Sprintf("m%d", i)] = q
	}
	recs := records(names, rows...)
	l, err := ranking.FitLearned(recs, acc, ranking.LearnedOptions{Proxies: names, K: 100, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	s, ok := l.EvaluateHeldOut(recs, acc)
	if !ok || s.N != n-100 {
		t.Fatalf("want %d held-out models, got %d", n-100, s.N)
	}
	train := 0
	for _, b := range l.Train {
		if b {
			train++
		}
	}
	if train != 100 {
		t.Fatalf("want 100 training models, got %d", train)
	}
	if !(l.Weights[0] > l.Weights[1] && l.Weights[1] > 0 && math.Abs(l.Weights[2]) < l.Weights[1]) {
		t.Errorf("want weights good > weak > |noise|, got %v", l.Weights)
	}
	single := ranking.Evaluate(recs, acc, []string{"good"})["good"].Spearman
	if s.Spearman < single-0.02 {
		t.Errorf("held-out Spearman %.3f far below the best proxy's %.3f", s.Spearman, single)
	}
	again, _ := ranking.FitLearned(recs, acc, ranking.LearnedOptions{Proxies: names, K: 100, Seed: 1})
	other, _ := ranking.FitLearned(recs, acc, ranking.LearnedOptions{Proxies: names, K: 100, Seed: 2})
	if !slices.Equal(again.Train, l.Train) || !slices.Equal(again.Weights, l.Weights) {
		t.Error("the same seed must draw the same models and weights")
	}
	if slices.Equal(other.Train, l.Train) {
		t.Error("another seed must draw other models")
	}
	if _, err := ranking.FitLearned(recs, acc, ranking.LearnedOptions{Proxies: names, K: n, Seed: 1}); err == nil {
		t.Error("fitting on every model must be refused: nothing would be held out")
	}
}

func jsonLine(r ranking.Record) (string, error) {
	b, err := json.Marshal(r)
	return string(b), err
}
