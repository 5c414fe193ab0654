package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/proxies"
	"github.com/zerocost/zerocost/runtime"
	"github.com/zerocost/zerocost/search"
)

// searchFlags are the flags of zerocost search.
type searchFlags struct {
	runtimeFlags
	set                  search.Settings
	compare, dedup, mean bool
	proxy, results       string
	dataset, dataDir     string
	budget, repeats      int
	seed                 uint64
	workers, batch       int
	plot, format         string
	trainCmd, journal    string
	dataSrc              string
	trainTimeout         time.Duration
	given                map[string]bool // flags given on the command line
}

func (f *searchFlags) register(fs *flag.FlagSet) {
	f.runtimeFlags.register(fs)
	fs.StringVar(&f.set.Algo, "algo", "rea", "algorithm: rs (random search), rea (aging evolution), reinforce or predictor (BRP-NAS-style)")
	fs.IntVar(&f.set.Warmup, "warmup", 0, "zero-cost warm-up: proxy-scored random candidates before training (rs, rea: 1000, 3000, 15625; reinforce: policy pre-training samples; predictor: pre-training architectures, 256 or 512)")
	fs.IntVar(&f.set.Move, "move", 0, "zero-cost move proposal: rea 1 (the best neighbour by the proxy); reinforce K (train the best of K policy samples, 10 or 100)")
	fs.BoolVar(&f.set.Features, "features", false, "predictor: proxy scores as input features (beyond the paper)")
	fs.IntVar(&f.set.Pool, "pool", 64, "rea: population size")
	fs.IntVar(&f.set.Tournament, "tournament", 10, "rea: tournament size")
	fs.Float64Var(&f.set.RandomMove, "random-move", 0.25, "rea with --move: probability of a uniformly random neighbour instead of the proxy's best")
	fs.Float64Var(&f.set.LR, "lr", 0.01, "reinforce and predictor: Adam learning rate")
	fs.IntVar(&f.set.PerIter, "per-iter", 20, "predictor: trained models per iteration (half top-predicted, half from the predicted top --top-k)")
	fs.IntVar(&f.set.TopK, "top-k", 100, "predictor: the predicted top the other half is drawn from")
	fs.BoolVar(&f.compare, "compare", false, "run every variant of the algorithm (none, warm-up sizes, move proposal) in one table and figure")
	fs.StringVar(&f.proxy, "proxy", "synflow", "proxy, or proxies separated by commas for their vote (mean rank)")
	fs.StringVar(&f.results, "results", "", "results file of `zerocost rank --results` to read proxy values from (default: computed on the fly, each network once)")
	fs.StringVar(&f.dataset, "dataset", "cifar10", "NAS-Bench-201 dataset: cifar10, cifar100 or imagenet16")
	fs.StringVar(&f.dataDir, "data-dir", "../shared/data/nb201", "folder of nb201_valid.csv and nb201_accuracy.csv")
	fs.BoolVar(&f.mean, "mean", false, "the oracle returns the mean validation accuracy over seeds (default: one seed's, drawn per query: the noise of a real training)")
	fs.BoolVar(&f.dedup, "dedup", false, "a query of an architecture already trained in the search costs nothing (default: every query counts)")
	fs.IntVar(&f.budget, "budget", 300, "trained models (oracle queries) per search")
	fs.IntVar(&f.repeats, "repeats", 100, "repeats of each search (seeds --seed, --seed+1, …); a collection: default 1")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the first repeat")
	fs.IntVar(&f.workers, "workers", 0, "searches run in parallel (default: the number of cores)")
	fs.StringVar(&f.plot, "plot", "", "write the curves to FILE.png")
	fs.StringVar(&f.format, "format", "table", "output: table or json")
	fs.StringVar(&f.trainCmd, "train-cmd", "", "a collection: the training command, {path} replaced by the model; its last printed number is the validation accuracy")
	fs.StringVar(&f.journal, "journal", "", "a collection: JSONL journal of trainings (default: search-journal.jsonl next to --results or in the working folder); a restarted search replays it")
	fs.DurationVar(&f.trainTimeout, "train-timeout", 0, "a collection: limit of one training (0: none)")
	fs.StringVar(&f.dataSrc, "data", "random", "proxies computed on the fly: input batch (random, ones, FILE.npy, CIFAR-10 FILE.bin)")
	fs.IntVar(&f.batch, "batch-size", 64, "proxies computed on the fly: batch size")
}

