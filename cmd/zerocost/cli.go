package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"sort"

	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/proxies"
	"github.com/zerocost/zerocost/runtime"
)

// version is zerocost's own version.
const version = "0.1.0"

// command is one subcommand: run gets the arguments after its name.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands map[string]command

func init() {
	commands = map[string]command{
		"version":   {"print zerocost's version, the ONNX Runtime version loaded and its execution providers", runVersion},
		"doctor":    {"check the ONNX Runtime library, Go/cgo and data paths, and say how to fix each problem", runDoctor},
		"run-model": {"run a plain forward pass of MODEL.onnx on random input and print output shapes and checksums", runModel},
		"demo":      {"the default job (make run): rank 1,000 NAS-Bench-201 networks before training and compare with their trained accuracy", runDemo},
		"gradcheck": {"check the gradient graph of MODEL.onnx against finite differences", runGradcheck},
		"score":     {"compute zero-cost proxies of MODEL.onnx", runScore},
		"layers":    {"print the layers, stage tensors and Relu nodes of MODEL.onnx that the proxies measure", runLayers},
		"zoo":       {"generate NAS-Bench-201 networks: zoo nb201 --out DIR (--all | --sample N | --index LIST | --archs FILE)", runZoo},
		"rank":      {"score and rank folders, files or manifests of models; --truth evaluates the ranking", runRank},
		"serve":     {"serve scoring and rank jobs over HTTP: POST /v1/score, POST /v1/rank, GET /v1/jobs/{id}, /healthz, /metrics", runServe},
		"search":    {"NAS search with zero-cost warm-up and move proposal: simulated on NAS-Bench-201 (search nb201) or on your collection with --train-cmd", runSearch},
		"eval":      {"evaluate a results file against ground truth (Spearman, Kendall, Pearson, top-10%, pairs)", runEval},
		"merge":     {"join the results files of a sharded rank into one: merge R1.jsonl R2.jsonl... -o ALL.jsonl", runMerge},
	}
}

// usageError marks errors in how zerocost was called (exit code 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// Main runs zerocost with args and returns the process exit code: 0 on
// success, 1 on failure, 2 on a usage error.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printHelp(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "zerocost: unknown command %q; run `zerocost help` for the list\n", args[0])
		return 2
	}
	err := runCommand(ctx, cmd, args[1:], stdout, stderr)
	var ue *usageError
	var se *proxies.SettingsError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue), errors.As(err, &se):
		fmt.Fprintf(stderr, "zerocost %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "zerocost %s: %v\n", args[0], err)
		return 1
	}
}

// runCommand runs cmd and turns a panic into an error: no input should
// cause one, and when a bug does, the user gets a message to report rather
// than a goroutine dump.
func runCommand(ctx context.Context, cmd command, args []string, stdout, stderr io.Writer) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error (please report it with the command and the model): %v\n%s", p, debug.Stack())
		}
	}()
	return cmd.run(ctx, args, stdout, stderr)
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "zerocost ranks neural networks before training with zero-cost proxies.")
	fmt.Fprintln(w, "\nUsage: zerocost COMMAND [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-10s %s\n", name, commands[name].summary)
	}
	fmt.Fprintln(w, "\nRun `zerocost COMMAND -h` for the flags of a command.")
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("zerocost "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args, allowing flags after positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// runtimeFlags are the flags every command that runs a model takes.
type runtimeFlags struct {
	ortLib    string
	ep        string
	threads   int
	device    int
	maxMemory string
}

func (r *runtimeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.ortLib, "ort-lib", "", "path of the ONNX Runtime shared library (default: $"+runtime.LibraryEnv+", the repository's .ort/, the user cache, the system loader path)")
	fs.StringVar(&r.ep, "ep", "cpu", "execution provider: cpu or cuda")
	fs.IntVar(&r.threads, "threads", 0, "ONNX Runtime intra-op threads (0: ONNX Runtime's default)")
	fs.IntVar(&r.device, "device", 0, "CUDA device id (with --ep cuda)")
	fs.StringVar(&r.maxMemory, "max-memory", "auto", fmt.Sprintf("refuse a model whose batch or session is estimated to need more memory than this (8GiB, 512MiB, 2e9; auto: %.0f%% of the memory available; none: no limit)", 100*runtime.DefaultMemoryShare))
}

func (r *runtimeFlags) sessionOptions() (runtime.SessionOptions, error) {
	p, err := runtime.ParseProvider(r.ep)
	if err != nil {
		return runtime.SessionOptions{}, usagef("--ep: %v", err)
	}
	if r.threads < 0 {
		return runtime.SessionOptions{}, usagef("--threads must be >= 0, got %d", r.threads)
	}
	limit, err := runtime.ParseBytes(r.maxMemory)
	if err != nil {
		return runtime.SessionOptions{}, usagef("--max-memory: %v", err)
	}
	return runtime.SessionOptions{Provider: p, Threads: r.threads, DeviceID: r.device, MaxMemory: limit}, nil
}

// parseShape parses "1x3x32x32" (or "3x32x32") into dimensions.
func parseShape(s string) ([]int64, error) { return data.ParseShape(s) }
