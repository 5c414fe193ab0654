package proxies

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

var _ = register(Proxy{
	Name: "nwot", Order: 90, NeedsData: true,
	Summary: "NASWOT: log|det K|, K = Σ_ReLU c·cᵀ + (1−c)(1−c)ᵀ",
	Variant: Variant{Graph: GraphData, Head: HeadOutputSum},
	Signals: Signals{ReluKernel: true},
	Check: func(s *scorer) error {
		if !hasOp(s.fwd, "Relu") {
			return errors.New("proxies: nwot needs ReLU activations and the model has none (ReLU6, GELU and other activations are not binary codes)")
		}
		return nil
	},
	Reduce: func(s *scorer, sig *signals) (*ProxyResult, error) {
		k := sig.kernel
		n := int(k.Shape[0])
		logdet, sign := mat.LogDet(mat.NewDense(n, n, k.Float64s()))
		switch batch := s.opts.Batch.Size(); {
		case n != batch:
			return nil, fmt.Errorf("proxies: nwot: a Relu's input does not hold the batch on axis 0 (the kernel is %d×%d for a batch of %d: a sequence-first layout?); NASWOT compares samples", n, n, batch)
		case n < 2:
			return nil, fmt.Errorf("proxies: nwot compares the ReLU codes of samples and needs a batch of at least 2; this one has %d", n)
		case sign == 0 || math.IsInf(logdet, 0):
			return nil, errors.New("proxies: nwot: the ReLU kernel is singular (two samples share every activation pattern)")
		}
		return &ProxyResult{Score: logdet}, nil
	},
})
