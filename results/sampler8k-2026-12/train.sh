#!/usr/bin/env bash
# Training for results/sampler8k-2026-12 (docs/experiments.md, "A longer and an OT-coupled latent sampler at 8,000
# iterations"). Needs results/zc-tau0-2026-12/train.sh's networks in out/zc (the curve's 8,000-iteration LeDiFlow run:
# aux 800, sampler 4,000, flow 8,000; its equal-compute baseline, 10,050 iterations). One thread per lane, as the
# curve trained. Every run uses the curve's commands and seeds; only the sampler differs:
#   s16k   the curve's sampler resumed 4,000 -> 16,000 iterations (constant lr after warmup: the same as one
#          16,000-iteration run), ~15 min
#   ot     a sampler with sampler_coupling='ot' from scratch, 2,250 iterations: the curve's sampler's training time
#          (269 s for 4,000; OT pairing of a 512 batch makes each iteration ~1.6x dearer), ~4 min
#   fm8k   the baseline again from scratch to 8,000 iterations (the same-iteration baseline; out/zc keeps only the
#          10,050-iteration one), ~95 min, for a later goal look; resumes where it stopped
#   fmeq N the equal-compute baseline for LeDiFlow with a longer sampler: out/zc/fm's 10,050 iterations resumed to N
#          (the sampler's extra seconds at the baseline's 0.604 s per iteration in results/zc-tau0-2026-12's run,
#          6,068 s for 10,050 under the same two-lane load, rounded up to 50): 10550 for s8k (+292 s), 11550 for
#          s16k (+882 s); ~5 and ~15 min; for a later goal look
#   bash results/sampler8k-2026-12/train.sh [s16k|s8k|s32k|ot|fm8k|fmeq N|link|check]
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
O=${ZC_DIR:-out/zc}
P="config/emoji.py --log_interval=100 --ckpt_interval=500 --sample_interval=0"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
[ -f $O/ledi/flow.pt ] || { echo "no $O/ledi/flow.pt: run results/zc-tau0-2026-12/train.sh first" >&2; exit 1; }
case "${1:?usage: train.sh s16k|s8k|s32k|ot|fm8k|fmeq N|link|check}" in
s16k)
    mkdir -p $O/s16k
    for f in aux.pt sampler.pt sampler_log.jsonl; do cp -n $O/ledi/$f $O/s16k/$f; done
    $PY train_sampler.py $P --out_dir=$O/s16k --max_iters=16000 --init_from=resume > $O/s16k.log 2>&1 ;;
s8k | s32k)   # more lengths of the same sampler: the curve's resumed to 8,000, s16k resumed to 32,000
    if [ $1 = s8k ]; then src=ledi n=8000; else src=s16k n=32000; fi
    mkdir -p $O/$1
    for f in aux.pt sampler.pt sampler_log.jsonl; do cp -n $O/$src/$f $O/$1/$f; done
    $PY train_sampler.py $P --out_dir=$O/$1 --max_iters=$n --init_from=resume > $O/$1.log 2>&1 ;;
ot)
    mkdir -p $O/ot && cp -n $O/ledi/aux.pt $O/ot/aux.pt
    $PY train_sampler.py $P --out_dir=$O/ot --max_iters=2250 --sampler_coupling=ot > $O/ot.log 2>&1 ;;
fm8k)
    $PY train_flow.py $P --out_dir=$O/fm8k --prior=gaussian --t_dist=logit_normal --lr=6e-4 --max_iters=8000 \
        $([ -f $O/fm8k/flow.pt ] && echo --init_from=resume) >> $O/fm8k.log 2>&1 ;;
fmeq)
    n=${2:?usage: train.sh fmeq ITERATIONS}
    mkdir -p $O/fm_eq$n && cp -n $O/fm/flow.pt $O/fm/flow_log.jsonl $O/fm_eq$n/
    $PY train_flow.py $P --out_dir=$O/fm_eq$n --prior=gaussian --t_dist=logit_normal --lr=6e-4 --max_iters=$n \
        --init_from=resume > $O/fm_eq$n.log 2>&1 ;;
link)   # run directories at tau 0 (the curve's LeDiFlow temperature) with the curve's aux and flow: ledi_t0 (the
        # curve's sampler), s16k_t0, ot_t0
    for r in ledi s16k ot s8k s32k; do
        [ -f $O/$r/sampler.pt ] || continue
        [ $r = ledi ] || cp -n $O/ledi/flow.pt $O/$r/flow.pt
        $PY results/tau-look-2026-12/runs.py $O/$r 0 --out=$O/${r}_t0 > /dev/null
    done
    ls -l $O/*_t0/ ;;
check)  # the samplers' training seconds (equal time: the curve's is 269 s) and fm8k's logged losses against the curve's
    $PY - "$O" <<'PY'
import json, sys, torch
O = sys.argv[1]
for r in ('ledi', 's8k', 's16k', 's32k', 'ot'):
    ck = torch.load(f'{O}/{r}/sampler.pt', map_location='cpu', weights_only=True)
    print(f"{r}: sampler {ck['iter']} iterations, {ck['train_seconds']:.0f} s, coupling {ck['config'].get('sampler_coupling', 'independent')}")
log = lambda p: {r['iter']: r['loss'] for r in map(json.loads, open(p)) if 'loss' in r}
a, b = log(f'{O}/fm8k/flow_log.jsonl'), log('results/curve-sampler-w-2026-12/fm_flow_log.jsonl')
common = sorted(set(a) & set(b))
print(f'fm8k: {len(common)} logged iterations in common with the curve (up to {max(common)}), '
      f'{sum(a[i] != b[i] for i in common)} differ')
PY
    ;;
*) echo "usage: train.sh s16k|s8k|s32k|ot|fm8k|fmeq N|link|check" >&2; exit 2 ;;
esac
