package ranking

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zerocost/zerocost/zoo"
)

func TestParseShard(t *testing.T) {
	for i, c := range []struct {
		in   string
		want Shard
		err  bool
	}{
		{"0/1", Shard{0, 1}, false},
		{"3/4", Shard{3, 4}, false},
		{" 1/2 ", Shard{1, 2}, false},
		{"4/4", Shard{}, true},
		{"-1/4", Shard{}, true},
		{"0/0", Shard{}, true},
		{"1", Shard{}, true},
		{"a/b", Shard{}, true},
		{"", Shard{}, true},
	} {
		got, err := ParseShard(c.in)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("case %d (%q): want %v (error %v), got %v, %v", i, c.in, c.want, c.err, got, err)
		}
	}
}

func TestShardFromEnv(t *testing.T) {
	for i, c := range []struct {
		env    map[string]string
		n      int
		want   Shard
		ok     bool
		errHas string
	}{
		{env: nil, want: All},
		{env: map[string]string{EnvK8sIndex: "2", EnvShards: "4"}, want: Shard{2, 4}, ok: true},
		{env: map[string]string{EnvK8sIndex: "2"}, n: 3, want: Shard{2, 3}, ok: true},
		{env: map[string]string{EnvK8sIndex: "2"}, errHas: EnvShards},
		{env: map[string]string{EnvK8sIndex: "4", EnvShards: "4"}, errHas: "0 ≤ I < N"},
		{env: map[string]string{EnvK8sIndex: "x", EnvShards: "4"}, errHas: "not an integer"},
		{env: map[string]string{EnvSlurmID: "1", EnvSlurmCount: "4"}, want: Shard{1, 4}, ok: true},
		// --array=1-4: ids 1..4 are parts 0..3.
		{env: map[string]string{EnvSlurmID: "4", EnvSlurmCount: "4", EnvSlurmMin: "1"}, want: Shard{3, 4}, ok: true},
		// --array=0-6:2: ids 0, 2, 4, 6.
		{env: map[string]string{EnvSlurmID: "4", EnvSlurmCount: "4", EnvSlurmMin: "0", EnvSlurmStep: "2"}, want: Shard{2, 4}, ok: true},
		{env: map[string]string{EnvSlurmID: "3", EnvSlurmCount: "4", EnvSlurmMin: "0", EnvSlurmStep: "2"}, errHas: "not in the array"},
		{env: map[string]string{EnvSlurmID: "1"}, errHas: EnvSlurmCount},
		{env: nil, n: 4, errHas: "no shard index"},
	} {
		getenv := func(k string) string { return c.env[k] }
		got, from, ok, err := ShardFromEnv(getenv, c.n)
		if c.errHas != "" {
			if err == nil || !strings.Contains(err.Error(), c.errHas) {
				t.Errorf("case %d: want an error naming %q, got %v", i, c.errHas, err)
			}
			continue
		}
		if err != nil || ok != c.ok || got != c.want {
			t.Errorf("case %d: want %v (ok %v), got %v (ok %v), %v", i, c.want, c.ok, got, ok, err)
		}
		if ok && from == "" {
			t.Errorf("case %d: the variables used should be named", i)
		}
	}
}

// Every entry lands in exactly one part, NAS-Bench-201 entries by index
// (parts differ by at most one) and files by content (the same bytes under
// two names land together).
func TestSelectPartitions(t *testing.T) {
	var idx []int
	for i := range 101 {
		idx = append(idx, 1000+i) // consecutive indices: nb201:all, whose parts are exactly balanced
	}
	es, err := NB201Entries(zoo.NB201Source{Selection: zoo.NB201Selection{Indices: idx}, Seed: 1, Variant: "nb201", Classes: 10})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for i := range 20 {
		p := filepath.Join(dir, fmt.Sprintf("m%d.onnx", i))
		os.WriteFile(p, []byte(fmt.Sprintf("model %d", i%10)), 0o644) // m3 and m13 are the same bytes
		es = append(es, Entry{Path: p, Name: fmt.Sprintf("m%d", i)})
	}
	const n = 4
	seen := map[string]int{}
	part := map[string]int{}
	for i := range n {
		sizeNB := 0
		for _, e := range (Shard{i, n}).Select(es) {
			seen[e.Path]++
			part[e.Name] = i
			if e.Model != nil {
				sizeNB++
			}
		}
		if sizeNB < 101/n || sizeNB > 101/n+1 {
			t.Errorf("part %d holds %d of 101 NAS-Bench-201 entries, want %d or %d", i, sizeNB, 101/n, 101/n+1)
		}
	}
	for _, e := range es {
		if seen[e.Path] != 1 {
			t.Errorf("%s is in %d parts, want 1", e.Name, seen[e.Path])
		}
	}
	for i := range 10 {
		if a, b := part[fmt.Sprintf("m%d", i)], part[fmt.Sprintf("m%d", i+10)]; a != b {
			t.Errorf("m%d and m%d have the same bytes but land in parts %d and %d", i, i+10, a, b)
		}
	}
	if got := All.Select(es); len(got) != len(es) {
		t.Errorf("0/1 should keep all %d entries, got %d", len(es), len(got))
	}
}

func TestRepairTail(t *testing.T) {
	dir := t.TempDir()
	for i, c := range []struct{ in, want string }{
		{"", ""},
		{"{\"a\":1}\n", "{\"a\":1}\n"},
		{"{\"a\":1}\n{\"b\":", "{\"a\":1}\n"},
		{"{\"a\":1}\n{\"b\":2}", "{\"a\":1}\n"}, // whole JSON but no newline: torn all the same
		{"{\"torn", ""},
		{"x\n" + strings.Repeat("y", 200<<10), "x\n"}, // a torn line longer than one read
	} {
		p := filepath.Join(dir, fmt.Sprint(i))
		os.WriteFile(p, []byte(c.in), 0o644)
		cut, err := repairTail(p)
		got, _ := os.ReadFile(p)
		if err != nil || string(got) != c.want || cut != int64(len(c.in)-len(c.want)) {
			t.Errorf("case %d: want %q (cut %d), got %q (cut %d), %v", i, c.want, len(c.in)-len(c.want), got, cut, err)
		}
	}
	if cut, err := repairTail(filepath.Join(dir, "missing")); cut != 0 || err != nil {
		t.Errorf("a missing file is empty: got %d, %v", cut, err)
	}
}
