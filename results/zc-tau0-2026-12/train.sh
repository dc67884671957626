#!/usr/bin/env bash
# Training for results/zc-tau0-2026-12 (docs/experiments.md, "What the sampler costs at tau 0, at 8,000 iterations"):
# the README curve's 8,000-iteration LeDiFlow run and its equal-compute baseline (10,050 iterations) trained again
# from scratch with results/curve-tau0-2026-12's commands and seeds, one thread per lane, each straight through
# instead of resumed in pieces (a resumed run continues exactly: every iteration's randomness is seeded by the
# iteration), so they should be that curve's networks bit for bit; `check` compares the logged losses.
#   bash results/zc-tau0-2026-12/train.sh          # ~110 min on 2 CPU cores
#   bash results/zc-tau0-2026-12/train.sh check    # the losses against results/curve-sampler-w-2026-12's logs
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
O=${ZC_DIR:-out/zc}
P="config/emoji.py --log_interval=100 --ckpt_interval=500 --sample_interval=0"
case "${1:-train}" in
train)
    export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
    mkdir -p $O
    $PY train_flow.py $P --out_dir=$O/fm --prior=gaussian --t_dist=logit_normal --lr=6e-4 --max_iters=10050 \
        > $O/fm.log 2>&1 &
    {   $PY train_aux.py $P --out_dir=$O/ledi --max_iters=800
        $PY train_sampler.py $P --out_dir=$O/ledi --max_iters=4000
        $PY train_flow.py $P --out_dir=$O/ledi --max_iters=8000; } > $O/ledi.log 2>&1
    wait
    echo ALLDONE >> $O/ledi.log ;;
check)
    $PY - "$O" <<'PY'
import json, sys
O, ref = sys.argv[1], 'results/curve-sampler-w-2026-12/'
log = lambda p: {r['iter']: r['loss'] for r in map(json.loads, open(p)) if 'loss' in r}
for mine, theirs in [(f'{O}/ledi/flow_log.jsonl', ref + 'ledi_flow_log.jsonl'),
                     (f'{O}/fm/flow_log.jsonl', ref + 'fm_flow_log.jsonl')]:
    a, b = log(mine), log(theirs)
    common = sorted(set(a) & set(b))
    diff = [i for i in common if a[i] != b[i]]
    print(f'{mine}: {len(common)} logged iterations in common with {theirs} (up to {max(common)}), {len(diff)} differ')
PY
    ;;
*) echo "usage: train.sh [train|check]" >&2; exit 2 ;;
esac
