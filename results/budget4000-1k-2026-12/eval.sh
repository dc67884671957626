#!/usr/bin/env bash
# The evaluation of results/budget4000-1k-2026-12 (docs/experiments.md, "The 4,000 budget with the larger
# instrument"), after train.sh and `train.sh link`: the curve's evaluation (1,000 replicates, 20 timing rounds, the
# same grids) of ledi_4000 (tau 0), fm_4000 and fm_eq_4000, on the test split with 1,000 samples per setting, once.
#   bash results/budget4000-1k-2026-12/eval.sh test 1000
# Writes out/n4k/eval_test_1000/ and copies its results.{md,json,csv} to this folder's test_1000/. The split's
# reference features come from the 500 look's evaluation of it when that is there (out/n5), else are computed.
set -euo pipefail
source "$(dirname "$0")/../../benchmarks/budget_curve.sh"   # look_eval; cds to the repo root
look_eval ${CURVE_DIR:-out/n4k} 4000 ${1:?usage: eval.sh test SAMPLES} ${2:?usage: eval.sh test SAMPLES} \
    results/budget4000-1k-2026-12
