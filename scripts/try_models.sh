#!/usr/bin/env bash
# Try zerocost on a folder of ONNX models as a new user would (docs/models-tried.md).
#
#   scripts/try_models.sh ZEROCOST FOLDER [OUT_DIR] [GLOB...]
#
# For every FOLDER/*.onnx (or only those matching the GLOBs, e.g. '*_default.onnx'), one at a time,
# smallest file first:
#   zerocost score FILE --proxies P --batch-size 2 --format json --threads 1
# under `timeout` ($TIMEOUT s, default 300) and `/usr/bin/time -v` (peak RSS), niced. P is $PROXIES
# (default all), or $PROXIES_BIG (default: every proxy but grasp, written out) for files larger than
# $BIG_MB MB (default 100). Each run leaves OUT_DIR/score/NAME.{json,err,time,rc}; a file whose .rc exists
# is not run again (delete it to rerun). Then, unless NO_RANK=1:
#   zerocost rank FOLDER --proxies datafree --batch-size 2 --results OUT_DIR/rank.jsonl --workers 1 --threads 1
# and finally scripts/summarize_tries.py writes OUT_DIR/summary.md and OUT_DIR/summary.json.
# Environment: ZEROCOST_ORT_LIB as for zerocost; TIMEOUT, RANK_TIMEOUT (default 7200), PROXIES,
# PROXIES_BIG, BIG_MB, NO_RANK, NICE (default 10).
set -u
if [ $# -lt 2 ]; then
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
ZC=$(readlink -f "$1")
FOLDER=$(readlink -f "$2")
OUT=${3:-/tmp/zerocost-tries}
shift $(( $# < 3 ? $# : 3 ))
GLOBS=("$@")
[ ${#GLOBS[@]} -eq 0 ] && GLOBS=("*.onnx")
TIMEOUT=${TIMEOUT:-300}
RANK_TIMEOUT=${RANK_TIMEOUT:-7200}
PROXIES=${PROXIES:-all}
PROXIES_BIG=${PROXIES_BIG:-grad_norm,snip,fisher,jacob_cov,plain,synflow,synflow_bn,nwot,params,flops,l2_norm}
BIG_MB=${BIG_MB:-100}
NICE=${NICE:-10}
HERE=$(dirname "$(readlink -f "$0")")
mkdir -p "$OUT/score"
"$ZC" version > "$OUT/version.txt" 2>&1 || true

files=()
for g in "${GLOBS[@]}"; do
  for f in "$FOLDER"/$g; do
    [ -f "$f" ] && files+=("$f")
  done
done
# smallest first, so that a long run gives the quick answers early
IFS=$'\n' files=($(printf '%s\n' "${files[@]}" | sort -u | xargs -r -d '\n' stat -c '%s %n' | sort -n | cut -d' ' -f2-)); unset IFS

for f in "${files[@]}"; do
  name=$(basename "$f" .onnx)
  base="$OUT/score/$name"
  [ -f "$base.rc" ] && continue
  mb=$(( $(stat -c %s "$f") / 1000000 ))
  p=$PROXIES
  [ "$mb" -gt "$BIG_MB" ] && p=$PROXIES_BIG
  echo "$p" > "$base.proxies"
  start=$(date +%s.%N)
  /usr/bin/time -v -o "$base.time" timeout -k 10 "$TIMEOUT" nice -n "$NICE" \
    "$ZC" score "$f" --proxies "$p" --batch-size 2 --format json --threads 1 \
    > "$base.json" 2> "$base.err"
  rc=$?
  end=$(date +%s.%N)
  echo "$rc" > "$base.rc"
  printf '%-32s rc=%-3s %6.1fs  %s\n' "$name" "$rc" "$(echo "$end - $start" | bc)" "$p"
done

if [ "${NO_RANK:-0}" != 1 ]; then
  rm -f "$OUT/rank.jsonl"
  echo "rank $FOLDER ..."
  /usr/bin/time -v -o "$OUT/rank.time" timeout -k 10 "$RANK_TIMEOUT" nice -n "$NICE" \
    "$ZC" rank "$FOLDER" --proxies datafree --batch-size 2 --results "$OUT/rank.jsonl" \
    --workers 1 --threads 1 > "$OUT/rank.out" 2> "$OUT/rank.err"
  echo $? > "$OUT/rank.rc"
  echo "rank rc=$(cat "$OUT/rank.rc")"
fi

/usr/bin/python3 "$HERE/summarize_tries.py" "$FOLDER" "$OUT"
