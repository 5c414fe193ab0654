package proxies

// synflow and synflow_bn run on their own graphs (run_synflow.go), which
// reduce to the per-layer scores there: the rescaling's log10 offsets are
// part of the reduction.
var _ = register(Proxy{
	Name: "synflow", Order: 70,
	Summary: "Σ |W ⊙ dR/dW|, |params|, no BN, one all-ones sample, R = Σ outputs",
	Variant: Variant{Graph: GraphSynflow, BN: BNRemoved},
	Reduce:  func(s *scorer, sig *signals) (*ProxyResult, error) { return sig.synflow, nil },
})
