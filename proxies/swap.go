package proxies

import (
	"errors"
	"fmt"
	"math"
)

// swap is SWAP's score (Peng et al., ICLR 2024; pym1024/SWAP swap.py and
// correlation.py). Per repeat: every layer weight drawn from N(0,1), biases
// 0, BatchNormalization γ = 1 and β = 0 (network_weight_gaussian_init), the
// network in train mode (correlation.py never calls eval); a forward pass of
// the first 16 samples of the data batch (--batch-size 16 or more); for
// every Relu node whose input is 4-D (SWAP hooks nn.ReLU modules whose
// input has 4 dimensions), the sign of each output neuron over the 16
// samples; score = the number of distinct such 16-sample patterns over all
// neurons (torch.unique of the transposed activation matrix). The patterns
// are packed in the graph (Σ_i 2^i·(x_i > 0), one float64 per neuron) and
// counted in Go. The model score is the mean over 32 repeats
// (Options.Repeats). A Relu node that PyTorch's exporter merged from
// several ReLU calls on one tensor gives the same patterns as those calls,
// so the count is that of the module hooks.
var _ = register(Proxy{
	Name: "swap", Order: 240, NeedsData: true,
	Summary: "SWAP: distinct per-neuron ReLU sign patterns over 16 samples, N(0,1) weights, 32 repeats",
	Variant: swapVariant,
	Signals: Signals{ReluPatterns: true},
	Check:   checkRelu4,
	Reduce: func(s *scorer, sig *signals) (*ProxyResult, error) {
		s.res.Notes = append(s.res.Notes, swapNote(sig))
		return &ProxyResult{Score: meanPatterns(sig)}, nil
	},
})

// swapVariant is the variant swap and reg_swap share.
var swapVariant = Variant{Graph: GraphData, Head: HeadOutputSum, BN: BNKeepTrain, Init: InitNormal, Samples: 16, Repeats: 32}

// swapNote says which ReLUs swap read.
func swapNote(sig *signals) string {
	return fmt.Sprintf("swap: the sign patterns over %d samples of %d neurons of %d Relu nodes with 4-D inputs, mean over %d repeats", swapVariant.Samples, sig.reluNeurons, sig.reluNodes, len(sig.runs))
}

// meanPatterns is the mean over the repeats of the distinct patterns.
func meanPatterns(sig *signals) float64 {
	total := 0.0
	for _, r := range sig.runs {
		total += float64(r.patterns)
	}
	return total / float64(len(sig.runs))
}

// checkRelu4 fails for a model without a Relu on a 4-D tensor.
func checkRelu4(s *scorer) error {
	if s.dataShapes == nil { // no batch: the ranks are not known yet; the graph checks them
		if hasOp(s.fwd, "Relu") {
			return nil
		}
	} else {
		shapes, err := s.dataShapes(s.fwd)
		if err != nil {
			return err
		}
		for _, n := range s.fwd.Graph().GetNode() {
			if n.GetOpType() == "Relu" && len(shapes[n.GetInput()[0]].Dims) == 4 {
				return nil
			}
		}
	}
	return errors.New("proxies: the model has no Relu on a 4-D (N×C×H×W) tensor; SWAP and TE-NAS count the sign patterns of such ReLUs (ReLU6, GELU and other activations are not read)")
}

// The size prior of reg_swap: exp(−(P − μ)² / σ) with P the number of
// parameters in millions. The authors' code takes μ and σ as arguments
// (cal_regular_factor) and their repository sets no values;
// regSwapMu = regSwapSigma = 1.5 (millions) is what a public port of
// their code uses, and it favours the largest NAS-Bench-201 cells
// (0.07–1.53 M parameters) as the paper's prior does.
const (
	regSwapMu    = 1.5
	regSwapSigma = 1.5
)

// reg_swap is SWAP regularised by model size: swap × exp(−(P − μ)² / σ).
var _ = register(Proxy{
	Name: "reg_swap", Order: 245, NeedsData: true,
	Summary: "regularised SWAP: swap × exp(−(params/1e6 − 1.5)² / 1.5)",
	Variant: swapVariant,
	Signals: Signals{ReluPatterns: true},
	Check:   checkRelu4,
	Reduce: func(s *scorer, sig *signals) (*ProxyResult, error) {
		s.res.Notes = append(s.res.Notes, swapNote(sig))
		p := s.paramCount() / 1e6
		return &ProxyResult{Score: meanPatterns(sig) * math.Exp(-(p-regSwapMu)*(p-regSwapMu)/regSwapSigma)}, nil
	},
})
