package serve

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/proxies"
)

// upload is a model sent with a request.
type upload struct {
	name string // the file name of the upload, or ?name=
	raw  []byte
}

// options collects the scoring options of a request, by the names of the
// score command's flags, from the query, form fields and JSON objects.
type options struct {
	req proxies.Request
	fs  *flag.FlagSet
}

func newOptions() *options {
	o := &options{fs: flag.NewFlagSet("options", flag.ContinueOnError)}
	o.fs.SetOutput(io.Discard)
	o.req.RegisterFlags(o.fs)
	return o
}

// set sets one option as its flag would be: unknown names and bad values
// are 400s that say what is wrong.
func (o *options) set(name, value string) error {
	if o.fs.Lookup(name) == nil {
		var known []string
		o.fs.VisitAll(func(f *flag.Flag) { known = append(known, f.Name) })
		return errorf(http.StatusBadRequest, "unknown option %q: the options are the score command's flags without the dashes: %s", name, strings.Join(known, ", "))
	}
	if err := o.fs.Set(name, value); err != nil {
		return errorf(http.StatusBadRequest, "option %s=%q: %v", name, value, err)
	}
	return nil
}

// setJSON sets the options of a JSON object: strings, numbers and booleans
// as their text, an array as the option repeated (input).
func (o *options) setJSON(raw []byte, what string) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return errorf(http.StatusBadRequest, "%s is not a JSON object of options: %v", what, err)
	}
	for _, name := range slices.Sorted(maps.Keys(obj)) {
		values, ok := obj[name].([]any)
		if !ok {
			values = []any{obj[name]}
		}
		for _, v := range values {
			switch v.(type) {
			case string, json.Number, bool:
			default:
				return errorf(http.StatusBadRequest, "%s: option %q must be a string, number or boolean (or a list of them), got %v", what, name, v)
			}
			if err := o.set(name, fmt.Sprint(v)); err != nil {
				return err
			}
		}
	}
	return nil
}

// setQuery sets the options of the query, but for the names in skip.
func (o *options) setQuery(r *http.Request, skip ...string) error {
	q := r.URL.Query()
	for _, name := range slices.Sorted(maps.Keys(q)) {
		if slices.Contains(skip, name) {
			continue
		}
		for _, v := range q[name] {
			if err := o.set(name, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// request returns the options, checked, with their data files resolved in
// the server's root.
func (s *Server) request(o *options) (proxies.Request, error) {
	req := o.req
	if err := req.Check(); err != nil {
		return req, errorf(http.StatusBadRequest, "%v", err)
	}
	var err error
	if req.Data != "" && req.Data != "random" && req.Data != "ones" {
		if req.Data, err = s.resolve(req.Data, "option data"); err != nil {
			return req, err
		}
	}
	if req.Labels != "" {
		if req.Labels, err = s.resolve(req.Labels, "option labels"); err != nil {
			return req, err
		}
	}
	req.Inputs = slices.Clone(req.Inputs)
	for i, in := range req.Inputs {
		if in.Source != "" && !slices.Contains(data.Sources, in.Source) {
			if req.Inputs[i].Source, err = s.resolve(in.Source, "the source of input "+in.Name); err != nil {
				return req, err
			}
		}
	}
	return req, nil
}

// resolve returns the path p names in the server's root, refusing one
// that leaves it (through .., an absolute path or a symbolic link).
func (s *Server) resolve(p, what string) (string, error) {
	if s.cfg.Root == "" {
		return "", errorf(http.StatusForbidden, "%s %q is a file on the server, and this server reads none of its files: start it with --root DIR, or upload the model", what, p)
	}
	full := filepath.Clean(p)
	if !filepath.IsAbs(full) {
		full = filepath.Join(s.cfg.Root, full)
	}
	real, err := filepath.EvalSymlinks(full)
	if err != nil {
		return "", errorf(http.StatusBadRequest, "%s %q: not found under the server's root folder (paths are relative to --root)", what, p)
	}
	if rel, err := filepath.Rel(s.cfg.Root, real); err != nil || !filepath.IsLocal(rel) && rel != "." {
		return "", errorf(http.StatusForbidden, "%s %q is outside the server's root folder: only files under --root are read", what, p)
	}
	return full, nil
}

// readModels reads the models and options of a request: the body itself
// (any content type but multipart/form-data and JSON), or a multipart
// upload whose file parts are models, whose part "options" is a JSON object
// of options and whose other fields are options. jsonBody, when not nil,
// gets the body of an application/json request.
func (s *Server) readModels(r *http.Request, o *options, jsonBody func([]byte) error) ([]upload, error) {
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case ct == "multipart/form-data":
		if params["boundary"] == "" {
			return nil, errorf(http.StatusBadRequest, "multipart/form-data without a boundary")
		}
		return s.readMultipart(multipart.NewReader(r.Body, params["boundary"]), o)
	case ct == "application/json":
		raw, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, s.bodyError(err, "the request body")
		}
		if jsonBody == nil {
			return nil, errorf(http.StatusUnsupportedMediaType, "send the model as the body (Content-Type: application/octet-stream) or as a multipart/form-data upload; options go in the query or in a multipart part \"options\"")
		}
		return nil, jsonBody(raw)
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, s.bodyError(err, "the model")
	}
	if len(raw) == 0 {
		return nil, nil
	}
	name := r.URL.Query().Get("name")
	if name == "" {
		name = "model.onnx"
	}
	return []upload{{name: name, raw: raw}}, nil
}

func (s *Server) readMultipart(mr *multipart.Reader, o *options) ([]upload, error) {
	var ups []upload
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return ups, nil
		}
		if err != nil {
			return nil, s.bodyError(err, "the multipart upload")
		}
		raw, err := io.ReadAll(part)
		if err != nil {
			return nil, s.bodyError(err, fmt.Sprintf("part %q of the upload", part.FormName()))
		}
		switch {
		case part.FileName() != "" || part.FormName() == "model":
			name := part.FileName()
			if name == "" {
				name = "model.onnx"
			}
			ups = append(ups, upload{name: filepath.Base(name), raw: raw})
		case part.FormName() == "options":
			if err := o.setJSON(raw, `part "options"`); err != nil {
				return nil, err
			}
		default:
			if err := o.set(part.FormName(), string(raw)); err != nil {
				return nil, err
			}
		}
	}
}

