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
var npyElemSize = map[string]int64{"<f4": 4, "<f8": 8, "<i8": 8, "<i4": 4, "|b1": 1, "|u1": 1}

// checkBatchMemory refuses a generated (random or ones) float32 batch of
// shape dims for input in that exceeds limit.
func checkBatchMemory(in onnximport.Input, dims []int64, limit int64) error {
	return checkTensorMemory(in, dims, 4, "float32", limit)
}

// checkTensorMemory refuses a generated tensor of shape dims with
// elemSize-byte values (of the type named) for input in that exceeds limit.
func checkTensorMemory(in onnximport.Input, dims []int64, elemSize int64, typ string, limit int64) error {
	note := ""
	for i, d := range in.Dims {
		if d >= 1<<16 {
			// No flag changes a size the model declares: say which it is.
			note = fmt.Sprintf("; the model declares size %d at axis %d", d, i)
			break
		}
	}
	what := fmt.Sprintf("data: the input batch of shape %v for input %q (%s%s)", dims, in.Name, typ, note)
	return runtime.CheckMemory(what, runtime.ShapeBytes(dims, elemSize), limit, "")
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

// checkTensorInputs refuses a model with an input that is not a tensor (a
// sequence, a map, an optional): zerocost generates and feeds tensors only.
func checkTensorInputs(m *onnximport.Model) error {
	inits := map[string]bool{}
	for _, t := range m.Graph().GetInitializer() {
		inits[t.GetName()] = true
	}
	for _, v := range m.Graph().GetInput() {
		typ := v.GetType()
		if inits[v.GetName()] || typ == nil || typ.GetTensorType() != nil {
			continue
		}
		kind := "non-tensor value"
		switch {
		case typ.GetSequenceType() != nil:
			kind = "sequence"
		case typ.GetMapType() != nil:
			kind = "map"
		case typ.GetOptionalType() != nil:
			kind = "optional"
		case typ.GetSparseTensorType() != nil:
			kind = "sparse tensor"
		}
		return fmt.Errorf("data: %s: input %q is a %s, not a tensor; zerocost feeds tensor inputs only", m.Name(), v.GetName(), kind)
	}
	return nil
}
