package serve

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/zerocost/zerocost/proxies"
	"github.com/zerocost/zerocost/ranking"
	"github.com/zerocost/zerocost/zoo"
)

// Job statuses. A job interrupted by a shutdown is journaled as queued and
// resumes when a server starts on the same state folder.
const (
	statusQueued    = "queued"
	statusRunning   = "running"
	statusCanceling = "canceling"
	statusDone      = "done"
	statusFailed    = "failed"
	statusCanceled  = "canceled"
)

var jobStatuses = []string{statusQueued, statusRunning, statusCanceling, statusDone, statusFailed, statusCanceled}

// jobState is a rank job as journaled in STATE/jobs/ID/job.json.
type jobState struct {
	ID string `json:"id"`
	// Paths are the collection: resolved paths under the root, nb201:
	// sources, and the manifest of the uploaded models.
	Paths    []string        `json:"paths"`
	Request  proxies.Request `json:"request"`
	Sort     string          `json:"sort"`
	Workers  int             `json:"workers,omitempty"`
	Status   string          `json:"status"`
	Error    string          `json:"error,omitempty"`
	Total    int             `json:"total"`
	Runs     int             `json:"runs"` // times the job was started (more than 1: resumed)
	Created  time.Time       `json:"created"`
	Started  *time.Time      `json:"started,omitempty"`
	Finished *time.Time      `json:"finished,omitempty"`
}

type job struct {
	state  jobState
	dir    string
	cancel context.CancelFunc // of the running job
}

func (j *job) results() string { return filepath.Join(j.dir, "results.jsonl") }

// jobQueue holds every job of the state folder and the queued ones in
// order.
type jobQueue struct {
	dir     string
	limit   int
	mu      sync.Mutex
	all     map[string]*job
	pending []*job
	wake    chan struct{}
}

// openJobs reads the journal: jobs that were queued or running when the
// last server stopped are queued again, oldest first.
func openJobs(dir string, limit int) (*jobQueue, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("serve: state folder: %w", err)
	}
	q := &jobQueue{dir: dir, limit: limit, all: map[string]*job{}, wake: make(chan struct{}, 1)}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("serve: state folder: %w", err)
	}
	for _, de := range des {
		j := &job{dir: filepath.Join(dir, de.Name())}
		raw, err := os.ReadFile(filepath.Join(j.dir, "job.json"))
		if err != nil || json.Unmarshal(raw, &j.state) != nil || j.state.ID != de.Name() {
			continue // a job whose journal was never completed: it was never accepted
		}
		switch j.state.Status {
		case statusQueued, statusRunning:
			j.state.Status = statusQueued
			q.pending = append(q.pending, j)
		case statusCanceling:
			j.state.Status = statusCanceled
		}
		q.all[j.state.ID] = j
	}
	slices.SortFunc(q.pending, func(a, b *job) int { return a.state.Created.Compare(b.state.Created) })
	if len(q.pending) > 0 {
		q.wake <- struct{}{}
	}
	return q, nil
}

// save writes the job's journal atomically (a new file renamed over the
// old one). The caller holds q.mu.
func (q *jobQueue) save(j *job) error {
	raw, err := json.MarshalIndent(j.state, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(j.dir, "job.json.tmp")
	if err := os.WriteFile(tmp, raw, 0o644); err != nil {
		return fmt.Errorf("serve: journal of job %s: %w", j.state.ID, err)
	}
	return os.Rename(tmp, filepath.Join(j.dir, "job.json"))
}

func (q *jobQueue) count(status string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, j := range q.all {
		if j.state.Status == status {
			n++
		}
	}
	return n
}

func (q *jobQueue) get(id string) *job {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.all[id]
}

// next waits for the oldest queued job and marks it running; nil when ctx
// ends first.
func (q *jobQueue) next(ctx context.Context) *job {
	for {
		q.mu.Lock()
		if len(q.pending) > 0 {
			j := q.pending[0]
			q.pending = q.pending[1:]
			if len(q.pending) > 0 {
				select {
				case q.wake <- struct{}{}:
				default:
				}
			}
			q.mu.Unlock()
			return j
		}
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-ctx.Done():
			return nil
		}
	}
}

