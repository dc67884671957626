"""The most any LeDiFlow setting of the evaluated grid could be faster, at each budget of this folder's test curve:
the baseline's target time (its cheapest setting indistinguishable from its best, by the point estimates) over
LeDiFlow's cheapest sampled-z setting (1 Euler flow step, the sampler at 2 midpoint steps), measured medians. A
goal whose ceiling is below its bar cannot be met by any setting of this grid, however good its quality.

    python results/curve-tau0-2026-12/ceiling.py
"""
import json
import os

here = os.path.dirname(os.path.abspath(__file__))
print('| flow iters | LeDiFlow cheapest setting (ms) | vs equal compute: target (ms), ceiling FID / KID | '
      'vs same iterations: target (ms), ceiling FID / KID |')
print('|---|---|---|---|')
for n in (250, 500, 1000, 2000, 4000, 8000):
    r = json.load(open(os.path.join(here, f'budget_{n}', 'results.json')))
    ledi = [x for x in r['rows'] if x['label'] == f'ledi_{n}' and x['kind'] == 'sampled z' and x['nfe'] > 0]
    cheap = min(ledi, key=lambda x: x['ms_measured'])
    cells = []
    for base in (f'fm_eq_{n}', f'fm_{n}'):
        s = {x['metric']: x for x in r['speedup'] if x['ledi_run'] == f'ledi_{n}' and x['baseline_run'] == base}
        t = {m: (s[m]['baseline_setting'], s[m]['baseline_ms_measured']) for m in ('fid', 'kid')}
        cells.append(' / '.join(f'{t[m][0]} ({t[m][1]:.2f})' for m in ('fid', 'kid')) + ', '
                     + ' / '.join(f'{t[m][1] / cheap["ms_measured"]:.2f}x' for m in ('fid', 'kid')))
    print(f'| {n} | {cheap["setting"]} ({cheap["ms_measured"]:.2f}) | {cells[0]} | {cells[1]} |')
