// Package ranking scores collections of models and measures how well the
// proxies rank them: it collects models from folders, files and manifests,
// scores them with parallel workers into a resumable JSONL results file, sorts
// them by a proxy or by the vote of several, and computes rank correlations
// (Spearman, Kendall, Pearson), top-10% precision and pairwise-order accuracy
// against ground truth.
//
// A collection can be split into shards (Shard, ShardFromEnv for the
// environment of a Kubernetes Indexed Job or a Slurm job array) that
// separate processes score into their own results files, and Merge joins
// those files into one record per model and settings.
package ranking
