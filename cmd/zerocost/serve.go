package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/zerocost/zerocost/runtime"
	"github.com/zerocost/zerocost/serve"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	var rf runtimeFlags
	rf.register(fs)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one)")
	state := fs.String("state", "zerocost-serve", "folder of the rank jobs' journal (requests, uploaded models, results): a server started again on it resumes the unfinished jobs")
	root := fs.String("root", ".", "folder that rank paths and data files of requests are read from (nothing outside it is read; \"\" reads no server files, only uploads)")
	tokenFile := fs.String("token-file", "", "file holding a bearer token that every request but /healthz must send (Authorization: Bearer TOKEN)")
	maxBody := fs.String("max-body", "128MiB", "largest request body (model uploads)")
	timeout := fs.Duration("timeout", 5*time.Minute, "time limit of a score request from its arrival, queue wait included, and of reading any request")
	workers := fs.Int("workers", 0, "score requests scored at once (default: the number of cores; ONNX Runtime threads are split among them unless --threads is set)")
	queue := fs.Int("queue", 0, "score requests that may wait for a worker before the next gets 429 (default: 4 × workers)")
	jobs := fs.Int("jobs", 16, "rank jobs that may wait for their turn before the next gets 429 (one runs at a time)")
	jobWorkers := fs.Int("job-workers", 0, "models a rank job scores at once (default: the number of cores)")
	grace := fs.Duration("grace", time.Minute, "on SIGINT or SIGTERM, how long requests in progress may take to finish")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("serve takes no arguments, got %q", pos)
	}
	body, err := runtime.ParseBytes(*maxBody)
	if err != nil || body <= 0 {
		return usagef("--max-body: want a size like 128MiB, got %q", *maxBody)
	}
	if *timeout <= 0 || *grace < 0 {
		return usagef("--timeout must be positive and --grace at least 0")
	}
	if *workers < 0 || *queue < 0 || *jobs < 0 || *jobWorkers < 0 {
		return usagef("--workers, --queue, --jobs and --job-workers must be at least 0")
	}
	so, err := rf.sessionOptions()
	if err != nil {
		return err
	}
	token := ""
	if *tokenFile != "" {
		raw, err := os.ReadFile(*tokenFile)
		if err != nil {
			return usagef("--token-file: %v", err)
		}
		if token = strings.TrimSpace(string(raw)); token == "" || strings.ContainsAny(token, " \t\r\n") {
			return usagef("--token-file %s must hold one token (no spaces), on one line", *tokenFile)
		}
	}
	if err := runtime.Init(rf.ortLib); err != nil {
		return err
	}
	logger := log.New(stderr, "zerocost serve: ", log.LstdFlags)
	srv, err := serve.New(serve.Config{
		StateDir: *state, Root: *root, Token: token, MaxBody: body, Timeout: *timeout,
		Workers: *workers, Queue: *queue, Jobs: *jobs, JobWorkers: *jobWorkers, Session: so, Log: logger,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		srv.Close()
		return fmt.Errorf("--addr %s: %w", *addr, err)
	}
	host, _, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); token == "" && (ip == nil || !ip.IsLoopback()) {
		logger.Printf("warning: listening on %s without --token-file: anyone who reaches it may score models and read files under --root", ln.Addr())
	}
	logger.Printf("listening on http://%s (state %s, root %q)", ln.Addr(), *state, *root)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = srv.Serve(ctx, ln, *grace)
	logger.Printf("stopped; unfinished rank jobs are journaled in %s", *state)
	return err
}
