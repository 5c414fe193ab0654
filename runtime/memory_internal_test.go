package runtime

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMemAvailableAndCgroupFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	meminfo := write("meminfo", "MemTotal:       24576000 kB\nMemFree:        1000 kB\nMemAvailable:   2048 kB\n")
	if got, err := memAvailable(meminfo); err != nil || got != 2048*1024 {
		t.Errorf("MemAvailable: want %d, got %d (%v)", 2048*1024, got, err)
	}
	if _, err := memAvailable(write("nomem", "MemTotal: 1 kB\n")); err == nil {
		t.Errorf("a meminfo without MemAvailable: want an error")
	}
	for i, c := range []struct {
		limit, usage string
		left         int64
		ok           bool
	}{
		{"1000\n", "400\n", 600, true},
		{"max\n", "400\n", 0, false},                 // cgroup v2 without a limit
		{"9223372036854771712\n", "400\n", 0, false}, // cgroup v1's "unlimited"
		{"1000\n", "1200\n", 0, true},                // over the limit already
	} {
		l, u := write("limit", c.limit), write("usage", c.usage)
		left, ok := cgroupLeft(l, u)
		if left != c.left || ok != c.ok {
			t.Errorf("case %d: want %d %v, got %d %v", i, c.left, c.ok, left, ok)
		}
	}
	if avail, err := AvailableMemory(); err != nil || avail <= 0 {
		t.Errorf("AvailableMemory on this machine: got %d, %v", avail, err)
	}
}
