#!/usr/bin/env bash
# Training for results/flow-reflow-2026-12 (docs/experiments.md, "LeDiFlow's flow reflowed"): LeDiFlow (aux 800,
# sampler 4,000, flow FLOW_ITERS iterations: the curve's commands, seeds and one thread per run) and the baseline
# (logit-normal t, lr 6e-4) side by side, then LeDiFlow's flow reflowed (2-rectified flow on its own pairs at tau 0)
# while the baseline trains on; the baseline stops once a snapshot has passed LeDiFlow's training time with the
# reflow included, so that one of its snapshots is the equal-compute baseline.
#   bash results/flow-reflow-2026-12/train.sh                                        # 2,000: ~45 min on 2 CPU cores
#   FLOW_ITERS=8000 REFLOW_DIR=out/rf8k bash results/flow-reflow-2026-12/train.sh     # 8,000: ~2 h
# Run again after an interruption, it skips finished stages and resumes the others (--init_from=resume; exact on
# the CPU), both lanes again side by side; a resumed reflow draws its pairs again, and that time counts too.
source "$(dirname "$0")/../../benchmarks/budget_curve.sh"   # seconds, stop_past; cds to the repo root
O=${REFLOW_DIR:-out/rf}
N=${FLOW_ITERS:-2000}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
H="config/emoji.py --log_interval=100 --ckpt_interval=50 --keep_every=50 --sample_interval=0"
mkdir -p $O/r1000

resume() {  # resume CKPT: --init_from=resume when the checkpoint is there (a run that stopped early)
    if [ -f "$1" ]; then echo --init_from=resume; fi
}
step() {    # step SCRIPT CKPT ITERS ARGS...: train; resume a run that stopped early; skip one that is done
    if [ -f "$2" ] && $PY -c "import sys, torch; sys.exit(torch.load('$2', weights_only=True)['iter'] < $3)"; then
        echo "$2: done"; return
    fi
    $PY $1 $H --max_iters=$3 $(resume $2) "${@:4}"
}

# lane 1: the baseline with a snapshot every 50 iterations, stopped below once past LeDiFlow's time (its own
# process, so that stop_past stops the training itself)
$PY train_flow.py $H --max_iters=1000000 $(resume $O/fm/flow.pt) --out_dir=$O/fm --prior=gaussian \
    --t_dist=logit_normal --lr=6e-4 >> $O/fm.log 2>&1 &
fm_pid=$!
# lane 2: LeDiFlow, then its flow reflowed: 16,384 pairs (z from the encoder, x0 = mu_x at tau 0, y = the flow's own
# 8-midpoint-step solve from x0), 1,000 iterations from the teacher's weights; the reflow's start-up (the pairs) and
# iterations count in its training time, which starts from the teacher's
{   step train_aux.py $O/a800/aux.pt 800 --out_dir=$O/a800
    step train_sampler.py $O/a800/sampler.pt 4000 --out_dir=$O/a800
    step train_flow.py $O/a800/flow.pt $N --out_dir=$O/a800
    ln -sf "$(realpath $O/a800/aux.pt)" $O/r1000/aux.pt
    ln -sf "$(realpath $O/a800/sampler.pt)" $O/r1000/sampler.pt
    step train_flow.py $O/r1000/flow.pt 1000 --out_dir=$O/r1000 --reflow_from=$O/a800 --reflow_pairs=16384 \
        --reflow_steps=8 --tau=0; } >> $O/ledi.log 2>&1
t=$(seconds $O/a800/aux.pt $O/a800/sampler.pt $O/r1000/flow.pt)   # the reflow's time includes its teacher's
echo "LeDiFlow and its reflow done ($t s of training): $(date)" >> $O/ledi.log
stop_past $fm_pid $O/fm $t
