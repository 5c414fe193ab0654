// Command servebench measures `zerocost serve`: requests per second and
// p50/p99 latency of POST /v1/score of small models with 1, 4 and 16
// concurrent clients, and the server's memory under that load.
//
//	go run ./bench/servebench [-bin bin/zerocost] [-duration 10s] [-clients 1,4,16] [-workers 0]
//
// It starts the binary (built from ./cmd/zerocost into a temporary folder
// when -bin is not given) as `zerocost serve` on a free loopback port, with a
// queue long enough for every client (so that no request is refused), and
// runs each case for -duration after two warm-up requests per client. The
// memory columns are the server process's resident set (VmRSS, sampled
// every 20 ms: the peak during the case) and its high-water mark (VmHWM)
// since it started. The output is a markdown table.
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/zoo"
)

// model is one benchmarked request.
type model struct {
	name  string
	raw   []byte
	query string
}

func main() {
	bin := flag.String("bin", "", "zerocost binary (default: go build ./cmd/zerocost into a temporary folder)")
	duration := flag.Duration("duration", 10*time.Second, "how long each case runs")
	clientList := flag.String("clients", "1,4,16", "concurrent clients, comma-separated")
	workers := flag.Int("workers", 0, "the server's --workers (0: its default, the number of cores)")
	flag.Parse()
	var clients []int
	for _, s := range strings.Split(*clientList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "servebench: -clients: bad number %q\n", s)
			os.Exit(2)
		}
		clients = append(clients, n)
	}
	if err := run(*bin, *duration, clients, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "servebench:", err)
		os.Exit(1)
	}
}

func models() ([]model, error) {
	tiny := zoo.TinyCNN(1, 10)
	tiny.SetNaturalInputShape([]int64{3, 32, 32})
	arch, err := zoo.NB201Arch(1)
	if err != nil {
		return nil, err
	}
	nb, err := zoo.NB201(arch, zoo.NB201Options{Classes: 10, Seed: 1, Index: 1})
	if err != nil {
		return nil, err
	}
	var out []model
	for _, m := range []struct {
		name  string
		m     *onnximport.Model
		query string
	}{
		{"tiny CNN (1,562 params), all proxies, batch 16", tiny, "proxies=all&batch-size=16"},
		{"NAS-Bench-201 #1 (0.8 M params), synflow,params,flops", nb, "proxies=synflow,params,flops&batch-size=1"},
	} {
		raw, err := m.m.Marshal()
		if err != nil {
			return nil, err
		}
		out = append(out, model{m.name, raw, m.query})
	}
	return out, nil
}

func run(bin string, duration time.Duration, clients []int, workers int) error {
	tmp, err := os.MkdirTemp("", "servebench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if bin == "" {
		bin = filepath.Join(tmp, "zerocost")
		build := exec.Command("go", "build", "-o", bin, "./cmd/zerocost")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building ./cmd/zerocost (run from the repository root, or give -bin): %w", err)
		}
	}
	ms, err := models()
	if err != nil {
		return err
	}
	maxClients := slices.Max(clients)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--addr", "127.0.0.1:0", "--state", filepath.Join(tmp, "state"), "--root", "",
		"--workers", strconv.Itoa(workers), "--queue", strconv.Itoa(4*maxClients))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	url, err := waitListening(stderr)
	if err != nil {
		return err
	}
	go io.Copy(io.Discard, stderr)
	pid := cmd.Process.Pid
	idle, _ := procMemory(pid, "VmRSS")
	fmt.Printf("zerocost serve (pid %d, %s), %d cores, idle RSS %.0f MiB, each case %s after warm-up\n\n", pid, url, goruntime.NumCPU(), idle, duration)
	fmt.Println("| model | clients | requests | req/s | p50 ms | p99 ms | errors | peak RSS MiB | VmHWM MiB |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, m := range ms {
		for _, c := range clients {
			res, err := load(url+"/v1/score?"+m.query, m.raw, c, duration, pid)
			if err != nil {
				return fmt.Errorf("%s, %d clients: %w", m.name, c, err)
			}
			hwm, _ := procMemory(pid, "VmHWM")
			fmt.Printf("| %s | %d | %d | %.1f | %.1f | %.1f | %d | %.0f | %.0f |\n", m.name, c, len(res.latencies), res.rps, res.quantile(0.5), res.quantile(0.99), res.errors, res.peakRSS, hwm)
		}
	}
	return nil
}

// waitListening reads the server's log until it says where it listens.
func waitListening(r io.Reader) (string, error) {
	re := regexp.MustCompile(`listening on (http://\S+)`)
	sc := bufio.NewScanner(r)
	var log []string
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			return m[1], nil
		}
		log = append(log, sc.Text())
	}
	return "", fmt.Errorf("the server stopped before listening: %s", strings.Join(log, "\n"))
}

type result struct {
	latencies []float64 // ms, sorted
	rps       float64
	errors    int
	peakRSS   float64 // MiB
}

// quantile is the q-quantile of the latencies (the smallest value with at
// least q of them at or below it).
func (r result) quantile(q float64) float64 {
	if len(r.latencies) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(q*float64(len(r.latencies)))) - 1
	return r.latencies[max(i, 0)]
}

// load runs c clients posting raw to url in a loop for d, after two
// warm-up requests each, and samples the server's memory meanwhile.
func load(url string, raw []byte, c int, d time.Duration, pid int) (result, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c}}
	post := func() (time.Duration, error) {
		start := time.Now()
		resp, err := client.Post(url, "application/octet-stream", bytes.NewReader(raw))
		if err != nil {
			return 0, err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("%d %s", resp.StatusCode, body)
		}
		return time.Since(start), nil
	}
	var wg sync.WaitGroup
	warm := make(chan error, c)
	for i := 0; i < c; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 2; k++ {
				if _, err := post(); err != nil {
					warm <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(warm)
	if err := <-warm; err != nil {
		return result{}, fmt.Errorf("warm-up: %w", err)
	}

	var mu sync.Mutex
	var res result
	stop := make(chan struct{})
	sampled := make(chan float64)
	go func() {
		peak := 0.0
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				sampled <- peak
				return
			case <-tick.C:
				if v, err := procMemory(pid, "VmRSS"); err == nil {
					peak = max(peak, v)
				}
			}
		}
	}()
	start := time.Now()
	end := start.Add(d)
	for i := 0; i < c; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				lat, err := post()
				mu.Lock()
				if err != nil {
					res.errors++
				} else {
					res.latencies = append(res.latencies, float64(lat.Microseconds())/1000)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stop)
	res.peakRSS = <-sampled
	slices.Sort(res.latencies)
	res.rps = float64(len(res.latencies)) / elapsed.Seconds()
	return res, nil
}

// procMemory reads a field of /proc/PID/status in MiB.
func procMemory(pid int, field string) (float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseFloat(f[0], 64)
				return kb / 1024, err
			}
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}
