package data

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
)

// npyElemSize is the size of one element of each .npy type zerocost reads.
var npyElemSize = map[string]int64{"<f4": 4, "<f8": 8, "<i8": 8, "<i4": 4}

// checkBatchMemory refuses a generated (random or ones) float32 batch of
// shape dims for input in that exceeds limit.
func checkBatchMemory(in onnximport.Input, dims []int64, limit int64) error {
	note := ""
	for i, d := range in.Dims {
		if d >= 1<<16 {
			// No flag changes a size the model declares: say which it is.
			note = fmt.Sprintf("; the model declares size %d at axis %d", d, i)
			break
		}
	}
	what := fmt.Sprintf("data: the input batch of shape %v for input %q (float32%s)", dims, in.Name, note)
	return runtime.CheckMemory(what, runtime.ShapeBytes(dims, 4), limit, "")
}

// readFileWithin reads a data file when factor times its size fits in
// limit (the file and what is decoded from it); what names the kind of
// file in errors.
func readFileWithin(path string, limit, factor int64, what string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("data: %s: no such file; check the path", path)
		}
		return nil, fmt.Errorf("data: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("data: %s is a folder, not a %s", path, what)
	}
	if err := runtime.CheckMemory(fmt.Sprintf("data: reading the %s %s (%s)", what, path, runtime.FormatBytes(st.Size())),
		runtime.MulSat(st.Size(), factor), limit, ""); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	return data, nil
}
