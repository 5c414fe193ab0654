package search

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zerocost/zerocost/ranking"
	"github.com/zerocost/zerocost/zoo"
)

// repeatAlg trains the same architecture forever.
type repeatAlg struct{ arch string }

func (a repeatAlg) Name() string { return "repeat" }
func (a repeatAlg) Search(ctx context.Context, env *Env) error {
	for {
		if _, err := env.Train(ctx, a.arch); err != nil {
			return err
		}
	}
}

// listAlg trains a fixed list, then stops.
type listAlg []string

func (a listAlg) Name() string { return "list" }
func (a listAlg) Search(ctx context.Context, env *Env) error {
	for _, x := range a {
		if _, err := env.Train(ctx, x); err != nil {
			return err
		}
	}
	return nil
}

// TestProtocolReportsTestOfBestByValidation: the curve is the test
// accuracy of the architecture best by validation, not the best test.
func TestProtocolReportsTestOfBestByValidation(t *testing.T) {
	valid := map[string]float64{"a": 50, "b": 70, "c": 60, "d": 65}
	test := map[string]float64{"a": 90, "b": 10, "c": 99, "d": 20}
	o := &countingOracle{valid: func(s string) float64 { return valid[s] }, test: func(s string) float64 { return test[s] }}
	res, err := Run(context.Background(), listAlg{"a", "b", "c", "d"}, bitSpace{2}, o, nil, Options{Budget: 4})
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{90, 10, 10, 10} // b is best by validation from the 2nd model on
	if !slices.Equal(res.CurveTest, want) {
		t.Fatalf("curve: want %v, got %v", want, res.CurveTest)
	}
	if res.Best != "b" || res.BestValid != 70 || res.BestTest != 10 {
		t.Fatalf("best: want b (70, 10), got %s (%v, %v)", res.Best, res.BestValid, res.BestTest)
	}
}

// TestBudgetCountsEveryQuery: repeats of a query cost budget unless Dedup.
func TestBudgetCountsEveryQuery(t *testing.T) {
	o := &countingOracle{valid: weightedValue, test: weightedValue}
	res, err := Run(context.Background(), repeatAlg{"01"}, bitSpace{2}, o, nil, Options{Budget: 7})
	if err != nil {
		t.Fatal(err)
	}
	if o.queries != 7 || len(res.History) != 7 || len(res.CurveTest) != 7 {
		t.Fatalf("want 7 queries, history and curve points, got %d, %d, %d", o.queries, len(res.History), len(res.CurveTest))
	}
	o.queries = 0
	_, err = Run(context.Background(), repeatAlg{"01"}, bitSpace{2}, o, nil, Options{Budget: 7, Dedup: true})
	if err == nil || !strings.Contains(err.Error(), "already trained") {
		t.Fatalf("dedup of a search that only repeats itself: want the 'already trained' error, got %v", err)
	}
	if o.queries != 1 {
		t.Fatalf("dedup: want 1 oracle query, got %d", o.queries)
	}
}

