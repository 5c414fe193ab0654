package ranking

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/zoo"
)

// Entry is one model of a collection.
type Entry struct {
	Path  string `json:"path"`
	Name  string `json:"name"`
	Shape string `json:"input_shape,omitempty"` // CxHxW, from a manifest
	// Inputs are input specifications separated by ';' (data.ParseInputSpecs),
	// and Output the head output, from a manifest's inputs and output columns.
	Inputs string             `json:"inputs,omitempty"`
	Output string             `json:"output,omitempty"`
	Truth  map[string]float64 `json:"truth,omitempty"` // numeric manifest columns
	// Model, when set, builds the model in memory instead of reading Path
	// (Path then only names it): NAS-Bench-201 networks from NB201Entries.
	Model func() (*onnximport.Model, error) `json:"-"`
}

// NB201Entries lists the networks of a NAS-Bench-201 source (see
// zoo.ParseNB201Source), built in memory when scored, with the
// architecture strings built into zoo (no ground-truth file needed). Each
// entry's name is the benchmark index and its path the pseudo-path that
// builds that one network again.
func NB201Entries(src zoo.NB201Source) ([]Entry, error) {
	picks, err := zoo.SelectNB201(src.Selection)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, len(picks))
	for i, p := range picks {
		out[i] = Entry{
			Path:  fmt.Sprintf("%sindex=%d:seed=%d:variant=%s:classes=%d", zoo.NB201SourcePrefix, p.Index, src.Seed, src.Variant, src.Classes),
			Name:  fmt.Sprint(p.Index),
			Model: func() (*onnximport.Model, error) { return src.Build(p) },
		}
	}
	return out, nil
}

// Collect turns paths (folders searched recursively for *.onnx, ONNX files,
// and CSV or JSONL manifests with a path column and optional name,
// input_shape, inputs, output and ground-truth columns) into entries, sorted by path within
// each folder.
func Collect(paths []string) ([]Entry, error) {
	var out []Entry
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("ranking: %w", err)
		}
		switch {
		case st.IsDir():
			var found []string
			err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() && strings.HasSuffix(strings.ToLower(path), ".onnx") {
					found = append(found, path)
				}
				return err
			})
			if err != nil {
				return nil, fmt.Errorf("ranking: %w", err)
			}
			sort.Strings(found)
			for _, f := range found {
				out = append(out, Entry{Path: f, Name: strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))})
			}
		case strings.HasSuffix(p, ".csv"):
			es, err := readCSVManifest(p)
			if err != nil {
				return nil, err
			}
			out = append(out, es...)
		case strings.HasSuffix(p, ".jsonl"):
			es, err := readJSONLManifest(p)
			if err != nil {
				return nil, err
			}
			out = append(out, es...)
		default:
			out = append(out, Entry{Path: p, Name: strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("ranking: no models found in %v (folders are searched for *.onnx)", paths)
	}
	return out, nil
}

// resolve makes a manifest's relative model path relative to the manifest.
func resolve(manifest, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(filepath.Dir(manifest), path)
}

func readCSVManifest(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ranking: %w", err)
	}
	defer f.Close()
	return parseCSVManifest(f, path)
}

// parseCSVManifest reads a CSV manifest from r; path names it in errors
// and is what relative model paths are relative to.
func parseCSVManifest(r io.Reader, path string) ([]Entry, error) {
	recs, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("ranking: %s: %w", path, err)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("ranking: %s is empty", path)
	}
	header := recs[0]
	var out []Entry
	for line, rec := range recs[1:] {
		fields := map[string]string{}
		for i, h := range header {
			if i < len(rec) {
				fields[h] = rec[i]
			}
		}
		e, err := manifestEntry(path, line+2, fields)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func readJSONLManifest(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ranking: %w", err)
	}
	defer f.Close()
	return parseJSONLManifest(f, path)
}

// parseJSONLManifest reads a JSONL manifest (one JSON object per line)
// from r; path names it in errors and is what relative model paths are
// relative to.
func parseJSONLManifest(r io.Reader, path string) ([]Entry, error) {
	var out []Entry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		raw := map[string]any{}
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			return nil, fmt.Errorf("ranking: %s line %d: %w", path, line, err)
		}
		fields := map[string]string{}
		for k, v := range raw {
			fields[k] = fmt.Sprint(v)
		}
		e, err := manifestEntry(path, line, fields)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("ranking: %s: %w", path, err)
	}
	return out, nil
}

func manifestEntry(manifest string, line int, fields map[string]string) (Entry, error) {
	p := fields["path"]
	if p == "" {
		return Entry{}, fmt.Errorf("ranking: %s line %d has no path", manifest, line)
	}
	e := Entry{Path: resolve(manifest, p), Name: fields["name"], Shape: fields["input_shape"], Inputs: fields["inputs"], Output: fields["output"], Truth: map[string]float64{}}
	if e.Name == "" {
		e.Name = strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))
	}
	for k, v := range fields {
		if k == "path" || k == "name" || k == "input_shape" || k == "inputs" || k == "output" {
			continue
		}
		// NaN and infinities are no ground truth (and JSON cannot hold them).
		if x, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(x) && !math.IsInf(x, 0) {
			e.Truth[k] = x
		}
	}
	return e, nil
}
