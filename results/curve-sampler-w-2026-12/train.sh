#!/usr/bin/env bash
# Training for results/curve-sampler-w-2026-12 (docs/experiments.md, "The sampler variant with a paired instrument,
# then on test", and its amendment): every run of the curve at flow budgets 250, 500, 1000 and 2000, from scratch,
# with the frozen configs. Two one-thread lanes side by side (budget_curve.sh's load):
#   lane 1: the FM baseline (logit-normal t, lr 6e-4), a snapshot every 50 iterations, until its training time
#           passes FM_SECONDS (above LeDiFlow's largest total)
#   lane 2: LeDiFlow with config/emoji.py (the new sampler): per aux length A, aux A, sampler 5 A, then the flow:
#           a100 -> flow 250, a400 -> flow 500, a800 -> flow 2000 (its snapshot at 1000 is the 1000 budget)
# then, again in two lanes, the base sampler (width 256, batch 128, lr 3e-4: config/emoji.py before 37d78eb) on each
# LeDiFlow aux, for as many iterations as the new one: b800 in one lane, b100 then b400 in the other.
# (In the run of 4 December 2026 lane 1's stop check died at its first call, on `ls` of no snapshots under
# pipefail (since fixed: lane 1 uses budget_curve.sh's stop_past); the baseline ran on and was stopped by hand at
# 4,650 iterations, 2,379 s, half a minute after lane 2 ended. Every snapshot an equal-compute run uses, up to 1,537 s, was trained under the two-lane load.)
#   bash results/curve-sampler-w-2026-12/train.sh          # ~45 min on 2 CPU cores (4 Dec 2026: 44 min)
#   bash results/curve-sampler-w-2026-12/train.sh link     # the run directories evaluate.py reads
#   bash results/curve-sampler-w-2026-12/train.sh resume4k # the fifth budget: both 2,000-iteration runs resumed side
#                                                          # by side to LeDiFlow's 4,000 (~20 min); then link again
#   bash results/curve-sampler-w-2026-12/train.sh resume8k # the sixth: both resumed again, 4,000 -> 8,000 (~45 min)
set -euo pipefail
source "$(dirname "$0")/../../benchmarks/budget_curve.sh"   # seconds, rundir, eq_snapshot, stop_past; cds to the repo root
O=${CURVE_DIR:-out/cw}
FM_SECONDS=${FM_SECONDS:-2100}
H="config/emoji.py --log_interval=100 --ckpt_interval=50 --keep_every=50 --sample_interval=0"
BASE="--sampler_widths=[256] --sampler_mapping_width=256 --sampler_batch_size=128 --sampler_lr=3e-4"
SCHED="100:500:250 400:2000:500 800:4000:2000"   # aux : sampler : flow iterations

train() {
    export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
    mkdir -p $O
    {   $PY train_flow.py $H --out_dir=$O/fm --prior=gaussian --t_dist=logit_normal --lr=6e-4 --max_iters=1000000 &
        stop_past $! $O/fm $FM_SECONDS; } > $O/lane1.log 2>&1 &
    {   for s in $SCHED; do
            IFS=: read A S F <<< "$s"
            $PY train_aux.py $H --out_dir=$O/a$A --max_iters=$A
            $PY train_sampler.py $H --out_dir=$O/a$A --max_iters=$S
            $PY train_flow.py $H --out_dir=$O/a$A --max_iters=$F
        done; } > $O/lane2.log 2>&1
    wait
    for A in 100 400 800; do mkdir -p $O/b$A && ln -sf "$(realpath $O/a$A/aux.pt)" $O/b$A/aux.pt; done
    $PY train_sampler.py $H --out_dir=$O/b800 --max_iters=4000 $BASE > $O/laneb1.log 2>&1 &
    { $PY train_sampler.py $H --out_dir=$O/b100 --max_iters=500 $BASE
      $PY train_sampler.py $H --out_dir=$O/b400 --max_iters=2000 $BASE; } > $O/laneb2.log 2>&1
    wait
}

resume_to() {  # LeDiFlow's flow from its last checkpoint to $1 iterations beside the baseline, which runs on until it
               # has passed LeDiFlow's total (resume4k: 2000 -> 4000; resume8k: 4000 -> 8000)
    export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
    k=$(( $1 / 1000 ))k
    $PY train_flow.py $H --out_dir=$O/fm --prior=gaussian --t_dist=logit_normal --lr=6e-4 --max_iters=1000000 \
        --init_from=resume > $O/fm$k.log 2>&1 &
    pid=$!
    $PY train_flow.py $H --out_dir=$O/a800 --max_iters=$1 --init_from=resume > $O/ledi$k.log 2>&1
    stop_past $pid $O/fm $(seconds $O/a800/aux.pt $O/a800/sampler.pt $O/a800/$(printf 'flow_%06d.pt' $1))
}

link() {   # ledi_N (base sampler), ledi_w_N (the new one), fm_N, fm_eq_N (equal compute with ledi_w_N)
    : > $O/ledi_seconds.txt; : > $O/ledi_base_seconds.txt
    for n in 250 500 1000 2000 4000 8000; do
        case $n in 250) A=100;; 500) A=400;; *) A=800;; esac
        f=$O/a$A/$(printf 'flow_%06d.pt' $n)
        [ -f $f ] || continue   # 4000, 8000: only after resume4k, resume8k
        rundir $O/ledi_$n $f $O/a$A/aux.pt $O/b$A/sampler.pt
        rundir $O/ledi_w_$n $f $O/a$A/aux.pt $O/a$A/sampler.pt
        rundir $O/fm_$n $O/fm/$(printf 'flow_%06d.pt' $n)
        t=$(seconds $O/a$A/aux.pt $O/a$A/sampler.pt $f)
        printf '%s %.1f\n' $n $t >> $O/ledi_seconds.txt
        printf '%s %.1f\n' $n $(seconds $O/a$A/aux.pt $O/b$A/sampler.pt $f) >> $O/ledi_base_seconds.txt
        e=$(eq_snapshot $O/fm $t)
        rundir $O/fm_eq_$n $e
    done
    cat $O/ledi_seconds.txt $O/ledi_base_seconds.txt; ls -l $O/fm_eq_*/flow.pt
}

case "${1:-train}" in
    train) train ;;
    link) link ;;
    resume4k) resume_to 4000 ;;
    resume8k) resume_to 8000 ;;
    *) echo "usage: train.sh [train|link|resume4k|resume8k]" >&2; exit 2 ;;
esac
