// Package search provides neural architecture search loops that use
// zero-cost proxies to spend fewer trainings, after Abdelfattah et al.,
// "Zero-Cost Proxies for Lightweight NAS" (ICLR 2021), section 5.
//
// A search sees three interfaces only, so the same loop runs on a benchmark
// table and on a user's real training:
//
//	Space   sample, one-edge neighbours, an encoding for predictors, a key, the model builder
//	Oracle  "trains" a candidate: its validation accuracy (and, on a benchmark, its test accuracy) and cost
//	Scorer  a proxy or an ensemble of proxies: computed on the fly (EngineScorer, cached per process)
//	        or read from a results file written by `zerocost rank` (TableScorer)
//
// NB201Space, NB201Oracle (the benchmark's table, one seed's result per
// query or the mean) and CommandOracle (a user's training command, journaled
// so that a killed search resumes) implement them.
//
// The algorithms are RandomSearch, Evolution (aging evolution), Reinforce
// and Predictor (a binary relation predictor in the style of BRP-NAS), each
// with the paper's two integrations as options: a warm-up (N candidates
// scored by the proxy before anything is trained) and a move proposal (the
// proxy picks among candidate moves). Run runs one search; Repeat runs
// seeded repeats in parallel and returns the curve "test accuracy of the
// architecture best by validation, against trained models" with its mean
// and 25–75% band.
//
// The protocol is fixed by Env, which every algorithm goes through: the
// architecture reported is the one best by validation, and its *test*
// accuracy is what the curve shows; the budget counts oracle queries (every
// query, a repeated one included, unless Options.Dedup); proxy evaluations
// cost no budget, and their number and wall time are reported.
//
// A minimal search over a custom space:
//
//	env := search.Options{Budget: 100, Seed: 1}
//	res, err := search.Run(ctx, &search.Evolution{Pool: 16, Tournament: 4}, space, oracle, scorer, env)
//	fmt.Println(res.Best, res.BestValid, res.BestTest)
package search