func runSearch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("search", stderr)
	var f searchFlags
	f.register(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: zerocost search nb201 --algo rs|rea|reinforce|predictor [--warmup N] [--move K] [--proxy P|P1,P2] [--results R.jsonl] [--dataset cifar10|cifar100|imagenet16] [--budget 300] [--repeats 100] [--compare] [--plot FILE.png] [--format table|json]\n"+
			"       zerocost search DIR|MANIFEST|FILE… --train-cmd 'python train.py {path}' [--algo rs|predictor] [--budget N] [--proxy P] [--results R.jsonl]\n\n"+
			"Simulated NAS on the NAS-Bench-201 table (or a search of your own collection with your training command):\n"+
			"the curve is the TEST accuracy of the architecture best by VALIDATION against trained models; the budget counts\n"+
			"every training (oracle query); proxy evaluations cost no budget, their count and wall time are reported.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	paths, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	f.given = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.given[fl.Name] = true })
	if len(paths) == 0 {
		return usagef("want nb201 (the NAS-Bench-201 table) or folders/manifests of models with --train-cmd")
	}
	if f.format != "table" && f.format != "json" {
		return usagef("--format must be table or json, got %q", f.format)
	}
	if f.budget < 1 || f.budget > 100000 {
		return usagef("--budget must be 1..100000 trained models, got %d", f.budget)
	}
	if f.repeats < 1 || f.repeats > 10000 {
		return usagef("--repeats must be 1..10000, got %d", f.repeats)
	}
	if f.set.RandomMove < 0 || f.set.RandomMove > 1 {
		return usagef("--random-move is a probability (0..1), got %v", f.set.RandomMove)
	}
	if f.set.RandomMove == 0 {
		f.set.RandomMove = -1 // never random: Evolution reads 0 as its default
	}
	proxyNames, err := proxies.ParseList(f.proxy)
	if err != nil || strings.TrimSpace(f.proxy) == "" {
		return usagef("--proxy: want a proxy or a comma-separated list of %v (%v)", proxies.Names(), err)
	}
	variants := []search.Settings{f.set}
	if f.compare {
		variants = f.set.Compare()
	}
	for _, v := range variants {
		if _, err := v.Algorithm(); err != nil {
			return usagef("%v", err)
		}
	}
	if len(paths) == 1 && paths[0] == "nb201" {
		if f.trainCmd != "" {
			return usagef("--train-cmd is for a collection; nb201 trains from the benchmark table")
		}
		return searchNB201(ctx, &f, variants, proxyNames, stdout, stderr)
	}
	return searchCollection(ctx, &f, paths, variants, proxyNames, stdout, stderr)
}

// scorerFor returns the scorer of the flags: the results file, or the
// engine on networks of space.
func (f *searchFlags) scorerFor(space search.Space, proxyNames []string, variants []search.Settings) (search.Scorer, error) {
	uses := false
	for _, v := range variants {
		uses = uses || v.UsesProxy()
	}
	if !uses {
		return nil, nil
	}
	if f.results != "" {
		return search.LoadTableScorer(space, f.results, proxyNames)
	}
	so, err := f.sessionOptions()
	if err != nil {
		return nil, err
	}
	if f.batch < 1 {
		return nil, usagef("--batch-size must be at least 1, got %d", f.batch)
	}
	if err := runtime.Init(f.ortLib); err != nil {
		return nil, err
	}
	s := &search.EngineScorer{Space: space, Proxies: proxyNames}
	s.Data.Source, s.Data.BatchSize, s.Data.Seed = f.dataSrc, f.batch, f.seed
	s.Options.Session = so
	return s, nil
}

// searchRun is one variant's curve in the JSON output.
type searchRun struct {
	Algo             string    `json:"algo"`
	Variant          string    `json:"variant"`
	Proxy            string    `json:"proxy"`
	Warmup           int       `json:"warmup"`
	Move             int       `json:"move"`
	Features         bool      `json:"features,omitempty"`
	Trained          []int     `json:"trained"`
	MeanTest         []float64 `json:"mean_test"`
	Q25              []float64 `json:"q25"`
	Q75              []float64 `json:"q75"`
	MeanValid        []float64 `json:"mean_valid"`
	Reach            int       `json:"trained_to_target,omitempty"`
	ProxyEvaluations float64   `json:"proxy_evaluations"`
	ProxySeconds     float64   `json:"proxy_s"`
	Wall             float64   `json:"wall_s"`
	curve            *search.Curve
}

type searchOutput struct {
	Dataset   string      `json:"dataset"`
	Budget    int         `json:"budget"`
	Repeats   int         `json:"repeats"`
	Noise     string      `json:"noise"`
	Best      string      `json:"best_arch"`
	BestValid float64     `json:"best_valid"`
	BestTest  float64     `json:"best_test"`
	Target    float64     `json:"target"`
	Runs      []searchRun `json:"runs"`
	WallTotal float64     `json:"wall_s"`
}

