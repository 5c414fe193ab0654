// Command zcbench times every proxy in zerocost and in the PyTorch reference
// implementation (bench/torch_proxies.py, Debian's PyTorch) on the same
// machine in one run, and prints the ratio:
//
//	go run ./bench/zcbench              # nb201_a at batch 64 and resnet18 at batch 16
//	go run ./bench/zcbench -models nb201_a -reps 3
//
// zerocost times each proxy alone (its own graph, session and runs) and the
// whole suite together (shared runs); the reference runs each proxy
// separately, as its code does. Both use 2 threads whose idle time is spent
// sleeping: ONNX Runtime's spinning is off (runtime.SessionOptions.Spin) and
// the reference runs with OMP_WAIT_POLICY=PASSIVE (-omp-wait), its faster
// setting on a machine shared with other work. The load average is printed
// with each table.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/internal/torchfixture"
	"github.com/zerocost/zerocost/proxies"
	"github.com/zerocost/zerocost/runtime"
)

type benchCase struct {
	name  string
	batch int64
	size  int64
}

var cases = map[string]benchCase{
	"nb201_a":  {"nb201_a", 64, 32},
	"resnet18": {"resnet18", 16, 64},
}

func main() {
	models := flag.String("models", "nb201_a,resnet18", "fixture networks to time: nb201_a, resnet18")
	reps := flag.Int("reps", 3, "repetitions (the median is reported)")
	python := flag.String("python", "/usr/bin/python3", "Python with Debian's PyTorch (empty: skip the reference)")
	ompWait := flag.String("omp-wait", "PASSIVE", "OMP_WAIT_POLICY of the reference (empty: the environment's; PyTorch's OpenMP threads spin by default, which on a busy machine makes it several times slower)")
	flag.Parse()
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load average at start: %s", load)
	}
	if err := runtime.Init(""); err != nil {
		fail(err)
	}
	session := runtime.SessionOptions{Threads: 2}
	for _, name := range strings.Split(*models, ",") {
		c, ok := cases[name]
		if !ok {
			fail(fmt.Errorf("unknown model %q", name))
		}
		fx, err := torchfixture.Load(c.name, "train")
		if err != nil {
			fail(err)
		}
		batch := &data.Batch{Input: data.RandomNormal([]int64{c.batch, 3, c.size, c.size}, 1)}
		times := map[string]float64{}
		for _, p := range proxies.Default() {
			times[p] = median(*reps, func() error {
				res, err := proxies.Score(fx.Model, proxies.Options{Proxies: []string{p}, Batch: batch, Session: session})
				if err == nil && res.Errors[p] != "" {
					err = fmt.Errorf("%s", res.Errors[p])
				}
				return err
			})
		}
		paper := []string{"grad_norm", "snip", "grasp", "fisher", "jacob_cov", "plain", "synflow", "synflow_bn"}
		suite := median(*reps, func() error {
			_, err := proxies.Score(fx.Model, proxies.Options{Proxies: paper, Batch: batch, Session: session})
			return err
		})
		ref := map[string]float64{}
		if *python != "" {
			ref = reference(*python, *ompWait, c, *reps)
		}
		load, _ := os.ReadFile("/proc/loadavg")
		fmt.Printf("\n%s, batch %d, 3x%dx%d, 2 threads (load average at the end: %s)\n", c.name, c.batch, c.size, c.size, strings.TrimSpace(string(load)))
		tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "PROXY\tZEROCOST_S\tPYTORCH_S\tPYTORCH/ZEROCOST\t")
		refSum := 0.0
		names := proxies.Default()
		for _, p := range names {
			r, ok := ref[p]
			if ok && contains(paper, p) {
				refSum += r
			}
			fmt.Fprintf(tw, "%s\t%.2f\t%s\t%s\t\n", p, times[p], fmtRef(r, ok), ratio(r, times[p], ok))
		}
		fmt.Fprintf(tw, "paper suite (8)\t%.2f\t%s\t%s\t\n", suite, fmtRef(refSum, len(ref) > 0), ratio(refSum, suite, len(ref) > 0))
		tw.Flush()
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func fmtRef(v float64, ok bool) string {
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

func ratio(ref, ours float64, ok bool) string {
	if !ok || ours == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", ref/ours)
}

// median runs f reps times and returns the median wall time in seconds.
func median(reps int, f func() error) float64 {
	var ts []float64
	for i := 0; i < reps; i++ {
		t0 := time.Now()
		if err := f(); err != nil {
			fmt.Fprintln(os.Stderr, "zcbench:", err)
			return 0
		}
		ts = append(ts, time.Since(t0).Seconds())
	}
	sort.Float64s(ts)
	return ts[len(ts)/2]
}

// reference runs bench/torch_proxies.py and returns its timings.
func reference(python, ompWait string, c benchCase, reps int) map[string]float64 {
	script := filepath.Join(runtime.RepositoryRoot(), "bench", "torch_proxies.py")
	cmd := exec.Command(python, script, c.name, fmt.Sprint(c.batch), fmt.Sprint(c.size), fmt.Sprint(reps))
	if ompWait != "" {
		cmd.Env = append(os.Environ(), "OMP_WAIT_POLICY="+ompWait)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "zcbench: the PyTorch reference failed (%v): %s\ninstall it with `make oracle`\n", err, errb.String())
		return map[string]float64{}
	}
	times := map[string]float64{}
	if err := json.Unmarshal(out.Bytes(), &times); err != nil {
		fmt.Fprintf(os.Stderr, "zcbench: reading the reference timings: %v\n", err)
	}
	return times
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "zcbench:", err)
	os.Exit(1)
}
