#!/usr/bin/env bash
# The reflow at smaller flow budgets, from the 8,000 look's runs (docs/experiments.md, "LeDiFlow's flow reflowed, at
# 4,000 iterations"). train.sh with FLOW_ITERS=8000 kept a snapshot of LeDiFlow's flow and of the baseline
# every 50 iterations; with a constant learning rate after warmup, the snapshot at N iterations is the N-iteration
# run. For each budget N this makes out/rf8k_N/ with
#   a800   the teacher: LeDiFlow's aux, sampler and flow snapshot at N (links)
#   fm     the baseline's snapshots (a link to out/rf8k/fm)
#   r1000  the teacher's flow reflowed, as train.sh does it (16,384 pairs, 8 midpoint steps, tau 0, 1,000 iterations)
# and trains the reflows of all budgets at once, one thread each (two budgets: two lanes, the load under which
# train.sh ran the 8,000 reflow beside the baseline). Then evaluate each budget as the 8,000 look was:
#   bash results/flow-reflow-2026-12/snapshots.sh 4000 2000                           # ~25 min on 2 CPU cores
#   FLOW_ITERS=4000 REFLOW_DIR=out/rf8k_4000 bash results/flow-reflow-2026-12/eval.sh   # ~20 min, nothing else running
source "$(dirname "$0")/../../benchmarks/budget_curve.sh"   # rundir; cds to the repo root
S=${SOURCE_DIR:-out/rf8k}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
H="config/emoji.py --log_interval=100 --ckpt_interval=50 --sample_interval=0"
pids=()
for N in "$@"; do
    O=${S}_$N
    rundir $O/a800 $S/a800/$(printf "flow_%06d.pt" $N) $S/a800/aux.pt $S/a800/sampler.pt
    mkdir -p $O && ln -sfn "$(realpath $S/fm)" $O/fm
    R=""   # run again after an interruption: skip a finished reflow, resume one that stopped early
    if [ -f $O/r1000/flow.pt ]; then
        if $PY -c "import sys, torch; sys.exit(torch.load('$O/r1000/flow.pt', weights_only=True)['iter'] < 1000)"; then
            echo "$O/r1000/flow.pt: done"; continue
        fi
        R=--init_from=resume
    fi
    $PY train_flow.py $H --max_iters=1000 $R --out_dir=$O/r1000 --reflow_from=$O/a800 --reflow_pairs=16384 \
        --reflow_steps=8 --tau=0 >> $O/reflow.log 2>&1 &
    pids+=($!)
done
for p in "${pids[@]}"; do wait $p; done
