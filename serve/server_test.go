package serve

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zerocost/zerocost/internal/testort"
	"github.com/zerocost/zerocost/proxies"
	"github.com/zerocost/zerocost/zoo"
)

// testServer is a Server answering on a loopback port.
type testServer struct {
	*Server
	url  string
	stop func() error // graceful shutdown; returns Serve's error
}

// start serves cfg on 127.0.0.1 (a free port) until the test ends or
// stop is called.
func start(t *testing.T, cfg Config) *testServer {
	t.Helper()
	testort.Init(t)
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ctx, ln, 30*time.Second) }()
	var once sync.Once
	var serveErr error
	ts := &testServer{Server: srv, url: "http://" + ln.Addr().String()}
	ts.stop = func() error {
		once.Do(func() {
			cancel()
			serveErr = <-errc
		})
		return serveErr
	}
	t.Cleanup(func() {
		if err := ts.stop(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return ts
}

// tinyModel is zoo's tiny CNN recording a 3×16×16 input.
func tinyModel(t *testing.T, seed uint64) []byte {
	t.Helper()
	m := zoo.TinyCNN(seed, 10)
	m.SetNaturalInputShape([]int64{3, 16, 16})
	raw, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// response is a status code and body.
type response struct {
	code   int
	header http.Header
	body   []byte
}

func (r response) String() string { return fmt.Sprintf("%d %s", r.code, r.body) }

// errorText is the "error" field of the body.
func (r response) errorText() string {
	var e struct{ Error string }
	json.Unmarshal(r.body, &e)
	return e.Error
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", req.Method, req.URL, err)
	}
	return response{resp.StatusCode, resp.Header, body}
}

func post(t *testing.T, url, contentType string, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	return do(t, req)
}

func get(t *testing.T, url string) response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	return do(t, req)
}

// multipartBody builds a multipart/form-data body: files as "model" parts,
// then fields.
func multipartBody(t *testing.T, files map[string][]byte, fields ...string) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		fw, err := mw.CreateFormFile("model", name)
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(files[name])
	}
	for i := 0; i+1 < len(fields); i += 2 {
		mw.WriteField(fields[i], fields[i+1])
	}
	mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

func decodeResult(t *testing.T, r response) proxies.Result {
	t.Helper()
	if r.code != http.StatusOK {
		t.Fatalf("score: want 200, got %v", r)
	}
	var res proxies.Result
	if err := json.Unmarshal(r.body, &res); err != nil {
		t.Fatalf("score: the answer is not a result: %v: %s", err, r.body)
	}
	return res
}