func newID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// rankBody is the JSON body of POST /v1/rank.
type rankBody struct {
	Paths   []string        `json:"paths"`
	Options json.RawMessage `json:"options"`
	Sort    string          `json:"sort"`
	Workers int             `json:"workers"`
}

// handleRank answers POST /v1/rank: a job ranking paths under the root,
// nb201: sources or uploaded models; 202 with its id.
func (s *Server) handleRank(w http.ResponseWriter, r *http.Request) {
	o := newOptions()
	if err := o.setQuery(r, "sort", "workers", "name"); err != nil {
		writeErr(w, err)
		return
	}
	body := rankBody{Sort: r.URL.Query().Get("sort")}
	if v := r.URL.Query().Get("workers"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("workers=%q is not a number", v))
			return
		}
		body.Workers = n
	}
	ups, err := s.readModels(r, o, func(raw []byte) error {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			return errorf(http.StatusBadRequest, "the body is not a rank request {\"paths\": [...], \"options\": {...}, \"sort\": \"PROXY\", \"workers\": N}: %v", err)
		}
		if len(body.Options) > 0 && string(body.Options) != "null" {
			return o.setJSON(body.Options, `"options"`)
		}
		return nil
	})
	if err != nil {
		writeErr(w, err)
		return
	}
	if len(body.Paths) == 0 && len(ups) == 0 {
		writeError(w, http.StatusBadRequest, `nothing to rank: give {"paths": [...]} (folders, ONNX files or manifests under the server's root, or nb201: sources) as JSON, or upload models as multipart file parts`)
		return
	}
	if body.Workers < 0 || body.Workers > 256 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("workers must be between 1 and 256, got %d", body.Workers))
		return
	}
	req, err := s.request(o)
	if err != nil {
		writeErr(w, err)
		return
	}
	names, _ := req.ProxyNames()
	if body.Sort == "" {
		body.Sort = names[0]
	}
	if _, ok := proxies.Lookup(body.Sort); !ok && body.Sort != "vote" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("sort must be a proxy or vote, got %q", body.Sort))
		return
	}
	var paths []string
	for _, p := range body.Paths {
		if strings.HasPrefix(p, zoo.NB201SourcePrefix) {
			if _, err := zoo.ParseNB201Source(p); err != nil {
				writeError(w, http.StatusBadRequest, err.Error())
				return
			}
			paths = append(paths, p)
			continue
		}
		full, err := s.resolve(p, "path")
		if err != nil {
			writeErr(w, err)
			return
		}
		paths = append(paths, full)
	}
	j, err := s.submit(paths, ups, req, body)
	if err != nil {
		writeErr(w, err)
		return
	}
	w.Header().Set("Location", "/v1/jobs/"+j.ID)
	writeJSON(w, http.StatusAccepted, map[string]any{"id": j.ID, "status": j.Status, "total": j.Total, "url": "/v1/jobs/" + j.ID})
}

// submit journals a new job: its uploads and manifest, then job.json (a
// folder without one was never accepted), and queues it.
func (s *Server) submit(paths []string, ups []upload, req proxies.Request, body rankBody) (jobState, error) {
	q := s.jobs
	q.mu.Lock()
	queued := len(q.pending)
	q.mu.Unlock()
	if queued >= q.limit {
		return jobState{}, &retryError{&httpError{http.StatusTooManyRequests, fmt.Sprintf("%d rank jobs are waiting already, the server's limit (--jobs): retry later", queued)}, 30}
	}
	j := &job{state: jobState{ID: newID(), Request: req, Sort: body.Sort, Workers: body.Workers, Status: statusQueued, Created: time.Now().UTC()}}
	j.dir = filepath.Join(q.dir, j.state.ID)
	if err := os.MkdirAll(j.dir, 0o755); err != nil {
		return jobState{}, err
	}
	fail := func(err error) (jobState, error) {
		os.RemoveAll(j.dir)
		return jobState{}, err
	}
	if len(ups) > 0 {
		manifest, err := saveUploads(filepath.Join(j.dir, "models"), ups)
		if err != nil {
			return fail(err)
		}
		paths = append(paths, manifest)
	}
	j.state.Paths = paths
	entries, err := s.entries(paths, j.dir)
	if err != nil {
		return fail(err)
	}
	j.state.Total = len(entries)
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.save(j); err != nil {
		return fail(err)
	}
	q.all[j.state.ID] = j
	q.pending = append(q.pending, j)
	select {
	case q.wake <- struct{}{}:
	default:
	}
	s.cfg.Log.Printf("job %s: queued, %d models", j.state.ID, j.state.Total)
	return j.state, nil
}

