#!/usr/bin/env bash
# The evaluations of results/budget500-1k-2026-12 (docs/experiments.md, "The 500 budget with a larger instrument"),
# after train.sh and `train.sh link`: the curve's evaluation (results/curve-tau0-2026-12/eval.sh: 1,000 replicates,
# 20 timing rounds, the same grids) of ledi_500 (tau 0), fm_500 and fm_eq_500, on a split with a sample count.
#   bash results/budget500-1k-2026-12/eval.sh tune 400     # the curve's instrument, on tune
#   bash results/budget500-1k-2026-12/eval.sh tune 1000    # the larger one
#   bash results/budget500-1k-2026-12/eval.sh test 1000    # once, only if the stated rule held on tune
# Writes out/n5/eval_<split>_<n>/ and copies its results.{md,json,csv} to this folder's <split>_<n>/.
set -euo pipefail
source "$(dirname "$0")/../../benchmarks/budget_curve.sh"   # look_eval; cds to the repo root
look_eval ${CURVE_DIR:-out/n5} 500 ${1:?usage: eval.sh tune|test SAMPLES} ${2:?usage: eval.sh tune|test SAMPLES} \
    results/budget500-1k-2026-12
