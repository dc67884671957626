#!/usr/bin/env bash
# Training for results/curve-tau0-2026-12 (docs/experiments.md, "The curve at each method's tau from the tune look"):
# the runs of results/curve-sampler-w-2026-12 (the README's curve) trained again with the same configs, seeds and
# one thread per run. Training on this CPU is deterministic and a resumed run continues exactly (every iteration's
# randomness is seeded by the iteration), so these are that curve's runs bit for bit; `check` compares the logged
# losses with that folder's flow logs. Only the sampling temperature differs from that curve, and it is set when the
# run directories are made (`link`), not in training.
#
# It starts from the two 2,000-iteration runs of results/tau-look-2026-12 (the same runs again, checked there):
# out/tau/a800 (LeDiFlow: aux 800, sampler 4,000, flow 2,000) and out/tau/fm (the baseline at 3,050 iterations).
#   lane 1: the baseline resumed 3,050 -> 10,050 (a snapshot every 50), then trained again 0 -> 2,000 (the snapshots
#           below 3,050), then LeDiFlow's 250 budget (aux 100, sampler 500, flow 250)
#   lane 2: LeDiFlow's flow resumed 2,000 -> 8,000 (snapshots 4,000 and 8,000), then the 500 budget (aux 400,
#           sampler 2,000, flow 500), then the 1,000 budget (the 800 aux and sampler, flow 0 -> 1,000)
# From a fresh clone (no out/tau), train() first trains those two runs with the tau look's commands (~45 min more).
#   bash results/curve-tau0-2026-12/train.sh          # ~85 min on 2 CPU cores (~130 from a fresh clone)
#   bash results/curve-tau0-2026-12/train.sh check    # the losses against results/curve-sampler-w-2026-12's logs
#   bash results/curve-tau0-2026-12/train.sh link     # run directories out/ct/{ledi,fm,fm_eq}_N for evaluate.py
set -euo pipefail
source "$(dirname "$0")/../../benchmarks/budget_curve.sh"   # seconds, rundir; cds to the repo root
O=${CURVE_DIR:-out/ct}
T=${TAU_RUNS:-out/tau}
H="config/emoji.py --log_interval=100 --ckpt_interval=50 --keep_every=50 --sample_interval=0"
FM="--prior=gaussian --t_dist=logit_normal --lr=6e-4"

pre() {   # the tau look's two runs, when they are not there (a fresh clone): its commands, two lanes, ~45 min
    local P="config/emoji.py --log_interval=100 --ckpt_interval=500 --sample_interval=0"
    echo "no $T/fm/flow.pt or $T/a800/flow.pt: training them first (results/tau-look-2026-12's commands)"
    mkdir -p $T
    $PY train_flow.py $P --out_dir=$T/fm $FM --max_iters=3050 > $T/pre_fm.log 2>&1 &
    {   $PY train_aux.py $P --out_dir=$T/a800 --max_iters=800
        $PY train_sampler.py $P --out_dir=$T/a800 --max_iters=4000
        $PY train_flow.py $P --out_dir=$T/a800 --max_iters=2000; } > $T/pre_ledi.log 2>&1
    wait
}

train() {
    export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
    [ -f $T/fm/flow.pt ] && [ -f $T/a800/flow.pt ] || pre
    mkdir -p $O/fm $O/a800
    cp -n $T/fm/flow.pt $O/fm/flow.pt; cp -n $T/fm/flow.pt $O/fm/flow_003050.pt; cp -n $T/fm/flow_log.jsonl $O/fm/flow_log.jsonl
    for f in aux.pt sampler.pt flow.pt flow_log.jsonl; do cp -n $T/a800/$f $O/a800/$f; done
    cp -n $T/a800/flow.pt $O/a800/flow_002000.pt
    {   $PY train_flow.py $H --out_dir=$O/fm $FM --max_iters=10050 --init_from=resume
        $PY train_flow.py $H --out_dir=$O/fm0 $FM --max_iters=2000
        $PY train_aux.py $H --out_dir=$O/a100 --max_iters=100
        $PY train_sampler.py $H --out_dir=$O/a100 --max_iters=500
        $PY train_flow.py $H --out_dir=$O/a100 --max_iters=250; } > $O/lane1.log 2>&1 &
    {   $PY train_flow.py $H --out_dir=$O/a800 --max_iters=8000 --init_from=resume
        $PY train_aux.py $H --out_dir=$O/a400 --max_iters=400
        $PY train_sampler.py $H --out_dir=$O/a400 --max_iters=2000
        $PY train_flow.py $H --out_dir=$O/a400 --max_iters=500
        mkdir -p $O/a800k && ln -sf "$(realpath $O/a800/aux.pt)" $O/a800k/aux.pt
        ln -sf "$(realpath $O/a800/sampler.pt)" $O/a800k/sampler.pt
        $PY train_flow.py $H --out_dir=$O/a800k --max_iters=1000; } > $O/lane2.log 2>&1
    wait
    echo ALLDONE >> $O/lane2.log
}

