package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/zerocost/zerocost/internal/testort"
	"github.com/zerocost/zerocost/zoo"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// withoutTimes drops every "time_ms" of a decoded JSON value.
func withoutTimes(v any) any {
	switch x := v.(type) {
	case map[string]any:
		delete(x, "time_ms")
		for k, e := range x {
			x[k] = withoutTimes(e)
		}
	case []any:
		for i, e := range x {
			x[i] = withoutTimes(e)
		}
	}
	return v
}

// `zerocost serve` answers POST /v1/score with the object `zerocost score
// --format json` prints for the same model and options, and stops cleanly
// when its context ends (as on SIGINT or SIGTERM).
func TestServeScoresLikeScore(t *testing.T) {
	testort.Init(t)
	dir := t.TempDir()
	m := zoo.TinyCNN(7, 10)
	m.SetNaturalInputShape([]int64{3, 16, 16})
	path := filepath.Join(dir, "tiny.onnx")
	raw, _ := m.Marshal()
	os.WriteFile(path, raw, 0o644)
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("t0ken\n"), 0o600)

	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	exit := make(chan int, 1)
	go func() {
		exit <- Main(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--state", filepath.Join(dir, "state"), "--root", dir, "--token-file", tokenFile, "--threads", "1"}, io.Discard, &stderr)
	}()
	addr := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)
	var url string
	deadline := time.Now().Add(30 * time.Second)
	for url == "" {
		if m := addr.FindStringSubmatch(stderr.String()); m != nil {
			url = m[1]
		}
		select {
		case code := <-exit:
			t.Fatalf("serve exited with %d: %s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}

	// One ONNX Runtime thread on both sides: the same sums in the same
	// order, so the same numbers to the last digit.
	args := []string{"--proxies", "synflow,params,grad_norm,nwot", "--batch-size", "8", "--seed", "3", "--threads", "1"}
	code, cliOut, errs := run(t, append([]string{"score", path, "--format", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("score: exit %d: %s", code, errs)
	}
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/score?proxies=synflow,params,grad_norm,nwot&batch-size=8&seed=3&name="+path, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer t0ken")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /v1/score: %d %s", resp.StatusCode, served)
	}
	var a, b any
	if err := json.Unmarshal([]byte(cliOut), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(served, &b); err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(withoutTimes(a))
	jb, _ := json.Marshal(withoutTimes(b))
	if !bytes.Equal(ja, jb) {
		t.Errorf("score and serve differ (times aside):\nscore: %s\nserve: %s", ja, jb)
	}

	cancel()
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("serve: exit %d after its context ended: %s", code, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop after its context ended")
	}
	if code, _, errs := run(t, "serve", "--token-file", filepath.Join(dir, "missing")); code != 2 {
		t.Errorf("serve with a missing token file: want exit 2, got %d: %s", code, errs)
	}
}
