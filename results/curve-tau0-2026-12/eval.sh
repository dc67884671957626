#!/usr/bin/env bash
# The test evaluation of results/curve-tau0-2026-12, once per budget, nothing else running (after train.sh and
# `train.sh link`): the command stated in docs/experiments.md ("The curve at each method's tau from the tune look"),
# run by benchmarks/budget_curve.sh's eval with that statement's instrument (400 samples, 1,000 replicates, 20 timing
# rounds) on each budget's three runs ledi_N (tau 0), fm_N, fm_eq_N.
#   bash results/curve-tau0-2026-12/eval.sh 8000 4000 2000 1000 500 250    # one after another, in the stated order
# The test split's reference, held-out and training-image features (they depend on the split, not on the runs) are
# computed once, by a small evaluation of a baseline snapshot kept only for its feature cache (out/ct/eval_cache).
set -euo pipefail
CURVE_DIR=${CURVE_DIR:-out/ct} EVAL_RUNS="ledi fm fm_eq" EVAL_SAMPLES=400 EVAL_BOOTSTRAP=1000 SPEED_REPEATS=20 \
    exec bash "$(dirname "$0")/../../benchmarks/budget_curve.sh" eval "$@"