// retryError is an httpError answered with a Retry-After header.
type retryError struct {
	*httpError
	seconds int
}

// entries collects a job's models; a model outside the root (listed by a
// manifest) is refused, but for the job's own uploads in its folder.
func (s *Server) entries(paths []string, jobDir string) ([]ranking.Entry, error) {
	entries, err := ranking.CollectSources(paths)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "%v", err)
	}
	uploads := filepath.Join(jobDir, "models") + string(filepath.Separator)
	for _, e := range entries {
		if e.Model != nil || strings.HasPrefix(e.Path, uploads) {
			continue
		}
		if _, err := s.resolve(e.Path, "model"); err != nil {
			return nil, err
		}
	}
	return entries, nil
}

// saveUploads writes uploaded models as DIR/0001.onnx, … and a manifest
// that names each after its upload.
func saveUploads(dir string, ups []upload) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	var lines []byte
	for i, up := range ups {
		file := fmt.Sprintf("%04d.onnx", i+1)
		if err := os.WriteFile(filepath.Join(dir, file), up.raw, 0o644); err != nil {
			return "", err
		}
		line, _ := json.Marshal(map[string]string{"path": file, "name": strings.TrimSuffix(up.name, filepath.Ext(up.name))})
		lines = append(append(lines, line...), '\n')
	}
	manifest := filepath.Join(dir, "manifest.jsonl")
	return manifest, os.WriteFile(manifest, lines, 0o644)
}

// runJobs runs the queued jobs one after the other until ctx ends.
func (s *Server) runJobs(ctx context.Context) {
	for {
		j := s.jobs.next(ctx)
		if j == nil {
			return
		}
		s.runJob(ctx, j)
	}
}

func (s *Server) runJob(ctx context.Context, j *job) {
	q := s.jobs
	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	q.mu.Lock()
	if j.state.Status != statusQueued { // canceled while waiting
		q.mu.Unlock()
		return
	}
	now := time.Now().UTC()
	j.cancel = cancel
	j.state.Status, j.state.Started = statusRunning, &now
	j.state.Runs++
	q.save(j)
	st := j.state
	q.mu.Unlock()
	s.cfg.Log.Printf("job %s: running (run %d)", st.ID, st.Runs)

	err := trimTornLine(j.results())
	before, _ := ranking.ReadResults(j.results())
	if err == nil {
		err = s.rank(jctx, j, st)
	}
	after, _ := ranking.ReadResults(j.results())
	for _, r := range after[min(len(before), len(after)):] {
		if r.Error != "" {
			s.metrics.model("rank", nil, 0)
		} else {
			s.metrics.model("rank", &r.Result, 0)
		}
	}

	q.mu.Lock()
	defer q.mu.Unlock()
	end := time.Now().UTC()
	switch {
	case j.state.Status == statusCanceling:
		j.state.Status, j.state.Finished = statusCanceled, &end
	case err == nil:
		j.state.Status, j.state.Finished = statusDone, &end
	case ctx.Err() != nil:
		j.state.Status = statusQueued // the server is stopping: resumed by the next one
	default:
		j.state.Status, j.state.Error, j.state.Finished = statusFailed, err.Error(), &end
	}
	j.cancel = nil
	if err := q.save(j); err != nil {
		s.cfg.Log.Printf("job %s: %v", j.state.ID, err)
	}
	s.cfg.Log.Printf("job %s: %s", j.state.ID, j.state.Status)
}

