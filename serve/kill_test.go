package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/zerocost/zerocost/internal/testort"
	"github.com/zerocost/zerocost/ranking"
	"github.com/zerocost/zerocost/runtime"
)

// childEnv makes the test binary a server on the state folder it names
// (see TestMain), so that a test can kill a real server process.
const childEnv = "ZEROCOST_SERVE_TEST_CHILD"

func TestMain(m *testing.M) {
	if state := os.Getenv(childEnv); state != "" {
		os.Exit(child(state))
	}
	os.Exit(m.Run())
}

// child serves on a free loopback port, written to STATE/addr, until
// SIGTERM.
func child(state string) int {
	if err := runtime.Init(""); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv, err := New(Config{StateDir: state, JobWorkers: 1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	os.WriteFile(filepath.Join(state, "addr.tmp"), []byte(ln.Addr().String()), 0o644)
	os.Rename(filepath.Join(state, "addr.tmp"), filepath.Join(state, "addr"))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := srv.Serve(ctx, ln, 10*time.Second); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startChild starts a server process on state and returns it with its URL.
func startChild(t *testing.T, state string) (*exec.Cmd, *testServer) {
	t.Helper()
	os.Remove(filepath.Join(state, "addr"))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+state)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var addr []byte
	waitFor(t, "the server process to listen", func() bool {
		addr, _ = os.ReadFile(filepath.Join(state, "addr"))
		return len(addr) > 0
	})
	return cmd, &testServer{url: "http://" + string(addr)}
}

// A server process killed with SIGKILL at random moments of a job, and
// started again each time, ends the job with every model exactly once.
func TestRankSurvivesKill(t *testing.T) {
	testort.Init(t)
	const n, kills = 16, 3
	state := t.TempDir()
	cmd, ts := startChild(t, state)
	id, r := postRank(t, ts, fmt.Sprintf(`{"paths": ["nb201:sample=%d:seed=13"], %s}`, n, rankOptions))
	if r.code != 202 {
		cmd.Process.Kill()
		t.Fatalf("POST /v1/rank: %v", r)
	}
	file := filepath.Join(state, "jobs", id, "results.jsonl")
	rng := rand.New(rand.NewPCG(1, 2))
	for k := 0; k < kills; k++ {
		// Wait for one more model, then a random moment within the next
		// one's scoring.
		had := getJob(t, ts, id).Done
		waitFor(t, "a model scored", func() bool { return getJob(t, ts, id).Done > had })
		time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		if v := readJournal(t, state, id); v.Status != statusRunning {
			t.Fatalf("kill %d: the journal says %s, want running", k+1, v.Status)
		}
		cmd, ts = startChild(t, state)
	}
	v := waitStatus(t, ts, id, statusDone, statusFailed)
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("server process after SIGTERM: %v", err)
	}
	if v.Status != statusDone || v.Done != n || v.Failed != 0 || v.Runs != kills+1 {
		t.Errorf("want done with %d models, none failed, %d runs; got %s with %d, %d failed, %d runs", n, kills+1, v.Status, v.Done, v.Failed, v.Runs)
	}
	recs, err := ranking.ReadResults(file)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, rec := range recs {
		seen[rec.Path]++
	}
	lost, duplicated := n-len(seen), 0
	for _, c := range seen {
		duplicated += c - 1
	}
	t.Logf("%d kills survived, %d models lost, %d duplicated", kills, lost, duplicated)
	if lost != 0 || duplicated != 0 {
		t.Errorf("want every model once: %d lost, %d duplicated", lost, duplicated)
	}
}

func readJournal(t *testing.T, state, id string) jobState {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(state, "jobs", id, "job.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st jobState
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatalf("journal of %s: %v", id, err)
	}
	return st
}

// A results file cut in the middle of a line loses that part only.
func TestTrimTornLine(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ in, want string }{
		{"{\"a\":1}\n{\"b\":2}\n{\"c\":", "{\"a\":1}\n{\"b\":2}\n"},
		{"{\"a\":1}\n", "{\"a\":1}\n"},
		{"{\"a\"", ""},
		{"", ""},
	} {
		path := filepath.Join(dir, "r.jsonl")
		os.WriteFile(path, []byte(c.in), 0o644)
		if err := trimTornLine(path); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(path); string(got) != c.want {
			t.Errorf("%q: want %q, got %q", c.in, c.want, got)
		}
	}
	if err := trimTornLine(filepath.Join(dir, "missing.jsonl")); err != nil {
		t.Errorf("a missing file: want no error, got %v", err)
	}
}
