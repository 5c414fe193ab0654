package runtime

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Memory limits. A limit of 0 means DefaultMemoryLimit, a negative one
// means no limit (SessionOptions.MaxMemory, data.DataSpec.MaxMemory).

// DefaultMemoryShare is the share of the available memory (see
// AvailableMemory) that DefaultMemoryLimit allows one model to use.
const DefaultMemoryShare = 0.75

// NoMemoryLimit is the limit that turns the memory guard off.
const NoMemoryLimit int64 = -1

// ErrMemoryLimit is returned (wrapped in a *MemoryError) when an estimate
// exceeds the memory limit.
var ErrMemoryLimit = errors.New("runtime: memory limit exceeded")

// MemoryError reports work refused because its estimated memory exceeds
// the limit.
type MemoryError struct {
	What   string // what would need the memory, with its package prefix: `data: the input batch of shape [64 3 1000000000 32] …`
	Need   int64  // estimated bytes (math.MaxInt64 when the estimate itself overflows)
	Limit  int64  // the limit in bytes
	Detail string // how the estimate is made up, may be empty
	// Default is true when Limit is DefaultMemoryLimit's share of the
	// machine rather than a limit that was asked for.
	Default bool
}

func (e *MemoryError) Error() string {
	limit := FormatBytes(e.Limit)
	if e.Default {
		limit = fmt.Sprintf("%s (%.0f%% of the memory available)", limit, 100*DefaultMemoryShare)
	}
	need := "about " + FormatBytes(e.Need)
	if e.Need == math.MaxInt64 {
		need = "more than 8 EiB (its size overflows 64-bit integers)"
	}
	detail := ""
	if e.Detail != "" {
		detail = " (" + e.Detail + ")"
	}
	hint := "use a smaller batch (--batch-size) or input size (--input-shape)"
	if avail, err := AvailableMemory(); err == nil && e.Need <= avail {
		hint += fmt.Sprintf(", or raise the limit with --max-memory (for example --max-memory %s)", strings.ReplaceAll(FormatBytes(suggestLimit(e.Need)), " ", ""))
	} else {
		hint += "; raising the limit with --max-memory would not help: the machine does not have that much memory available"
	}
	return fmt.Sprintf("%s needs %s%s, more than the memory limit of %s; %s", e.What, need, detail, limit, hint)
}

// Unwrap makes errors.Is(err, ErrMemoryLimit) true.
func (e *MemoryError) Unwrap() error { return ErrMemoryLimit }

// suggestLimit rounds need up to a whole number of GiB (at least 1).
func suggestLimit(need int64) int64 {
	const gib = 1 << 30
	if need >= math.MaxInt64-gib {
		return need
	}
	return max(1, (need+gib-1)/gib) * gib
}

// CheckMemory returns a *MemoryError when need bytes exceed limit (0: the
// default limit, negative: none). what names the work, for the message.
func CheckMemory(what string, need, limit int64, detail string) error {
	isDefault := false
	if limit == 0 {
		limit, isDefault = DefaultMemoryLimit(), true
	}
	if limit < 0 || need <= limit {
		return nil
	}
	return &MemoryError{What: what, Need: need, Limit: limit, Detail: detail, Default: isDefault}
}

// DefaultMemoryLimit is DefaultMemoryShare of AvailableMemory, read now.
// When the available memory cannot be read it is 8 GiB.
func DefaultMemoryLimit() int64 {
	avail, err := AvailableMemory()
	if err != nil || avail <= 0 {
		return 8 << 30
	}
	return int64(float64(avail) * DefaultMemoryShare)
}

// AvailableMemory returns the memory this process can still use: the
// smaller of the kernel's MemAvailable (/proc/meminfo) and what is left
// below the process's cgroup memory limit (cgroup v2 memory.max, or v1
// memory.limit_in_bytes), when there is one.
func AvailableMemory() (int64, error) {
	avail, err := memAvailable("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	if left, ok := cgroupMemoryLeft(); ok && left < avail {
		avail = left
	}
	return avail, nil
}

// memAvailable reads MemAvailable (in bytes) from a meminfo file.
func memAvailable(path string) (int64, error) {
	return readKiB(path, "MemAvailable:", "the available memory")
}

