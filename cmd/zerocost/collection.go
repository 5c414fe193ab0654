package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"github.com/zerocost/zerocost/ranking"
	"github.com/zerocost/zerocost/runtime"
	"github.com/zerocost/zerocost/zoo"
)

func defaultTruth() string { return filepath.Join(defaultDataDir(), "nb201", "nb201_accuracy.csv") }

func runZoo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "nb201" {
		return usagef("want `zerocost zoo nb201 --out DIR ...`")
	}
	fs := newFlagSet("zoo nb201", stderr)
	out := fs.String("out", "", "folder to write DIR/<index>.onnx into (required)")
	all := fs.Bool("all", false, "all 15,625 architectures")
	sample := fs.Int("sample", 0, "a seeded sample of N architectures")
	seed := fs.Uint64("seed", 1, "seed of the sample and of the weights")
	indexList := fs.String("index", "", "benchmark indices, comma-separated")
	archs := fs.String("archs", "", "file with one architecture string per line (written as arch<N>.onnx)")
	variant := fs.String("variant", "nb201", "nb201 (the benchmark's network) or foresight (the zero-cost reference's: affine-free, statistics-free BN and conv biases in the cells)")
	classes := fs.Int("num-classes", 10, "classifier outputs")
	if _, err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *out == "" {
		return usagef("--out is required")
	}
	if !slices.Contains(zoo.NB201Variants, *variant) {
		return usagef("--variant %q: want one of %s", *variant, strings.Join(zoo.NB201Variants, ", "))
	}
	type job struct {
		index int
		arch  string
		file  string
	}
	var jobs []job
	if *archs != "" {
		f, err := os.Open(*archs)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for i := 0; sc.Scan(); i++ {
			if a := strings.TrimSpace(sc.Text()); a != "" {
				jobs = append(jobs, job{-1, a, fmt.Sprintf("arch%d.onnx", i)})
			}
		}
	} else {
		sel := zoo.NB201Selection{All: *all, Sample: *sample, Seed: *seed}
		if *indexList != "" {
			for _, s := range strings.Split(*indexList, ",") {
				i, err := strconv.Atoi(strings.TrimSpace(s))
				if err != nil {
					return usagef("--index: bad index %q", s)
				}
				sel.Indices = append(sel.Indices, i)
			}
		}
		if !sel.All && sel.Sample <= 0 && len(sel.Indices) == 0 {
			return usagef("choose --all, --sample N, --index LIST or --archs FILE")
		}
		picks, err := zoo.SelectNB201(sel)
		if err != nil {
			return err
		}
		for _, p := range picks {
			jobs = append(jobs, job{p.Index, p.Arch, fmt.Sprintf("%d.onnx", p.Index)})
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	for _, j := range jobs {
		m, err := zoo.NB201(j.arch, zoo.NB201Options{Classes: *classes, Seed: *seed + uint64(max(j.index, 0)), Index: j.index, Variant: *variant})
		if err != nil {
			return err
		}
		data, err := m.Marshal()
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(*out, j.file), data, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "wrote %d NAS-Bench-201 networks to %s\n", len(jobs), *out)
	return nil
}

// truthColumn returns one numeric column of a ground-truth table read from
// path, keyed by its key column.
func truthColumn(t *zoo.Truth, path, col string) (map[string]float64, error) {
	out := map[string]float64{}
	for _, r := range t.Rows {
		if v, ok := r.Numbers[col]; ok {
			out[r.Key] = v
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no numeric column %q (columns: %v)", path, col, t.Columns)
	}
	return out, nil
}

// evalFlags are the ground-truth flags of rank and eval.
type evalFlags struct {
	truth, key, col, plot, baseline string
	title                           string // of the plot (set by demo, not a flag)
	// ensembles are the ensemble columns among the names evaluated (set
	// by the command from --ensemble): vote ensembles also get the paper's
	// pairwise measure.
	ensembles []ranking.Ensemble
	// The learned ensemble: fitted on learnedK labelled models, reported
	// apart.
	learnedK       int
	learnedSeed    uint64
	learnedProxies string
	learnedFit     string // the truth column it is fitted on (default: col)
}

func (f *evalFlags) register(fs *flag.FlagSet, truthDefault, truthHelp string) {
	fs.StringVar(&f.truth, "truth", truthDefault, truthHelp)
	fs.StringVar(&f.key, "key", "index", "key column of --truth (matched with the NAS-Bench-201 index or the model name)")
	fs.StringVar(&f.col, "truth-col", "cifar10_test", "ground-truth column")
	fs.StringVar(&f.plot, "plot", "", "write a scatter plot per proxy to FILE.png")
	fs.StringVar(&f.baseline, "baseline", "", "ground-truth columns to rank by as baselines, comma-separated (e.g. cifar10_valid_epoch12)")
	fs.IntVar(&f.learnedK, "learned", 0, "also fit a learned ensemble (ridge regression on the proxies' log ranks) on K labelled models drawn with --learned-seed, and evaluate it on the others only (reported apart: it needs training)")
	fs.Uint64Var(&f.learnedSeed, "learned-seed", 1, "seed of the labelled models the learned ensemble is fitted on")
	fs.StringVar(&f.learnedProxies, "learned-proxies", "", "proxies the learned ensemble combines, comma-separated (default: every proxy column)")
	fs.StringVar(&f.learnedFit, "learned-fit", "", "ground-truth column of --truth the learned ensemble is fitted on (default: --truth-col; e.g. fit on cifar100_valid, evaluate on cifar100_test_nats)")
}

// evaluate prints the rank statistics of the proxies in names, then of the
// --baseline columns (as "baseline:COL"), against the ground truth, and
// draws the proxies' plot when --plot is set.
func (f *evalFlags) evaluate(w io.Writer, records []ranking.Record, names []string, format string) error {
	t, err := zoo.ReadTruth(f.truth, f.key)
	if err != nil {
		return err
	}
	return f.evaluateTruth(w, t, records, names, format)
}

// evaluateTruth is evaluate with the ground truth already read from f.truth.
func (f *evalFlags) evaluateTruth(w io.Writer, t *zoo.Truth, records []ranking.Record, names []string, format string) error {
	tv, err := truthColumn(t, f.truth, f.col)
	if err != nil {
		return err
	}
	stats := ranking.Evaluate(records, tv, names)
	rows := slices.Clone(names)
	po := &ranking.PlotOptions{Title: f.title}
	for _, col := range strings.Split(f.baseline, ",") {
		if col = strings.TrimSpace(col); col == "" {
			continue
		}
		bv, err := truthColumn(t, f.truth, col)
		if err != nil {
			return fmt.Errorf("--baseline: %w", err)
		}
		if s, ok := ranking.EvaluateBaseline(records, tv, bv); ok {
			stats["baseline:"+col] = s
		}
		rows = append(rows, "baseline:"+col)
		po.Baselines = append(po.Baselines, ranking.Baseline{Name: col, Values: bv})
	}
	columns := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return slices.Contains(ensembleNames(f.ensembles), n) })
	fit := tv
	if f.learnedK > 0 && f.learnedFit != "" {
		if fit, err = truthColumn(t, f.truth, f.learnedFit); err != nil {
			return fmt.Errorf("--learned-fit: %w", err)
		}
	}
	learned, err := f.learned(records, fit, tv, columns)
	if err != nil {
		return err
	}
	if format == "json" {
		votes := map[string]float64{}
		for _, e := range f.ensembles {
			if e.Method == ranking.Vote {
				if acc, n := ranking.VotePairAccuracy(records, tv, e); n >= 2 {
					votes[e.Name] = acc
				}
			}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"truth": f.col, "proxies": stats, "vote_pair_accuracy": votes, "learned": learned}); err != nil {
			return err
		}
	} else {
		if err := writeEval(w, stats, rows, f.col, format); err != nil {
			return err
		}
		if err := writeEnsembleNotes(w, records, tv, f.ensembles, learned); err != nil {
			return err
		}
	}
	if f.plot != "" {
		return ranking.Plot(f.plot, records, tv, names, f.col, po)
	}
	return nil
}

