package ranking

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Shard is part I of N (0 ≤ I < N) of a collection: what one process of a
// sharded run scores. Every entry belongs to exactly one part, chosen by a
// stable key (ShardOf), so N processes given the same collection in any
// order score each model once between them.
type Shard struct{ I, N int }

// All is the whole collection: part 0 of 1.
var All = Shard{0, 1}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.I, s.N) }

// ParseShard reads "I/N" (0 ≤ I < N).
func ParseShard(text string) (Shard, error) {
	is, ns, ok := strings.Cut(strings.TrimSpace(text), "/")
	i, err1 := strconv.Atoi(is)
	n, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("ranking: shard %q: want I/N, part I (from 0) of N, e.g. 0/4", text)
	}
	return newShard(i, n, text)
}

func newShard(i, n int, from string) (Shard, error) {
	if n < 1 || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("ranking: shard %s: want 0 ≤ I < N and N ≥ 1 (parts are numbered from 0)", from)
	}
	return Shard{i, n}, nil
}

// The environment variables ShardFromEnv reads.
const (
	EnvShards     = "ZEROCOST_SHARDS"      // N, for a Kubernetes Indexed Job
	EnvK8sIndex   = "JOB_COMPLETION_INDEX" // I, set in each pod of a Kubernetes Indexed Job
	EnvSlurmID    = "SLURM_ARRAY_TASK_ID"
	EnvSlurmCount = "SLURM_ARRAY_TASK_COUNT"
	EnvSlurmMin   = "SLURM_ARRAY_TASK_MIN"
	EnvSlurmStep  = "SLURM_ARRAY_TASK_STEP"
)

// ShardFromEnv finds the shard of a Kubernetes Indexed Job or of a Slurm
// job array in the environment (getenv, e.g. os.Getenv). n, when not 0, is
// the number of shards given by the caller (a --shards flag); otherwise a
// Kubernetes job takes it from ZEROCOST_SHARDS and a Slurm array from
// SLURM_ARRAY_TASK_COUNT. A Slurm task's part is its place in the array:
// (SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN) / SLURM_ARRAY_TASK_STEP, so
// --array=1-4 and --array=0-6:2 both give parts 0 to 3. from names the
// variables used; ok is false when neither kind of job is found (and n is
// 0; a number of shards without an index is an error).
func ShardFromEnv(getenv func(string) string, n int) (s Shard, from string, ok bool, err error) {
	atoi := func(name string) (int, error) {
		v, err := strconv.Atoi(strings.TrimSpace(getenv(name)))
		if err != nil {
			return 0, fmt.Errorf("ranking: %s=%q is not an integer", name, getenv(name))
		}
		return v, nil
	}
	if getenv(EnvK8sIndex) != "" {
		i, err := atoi(EnvK8sIndex)
		if err != nil {
			return Shard{}, "", false, err
		}
		from = fmt.Sprintf("%s=%d", EnvK8sIndex, i)
		if n == 0 {
			if getenv(EnvShards) == "" {
				return Shard{}, "", false, fmt.Errorf("ranking: %s is set (a Kubernetes Indexed Job) but not the number of shards: give --shards N or %s=N (the job's completions)", EnvK8sIndex, EnvShards)
			}
			if n, err = atoi(EnvShards); err != nil {
				return Shard{}, "", false, err
			}
			from += fmt.Sprintf(", %s=%d", EnvShards, n)
		}
		s, err = newShard(i, n, from)
		return s, from, err == nil, err
	}
	if getenv(EnvSlurmID) != "" {
		id, err := atoi(EnvSlurmID)
		if err != nil {
			return Shard{}, "", false, err
		}
		first, step := 0, 1
		if getenv(EnvSlurmMin) != "" {
			if first, err = atoi(EnvSlurmMin); err != nil {
				return Shard{}, "", false, err
			}
		}
		if getenv(EnvSlurmStep) != "" {
			if step, err = atoi(EnvSlurmStep); err != nil {
				return Shard{}, "", false, err
			}
		}
		if step < 1 || (id-first)%step != 0 {
			return Shard{}, "", false, fmt.Errorf("ranking: %s=%d is not in the array %d, %d+%d, …", EnvSlurmID, id, first, first, step)
		}
		from = fmt.Sprintf("%s=%d", EnvSlurmID, id)
		if first != 0 || step != 1 {
			from += fmt.Sprintf(", %s=%d, %s=%d", EnvSlurmMin, first, EnvSlurmStep, step)
		}
		if n == 0 {
			if getenv(EnvSlurmCount) == "" {
				return Shard{}, "", false, fmt.Errorf("ranking: %s is set but not %s (Slurm sets both in a job array): give --shards N", EnvSlurmID, EnvSlurmCount)
			}
			if n, err = atoi(EnvSlurmCount); err != nil {
				return Shard{}, "", false, err
			}
			from += fmt.Sprintf(", %s=%d", EnvSlurmCount, n)
		}
		s, err = newShard((id-first)/step, n, from)
		return s, from, err == nil, err
	}
	if n != 0 {
		return Shard{}, "", false, fmt.Errorf("ranking: %d shards but no shard index: give --shard I/%d, or run in a Kubernetes Indexed Job (%s) or a Slurm job array (%s)", n, n, EnvK8sIndex, EnvSlurmID)
	}
	return All, "", false, nil
}