func searchNB201(ctx context.Context, f *searchFlags, variants []search.Settings, proxyNames []string, stdout, stderr io.Writer) error {
	oracle, err := search.LoadNB201Oracle(f.dataDir, f.dataset, f.mean)
	if err != nil {
		return err
	}
	space := search.NB201Space{Classes: map[string]int{"cifar10": 10, "cifar100": 100, "imagenet16": 120}[oracle.Dataset]}
	scorer, err := f.scorerFor(space, proxyNames, variants)
	if err != nil {
		return err
	}
	if es, ok := scorer.(*search.EngineScorer); ok && oracle.Dataset == "imagenet16" {
		es.Data.Shape = []int64{3, 16, 16} // ImageNet16-120's size, as the reference scores it
	}
	bestArch, bestValid, bestTest := oracle.Best()
	out := searchOutput{Dataset: oracle.Dataset, Budget: f.budget, Repeats: f.repeats, Noise: "one seed per query", Best: bestArch, BestValid: bestValid, BestTest: bestTest, Target: bestTest - 0.3}
	if f.mean {
		out.Noise = "mean over seeds"
	}
	start := time.Now()
	for _, v := range variants {
		alg, _ := v.Algorithm()
		var sc search.Scorer
		if v.UsesProxy() {
			sc = scorer
		}
		fmt.Fprintf(stderr, "%s: %d repeats…\n", alg.Name(), f.repeats)
		c, err := search.Repeat(ctx, alg, space, oracle, sc, search.RepeatOptions{Options: search.Options{Budget: f.budget, Seed: f.seed, Dedup: f.dedup}, Repeats: f.repeats, Workers: f.workers})
		if err != nil {
			return err
		}
		proxyName := ""
		if v.UsesProxy() {
			proxyName = strings.Join(proxyNames, "+")
		}
		out.Runs = append(out.Runs, searchRun{Algo: v.Algo, Variant: alg.Name(), Proxy: proxyName, Warmup: v.Warmup, Move: v.Move, Features: v.Features,
			Trained: c.Trained, MeanTest: c.Mean, Q25: c.Q25, Q75: c.Q75, MeanValid: c.Valid, Reach: c.Reach(out.Target),
			ProxyEvaluations: c.ProxyEvaluations, ProxySeconds: c.ProxyTime.Seconds(), Wall: c.Wall.Seconds(), curve: c})
	}
	out.WallTotal = time.Since(start).Seconds()
	if f.plot != "" {
		var lines []search.Line
		for _, r := range out.Runs {
			lines = append(lines, search.Line{Label: r.Variant, Curve: r.curve})
		}
		title := fmt.Sprintf("NAS-Bench-201 %s, %s, %d repeats (mean, 25–75%%)", oracle.Dataset, strings.Join(proxyNames, "+"), f.repeats)
		if err := search.Plot(f.plot, lines, &search.PlotOptions{Title: title, Target: bestTest, TargetLabel: fmt.Sprintf("best by validation: %.2f%% test", bestTest)}); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %s\n", f.plot)
	}
	if f.format == "json" {
		enc := json.NewEncoder(stdout)
		return enc.Encode(out)
	}
	fmt.Fprintf(stdout, "NAS-Bench-201 %s, budget %d trained models (%s), %d repeats: mean test accuracy (%%) of the architecture best by validation\n", oracle.Dataset, f.budget, out.Noise, f.repeats)
	fmt.Fprintf(stdout, "best by validation: %s, validation %.2f, test %.2f; target (within 0.3): %.2f\n\n", bestArch, bestValid, bestTest, out.Target)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	marks := []int{}
	for _, n := range []int{10, 25, 50, 100, 300} {
		if n <= f.budget {
			marks = append(marks, n)
		}
	}
	if marks[len(marks)-1] != f.budget {
		marks = append(marks, f.budget)
	}
	fmt.Fprint(tw, "VARIANT\tPROXY")
	for _, n := range marks {
		fmt.Fprintf(tw, "\t@%d", n)
	}
	fmt.Fprintf(tw, "\tQ25–Q75@%d\tTO TARGET\tPROXY EVALS\tPROXY S\tWALL S\n", f.budget)
	for _, r := range out.Runs {
		p := r.Proxy
		if p == "" {
			p = "-"
		}
		fmt.Fprintf(tw, "%s\t%s", r.Variant, p)
		for _, n := range marks {
			fmt.Fprintf(tw, "\t%.2f", r.curve.At(n))
		}
		reach := fmt.Sprint(r.Reach)
		if r.Reach == 0 {
			reach = fmt.Sprintf(">%d", f.budget)
		}
		fmt.Fprintf(tw, "\t%.2f–%.2f\t%s\t%.0f\t%.1f\t%.1f\n", r.Q25[f.budget-1], r.Q75[f.budget-1], reach, r.ProxyEvaluations, r.ProxySeconds, r.Wall)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nwall time of the whole comparison: %.1f s\n", out.WallTotal)
	return nil
}

// searchCollection searches a user's models with their training command.
func searchCollection(ctx context.Context, f *searchFlags, paths []string, variants []search.Settings, proxyNames []string, stdout, stderr io.Writer) error {
	if f.trainCmd == "" {
		return usagef("a collection needs --train-cmd 'COMMAND {path}' (its last printed number is the validation accuracy)")
	}
	if len(variants) > 1 {
		return usagef("--compare is for nb201; a collection runs one search")
	}
	v := variants[0]
	if v.Algo != "rs" && v.Algo != "predictor" {
		return usagef("a collection has no mutations: --algo rs (in proxy order with --warmup) or predictor (over proxy scores with --features)")
	}
	entries, err := collect(paths)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return usagef("no models in %s", strings.Join(paths, " "))
	}
	space := &search.CollectionSpace{}
	builders := map[string]func() (*onnximport.Model, error){}
	for _, e := range entries {
		space.Archs, space.Names = append(space.Archs, e.Path), append(space.Names, e.Name)
		if e.Model != nil {
			builders[e.Path] = e.Model
		}
	}
	space.Builder = func(p string) (*onnximport.Model, error) {
		if b := builders[p]; b != nil {
			return b()
		}
		return onnximport.Load(p)
	}
	if v.Algo == "predictor" {
		v.Features = true // a collection has no other encoding
	}
	if v.Algo == "rs" && v.Warmup == 0 {
		v.Warmup = len(entries) // proxy order over the whole collection
	}
	alg, err := v.Algorithm()
	if err != nil {
		return usagef("%v", err)
	}
	scorer, err := f.scorerFor(space, proxyNames, []search.Settings{v})
	if err != nil {
		return err
	}
	journal := f.journal
	if journal == "" {
		journal = "search-journal.jsonl"
	}
	oracle := &search.CommandOracle{Command: f.trainCmd, Journal: journal, Timeout: f.trainTimeout}
	if fe, ok := stderr.(*os.File); ok {
		oracle.Stderr = fe
	}
	repeats := f.repeats
	if !f.given["repeats"] {
		repeats = 1
	}
	budget := min(f.budget, len(entries))
	var results []*search.Result
	for r := 0; r < repeats; r++ {
		res, err := search.Run(ctx, alg, space, oracle, scorer, search.Options{Budget: budget, Seed: f.seed + uint64(r), Dedup: true})
		if err != nil {
			return err
		}
		results = append(results, res)
	}
	res := results[len(results)-1]
	if f.format == "json" {
		type step struct {
			N     int     `json:"trained"`
			Model string  `json:"model"`
			Valid float64 `json:"valid"`
			Best  float64 `json:"best_valid"`
		}
		var steps []step
		for i, s := range res.History {
			steps = append(steps, step{i + 1, s.Arch, s.Trained.Valid, res.CurveValid[i]})
		}
		return json.NewEncoder(stdout).Encode(map[string]any{"algo": alg.Name(), "proxy": strings.Join(proxyNames, "+"), "budget": budget, "best": res.Best, "best_valid": res.BestValid, "steps": steps, "proxy_evaluations": res.ProxyEvaluations, "proxy_s": res.ProxyTime.Seconds(), "journal": journal})
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TRAINED\tMODEL\tVALID\tBEST VALID")
	for i, s := range res.History {
		fmt.Fprintf(tw, "%d\t%s\t%.4g\t%.4g\n", i+1, s.Arch, s.Trained.Valid, res.CurveValid[i])
	}
	tw.Flush()
	fmt.Fprintf(stdout, "\nbest by validation: %s (%.4g) after %d trainings (%s); %d proxy evaluations, %.1f s; journal %s\n", res.Best, res.BestValid, len(res.History), alg.Name(), res.ProxyEvaluations, res.ProxyTime.Seconds(), journal)
	if f.plot != "" {
		c := search.Summarise(results, budget)
		if err := search.Plot(f.plot, []search.Line{{Label: alg.Name(), Curve: c}}, &search.PlotOptions{UseValid: true, Title: "search of " + strings.Join(paths, " ")}); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %s\n", f.plot)
	}
	return nil
}
