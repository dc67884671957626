#!/usr/bin/env bash
# Training for results/budget500-1k-2026-12 (docs/experiments.md, "The 500 budget with a larger instrument"): the
# 500 budget's networks of results/curve-tau0-2026-12 trained again with its train.sh's commands, two one-thread
# lanes. Training on this CPU is deterministic (every iteration's randomness is seeded by the iteration) and the
# learning rate is constant after warmup, so these are that curve's networks bit for bit; `check` compares every
# logged loss with that curve's logs.
#   lane 1: the baseline 0 -> 950 iterations (its snapshots at 500: same iterations, and 950: equal compute, the
#           curve's match to LeDiFlow's measured 500-budget seconds)
#   lane 2: LeDiFlow's 500 budget: aux 400, sampler 2,000, flow 500 iterations
#   bash results/budget500-1k-2026-12/train.sh          # ~10 min on 2 CPU cores
#   bash results/budget500-1k-2026-12/train.sh check    # the losses against the curve's logs
#   bash results/budget500-1k-2026-12/train.sh link     # run directories out/n5/{ledi,fm,fm_eq}_500 for evaluate.py
set -euo pipefail
source "$(dirname "$0")/../../benchmarks/budget_curve.sh"   # H, FM (the curve's flags), look_link; cds to the repo root
O=${CURVE_DIR:-out/n5}

train() {
    export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
    mkdir -p $O
    $PY train_flow.py $H --out_dir=$O/fm0 $FM --max_iters=950 > $O/lane1.log 2>&1 &
    {   $PY train_aux.py $H --out_dir=$O/a400 --max_iters=400
        $PY train_sampler.py $H --out_dir=$O/a400 --max_iters=2000
        $PY train_flow.py $H --out_dir=$O/a400 --max_iters=500; } > $O/lane2.log 2>&1
    wait
}

check() {   # the baseline's logged losses against the curve's log; LeDiFlow's printed losses against its train.log
    $PY - "$O" <<'PY'
import json, re, sys
O, ref = sys.argv[1], 'results/curve-sampler-w-2026-12/'
log = lambda p: {r['iter']: r['loss'] for r in map(json.loads, open(p)) if 'loss' in r}
a, b = log(f'{O}/fm0/flow_log.jsonl'), log(ref + 'fm_flow_log.jsonl')
common = sorted(set(a) & set(b))
print(f'{O}/fm0: {len(common)} logged losses in common with the curve\'s baseline (up to {max(common)}), '
      f'{sum(a[i] != b[i] for i in common)} differ')
pat = re.compile(r'^(aux|sampler|flow) iter (\d+)/(\d+): loss (-?[\d.]+)', re.M)
theirs = set(pat.findall(open(ref + 'train.log').read()))
mine = pat.findall(open(f'{O}/lane2.log').read())
print(f'{O}/a400: {len(mine)} printed losses, {sum(m not in theirs for m in mine)} not in {ref}train.log')
PY
}

link() {   # ledi_500 at tau 0 (the tune look's choice), fm_500 and fm_eq_500 (the 950-iteration snapshot)
    look_link $O 500 $O/fm0/flow_000500.pt $O/fm0/flow_000950.pt $O/a400/flow.pt
}

case "${1:-train}" in
    train) train ;;
    check) check ;;
    link) link ;;
    *) echo "usage: train.sh [train|check|link]" >&2; exit 2 ;;
esac