func runRank(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("rank", stderr)
	var sf scoreFlags
	sf.register(fs)
	setUsage(fs, "zerocost rank PATH... [flags] (manifests may give each model an inputs column, specifications separated by ';', and an output column)")
	workers := fs.Int("workers", 0, "parallel workers (default: the number of cores; ONNX Runtime threads are split among them)")
	results := fs.String("results", "", "JSONL results file: appended per model, and read to resume")
	sortBy := fs.String("sort", "", "rank by a proxy, an --ensemble column, or vote, meanrank or logrank over all the --proxies; default: the first proxy")
	var el ensembleList
	fs.Var(&el, "ensemble", ensembleHelp)
	format := fs.String("format", "table", "output format: table, json or csv")
	shardFlag := fs.String("shard", "", "score only part I/N of the collection (0 ≤ I < N; by NAS-Bench-201 index or content hash); default: from a Kubernetes Indexed Job ($"+ranking.EnvK8sIndex+" with --shards or $"+ranking.EnvShards+") or a Slurm job array ($"+ranking.EnvSlurmID+", $"+ranking.EnvSlurmCount+"); off: the whole collection")
	shards := fs.Int("shards", 0, "the number of shards N, with the index from $"+ranking.EnvK8sIndex+" or $"+ranking.EnvSlurmID)
	var ef evalFlags
	ef.register(fs, "", "ground-truth CSV to evaluate the ranking against (--key, --truth-col, --plot and --baseline apply with it)")
	paths, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return usagef("want folders, ONNX files, manifests or nb201: sources (nb201:all, nb201:sample=N) to rank")
	}
	names, err := sf.ProxyNames()
	if err != nil {
		return err
	}
	if *sortBy == "" {
		*sortBy = names[0]
	}
	ens, err := el.resolve(names, "none")
	if err != nil {
		return err
	}
	columns := append(slices.Clone(names), ensembleNames(ens)...)
	if !slices.Contains(columns, *sortBy) && !slices.Contains(ranking.Methods, *sortBy) {
		return usagef("--sort must be one of the proxies or ensembles (%s) or %s over the proxies, got %q", strings.Join(columns, ", "), strings.Join(ranking.Methods, ", "), *sortBy)
	}
	so, err := sf.sessionOptions()
	if err != nil {
		return err
	}
	shard, shardFrom, err := parseShard(*shardFlag, *shards, os.Getenv)
	if err != nil {
		return err
	}
	opts, err := ranking.RequestOptions(&sf.Request, so)
	if err != nil {
		return err
	}
	opts.Workers, opts.Results = *workers, *results
	entries, err := collect(paths)
	if err != nil {
		return err
	}
	if shard.N > 1 {
		all := len(entries)
		entries = shard.Select(entries)
		fmt.Fprintf(stderr, "rank: shard %s%s: %d of %d models\n", shard, shardFrom, len(entries), all)
		if *results == "" {
			fmt.Fprintln(stderr, "rank: warning: a shard without --results: nothing to merge afterwards")
		}
	}
	if err := runtime.Init(sf.ortLib); err != nil {
		return err
	}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		opts.Progress = stderr
	}
	var stats ranking.RunStats
	opts.Stats = &stats
	records, err := ranking.Run(ctx, entries, opts)
	if stats.Scored > 0 {
		fmt.Fprintln(stderr, "rank: "+stats.Summary())
	}
	if errors.Is(err, context.Canceled) {
		scored := 0
		for _, r := range records {
			if r.Name != "" {
				scored++
			}
		}
		if *results == "" {
			return fmt.Errorf("interrupted after %d of %d models (without --results nothing was kept)", scored, len(entries))
		}
		return fmt.Errorf("interrupted after %d of %d models; every finished model is in %s: run the same command again to go on", scored, len(entries), *results)
	}
	if err != nil {
		return err
	}
	// Ensembles are computed over this collection now, never stored.
	records, ensembleNotes := ranking.WithEnsembles(records, ens)
	ranking.Sort(records, *sortBy, names)
	if err := writeRanking(stdout, records, columns, *format); err != nil {
		return err
	}
	if *format == "table" {
		writeFooter(stdout, "ensembles", nil, nil, ensembleNotes...)
	}
	failed := 0
	for _, r := range records {
		if r.Error != "" {
			failed++
		}
	}
	if ef.truth != "" {
		fmt.Fprintln(stdout)
		ef.ensembles = ens
		if err := ef.evaluate(stdout, records, columns, *format); err != nil {
			return err
		}
		if ef.plot != "" {
			fmt.Fprintf(stderr, "wrote %s\n", ef.plot)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d models failed (see the error column)", failed, len(records))
	}
	return nil
}

