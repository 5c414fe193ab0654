package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/engine"
	"github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/ranking"
	"github.com/zerocost/zerocost/runtime"
	"github.com/zerocost/zerocost/zoo"
)

func runVersion(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", stderr)
	ortLib := fs.String("ort-lib", "", "path of the ONNX Runtime shared library")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "zerocost %s (%s, %s/%s)\n", version, goruntime.Version(), goruntime.GOOS, goruntime.GOARCH)
	if err := runtime.Init(*ortLib); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "onnxruntime %s (%s)\n", runtime.Version(), runtime.LoadedLibrary())
	var ps []string
	for _, p := range runtime.Providers() {
		ps = append(ps, string(p))
	}
	fmt.Fprintf(stdout, "execution providers: %s\n", strings.Join(ps, ", "))
	return nil
}

// defaultDataDir is where the shared data sits relative to the repository.
func defaultDataDir() string {
	if root := runtime.RepositoryRoot(); root != "" {
		return filepath.Join(filepath.Dir(root), "shared", "data")
	}
	return filepath.Join("..", "shared", "data")
}

func runDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("doctor", stderr)
	ortLib := fs.String("ort-lib", "", "path of the ONNX Runtime shared library")
	dataDir := fs.String("data", defaultDataDir(), "folder of the shared data (nb201/, cifar10/)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	problems := 0
	check := func(ok bool, what, fix string) {
		if ok {
			fmt.Fprintf(stdout, "ok    %s\n", what)
			return
		}
		problems++
		fmt.Fprintf(stdout, "FAIL  %s\n      fix: %s\n", what, fix)
	}
	fmt.Fprintf(stdout, "zerocost %s, built with %s (%s/%s)\n", version, goruntime.Version(), goruntime.GOOS, goruntime.GOARCH)
	_, goErr := exec.LookPath("go")
	check(goErr == nil, "go on PATH (needed to build zerocost)", "install Go 1.26 and put it on PATH")
	_, gccErr := exec.LookPath("gcc")
	check(gccErr == nil, "gcc on PATH (cgo)", "apt-get install gcc")
	if err := runtime.Init(*ortLib); err != nil {
		check(false, "ONNX Runtime shared library", strings.ReplaceAll(err.Error(), "\n", "\n      "))
	} else {
		v := runtime.Version()
		check(true, fmt.Sprintf("ONNX Runtime %s loaded from %s", v, runtime.LoadedLibrary()), "")
		check(v == runtime.WantVersion, fmt.Sprintf("ONNX Runtime version is %s", runtime.WantVersion),
			fmt.Sprintf("zerocost is built against %s; run %s, or point --ort-lib at a %s build", runtime.WantVersion, runtime.InstallHint, runtime.WantVersion))
		var ps []string
		for _, p := range runtime.Providers() {
			ps = append(ps, string(p))
		}
		fmt.Fprintf(stdout, "info  execution providers: %s\n", strings.Join(ps, ", "))
		m := zoo.TinyCNN(1, 10)
		_, err := forwardChecksums(m, []int64{3, 16, 16}, 2, 1, runtime.SessionOptions{})
		check(err == nil, "a forward pass of the built-in tiny CNN", fmt.Sprintf("%v", err))
	}
	for _, f := range []string{"nb201/nb201_accuracy.csv", "cifar10/train_1000.bin", "cifar10/test_1000.bin"} {
		p := filepath.Join(*dataDir, f)
		_, err := os.Stat(p)
		check(err == nil, "data file "+p, "pass --data DIR naming the folder that holds nb201/ and cifar10/ (see ../shared/data/README.md)")
	}
	if problems > 0 {
		return fmt.Errorf("%d problem(s) found", problems)
	}
	fmt.Fprintln(stdout, "all checks passed")
	return nil
}

// outputSummary is the shape and checksums of one output tensor.
type outputSummary struct {
	Name  string
	Shape []int64
	Sum   float64
	L2    float64
}

