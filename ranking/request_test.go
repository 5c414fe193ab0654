package ranking_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/zerocost/zerocost/autodiff"
	"github.com/zerocost/zerocost/proxies"
	"github.com/zerocost/zerocost/ranking"
	"github.com/zerocost/zerocost/runtime"
	"github.com/zerocost/zerocost/zoo"
)

// The rank options carry every setting of the request (--bn included).
func TestRequestOptions(t *testing.T) {
	req := proxies.Request{Proxies: "synflow", Data: "ones", BatchSize: 2, BN: "eval", Head: proxies.HeadCE, Layout: "auto", PerLayer: true, Output: "logits", Seed: 4, Repeats: 3}
	opts, err := ranking.RequestOptions(&req, runtime.SessionOptions{Threads: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(opts.Proxies) != 1 || opts.Data.Source != "ones" || opts.Data.BatchSize != 2 || opts.Data.Seed != 4 || opts.Score.BN != autodiff.BNEval ||
		opts.Score.Head != proxies.HeadCE || !opts.Score.PerLayer || opts.Score.Output != "logits" || opts.Score.Session.Threads != 3 ||
		opts.Score.Repeats != 3 {
		t.Errorf("options: %+v", opts)
	}
	req.BN = "remove"
	if _, err := ranking.RequestOptions(&req, runtime.SessionOptions{}); err == nil {
		t.Error("--bn remove: want an error")
	}
}

// Files and nb201: sources come out in the order given.
func TestCollectSources(t *testing.T) {
	dir := t.TempDir()
	raw, _ := zoo.TinyCNN(1, 10).Marshal()
	os.WriteFile(filepath.Join(dir, "a.onnx"), raw, 0o644)
	entries, err := ranking.CollectSources([]string{"nb201:index=7", filepath.Join(dir, "a.onnx"), "nb201:index=3,5"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name)
	}
	if len(names) != 4 || names[0] != "7" || names[1] != "a" || names[2] != "3" || names[3] != "5" {
		t.Errorf("want 7, a, 3, 5, got %v", names)
	}
	if _, err := ranking.CollectSources([]string{"nb201:bogus=1"}); err == nil {
		t.Error("a malformed nb201: source: want an error")
	}
}
