package proxies

import (
	"fmt"
	"math"

	"github.com/zerocost/zerocost/data"
)

// epe_nas is EPE-NAS (Lopes et al., 2021; NASLib's epe_nas.py): the
// per-sample input Jacobian of Σ logits (jacob_cov's signal: the two share
// one run), its rows grouped by the sample's label; per class c,
// s_c = Σ log(|corr| + 1e-5) over the entries of the correlation matrix of
// the class's rows (a class with one sample: the 1×1 matrix [1], as
// np.corrcoef of one row); score = Σ_c |s_c| for up to 100 classes, and
// Σ_c Σ_c′ |s_c − s_c′| / (number of classes seen) for more (s_c then divided
// by the class's sample count), as NASLib. Labels come from the batch, or
// are drawn with Options.Seed.
var _ = register(Proxy{
	Name: "epe_nas", Order: 250, NeedsData: true, NeedsLabels: true,
	Summary: "EPE-NAS: Σ_c |Σ log(|corr| + 1e-5)| of the input Jacobians of each class",
	Variant: Variant{Graph: GraphData, Head: HeadOutputSum},
	Signals: Signals{InputJacobian: true},
	Check:   checkJacobTarget,
	Reduce: func(s *scorer, sig *signals) (*ProxyResult, error) {
		dims, err := s.headShape()
		if err != nil {
			return nil, err
		}
		if len(dims) != 2 || dims[1] < 2 {
			return nil, fmt.Errorf("proxies: epe_nas groups samples by class and needs N×classes logits; output %q has shape %v", s.head, dims)
		}
		n := int(sig.jacob.Shape[0])
		labels := s.opts.Batch.Labels
		if labels == nil {
			labels = data.RandomLabels(n, dims[1], s.opts.Seed)
		}
		if len(labels) != n {
			return nil, fmt.Errorf("proxies: epe_nas: %d labels for a batch of %d", len(labels), n)
		}
		return &ProxyResult{Score: epeNAS(sig.jacob.Float64s(), labels, int(dims[1]))}, nil
	},
})

// epeNAS scores the N×D Jacobian j grouped by labels (NASLib's
// eval_score_perclass); NaN when a row is constant.
func epeNAS(j []float64, labels []int64, classes int) float64 {
	n := len(labels)
	d := len(j) / n
	var order []int64
	rows := map[int64][][]float64{}
	for i, c := range labels {
		if rows[c] == nil {
			order = append(order, c)
		}
		rows[c] = append(rows[c], j[i*d:(i+1)*d])
	}
	const k = 1e-5
	scores := make([]float64, len(order))
	for ci, c := range order {
		r := rows[c]
		s := 0.0
		if len(r) == 1 {
			s = math.Log(1 + k)
		} else {
			z := make([][]float64, len(r))
			for a, row := range r {
				z[a] = standardised(row)
			}
			for a := range z {
				for b := range z {
					dot := 0.0
					for t := range z[a] {
						dot += z[a][t] * z[b][t]
					}
					s += math.Log(math.Abs(dot) + k)
				}
			}
			if classes > 100 {
				s /= float64(len(r))
			}
		}
		scores[ci] = s
	}
	score := 0.0
	if classes <= 100 {
		for _, s := range scores {
			score += math.Abs(s)
		}
		return score
	}
	for _, a := range scores {
		for _, b := range scores {
			score += math.Abs(a - b)
		}
	}
	return score / float64(len(scores))
}

// standardised returns row centred and scaled to unit norm (NaN when it is
// constant), so that dot products of two are their Pearson correlation.
func standardised(row []float64) []float64 {
	mean := 0.0
	for _, v := range row {
		mean += v
	}
	mean /= float64(len(row))
	z := make([]float64, len(row))
	norm := 0.0
	for i, v := range row {
		z[i] = v - mean
		norm += z[i] * z[i]
	}
	norm = math.Sqrt(norm)
	for i := range z {
		z[i] /= norm
	}
	return z
}
