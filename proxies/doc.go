// Package proxies provides zero-cost proxies per layer: those of Abdelfattah
// et al., "Zero-Cost Proxies for Lightweight NAS" (ICLR 2021), as the
// reference implementation (foresight) computes them, the baselines params,
// flops and l2_norm, NASWOT (nwot), and proxies published since (zico,
// meco, meco_opt, gradsign, layers).
//
// Each proxy is one file that registers a Proxy: the graph variant it runs
// on (Variant), the signals it reads from the runs (Signals: weight
// gradients, fisher's in-graph products, H·g, input Jacobians, the NASWOT
// kernel, layer outputs) and a Reduce from signals to scores. Score's
// planner groups the requested proxies by variant and ORs their signals,
// so that proxies sharing a variant share one graph and one ONNX Runtime
// run per model (or one run per part of a split batch, all on one session):
//
//	variant                                        proxies
//	data, cross-entropy head                        grad_norm snip plain fisher grasp
//	data, sum head                                  jacob_cov nwot
//	data, two halves of the batch, float64          zico
//	data, one sample at a time                      gradsign
//	data, the first sample, forward                 meco meco_opt
//	|params|, no BN, one all-ones sample            synflow
//	|params|, train-mode BN, one all-ones sample    synflow_bn
//	static: weights and shapes                      params flops l2_norm layers
//
// Reductions that would move large tensors into Go run inside the graph
// (fisher's per-channel products, the N×N NASWOT kernel); Go reduces
// gradients to per-layer scores and does the small linear algebra (the
// eigenvalues of jacob_cov's N×N correlation matrix and of meco's C×C
// channel correlations, NASWOT's log-determinant).
//
// Score is the one call a Go program needs:
//
//	res, err := proxies.Score(model, proxies.Options{Batch: batch})
//	fmt.Println(res.Proxies["synflow"].Log10)
package proxies
