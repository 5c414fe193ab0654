package ranking

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/proxies"
)

func rec(name, sha string, synflow float64, errText string) Record {
	r := Record{Name: name, Key: name, Path: "/m/" + name + ".onnx", Settings: "s", Error: errText}
	r.SHA256 = sha
	if errText == "" {
		r.Proxies = map[string]*proxies.ProxyResult{"synflow": {Score: synflow, TimeMS: synflow * 7}}
	}
	return r
}

// partial is a record whose synflow failed (params did not).
func partial(name, sha string) Record {
	r := rec(name, sha, 0, "")
	r.Proxies = map[string]*proxies.ProxyResult{"params": {Score: 1}}
	r.Errors = map[string]string{"synflow": "engine: more than the memory limit"}
	return r
}

// full is partial's model with both proxies.
func full(name, sha string) Record {
	r := rec(name, sha, 6, "")
	r.Proxies["params"] = &proxies.ProxyResult{Score: 1}
	return r
}

func writeRecords(t *testing.T, path string, tail string, recs ...Record) {
	t.Helper()
	var b strings.Builder
	for _, r := range recs {
		line, _ := json.Marshal(r)
		b.Write(append(line, '\n'))
	}
	if err := os.WriteFile(path, []byte(b.String()+tail), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestMerge(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
	// A file model whose bytes give the sha of "10", to be found by hash
	// under another path.
	model := filepath.Join(dir, "elsewhere.onnx")
	os.WriteFile(model, []byte("ten"), 0o644)
	sum := sha256.Sum256([]byte("ten"))
	tenSHA := hex.EncodeToString(sum[:])
	writeRecords(t, a, "",
		rec("10", tenSHA, 1, ""),
		rec("2", "h2", 2, ""),
		rec("3", "", 0, "cannot read"), // a failure before the model was read: known by path
		rec("4", "h4", 0, "broken"),
		partial("6", "h6"),
	)
	writeRecords(t, b, `{"name":"torn`,
		rec("10", tenSHA, 1+1e-9, ""), // the same score up to round-off: a duplicate
		rec("2", "h2", 2.5, ""),       // a conflict
		rec("3", "h3", 3, ""),         // the retried failure
		rec("4", "h4", 0, "broken"),   // the same failure again
		full("6", "h6"),               // synflow too, which failed in a.jsonl
	)
	entries := []Entry{
		{Path: model, Name: "10"},
		{Path: "/m/2.onnx", Name: "2", Model: func() (*onnximport.Model, error) { return nil, nil }},
		{Path: "/m/5.onnx", Name: "5", Model: func() (*onnximport.Model, error) { return nil, nil }},
	}
	out, rep, err := Merge([]string{a, b}, entries)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range out {
		names = append(names, r.Name)
	}
	if got := strings.Join(names, ","); got != "2,3,4,6,10" {
		t.Errorf("want one record per model ordered by key 2,3,4,6,10, got %s", got)
	}
	if r := out[3]; r.Proxies["synflow"] == nil || r.Proxies["synflow"].Score != 6 || r.Proxies["params"] == nil || len(r.Errors) != 0 {
		t.Errorf("model 6: want params from a.jsonl and synflow from b.jsonl, no errors; got %+v, %v", r.Proxies, r.Errors)
	}
	if out[0].Proxies["synflow"].Score != 2 {
		t.Errorf("a conflict keeps the first record read: want 2, got %g", out[0].Proxies["synflow"].Score)
	}
	if out[1].Error != "" {
		t.Errorf("the success of model 3 should replace its failure, got %q", out[1].Error)
	}
	if rep.Records != 10 || rep.Skipped != 1 || rep.Duplicates != 2 || rep.Retried != 2 {
		t.Errorf("want 10 records, 1 skipped line, 2 duplicates, 2 retried; got %+v", rep)
	}
	if len(rep.Conflicts) != 1 || rep.Conflicts[0].Name != "2" || !strings.Contains(rep.Conflicts[0].Dropped, "b.jsonl:2") {
		t.Errorf("want the conflict of model 2 dropped at b.jsonl:2, got %+v", rep.Conflicts)
	}
	if len(rep.Failed) != 1 || rep.Failed[0].Name != "4" {
		t.Errorf("want model 4 failed, got %+v", rep.Failed)
	}
	if m := rep.Missing["s"]; len(m) != 1 || m[0].Name != "5" {
		t.Errorf("want model 5 missing (10 found by content, 2 by path), got %+v", rep.Missing)
	}
	if _, _, err := Merge([]string{a, filepath.Join(dir, "nope.jsonl")}, nil); err == nil || !strings.Contains(err.Error(), "nope.jsonl") {
		t.Errorf("a missing results file should be an error naming it, got %v", err)
	}
	csv := filepath.Join(dir, "table.csv")
	os.WriteFile(csv, []byte("rank,name\n1,a\n"), 0o644)
	if _, _, err := Merge([]string{a, csv}, nil); err == nil || !strings.Contains(err.Error(), "table.csv") {
		t.Errorf("a file with no records (rank's CSV table) should be an error naming it, got %v", err)
	}
	empty := filepath.Join(dir, "empty.jsonl") // a shard with no models
	os.WriteFile(empty, nil, 0o644)
	if _, _, err := Merge([]string{a, empty}, nil); err != nil {
		t.Errorf("an empty results file is a shard without models, not an error: %v", err)
	}
}
