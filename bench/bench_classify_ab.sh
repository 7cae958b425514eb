#!/bin/bash
# The classifier's speed, this checkout against another commit, in the same minutes.
#
#   bench/bench_classify_ab.sh COMMIT [N] [ROUNDS]     # e.g. bench/bench_classify_ab.sh 45ad4cf 100000 2
#
# Copies COMMIT's src and bench (git archive) to a temporary directory and runs, ROUNDS
# times (default 2), one after the other at nice -n 15: bench/bench_classify.py --n N
# (default 100000) of this checkout, then the same of COMMIT with its src first on
# PYTHONPATH (its packaged model comes with its src). Both use this checkout's .venv.
# Prints each run's output with the time and load average before it.
set -euo pipefail
commit=${1:?commit to compare with}
n=${2:-100000}
rounds=${3:-2}
here=$(cd "$(dirname "$0")/.." && pwd)
old=$(mktemp -d)
trap 'rm -rf "$old"' EXIT
git -C "$here" archive "$commit" src bench | tar -x -C "$old"
for round in $(seq "$rounds"); do
  echo "== round $round: this checkout ($(git -C "$here" rev-parse --short HEAD)), $(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"
  (cd "$here" && nice -n 15 .venv/bin/python bench/bench_classify.py --n "$n")
  echo "== round $round: $commit, $(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"
  (cd "$old" && PYTHONPATH="$old/src" nice -n 15 "$here/.venv/bin/python" bench/bench_classify.py --n "$n")
done