// parseShard returns the shard of rank's --shard and --shards flags, or of
// the environment (getenv) when --shard is not given, and where it came
// from (for the progress line).
func parseShard(flagValue string, shards int, getenv func(string) string) (ranking.Shard, string, error) {
	if shards < 0 {
		return ranking.Shard{}, "", usagef("--shards must be >= 1, got %d", shards)
	}
	switch flagValue {
	case "off":
		return ranking.All, "", nil
	case "":
		s, from, ok, err := ranking.ShardFromEnv(getenv, shards)
		if err != nil {
			return s, "", usagef("%v", err)
		}
		if ok {
			from = " (from " + from + ")"
		}
		return s, from, nil
	}
	s, err := ranking.ParseShard(flagValue)
	if err != nil {
		return s, "", usagef("--shard: %v", err)
	}
	if shards != 0 && shards != s.N {
		return s, "", usagef("--shard %s and --shards %d disagree", flagValue, shards)
	}
	return s, "", nil
}

// collect lists the models of folders, files, manifests and nb201:
// sources (built in memory from the architecture list built into zoo); a
// malformed nb201: source is a usage error.
func collect(paths []string) ([]ranking.Entry, error) {
	for _, p := range paths {
		if strings.HasPrefix(p, zoo.NB201SourcePrefix) {
			if _, err := zoo.ParseNB201Source(p); err != nil {
				return nil, usagef("%v", err)
			}
		}
	}
	return ranking.CollectSources(paths)
}

