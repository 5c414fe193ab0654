#!/bin/bash
# Submits a sharded ranking to Slurm: the array of rank.sbatch, then merge.sbatch once every
# task has ended. MODELS, OUT, PROXIES, TRUTH and ZEROCOST are passed on to both jobs.
# Usage: MODELS=/scratch/models OUT=/scratch/zc deploy/slurm/submit.sh [--array=0-15]
set -euo pipefail
here=$(dirname "$0")
rank=$(sbatch --parsable --export=ALL "$@" "$here/rank.sbatch")
merge=$(sbatch --parsable --export=ALL --dependency="afterany:${rank%%;*}" "$here/merge.sbatch")
echo "rank array: job ${rank%%;*}; merge: job $merge (runs after every task has ended)"
