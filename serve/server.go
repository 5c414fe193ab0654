package serve

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/zerocost/zerocost/runtime"
)

// Config configures a Server. Zero values take the defaults in brackets.
type Config struct {
	// StateDir holds the journal of rank jobs (StateDir/jobs/ID/): their
	// request, uploaded models and results, so that a restarted server
	// resumes them. Required.
	StateDir string
	// Root is the folder that rank jobs' paths and score options' data
	// files (data, labels, input sources) are read from; a path that
	// leaves it is refused. "" refuses every server-side file.
	Root string
	// Token, when not empty, must come as "Authorization: Bearer TOKEN" on
	// every route but /healthz.
	Token string
	// MaxBody is the largest request body in bytes [128 MiB].
	MaxBody int64
	// Timeout limits a score request from its arrival (queue wait
	// included) and the reading of any request [5 min].
	Timeout time.Duration
	// Workers is the number of models scored at once by score requests
	// [the number of cores]; ONNX Runtime's threads are split among them
	// unless Session.Threads is set.
	Workers int
	// Queue is the number of score requests that may wait for a worker;
	// one more is refused with 429 and Retry-After [4 × Workers].
	Queue int
	// Jobs is the number of rank jobs that may wait for their turn (one
	// runs at a time); one more is refused with 429 [16].
	Jobs int
	// JobWorkers is the number of models a rank job scores at once [the
	// number of cores].
	JobWorkers int
	// Session is the ONNX Runtime settings of every model (provider,
	// threads, memory limit).
	Session runtime.SessionOptions
	// Log gets one line per job event and error [discarded].
	Log *log.Logger
}

func (c *Config) setDefaults() {
	cores := goruntime.NumCPU()
	if c.MaxBody <= 0 {
		c.MaxBody = 128 << 20
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Minute
	}
	if c.Workers <= 0 {
		c.Workers = cores
	}
	if c.Queue <= 0 {
		c.Queue = 4 * c.Workers
	}
	if c.Jobs <= 0 {
		c.Jobs = 16
	}
	if c.JobWorkers <= 0 {
		c.JobWorkers = cores
	}
	if c.Log == nil {
		c.Log = log.New(io.Discard, "", 0)
	}
}

// Server is the scoring service: its handler, the score queue and the
// rank jobs. Create it with New, serve it with Serve (or mount Handler in
// a server of your own and call Close when done).
type Server struct {
	cfg     Config
	mux     *http.ServeMux
	metrics *metrics

	// Score requests: inflight counts those admitted (waiting or
	// running), at most Workers+Queue; slots holds one token per running
	// score.
	inflight atomic.Int64
	slots    chan struct{}
	// scoreNanos is a moving average of the time one score takes, for
	// Retry-After.
	scoreNanos atomic.Int64
	// emptyDir is the folder uploaded models' external data would be read
	// from: empty, so that an upload cannot read the server's files.
	emptyDir string

	jobs   *jobQueue
	stop   context.CancelFunc
	runner sync.WaitGroup
	// lock is STATE/lock, locked while the server lives: two servers on
	// one journal would score its jobs twice.
	lock      *os.File
	closeOnce sync.Once
}

// lockState takes the lock of the state folder, or says who holds it.
func lockState(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("serve: state folder: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(f.Name())
		f.Close()
		return nil, fmt.Errorf("serve: the state folder %s is in use by another server (%s); stop it first, or give this one another --state", dir, strings.TrimSpace(string(holder)))
	}
	f.Truncate(0)
	fmt.Fprintf(f, "pid %d", os.Getpid())
	return f, nil
}

// New checks cfg, reads the journal of rank jobs in cfg.StateDir and
// starts the job runner, which resumes every job that had not finished.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if cfg.StateDir == "" {
		return nil, errors.New("serve: no state folder: give one (--state DIR) for the journal of rank jobs")
	}
	state, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("serve: state folder %s: %w", cfg.StateDir, err)
	}
	cfg.StateDir = state
	if cfg.Root != "" {
		abs, err := filepath.Abs(cfg.Root)
		if err == nil {
			abs, err = filepath.EvalSymlinks(abs)
		}
		if err != nil {
			return nil, fmt.Errorf("serve: root folder %s: %w", cfg.Root, err)
		}
		cfg.Root = abs
	}
	if cfg.Session.Threads == 0 {
		cfg.Session.Threads = max(1, goruntime.NumCPU()/cfg.Workers)
	}
	empty := filepath.Join(cfg.StateDir, "empty")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		return nil, fmt.Errorf("serve: state folder: %w", err)
	}
	lock, err := lockState(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), metrics: newMetrics(), slots: make(chan struct{}, cfg.Workers), emptyDir: empty, lock: lock}
	if s.jobs, err = openJobs(filepath.Join(cfg.StateDir, "jobs"), cfg.Jobs); err != nil {
		lock.Close()
		return nil, err
	}
	s.mux.HandleFunc("GET /healthz", s.handleHealth)
	s.mux.HandleFunc("GET /metrics", s.handleMetrics)
	s.mux.HandleFunc("POST /v1/score", s.handleScore)
	s.mux.HandleFunc("POST /v1/rank", s.handleRank)
	s.mux.HandleFunc("GET /v1/jobs/{id}", s.handleJob)
	s.mux.HandleFunc("DELETE /v1/jobs/{id}", s.handleCancel)
	ctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.runner.Add(1)
	go func() {
		defer s.runner.Done()
		s.runJobs(ctx)
	}()
	return s, nil
}

