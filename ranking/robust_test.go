package ranking_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/ranking"
)

// TestRunRecordsPanicsAndMemoryRefusals checks that a model that makes the
// scorer panic, or whose batch is refused by the memory guard, is recorded
// as failed with its error while the others are scored. Neither needs ONNX
// Runtime: both fail before a session opens.
func TestRunRecordsPanicsAndMemoryRefusals(t *testing.T) {
	dir := t.TempDir()
	huge := writeTiny(t, dir, "huge.onnx", 1)
	entries := []ranking.Entry{
		{Path: "nb201:broken", Name: "broken", Model: func() (*onnximport.Model, error) { panic("a bug that one model triggers") }},
		{Path: huge, Name: "huge"},
	}
	results := filepath.Join(dir, "results.jsonl")
	recs, err := ranking.Run(context.Background(), entries, ranking.Options{
		Proxies: []string{"params"},
		Data:    data.DataSpec{BatchSize: 1 << 20, Shape: []int64{3, 1 << 10, 1 << 10}},
		Workers: 2,
		Results: results,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || !strings.Contains(recs[0].Error, "ranking: nb201:broken: internal error while scoring") || !strings.Contains(recs[0].Error, "a bug that one model triggers") {
		t.Fatalf("the panicking model: %+v", recs[0])
	}
	if !strings.Contains(recs[1].Error, huge+": data: the input batch of shape [1048576 3 1024 1024]") || !strings.Contains(recs[1].Error, "more than the memory limit") {
		t.Fatalf("the huge batch: %q", recs[1].Error)
	}
	written, err := ranking.ReadResults(results)
	if err != nil || len(written) != 2 {
		t.Fatalf("results file: %d records, %v", len(written), err)
	}
}
