package proxies

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// meco is MeCo (Jiang et al., NeurIPS 2023; HamsterMimi/MeCo): a forward
// pass on the first sample of the batch; for every layer output (C×H×W,
// read as C rows of H·W), the smallest eigenvalue of the C×C Pearson
// correlation matrix of its channels (entries that are NaN, from a constant
// channel, set to 0, as torch.corrcoef's NaN are); model score the sum over
// layers. MeCo hooks every PyTorch module; in an ONNX graph the layers are
// the Conv/Gemm/MatMul layers of the layer table (`zerocost layers` lists
// them), each scored on its own output (a shared weight: summed over its
// consumers). A Gemm's output (1×K) has one value per channel: its
// correlation is all NaN, so it scores 0, as in MeCo.
var _ = register(Proxy{
	Name: "meco", Order: 210, NeedsData: true,
	Summary: "MeCo: Σ over layer outputs of λ_min of the channel correlation matrix, one sample",
	Variant: Variant{Graph: GraphData, Head: HeadOutputSum, Samples: 1},
	Signals: Signals{LayerOutputs: true},
	Reduce: func(s *scorer, sig *signals) (*ProxyResult, error) {
		return s.mecoScores(sig, nil)
	},
})

// mecoScores scores every layer's outputs with λ_min of the correlation of
// its channels, or of the channels pick chooses (meco_opt) times C/k.
func (s *scorer) mecoScores(sig *signals, pick func(layer, c int) []int) (*ProxyResult, error) {
	scores := make([]float64, len(s.layers))
	for i, l := range s.layers {
		for _, o := range l.Outputs {
			t := sig.outputs[o]
			if t == nil || len(t.Shape) < 2 {
				return nil, fmt.Errorf("proxies: meco: layer %s has no output %q with a channel axis", l.Node, o)
			}
			c := int(t.Shape[1])
			if channelAxis(l) < 0 && len(t.Shape) > 2 {
				return nil, fmt.Errorf("proxies: meco: layer %s (%s) has its channels on the last axis of %v; MeCo reads channels on axis 1", l.Node, l.Op, t.Shape)
			}
			rows := channelRows(t.Float64s(), c) // the variant ran on one sample
			factor := 1.0
			if pick != nil {
				idx := pick(i, c)
				sub := make([][]float64, len(idx))
				for j, k := range idx {
					sub[j] = rows[k]
				}
				factor = float64(c) / float64(len(idx))
				rows = sub
			}
			lmin, err := minCorrEigen(rows)
			if err != nil {
				return nil, fmt.Errorf("proxies: meco: layer %s: %w", l.Node, err)
			}
			scores[i] += lmin * factor
		}
	}
	return s.perLayer(scores), nil
}

// channelRows reads one sample of C×… values as C rows.
func channelRows(v []float64, c int) [][]float64 {
	n := len(v) / c
	rows := make([][]float64, c)
	for k := range rows {
		rows[k] = v[k*n : (k+1)*n]
	}
	return rows
}

// minCorrEigen returns the smallest eigenvalue of the correlation matrix of
// rows; a constant row (or a row of one value) has NaN correlations, set to
// 0 as MeCo does, the diagonal included.
func minCorrEigen(rows [][]float64) (float64, error) {
	c := len(rows)
	centred := make([][]float64, c)
	for k, r := range rows {
		if len(r) < 2 {
			continue // NaN correlations: 0
		}
		if z := standardised(r); !math.IsNaN(z[0]) { // NaN: a constant row
			centred[k] = z
		}
	}
	m := mat.NewSymDense(c, nil)
	for a := range c {
		for b := a; b < c; b++ {
			if centred[a] == nil || centred[b] == nil {
				continue
			}
			dot := 0.0
			for j := range centred[a] {
				dot += centred[a][j] * centred[b][j]
			}
			m.SetSym(a, b, math.Max(-1, math.Min(1, dot)))
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(m, false) {
		return 0, fmt.Errorf("the eigen-decomposition of the %d×%d correlation matrix did not converge", c, c)
	}
	return eig.Values(nil)[0], nil
}
