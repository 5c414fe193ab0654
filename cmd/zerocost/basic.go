package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"

	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/onnximport"
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
	shape, err := parseShape(*shapeFlag)
	if err != nil {
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

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", stderr)
	var rf runtimeFlags
	rf.register(fs)
	sample := fs.Int("sample", 24, "number of NAS-Bench-201 networks in the seeded sample")
	seed := fs.Uint64("seed", 1, "seed of the sample and the weights")
	truth := fs.String("truth", defaultTruth(), "NAS-Bench-201 ground truth (the correlation table is skipped when it is missing)")
	plotPath := fs.String("plot", filepath.Join("out", "nb201_demo.png"), "scatter plot of each proxy against CIFAR-10 accuracy")
	workers := fs.Int("workers", 0, "parallel workers (default: the number of cores)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if _, err := rf.sessionOptions(); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "zerocost-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	common := []string{"--ep", rf.ep, "--ort-lib", rf.ortLib}
	haveTruth := true
	if _, err := os.Stat(*truth); err != nil {
		// Without the ground truth there are no benchmark indices: draw
		// architecture strings instead and skip the correlation table.
		haveTruth = false
		fmt.Fprintf(stderr, "demo: no ground truth at %s (pass --truth): ranking random architectures without correlations\n", *truth)
		rng := rand.New(rand.NewPCG(*seed, 0x64656d6f))
		var archs strings.Builder
		for i := 0; i < *sample; i++ {
			archs.WriteString(zoo.RandomNB201Arch(rng) + "\n")
		}
		archFile := filepath.Join(dir, "archs.txt")
		if err := os.WriteFile(archFile, []byte(archs.String()), 0o644); err != nil {
			return err
		}
		err = runZoo(ctx, []string{"nb201", "--out", filepath.Join(dir, "nets"), "--archs", archFile, "--seed", fmt.Sprint(*seed)}, stdout, stderr)
	} else {
		err = runZoo(ctx, []string{"nb201", "--out", filepath.Join(dir, "nets"), "--sample", fmt.Sprint(*sample), "--seed", fmt.Sprint(*seed), "--truth", *truth}, stdout, stderr)
	}
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*plotPath), 0o755); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ranking them with the data-free proxies (one all-ones sample, no data needed):\n\n")
	rankArgs := append([]string{filepath.Join(dir, "nets"), "--proxies", "datafree", "--batch-size", "1", "--input-shape", "3x32x32",
		"--workers", fmt.Sprint(*workers)}, common...)
	if haveTruth {
		rankArgs = append(rankArgs, "--truth", *truth, "--plot", *plotPath)
	}
	return runRank(ctx, rankArgs, stdout, stderr)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
