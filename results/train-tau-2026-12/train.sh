#!/usr/bin/env bash
# Training for results/train-tau-2026-12 (docs/experiments.md, "The training temperature"): LeDiFlow's flow trained
# at tau 0 and at tau 0.5 on the curve's aux and sampler (out/ct/a800: results/curve-tau0-2026-12/train.sh), 2,000
# iterations each, side by side, one thread per run (~22 min on 2 CPU cores).
# As run on 5 December, the first lane trained both flows one after the other, and a second lane trained the FM
# baseline with --tau=0.85 for 3,050 iterations. That baseline came out bit for bit the curve's: train_flow.py draws
# the baseline's x0 from N(0, I) whatever tau says (config/defaults.py: its tau acts when sampling only), which the
# statement missed. So that lane is gone: eval.sh makes fm085 from the curve's snapshot (the same weights; only the
# run directory and training seconds its flow.pt records differ).
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
$PY train_flow.py $H --out_dir=$O/t0 --tau=0 --max_iters=2000 > $O/lane1.log 2>&1 &
$PY train_flow.py $H --out_dir=$O/t05 --tau=0.5 --max_iters=2000 > $O/lane2.log 2>&1
wait
