package badinputs

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestCommittedFilesAreUpToDate checks that the committed corpus and seed
// files are what the generator writes today, byte for byte, and that the
// corpus folders hold nothing else (crashers that fuzzing found excepted).
// After changing the generator, run: go run ./internal/cmd/badinputs
func TestCommittedFilesAreUpToDate(t *testing.T) {
	root := filepath.Join("..", "..")
	files := Files()
	dirs := map[string]bool{}
	for path, want := range files {
		dirs[filepath.Dir(path)] = true
		got, err := os.ReadFile(filepath.Join(root, path))
		if err != nil {
			t.Errorf("%s: %v (run go run ./internal/cmd/badinputs)", path, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what the generator writes (run go run ./internal/cmd/badinputs)", path)
		}
	}
	for dir := range dirs {
		entries, err := os.ReadDir(filepath.Join(root, dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			if _, ours := files[p]; !ours && !isCrasher(p) {
				t.Errorf("%s is not written by the generator", p)
			}
		}
	}
	if again := Files(); len(again) != len(files) {
		t.Errorf("two runs give %d and %d files", len(files), len(again))
	} else {
		for p, b := range again {
			if !bytes.Equal(b, files[p]) {
				t.Errorf("%s: two runs differ (the generator is not deterministic)", p)
			}
		}
	}
}
