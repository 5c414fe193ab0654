package zoo

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strconv"
)

// Truth is a ground-truth table: one row per model, a key column and
// numeric columns (accuracies).
type Truth struct {
	Columns []string
	Rows    []TruthRow
}

// TruthRow is one row: its key, its string fields and its numeric fields.
type TruthRow struct {
	Key     string
	Fields  map[string]string
	Numbers map[string]float64
}

// ReadTruth reads a CSV file with a header; key names the key column.
func ReadTruth(path, key string) (*Truth, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("zoo: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("zoo: %s: reading the header: %w", path, err)
	}
	keyCol := -1
	for i, h := range header {
		if h == key {
			keyCol = i
		}
	}
	if keyCol < 0 {
		return nil, fmt.Errorf("zoo: %s has no column %q (columns: %v)", path, key, header)
	}
	t := &Truth{Columns: header}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("zoo: %s line %d: %w", path, line, err)
		}
		row := TruthRow{Key: rec[keyCol], Fields: map[string]string{}, Numbers: map[string]float64{}}
		for i, v := range rec {
			row.Fields[header[i]] = v
			if x, err := strconv.ParseFloat(v, 64); err == nil {
				row.Numbers[header[i]] = x
			}
		}
		t.Rows = append(t.Rows, row)
	}
	return t, nil
}
