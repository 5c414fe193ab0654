package proxies_test

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/zerocost/zerocost/data"
	"github.com/zerocost/zerocost/internal/testort"
	"github.com/zerocost/zerocost/internal/torchfixture"
	ox "github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/proxies"
	"github.com/zerocost/zerocost/runtime"
)

// reinitReference is testdata/proxies/reinit/NAME.json, written by
// gen_reinit.py: PyTorch float64 references of the re-initialising proxies,
// with zerocost's seeded weights and inputs reimplemented in NumPy.
type reinitReference struct {
	Seed     uint64 `json:"seed"`
	Repeats  int    `json:"repeats"`
	SwapData struct {
		Shape  []int64 `json:"shape"`
		Seed   uint64  `json:"seed"`
		Repeat int     `json:"repeat"`
	} `json:"swap_data"`
	Proxies map[string]struct {
		Score float64 `json:"score"`
	} `json:"proxies"`
}

// TestReinitProxiesMatchPyTorch scores nb201_a, nb201_b, nb201_c,
// resnet18 and thin (a one-channel network on which samples share
// patterns: the others reach linear_regions' ceiling of 1000) with zen (re-initialised and, as zen@file, on the file's weights
// with Options.KeepWeights), swap, reg_swap and linear_regions, 2 repeats,
// and compares with the reference: every score within 1e-3 relative. zen
// is float32 here against float64 there (a difference of feature maps 1%
// apart: about 1e-5 of log Δ); the pattern counts are integers that a sign
// flipped by float32 round-off at a neuron within 1e-7 of zero could move
// by one, far below 1e-3 of counts in the thousands (linear_regions: 1000).
func TestReinitProxiesMatchPyTorch(t *testing.T) {
	testort.Init(t)
	for _, name := range []string{"nb201_a", "nb201_b", "nb201_c", "resnet18", "thin"} {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(torchfixture.Dir(), "..", "proxies", "reinit", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var ref reinitReference
			if err := json.Unmarshal(raw, &ref); err != nil {
				t.Fatal(err)
			}
			var model *ox.Model
			var batch *data.Batch
			if name == "thin" {
				if model, err = ox.Load(filepath.Join(torchfixture.Dir(), "..", "proxies", "reinit", "thin.onnx")); err != nil {
					t.Fatal(err)
				}
				batch = &data.Batch{Input: proxies.NormalInput([]int64{4, 3, 8, 8}, 1, 0)} // zen and linear_regions read its shape only
			} else {
				fx, err := torchfixture.Load(name, "train")
				if err != nil {
					t.Fatal(err)
				}
				model, batch = fx.Model, &data.Batch{Input: fx.InputTensor(), Labels: fx.Labels}
			}
			opts := proxies.Options{Seed: ref.Seed, Repeats: ref.Repeats, Session: runtime.SessionOptions{Threads: 2}}
			got := map[string]float64{}
			score := func(o proxies.Options, batch *data.Batch, names ...string) {
				o.Proxies, o.Batch = names, batch
				res, err := proxies.Score(model, o)
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range names {
					if r, ok := res.Proxies[n]; ok {
						got[n] = r.Score
					} else {
						t.Errorf("%s: failed: %s", n, res.Errors[n])
					}
				}
			}
			score(opts, batch, "zen", "linear_regions")
			keep := opts
			keep.KeepWeights = true
			score(keep, batch, "zen")
			got["zen@file"] = got["zen"]
			score(opts, batch, "zen")
			sd := ref.SwapData
			score(opts, &data.Batch{Input: proxies.NormalInput(sd.Shape, sd.Seed, sd.Repeat)}, "swap", "reg_swap")
			for proxy, want := range ref.Proxies {
				g, ok := got[proxy]
				if !ok {
					continue
				}
				if e := math.Abs(g-want.Score) / math.Max(math.Abs(want.Score), 1e-12); e > 1e-3 {
					t.Errorf("%s: want %.9g, got %.9g (rel error %.2e)", proxy, want.Score, g, e)
				}
			}
		})
	}
}

// TestReinitProxiesAreSeeded scores nb201_b twice with the same seed (the
// same bits) and once with another (a different score) for zen, swap and
// linear_regions, one repeat each.
func TestReinitProxiesAreSeeded(t *testing.T) {
	testort.Init(t)
	fx, err := torchfixture.Load("nb201_b", "train")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"zen", "swap", "linear_regions"}
	run := func(seed uint64) map[string]float64 {
		batch := &data.Batch{Input: proxies.NormalInput([]int64{16, 3, 32, 32}, 5, 0)}
		res, err := proxies.Score(fx.Model, proxies.Options{Proxies: names, Batch: batch, Seed: seed, Repeats: 1, Session: runtime.SessionOptions{Threads: 2}})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for _, n := range names {
			r, ok := res.Proxies[n]
			if !ok {
				t.Fatalf("%s failed: %s", n, res.Errors[n])
			}
			out[n] = r.Score
		}
		return out
	}
	a, b, c := run(1), run(1), run(2)
	for _, n := range names {
		if math.Float64bits(a[n]) != math.Float64bits(b[n]) {
			t.Errorf("%s: seed 1 twice: %v and %v", n, a[n], b[n])
		}
	}
	if a["zen"] == c["zen"] || a["swap"] == c["swap"] {
		t.Errorf("seeds 1 and 2 give the same scores: %v, %v", a, c)
	}
}
