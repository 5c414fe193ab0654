package ranking

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	goruntime "runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/engine"
	"github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/proxies"
	"github.com/zerocost/zerocost/runtime"
)

// Record is one line of a results file: the proxies.Result of a model plus
// what identifies it. A model that failed has Error set.
type Record struct {
	Name     string             `json:"name"`
	Key      string             `json:"key"` // NAS-Bench-201 index for zoo models, otherwise the name
	Path     string             `json:"path"`
	Settings string             `json:"settings"` // hash of the proxies and data settings
	Error    string             `json:"error,omitempty"`
	Truth    map[string]float64 `json:"truth,omitempty"`
	proxies.Result
}

// Options configure Run.
type Options struct {
	Proxies []string
	// Data builds each model's batch. With no Shape (and none from the
	// entry's manifest), a model's natural input size is used when it
	// records one (onnximport.Model.NaturalInputShape; zoo networks do).
	Data    data.DataSpec
	Score   proxies.Options // BN, Session (its Threads, when 0, is the cores shared among the workers), PerLayer
	Workers int             // default: the number of cores
	// Results is a JSONL file that every finished model is appended to; a
	// model already there with the same content hash and settings is not
	// scored again.
	Results string
	// Progress, when not nil, gets a progress line per model.
	Progress io.Writer
	// Stats, when not nil, is filled with what the run measured.
	Stats *RunStats
}

// RunStats is what Run measured of its own run.
type RunStats struct {
	Elapsed time.Duration
	Scored  int // models scored by this run (not taken from Results)
	Workers int // the parallel workers it ran
	// The gradient sessions' memory estimates (engine.EstimateMemory) as the
	// workers reserved them in their shared pool: the most at once, the most
	// one worker held at once, and the pool's capacity (the --max-memory
	// limit less the process's fixed share). All 0 without a limit.
	PeakReserved, WorkerPeakReserved, PoolCapacity int64
	// PeakResident is the process's peak resident memory when Run returned
	// (runtime.PeakResident; 0 where the kernel does not report it). It
	// covers the whole process so far, not only this run.
	PeakResident int64
}

// Summary is a one-line report of the run: models scored, wall time and
// memory.
func (s RunStats) Summary() string {
	plural := "s"
	if s.Workers == 1 {
		plural = ""
	}
	line := fmt.Sprintf("scored %d models in %s with %d worker%s", s.Scored, s.Elapsed.Round(time.Second), s.Workers, plural)
	if s.PeakResident > 0 {
		line += "; peak resident memory " + runtime.FormatBytes(s.PeakResident)
	}
	if s.PeakReserved > 0 { // no gradient session, nothing reserved
		line += fmt.Sprintf("; the sessions' memory estimates peaked at %s at once, %s in one worker (limit %s; workers wait rather than exceed it)",
			runtime.FormatBytes(s.PeakReserved), runtime.FormatBytes(s.WorkerPeakReserved), runtime.FormatBytes(s.PoolCapacity))
	}
	return line
}

// settingsHash identifies the scoring settings.
func settingsHash(opts Options) string {
	b, _ := json.Marshal(struct {
		P []string
		D data.DataSpec
		B string
		O string `json:",omitempty"` // the head output and head, when not the defaults
		H string `json:",omitempty"`
		R int    `json:",omitempty"` // the repeats of the re-initialising proxies, when not their own
	}{opts.Proxies, opts.Data, opts.Score.BN.String(), opts.Score.Output, strings.TrimPrefix(opts.Score.Head, proxies.HeadAuto), opts.Score.Repeats})
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:8])
}

// ReadResults reads a JSONL results file (a missing file is empty). Lines
// that are not a record (the torn last line of a killed run) are skipped.
func ReadResults(path string) ([]Record, error) {
	recs, _, _, err := readResultLines(path)
	return recs, err
}

// readResultLines is ReadResults that also returns each record's line
// number and the number of lines skipped.
func readResultLines(path string) (recs []Record, lines []int, skipped int, err error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil, 0, nil
	}
	if err != nil {
		return nil, nil, 0, fmt.Errorf("ranking: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			skipped++
			continue
		}
		recs = append(recs, r)
		lines = append(lines, line)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, 0, fmt.Errorf("ranking: reading %s: %w", path, err)
	}
	return recs, lines, skipped, nil
}

