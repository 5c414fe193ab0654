package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zerocost/zerocost/internal/testort"
	"github.com/zerocost/zerocost/ranking"
)

var (
	builtOnce sync.Once
	builtPath string
	builtErr  error
)

// TestMain removes the binary that zerocostBinary built.
func TestMain(m *testing.M) {
	code := m.Run()
	if builtPath != "" {
		os.RemoveAll(filepath.Dir(builtPath))
	}
	os.Exit(code)
}

// zerocostBinary builds the zerocost command once per test binary, so that
// tests can run it as separate processes, signal them and kill them.
func zerocostBinary(t *testing.T) string {
	t.Helper()
	builtOnce.Do(func() {
		dir, err := os.MkdirTemp("", "zerocost-bin-")
		if err != nil {
			builtErr = err
			return
		}
		builtPath = filepath.Join(dir, "zerocost")
		out, err := exec.Command("go", "build", "-o", builtPath, ".").CombinedOutput()
		if err != nil {
			builtErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if builtErr != nil {
		t.Fatal(builtErr)
	}
	return builtPath
}

// rankArgs is a cheap ranking: params, flops and synflow of NAS-Bench-201
// networks built in memory, at batch 1, with one ONNX Runtime thread per
// worker (the same arithmetic in every process, so scores match exactly).
func rankArgs(source, results string, extra ...string) []string {
	return append([]string{"rank", source, "--proxies", "params,flops,synflow", "--batch-size", "1", "--threads", "1", "--results", results, "--format", "csv"}, extra...)
}

// startZerocost starts the built binary with args and extra environment
// variables; its stdout and stderr go to the returned buffers.
func startZerocost(t *testing.T, bin string, env []string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &out
}

// exitCode waits for cmd, at most 15 minutes (a guard against a hang,
// generous: under `make test` on a 2-core machine at load 40, 200 networks
// took over five minutes), and returns its exit code (-1 when a
// signal ended it).
func exitCode(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%v did not finish within 15 minutes", cmd.Args)
	}
	return cmd.ProcessState.ExitCode()
}

func readRecords(t *testing.T, path string) []ranking.Record {
	t.Helper()
	recs, err := ranking.ReadResults(path)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// sameRecords checks that got holds exactly the models of want, once each,
// with the same names, keys, paths, settings and scores.
func sameRecords(t *testing.T, what string, want, got []ranking.Record) {
	t.Helper()
	byHash := map[string]ranking.Record{}
	for _, r := range want {
		byHash[r.SHA256] = r
	}
	seen := map[string]int{}
	for _, r := range got {
		seen[r.SHA256]++
		w, ok := byHash[r.SHA256]
		switch {
		case !ok:
			t.Errorf("%s: model %s (%s) is not in the single run", what, r.Name, r.SHA256)
		case r.Error != "" || w.Name != r.Name || w.Key != r.Key || w.Path != r.Path || w.Settings != r.Settings:
			t.Errorf("%s: model %s: want %s/%s/%s/%s, got %s/%s/%s/%s (error %q)", what, r.Name, w.Name, w.Key, w.Path, w.Settings, r.Name, r.Key, r.Path, r.Settings, r.Error)
		}
		for p, wp := range w.Proxies {
			gp := r.Proxies[p]
			if gp == nil || gp.Score != wp.Score || (gp.Log10 == nil) != (wp.Log10 == nil) || gp.Log10 != nil && *gp.Log10 != *wp.Log10 {
				t.Errorf("%s: model %s: %s differs from the single run: want %+v, got %+v", what, r.Name, p, wp, gp)
			}
		}
	}
	for h, r := range byHash {
		if seen[h] != 1 {
			t.Errorf("%s: model %s is there %d times, want once", what, r.Name, seen[h])
		}
	}
}

// TestShardsOfKubernetesAndSlurmMergeToOneRun runs a ranking as one process
// and as four processes that take their shard from the environment of a
// Kubernetes Indexed Job and of a Slurm job array, merges each set of four
// results files, and checks that the merges equal the single run record for
// record, and that eval gives the same figures on them.
func TestShardsOfKubernetesAndSlurmMergeToOneRun(t *testing.T) {
	testort.Init(t)
	bin := zerocostBinary(t)
	dir := t.TempDir()
	const source, n = "nb201:sample=32:seed=9", 32
	single := filepath.Join(dir, "single.jsonl")
	cmd, out := startZerocost(t, bin, nil, rankArgs(source, single, "--workers", "2")...)
	if code := exitCode(t, cmd); code != 0 {
		t.Fatalf("single run: exit %d: %s", code, out)
	}
	want := readRecords(t, single)
	if len(want) != n {
		t.Fatalf("single run: want %d records, got %d", n, len(want))
	}

	// Ground truth of its own for the sampled indices (eval must agree on
	// the merge and the single run, whatever the values).
	truth := filepath.Join(dir, "truth.csv")
	rows := "index,cifar10_test\n"
	for i, r := range want {
		rows += fmt.Sprintf("%s,%d\n", r.Key, (i*37)%41)
	}
	os.WriteFile(truth, []byte(rows), 0o644)
	var wantEval strings.Builder
	if code := Main(context.Background(), []string{"eval", single, "--truth", truth}, &wantEval, &wantEval); code != 0 {
		t.Fatalf("eval of the single run: exit %d: %s", code, wantEval.String())
	}

	engines := []struct {
		name string
		env  func(i int) []string
	}{
		{"kubernetes", func(i int) []string {
			return []string{fmt.Sprintf("%s=%d", ranking.EnvK8sIndex, i), ranking.EnvShards + "=4"}
		}},
		// --array=1-4, as a Slurm user would write it.
		{"slurm", func(i int) []string {
			return []string{fmt.Sprintf("%s=%d", ranking.EnvSlurmID, i+1), ranking.EnvSlurmMin + "=1", ranking.EnvSlurmCount + "=4"}
		}},
	}
	for _, eng := range engines {
		var files []string
		var cmds []*exec.Cmd
		var outs []*bytes.Buffer
		for i := range 4 {
			f := filepath.Join(dir, fmt.Sprintf("%s-%d.jsonl", eng.name, i))
			files = append(files, f)
			cmd, out := startZerocost(t, bin, eng.env(i), rankArgs(source, f, "--workers", "1")...)
			cmds, outs = append(cmds, cmd), append(outs, out)
		}
		total := 0
		for i, cmd := range cmds {
			if code := exitCode(t, cmd); code != 0 {
				t.Fatalf("%s shard %d: exit %d: %s", eng.name, i, code, outs[i])
			}
			if !strings.Contains(outs[i].String(), fmt.Sprintf("shard %d/4 (from ", i)) {
				t.Errorf("%s shard %d should say which shard it is and why: %s", eng.name, i, outs[i])
			}
			got := len(readRecords(t, files[i]))
			if got == 0 || got == n {
				t.Errorf("%s shard %d scored %d of %d models", eng.name, i, got, n)
			}
			total += got
		}
		if total != n {
			t.Errorf("%s: the shards scored %d models between them, want %d", eng.name, total, n)
		}
		merged := filepath.Join(dir, eng.name+".jsonl")
		code, stdout, stderr := run(t, append(append([]string{"merge"}, files...), "-o", merged, "--models", source)...)
		if code != 0 || !strings.Contains(stdout, fmt.Sprintf("%d written", n)) {
			t.Fatalf("%s merge: exit %d: %s%s", eng.name, code, stdout, stderr)
		}
		sameRecords(t, eng.name, want, readRecords(t, merged))
		var gotEval strings.Builder
		Main(context.Background(), []string{"eval", merged, "--truth", truth}, &gotEval, &gotEval)
		if gotEval.String() != wantEval.String() {
			t.Errorf("%s: eval of the merge differs from the single run's:\n%s\nwant:\n%s", eng.name, gotEval.String(), wantEval.String())
		}
	}

	// Three of the four shards: the fourth's models are listed as missing
	// (exit 1) and the merge holds the rest.
	partial := filepath.Join(dir, "partial.jsonl")
	code, stdout, _ := run(t, "merge", filepath.Join(dir, "kubernetes-0.jsonl"), filepath.Join(dir, "kubernetes-1.jsonl"), filepath.Join(dir, "kubernetes-2.jsonl"), "-o", partial, "--models", source)
	left := len(readRecords(t, filepath.Join(dir, "kubernetes-3.jsonl")))
	if code != 1 || !strings.Contains(stdout, fmt.Sprintf("%d of %d models missing", left, n)) {
		t.Errorf("merge of 3 shards: want exit 1 and %d of %d missing, got exit %d: %s", left, n, code, stdout)
	}
	if got := len(readRecords(t, partial)); got != n-left {
		t.Errorf("merge of 3 shards: want %d records, got %d", n-left, got)
	}
}

// TestRankSurvivesKills starts a real `zerocost rank` of 200 models, kills
// it with SIGKILL at random moments several times (each time after it has
// written at least one record, then up to 0.8 s more) (once also leaving a
// torn last line, as a kill in the middle of a write does), restarts it
// each time, and checks that the results hold every model exactly once with
// the scores of an uninterrupted run. SIGTERM and SIGINT must stop it
// cleanly: exit 1 with a message, whole lines only.
func TestRankSurvivesKills(t *testing.T) {
	testort.Init(t)
	bin := zerocostBinary(t)
	dir := t.TempDir()
	const source, n = "nb201:sample=200:seed=21", 200
	ref := filepath.Join(dir, "uninterrupted.jsonl")
	cmd, out := startZerocost(t, bin, nil, rankArgs(source, ref, "--workers", "2")...)
	if code := exitCode(t, cmd); code != 0 {
		t.Fatalf("uninterrupted run: exit %d: %s", code, out)
	}
	want := readRecords(t, ref)
	if len(want) != n {
		t.Fatalf("uninterrupted run: want %d records, got %d", n, len(want))
	}

	results := filepath.Join(dir, "killed.jsonl")
	rng := rand.New(rand.NewPCG(14, 3))
	kills, progressed := 0, 0
	var logs []string // of the runs after the torn line
	for round := 0; round < 6; round++ {
		before := len(readRecords(t, results))
		cmd, out := startZerocost(t, bin, nil, rankArgs(source, results, "--workers", "2")...)
		waitForRecords(t, results, min(before+1, n))
		time.Sleep(time.Duration(rng.IntN(800)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		code := exitCode(t, cmd)
		if round > 2 {
			logs = append(logs, out.String())
		}
		if code == 0 {
			break // it finished before the kill
		}
		kills++
		if len(readRecords(t, results)) > before {
			progressed++
		}
		if round == 2 {
			// A kill in the middle of a write: half of the next record.
			line, _ := os.ReadFile(ref)
			f, _ := os.OpenFile(results, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
			f.Write(line[:bytes.IndexByte(line, '\n')/2])
			f.Close()
		}
	}
	if kills < 4 || progressed < kills {
		t.Fatalf("want at least 4 kills, each after some progress, got %d kills, %d with progress", kills, progressed)
	}
	sawTorn := strings.Contains(strings.Join(logs, ""), "torn line")
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd, out := startZerocost(t, bin, nil, rankArgs(source, results, "--workers", "2")...)
		waitForRecords(t, results, min(len(readRecords(t, results))+1, n))
		cmd.Process.Signal(sig)
		code := exitCode(t, cmd)
		sawTorn = sawTorn || strings.Contains(out.String(), "torn line")
		if code == 0 {
			continue // it finished first
		}
		if code != 1 || !strings.Contains(out.String(), "run the same command again") {
			t.Errorf("%v: want exit 1 and how to go on, got exit %d: %s", sig, code, out)
		}
		raw, _ := os.ReadFile(results)
		if len(raw) > 0 && raw[len(raw)-1] != '\n' {
			t.Errorf("%v: the results end in a torn line", sig)
		}
	}
	cmd, out = startZerocost(t, bin, nil, rankArgs(source, results, "--workers", "2")...)
	if code := exitCode(t, cmd); code != 0 {
		t.Fatalf("last run: exit %d: %s", code, out)
	}
	sawTorn = sawTorn || strings.Contains(out.String(), "torn line")
	if !sawTorn {
		t.Errorf("the torn line written after kill 3 was not reported as cut")
	}
	got := readRecords(t, results)
	sameRecords(t, "after kills", want, got)
	raw, _ := os.ReadFile(results)
	if lines := bytes.Count(raw, []byte{'\n'}); lines != n {
		t.Errorf("want %d lines, one per model, got %d", n, lines)
	}
	t.Logf("%d SIGKILLs survived (%d with progress before them), then SIGTERM and SIGINT; %d records, %d models lost, %d duplicated", kills, progressed, len(got), n-len(uniqueHashes(got)), len(got)-len(uniqueHashes(got)))
}

// waitForRecords waits until the results file holds n records (or all
// there are to score), at most 15 minutes, so that each kill lands while
// models are being scored rather than while the process starts.
func waitForRecords(t *testing.T, path string, n int) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if len(readRecords(t, path)) >= n {
			return
		}
	}
	t.Fatalf("%s: no new record within 15 minutes", path)
}

func uniqueHashes(recs []ranking.Record) map[string]bool {
	out := map[string]bool{}
	for _, r := range recs {
		out[r.SHA256] = true
	}
	return out
}

// Bad shard and merge arguments are usage errors (exit 2) that say what
// to give, before any model is read.
func TestShardAndMergeUsageErrors(t *testing.T) {
	for i, c := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"rank", "nb201:sample=4", "--shard", "4/4"}, "0 ≤ I < N"},
		{nil, []string{"rank", "nb201:sample=4", "--shard", "x"}, "want I/N"},
		{nil, []string{"rank", "nb201:sample=4", "--shard", "1/4", "--shards", "3"}, "disagree"},
		{nil, []string{"rank", "nb201:sample=4", "--shards", "4"}, "no shard index"},
		{[]string{ranking.EnvK8sIndex, "1"}, []string{"rank", "nb201:sample=4"}, ranking.EnvShards},
		{[]string{ranking.EnvSlurmID, "2", ranking.EnvSlurmCount, "x"}, []string{"rank", "nb201:sample=4"}, "not an integer"},
		{nil, []string{"merge"}, "results files"},
		{nil, []string{"merge", "a.jsonl"}, "-o ALL.jsonl"},
	} {
		for j := 0; j < len(c.env); j += 2 {
			t.Setenv(c.env[j], c.env[j+1])
		}
		code, _, stderr := run(t, c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("case %d %v: want exit 2 and %q, got exit %d: %s", i, c.args, c.want, code, stderr)
		}
		for j := 0; j < len(c.env); j += 2 {
			os.Unsetenv(c.env[j])
		}
	}
}
