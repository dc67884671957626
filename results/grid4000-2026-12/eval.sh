#!/usr/bin/env bash
# The evaluation of results/grid4000-2026-12 (docs/experiments.md, "The 4,000 budget with finer step grids"): the
# 4,000 budget's networks of results/budget4000-1k-2026-12 (train.sh there trains them again, ~55 min; out/n4k)
# by the curve's evaluation (1,000 replicates, 20 timing rounds) with one more sampler step count for LeDiFlow
# (midpoint x3, between its x2 and x8) and two more step counts for the baseline (midpoint x3 and x6, 6 and 12 NFE,
# either side of its x4), on tune first, then on test once if the rule of the plan holds:
#   bash results/grid4000-2026-12/eval.sh tune 1000    # 66 min on 2 CPU cores (7 December 2026), nothing else running
#   bash results/grid4000-2026-12/eval.sh test 1000    # 63 min
# Its run directories out/n4g/{ledi,fm,fm_eq}_4000 link to out/n4k's, so the evaluations go to out/n4g/eval_*
# (not over out/n4k's earlier test evaluation); results.{md,json,csv} are copied to this folder's <split>_<samples>/.
set -euo pipefail
source "$(dirname "$0")/../../benchmarks/budget_curve.sh"   # look_eval; cds to the repo root
O=${CURVE_DIR:-out/n4g}
mkdir -p $O
for r in ledi fm fm_eq; do
    [ -d out/n4k/${r}_4000 ] \
        || { echo "no out/n4k/${r}_4000: run results/budget4000-1k-2026-12/train.sh and its link first" >&2; exit 1; }
    ln -sfn "$(realpath out/n4k/${r}_4000)" $O/${r}_4000
done
EVAL_SAMPLER="['midpoint:8', 'midpoint:3', 'midpoint:2']" \
EVAL_FM="['euler:2', 'midpoint:2', 'midpoint:3', 'midpoint:4', 'midpoint:6', 'midpoint:8']" \
    look_eval $O 4000 ${1:?usage: eval.sh tune|test SAMPLES} ${2:?usage: eval.sh tune|test SAMPLES} \
    results/grid4000-2026-12
