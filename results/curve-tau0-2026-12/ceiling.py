"""The most any LeDiFlow setting of the evaluated grid could be faster, at each budget of this folder's test curve:
the baseline's target time (its cheapest setting indistinguishable from its best, by the point estimates) over
LeDiFlow's cheapest sampled-z setting (1 Euler flow step, the sampler at 2 midpoint steps), measured medians. A
goal whose ceiling is below its bar cannot be met by any setting of this grid, however good its quality.

The second table asks whether a cheaper latent sampler could change that where the target is the baseline's 4-NFE
setting (at 250 against equal compute; at 500 against the same iterations in the replicates where its flat plateau
makes 4 NFE the target). It splits LeDiFlow's cheapest time, from the same interleaved rounds: the sampler's cost
per network evaluation is (sampler at 8 midpoint steps - at 2) / 12 evaluations at 1 Euler flow step, so its 2
steps cost 4 of those; one flow evaluation is half of (the same-iteration baseline at midpoint x2 - at euler x2),
the same network. The 4-NFE setting's time over three LeDiFlow costs: as measured, with a sampler that cost nothing,
and one flow evaluation alone (no sampler, no aux decoder: a bound no LeDiFlow setting with a flow step can pass).

    python results/curve-tau0-2026-12/ceiling.py
"""
import json
import os

here = os.path.dirname(os.path.abspath(__file__))
budgets = (250, 500, 1000, 2000, 4000, 8000)
results = {n: json.load(open(os.path.join(here, f'budget_{n}', 'results.json'))) for n in budgets}
print('| flow iters | LeDiFlow cheapest setting (ms) | vs equal compute: target (ms), ceiling FID / KID | '
      'vs same iterations: target (ms), ceiling FID / KID |')
print('|---|---|---|---|')
for n in budgets:
    r = results[n]
    ledi = [x for x in r['rows'] if x['label'] == f'ledi_{n}' and x['kind'] == 'sampled z' and x['nfe'] > 0]
    cheap = min(ledi, key=lambda x: x['ms_measured'])
    cells = []
    for base in (f'fm_eq_{n}', f'fm_{n}'):
        s = {x['metric']: x for x in r['speedup'] if x['ledi_run'] == f'ledi_{n}' and x['baseline_run'] == base}
        t = {m: (s[m]['baseline_setting'], s[m]['baseline_ms_measured']) for m in ('fid', 'kid')}
        cells.append(' / '.join(f'{t[m][0]} ({t[m][1]:.2f})' for m in ('fid', 'kid')) + ', '
                     + ' / '.join(f'{t[m][1] / cheap["ms_measured"]:.2f}x' for m in ('fid', 'kid')))
    print(f'| {n} | {cheap["setting"]} ({cheap["ms_measured"]:.2f}) | {cells[0]} | {cells[1]} |')

print()
print('| flow iters | LeDiFlow cheapest (ms) | its sampler (ms) | one flow NFE (ms) | baseline at 4 NFE, same iterations / '
      'equal compute (ms) | 4 NFE over LeDiFlow, same iterations / equal compute: as measured; sampler free; '
      'one flow NFE alone |')
print('|---|---|---|---|---|---|')
for n in budgets:
    r = results[n]
    ms = {(x['label'], x['kind'], x['setting']): x['ms_measured'] for x in r['rows']}
    cheap = ms[(f'ledi_{n}', 'sampled z', 'euler x1, sampler midpoint x2')]
    per_nfe = (ms[(f'ledi_{n}', 'sampled z', 'euler x1, sampler midpoint x8')] - cheap) / 12
    sampler = 4 * per_nfe
    flow = (ms[(f'fm_{n}', 'gaussian prior', 'midpoint x2')] - ms[(f'fm_{n}', 'gaussian prior', 'euler x2')]) / 2
    t4 = [ms[(b, 'gaussian prior', 'midpoint x2')] for b in (f'fm_{n}', f'fm_eq_{n}')]
    ratios = '; '.join(f'{t4[0] / c:.2f}x / {t4[1] / c:.2f}x' for c in (cheap, cheap - sampler, flow))
    print(f'| {n} | {cheap:.2f} | {sampler:.2f} | {flow:.2f} | {t4[0]:.2f} / {t4[1]:.2f} | {ratios} |')