// Run scores every entry and returns one record per entry, in entry order.
// Failed models are recorded with their error; the run goes on.
func Run(ctx context.Context, entries []Entry, opts Options) ([]Record, error) {
	if opts.Workers <= 0 {
		opts.Workers = goruntime.NumCPU()
	}
	threads := max(1, goruntime.NumCPU()/opts.Workers)
	if opts.Score.Session.Threads > 0 { // the caller's choice (--threads)
		threads = opts.Score.Session.Threads
	}
	settings := settingsHash(opts)

	done := map[string]Record{}
	if opts.Results != "" {
		// First the torn line of a killed run, so that it is neither read as
		// done nor joined to the next record.
		cut, err := repairTail(opts.Results)
		if err != nil {
			return nil, err
		}
		if cut > 0 {
			fmt.Fprintf(os.Stderr, "ranking: %s ended in a torn line (%d bytes, a run killed while writing it): cut off; its model is scored again\n", opts.Results, cut)
		}
		prev, err := ReadResults(opts.Results)
		if err != nil {
			return nil, err
		}
		for _, r := range prev {
			if r.Settings == settings && r.SHA256 != "" && r.Error == "" { // failures are retried
				done[r.SHA256] = r
			}
		}
	}
	var out *os.File
	if opts.Results != "" {
		f, err := os.OpenFile(opts.Results, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, fmt.Errorf("ranking: %w", err)
		}
		defer f.Close()
		out = f
	}
	records := make([]Record, len(entries))
	var mu sync.Mutex
	finished, start := 0, time.Now()
	jobs := make(chan int)
	var wg sync.WaitGroup
	// The workers share the memory limit: a model's sessions wait until
	// they fit next to the other workers' (engine.NewMemoryPool).
	// With one worker the pool never makes it wait, and it still measures.
	pool := engine.NewMemoryPool(opts.Score.Session.MaxMemory)
	scored := 0
	defer func() {
		if opts.Stats == nil {
			return
		}
		*opts.Stats = RunStats{Elapsed: time.Since(start), Scored: scored, Workers: opts.Workers}
		if pool != nil {
			opts.Stats.PeakReserved, opts.Stats.WorkerPeakReserved, opts.Stats.PoolCapacity = pool.Peak(), pool.WorkerPeak(), pool.Capacity()
		}
		opts.Stats.PeakResident, _ = runtime.PeakResident()
	}()
	for w := 0; w < opts.Workers; w++ {
		wg.Add(1)
		wopts := opts
		wopts.Score.Session.Budget = pool.Worker()
		go func() {
			defer wg.Done()
			for i := range jobs {
				rec, reused := scoreEntry(entries[i], wopts, settings, threads, done)
				mu.Lock()
				records[i] = rec
				var err error
				if out != nil && !reused {
					var line []byte
					if line, err = json.Marshal(rec); err != nil {
						line, _ = json.Marshal(Record{Name: rec.Name, Key: rec.Key, Path: rec.Path, Settings: rec.Settings, Error: "ranking: cannot encode the result: " + err.Error()})
					}
					_, err = out.Write(append(line, '\n'))
				}
				finished++
				if !reused {
					scored++
				}
				if opts.Progress != nil {
					el := time.Since(start)
					left := time.Duration(float64(el) / float64(finished) * float64(len(entries)-finished))
					fmt.Fprintf(opts.Progress, "\r%d/%d models, %.2f/s, %s left   ", finished, len(entries), float64(finished)/el.Seconds(), left.Round(time.Second))
				}
				mu.Unlock()
				if err != nil {
					fmt.Fprintf(os.Stderr, "ranking: writing %s: %v\n", opts.Results, err)
				}
			}
		}()
	}
	for i := range entries {
		select {
		case jobs <- i:
		case <-ctx.Done():
			close(jobs)
			wg.Wait()
			return records, ctx.Err()
		}
	}
	close(jobs)
	wg.Wait()
	if opts.Progress != nil {
		fmt.Fprintln(opts.Progress)
	}
	return records, nil
}

// scoreEntry scores one model, or returns its earlier record. A panic
// while scoring (a bug that some model triggers) is recorded as that
// model's failure.
func scoreEntry(e Entry, opts Options, settings string, threads int, done map[string]Record) (rec Record, reused bool) {
	defer func() {
		if p := recover(); p != nil {
			rec = Record{Name: e.Name, Key: e.Name, Path: e.Path, Settings: settings, Truth: e.Truth}
			rec.Model, reused = e.Path, false
			rec.Error = fmt.Sprintf("ranking: %s: internal error while scoring (please report it with the model): %v", e.Path, p)
		}
	}()
	rec, err := scoreOne(e, opts, settings, threads, done, &reused)
	if err != nil {
		rec.Error = err.Error()
	}
	return rec, reused
}

