package serve

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/zerocost/zerocost/internal/testort"
	"github.com/zerocost/zerocost/proxies"
	"github.com/zerocost/zerocost/ranking"
)

func postRank(t *testing.T, ts *testServer, body string) (string, response) {
	t.Helper()
	r := post(t, ts.url+"/v1/rank", "application/json", []byte(body))
	var v struct{ ID string }
	json.Unmarshal(r.body, &v)
	return v.ID, r
}

func getJob(t *testing.T, ts *testServer, id string) jobView {
	t.Helper()
	r := get(t, ts.url+"/v1/jobs/"+id)
	if r.code != 200 {
		t.Fatalf("GET job %s: %v", id, r)
	}
	var v jobView
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("GET job %s: %v: %s", id, err, r.body)
	}
	return v
}

func waitStatus(t *testing.T, ts *testServer, id string, status ...string) jobView {
	t.Helper()
	var v jobView
	waitFor(t, "job "+id+" to be "+strings.Join(status, " or "), func() bool {
		v = getJob(t, ts, id)
		for _, s := range status {
			if v.Status == s {
				return true
			}
		}
		return false
	})
	return v
}

const rankOptions = `"options": {"proxies": "synflow,params", "batch-size": 1}`

// A job stopped by a graceful shutdown is journaled and resumed by the
// next server on the same state folder: every model once, with the scores
// of an uninterrupted run.
func TestRankRestart(t *testing.T) {
	state := t.TempDir()
	const n = 12
	source := "nb201:sample=12:seed=5"
	ts := start(t, Config{StateDir: state, JobWorkers: 1})
	id, r := postRank(t, ts, `{"paths": ["`+source+`"], `+rankOptions+`}`)
	if r.code != http.StatusAccepted || id == "" || r.header.Get("Location") != "/v1/jobs/"+id {
		t.Fatalf("POST /v1/rank: want 202 with an id and a Location, got %v", r)
	}
	waitFor(t, "two models scored", func() bool { return getJob(t, ts, id).Done >= 2 })
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	first, err := ranking.ReadResults(filepath.Join(state, "jobs", id, "results.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(first) < 2 || len(first) >= n {
		t.Fatalf("after the shutdown: want between 2 and %d results journaled, got %d", n-1, len(first))
	}
	raw, _ := os.ReadFile(filepath.Join(state, "jobs", id, "job.json"))
	var st jobState
	if err := json.Unmarshal(raw, &st); err != nil || st.Status != statusQueued {
		t.Fatalf("journal after the shutdown: want status queued, got %s (%v)", raw, err)
	}

	ts2 := start(t, Config{StateDir: state, JobWorkers: 2})
	v := waitStatus(t, ts2, id, statusDone, statusFailed)
	if v.Status != statusDone || v.Done != n || v.Failed != 0 || v.Total != n || v.Runs != 2 {
		t.Fatalf("resumed job: want done, %d models, none failed, 2 runs; got %s, %d done of %d, %d failed, %d runs (%s)", n, v.Status, v.Done, v.Total, v.Failed, v.Runs, v.Error)
	}
	all, _ := ranking.ReadResults(filepath.Join(state, "jobs", id, "results.jsonl"))
	seen := map[string]int{}
	for _, rec := range all {
		seen[rec.SHA256]++
	}
	for sha, c := range seen {
		if c != 1 {
			t.Errorf("model %s has %d results, want 1", sha, c)
		}
	}
	if len(seen) != n {
		t.Errorf("want %d distinct models, got %d", n, len(seen))
	}
	// Uninterrupted: the same entries and settings in one ranking.Run.
	entries, err := ranking.CollectSources([]string{source})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := ranking.RequestOptions(&v.Request, ts2.cfg.Session)
	if err != nil {
		t.Fatal(err)
	}
	opts.Workers = 2
	want, err := ranking.Run(context.Background(), entries, opts)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]ranking.Record{}
	for _, rec := range v.Results {
		got[rec.SHA256] = rec
	}
	for _, w := range want {
		g, ok := got[w.SHA256]
		if !ok {
			t.Errorf("%s: missing from the resumed job", w.Name)
			continue
		}
		if g.Error != "" || w.Error != "" || g.Proxies["synflow"] == nil || w.Proxies["synflow"] == nil || g.Proxies["params"] == nil || w.Proxies["params"] == nil {
			t.Errorf("%s: want synflow and params, got %q %s and %q %s", w.Name, g.Error, mustJSON(g.Proxies), w.Error, mustJSON(w.Proxies))
			continue
		}
		// The same model and thread count per worker: the same numbers,
		// up to float round-off in the log.
		// The same model and data. The first server ran one worker with
		// two ONNX Runtime threads, the others two with one, which sum in
		// another order: synflow agrees to 4e-9 relative (measured), so
		// 1e-7 allows for that and nothing else.
		gs, ws := g.Proxies["synflow"].Score, w.Proxies["synflow"].Score
		if math.Abs(gs-ws) > 1e-7*math.Abs(ws) || g.Proxies["params"].Score != w.Proxies["params"].Score {
			t.Errorf("%s: resumed synflow %v params %v, uninterrupted %v %v", w.Name, gs, g.Proxies["params"].Score, ws, w.Proxies["params"].Score)
		}
	}
	// Sorted best first by synflow.
	for i := 1; i < len(v.Results); i++ {
		if ranking.Value(v.Results[i], "synflow") > ranking.Value(v.Results[i-1], "synflow") {
			t.Fatalf("results are not sorted by synflow at %d", i)
		}
	}
}

