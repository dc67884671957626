#!/usr/bin/env bash
# The curve over training budget (docs/experiments.md, results/budget-curve-2026-12/): LeDiFlow and the FM
# baseline at flow budgets of 250, 500, 1000 and 2000 iterations (BUDGETS=...; 2000 is the headline's), from one
# run per method (constant learning rate after the 100-iteration warmup, the default, so a run's snapshot at N
# iterations is the N-iteration run).
#
#   bash benchmarks/budget_curve.sh train    # both runs side by side, one thread each (~65 min on 2 CPU cores)
#   bash benchmarks/budget_curve.sh eval     # evaluate.py on the test split, every budget's three runs
#   bash benchmarks/budget_curve.sh eval 500 # or only these budgets (after the first call made the feature cache)
#   BUDGETS="250 500" bash benchmarks/budget_curve.sh link   # other budgets of runs already trained (the snapshots
#                                            # are there): their run directories, without training anything
#   FM_ARGS=--lr=3e-4 CURVE_DIR=out/curve_lr3 bash benchmarks/budget_curve.sh train   # the untuned baseline
#   EVAL_RUNS="ledi ledi_w fm fm_eq" CURVE_DIR=out/cw bash benchmarks/budget_curve.sh eval 8000   # other runs per
#                                            # budget (<name>_<N> directories), in this order
#   EVAL_SAMPLES=400 EVAL_BOOTSTRAP=1000 SPEED_REPEATS=20 bash benchmarks/budget_curve.sh eval   # a larger instrument
# Sourced (`source benchmarks/budget_curve.sh`), it only defines its functions and settings: a curve with its own
# training schedule (results/curve-sampler-w-2026-12/train.sh) reuses seconds, rundir, eq_snapshot and stop_past;
# a look on other runs or another split reuses curve_eval, and one budget's three runs look_link and look_eval
# (train.sh and eval.sh of results/budget500-1k-2026-12 and results/budget4000-1k-2026-12, eval.sh of
# results/grid4000-2026-12).
#
# The evaluation's LeDiFlow grid: flow euler x1, midpoint x1 and x2 (EVAL_LEDI overrides it), each with the sampler
# at midpoint x8 and x2 (EVAL_SAMPLER); the baseline's: euler x2, midpoint x2, x4, x8 (EVAL_FM). Before 3 Dec 2026
# the flow grid was midpoint x1 and x2 only (to save CPU), which understated LeDiFlow's speedup wherever 1 flow step
# reaches the baseline's target: results/curve-euler1-2026-12 re-evaluated every budget with euler x1 in the grid.
#
# LeDiFlow: config/emoji.py (its flow at lr 6e-4 since 3 Dec 2026; results/budget-curve-2026-12 and
# results/tuned-baseline-2026-12 trained it at 3e-4); aux 800 and sampler 4000 iterations (the headline's; the sampler width 128, batch 512 since 3 Dec 2026, as fast per
# iteration as the earlier width 256, batch 128) at every budget: the z they give does not depend on
# the flow's length, and their time counts in every budget's total (the README's rows at 250 and 500 shorten them:
# results/schedule-2026-12). The flow keeps a snapshot every 50 iterations.
# FM (logit-normal t, lr 6e-4: the choice of its own sweep on the tune split, results/baseline-sweep-2026-12; FM_ARGS
# replaces the lr 6e-4 with other baseline-only settings): one run trained side by side with LeDiFlow's, its checkpoint kept every 50 iterations, stopped
# once it has passed LeDiFlow's training time at the largest budget. At each budget N:
#   fm_N          its snapshot at N iterations (same iterations)
#   fm_eq_N       its first snapshot whose training time is at least LeDiFlow's aux + sampler + flow-at-N time
#                 (equal compute, rounded up to the next 50 iterations: in the baseline's favour)
# Both runs take one core each (OMP_NUM_THREADS=1) and both write a checkpoint every 50 iterations, so they train
# under the same load; the training times are those of that setting, not of a lone 2-thread run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-.venv/bin/python}
O=${CURVE_DIR:-out/curve}
BUDGETS=${BUDGETS:-"250 500 1000 2000"}
KEEP=${KEEP:-50}
FM_ARGS=${FM_ARGS-"--lr=6e-4"}
H="config/emoji.py --log_interval=100 --ckpt_interval=$KEEP --keep_every=$KEEP --sample_interval=0 ${ARGS:-}"
FM="--prior=gaussian --t_dist=logit_normal $FM_ARGS"   # the baseline's flags (the looks' train.sh use H and FM too)