// scoreOne is scoreEntry without the recovery: it returns the record and
// the error that failed it.
func scoreOne(e Entry, opts Options, settings string, threads int, done map[string]Record, reused *bool) (Record, error) {
	rec := Record{Name: e.Name, Key: e.Name, Path: e.Path, Settings: settings, Truth: e.Truth}
	rec.Model = e.Path
	m, raw, err := loadEntry(e)
	if err != nil {
		return rec, err
	}
	sum := sha256.Sum256(raw)
	rec.SHA256 = hex.EncodeToString(sum[:])
	if prev, ok := done[rec.SHA256]; ok {
		prev.Name, prev.Path, prev.Truth = e.Name, e.Path, e.Truth
		*reused = true
		return prev, nil
	}
	if m == nil {
		if m, err = onnximport.ParseFile(raw, e.Path); err != nil {
			return rec, err
		}
	}
	m.Path = e.Path
	for _, md := range m.Proto.GetMetadataProps() {
		if md.GetKey() == "nb201_index" && md.GetValue() != "-1" {
			rec.Key = md.GetValue()
		}
	}
	spec := opts.Data
	if e.Shape != "" {
		if spec.Shape, err = data.ParseShape(e.Shape); err != nil {
			return rec, fmt.Errorf("ranking: %s: input_shape: %w", e.Path, err)
		}
	}
	if len(spec.Shape) == 0 {
		// No shape from the caller or the manifest: the model's own
		// natural input size, when it records one (zoo models do).
		if spec.Shape, err = m.NaturalInputShape(); err != nil {
			return rec, err
		}
	}
	if e.Inputs != "" {
		specs, err := data.ParseInputSpecs(e.Inputs)
		if err != nil {
			return rec, fmt.Errorf("ranking: %s: inputs: %w", e.Path, err)
		}
		spec.Inputs = mergeSpecs(spec.Inputs, specs)
	}
	so := opts.Score
	so.Proxies = opts.Proxies
	so.Session.Threads = threads
	if e.Output != "" {
		so.Output = e.Output
	}
	if spec.MaxMemory == 0 {
		spec.MaxMemory = so.Session.MaxMemory
	}
	if so.Batch, err = data.LoadInputs(spec, m); err != nil {
		if !strings.Contains(err.Error(), e.Path) {
			err = fmt.Errorf("%s: %w", e.Path, err)
		}
		return rec, err
	}
	so.SHA256 = rec.SHA256
	res, err := proxies.Score(m, so)
	if err != nil {
		return rec, err
	}
	rec.Result = *res
	return rec, nil
}

// mergeSpecs returns base with the specifications of over added, an
// input given in both taking over's.
func mergeSpecs(base, over []data.InputSpec) []data.InputSpec {
	out := append([]data.InputSpec{}, over...)
	for _, b := range base {
		found := false
		for _, o := range over {
			found = found || o.Name == b.Name
		}
		if !found {
			out = append(out, b)
		}
	}
	return out
}

// loadEntry returns an entry's bytes, and its model when it is built in
// memory (a file is parsed only when its hash is not already done).
func loadEntry(e Entry) (*onnximport.Model, []byte, error) {
	if e.Model == nil {
		raw, err := os.ReadFile(e.Path)
		return nil, raw, err
	}
	m, err := e.Model()
	if err != nil {
		return nil, nil, fmt.Errorf("ranking: %s: %w", e.Path, err)
	}
	raw, err := m.Marshal()
	return m, raw, err
}

// Value is the number a proxy ranks by: log10 where the proxy reports it
// (synflow, synflow_bn; −Inf for a score of 0), the score otherwise; NaN
// when missing.
func Value(r Record, proxy string) float64 {
	p, ok := r.Proxies[proxy]
	if !ok || p == nil {
		return math.NaN()
	}
	if p.Log10 != nil {
		return *p.Log10
	}
	if (proxy == "synflow" || proxy == "synflow_bn") && p.Score == 0 {
		return math.Inf(-1)
	}
	return p.Score
}

// Sort orders records best first by a proxy (or an ensemble column added
// by WithEnsembles), or by an ensemble method (vote, meanrank, logrank)
// over the given proxies. Records without a value go last.
func Sort(records []Record, by string, proxiesForVote []string) {
	key := make([]float64, len(records))
	if slices.Contains(Methods, by) && len(proxiesForVote) > 0 {
		key, _ = EnsembleValues(records, Ensemble{Name: by, Method: by, Components: comps(proxiesForVote...)})
	} else {
		for i, r := range records {
			key[i] = Value(r, by)
		}
	}
	idx := make([]int, len(records))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ka, kb := key[idx[a]], key[idx[b]]
		if math.IsNaN(kb) {
			return !math.IsNaN(ka)
		}
		return ka > kb
	})
	sorted := make([]Record, len(records))
	for i, j := range idx {
		sorted[i] = records[j]
	}
	copy(records, sorted)
}
