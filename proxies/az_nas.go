package proxies

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// The AZ-NAS components (Lee & Ham, CVPR 2024; cvlab-yonsei/AZ-NAS
// compute_az_nas_score.py). The features f_0..f_L are the stage tensors
// (onnximport.Stages: the stem output and the tensors that end a block of
// parallel paths; on NAS-Bench-201 the stem and the 17 cell and reduction
// outputs, a cell whose output is a single edge being a chain step and not
// a stage; `zerocost layers` lists them), from one train-mode forward pass
// on the data batch (AZ-NAS: 64 samples of N(0,1)). The three share one
// forward run and one run of the model cut at its stages; az_nas, the sum of
// the log-ranks of the three and flops within a collection, is a built-in
// ensemble of package ranking.

// azVariant is the graph the three components share.
var azVariant = Variant{Graph: GraphStages, BN: BNKeepTrain, Init: InitKaimingFanIn, Input: InputNormal, Batch: 64}

// az_expressivity: per stage (B×C×H×W read as B·H·W rows of C channels,
// centred), the eigenvalues of the C×C covariance (divided by B·H·W),
// normalised to sum 1, and their entropy Σ −p·log(p + 1e-8); the score is
// the sum over stages.
var _ = register(Proxy{
	Name: "az_expressivity", Order: 271,
	Summary: "AZ-NAS expressivity: Σ over stages of the entropy of the channel covariance's eigenvalues",
	Variant: azVariant,
	Signals: Signals{StageCovariances: true},
	Reduce: func(s *scorer, sig *signals) (*ProxyResult, error) {
		e, err := stageEntropies(sig.stages)
		if err != nil {
			return nil, err
		}
		total := 0.0
		for _, v := range e {
			total += v
		}
		if math.IsNaN(total) {
			return nil, fmt.Errorf("proxies: az_expressivity is NaN: a stage's features are constant (AZ-NAS scores −∞; the network ranks last in az_nas)")
		}
		return &ProxyResult{Score: total}, nil
	},
})

// az_progressivity: the smallest increase of the stage entropy from one
// stage to the next, min_l (e_{l+1} − e_l).
var _ = register(Proxy{
	Name: "az_progressivity", Order: 272,
	Summary: "AZ-NAS progressivity: min over consecutive stages of the entropy's increase",
	Variant: azVariant,
	Signals: Signals{StageCovariances: true},
	Reduce: func(s *scorer, sig *signals) (*ProxyResult, error) {
		e, err := stageEntropies(sig.stages)
		if err != nil {
			return nil, err
		}
		low := math.Inf(1)
		for l := 1; l < len(e); l++ {
			d := e[l] - e[l-1]
			if math.IsNaN(d) {
				return nil, fmt.Errorf("proxies: az_progressivity is NaN: a stage's features are constant (AZ-NAS scores −∞; the network ranks last in az_nas)")
			}
			low = math.Min(low, d)
		}
		return &ProxyResult{Score: low}, nil
	},
})

// az_trainability: for each block between consecutive stages, a seeded ±1
// cotangent on its output pulled back to its input through the block alone,
// the input gradient pixel-unshuffled when the resolution shrinks,
// M = G_inᵀ·G_out / (B·H·W) over the rows of channels, σ its largest
// singular value, and the block's score −σ − 1/(σ + 1e-6) + 2; the score is
// the mean over blocks. A block that passes the cotangent through unchanged
// (an identity) scores −∞ in AZ-NAS, and so the network: zerocost reports
// an error instead, and az_nas ranks the network last as AZ-NAS does.
var _ = register(Proxy{
	Name: "az_trainability", Order: 273,
	Summary: "AZ-NAS trainability: mean over blocks of −σ − 1/σ + 2, σ the spectral norm of the block's gradient transfer",
	Variant: azVariant,
	Signals: Signals{StageTransfers: true},
	Reduce: func(s *scorer, sig *signals) (*ProxyResult, error) {
		total := 0.0
		for _, p := range sig.stages.pairs {
			if p.identity {
				return nil, fmt.Errorf("proxies: az_trainability: the block from stage %q to %q is an identity (AZ-NAS scores −∞; the network ranks last in az_nas)", p.from, p.to)
			}
			var svd mat.SVD
			if !svd.Factorize(mat.NewDense(p.rows, p.cols, p.m), mat.SVDNone) {
				return nil, fmt.Errorf("proxies: az_trainability: the SVD of the %d×%d transfer matrix from %q to %q did not converge", p.rows, p.cols, p.from, p.to)
			}
			sigma := svd.Values(nil)[0]
			total += -sigma - 1/(sigma+1e-6) + 2
		}
		return &ProxyResult{Score: total / float64(len(sig.stages.pairs))}, nil
	},
})

// stageEntropies returns the entropy of the normalised eigenvalues of each
// stage's channel covariance (NaN where the covariance is zero or has an
// eigenvalue below −1e-8 of their sum, as AZ-NAS's log gives).
func stageEntropies(st *stageSignals) ([]float64, error) {
	out := make([]float64, len(st.tensors))
	for l, t := range st.tensors {
		c := st.channels[t]
		var eig mat.EigenSym
		if !eig.Factorize(mat.NewSymDense(c, st.cov[t]), false) {
			return nil, fmt.Errorf("proxies: AZ-NAS: the eigen-decomposition of the %d×%d covariance of stage %q did not converge", c, c, t)
		}
		vals := eig.Values(nil)
		sum := 0.0
		for _, v := range vals {
			sum += v
		}
		h := 0.0
		for _, v := range vals {
			p := v / sum
			h -= p * math.Log(p+1e-8)
		}
		out[l] = h
	}
	return out, nil
}
