#!/usr/bin/env bash
# The test evaluation of results/curve-sampler-w-2026-12, once per budget (after train.sh and `train.sh link`):
#   bash results/curve-sampler-w-2026-12/eval.sh [N ...]    # default: 250 500 1000 2000, one after another
# Each budget's four runs: ledi_N (the base sampler), ledi_w_N (config/emoji.py's sampler; same aux, flow and seeds,
# so the two are paired), fm_N (same flow iterations), fm_eq_N (equal compute with ledi_w_N). The settings are step
# 2's of the pre-registration (docs/experiments.md), those of benchmarks/budget_curve.sh's eval, which runs them.
# The test feature cache, out/cw/eval_cache, was made first by a small evaluation of a 1-iteration baseline
# (reference features only; they depend on the split, not on the runs); where it is missing, budget_curve.sh makes
# it from fm_N.
set -euo pipefail
CURVE_DIR=${CURVE_DIR:-out/cw} EVAL_RUNS="ledi ledi_w fm fm_eq" BUDGETS="250 500 1000 2000" \
    exec bash "$(dirname "$0")/../../benchmarks/budget_curve.sh" eval "$@"
