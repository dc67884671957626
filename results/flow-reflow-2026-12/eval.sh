#!/usr/bin/env bash
# Evaluation for results/flow-reflow-2026-12 (docs/experiments.md, "LeDiFlow's flow reflowed, at 2,000 iterations"),
# on the tune split, after train.sh: the teacher at tau 0, the reflowed flow (tau 0, recorded by its run), the
# baseline at 2,000 iterations and at equal compute (its first snapshot whose training time is at least LeDiFlow's
# aux + sampler + flow + reflow time).
#   bash results/flow-reflow-2026-12/eval.sh                                       # 2,000: ~16 min on 2 CPU cores
#   FLOW_ITERS=8000 REFLOW_DIR=out/rf8k bash results/flow-reflow-2026-12/eval.sh    # 8,000 (nothing else running)
# EVAL_SPLIT=test evaluates the same runs on the test split into $REFLOW_DIR/eval_test (only once a look on tune has
# passed its rule and the test measurement has been stated in docs/experiments.md).
source "$(dirname "$0")/../../benchmarks/budget_curve.sh"   # seconds, rundir, eq_snapshot; cds to the repo root
O=${REFLOW_DIR:-out/rf}
N=${FLOW_ITERS:-2000}
S=${EVAL_SPLIT:-tune}
E=$O/eval; if [ $S != tune ]; then E=$O/eval_$S; fi
$PY results/tau-look-2026-12/runs.py $O/a800 0                # -> $O/a800_t0: the teacher, sampled at tau 0
rundir $O/fm_$N $O/fm/$(printf "flow_%06d.pt" $N)
t=$(seconds $O/a800/aux.pt $O/a800/sampler.pt $O/r1000/flow.pt)   # the reflow's time includes its teacher's
rundir $O/fm_eq $(eq_snapshot $O/fm $t)
echo "LeDiFlow with the reflow: $t s of training; equal compute: $(readlink $O/fm_eq/flow.pt)"
$PY evaluate.py config/emoji.py "--runs=['$O/a800_t0', '$O/r1000', '$O/fm_$N', '$O/fm_eq']" --eval_dir=$E \
    --eval_split=$S --eval_samples=400 --eval_bootstrap=1000 --speed_repeats=10 \
    "--eval_ledi=['euler:1', 'midpoint:1']" "--eval_sampler=['midpoint:8', 'midpoint:2']" \
    "--eval_fm=['midpoint:2', 'midpoint:4', 'midpoint:8']"
