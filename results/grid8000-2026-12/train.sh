#!/usr/bin/env bash
# Training for results/grid8000-2026-12 (docs/experiments.md, "The 8,000 budget with finer step grids"): the 8,000
# budget's networks of results/curve-tau0-2026-12 trained again, resumed from results/budget4000-1k-2026-12's runs
# (out/n4k, the same runs at 4,000 and 5,500 iterations). Training on this CPU is deterministic (every iteration's
# randomness is seeded by the iteration, so a resumed run continues exactly) and the learning rate is constant after
# warmup, so these are that curve's networks bit for bit; `check` compares every logged loss with the curve's logs.
#   lane 1: the baseline resumed 5,500 -> 10,050 (its snapshots at 8,000, same iterations, and 10,050, equal compute:
#           the curve's match to LeDiFlow's measured 8,000-budget seconds)
#   lane 2: LeDiFlow's flow resumed 4,000 -> 8,000 (its aux and sampler: out/n4k's, 800 and 4,000 iterations)
#   bash results/grid8000-2026-12/train.sh          # ~55 min on 2 CPU cores
#   bash results/grid8000-2026-12/train.sh check    # the losses against the curve's logs
#   bash results/grid8000-2026-12/train.sh link     # run directories out/n8k/{ledi,fm,fm_eq}_8000
set -euo pipefail
source "$(dirname "$0")/../../benchmarks/budget_curve.sh"   # H, FM (the curve's flags), look_link; cds to the repo root
O=${CURVE_DIR:-out/n8k}
S=${START_RUNS:-out/n4k}

train() {
    export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
    [ -f $S/fm/flow_005500.pt ] && [ -f $S/ledi/flow_004000.pt ] \
        || { echo "no $S/fm/flow_005500.pt or $S/ledi/flow_004000.pt: run results/budget4000-1k-2026-12/train.sh first" >&2; exit 1; }
    mkdir -p $O/fm $O/ledi
    cp -n $S/fm/flow_005500.pt $O/fm/flow.pt; cp -n $S/fm/flow_log.jsonl $O/fm/flow_log.jsonl
    cp -n $S/ledi/flow_004000.pt $O/ledi/flow.pt
    for f in aux.pt sampler.pt flow_log.jsonl; do cp -n $S/ledi/$f $O/ledi/$f; done
    $PY train_flow.py $H --out_dir=$O/fm $FM --max_iters=10050 --init_from=resume > $O/lane1.log 2>&1 &
    $PY train_flow.py $H --out_dir=$O/ledi --max_iters=8000 --init_from=resume > $O/lane2.log 2>&1
    wait
}

check() {   # the flows' logged losses against the curve's logs: the 4,000 look's check on these runs (its first two
            # lines; the rest compares aux and sampler losses, which these runs did not train)
    CURVE_DIR=$O bash results/budget4000-1k-2026-12/train.sh check | head -2
}

link() {   # ledi_8000 at tau 0 (the tune look's choice), fm_8000 and fm_eq_8000 (the 10,050-iteration snapshot)
    look_link $O 8000 $O/fm/flow_008000.pt $O/fm/flow_010050.pt $O/ledi/flow.pt
}

case "${1:-train}" in
    train | check | link) "${1:-train}" ;;
    *) echo "usage: train.sh [train|check|link]" >&2; exit 2 ;;
esac