// The body and a multipart upload give the same result, with the options
// from the query, from fields or from a JSON part, and the hash of the bytes
// sent.
func TestScoreBodyAndMultipart(t *testing.T) {
	ts := start(t, Config{})
	raw := tinyModel(t, 1)
	sum := sha256.Sum256(raw)
	body := decodeResult(t, post(t, ts.url+"/v1/score?proxies=synflow,params,grad_norm&batch-size=4&name=tiny.onnx", "application/octet-stream", raw))
	if body.Model != "tiny.onnx" || body.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("model %q sha256 %s: want tiny.onnx and %x", body.Model, body.SHA256, sum)
	}
	if len(body.Proxies) != 3 || body.Proxies["params"] == nil || body.Proxies["params"].Score <= 0 {
		t.Fatalf("want synflow, params and grad_norm, got %s", mustJSON(body.Proxies))
	}
	if got := body.InputShape; fmt.Sprint(got) != "[4 3 16 16]" {
		t.Errorf("input shape: want [4 3 16 16] (batch-size 4, the recorded size), got %v", got)
	}
	mp, ct := multipartBody(t, map[string][]byte{"tiny.onnx": raw}, "options", `{"proxies": "synflow,params,grad_norm", "batch-size": 4}`)
	viaJSON := decodeResult(t, post(t, ts.url+"/v1/score", ct, mp))
	mp, ct = multipartBody(t, map[string][]byte{"tiny.onnx": raw}, "proxies", "synflow,params,grad_norm", "batch-size", "4")
	viaFields := decodeResult(t, post(t, ts.url+"/v1/score", ct, mp))
	for _, other := range []proxies.Result{viaJSON, viaFields} {
		if other.Model != body.Model || other.SHA256 != body.SHA256 {
			t.Errorf("multipart: model %q sha %s, want %q %s", other.Model, other.SHA256, body.Model, body.SHA256)
		}
		for name, p := range body.Proxies {
			if q := other.Proxies[name]; q == nil || q.Score != p.Score {
				t.Errorf("%s: body %v, multipart %v", name, p.Score, q)
			}
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Requests that are too large, cut short, garbage or badly optioned get a
// 4xx that says what is wrong, and the server keeps serving.
func TestBadRequests(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "inside.npy"), []byte("not really npy"), 0o644)
	outside := filepath.Join(t.TempDir(), "outside.npy")
	os.WriteFile(outside, []byte("secret"), 0o644)
	if err := os.Symlink(outside, filepath.Join(root, "link.npy")); err != nil {
		t.Fatal(err)
	}
	ts := start(t, Config{MaxBody: 64 << 10, Root: root})
	raw := tinyModel(t, 2)
	big := bytes.Repeat([]byte{1}, 100<<10)
	mp, mpType := multipartBody(t, map[string][]byte{"tiny.onnx": raw}, "proxies", "params")
	cases := []struct {
		name, query, contentType string
		body                     []byte
		code                     int
		says                     string
	}{
		{"oversized", "", "application/octet-stream", big, 413, "limit of 65536 bytes"},
		{"oversized multipart", "", mpType, append(mp[:len(mp)-40:len(mp)-40], big...), 413, "limit"},
		{"garbage", "", "application/octet-stream", []byte("this is not an ONNX model"), 400, "cannot be decoded"},
		{"truncated model", "", "application/octet-stream", raw[:len(raw)/2], 400, "truncated"},
		{"empty", "", "application/octet-stream", nil, 400, "want one model, got 0"},
		{"truncated multipart", "", mpType, mp[:len(mp)/2], 400, "ended early"},
		{"multipart without boundary", "", "multipart/form-data", mp, 400, "boundary"},
		{"json body", "", "application/json", []byte(`{"model": "x"}`), 415, "application/octet-stream"},
		{"unknown option", "?proxy=synflow", "application/octet-stream", raw, 400, `unknown option "proxy"`},
		{"bad batch", "?batch-size=0", "application/octet-stream", raw, 400, "--batch-size must be at least 1"},
		{"bad number", "?batch-size=many", "application/octet-stream", raw, 400, "batch-size"},
		{"unknown proxy", "?proxies=magic", "application/octet-stream", raw, 400, "unknown proxy"},
		{"data outside root", "?data=/etc/passwd", "application/octet-stream", raw, 403, "outside the server's root"},
		{"data escaping root", "?data=../x.npy", "application/octet-stream", raw, 400, "not found under the server's root"},
		{"data through a link out of root", "?data=link.npy", "application/octet-stream", raw, 403, "outside the server's root"},
		{"bad data file", "?data=inside.npy", "application/octet-stream", raw, 422, "inside.npy"},
		{"model too big for the memory limit", "?batch-size=100000000&input-shape=3x64x64", "application/octet-stream", raw, 422, "memory"},
	}
	for _, c := range cases {
		r := post(t, ts.url+"/v1/score"+c.query, c.contentType, c.body)
		if r.code != c.code || !strings.Contains(r.errorText(), c.says) {
			t.Errorf("%s: want %d saying %q, got %v", c.name, c.code, c.says, r)
		}
		// The server keeps serving.
		if ok := post(t, ts.url+"/v1/score?proxies=params", "application/octet-stream", raw); ok.code != 200 {
			t.Fatalf("after %s: a good request got %v", c.name, ok)
		}
	}
	if r := get(t, ts.url+"/v1/nothing"); r.code != 404 {
		t.Errorf("unknown route: want 404, got %v", r)
	}
	if r := get(t, ts.url+"/v1/score"); r.code != 405 {
		t.Errorf("GET /v1/score: want 405, got %v", r)
	}
}

// A body that ends before its Content-Length (the client went away in
// the middle of the upload) is a 400, sent on the same connection.
func TestTruncatedUpload(t *testing.T) {
	ts := start(t, Config{})
	raw := tinyModel(t, 3)
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", len(raw))
	conn.Write(raw[:len(raw)/3])
	conn.(*net.TCPConn).CloseWrite()
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	answer, _ := io.ReadAll(conn)
	if !bytes.HasPrefix(answer, []byte("HTTP/1.1 400")) || !bytes.Contains(answer, []byte("ended early")) {
		t.Errorf("want a 400 saying the upload ended early, got %q", answer)
	}
	if ok := post(t, ts.url+"/v1/score?proxies=params", "application/octet-stream", raw); ok.code != 200 {
		t.Errorf("after a truncated upload: a good request got %v", ok)
	}
}