// handleScore answers POST /v1/score: one model, scored as `zerocost score
// --format json` prints it.
func (s *Server) handleScore(w http.ResponseWriter, r *http.Request) {
	release, retry := s.admit()
	if release == nil {
		w.Header().Set("Retry-After", strconv.Itoa(retry))
		writeError(w, http.StatusTooManyRequests, fmt.Sprintf("the score queue is full (%d scoring, %d waiting): retry after %d s", s.cfg.Workers, s.cfg.Queue, retry))
		return
	}
	released := false
	defer func() {
		if !released {
			release()
		}
	}()
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	o := newOptions()
	if err := o.setQuery(r, "name"); err != nil {
		writeErr(w, err)
		return
	}
	ups, err := s.readModels(r, o, nil)
	if err != nil {
		writeErr(w, err)
		return
	}
	if len(ups) != 1 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("want one model, got %d: send the ONNX file as the body or as one multipart file part", len(ups)))
		return
	}
	req, err := s.request(o)
	if err != nil {
		writeErr(w, err)
		return
	}
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		s.abandoned(w, ctx, "while waiting for a worker")
		return
	}
	// The scoring cannot be interrupted: it keeps its worker and its place
	// in the queue until it ends, even when the client is gone.
	released = true
	done := make(chan outcome, 1)
	go func() {
		defer func() {
			<-s.slots
			release()
		}()
		done <- s.score(ups[0], req)
	}()
	select {
	case out := <-done:
		if out.err != nil {
			writeErr(w, out.err)
			return
		}
		writeJSON(w, http.StatusOK, out.res)
	case <-ctx.Done():
		s.abandoned(w, ctx, "while scoring (the scoring goes on until it ends and keeps its worker)")
	}
}

// abandoned answers a request whose context ended: 504 when the time limit
// passed, 499 (nginx's "client closed request", for the logs and metrics)
// when the client went away.
func (s *Server) abandoned(w http.ResponseWriter, ctx context.Context, when string) {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		writeError(w, http.StatusGatewayTimeout, fmt.Sprintf("the request took longer than the server's limit of %s (--timeout) %s", s.cfg.Timeout, when))
		return
	}
	w.WriteHeader(499)
}

type outcome struct {
	res *proxies.Result
	err error
}

// score parses and scores one uploaded model; a panic (a zerocost bug that
// some model triggers) is a 500 that asks for a report, and the server
// goes on.
func (s *Server) score(up upload, req proxies.Request) (out outcome) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			out = outcome{err: fmt.Errorf("internal error while scoring %s (please report it with the model): %v", up.name, p)}
		}
		s.noteScoreTime(time.Since(start))
		s.metrics.model("score", out.res, time.Since(start).Seconds())
	}()
	m, err := onnximport.Parse(up.raw, s.emptyDir)
	if err != nil {
		code := http.StatusUnprocessableEntity
		if errors.Is(err, onnximport.ErrNotONNX) {
			code = http.StatusBadRequest
		}
		return outcome{err: errorf(code, "upload %s: %v", up.name, err)}
	}
	m.Path = up.name
	opts, err := req.Options(m, s.cfg.Session)
	if err != nil {
		var se *proxies.SettingsError
		if errors.As(err, &se) {
			return outcome{err: errorf(http.StatusBadRequest, "%v", err)}
		}
		return outcome{err: errorf(http.StatusUnprocessableEntity, "%v", err)}
	}
	sum := sha256.Sum256(up.raw)
	opts.SHA256 = hex.EncodeToString(sum[:])
	res, err := proxies.Score(m, opts)
	if err != nil {
		return outcome{err: errorf(http.StatusUnprocessableEntity, "%v", err)}
	}
	return outcome{res: res}
}
