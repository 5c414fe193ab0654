// Package ranking scores collections of models and measures how well the
// proxies rank them: it collects models from folders, files and manifests,
// scores them with parallel workers into a resumable JSONL results file, sorts
// them by a proxy or by the vote of several, and computes rank correlations
// (Spearman, Kendall, Pearson), top-10% precision and pairwise-order accuracy
// against ground truth.
package ranking