// Concurrent clients all get their model's result, the same as when it
// is scored alone.
func TestConcurrentScores(t *testing.T) {
	ts := start(t, Config{Workers: 2, Queue: 32})
	models := [][]byte{tinyModel(t, 11), tinyModel(t, 12), tinyModel(t, 13)}
	url := ts.url + "/v1/score?proxies=synflow,params,snip&batch-size=4"
	alone := make([]proxies.Result, len(models))
	for i, raw := range models {
		alone[i] = decodeResult(t, post(t, url, "application/octet-stream", raw))
	}
	const clients, each = 6, 3
	var wg sync.WaitGroup
	errs := make(chan string, clients*each)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < each; k++ {
				i := (c + k) % len(models)
				resp, err := http.Post(url, "application/octet-stream", bytes.NewReader(models[i]))
				if err != nil {
					errs <- err.Error()
					continue
				}
				var res proxies.Result
				err = json.NewDecoder(resp.Body).Decode(&res)
				resp.Body.Close()
				if resp.StatusCode != 200 || err != nil {
					errs <- fmt.Sprintf("client %d: %d %v", c, resp.StatusCode, err)
					continue
				}
				for name, p := range alone[i].Proxies {
					// Same model, data and seed: the same numbers (ONNX
					// Runtime's CPU kernels are deterministic for a given
					// thread count, which the server fixes).
					if q := res.Proxies[name]; q == nil || q.Score != p.Score {
						errs <- fmt.Sprintf("client %d, model %d, %s: alone %v, concurrent %v", c, i, name, p.Score, q)
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// waitFor polls cond every 10 ms for up to 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// With the workers busy and the queue full, a request is refused with 429
// and Retry-After; the queued ones are scored once a worker is free.
func TestQueueFull(t *testing.T) {
	ts := start(t, Config{Workers: 1, Queue: 2})
	raw := tinyModel(t, 4)
	// The only worker is busy with a request that was admitted (a long
	// score, for the server).
	ts.inflight.Add(1)
	ts.slots <- struct{}{}
	var wg sync.WaitGroup
	codes := make(chan int, 2)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(ts.url+"/v1/score?proxies=params", "application/octet-stream", bytes.NewReader(raw))
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	waitFor(t, "two requests in the queue", func() bool { return ts.inflight.Load() == 3 })
	r := post(t, ts.url+"/v1/score?proxies=params", "application/octet-stream", raw)
	if r.code != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" || !strings.Contains(r.errorText(), "queue is full") {
		t.Errorf("want 429 with Retry-After, got %v (Retry-After %q)", r, r.header.Get("Retry-After"))
	}
	metrics := string(get(t, ts.url+"/metrics").body)
	if !strings.Contains(metrics, "zerocost_score_queue_length 2\n") {
		t.Errorf("metrics: want a queue length of 2:\n%s", metrics)
	}
	<-ts.slots // the worker is free
	ts.inflight.Add(-1)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Errorf("queued request: want 200, got %d", c)
		}
	}
}

// A client that gives up while waiting leaves the queue at once; one that
// waits past the time limit gets 504.
func TestCancelAndTimeout(t *testing.T) {
	ts := start(t, Config{Workers: 1, Queue: 4, Timeout: 500 * time.Millisecond})
	raw := tinyModel(t, 5)
	ts.inflight.Add(1)
	ts.slots <- struct{}{}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ts.url+"/v1/score?proxies=params", bytes.NewReader(raw))
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	waitFor(t, "the request in the queue", func() bool { return ts.inflight.Load() == 2 })
	cancel()
	if err := <-done; err == nil {
		t.Error("canceled request: want an error on the client")
	}
	waitFor(t, "the canceled request to leave the queue", func() bool { return ts.inflight.Load() == 1 })
	r := post(t, ts.url+"/v1/score?proxies=params", "application/octet-stream", raw)
	if r.code != http.StatusGatewayTimeout || !strings.Contains(r.errorText(), "--timeout") {
		t.Errorf("past the time limit: want 504, got %v", r)
	}
	<-ts.slots
	ts.inflight.Add(-1)
	if r := post(t, ts.url+"/v1/score?proxies=params", "application/octet-stream", raw); r.code != 200 {
		t.Errorf("after: want 200, got %v", r)
	}
	metrics := string(get(t, ts.url+"/metrics").body)
	for _, want := range []string{`route="POST /v1/score",code="499"} 1`, `route="POST /v1/score",code="504"} 1`, `route="POST /v1/score",code="200"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics: want %s in\n%s", want, metrics)
		}
	}
}

func TestToken(t *testing.T) {
	ts := start(t, Config{Token: "s3cret"})
	raw := tinyModel(t, 6)
	for _, c := range []struct {
		auth string
		code int
	}{{"", 401}, {"Bearer wrong", 401}, {"s3cret", 401}, {"Bearer s3cret", 200}} {
		req, _ := http.NewRequest(http.MethodPost, ts.url+"/v1/score?proxies=params", bytes.NewReader(raw))
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		r := do(t, req)
		if r.code != c.code {
			t.Errorf("Authorization %q: want %d, got %v", c.auth, c.code, r)
		}
		if r.code == 401 && (r.header.Get("WWW-Authenticate") == "" || !strings.Contains(r.errorText(), "bearer token")) {
			t.Errorf("401 without WWW-Authenticate or a message: %v", r)
		}
	}
	if r := get(t, ts.url+"/healthz"); r.code != 200 {
		t.Errorf("/healthz needs no token: got %v", r)
	}
	if r := get(t, ts.url+"/metrics"); r.code != 401 {
		t.Errorf("/metrics needs the token: got %v", r)
	}
}
