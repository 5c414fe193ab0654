package onnximport

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/advancedclimatesystems/gonnx/onnx"
)

// InputShapeKey is the metadata_props key under which a model records its
// natural input size: the shape of one sample without the batch dimension,
// sizes joined by x ("3x32x32" for a NAS-Bench-201 network). Scoring uses
// it when the caller gives no shape, so that models whose declared input
// has dynamic height and width still run without one.
const InputShapeKey = "zerocost.input_shape"

// Metadata returns the value of a metadata_props entry; ok is false when
// the model has none under key.
func (m *Model) Metadata(key string) (value string, ok bool) {
	for _, p := range m.Proto.GetMetadataProps() {
		if p.GetKey() == key {
			return p.GetValue(), true
		}
	}
	return "", false
}

// SetMetadata sets the metadata_props entry key to value, replacing an
// entry already there.
func (m *Model) SetMetadata(key, value string) {
	for _, p := range m.Proto.GetMetadataProps() {
		if p.GetKey() == key {
			p.Value = value
			return
		}
	}
	m.Proto.MetadataProps = append(m.Proto.MetadataProps, &onnx.StringStringEntryProto{Key: key, Value: value})
}

// NaturalInputShape returns the input size the model records under
// InputShapeKey (one sample, without the batch dimension), or nil when it
// records none. An entry that is not a shape is an error that names the
// key, so that a caller can say to pass a shape instead.
func (m *Model) NaturalInputShape() ([]int64, error) {
	v, ok := m.Metadata(InputShapeKey)
	if !ok {
		return nil, nil
	}
	dims, err := ParseShape(v)
	if err != nil || len(dims) == 0 {
		return nil, fmt.Errorf("onnximport: %s: metadata %s = %q is not a shape like 3x32x32; give the input shape explicitly", m.Name(), InputShapeKey, v)
	}
	return dims, nil
}

// SetNaturalInputShape records dims (one sample, without the batch
// dimension) under InputShapeKey.
func (m *Model) SetNaturalInputShape(dims []int64) {
	m.SetMetadata(InputShapeKey, FormatShape(dims))
}

// ParseShape parses a shape written as positive sizes joined by x
// ("3x32x32" or "1x3x32x32"); "" is no shape (nil).
func ParseShape(s string) ([]int64, error) {
	if s == "" {
		return nil, nil
	}
	var dims []int64
	for _, part := range strings.Split(strings.ToLower(s), "x") {
		d, err := strconv.ParseInt(strings.TrimSpace(part), 10, 64)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("bad shape %q: want positive sizes joined by x, like 3x32x32", s)
		}
		dims = append(dims, d)
	}
	return dims, nil
}

// FormatShape writes dims as ParseShape reads them ("3x32x32").
func FormatShape(dims []int64) string {
	parts := make([]string, len(dims))
	for i, d := range dims {
		parts[i] = strconv.FormatInt(d, 10)
	}
	return strings.Join(parts, "x")
}
