#!/usr/bin/env bash
# Training for results/budget4000-1k-2026-12 (docs/experiments.md, "The 4,000 budget with the larger instrument"):
# the 4,000 budget's networks of results/curve-tau0-2026-12 trained again with that curve's configs and seeds, two
# one-thread lanes. Training on this CPU is deterministic (every iteration's randomness is seeded by the iteration,
# so a resumed run continues exactly) and the learning rate is constant after warmup, so these are that curve's
# networks bit for bit; `check` compares every logged loss with that curve's logs.
#   lane 1: the baseline resumed from results/budget500-1k-2026-12's 950-iteration run (out/n5/fm0; trained from
#           scratch when it is not there) to 5,500 iterations: its snapshots at 4,000 (same iterations) and 5,500
#           (equal compute: the curve's match to LeDiFlow's measured 4,000-budget seconds); then LeDiFlow's sampler
#   lane 2: LeDiFlow's aux (800 iterations), then its flow (4,000); the sampler (4,000) waits for the aux
#   bash results/budget4000-1k-2026-12/train.sh          # ~55 min on 2 CPU cores (7 December 2026)
#   bash results/budget4000-1k-2026-12/train.sh check    # the losses against the curve's logs
#   bash results/budget4000-1k-2026-12/train.sh link     # run directories out/n4k/{ledi,fm,fm_eq}_4000
set -euo pipefail
source "$(dirname "$0")/../../benchmarks/budget_curve.sh"   # H, FM (the curve's flags), look_link; cds to the repo root
O=${CURVE_DIR:-out/n4k}

train() {
    export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
    mkdir -p $O/fm $O/ledi
    [ -f out/n5/fm0/flow_000950.pt ] && cp -n out/n5/fm0/flow_000950.pt $O/fm/flow.pt \
        && cp -n out/n5/fm0/flow_log.jsonl $O/fm/flow_log.jsonl
    rm -f $O/ledi/aux_status   # lane 2 writes it when the aux is trained (ok) or has failed
    {   $PY train_flow.py $H --out_dir=$O/fm $FM --max_iters=5500 $([ -f $O/fm/flow.pt ] && echo --init_from=resume)
        while [ ! -f $O/ledi/aux_status ]; do sleep 10; done
        [ "$(cat $O/ledi/aux_status)" = ok ] && $PY train_sampler.py $H --out_dir=$O/ledi --max_iters=4000
    } > $O/lane1.log 2>&1 &
    {   $PY train_aux.py $H --out_dir=$O/ledi --max_iters=800 && echo ok > $O/ledi/aux_status \
            || { echo failed > $O/ledi/aux_status; wait; exit 1; }
        $PY train_flow.py $H --out_dir=$O/ledi --max_iters=4000; } > $O/lane2.log 2>&1
    wait
}

check() {   # the flows' logged losses against the curve's logs; aux and sampler printed losses against its train.log
    $PY - "$O" <<'PY'
import json, re, sys
O, ref = sys.argv[1], 'results/curve-sampler-w-2026-12/'
log = lambda p: {r['iter']: r['loss'] for r in map(json.loads, open(p)) if 'loss' in r}
for mine, theirs in [('fm', 'fm_flow_log.jsonl'), ('ledi', 'ledi_flow_log.jsonl')]:
    a, b = log(f'{O}/{mine}/flow_log.jsonl'), log(ref + theirs)
    common = sorted(set(a) & set(b))
    print(f'{O}/{mine}: {len(common)} logged flow losses in common with the curve\'s (up to {max(common)}), '
          f'{sum(a[i] != b[i] for i in common)} differ')
pat = re.compile(r'^(aux|sampler) iter (\d+)/(\d+): loss (-?[\d.]+)', re.M)
theirs = set(pat.findall(open(ref + 'train.log').read()))
mine = pat.findall(open(f'{O}/lane1.log').read() + open(f'{O}/lane2.log').read())
print(f'{O}/ledi: {len(mine)} printed aux and sampler losses, {sum(m not in theirs for m in mine)} not in '
      f'{ref}train.log')
PY
}

link() {   # ledi_4000 at tau 0 (the tune look's choice), fm_4000 and fm_eq_4000 (the 5,500-iteration snapshot)
    look_link $O 4000 $O/fm/flow_004000.pt $O/fm/flow_005500.pt $O/ledi/flow.pt
}

case "${1:-train}" in
    train) train ;;
    check) check ;;
    link) link ;;
    *) echo "usage: train.sh [train|check|link]" >&2; exit 2 ;;
esac
