#!/usr/bin/env bash
# The test evaluation of results/curve-tau0-2026-12, once per budget, nothing else running (after train.sh and
# `train.sh link`): the command stated in docs/experiments.md ("The curve at each method's tau from the tune look").
#   bash results/curve-tau0-2026-12/eval.sh 8000 4000 2000 1000 500 250    # one after another, in the stated order
# The test split's reference, held-out and training-image features (they depend on the split, not on the runs) are
# computed once, by a small evaluation of the baseline's 3,050-iteration snapshot kept only for its feature cache.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
O=${CURVE_DIR:-out/ct}
if [ ! -d $O/eval_cache ]; then
    $PY evaluate.py config/emoji.py "--runs=['$O/fm_eq_2000']" --eval_dir=$O/eval_cache.tmp --eval_split=test \
        --eval_samples=50 --eval_bootstrap=10 --speed_repeats=1 "--eval_fm=['euler:1']"
    mv $O/eval_cache.tmp $O/eval_cache
fi
for n in "$@"; do
    mkdir -p $O/eval_$n && cp $O/eval_cache/{ref,rest,held}_*.pt $O/eval_$n/
    $PY evaluate.py config/emoji.py "--runs=['$O/ledi_$n', '$O/fm_$n', '$O/fm_eq_$n']" --eval_dir=$O/eval_$n \
        --eval_split=test --eval_samples=400 --eval_bootstrap=1000 --speed_repeats=20 \
        "--eval_ledi=['euler:1', 'midpoint:1', 'midpoint:2']" "--eval_sampler=['midpoint:8', 'midpoint:2']" \
        "--eval_fm=['euler:2', 'midpoint:2', 'midpoint:4', 'midpoint:8']"
done