// DELETE cancels a running job after its current models and a queued one
// at once; finished jobs cannot be canceled.
func TestCancelJob(t *testing.T) {
	ts := start(t, Config{JobWorkers: 1})
	long, _ := postRank(t, ts, `{"paths": ["nb201:sample=500:seed=9"], `+rankOptions+`}`)
	queued, r := postRank(t, ts, `{"paths": ["nb201:index=1,2"], `+rankOptions+`}`)
	if r.code != http.StatusAccepted {
		t.Fatalf("second job: %v", r)
	}
	waitFor(t, "the first job to score a model", func() bool { return getJob(t, ts, long).Done >= 1 })
	req, _ := http.NewRequest(http.MethodDelete, ts.url+"/v1/jobs/"+queued, nil)
	if r := do(t, req); r.code != http.StatusAccepted || !strings.Contains(string(r.body), statusCanceled) {
		t.Errorf("DELETE queued job: want 202 canceled, got %v", r)
	}
	req, _ = http.NewRequest(http.MethodDelete, ts.url+"/v1/jobs/"+long, nil)
	if r := do(t, req); r.code != http.StatusAccepted {
		t.Errorf("DELETE running job: want 202, got %v", r)
	}
	v := waitStatus(t, ts, long, statusCanceled)
	if v.Done >= 500 || v.Finished == nil {
		t.Errorf("canceled job: want fewer than 500 models and a finish time, got %d, %v", v.Done, v.Finished)
	}
	if v := getJob(t, ts, queued); v.Status != statusCanceled || v.Done != 0 {
		t.Errorf("canceled queued job: %s with %d models", v.Status, v.Done)
	}
	done, _ := postRank(t, ts, `{"paths": ["nb201:index=3"], `+rankOptions+`}`)
	waitStatus(t, ts, done, statusDone)
	req, _ = http.NewRequest(http.MethodDelete, ts.url+"/v1/jobs/"+done, nil)
	if r := do(t, req); r.code != http.StatusConflict {
		t.Errorf("DELETE a done job: want 409, got %v", r)
	}
	if r := get(t, ts.url+"/v1/jobs/0123456789abcdef"); r.code != 404 {
		t.Errorf("unknown job: want 404, got %v", r)
	}
}

