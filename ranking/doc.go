// Package ranking scores collections of models and measures how well the
// proxies rank them: it collects models from folders, files and manifests,
// scores them with parallel workers into a resumable JSONL results file, sorts
// them by a proxy or an ensemble, and computes rank correlations (Spearman,
// Kendall, Pearson), top-10% precision and pairwise-order accuracy against
// ground truth.
//
// Ensembles (ensemble.go) combine the ranks of proxies within a collection:
// the paper's majority vote, the mean rank and AZ-NAS's Σ log(rank/N). Their
// values depend on every model of the collection, so they are computed from
// the per-model values whenever a collection is reported (WithEnsembles),
// never stored in a results file; Latest keeps one record per model of a
// resumed or merged file first. A learned ensemble (learned.go) is fitted on
// K labelled models and evaluated on the others only.
//
// A collection can be split into shards (Shard, ShardFromEnv for the
// environment of a Kubernetes Indexed Job or a Slurm job array) that
// separate processes score into their own results files, and Merge joins
// those files into one record per model and settings.
package ranking