// forwardChecksums runs m once on standard-normal inputs (seeded) and
// summarises every output.
func forwardChecksums(m *onnximport.Model, shape []int64, batch int64, seed uint64, opts runtime.SessionOptions) ([]outputSummary, error) {
	if err := engine.CheckForwardMemory(m, shape, batch, opts.MaxMemory); err != nil {
		return nil, err
	}
	feeds := map[string]*runtime.Tensor{}
	for i, in := range m.Inputs() {
		dims, err := in.ResolveShape(shape, batch)
		if err != nil {
			return nil, usagef("%s: %v", m.Name(), err)
		}
		switch in.ElemType {
		case onnximport.Float:
			feeds[in.Name] = data.RandomNormal(dims, seed+uint64(i))
		case onnximport.Double:
			feeds[in.Name] = runtime.NewFloat64(dims, data.RandomNormal(dims, seed+uint64(i)).Float64s())
		case onnximport.Int64:
			feeds[in.Name] = runtime.NewInt64(dims, make([]int64, runtime.NumElements(dims)))
		default:
			return nil, fmt.Errorf("%s: input %q has element type %d; zerocost feeds float32, float64 and int64 inputs", m.Name(), in.Name, in.ElemType)
		}
	}
	data, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	s, err := runtime.NewSession(data, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.Name(), err)
	}
	defer s.Destroy()
	outs, err := s.Run(feeds)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.Name(), err)
	}
	var sums []outputSummary
	for _, name := range s.Outputs() {
		t := outs[name]
		sum := outputSummary{Name: name, Shape: t.Shape}
		for _, v := range t.Float64s() {
			sum.Sum += v
			sum.L2 += v * v
		}
		sum.L2 = math.Sqrt(sum.L2)
		sums = append(sums, sum)
	}
	return sums, nil
}

func printChecksums(w io.Writer, sums []outputSummary) {
	for _, s := range sums {
		fmt.Fprintf(w, "output %s: shape %v  sum %.6g  l2 %.6g\n", s.Name, s.Shape, s.Sum, s.L2)
	}
}

// inputShape is the --input-shape flag's shape or, when the flag is empty,
// the natural input size the model records (zoo networks do; see
// onnximport.InputShapeKey); nil when neither gives one.
func inputShape(flag string, m *onnximport.Model) ([]int64, error) {
	shape, err := parseShape(flag)
	if err != nil {
		return nil, usagef("--input-shape: %v", err)
	}
	if len(shape) > 0 {
		return shape, nil
	}
	if shape, err = m.NaturalInputShape(); err != nil {
		return nil, fmt.Errorf("%w with --input-shape", err)
	}
	return shape, nil
}

func runModel(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run-model", stderr)
	var rf runtimeFlags
	rf.register(fs)
	shapeFlag := fs.String("input-shape", "", "input shape, whole (1x3x32x32) or without the batch dimension (3x32x32)")
	batch := fs.Int64("batch-size", 1, "batch size for a dynamic batch dimension")
	seed := fs.Uint64("seed", 1, "seed of the random input")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one MODEL.onnx, got %d arguments", len(pos))
	}
	if _, err := parseShape(*shapeFlag); err != nil {
		return usagef("--input-shape: %v", err)
	}
	opts, err := rf.sessionOptions()
	if err != nil {
		return err
	}
	m, err := onnximport.Load(pos[0])
	if err != nil {
		return err
	}
	shape, err := inputShape(*shapeFlag, m)
	if err != nil {
		return err
	}
	if err := runtime.Init(rf.ortLib); err != nil {
		return err
	}
	sums, err := forwardChecksums(m, shape, *batch, *seed, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "model %s (opset %d, %d nodes) on %s\n", pos[0], m.Opset(), len(m.Graph().GetNode()), opts.Provider)
	printChecksums(stdout, sums)
	return nil
}

// demoProxies are the data-free proxies the demo ranks by: synflow (the
// paper's best) and the two baselines any proxy must beat.
var demoProxies = []string{"synflow", "params", "flops"}

