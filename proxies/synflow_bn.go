package proxies

var _ = register(Proxy{
	Name: "synflow_bn", Order: 80,
	Summary: "synflow with train-mode BN on the single sample",
	Variant: Variant{Graph: GraphSynflow, BN: BNKeepTrain},
	Reduce:  func(s *scorer, sig *signals) (*ProxyResult, error) { return sig.synflow, nil },
})