seconds() {   # the summed train_seconds of the checkpoints named
    $PY -c "import sys, torch; print(sum(torch.load(p, weights_only=True)['train_seconds'] for p in sys.argv[1:]))" "$@"
}

rundir() {    # rundir DIR FLOW [AUX [SAMPLER]]: a run directory evaluate.py reads, made of links to checkpoints
    mkdir -p "$1"
    ln -sf "$(realpath "$2")" "$1/flow.pt"
    [ -z "${3:-}" ] || ln -sf "$(realpath "$3")" "$1/aux.pt"
    [ -z "${4:-}" ] || ln -sf "$(realpath "$4")" "$1/sampler.pt"
}

eq_snapshot() {   # eq_snapshot FM_DIR SECONDS: the baseline's first snapshot whose training time is at least SECONDS
    $PY -c "
import glob, sys, torch
for p in sorted(glob.glob('$1/flow_*.pt')):
    if torch.load(p, weights_only=True)['train_seconds'] >= $2:
        print(p); sys.exit()
sys.exit('no snapshot in $1 reaches $2 s: resume the baseline (--init_from=resume)')"
}

stop_past() {   # stop_past PID FM_DIR SECONDS: once FM_DIR's newest snapshot has trained SECONDS, stop the run PID
    while kill -0 $1 2>/dev/null; do
        sleep 20
        local newest=$(ls $2/flow_*.pt 2>/dev/null | tail -1 || true)
        [ -n "$newest" ] && $PY -c "import sys; sys.exit(not $(seconds $newest) >= $3)" && kill $1 2>/dev/null || true
    done
    wait $1 || true
}

