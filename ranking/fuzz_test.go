package ranking

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/zerocost/zerocost/data"
)

// checkEntries checks what a manifest reader returned: every entry names a
// model, and every entry can be written to a results file (JSON has no
// NaN or infinity).
func checkEntries(t *testing.T, entries []Entry, err error) {
	t.Helper()
	if err != nil {
		if !strings.HasPrefix(err.Error(), "ranking: dir/m.") {
			t.Fatalf("error without the package prefix and file: %v", err)
		}
		return
	}
	for _, e := range entries {
		if e.Path == "" {
			t.Fatalf("entry without a path: %+v", e)
		}
		for k, v := range e.Truth {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("truth %s = %v", k, v)
			}
		}
		if _, err := json.Marshal(Record{Name: e.Name, Path: e.Path, Truth: e.Truth}); err != nil {
			t.Fatalf("entry %+v cannot be recorded: %v", e, err)
		}
		_, _ = data.ParseShape(e.Shape)
	}
}

// FuzzCSVManifest feeds arbitrary bytes to the CSV manifest reader. Seeds:
// testdata/fuzz/FuzzCSVManifest.
func FuzzCSVManifest(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := parseCSVManifest(bytes.NewReader(b), "dir/m.csv")
		checkEntries(t, entries, err)
	})
}

// FuzzJSONLManifest feeds arbitrary bytes to the JSONL manifest reader.
// Seeds: testdata/fuzz/FuzzJSONLManifest.
func FuzzJSONLManifest(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := parseJSONLManifest(bytes.NewReader(b), "dir/m.jsonl")
		checkEntries(t, entries, err)
	})
}
