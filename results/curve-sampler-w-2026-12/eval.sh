#!/usr/bin/env bash
# The test evaluation of results/curve-sampler-w-2026-12, once per budget (after train.sh and `train.sh link`):
#   bash results/curve-sampler-w-2026-12/eval.sh [N ...]    # default: 250 500 1000 2000, one after another
# Each budget's four runs: ledi_N (the base sampler), ledi_w_N (config/emoji.py's sampler; same aux, flow and seeds,
# so the two are paired), fm_N (same flow iterations), fm_eq_N (equal compute with ledi_w_N). The settings are step
# 2's of the pre-registration (docs/experiments.md). The test feature cache, out/cw/eval_cache, was made first by a
# small evaluation of a 1-iteration baseline (reference features only; they depend on the split, not on the runs).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
O=${CURVE_DIR:-out/cw}
for n in ${@:-250 500 1000 2000}; do
    mkdir -p $O/eval_$n && cp $O/eval_cache/{ref,rest,held}_*.pt $O/eval_$n/
    $PY evaluate.py config/emoji.py "--runs=['$O/ledi_$n', '$O/ledi_w_$n', '$O/fm_$n', '$O/fm_eq_$n']" \
        --eval_dir=$O/eval_$n --eval_split=test --eval_samples=200 --eval_bootstrap=500 --speed_repeats=10 \
        "--eval_ledi=['euler:1', 'midpoint:1', 'midpoint:2']" "--eval_sampler=['midpoint:8', 'midpoint:2']" \
        "--eval_fm=['euler:2', 'midpoint:2', 'midpoint:4', 'midpoint:8']"
done