// PeakResident returns the most physical memory this process has held at
// once so far (VmHWM in /proc/self/status: Go, ONNX Runtime and the
// tensors together), in bytes; an error where the kernel does not report
// it (not Linux).
func PeakResident() (int64, error) {
	return readKiB("/proc/self/status", "VmHWM:", "the peak resident memory")
}

// readKiB reads the "key: N kB" line of a /proc file, in bytes.
func readKiB(path, key, what string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("runtime: reading %s: %w", what, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == key {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				break
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("runtime: %s has no %s line", path, strings.TrimSuffix(key, ":"))
}

// cgroupMemoryLeft returns the cgroup memory limit minus the current usage
// of the process's cgroup; ok is false when there is no limit.
func cgroupMemoryLeft() (left int64, ok bool) {
	// cgroup v2: one unified hierarchy, the path is on the "0::" line.
	if raw, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if rest, found := strings.CutPrefix(line, "0::"); found {
				dir := filepath.Join("/sys/fs/cgroup", rest)
				if l, ok := cgroupLeft(filepath.Join(dir, "memory.max"), filepath.Join(dir, "memory.current")); ok {
					return l, true
				}
			}
		}
	}
	if l, ok := cgroupLeft("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"); ok {
		return l, true
	}
	return cgroupLeft("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")
}

func cgroupLeft(limitFile, usageFile string) (int64, bool) {
	limit, err := readInt(limitFile)
	if err != nil || limit <= 0 || limit >= 1<<60 { // "max", or v1's "unlimited" (a huge number)
		return 0, false
	}
	usage, err := readInt(usageFile)
	if err != nil {
		usage = 0
	}
	return max(limit-usage, 0), true
}

func readInt(path string) (int64, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
}

// ParseBytes parses a memory size: a number with an optional unit, B, KB,
// MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024; K, M,
// G and T alone, and Ki, Mi, Gi, Ti, are binary too), case-insensitive:
// "8GiB", "512MiB", "1.5G", "2000000000". "auto" and "" give 0 (the
// default limit), "none", "off" and "unlimited" give NoMemoryLimit.
func ParseBytes(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	switch t {
	case "", "auto", "default":
		return 0, nil
	case "none", "off", "unlimited":
		return NoMemoryLimit, nil
	}
	i := len(t)
	for i > 0 && (t[i-1] < '0' || t[i-1] > '9') && t[i-1] != '.' {
		i--
	}
	num, unit := strings.TrimSpace(t[:i]), strings.TrimSpace(t[i:])
	mult, ok := map[string]float64{
		"": 1, "b": 1,
		"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
		"k": 1 << 10, "ki": 1 << 10, "kib": 1 << 10,
		"m": 1 << 20, "mi": 1 << 20, "mib": 1 << 20,
		"g": 1 << 30, "gi": 1 << 30, "gib": 1 << 30,
		"t": 1 << 40, "ti": 1 << 40, "tib": 1 << 40,
	}[unit]
	v, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || v <= 0 || math.IsInf(v, 0) || v*mult >= math.MaxInt64 {
		return 0, fmt.Errorf("runtime: bad memory size %q: want a positive size like 8GiB, 512MiB or 2e9, or auto or none", s)
	}
	return int64(v * mult), nil
}

// FormatBytes writes a byte count with a binary unit: "1.5 GiB".
func FormatBytes(n int64) string {
	if n == math.MaxInt64 {
		return "more than 8 EiB"
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v, u := float64(n), 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	if u == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.3g %s", v, units[u])
}

// MulSat returns a·b, or math.MaxInt64 when the product overflows; a and b
// must not be negative.
func MulSat(a, b int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi != 0 || lo > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(lo)
}

// AddSat returns a+b, or math.MaxInt64 when the sum overflows; a and b must
// not be negative.
func AddSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// ShapeBytes is the number of bytes of a tensor of shape with elemSize-byte
// elements, saturated at math.MaxInt64: 0 when a dimension is 0, and a
// negative (dynamic) dimension counts as 1.
func ShapeBytes(shape []int64, elemSize int64) int64 {
	n := elemSize
	for _, d := range shape {
		if d == 0 {
			return 0
		}
		n = MulSat(n, max(d, 1))
	}
	return n
}
