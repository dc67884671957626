"""The issue's three goals at the 8,000 budget with the finer step grids (this folder's tune_400 and test_1000),
beside the curve's 400-sample test measurement on the usual grids (curve.py's goals_table: what each column is, its
docstring); then what the finer grids change: in each evaluation, both baselines' FID at every NFE (the target is
the cheapest setting not distinguishable from the best) and LeDiFlow's at 1 Euler flow step by sampler steps.
Last, whether tune_400 measured the curve's own networks (its FID and KID against an earlier evaluation of them).

    python results/grid8000-2026-12/goals.py
"""
import json
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, '..', 'budget-curve-2026-12'))
from curve import goals_table, real  # noqa: E402  (the table every look's goals.py prints)


def cell(x):
    """One setting: FID [95%], time, and whether it is its run's best or not distinguishable from it."""
    d = x['fid_vs_best_ci']
    mark = ' best' if d == [0, 0] else ' =' if d[0] <= 0 <= d[1] else ''
    nfe = '' if x['sampler_nfe'] else f" ({x['nfe']} NFE)"
    return f"{x['setting']}{nfe}: {x['fid']:.1f} [{x['fid_ci'][0]:.1f}, {x['fid_ci'][1]:.1f}] {x['ms_measured']:.2f} ms{mark}"


goals_table(8000, here)
for d in ('tune_400', 'test_1000'):
    p = os.path.join(here, d, 'results.json')
    if os.path.isfile(p):
        r = json.load(open(p))
        print(f'\n{d}: FID [95%], ms per image; "=": not distinguishable from its run\'s best (the paired 95% interval '
              'of the difference includes 0)\n')
        for label in ('fm_8000', 'fm_eq_8000', 'ledi_8000'):
            rows = [x for x in real(r, label) if label != 'ledi_8000' or x['setting'].startswith('euler x1,')]
            print(f'- {label}: ' + '; '.join(cell(x) for x in sorted(rows, key=lambda x: x['ms_measured'])))

# The networks: train.sh's loss check went with the machine that ran it (out/n8k), so this compares what they gave
# with the reflowed-sampler look's tune evaluation of the curve's own 8,000 networks (the same split, seeds and 400
# samples): every setting both evaluated must give the same FID and KID to the last digit.
p = os.path.join(here, 'tune_400', 'results.json')
if os.path.isfile(p):
    ours = {(x['label'], x['setting']): x for x in json.load(open(p))['rows']}
    theirs = {(x['label'], x['setting']): x
              for x in json.load(open(os.path.join(here, '..', 'sampler-reflow-2026-12', 'results.json')))['rows']}
    both = [k for k in ours if k in theirs]
    same = [k for k in both if (ours[k]['fid'], ours[k]['kid']) == (theirs[k]['fid'], theirs[k]['kid'])]
    print(f'\ntune_400 against results/sampler-reflow-2026-12 (the curve\'s 8,000 networks, tune, 400 samples): '
          f'{len(same)} of {len(both)} shared settings give identical FID and KID')
