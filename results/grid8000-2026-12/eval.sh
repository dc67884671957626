#!/usr/bin/env bash
# The evaluation of results/grid8000-2026-12 (docs/experiments.md, "The 8,000 budget with finer step grids"): the
# 8,000 budget's networks (train.sh here trains them again from out/n4k, ~55 min; out/n8k) by the curve's evaluation
# (1,000 replicates, 20 timing rounds) with the finer grids of results/grid4000-2026-12, unchanged: LeDiFlow's sampler
# also at midpoint x3, the baseline also at midpoint x3 and x6 (6 and 12 NFE); on tune first, then on test once if
# the rule of the plan holds:
#   bash results/grid8000-2026-12/eval.sh tune 400     # ~26 min on 2 CPU cores, nothing else running
#   bash results/grid8000-2026-12/eval.sh test 1000    # ~65 min
# results.{md,json,csv} are copied to this folder's <split>_<samples>/.
set -euo pipefail
source "$(dirname "$0")/../../benchmarks/budget_curve.sh"   # look_eval; cds to the repo root
O=${CURVE_DIR:-out/n8k}
for r in ledi fm fm_eq; do
    [ -d $O/${r}_8000 ] || { echo "no $O/${r}_8000: run results/grid8000-2026-12/train.sh and its link first" >&2; exit 1; }
done
EVAL_SAMPLER="['midpoint:8', 'midpoint:3', 'midpoint:2']" \
EVAL_FM="['euler:2', 'midpoint:2', 'midpoint:3', 'midpoint:4', 'midpoint:6', 'midpoint:8']" \
    look_eval $O 8000 ${1:?usage: eval.sh tune|test SAMPLES} ${2:?usage: eval.sh tune|test SAMPLES} \
    results/grid8000-2026-12