// TestProxyCostsNoBudget: a warm-up scores N candidates and trains exactly
// the budget; a perfect proxy makes the first trained model the best.
func TestProxyCostsNoBudget(t *testing.T) {
	space := bitSpace{8}
	o := &countingOracle{valid: weightedValue, test: weightedValue}
	sc := &funcScorer{f: weightedValue}
	res, err := Run(context.Background(), &RandomSearch{Warmup: 256}, space, o, sc, Options{Budget: 10, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if o.queries != 10 || sc.evals != 256 || res.ProxyEvaluations != 256 {
		t.Fatalf("want 10 queries and 256 proxy evaluations, got %d queries, %d (%d reported) evaluations", o.queries, sc.evals, res.ProxyEvaluations)
	}
	if res.CurveTest[0] != 36 || res.History[0].Arch != "11111111" {
		t.Fatalf("a perfect proxy over the whole space: want 11111111 (36) first, got %s (%v)", res.History[0].Arch, res.CurveTest[0])
	}
}

// TestEveryAlgorithmRuns runs every variant on the synthetic space and
// checks the budget and that the proxy is used only where asked.
func TestEveryAlgorithmRuns(t *testing.T) {
	space := bitSpace{8}
	for _, algo := range Algorithms {
		for _, v := range (Settings{Algo: algo}).Compare() {
			if v.Warmup > 256 {
				v.Warmup = 256
			}
			alg, err := v.Algorithm()
			if err != nil {
				t.Fatalf("%s: %v", algo, err)
			}
			o := &countingOracle{valid: weightedValue, test: weightedValue}
			sc := &funcScorer{f: weightedValue}
			res, err := Run(context.Background(), alg, space, o, sc, Options{Budget: 120, Seed: 5})
			if err != nil {
				t.Fatalf("%s: %v", alg.Name(), err)
			}
			if o.queries != 120 || len(res.CurveTest) != 120 {
				t.Fatalf("%s: want 120 queries, got %d (curve %d)", alg.Name(), o.queries, len(res.CurveTest))
			}
			if (sc.evals > 0) != v.UsesProxy() {
				t.Fatalf("%s: uses the proxy %v, but it was scored %d times", alg.Name(), v.UsesProxy(), sc.evals)
			}
			if res.BestTest < 30 {
				t.Fatalf("%s: best after 120 of 256 models is %v (of 36), want >= 30", alg.Name(), res.BestTest)
			}
		}
	}
}

// TestRepeatDeterministic: the same seed gives the same curve, whatever
// the number of parallel workers.
func TestRepeatDeterministic(t *testing.T) {
	o := nb201Oracle(t, "cifar100")
	sc := epoch12Scorer(t)
	alg := &Evolution{Warmup: 500, Move: true}
	var curves [][]float64
	for _, w := range []int{1, 3} {
		c, err := Repeat(context.Background(), alg, NB201Space{}, o, sc, RepeatOptions{Options: Options{Budget: 100, Seed: 9}, Repeats: 6, Workers: w})
		if err != nil {
			t.Fatal(err)
		}
		curves = append(curves, c.Mean)
	}
	if !slices.Equal(curves[0], curves[1]) {
		t.Fatalf("1 and 3 workers give different curves")
	}
}

// TestWarmupHelpsOnNB201: on the real CIFAR-100 table, with the 12-epoch
// accuracy as a test scorer, the warm-up and move proposal beat the plain
// algorithms early (the paper's direction), over 30 repeats.
func TestWarmupHelpsOnNB201(t *testing.T) {
	o := nb201Oracle(t, "cifar100")
	sc := epoch12Scorer(t)
	cases := []struct {
		plain, zc Algorithm
		at        int
	}{
		{&RandomSearch{}, &RandomSearch{Warmup: 3000}, 50},
		{&Evolution{}, &Evolution{Warmup: 3000}, 50},
		{&Evolution{}, &Evolution{Move: true}, 150},
		{&Reinforce{}, &Reinforce{Move: 10}, 50},
		{&Predictor{}, &Predictor{Warmup: 256}, 20},
	}
	for _, c := range cases {
		var at []float64
		for _, alg := range []Algorithm{c.plain, c.zc} {
			cv, err := Repeat(context.Background(), alg, NB201Space{}, o, sc, RepeatOptions{Options: Options{Budget: c.at, Seed: 1}, Repeats: 30})
			if err != nil {
				t.Fatal(err)
			}
			at = append(at, cv.At(c.at))
		}
		t.Logf("%s %.2f, %s %.2f at %d", c.plain.Name(), at[0], c.zc.Name(), at[1], c.at)
		if at[1] <= at[0] {
			t.Errorf("%s at %d trained: want better than %s's %.2f, got %.2f", c.zc.Name(), c.at, c.plain.Name(), at[0], at[1])
		}
	}
}

// TestNB201Space: 24 distinct neighbours one edge away, all in the
// benchmark; keys are indices; encodings one-hot.
func TestNB201Space(t *testing.T) {
	s := NB201Space{}
	rng := rand.New(rand.NewPCG(1, 2))
	for k := 0; k < 20; k++ {
		a := s.Sample(rng)
		nb := s.Neighbours(a)
		if len(nb) != 24 {
			t.Fatalf("%s: want 24 neighbours, got %d", a, len(nb))
		}
		seen := map[string]bool{}
		ca, _ := s.ToChoices(a)
		for _, n := range nb {
			if seen[n] || n == a {
				t.Fatalf("%s: neighbour %s repeated or itself", a, n)
			}
			seen[n] = true
			cn, err := s.ToChoices(n)
			if err != nil {
				t.Fatal(err)
			}
			diff := 0
			for i := range cn {
				if cn[i] != ca[i] {
					diff++
				}
			}
			if diff != 1 || s.Key(n) == "" {
				t.Fatalf("%s → %s: want one edge changed and a benchmark index, got %d edges, key %q", a, n, diff, s.Key(n))
			}
		}
		x := s.Encode(a)
		sum := 0.0
		for _, v := range x {
			sum += v
		}
		if len(x) != 30 || sum != 6 {
			t.Fatalf("%s: want a one-hot encoding of 30 with 6 ones, got %d with %v", a, len(x), sum)
		}
	}
	a, _ := zoo.NB201Arch(9930)
	if s.Key(a) != "9930" || s.Key("|bad|") != "" {
		t.Fatalf("keys: want 9930 and \"\", got %q and %q", s.Key(a), s.Key("|bad|"))
	}
}

// TestNB201Oracle: the best architectures the data README names, one
// seed's value per query, the mean with Mean.
func TestNB201Oracle(t *testing.T) {
	for _, c := range []struct {
		dataset string
		index   string
		valid   float64
	}{{"cifar10", "6111", 91.61}, {"cifar100", "9930", 73.49}, {"imagenet16", "10676", 46.73}} {
		o := nb201Oracle(t, c.dataset)
		arch, v, test := o.Best()
		key := NB201Space{}.Key(arch)
		if key != c.index || math.Abs(v-c.valid) > 0.005 {
			t.Errorf("%s: want best %s at %.2f, got %s at %.3f", c.dataset, c.index, c.valid, key, v)
		}
		if test > o.MaxTest() || test < o.MaxTest()-2 {
			t.Errorf("%s: the best by validation tests at %.2f, the best test is %.2f", c.dataset, test, o.MaxTest())
		}
	}
	o := nb201Oracle(t, "cifar100")
	arch, _ := zoo.NB201Arch(0) // seeds 51.88;53.08;53.14, mean 52.70
	rng := rand.New(rand.NewPCG(1, 1))
	got := map[float64]bool{}
	for k := 0; k < 50; k++ {
		tr, err := o.Train(context.Background(), arch, rng)
		if err != nil {
			t.Fatal(err)
		}
		got[tr.Valid] = true
		if math.Abs(tr.Test-52.913333) > 1e-6 {
			t.Fatalf("test of index 0: want 52.913333, got %v", tr.Test)
		}
	}
	if len(got) != 3 || !got[51.88] || !got[53.08] || !got[53.14] {
		t.Fatalf("noisy queries of index 0: want the 3 seeds' values, got %v", got)
	}
	mo, err := LoadNB201Oracle(nb201Dir, "cifar100", true)
	if err != nil {
		t.Fatal(err)
	}
	if tr, _ := mo.Train(context.Background(), arch, rng); math.Abs(tr.Valid-52.7) > 1e-9 {
		t.Fatalf("mean oracle: want 52.7, got %v", tr.Valid)
	}
	if _, err := LoadNB201Oracle(nb201Dir, "mnist", false); err == nil || !strings.Contains(err.Error(), "cifar100") {
		t.Fatalf("unknown dataset: want an error naming the datasets, got %v", err)
	}
	if _, err := LoadNB201Oracle(t.TempDir(), "cifar10", false); err == nil || !strings.Contains(err.Error(), "nb201_valid.csv") {
		t.Fatalf("missing table: want an error naming the file, got %v", err)
	}
	if _, err := o.Train(context.Background(), "|nope|", rng); err == nil {
		t.Fatal("a bad architecture: want an error")
	}
}

// TestCommandOracleJournal: the command's last number is the accuracy;
// a second oracle on the same journal replays without running it.
func TestCommandOracleJournal(t *testing.T) {
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	journal := filepath.Join(dir, "journal.jsonl")
	cmd := "echo x >> " + runs + "; echo epoch 3 loss 0.5; echo 'acc: 0.{path}'"
	space := &CollectionSpace{Archs: []string{"7", "42", "9"}}
	alg := &RandomSearch{Warmup: 3}
	sc := &funcScorer{f: func(a string) float64 { return float64(len(a)) }}
	var first *Result
	for k := 0; k < 2; k++ {
		o := &CommandOracle{Command: cmd, Journal: journal}
		res, err := Run(context.Background(), alg, space, o, sc, Options{Budget: 3, Seed: 1, Dedup: true})
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			first = res
			continue
		}
		if !slices.Equal(first.CurveValid, res.CurveValid) || res.History[0].Arch != "42" {
			t.Fatalf("replay: want %v with 42 first (proxy order), got %v (%s first)", first.CurveValid, res.CurveValid, res.History[0].Arch)
		}
	}
	raw, _ := os.ReadFile(runs)
	if n := strings.Count(string(raw), "x"); n != 3 {
		t.Fatalf("want 3 trainings in all (the second search replays the journal), got %d", n)
	}
	if first.BestValid != 0.9 || first.Best != "9" || !math.IsNaN(first.BestTest) {
		t.Fatalf("want 9 best at 0.9 (no test), got %s at %v (%v)", first.Best, first.BestValid, first.BestTest)
	}
	for _, c := range []struct{ cmd, want string }{
		{"echo no number", "printed no number"},
		{"exit 3", "failed"},
		{"echo 1", "no {path}"},
	} {
		o := &CommandOracle{Command: c.cmd + " {path}"}
		if c.want == "no {path}" {
			o.Command = c.cmd
		}
		if c.cmd == "echo no number" {
			o.Command = "echo no number #{path}"
		}
		_, err := o.Train(context.Background(), "m.onnx", nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: want an error with %q, got %v", o.Command, c.want, err)
		}
	}
}

// TestTableScorer: single proxies read log10 values, several vote by
// mean rank, a missing architecture is an error naming it.
func TestTableScorer(t *testing.T) {
	recs, err := ranking.ReadResults("testdata/results.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	s := NB201Space{}
	a0, _ := zoo.NB201Arch(0)
	a1, _ := zoo.NB201Arch(1)
	a2, _ := zoo.NB201Arch(2)
	one, err := NewTableScorer(s, recs, []string{"synflow"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := one.Score(context.Background(), []string{a0, a1})
	if err != nil || math.Abs(v[0]-20.14466760983172) > 1e-12 || math.Abs(v[1]-36.03766443248012) > 1e-12 {
		t.Fatalf("synflow: want the log10 values 20.14…, 36.03…, got %v (%v)", v, err)
	}
	vote, err := NewTableScorer(s, recs, []string{"synflow", "params"})
	if err != nil {
		t.Fatal(err)
	}
	// synflow ranks 0 < 2 < 1; params (129306, 802426, 559386) too.
	if v, _ := vote.Score(context.Background(), []string{a0, a1, a2}); !slices.Equal(v, []float64{1, 3, 2}) {
		t.Fatalf("vote: want mean ranks [1 3 2], got %v", v)
	}
	a9, _ := zoo.NB201Arch(9)
	if _, err := one.Score(context.Background(), []string{a9}); err == nil || !strings.Contains(err.Error(), `"9"`) {
		t.Fatalf("missing architecture: want an error naming key 9, got %v", err)
	}
	if _, err := NewTableScorer(s, recs, []string{"snip"}); err == nil || !strings.Contains(err.Error(), "snip") {
		t.Fatalf("absent proxy: want an error naming it, got %v", err)
	}
}

// TestMLPGradient compares the predictor's backward pass with central
// differences of Σ ds_i s_i (float64; tolerance 1e-6 relative: the
// differences' truncation error at step 1e-5 is ~1e-10).
func TestMLPGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	m := newMLP(5, 4, rng, 0.01)
	X := newInputs(randDense(rng, 7, 5))
	ds := make([]float64, 7)
	for i := range ds {
		ds[i] = rng.NormFloat64()
	}
	obj := func() float64 {
		s := m.predict(X)
		v := 0.0
		for i := range s {
			v += ds[i] * s[i]
		}
		return v
	}
	rows := []int{0, 1, 2, 3, 4, 5, 6}
	z1, a1, z2, a2, _ := m.forward(X, rows)
	grad := make([]float64, len(m.params))
	m.backward(X, rows, z1, a1, z2, a2, ds, grad)
	const h = 1e-5
	for i := range m.params {
		orig := m.params[i]
		m.params[i] = orig + h
		up := obj()
		m.params[i] = orig - h
		down := obj()
		m.params[i] = orig
		fd := (up - down) / (2 * h)
		if math.Abs(fd-grad[i]) > 1e-6*math.Max(1, math.Abs(fd)) {
			t.Fatalf("parameter %d: want %v (finite differences), got %v", i, fd, grad[i])
		}
	}
}

// TestPredictorLearnsRanking: fitted on 60 architectures of the synthetic
// space, the predictor orders all 256 by their value (Spearman > 0.9).
func TestPredictorLearnsRanking(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	s := bitSpace{8}
	all := s.All()
	X := randDense(rng, len(all), 8)
	var y, truth []float64
	var rows []int
	for i, a := range all {
		copy(X.RawRowView(i), s.Encode(a))
		truth = append(truth, weightedValue(a))
	}
	for _, k := range rng.Perm(len(all))[:60] {
		rows, y = append(rows, k), append(y, truth[k])
	}
	m := newMLP(8, 16, rng, 0.01)
	in := newInputs(X)
	m.fit(in, rows, y, 300, rng)
	if rho := ranking.Spearman(m.predict(in), truth); rho < 0.9 {
		t.Fatalf("want Spearman > 0.9 over the space, got %.3f", rho)
	}
}

func TestSettingsErrors(t *testing.T) {
	for _, s := range []Settings{{Algo: "bogus"}, {Algo: "rs", Move: 1}, {Algo: "rea", Move: 5}, {Algo: "predictor", Move: 1}, {Algo: "rea", Warmup: -1}, {Algo: "reinforce", Features: true}} {
		if _, err := s.Algorithm(); err == nil {
			t.Errorf("%+v: want an error", s)
		}
	}
	if _, err := Run(context.Background(), &Reinforce{}, &CollectionSpace{Archs: []string{"a"}}, &countingOracle{valid: weightedValue, test: weightedValue}, nil, Options{Budget: 3}); err == nil || !strings.Contains(err.Error(), "Categorical") {
		t.Fatalf("REINFORCE on a collection: want an error naming Categorical, got %v", err)
	}
	if _, err := Run(context.Background(), &RandomSearch{Warmup: 5}, bitSpace{3}, &countingOracle{valid: weightedValue, test: weightedValue}, nil, Options{Budget: 3}); err == nil || !strings.Contains(err.Error(), "scorer") {
		t.Fatalf("a warm-up without a scorer: want an error, got %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Run(ctx, &RandomSearch{}, &CollectionSpace{Archs: []string{"a"}}, &CommandOracle{Command: "sleep 5 {path}"}, nil, Options{Budget: 3})
	if err == nil || errors.Is(err, ErrBudget) {
		t.Fatalf("a cancelled search: want an error, got %v", err)
	}
}
