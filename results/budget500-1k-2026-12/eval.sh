#!/usr/bin/env bash
# The evaluations of results/budget500-1k-2026-12 (docs/experiments.md, "The 500 budget with a larger instrument"),
# after train.sh and `train.sh link`: the curve's evaluation (results/curve-tau0-2026-12/eval.sh: 1,000 replicates,
# 20 timing rounds, the same grids) of ledi_500 (tau 0), fm_500 and fm_eq_500, on a split with a sample count.
#   bash results/budget500-1k-2026-12/eval.sh tune 400     # the curve's instrument, on tune
#   bash results/budget500-1k-2026-12/eval.sh tune 1000    # the larger one
#   bash results/budget500-1k-2026-12/eval.sh test 1000    # once, only if the stated rule held on tune
# Writes out/n5/eval_<split>_<n>/ and copies its results.{md,json,csv} to this folder's <split>_<n>/.
set -euo pipefail
source "$(dirname "$0")/../../benchmarks/budget_curve.sh"   # curve_eval; cds to the repo root
O=${CURVE_DIR:-out/n5}
split=${1:?usage: eval.sh tune|test SAMPLES} n=${2:?usage: eval.sh tune|test SAMPLES}
D=$O/eval_${split}_$n
mkdir -p $D
for c in $O/eval_${split}_*/; do   # the split's reference features, from an earlier evaluation of this split
    [ "$c" = "$D/" ] || cp -n $c/{ref,rest,held}_*.pt $D/ 2>/dev/null || true
done
EVAL_SAMPLES=$n EVAL_BOOTSTRAP=1000 SPEED_REPEATS=20 curve_eval $D $split $O/ledi_500 $O/fm_500 $O/fm_eq_500
R=$(dirname "$0")/${split}_$n
mkdir -p $R && cp $D/results.{md,json,csv} $R/
