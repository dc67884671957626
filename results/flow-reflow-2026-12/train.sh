#!/usr/bin/env bash
# Training for results/flow-reflow-2026-12 (docs/experiments.md, "LeDiFlow's flow reflowed at 2,000 iterations"):
# the curve's 2,000-iteration LeDiFlow run (aux 800, sampler 4,000, flow 2,000; the same commands, seeds and one
# thread per run as results/curve-tau0-2026-12/train.sh, so the same weights) and the curve's baseline, side by side,
# then LeDiFlow's flow reflowed (2-rectified flow on its own pairs at tau 0) while the baseline trains on, so that
# its snapshots cover LeDiFlow's training time with the reflow included (equal compute).
#   bash results/flow-reflow-2026-12/train.sh     # ~70 min on 2 CPU cores
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
O=${REFLOW_DIR:-out/rf}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
H="config/emoji.py --log_interval=100 --ckpt_interval=50 --keep_every=50 --sample_interval=0"
mkdir -p $O/r1000
# lane 1: the baseline (logit-normal t, lr 6e-4) with a snapshot every 50 iterations, past LeDiFlow's time
$PY train_flow.py $H --out_dir=$O/fm --prior=gaussian --t_dist=logit_normal --lr=6e-4 --max_iters=5500 \
    > $O/fm.log 2>&1 &
# lane 2: LeDiFlow, then its flow reflowed: 16,384 pairs (z from the encoder, x0 = mu_x at tau 0, y = the flow's own
# 8-midpoint-step solve from x0), 1,000 iterations from the teacher's weights; the reflow's start-up (the pairs) and
# iterations count in its training time, which starts from the teacher's
{   $PY train_aux.py $H --out_dir=$O/a800 --max_iters=800
    $PY train_sampler.py $H --out_dir=$O/a800 --max_iters=4000
    $PY train_flow.py $H --out_dir=$O/a800 --max_iters=2000
    ln -sf "$(realpath $O/a800/aux.pt)" $O/r1000/aux.pt
    ln -sf "$(realpath $O/a800/sampler.pt)" $O/r1000/sampler.pt
    $PY train_flow.py $H --out_dir=$O/r1000 --max_iters=1000 --reflow_from=$O/a800 --reflow_pairs=16384 \
        --reflow_steps=8 --tau=0; } > $O/ledi.log 2>&1
echo "LeDiFlow and its reflow done: $(date)" >> $O/ledi.log
wait
