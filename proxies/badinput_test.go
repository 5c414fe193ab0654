package proxies_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/internal/testort"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/proxies"
	"github.com/zerocost/zerocost/zoo"
)

// TestOutputNotLogitsIsReportedPerProxy: the weight-gradient proxies take
// the cross-entropy per pixel of a 4-D feature map of an image model, the
// sum head when asked, and report a forced cross-entropy on an output
// without a class axis as their own error; the other proxies still come out.
func TestOutputNotLogitsIsReportedPerProxy(t *testing.T) {
	testort.Init(t)
	featureMap := func() *ox.Model {
		m := zoo.TinyCNN(1, 10)
		g := m.Graph()
		// Make the output the 4-D feature map instead of the logits.
		g.Output[0] = ox.ValueInfo("relu2.out", ox.Float, []int64{-1, 16, -1, -1})
		g.Node = g.Node[:5]
		return m
	}
	perSample := func() *ox.Model { // the feature map's mean per sample: a 1-D output
		m := featureMap()
		g := m.Graph()
		g.Node = append(g.Node, ox.Node("ReduceMean", "mean", []string{"relu2.out"}, []string{"mean.out"}, ox.AttrInts("axes", 1, 2, 3), ox.AttrInt("keepdims", 0)))
		g.Output[0] = ox.ValueInfo("mean.out", ox.Float, []int64{-1})
		return m
	}
	batch := &data.Batch{Input: data.RandomNormal([]int64{2, 3, 8, 8}, 1)}
	for i, c := range []struct {
		m        *ox.Model
		head     string
		snipErr  string // "" when snip must come out
		noteHave string
	}{
		{featureMap(), "", "", "cross-entropy per pixel"},
		{featureMap(), proxies.HeadSum, "", "the sum head"},
		{perSample(), "", "", "the sum head"},
		{perSample(), proxies.HeadCE, "2-D logits", ""},
	} {
		res, err := proxies.Score(c.m, proxies.Options{Proxies: []string{"snip", "synflow", "jacob_cov"}, Batch: batch, Head: c.head})
		if err != nil {
			t.Fatal(err)
		}
		if e := res.Errors["snip"]; c.snipErr != "" && !strings.Contains(e, c.snipErr) {
			t.Errorf("case %d: snip: want an error about %q, got %q", i, c.snipErr, e)
		} else if c.snipErr == "" && res.Proxies["snip"] == nil {
			t.Errorf("case %d: snip: want a value, got error %q", i, e)
		}
		if notes := strings.Join(res.Notes, "\n"); !strings.Contains(notes, c.noteHave) {
			t.Errorf("case %d: want a note with %q, got %q", i, c.noteHave, res.Notes)
		}
		if res.Proxies["synflow"] == nil || res.Proxies["jacob_cov"] == nil {
			t.Errorf("case %d: the other proxies must still come out: %+v, errors %v", i, res.Proxies, res.Errors)
		}
	}
}

func TestLabelsOutOfRange(t *testing.T) {
	testort.Init(t)
	batch := &data.Batch{Input: data.RandomNormal([]int64{2, 3, 8, 8}, 1), Labels: []int64{3, 10}}
	res, err := proxies.Score(zoo.TinyCNN(1, 10), proxies.Options{Proxies: []string{"grad_norm"}, Batch: batch})
	if err != nil {
		t.Fatal(err)
	}
	if e := res.Errors["grad_norm"]; !strings.Contains(e, "label 10 of sample 1") {
		t.Fatalf("want an error naming the label, got %q", e)
	}
}

func TestBatchOfTheWrongShape(t *testing.T) {
	testort.Init(t)
	for _, shape := range [][]int64{{2, 4, 8, 8}, {2, 3, 8}} {
		batch := &data.Batch{Input: data.RandomNormal(shape, 1)}
		_, err := proxies.Score(zoo.TinyCNN(1, 10), proxies.Options{Batch: batch})
		if err == nil || !strings.Contains(err.Error(), "the batch has shape") {
			t.Fatalf("shape %v: want a clear error, got %v", shape, err)
		}
	}
}

// A NaN or an infinity anywhere in a weight, stored as raw data or as
// float_data, is refused with the weight named; the largest finite float32
// is not.
func TestNaNWeights(t *testing.T) {
	testort.Init(t)
	batch := &data.Batch{Input: data.RandomNormal([]int64{2, 3, 8, 8}, 1)}
	for _, c := range []struct {
		v   float32
		bad bool
	}{{float32(math.NaN()), true}, {float32(math.Inf(1)), true}, {float32(math.Inf(-1)), true}, {math.MaxFloat32, false}} {
		for _, raw := range []bool{true, false} {
			m := zoo.TinyCNN(1, 10)
			w := m.Graph().Initializer[0]
			vals := make([]float32, 8*3*9)
			vals[len(vals)/2] = c.v
			*w = *ox.Float32Tensor(w.GetName(), w.GetDims(), vals)
			if !raw {
				w.FloatData, w.RawData = vals, nil
			}
			_, err := proxies.Score(m, proxies.Options{Batch: batch, Proxies: []string{"params"}})
			if c.bad && (err == nil || !strings.Contains(err.Error(), "NaN") || !strings.Contains(err.Error(), "conv1.weight")) {
				t.Errorf("%v (raw data %v): want an error naming the weight, got %v", c.v, raw, err)
			}
			if !c.bad && err != nil {
				t.Errorf("%v (raw data %v): %v", c.v, raw, err)
			}
		}
	}
}

func TestUnknownProxy(t *testing.T) {
	if _, err := proxies.ParseList("snip,synfow"); err == nil || !strings.Contains(err.Error(), `"synfow"`) {
		t.Fatalf("want an error naming the proxy, got %v", err)
	}
}

// An all-"none" NAS-Bench-201 cell cuts the input off: synflow is 0 for the
// layers before it, and the result must still encode as JSON (no Inf).
func TestZeroSynflowEncodes(t *testing.T) {
	testort.Init(t)
	m, err := zoo.NB201("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", zoo.NB201Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	res, err := proxies.Score(m, proxies.Options{Proxies: []string{"synflow", "synflow_bn"}, Batch: &data.Batch{Input: data.Ones([]int64{1, 3, 32, 32})}, PerLayer: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := json.Marshal(res); err != nil {
		t.Fatalf("result does not encode: %v", err)
	}
	s := res.Proxies["synflow"]
	if s == nil || s.Layers[0].Score != 0 || s.Layers[0].Log10 != nil {
		t.Fatalf("the stem's synflow should be 0 without log10: %+v", s)
	}
}
