// Command zcprofile shows where the time of a proxy goes: it scores a
// fixture network with ONNX Runtime's profiler on and prints, per session
// that the proxies opened, the session's creation time, its runs, its
// number of nodes after optimisation, and the op types (and nodes) that
// took the most kernel time:
//
//	go run ./bench/zcprofile -model nb201_a -proxies grasp
//	go run ./bench/zcprofile -model resnet18 -batch 16 -size 64 -proxies fisher,jacob_cov -top 15
//
// Wall time of the whole Score call is printed too: what it spends outside
// the sessions (building the gradient graphs, shape inference, marshalling)
// is the difference. Profiling itself adds a little per node.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/internal/torchfixture"
	"github.com/zerocost/zerocost/proxies"
	"github.com/zerocost/zerocost/runtime"
)

func main() {
	model := flag.String("model", "nb201_a", "fixture network (testdata/torch)")
	batch := flag.Int64("batch", 64, "batch size")
	size := flag.Int64("size", 32, "image size")
	list := flag.String("proxies", "grasp", "proxies to score together (comma-separated)")
	threads := flag.Int("threads", 2, "intra-op threads")
	top := flag.Int("top", 10, "op types and nodes to list per session")
	keep := flag.String("keep", "", "folder to keep the JSON traces in (empty: a temporary one, removed)")
	cpu := flag.String("cpuprofile", "", "write a Go CPU profile of the Score call (the graph building outside ONNX Runtime) to this file")
	flag.Parse()
	if *cpu != "" {
		f, err := os.Create(*cpu)
		if err != nil {
			fmt.Fprintln(os.Stderr, "zcprofile:", err)
			os.Exit(1)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "zcprofile:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(*model, *batch, *size, strings.Split(*list, ","), *threads, *top, *keep); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "zcprofile:", err)
		os.Exit(1)
	}
}

func run(model string, batch, size int64, names []string, threads, top int, keep string) error {
	if err := runtime.Init(""); err != nil {
		return err
	}
	fx, err := torchfixture.Load(model, "train")
	if err != nil {
		return err
	}
	dir := keep
	if dir == "" {
		if dir, err = os.MkdirTemp("", "zcprofile"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	in := &data.Batch{Input: data.RandomNormal([]int64{batch, 3, size, size}, 1)}
	t0 := time.Now()
	res, err := proxies.Score(fx.Model, proxies.Options{Proxies: names, Batch: in,
		Session: runtime.SessionOptions{Threads: threads, Profile: filepath.Join(dir, "zc")}})
	if err != nil {
		return err
	}
	wall := time.Since(t0)
	for p, e := range res.Errors {
		fmt.Fprintf(os.Stderr, "zcprofile: %s failed: %s\n", p, e)
	}
	files, err := filepath.Glob(filepath.Join(dir, "zc*.json"))
	if err != nil {
		return err
	}
	sort.Strings(files)
	fmt.Printf("%s, batch %d, 3x%dx%d, %d threads, proxies %s: Score %.2f s wall, %d sessions\n",
		model, batch, size, size, threads, strings.Join(names, ","), wall.Seconds(), len(files))
	var inSessions float64
	for i, f := range files {
		s, err := readTrace(f)
		if err != nil {
			return err
		}
		inSessions += s.init + s.run
		fmt.Printf("\nsession %d: created in %.3f s, %d run(s) in %.3f s, %d nodes run, kernels %.3f s\n",
			i+1, s.init, s.runs, s.run, len(s.nodes), s.kernels)
		tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "OP\tNODES\tKERNEL_S\tSHARE\t")
		for _, o := range s.topOps(top) {
			fmt.Fprintf(tw, "%s\t%d\t%.3f\t%.1f%%\t\n", o.name, o.count, o.secs, 100*o.secs/s.kernels)
		}
		tw.Flush()
		tw = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "NODE\tOP\tKERNEL_S\tOUTPUT_SHAPE\t")
		for _, n := range s.topNodes(top) {
			fmt.Fprintf(tw, "%s\t%s\t%.3f\t%s\t\n", shorten(n.name, 70), n.op, n.secs, n.shape)
		}
		tw.Flush()
	}
	fmt.Printf("\noutside the sessions (graph building, shapes, marshalling, reductions): %.2f s\n", wall.Seconds()-inSessions)
	return nil
}

// event is one entry of ONNX Runtime's Chrome-trace profile.
type event struct {
	Cat  string `json:"cat"`
	Name string `json:"name"`
	Dur  int64  `json:"dur"` // microseconds
	Args struct {
		OpName      string            `json:"op_name"`
		OutputShape []json.RawMessage `json:"output_type_shape"`
	} `json:"args"`
}

type nodeTime struct {
	name, op, shape string
	secs            float64
}

type opTime struct {
	name  string
	count int
	secs  float64
}

type trace struct {
	init, run, kernels float64
	runs               int
	nodes              map[string]*nodeTime
}

func readTrace(path string) (*trace, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var evs []event
	if err := json.Unmarshal(raw, &evs); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t := &trace{nodes: map[string]*nodeTime{}}
	for _, e := range evs {
		secs := float64(e.Dur) / 1e6
		switch {
		case e.Cat == "Session" && e.Name == "session_initialization":
			t.init += secs
		case e.Cat == "Session" && e.Name == "model_run":
			t.run += secs
			t.runs++
		case e.Cat == "Node" && strings.HasSuffix(e.Name, "_kernel_time"):
			name := strings.TrimSuffix(e.Name, "_kernel_time")
			n := t.nodes[name]
			if n == nil {
				n = &nodeTime{name: name, op: e.Args.OpName}
				if len(e.Args.OutputShape) > 0 {
					n.shape = string(e.Args.OutputShape[0])
				}
				t.nodes[name] = n
			}
			n.secs += secs
			t.kernels += secs
		}
	}
	return t, nil
}

func (t *trace) topOps(k int) []opTime {
	by := map[string]*opTime{}
	for _, n := range t.nodes {
		o := by[n.op]
		if o == nil {
			o = &opTime{name: n.op}
			by[n.op] = o
		}
		o.count++
		o.secs += n.secs
	}
	var out []opTime
	for _, o := range by {
		out = append(out, *o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].secs > out[j].secs })
	return out[:min(k, len(out))]
}

func (t *trace) topNodes(k int) []nodeTime {
	var out []nodeTime
	for _, n := range t.nodes {
		out = append(out, *n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].secs > out[j].secs })
	return out[:min(k, len(out))]
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n+1:]
}
