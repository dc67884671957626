#!/usr/bin/env bash
# The evaluation of results/budget4000-1k-2026-12 (docs/experiments.md, "The 4,000 budget with the larger
# instrument"), after train.sh and `train.sh link`: the curve's evaluation (1,000 replicates, 20 timing rounds, the
# same grids) of ledi_4000 (tau 0), fm_4000 and fm_eq_4000, on the test split with 1,000 samples per setting, once.
#   bash results/budget4000-1k-2026-12/eval.sh test 1000
# Writes out/n4k/eval_test_1000/ and copies its results.{md,json,csv} to this folder's test_1000/. The split's
# reference features are copied from the 500 look's evaluation of it when that is there (out/n5), else computed.
set -euo pipefail
source "$(dirname "$0")/../../benchmarks/budget_curve.sh"   # look_eval; cds to the repo root
O=${CURVE_DIR:-out/n4k}
split=${1:?usage: eval.sh test SAMPLES} n=${2:?usage: eval.sh test SAMPLES}
mkdir -p $O/eval_${split}_$n
cp -n out/n5/eval_${split}_*/{ref,rest,held}_*.pt $O/eval_${split}_$n/ 2>/dev/null || true
look_eval $O 4000 $split $n results/budget4000-1k-2026-12