// demoBaseline is the ground-truth column of the conventional cheap
// alternative to a proxy: the accuracy after 12 epochs of training.
const demoBaseline = "cifar10_valid_epoch12"

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", stderr)
	var rf runtimeFlags
	rf.register(fs)
	sample := fs.Int("sample", 1000, fmt.Sprintf("number of NAS-Bench-201 networks in the seeded sample (1..%d)", zoo.NB201Size))
	seed := fs.Uint64("seed", 1, "seed of the sample and the weights")
	truthPath := fs.String("truth", defaultTruth(), "NAS-Bench-201 ground truth (without it the ranking is shown without correlations or figure)")
	plotPath := fs.String("plot", filepath.Join("out", "nb201_demo.png"), "figure: each proxy and the 12-epoch baseline against CIFAR-10 test accuracy")
	workers := fs.Int("workers", 0, "parallel workers (default: the number of cores, one ONNX Runtime thread each)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	so, err := rf.sessionOptions()
	if err != nil {
		return err
	}
	if *sample < 1 || *sample > zoo.NB201Size {
		return usagef("--sample must be 1..%d, got %d", zoo.NB201Size, *sample)
	}
	src, err := zoo.ParseNB201Source(fmt.Sprintf("%ssample=%d:seed=%d", zoo.NB201SourcePrefix, *sample, *seed))
	if err != nil {
		return err
	}
	entries, err := ranking.NB201Entries(src)
	if err != nil {
		return err
	}
	truth, err := zoo.ReadTruth(*truthPath, "index")
	if err != nil {
		fmt.Fprintf(stderr, "demo: no ground truth (%v; pass --truth FILE): the ranking is shown without correlations or figure\n", err)
		truth = nil
	}
	if err := runtime.Init(rf.ortLib); err != nil {
		return err
	}
	if *workers <= 0 {
		*workers = goruntime.NumCPU()
	}
	fmt.Fprintf(stdout, "zerocost demo: ranking %d NAS-Bench-201 networks (a seeded sample of the 15,625) before training them.\n", len(entries))
	fmt.Fprintf(stdout, "Each network is built in memory with random weights (seed %d + index) and scored with the data-free\n", *seed)
	fmt.Fprintf(stdout, "proxies %s: no data, no training (%d workers).\n\n", strings.Join(demoProxies, ", "), *workers)
	opts := ranking.Options{Proxies: demoProxies, Data: data.DataSpec{BatchSize: 1, Seed: *seed}, Workers: *workers}
	opts.Score.Session = so
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		opts.Progress = stderr
	}
	start := time.Now()
	records, err := ranking.Run(ctx, entries, opts)
	if err != nil {
		return err
	}
	took := time.Since(start)
	failed := 0
	for _, r := range records {
		if r.Error != "" || len(r.Errors) > 0 {
			failed++
		}
	}
	fmt.Fprintf(stdout, "scored %d networks in %s (%.1f networks/s on %d workers)\n\n", len(records)-failed, took.Round(100*time.Millisecond),
		float64(len(records))/took.Seconds(), *workers)
	ranking.Sort(records, demoProxies[0], demoProxies)
	var acc map[string]float64
	if truth != nil {
		if acc, err = truthColumn(truth, *truthPath, "cifar10_test"); err != nil {
			return err
		}
	}
	writeDemoTop(stdout, records, acc, 10)
	if truth != nil {
		fmt.Fprintf(stdout, "\nHow well each ranking agrees with the test accuracy after the full 200 epochs of training, over the %d\n", len(records))
		fmt.Fprintf(stdout, "(baseline:%s ranks by the accuracy after 12 epochs of training, the usual cheap alternative):\n\n", demoBaseline)
		if err := os.MkdirAll(filepath.Dir(*plotPath), 0o755); err != nil {
			return err
		}
		ef := evalFlags{truth: *truthPath, key: "index", col: "cifar10_test", plot: *plotPath, baseline: demoBaseline,
			title: fmt.Sprintf("NAS-Bench-201: %d networks ranked at initialisation vs. trained CIFAR-10 test accuracy", len(records))}
		if err := ef.evaluateTruth(stdout, truth, records, demoProxies, "table"); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nwrote %s\n", *plotPath)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d networks failed", failed, len(records))
	}
	return nil
}

