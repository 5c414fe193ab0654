// Package proxies provides the zero-cost proxies of Abdelfattah et al.,
// "Zero-Cost Proxies for Lightweight NAS" (ICLR 2021), per layer, as the
// reference implementation (foresight) computes them, plus the baselines
// params, flops and l2_norm and NASWOT (nwot).
//
// Each proxy in the registry (Registry) declares the graph variant and the
// signals it needs; Score groups the requested proxies by variant so that
// proxies sharing a graph share one ONNX Runtime run per model:
//
//	group     variant                                   proxies
//	ce        cross-entropy head, train-mode BN, data   grad_norm snip plain fisher grasp
//	sum       sum head, train-mode BN, data             jacob_cov nwot
//	synflow   |params|, no BN, one all-ones sample      synflow
//	synflowbn |params|, train-mode BN, all-ones sample  synflow_bn
//	static    the weights and shapes only               params flops l2_norm
//
// Reductions that would move large tensors into Go run inside the graph
// (fisher's per-channel products, the N×N NASWOT kernel); Go reduces
// gradients to per-layer scores and does the small linear algebra (the
// eigenvalues of jacob_cov's N×N correlation matrix, NASWOT's log-determinant).
//
// Score is the one call a Go program needs:
//
//	res, err := proxies.Score(model, proxies.Options{Batch: batch})
//	fmt.Println(res.Proxies["synflow"].Log10)
package proxies