// Uploaded models are ranked under their upload names; paths are read
// under the root only.
func TestRankUploadsAndPaths(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "models"), 0o755)
	os.WriteFile(filepath.Join(root, "models", "a.onnx"), tinyModel(t, 21), 0o644)
	os.WriteFile(filepath.Join(root, "models", "b.onnx"), tinyModel(t, 22), 0o644)
	ts := start(t, Config{Root: root})

	body, ct := multipartBody(t, map[string][]byte{"first.onnx": tinyModel(t, 23), "second.onnx": tinyModel(t, 24)}, "options", `{"proxies": "params,synflow"}`)
	r := post(t, ts.url+"/v1/rank?batch-size=2", ct, body)
	var up struct{ ID string }
	json.Unmarshal(r.body, &up)
	if r.code != http.StatusAccepted {
		t.Fatalf("upload: %v", r)
	}
	id, r := postRank(t, ts, `{"paths": ["models"], "options": {"proxies": "params"}, "sort": "params"}`)
	if r.code != http.StatusAccepted {
		t.Fatalf("paths: %v", r)
	}
	os.WriteFile(filepath.Join(root, "list.csv"), []byte("path,name\nmodels/a.onnx,alpha\nmodels/b.onnx,beta\n"), 0o644)
	manifest, r := postRank(t, ts, `{"paths": ["list.csv"], "options": {"proxies": "params"}}`)
	if r.code != http.StatusAccepted {
		t.Fatalf("manifest: %v", r)
	}
	outside := filepath.Join(t.TempDir(), "outside.onnx")
	os.WriteFile(outside, tinyModel(t, 25), 0o644)
	os.WriteFile(filepath.Join(root, "escape.csv"), []byte("path\n"+outside+"\n"), 0o644)
	if _, r := postRank(t, ts, `{"paths": ["escape.csv"]}`); r.code != http.StatusForbidden || !strings.Contains(r.errorText(), "outside the server's root") {
		t.Errorf("a manifest naming a file outside the root: want 403, got %v", r)
	}
	for job, names := range map[string]string{up.ID: "first second", id: "a b", manifest: "alpha beta"} {
		v := waitStatus(t, ts, job, statusDone, statusFailed)
		var got []string
		for _, rec := range v.Results {
			got = append(got, rec.Name)
		}
		if v.Status != statusDone || len(got) != 2 || !strings.Contains(names, got[0]) || !strings.Contains(names, got[1]) || got[0] == got[1] {
			t.Errorf("job %s: want done with %s, got %s with %v (%s)", job, names, v.Status, got, v.Error)
		}
	}
	bad := []struct {
		body string
		code int
		says string
	}{
		{`{"paths": ["/etc"]}`, 403, "outside the server's root"},
		{`{"paths": ["missing"]}`, 400, "not found"},
		{`{"paths": ["nb201:sample=0"]}`, 400, "nb201"},
		{`{"paths": []}`, 400, "nothing to rank"},
		{`{"paths": ["models"], "sort": "magic"}`, 400, "sort must be"},
		{`{"paths": ["models"], "options": {"bn": "remove"}}`, 400, "--bn must be train or eval"},
		{`{"paths": ["models"], "optoins": {}}`, 400, "optoins"},
		{`{"paths": "models"}`, 400, "rank request"},
		{`not json`, 400, "rank request"},
	}
	for _, c := range bad {
		_, r := postRank(t, ts, c.body)
		if r.code != c.code || !strings.Contains(r.errorText(), c.says) {
			t.Errorf("%s: want %d saying %q, got %v", c.body, c.code, c.says, r)
		}
	}
}

