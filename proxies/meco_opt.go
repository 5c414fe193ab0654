package proxies

// meco_opt is MeCo's fast variant: per layer, the correlation of 8 channels
// drawn at random (all of them when the layer has 8 or fewer), λ_min × C/8.
// The channels are drawn with sampleIndices, seeded with Options.Seed and the
// layer's index, so a score is reproducible bit for bit.
var _ = register(Proxy{
	Name: "meco_opt", Order: 220, NeedsData: true,
	Summary: "MeCo-opt: meco on 8 seeded random channels per layer, × C/8",
	Variant: Variant{Graph: GraphData, Head: HeadOutputSum, Samples: 1},
	Signals: Signals{LayerOutputs: true},
	Reduce: func(s *scorer, sig *signals) (*ProxyResult, error) {
		return s.mecoScores(sig, func(layer, c int) []int {
			return sampleIndices(s.opts.Seed+uint64(layer), c, 8)
		})
	},
})

// sampleIndices draws k of 0..n-1 without replacement (all n, in order,
// when n ≤ k): a partial Fisher–Yates shuffle driven by SplitMix64 from
// seed, the j-th swap taking index j + z_j mod (n − j). The PyTorch
// reference (testdata/proxies/gen_new_proxies.py) draws the same way.
func sampleIndices(seed uint64, n, k int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	if n <= k {
		return idx
	}
	for j := range k {
		z := splitMix(seed, uint64(j+1))
		r := j + int(z%uint64(n-j))
		idx[j], idx[r] = idx[r], idx[j]
	}
	return idx[:k]
}

// splitMix is the i-th output of SplitMix64 started at seed (the generator
// of the project's fixtures, testdata/torch/gen_fixtures.py's lcg_uniform).
func splitMix(seed, i uint64) uint64 {
	z := seed + i*0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}