check() {   # every logged loss of these runs against the curve's logs (the flow runs at 2,000+ and the baseline)
    $PY - "$O" <<'PY'
import json, os, sys
O = sys.argv[1]
ref = 'results/curve-sampler-w-2026-12/'
def log(p):
    return {r['iter']: r['loss'] for r in map(json.loads, open(p)) if 'loss' in r}
for mine, theirs in [(f'{O}/a800/flow_log.jsonl', ref + 'ledi_flow_log.jsonl'),
                     (f'{O}/fm/flow_log.jsonl', ref + 'fm_flow_log.jsonl'),
                     (f'{O}/fm0/flow_log.jsonl', ref + 'fm_flow_log.jsonl'),
                     (f'{O}/a800k/flow_log.jsonl', ref + 'ledi_flow_log.jsonl')]:
    if not os.path.isfile(mine):
        print(f'{mine}: not trained yet'); continue
    a, b = log(mine), log(theirs)
    common = sorted(set(a) & set(b))
    diff = [i for i in common if a[i] != b[i]]
    print(f'{mine}: {len(common)} logged iterations in common with {theirs} (up to {max(common)}), '
          f'{len(diff)} differ{": " + str(diff[:5]) if diff else ""}')
# the 250 and 500 budgets' aux, sampler and flow (no log of theirs is in that folder): every line their lanes
# printed, 'STAGE iter K/MAX: loss L' (4 decimals), must appear in that folder's train.log
import re
pat = re.compile(r'^(aux|sampler|flow) iter (\d+)/(\d+): loss (-?[\d.]+)', re.M)
theirs = set(pat.findall(open(ref + 'train.log').read()))
for lane in ('lane1', 'lane2'):
    mine = [m for m in pat.findall(open(f'{O}/{lane}.log').read()) if m[2] in ('100', '250', '400', '500') or m[:3:2] == ('sampler', '2000')]
    print(f'{O}/{lane}.log: {len(mine)} printed losses of the 250/500 budgets\' runs, '
          f'{sum(m not in theirs for m in mine)} not in {ref}train.log')
PY
}

link() {   # LeDiFlow at tau 0 (ledi_N), the baseline at tau 1: fm_N (same iterations) and fm_eq_N (the snapshot the
           # curve's equal-compute baseline used, from that curve's measured seconds; results/curve-sampler-w-2026-12)
    declare -A EQ=([250]=400 [500]=950 [1000]=1900 [2000]=3050 [4000]=5500 [8000]=10050)
    for n in 250 500 1000 2000 4000 8000; do
        case $n in 250) d=$O/a100; f=$d/flow.pt;; 500) d=$O/a400; f=$d/flow.pt;; 1000) d=$O/a800k; f=$d/flow.pt;;
                   *) d=$O/a800; f=$d/$(printf 'flow_%06d.pt' $n);; esac
        [ -f $f ] || { echo "no $f yet: skipping $n"; continue; }
        for m in $n ${EQ[$n]}; do   # the baseline's snapshot at m iterations: fm0 below 3,050, fm from there
            [ $m -lt 3050 ] && p=$O/fm0/$(printf 'flow_%06d.pt' $m) || p=$O/fm/$(printf 'flow_%06d.pt' $m)
            [ $m = $n ] && rundir $O/fm_$n $p || rundir $O/fm_eq_$n $p
        done
        # tau 0: the tune look's choice for LeDiFlow, sampling only; its aux.pt and sampler.pt linked
        $PY results/tau-look-2026-12/runs.py $f 0 --out=$O/ledi_$n > /dev/null
        echo "$n: ledi_$n <- $f (tau 0), fm_$n <- $(readlink $O/fm_$n/flow.pt), fm_eq_$n <- $(readlink $O/fm_eq_$n/flow.pt)"
    done
}

case "${1:-train}" in
    train) train ;;
    check) check ;;
    link) link ;;
    *) echo "usage: train.sh [train|check|link]" >&2; exit 2 ;;
esac