// writeDemoTop lists the first n records (sorted best first) with their
// ground-truth accuracy and its rank within the records, and sums them up.
func writeDemoTop(w io.Writer, records []ranking.Record, acc map[string]float64, n int) {
	n = min(n, len(records))
	trueRank := map[string]int{}
	var accs []float64
	if acc != nil {
		keys := make([]string, 0, len(records))
		for _, r := range records {
			if _, ok := acc[r.Key]; ok {
				keys = append(keys, r.Key)
				accs = append(accs, acc[r.Key])
			}
		}
		slices.SortStableFunc(keys, func(a, b string) int { return cmp.Compare(acc[b], acc[a]) })
		for i, k := range keys {
			trueRank[k] = i + 1
		}
	}
	fmt.Fprintf(w, "The %d networks synflow ranks highest:\n\n", n)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "RANK\tINDEX\tSYNFLOW_LOG10\tPARAMS\tMFLOPS")
	if acc != nil {
		fmt.Fprint(tw, "\tCIFAR10_TEST\tTRUE_RANK")
	}
	fmt.Fprintln(tw, "\tCELL")
	var topSum float64
	topHits := 0
	for i, r := range records[:n] {
		var cell string
		if idx, err := strconv.Atoi(r.Key); err == nil {
			if arch, err := zoo.NB201Arch(idx); err == nil {
				cell = shortCell(arch)
			}
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s", i+1, r.Key, demoCell(r, "synflow", "%.2f", 1), demoCell(r, "params", "%.0f", 1), demoCell(r, "flops", "%.1f", 1e-6))
		if acc != nil {
			a, ok := acc[r.Key]
			if ok {
				topSum += a
				if trueRank[r.Key] <= int(math.Ceil(0.1*float64(len(accs)))) { // as ranking.TopPrecision
					topHits++
				}
				fmt.Fprintf(tw, "\t%.2f\t%d", a, trueRank[r.Key])
			} else {
				fmt.Fprint(tw, "\t\t")
			}
		}
		fmt.Fprintf(tw, "\t%s\n", cell)
	}
	tw.Flush()
	fmt.Fprintln(w, "(CELL: the edges into cell nodes 1 | 2 | 3 from the nodes before them: c3, c1 conv 3×3, 1×1; avg pool; skip; - none)")
	if len(accs) == 0 {
		return
	}
	mean := 0.0
	for _, a := range accs {
		mean += a
	}
	mean /= float64(len(accs))
	fmt.Fprintf(w, "\nThese %d average %.2f%% CIFAR-10 test accuracy after training (all %d: %.2f%%, best %.2f%%);\n", n, topSum/float64(n), len(accs), mean, slices.Max(accs))
	fmt.Fprintf(w, "%d of them are in the sample's true top 10%%, and none of the %d networks was trained to find them.\n", topHits, len(records))
}

// shortCell writes a NAS-Bench-201 architecture string compactly, node by
// node: "c3 | c3 c1 | skip - avg".
func shortCell(arch string) string {
	short := map[string]string{"none": "-", "skip_connect": "skip", "nor_conv_1x1": "c1", "nor_conv_3x3": "c3", "avg_pool_3x3": "avg"}
	nodes, err := zoo.ParseNB201(arch)
	if err != nil {
		return arch
	}
	var parts []string
	for _, edges := range nodes {
		var ops []string
		for _, e := range edges {
			ops = append(ops, short[e.Op])
		}
		parts = append(parts, strings.Join(ops, " "))
	}
	return strings.Join(parts, " | ")
}

// demoCell formats a proxy's value (scaled), or "" when it is missing.
func demoCell(r ranking.Record, proxy, format string, scale float64) string {
	v := ranking.Value(r, proxy)
	if math.IsNaN(v) {
		return ""
	}
	return fmt.Sprintf(format, v*scale)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
