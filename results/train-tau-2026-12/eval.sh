#!/usr/bin/env bash
# The tune evaluation of results/train-tau-2026-12 (docs/experiments.md, "The training temperature"), after
# train.sh: every LeDiFlow flow sampled at tau 0 (the tau-0.5-trained one through a copy of its flow.pt that records
# tau 0), the curve's equal-compute baseline at tau 1 and at 0.85. ~25 min on 2 CPU cores, nothing else running.
#   bash results/train-tau-2026-12/eval.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
O=${TTAU_DIR:-out/ttau}
C=${CURVE_DIR:-out/ct}
export HF_HUB_OFFLINE=1
$PY results/tau-look-2026-12/runs.py $O/t05 0      # -> $O/t05_t0
$PY results/tau-look-2026-12/runs.py $C/fm_eq_2000/flow.pt 0.85 --out=$O/fm085   # the curve's baseline at tau 0.85
$PY evaluate.py config/emoji.py "--runs=['$C/ledi_2000', '$O/t0', '$O/t05_t0', '$C/fm_eq_2000', '$O/fm085']" \
    --eval_dir=$O/eval --eval_split=tune --eval_samples=400 --eval_bootstrap=1000 --speed_repeats=10 \
    "--eval_ledi=['euler:1', 'midpoint:1']" "--eval_sampler=['midpoint:8', 'midpoint:2']" \
    "--eval_fm=['midpoint:4', 'midpoint:8']"
