#!/usr/bin/env bash
# results/sampler-reflow-2026-12 (docs/experiments.md, "A reflowed latent sampler at 8,000 iterations"): the curve's
# sampler reflowed, then the tune evaluation at 8,000 flow iterations (after results/curve-tau0-2026-12's train.sh
# and `train.sh link`). ~2.5 min of training (one thread), ~20 min of evaluation on 2 CPU cores.
#   bash results/sampler-reflow-2026-12/run.sh [train|eval]
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
O=${SRF_DIR:-out/srf}
C=${CURVE_DIR:-out/ct}
case "${1:-train}" in
train)
    mkdir -p $O
    ln -sf "$(realpath $C/a800/aux.pt)" $O/aux.pt
    cp $C/a800/sampler.pt $O/sampler_teacher.pt     # the teacher: the curve's 4,000-iteration sampler
    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $PY train_sampler.py config/emoji.py --out_dir=$O --max_iters=2000 \
        --sampler_reflow_from=$O/sampler_teacher.pt --sampler_t_dist=logit_normal ;;
eval)   # ledi_8000_rf: the curve's 8,000-iteration flow (tau 0) and aux with the reflowed sampler
    export HF_HUB_OFFLINE=1
    mkdir -p $O/ledi_8000_rf $O/eval
    for f in flow.pt aux.pt; do ln -sf "$(realpath $C/ledi_8000/$f)" $O/ledi_8000_rf/$f; done
    ln -sf "$(realpath $O/sampler.pt)" $O/ledi_8000_rf/sampler.pt
    $PY evaluate.py config/emoji.py "--runs=['$C/ledi_8000', '$O/ledi_8000_rf', '$C/fm_8000', '$C/fm_eq_8000']" \
        --eval_dir=$O/eval --eval_split=tune --eval_samples=400 --eval_bootstrap=1000 --speed_repeats=10 \
        "--eval_ledi=['euler:1', 'midpoint:1']" "--eval_sampler=['midpoint:8', 'midpoint:2', 'midpoint:1']" \
        "--eval_fm=['midpoint:4', 'midpoint:8']" ;;
*) echo "usage: run.sh [train|eval]" >&2; exit 2 ;;
esac
