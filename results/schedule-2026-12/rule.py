"""The schedule study's rule on its tune evaluations (docs/experiments.md, "Aux and sampler scaled with the flow's
budget"): per budget, each schedule's speedup over its own equal-compute baseline, by FID and KID, and the choice.

    python results/schedule-2026-12/rule.py    # reads tune_<N>/results.json next to this file
"""
import glob
import json
import os
import re

here = os.path.dirname(os.path.abspath(__file__))
for p in sorted(glob.glob(os.path.join(here, 'tune_*', 'results.json')), key=lambda p: int(re.findall(r'\d+', p)[-1])):
    r = json.load(open(p))
    n = int(re.findall(r'\d+', p)[-1])
    print(f'flow budget {n} (tune):')
    key = {}
    bl = lambda lab: min(x['fid'] for x in r['rows'] if x['label'] == lab and x['kind'] in ('sampled z', 'gaussian prior'))
    for name in ('fixed', 'P', 'P2'):
        out = []
        for m in ('fid', 'kid'):
            s = next(s for s in r['speedup'] if s['ledi_run'] == f'ledi_{name}_{n}'
                     and s['baseline_run'] == f'fm_eq_{name}_{n}' and s['metric'] == m)
            lo = s['ci'][0] if s['ci'] else 0.0
            point = s['ratio'] or 0.0
            if m == 'fid':
                key[name] = (lo, point)
            out.append(f"{m} {'not reached' if s['ratio'] is None else f'{point:.2f}x'} "
                       f"[{lo:.2f}, {s['ci'][1] if s['ci'] else 0:.2f}] reached {s['reached']:.0%}")
        print(f"  {name:5s} best FID LeDiFlow {bl(f'ledi_{name}_{n}'):.1f} / eq-compute FM {bl(f'fm_eq_{name}_{n}'):.1f}; "
              + '; '.join(out))
    better = [k for k in ('P', 'P2') if key[k][0] > key['fixed'][0]]
    choice = max(better, key=lambda k: key[k]) if better else 'fixed'
    print(f'  rule: {choice}' + ('' if better else ' (no scaled schedule has a higher lower end by FID)'))
