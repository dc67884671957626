#!/usr/bin/env bash
# Training for results/train-tau-2026-12 (docs/experiments.md, "The training temperature"): LeDiFlow's flow trained
# at tau 0 and at tau 0.5 on the curve's aux and sampler (out/ct/a800: results/curve-tau0-2026-12/train.sh), 2,000
# iterations each, one after the other in one lane; beside it the FM baseline trained at tau 0.85 for 3,050
# iterations (the curve's equal-compute snapshot at 2,000). One thread per run, ~50 min on 2 CPU cores.
# The baseline's run turned out to be the curve's baseline again, bit for bit: train_flow.py draws the baseline's x0
# from N(0, I) whatever tau says (config/defaults.py: its tau acts when sampling only), which the statement missed.
# So fm085 differs from out/ct/fm_eq_2000 only in the tau its flow.pt records for sampling (0.85).
#   bash results/train-tau-2026-12/train.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
O=${TTAU_DIR:-out/ttau}
A=${AUX_RUN:-out/ct/a800}
[ -f $A/aux.pt ] && [ -f $A/sampler.pt ] || { echo "no $A/aux.pt or sampler.pt: run results/curve-tau0-2026-12/train.sh first" >&2; exit 1; }
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
H="config/emoji.py --log_interval=100 --ckpt_interval=500 --sample_interval=0"
for d in t0 t05; do
    mkdir -p $O/$d
    ln -sf "$(realpath $A/aux.pt)" $O/$d/aux.pt; ln -sf "$(realpath $A/sampler.pt)" $O/$d/sampler.pt
done
mkdir -p $O/fm085
{   $PY train_flow.py $H --out_dir=$O/t0 --tau=0 --max_iters=2000
    $PY train_flow.py $H --out_dir=$O/t05 --tau=0.5 --max_iters=2000; } > $O/lane1.log 2>&1 &
$PY train_flow.py $H --out_dir=$O/fm085 --prior=gaussian --t_dist=logit_normal --lr=6e-4 --tau=0.85 --max_iters=3050 \
    > $O/lane2.log 2>&1
wait
