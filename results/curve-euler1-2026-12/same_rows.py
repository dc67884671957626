"""Checks that the re-evaluation changed nothing but the grid: every (run, setting) row of the earlier evaluations
(results/schedule-2026-12/test at 250 and 500, results/ledi-lr6-curve-2026-12 at 1,000 and 2,000,
results/curve-4k-2026-12 at 4,000) has the same FID and KID, and the same intervals, here.

    python results/curve-euler1-2026-12/same_rows.py
"""
import json
import os

here = os.path.dirname(os.path.abspath(__file__))
before = {250: 'schedule-2026-12/test', 500: 'schedule-2026-12/test', 1000: 'ledi-lr6-curve-2026-12',
          2000: 'ledi-lr6-curve-2026-12', 4000: 'curve-4k-2026-12'}
for n, folder in before.items():
    old = json.load(open(os.path.join(here, '..', folder, f'budget_{n}', 'results.json')))['rows']
    new = {(x['label'], x['setting']): x for x in json.load(open(os.path.join(here, f'budget_{n}', 'results.json')))['rows']}
    diff = max(max(abs(x[k] - new[x['label'], x['setting']][k]) for k in ('fid', 'kid')) for x in old)
    cis = all(x[k] == new[x['label'], x['setting']][k] for x in old for k in ('fid_ci', 'kid_ci'))
    print(f'{n}: {len(old)} earlier rows of {len(new)}, largest FID/KID difference {diff:.2e}, intervals '
          f'{"identical" if cis else "differ"}')