train() {
    export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1   # one core per run
    mkdir -p "$O"
    $PY train_flow.py $H --out_dir=$O/fm $FM --max_iters=1000000 > $O/fm.log 2>&1 &
    fm_pid=$!
    { $PY train_aux.py $H --out_dir=$O/ledi ${AUX_ARGS:-}
      $PY train_sampler.py $H --out_dir=$O/ledi --max_iters=${SAMPLER_ITERS:-4000}
      $PY train_flow.py $H --out_dir=$O/ledi --max_iters=${BUDGETS##* }; } > $O/ledi.log 2>&1
    last=$(seconds $O/ledi/aux.pt $O/ledi/sampler.pt $O/ledi/$(printf 'flow_%06d.pt' ${BUDGETS##* }))
    stop_past $fm_pid $O/fm $last   # let the baseline pass LeDiFlow's largest budget's time, then stop it
    link
}

link() {   # every budget's three run directories, from the two trained runs' snapshots
    for n in $BUDGETS; do
        f=$(printf 'flow_%06d.pt' $n)
        [ -f $O/ledi/$f ] && [ -f $O/fm/$f ] || { echo "no $f in $O/ledi and $O/fm: train first" >&2; exit 1; }
        t=$(seconds $O/ledi/aux.pt $O/ledi/sampler.pt $O/ledi/$f)
        rundir $O/ledi_$n $O/ledi/$f $O/ledi/aux.pt $O/ledi/sampler.pt
        rundir $O/fm_$n $O/fm/$f
        e=$(eq_snapshot $O/fm $t)   # equal compute: at least LeDiFlow's time
        rundir $O/fm_eq_$n $e
        grep -v "^$n " $O/ledi_seconds.txt > $O/ledi_seconds.tmp 2>/dev/null || true
        echo "$n $t" >> $O/ledi_seconds.tmp && sort -n $O/ledi_seconds.tmp > $O/ledi_seconds.txt && rm $O/ledi_seconds.tmp
    done
    ls -l $O/fm_eq_*/flow.pt
}

evaluate() {   # evaluate [N ...]: these budgets (default: all), one after another; each budget's runs: EVAL_RUNS
    if [ ! -d $O/eval_cache ]; then
        # the reference features (Inception features of the test half's reference images, of the held-out images
        # and of every training image), once: a small evaluation whose only output kept is its feature cache
        set -- ${@:-$BUDGETS}
        $PY evaluate.py config/emoji.py "--runs=['$O/fm_$1']" --eval_dir=$O/eval_cache.tmp --eval_split=test \
            --eval_samples=50 --eval_bootstrap=10 --speed_repeats=1 "--eval_fm=['euler:1']"
        mv $O/eval_cache.tmp $O/eval_cache
    fi
    for n in ${@:-$BUDGETS}; do
        mkdir -p $O/eval_$n && cp $O/eval_cache/{ref,rest,held}_*.pt $O/eval_$n/
        curve_eval $O/eval_$n test $(for r in ${EVAL_RUNS:-ledi fm fm_eq}; do echo $O/${r}_$n; done)
    done
}

curve_eval() {   # curve_eval EVAL_DIR SPLIT RUN_DIR...: evaluate.py with the curve's grids and instrument (EVAL_*)
    local d=$1 split=$2 runs
    shift 2
    runs=$(for r in "$@"; do printf "'$r', "; done)
    $PY evaluate.py config/emoji.py "--runs=[${runs%, }]" --eval_dir=$d \
        --eval_split=$split --eval_samples=${EVAL_SAMPLES:-200} --eval_bootstrap=${EVAL_BOOTSTRAP:-500} \
        --speed_repeats=${SPEED_REPEATS:-10} \
        "--eval_ledi=${EVAL_LEDI:-['euler:1', 'midpoint:1', 'midpoint:2']}" \
        "--eval_sampler=${EVAL_SAMPLER:-['midpoint:8', 'midpoint:2']}" \
        "--eval_fm=${EVAL_FM:-['euler:2', 'midpoint:2', 'midpoint:4', 'midpoint:8']}"
}

look_link() {   # look_link DIR N FM FM_EQ LEDI_FLOW: DIR's run directories for look_eval: fm_N and fm_eq_N (links to
                # the baseline's snapshots FM and FM_EQ) and ledi_N (LEDI_FLOW at tau 0, the tune look's choice for
                # LeDiFlow, its aux.pt and sampler.pt linked)
    rundir $1/fm_$2 $3
    rundir $1/fm_eq_$2 $4
    $PY results/tau-look-2026-12/runs.py $5 0 --out=$1/ledi_$2 > /dev/null
    ls -l $1/*_$2/
}

look_eval() {   # look_eval DIR N SPLIT SAMPLES RESULTS: DIR's ledi_N, fm_N and fm_eq_N by the curve's evaluation
                # (1,000 replicates, 20 timing rounds) with SAMPLES per setting, in DIR/eval_SPLIT_SAMPLES; the split's
                # reference features from any earlier look's evaluation of it beside DIR (their file names carry the
                # hash of the images they are of); results.{md,json,csv} to RESULTS/SPLIT_SAMPLES
    local O=$1 n=$2 split=$3 samples=$4 d=$1/eval_$3_$4 c
    mkdir -p $d
    for c in $(dirname $O)/*/eval_${split}_*/; do
        [ "$c" = "$d/" ] || cp -n $c/{ref,rest,held}_*.pt $d/ 2>/dev/null || true
    done
    EVAL_SAMPLES=$samples EVAL_BOOTSTRAP=1000 SPEED_REPEATS=20 curve_eval $d $split $O/ledi_$n $O/fm_$n $O/fm_eq_$n
    mkdir -p $5/${split}_$samples && cp $d/results.{md,json,csv} $5/${split}_$samples/
}

[ "${BASH_SOURCE[0]}" = "$0" ] || return 0   # sourced: the functions only
case "${1:-}" in
    train) train ;;
    link) link ;;
    eval) shift; evaluate "$@" ;;
    *) echo "usage: bash benchmarks/budget_curve.sh train|link|eval" >&2; exit 2 ;;
esac
