package onnximport_test

import (
	"slices"
	"strings"
	"testing"

	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/zoo"
)

func TestNaturalInputShape(t *testing.T) {
	for i, c := range []struct {
		meta    string // "" for no entry
		want    []int64
		wantErr bool
	}{
		{meta: "", want: nil},
		{meta: "3x32x32", want: []int64{3, 32, 32}},
		{meta: "1x3x16x16", want: []int64{1, 3, 16, 16}},
		{meta: "3x32", want: []int64{3, 32}},
		{meta: "3x-1x32", wantErr: true},
		{meta: "three", wantErr: true},
		{meta: " ", wantErr: true},
	} {
		m := zoo.TinyCNN(1, 10) // records no shape of its own
		if c.meta != "" {
			m.SetNaturalInputShape([]int64{9}) // replaced, not duplicated, below
			m.SetMetadata(ox.InputShapeKey, c.meta)
		}
		raw, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ox.Parse(raw, "")
		if err != nil {
			t.Fatal(err)
		}
		got, err := back.NaturalInputShape()
		switch {
		case c.wantErr:
			if err == nil || !strings.Contains(err.Error(), ox.InputShapeKey) {
				t.Errorf("case %d (%q): want an error naming %s, got %v, %v", i, c.meta, ox.InputShapeKey, got, err)
			}
		case err != nil || !slices.Equal(got, c.want):
			t.Errorf("case %d (%q): want %v, got %v, %v", i, c.meta, c.want, got, err)
		}
		if n := len(back.Proto.GetMetadataProps()); c.meta != "" && n != 1 {
			t.Errorf("case %d: want one metadata entry, got %d", i, n)
		}
	}
}

func TestNB201RecordsItsInputShape(t *testing.T) {
	m, err := zoo.NB201("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|", zoo.NB201Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.NaturalInputShape()
	if err != nil || !slices.Equal(got, []int64{3, 32, 32}) {
		t.Fatalf("want [3 32 32], got %v, %v", got, err)
	}
	if v, _ := m.Metadata(ox.InputShapeKey); v != "3x32x32" {
		t.Fatalf("metadata %s = %q, want 3x32x32", ox.InputShapeKey, v)
	}
	// The declared input keeps its dynamic batch, height and width.
	if dims := m.Inputs()[0].Dims; !slices.Equal(dims, []int64{-1, 3, -1, -1}) {
		t.Fatalf("declared input dims %v, want [-1 3 -1 -1]", dims)
	}
}
