#!/bin/sh
# The figures of docs/search.md: every algorithm × variant (--compare), 100
# repeats, budget 300, on NAS-Bench-201 CIFAR-100 and CIFAR-10, with synflow
# and with the vote of synflow and params, read from a results file of all
# 15,625 networks written by
#   zerocost rank nb201:all --proxies synflow,params,flops --batch-size 1 --input-shape 3x32x32 --results R.jsonl
# Usage: scripts/search_figures.sh R.jsonl [OUTDIR]
set -eu
results=${1:?usage: scripts/search_figures.sh RESULTS.jsonl [OUTDIR]}
out=${2:-out/search}
mkdir -p "$out"
go build -o bin/zerocost ./cmd/zerocost
for ds in cifar100 cifar10; do
	for proxy in synflow synflow,params; do
		tag=$(echo "$proxy" | tr , +)
		start=$(date +%s)
		for algo in rs rea reinforce predictor; do
			bin/zerocost search nb201 --algo "$algo" --compare --proxy "$proxy" --results "$results" \
				--dataset "$ds" --budget 300 --repeats 100 --plot "$out/$ds-$tag-$algo.png" >"$out/$ds-$tag-$algo.txt" 2>/dev/null
		done
		echo "$ds $tag: all algorithms × variants × 100 repeats: $(($(date +%s) - start)) s" | tee -a "$out/wall.txt"
	done
done
