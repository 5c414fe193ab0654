package proxies

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

var _ = register(Proxy{
	Name: "jacob_cov", Order: 50, NeedsData: true,
	Summary: "−Σ log(v+k) + 1/(v+k) over eigenvalues v of the correlation of input Jacobians, k = 1e-5",
	Variant: Variant{Graph: GraphData, Head: HeadOutputSum},
	Signals: Signals{InputJacobian: true},
	Check:   checkJacobTarget,
	Reduce: func(s *scorer, sig *signals) (*ProxyResult, error) {
		score, err := jacobCov(sig.jacob.Float64s(), int(sig.jacob.Shape[0]))
		if err != nil {
			return nil, err
		}
		return &ProxyResult{Score: score}, nil
	},
})

// jacobCov scores the N×D input Jacobian: −Σ [log(v + k) + 1/(v + k)] over
// the eigenvalues v of the N×N correlation matrix of its rows, k = 1e-5.
func jacobCov(j []float64, n int) (float64, error) {
	if n < 2 {
		return 0, fmt.Errorf("proxies: jacob_cov compares the input gradients of samples and needs a batch of at least 2; this one has %d", n)
	}
	d := len(j) / n
	rows := make([][]float64, n)
	for i := range rows {
		r := append([]float64{}, j[i*d:(i+1)*d]...)
		mean := 0.0
		for _, v := range r {
			mean += v
		}
		mean /= float64(d)
		norm := 0.0
		for k := range r {
			r[k] -= mean
			norm += r[k] * r[k]
		}
		if norm == 0 {
			return 0, fmt.Errorf("proxies: jacob_cov: the input gradient of sample %d is constant, so its correlation is undefined (NaN in the reference)", i)
		}
		norm = math.Sqrt(norm)
		for k := range r {
			r[k] /= norm
		}
		rows[i] = r
	}
	c := mat.NewSymDense(n, nil)
	for a := 0; a < n; a++ {
		for b := a; b < n; b++ {
			dot := 0.0
			for k := 0; k < d; k++ {
				dot += rows[a][k] * rows[b][k]
			}
			c.SetSym(a, b, dot)
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(c, false) {
		return 0, fmt.Errorf("proxies: jacob_cov: the eigen-decomposition did not converge")
	}
	const k = 1e-5
	score := 0.0
	for _, v := range eig.Values(nil) {
		score -= math.Log(v+k) + 1/(v+k)
	}
	return score, nil
}

// checkJacobTarget fails an input-Jacobian proxy before any graph is built
// when the model has no float tensor to differentiate against (a head
// error is left for the run to report).
func checkJacobTarget(s *scorer) error {
	if s.headErr != "" {
		return nil
	}
	_, _, err := s.jacobTarget()
	return err
}
