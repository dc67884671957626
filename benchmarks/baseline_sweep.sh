#!/usr/bin/env bash
# The FM baseline's own knobs, on the tune split (docs/experiments.md, results/baseline-sweep-2026-12/): the
# comparisons' baseline (logit-normal t, midpoint solver, every other setting the emoji demo's) against one change
# at a time, so that the baseline gets its own search before any headline, as LeDiFlow's flow stage did.
#
#   bash benchmarks/baseline_sweep.sh train   # 8 runs of 2,000 flow iterations, two at a time, one thread each
#   bash benchmarks/baseline_sweep.sh eval    # evaluate.py on the tune split, all runs in one table
#   bash benchmarks/baseline_sweep.sh eval 1000   # the same for their 1,000-iteration snapshots
#
# Every run trains 2,000 iterations (LeDiFlow's flow budget in the headline; the equal-compute baseline there
# trains ~3,100) and keeps its 1,000-iteration snapshot (flow_001000.pt), except patch 2, which costs more per
# iteration: it trains for the base run's training time instead (equal compute, max_train_seconds), the comparison
# a user with a fixed budget makes. Two workers run side by side with one thread each, so every run trains under
# the same load.
#
# The rule, fixed before the sweep ran: a variant replaces the base configuration of the comparisons' baseline only
# if its best FID on tune (over midpoint x2, x4, x8) at 2,000 iterations is lower than the base's with the two 95%
# intervals not overlapping; otherwise the base stays (a change the sweep cannot tell from noise is not a choice).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
O=${SWEEP_DIR:-out/sweep}
ITERS=${ITERS:-2000}
BASE="config/emoji.py --prior=gaussian --t_dist=logit_normal --max_iters=$ITERS --log_interval=100 --sample_interval=0 --keep_every=1000"

run() {   # run NAME ARGS...: one variant, trained into $O/NAME, its output in $O/NAME.log
    local name=$1; shift
    [ -f $O/$name.done ] && return 0   # done before: the sweep resumes where it stopped
    $PY train_flow.py $BASE --out_dir=$O/$name "$@" > $O/$name.log 2>&1
    touch $O/$name.done
}

train() {
    export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
    mkdir -p $O
    { run base
      run lr_1.5e-4 --lr=1.5e-4
      run clip_off --grad_clip=0
      run warmup_20 --warmup_iters=20; } &
    a=$!
    { run lr_6e-4 --lr=6e-4
      run ema_0.999 --ema_decay=0.999
      run t_uniform --t_dist=uniform
      while [ ! -f $O/base.done ]; do sleep 10; done
      s=$($PY -c "import torch; print(int(torch.load('$O/base/flow.pt', weights_only=True)['train_seconds']) + 1)")
      run patch_2 --flow_patch=2 --max_iters=1000000 --max_train_seconds=$s; } &
    b=$!
    wait $a; wait $b
}

evaluate() {   # evaluate [1000]: the runs at 2,000 iterations, or their 1,000-iteration snapshots (not patch 2's)
    if [ ! -d $O/eval_cache ]; then   # the reference features, once: a small evaluation whose feature cache is kept
        $PY evaluate.py config/emoji.py "--runs=['$O/base']" --eval_dir=$O/eval_cache.tmp --eval_split=tune \
            --eval_samples=50 --eval_bootstrap=10 --speed_repeats=1 "--eval_fm=['euler:1']"
        mv $O/eval_cache.tmp $O/eval_cache
    fi
    local at=${1:-2000} runs=() d snap
    for d in $(ls -d $O/*/ | grep -v eval); do
        d=${d%/}; snap=$d/$(printf 'flow_%06d.pt' $at)
        if [ $at = 2000 ]; then runs+=("'$d'"); continue; fi
        [ -f $snap ] || continue   # a run directory per snapshot: its flow.pt a link to the snapshot
        mkdir -p $O/at_$at/$(basename $d) && ln -sf "$(realpath $snap)" $O/at_$at/$(basename $d)/flow.pt
        runs+=("'$O/at_$at/$(basename $d)'")
    done
    mkdir -p $O/eval_$at && cp $O/eval_cache/{ref,rest,held}_*.pt $O/eval_$at/
    $PY evaluate.py config/emoji.py "--runs=[$(IFS=,; echo "${runs[*]}")]" --eval_dir=$O/eval_$at --eval_split=tune \
        --eval_samples=${EVAL_SAMPLES:-200} --eval_bootstrap=500 --speed_repeats=5 \
        "--eval_fm=['midpoint:2', 'midpoint:4', 'midpoint:8']"
}

case "${1:-}" in
    train) train ;;
    eval) shift; evaluate "$@" ;;
    *) echo "usage: bash benchmarks/baseline_sweep.sh train|eval" >&2; exit 2 ;;
esac
