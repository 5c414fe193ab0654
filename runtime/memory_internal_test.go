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

// The peak resident memory is at least what was touched: 64 MiB written
// page by page raise it by about that much.
func TestPeakResidentSeesAnAllocation(t *testing.T) {
	before, err := PeakResident()
	if err != nil {
		t.Skipf("no VmHWM here: %v", err)
	}
	buf := make([]byte, 64<<20)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1
	}
	after, err := PeakResident()
	if err != nil {
		t.Fatal(err)
	}
	if after < 64<<20 || after < before {
		t.Errorf("peak resident memory %d before and %d after touching 64 MiB", before, after)
	}
	if after-before < 32<<20 && before < 256<<20 {
		t.Errorf("touching 64 MiB raised the peak only from %d to %d", before, after)
	}
	buf[len(buf)-1] = 2 // keep buf alive until after the second reading
}
