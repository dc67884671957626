#!/usr/bin/env bash
# The look of results/s8k-goal-2026-12 (docs/experiments.md, "The 8,000 budget with the sampler at 8,000
# iterations"): the curve's 8,000 aux and flow (tau 0) with the latent sampler trained 8,000 instead of 4,000
# iterations, against the same-iteration baseline (8,000) and the equal-compute one (10,550), with the finer grids of
# results/grid8000-2026-12, by the curve's evaluation (1,000 replicates, 20 timing rounds), nothing else running.
# Networks (out/zc): results/zc-tau0-2026-12/train.sh, then results/sampler8k-2026-12/train.sh s8k, fm8k, fmeq 10550
# and link.
#   bash results/s8k-goal-2026-12/goal.sh link          # run directories out/zc/g8k/{ledi,fm,fm_eq}_8000
#   bash results/s8k-goal-2026-12/goal.sh tune 400      # ~26 min
#   bash results/s8k-goal-2026-12/goal.sh test 1000     # ~65 min, once, only if the plan's rule holds on tune
# results.{md,json,csv} are copied to this folder's <split>_<samples>/; `python results/s8k-goal-2026-12/goals.py`.
set -euo pipefail
source "$(dirname "$0")/../../benchmarks/budget_curve.sh"   # rundir, look_eval; cds to the repo root
O=${ZC_DIR:-out/zc}
G=$O/g8k
case "${1:?usage: goal.sh link | tune|test SAMPLES}" in
link)
    for f in $O/fm8k/flow.pt $O/fm_eq10550/flow.pt $O/s8k/sampler.pt $O/s8k/flow.pt; do
        [ -f $f ] || { echo "no $f: run results/sampler8k-2026-12/train.sh (s8k, fm8k, fmeq 10550, link) first" >&2; exit 1; }
    done
    rundir $G/fm_8000 $O/fm8k/flow.pt
    rundir $G/fm_eq_8000 $O/fm_eq10550/flow.pt
    $PY results/tau-look-2026-12/runs.py $O/s8k 0 --out=$G/ledi_8000 > /dev/null
    ls -l $G/*_8000/ ;;
tune | test)
    EVAL_SAMPLER="['midpoint:8', 'midpoint:3', 'midpoint:2']" \
    EVAL_FM="['euler:2', 'midpoint:2', 'midpoint:3', 'midpoint:4', 'midpoint:6', 'midpoint:8']" \
        look_eval $G 8000 $1 ${2:?usage: goal.sh tune|test SAMPLES} results/s8k-goal-2026-12 ;;
*) echo "usage: goal.sh link | tune|test SAMPLES" >&2; exit 2 ;;
esac
