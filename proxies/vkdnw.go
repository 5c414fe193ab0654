package proxies

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
)

// vkdnw is VKDNW (Tybl & Neumann, CVPR 2025; ondratybl/VKDNW
// NB201/ZeroShotProxy/compute_vkdnw_score.py): the Fisher information of
// the network's predictive distribution over a few weights, F = mean over
// the batch of (L J)ᵀ(L J), J the sample's Jacobian of the logits with
// respect to element 0 of every parameter tensor (one weight per tensor,
// as the NAS-Bench-201 code's param_idx 0 takes), L the code's Cholesky
// factor of the smoothed softmax covariance (probabilities p(1−α) + α/K,
// α = 0.05 rounded to float16 as the code stores it). The 9 deciles of F's
// eigenvalues (torch.quantile's linear interpolation at 0.1…0.9), divided
// by their sum, give the entropy H = −Σ t·log(t + 1e-10); vkdnw = ℵ + H,
// ℵ the number of parameter tensors (the proxy `layers`), so networks rank
// by ℵ first and by H among equal ℵ as the authors' (ℵ, H) ranking does
// (H ≤ log 9 < ℵ's step of 1 only roughly: see docs/proxies.md).
// The layer weights are re-initialised Kaiming-normal fan-in, seeded
// (biases 0, BatchNormalization scale 1 and bias 0: the code's init_model;
// Options.KeepWeights keeps the file's). BatchNormalization runs on its
// running statistics (the code's model.eval()); the batch is the data batch (random N(0,1) by default,
// as the PROXIES.md definition; real images with --data, as the
// NAS-Bench-201 script).
var _ = register(Proxy{
	Name: "vkdnw", Order: 300, NeedsData: true,
	Summary: "VKDNW: ℵ + entropy of the deciles of the Fisher information's eigenvalues (one weight per tensor)",
	Variant: vkdnwVariant,
	Signals: Signals{SampleJacobian: true},
	Reduce: func(s *scorer, sig *signals) (*ProxyResult, error) {
		h, err := vkdnwEntropy(sig.jacobian)
		if err != nil {
			return nil, err
		}
		return &ProxyResult{Score: float64(len(sig.jacobian.params)) + h}, nil
	},
})

// vkdnw_entropy is vkdnw's entropy H alone (without ℵ), for ensembles.
var _ = register(Proxy{
	Name: "vkdnw_entropy", Order: 301, NeedsData: true,
	Summary: "VKDNW's entropy of the deciles of the Fisher information's eigenvalues, without ℵ",
	Variant: vkdnwVariant,
	Signals: Signals{SampleJacobian: true},
	Reduce: func(s *scorer, sig *signals) (*ProxyResult, error) {
		h, err := vkdnwEntropy(sig.jacobian)
		if err != nil {
			return nil, err
		}
		return &ProxyResult{Score: h}, nil
	},
})

var vkdnwVariant = Variant{Graph: GraphData, Head: HeadOutputSum, BN: BNRunningStats, Init: InitKaimingFanIn}

// vkdnwAlpha is the code's α = 0.05 as torch.float16 stores it.
const vkdnwAlpha = 0.0500030517578125

// vkdnwEntropy returns the entropy of the normalised deciles of the
// eigenvalues of the Fisher information.
func vkdnwEntropy(j *sampleJacobian) (float64, error) {
	if j == nil {
		return 0, fmt.Errorf("proxies: vkdnw: no Jacobian")
	}
	P, K := len(j.params), j.k
	fisher := mat.NewSymDense(P, nil)
	a := mat.NewDense(K, P, nil)
	jb := mat.NewDense(K, P, nil)
	for b := range j.n {
		for k := range K {
			jb.SetRow(k, j.rows[k][b*P:(b+1)*P])
		}
		a.Mul(choleskyFactor(j.logits[b*K:(b+1)*K]), jb)
		fisher.SymRankK(fisher, 1/float64(j.n), a.T())
	}
	var eig mat.EigenSym
	if !eig.Factorize(fisher, false) {
		return 0, fmt.Errorf("proxies: vkdnw: the eigen-decomposition of the %d×%d Fisher information did not converge", P, P)
	}
	lambdas := eig.Values(nil)
	for i, v := range lambdas {
		lambdas[i] = math.Abs(v) // singular values, as torch.svd gives
	}
	slices.Sort(lambdas)
	var q []float64
	sum := 0.0
	for i := 1; i <= 9; i++ {
		v := quantile(lambdas, float64(i)/10)
		q = append(q, v)
		sum += math.Abs(v)
	}
	h := 0.0
	for _, v := range q {
		t := v / (sum + 1e-10)
		h -= t * math.Log(t+1e-10)
	}
	if math.IsNaN(h) {
		return 0, fmt.Errorf("proxies: vkdnw: the Fisher information is not finite (the logits overflow)")
	}
	return h, nil
}

// quantile interpolates sorted linearly at q, as torch.quantile does.
func quantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	lo := math.Floor(pos)
	hi := math.Min(lo+1, float64(len(sorted)-1))
	return sorted[int(lo)] + (pos-lo)*(sorted[int(hi)]-sorted[int(lo)])
}

// choleskyFactor is VKDNW's cholesky_covariance for one sample's logits: p
// the smoothed softmax, q_j = 1 − Σ_{i≤j} p_i (q_{K−1} = 0), d_j = √(p_j
// q_j / q_{j−1}) (q_{−1} = 1); L_ij = −p_i/q_j·d_j below the diagonal (0
// where q_j = 0), L_ii = d_i, 0 above. L·Lᵀ is diag(p) − p·pᵀ.
func choleskyFactor(logits []float64) *mat.Dense {
	k := len(logits)
	top := slices.Max(logits)
	p := make([]float64, k)
	z := 0.0
	for i, v := range logits {
		p[i] = math.Exp(v - top)
		z += p[i]
	}
	q := make([]float64, k)
	cum := 0.0
	for i := range p {
		p[i] = p[i]/z*(1-vkdnwAlpha) + vkdnwAlpha/float64(k)
		cum += p[i]
		q[i] = 1 - cum
	}
	q[k-1] = 0
	l := mat.NewDense(k, k, nil)
	for j := range k {
		prev := 1.0
		if j > 0 {
			prev = q[j-1]
		}
		d := math.Sqrt(p[j] * q[j] / prev)
		l.Set(j, j, d)
		if q[j] == 0 {
			continue
		}
		for i := j + 1; i < k; i++ {
			l.Set(i, j, -p[i]/q[j]*d)
		}
	}
	return l
}