// /metrics is well-formed Prometheus text (every sample in a family
// declared by TYPE, histograms cumulative with +Inf = count) and counts
// what happened.
func TestMetrics(t *testing.T) {
	ts := start(t, Config{})
	raw := tinyModel(t, 31)
	for i := 0; i < 3; i++ {
		post(t, ts.url+"/v1/score?proxies=synflow,params", "application/octet-stream", raw)
	}
	post(t, ts.url+"/v1/score", "application/octet-stream", []byte("garbage"))
	id, _ := postRank(t, ts, `{"paths": ["nb201:index=5,6"], `+rankOptions+`}`)
	waitStatus(t, ts, id, statusDone)
	text := string(get(t, ts.url+"/metrics").body)

	sample := regexp.MustCompile(`^([a-z_]+)(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? (\S+)$`)
	types := map[string]string{}
	values := map[string]float64{}
	var lastBucket float64
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) >= 4 && f[0] == "#" && f[1] == "TYPE" {
			types[f[2]] = f[3]
			continue
		}
		if strings.HasPrefix(line, "# HELP ") {
			continue
		}
		m := sample.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("not a Prometheus sample: %q", line)
			continue
		}
		family := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m[1], "_bucket"), "_sum"), "_count")
		if types[family] == "" && types[m[1]] == "" {
			t.Errorf("%s: no TYPE line before it", line)
		}
		v, err := strconv.ParseFloat(m[4], 64)
		if err != nil {
			t.Errorf("%s: bad value", line)
		}
		values[m[1]+m[2]] = v
		if strings.HasSuffix(m[1], "_bucket") {
			if strings.Contains(m[2], `le="0.005"`) {
				lastBucket = 0
			}
			if v < lastBucket {
				t.Errorf("%s: buckets must be cumulative", line)
			}
			lastBucket = v
		}
	}
	want := map[string]float64{
		`zerocost_http_requests_total{route="POST /v1/score",code="200"}`: 3,
		`zerocost_http_requests_total{route="POST /v1/score",code="400"}`: 1,
		`zerocost_models_scored_total{source="score",outcome="ok"}`:       3,
		`zerocost_models_scored_total{source="score",outcome="failed"}`:   1,
		`zerocost_models_scored_total{source="rank",outcome="ok"}`:        2,
		`zerocost_proxy_seconds_count{proxy="synflow"}`:                   5,
		`zerocost_proxy_seconds_bucket{proxy="synflow",le="+Inf"}`:        5,
		`zerocost_score_seconds_count`:                                    4,
		`zerocost_jobs{status="done"}`:                                    1,
		`zerocost_score_queue_length`:                                     0,
	}
	for k, w := range want {
		if g, ok := values[k]; !ok || g != w {
			t.Errorf("%s: want %v, got %v (present %v)", k, w, g, ok)
		}
	}
	if values[`zerocost_proxy_seconds_sum{proxy="synflow"}`] <= 0 {
		t.Errorf("synflow seconds: want > 0")
	}
}

// The options of a job are journaled by the flags' names.
func TestJournalNames(t *testing.T) {
	o := newOptions()
	if err := o.setJSON([]byte(`{"proxies": "synflow", "batch-size": 3, "per-layer": true, "input": ["ids=8:int64:tokens", "mask=8:mask"]}`), "test"); err != nil {
		t.Fatal(err)
	}
	req := o.req
	raw, _ := json.Marshal(req)
	var back proxies.Request
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if back.Proxies != "synflow" || back.BatchSize != 3 || !back.PerLayer || len(back.Inputs) != 2 || back.Inputs[1].Source != "mask" {
		t.Errorf("journal round trip: %s gave %+v", raw, back)
	}
	for _, name := range []string{`"batch-size":3`, `"per-layer":true`, `"proxies":"synflow"`} {
		if !strings.Contains(string(raw), name) {
			t.Errorf("journal %s: want %s", raw, name)
		}
	}
}

// Two servers on one state folder would run its jobs twice: the second is
// refused while the first lives, and starts once it is closed.
func TestStateLock(t *testing.T) {
	testort.Init(t)
	state := t.TempDir()
	first, err := New(Config{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{StateDir: state}); err == nil || !strings.Contains(err.Error(), "in use by another server") {
		t.Errorf("second server on the same state folder: want an error saying it is in use, got %v", err)
	}
	first.Close()
	second, err := New(Config{StateDir: state})
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	second.Close()
}