func writeRanking(w io.Writer, records []ranking.Record, names []string, format string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(records)
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write(append(append([]string{"rank", "name", "key", "path"}, names...), "error"))
		for i, r := range records {
			row := []string{strconv.Itoa(i + 1), r.Name, r.Key, r.Path}
			for _, p := range names {
				row = append(row, fmtFloat(ranking.Value(r, p)))
			}
			cw.Write(append(row, r.Error))
		}
		cw.Flush()
		return cw.Error()
	}
	// Failed cells stay empty and the messages go to a footer, so that the
	// columns keep their width; synflow-like columns hold log10 values.
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "RANK\tNAME")
	for _, p := range names {
		fmt.Fprintf(tw, "\t%s", strings.ToUpper(columnName(records, p)))
	}
	fmt.Fprintln(tw, "\tFAILED")
	var footer []string
	for i, r := range records {
		fmt.Fprintf(tw, "%d\t%s", i+1, r.Name)
		for _, p := range names {
			if v := ranking.Value(r, p); math.IsNaN(v) {
				fmt.Fprint(tw, "\t")
			} else {
				fmt.Fprintf(tw, "\t%.4g", v)
			}
		}
		switch {
		case r.Error != "":
			fmt.Fprint(tw, "\tall")
			footer = append(footer, fmt.Sprintf("%s: %s", r.Name, r.Error))
		case len(r.Errors) > 0:
			failed := slices.Sorted(maps.Keys(r.Errors))
			fmt.Fprintf(tw, "\t%s", strings.Join(failed, ","))
			for _, p := range failed {
				footer = append(footer, fmt.Sprintf("%s: %s: %s", r.Name, p, r.Errors[p]))
			}
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	writeFooter(w, "errors", nil, nil, footer...)
	writeFooter(w, "notes", nil, nil, groupedNotes(records)...)
	return nil
}

// groupedNotes lists each distinct note of the records once, with the
// number of models it applies to.
func groupedNotes(records []ranking.Record) []string {
	count := map[string]int{}
	var order []string
	for _, r := range records {
		for _, n := range r.Notes {
			if count[n] == 0 {
				order = append(order, n)
			}
			count[n]++
		}
	}
	lines := make([]string, len(order))
	for i, n := range order {
		lines[i] = fmt.Sprintf("(%d of %d models) %s", count[n], len(records), n)
	}
	return lines
}

// columnName is the table header of a proxy: log10(NAME) when the records
// hold the proxy as a log.
func columnName(records []ranking.Record, proxy string) string {
	for _, r := range records {
		if p := r.Proxies[proxy]; p != nil && p.Log10 != nil {
			return "log10(" + proxy + ")"
		}
	}
	return proxy
}

func writeEval(w io.Writer, stats map[string]ranking.Stats, names []string, col, format string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"truth": col, "proxies": stats})
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "PROXY\tN\tSPEARMAN\tKENDALL\tPEARSON\tTOP10_PRECISION\tPAIR_ACCURACY\t(against %s)\n", col)
	for _, p := range names {
		s, ok := stats[p]
		if !ok {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t\n", p, s.N, s.Spearman, s.Kendall, s.Pearson, s.Top10Precision, s.PairAccuracy)
	}
	return tw.Flush()
}

func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("eval", stderr)
	var ef evalFlags
	ef.register(fs, defaultTruth(), "ground-truth CSV")
	format := fs.String("format", "table", "output format: table or json")
	var el ensembleList
	fs.Var(&el, "ensemble", ensembleHelp+" (default: builtin)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one RESULTS.jsonl")
	}
	records, err := ranking.ReadResults(pos[0])
	if err != nil {
		return err
	}
	if len(records) == 0 {
		return fmt.Errorf("%s holds no results", pos[0])
	}
	// One record per model (a retried failure, a repeated or merged run
	// leaves several lines), then the ensembles over that collection.
	records = ranking.Latest(records)
	names := columnsOf(records)
	ens, err := el.resolve(names, "builtin")
	if err != nil {
		return err
	}
	records, notes := ranking.WithEnsembles(records, ens)
	ef.ensembles = ens
	if err := ef.evaluate(stdout, records, append(names, ensembleNames(ens)...), *format); err != nil {
		return err
	}
	if *format != "json" {
		writeFooter(stdout, "ensembles", nil, nil, notes...)
	}
	return nil
}
