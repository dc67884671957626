"""Run directories for the aux/sampler schedule study (docs/experiments.md, "Aux and sampler scaled with the flow's
budget"): each schedule's LeDiFlow run at N flow iterations and its equal-compute baseline, the tuned baseline's
first snapshot whose training time is at least the schedule's. A schedule's time is the larger of its runs' measured
seconds and the curve run's rates applied to its iterations (whichever favours the baseline).

    python results/schedule-2026-12/link.py    # writes out/sched/{ledi,fm_eq}_<schedule>_<N> and seconds.txt
"""
import glob
import os

import torch

CURVE = 'out/curve_lr6'                    # the test curve: aux 800, sampler 4000, fm snapshots every 50
AUX_RATE, SAMPLER_RATE = 190.48 / 800, 230.15 / 4000   # its aux's and sampler's seconds per iteration
FIXED = 190.48 + 230.15
flow_secs = {int(n): float(s) - FIXED for n, s in (l.split() for l in open(f'{CURVE}/ledi_seconds.txt'))}
SCHEDULES = {  # name: {N: (run directory with aux.pt and sampler.pt, flow snapshot, aux iters, sampler iters)}
    'fixed': {n: (f'{CURVE}/ledi', f'{CURVE}/ledi6/flow_{n:06d}.pt', 800, 4000) for n in (250, 500)},
    'P': {250: ('out/sched/a100', 'out/sched/a100/flow_000250.pt', 100, 500),
          500: ('out/sched/a200', 'out/sched/a200/flow_000500.pt', 200, 1000)},
    'P2': {250: ('out/sched/a200', 'out/sched/a200/flow_000250.pt', 200, 1000),
           500: ('out/sched/a400', 'out/sched/a400/flow_000500.pt', 400, 2000)},
}


def secs(p):
    return torch.load(p, weights_only=True)['train_seconds']


def link(d, files):
    os.makedirs(d, exist_ok=True)
    for name, target in files.items():
        if os.path.lexists(f'{d}/{name}'):
            os.remove(f'{d}/{name}')
        os.symlink(os.path.realpath(target), f'{d}/{name}')


fm = sorted(glob.glob(f'{CURVE}/fm/flow_0*.pt'))
fm_secs = [secs(p) for p in fm]
rows = []
for name, runs in SCHEDULES.items():
    for n, (src, flow, a, s) in runs.items():
        estimate = a * AUX_RATE + s * SAMPLER_RATE + flow_secs[n]
        # the fixed schedule's flow snapshots trained beside an evaluation: its measured time is the curve's
        measured = estimate if name == 'fixed' else secs(f'{src}/aux.pt') + secs(f'{src}/sampler.pt') + secs(flow)
        t = max(measured, estimate)
        eq = next(p for p, q in zip(fm, fm_secs) if q >= t)
        link(f'out/sched/ledi_{name}_{n}', {'aux.pt': f'{src}/aux.pt', 'sampler.pt': f'{src}/sampler.pt', 'flow.pt': flow})
        link(f'out/sched/fm_eq_{name}_{n}', {'flow.pt': eq})
        rows.append(f'{name} {n} aux {a} sampler {s} measured {measured:.1f} estimate {estimate:.1f} '
                    f'used {t:.1f} fm_eq {os.path.basename(eq)}')
open('out/sched/seconds.txt', 'w').write('\n'.join(rows) + '\n')
print('\n'.join(rows))