// Handler returns the service's routes behind the request limits, the
// bearer-token check and the request counters.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		defer func() {
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			s.metrics.request(route, rec.code)
		}()
		if r.URL.Path != "/healthz" && !s.authorized(r) {
			rec.Header().Set("WWW-Authenticate", `Bearer realm="zerocost"`)
			writeError(rec, http.StatusUnauthorized, "missing or wrong bearer token: send the header \"Authorization: Bearer TOKEN\" with the token of the server's --token-file")
			return
		}
		r.Body = http.MaxBytesReader(rec, r.Body, s.cfg.MaxBody)
		s.mux.ServeHTTP(rec, r)
	})
}

func (s *Server) authorized(r *http.Request) bool {
	if s.cfg.Token == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(s.cfg.Token)) == 1
}

// Serve answers requests on ln until ctx is done, then shuts down
// gracefully: it stops accepting connections, lets the requests in
// progress finish (for at most grace), and stops the rank jobs after the
// models they are scoring, whose results are flushed; the journal keeps
// the unfinished jobs, which the next server on the same StateDir
// resumes.
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       s.cfg.Timeout,
		WriteTimeout:      s.cfg.Timeout + 30*time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          s.cfg.Log,
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), grace)
		err = hs.Shutdown(sctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("serve: requests still running after the grace period of %s; they were cut off", grace)
			hs.Close()
		}
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return errors.Join(err, s.Close())
}

// Close stops the job runner after the models it is scoring; unfinished
// jobs stay in the journal.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.stop()
		s.runner.Wait()
		s.lock.Close() // releases the lock
	})
	return nil
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "onnxruntime": runtime.Version()})
}

// admit takes a place among the score requests in flight, or says how many
// seconds to wait before retrying when the queue is full.
func (s *Server) admit() (release func(), retryAfter int) {
	limit := int64(s.cfg.Workers + s.cfg.Queue)
	if s.inflight.Add(1) > limit {
		s.inflight.Add(-1)
		per := time.Duration(s.scoreNanos.Load())
		if per == 0 {
			per = time.Second
		}
		wait := per.Seconds() * float64(limit) / float64(s.cfg.Workers)
		return nil, int(math.Min(math.Max(math.Ceil(wait), 1), 300))
	}
	return func() { s.inflight.Add(-1) }, 0
}

// noteScoreTime updates the moving average of one score's duration.
func (s *Server) noteScoreTime(d time.Duration) {
	old := s.scoreNanos.Load()
	if old == 0 {
		s.scoreNanos.Store(int64(d))
		return
	}
	s.scoreNanos.Store((7*old + int64(d)) / 8)
}

// httpError is an error with the status code it is answered with.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func errorf(code int, format string, args ...any) error {
	return &httpError{code, fmt.Sprintf(format, args...)}
}

// bodyError turns an error reading the request body into a 413 (too large)
// or 400 (cut short, malformed).
func (s *Server) bodyError(err error, what string) error {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return errorf(http.StatusRequestEntityTooLarge, "%s is larger than the server's limit of %d bytes (--max-body)", what, mb.Limit)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errorf(http.StatusBadRequest, "%s ended early (the upload was cut short): send it again", what)
	}
	return errorf(http.StatusBadRequest, "reading %s: %v", what, err)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// writeError answers {"error": msg}.
func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// writeErr answers an error: an httpError with its code, anything else as
// a 500.
func writeErr(w http.ResponseWriter, err error) {
	var re *retryError
	if errors.As(err, &re) {
		w.Header().Set("Retry-After", fmt.Sprint(re.seconds))
		writeError(w, re.code, re.msg)
		return
	}
	var he *httpError
	if errors.As(err, &he) {
		writeError(w, he.code, he.msg)
		return
	}
	writeError(w, http.StatusInternalServerError, err.Error())
}

// statusWriter records the status code of a response.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
