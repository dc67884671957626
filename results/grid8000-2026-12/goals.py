"""The issue's three goals at the 8,000 budget with the finer step grids (this folder's tune_400 and test_1000),
beside the curve's 400-sample test measurement on the usual grids (curve.py's goals_table: what each column is, its
docstring); then what the finer grids change: in each evaluation, both baselines' FID at every NFE (the target is
the cheapest setting not distinguishable from the best) and LeDiFlow's at 1 Euler flow step by sampler steps.

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