// ShardOf returns the part of n that e belongs to. The key is stable across
// machines and orders: the benchmark index for a NAS-Bench-201 entry built in
// memory (index mod n, so the parts differ in size by at most one), the
// content hash of a file otherwise (so the same model under two paths
// lands in one part). A file is read whole to hash it.
func ShardOf(e Entry, n int) (int, error) {
	if n <= 1 {
		return 0, nil
	}
	if e.Model != nil {
		if i, err := strconv.Atoi(e.Name); err == nil && i >= 0 {
			return i % n, nil
		}
		s := sha256.Sum256([]byte(e.Path))
		return int(binary.BigEndian.Uint64(s[:8]) % uint64(n)), nil
	}
	sum, err := FileSHA256(e.Path)
	if err != nil {
		return 0, err
	}
	b, _ := hex.DecodeString(sum[:16])
	return int(binary.BigEndian.Uint64(b) % uint64(n)), nil
}

// FileSHA256 is the hex SHA-256 of a file's bytes: the sha256 of its
// results record.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("ranking: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("ranking: reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Select returns the entries of part s, in their order. A file that cannot
// be read goes to part 0, where scoring it records the error once.
func (s Shard) Select(entries []Entry) []Entry {
	if s.N <= 1 {
		return entries
	}
	var out []Entry
	for _, e := range entries {
		part, err := ShardOf(e, s.N)
		if err != nil {
			part = 0
		}
		if part == s.I {
			out = append(out, e)
		}
	}
	return out
}

// repairTail cuts a torn last line (a run killed while it wrote a record)
// off the results file at path, so that the next record starts on a line of
// its own; the model of the torn line is scored again. It returns the
// number of bytes cut.
func repairTail(path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("ranking: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("ranking: %w", err)
	}
	size := st.Size()
	buf := make([]byte, 64<<10)
	end := size // the file's bytes from end on are the torn line
	for end > 0 {
		n := min(int64(len(buf)), end)
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return 0, fmt.Errorf("ranking: reading %s: %w", path, err)
		}
		if i := lastNewline(buf[:n]); i >= 0 {
			end = end - n + int64(i) + 1
			break
		}
		end -= n
	}
	if end == size {
		return 0, nil
	}
	if err := f.Truncate(end); err != nil {
		return 0, fmt.Errorf("ranking: cutting the torn last line of %s: %w", path, err)
	}
	return size - end, nil
}

func lastNewline(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			return i
		}
	}
	return -1
}