// trimTornLine cuts a results file after its last complete line: a
// server killed while appending leaves part of a line, which the next
// record appended would be glued to (and both lost).
func trimTornLine(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return err
	}
	// Records are at most a few MiB (per-layer results of a large model).
	const window = 64 << 20
	start := max(0, st.Size()-window)
	tail := make([]byte, st.Size()-start)
	if _, err := f.ReadAt(tail, start); err != nil {
		return err
	}
	if tail[len(tail)-1] == '\n' {
		return nil
	}
	keep := start + int64(bytes.LastIndexByte(tail, '\n')+1)
	return f.Truncate(keep)
}

// rank runs one job's ranking, appending to its results file (and skipping
// the models already there: a resumed job picks up where it stopped).
func (s *Server) rank(ctx context.Context, j *job, st jobState) error {
	entries, err := s.entries(st.Paths, j.dir)
	if err != nil {
		return err
	}
	opts, err := ranking.RequestOptions(&st.Request, s.cfg.Session)
	if err != nil {
		return err
	}
	opts.Workers = s.cfg.JobWorkers
	if st.Workers > 0 {
		opts.Workers = st.Workers
	}
	opts.Results = j.results()
	_, err = ranking.Run(ctx, entries, opts)
	return err
}

// jobView is the answer of GET /v1/jobs/{id}.
type jobView struct {
	jobState
	Done    int              `json:"done"`   // models with a result
	Failed  int              `json:"failed"` // of which failed
	Results []ranking.Record `json:"results,omitempty"`
}

func (s *Server) handleJob(w http.ResponseWriter, r *http.Request) {
	j := s.jobs.get(r.PathValue("id"))
	if j == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no job %q on this server", r.PathValue("id")))
		return
	}
	s.jobs.mu.Lock()
	v := jobView{jobState: j.state}
	s.jobs.mu.Unlock()
	records, err := ranking.ReadResults(j.results())
	if err != nil {
		writeErr(w, err)
		return
	}
	// A model that failed and was retried on a resume has two lines: the
	// last one counts.
	last := map[string]int{}
	for i, rec := range records {
		last[rec.Path] = i
	}
	for i, rec := range records {
		if last[rec.Path] != i {
			continue
		}
		v.Done++
		if rec.Error != "" {
			v.Failed++
		}
		v.Results = append(v.Results, rec)
	}
	if r.URL.Query().Get("results") == "false" {
		v.Results = nil
	} else {
		names, _ := v.Request.ProxyNames()
		ranking.Sort(v.Results, v.Sort, names)
	}
	writeJSON(w, http.StatusOK, v)
}

// handleCancel answers DELETE /v1/jobs/{id}: a queued job is canceled at
// once, a running one after the models it is scoring.
func (s *Server) handleCancel(w http.ResponseWriter, r *http.Request) {
	q := s.jobs
	q.mu.Lock()
	defer q.mu.Unlock()
	j := q.all[r.PathValue("id")]
	if j == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no job %q on this server", r.PathValue("id")))
		return
	}
	switch j.state.Status {
	case statusQueued:
		now := time.Now().UTC()
		j.state.Status, j.state.Finished = statusCanceled, &now
		q.pending = slices.DeleteFunc(q.pending, func(p *job) bool { return p == j })
	case statusRunning:
		j.state.Status = statusCanceling
		if j.cancel != nil {
			j.cancel()
		}
	case statusCanceling, statusCanceled:
	default:
		writeError(w, http.StatusConflict, fmt.Sprintf("job %s is %s already: there is nothing to cancel", j.state.ID, j.state.Status))
		return
	}
	if err := q.save(j); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"id": j.state.ID, "status": j.state.Status})
}
