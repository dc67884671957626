"""The issue's three goals at the 8,000 budget with the latent sampler at 8,000 iterations (this folder's tune_400
and, if it ran, test_1000), beside the curve's 400-sample test measurement (curve.py's goals_table: what each column
is, its docstring).

The second table is why goal 2 is decided by the machine's timings here: the same-iteration baseline (the same
network, fm_8000) at 8 NFE, its target in two thirds of replicates, over LeDiFlow's cheapest setting (1 Euler flow
step, the sampler at 2 midpoint steps), in this look and in results/grid8000-2026-12's tune look (the 4,000-iteration
sampler, whose 2 steps cost the same), from each file's measured medians. Its parts show where the time goes: the
sampler, the aux decoder with the prior sample, and the flow.

    python results/s8k-goal-2026-12/goals.py
"""
import json
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, '..', 'budget-curve-2026-12'))
from curve import goals_table  # noqa: E402  (the table every look's goals.py prints)

goals_table(8000, here)

print()
print('| look (tune, 400) | fm_8000 at 8 NFE (ms) | LeDiFlow euler x1, sampler x2 (ms): sampler + decoder + flow | '
      'FID | ratio | ratio, sampler free | ratio, one flow NFE alone |')
print('|---|---|---|---|---|---|---|')
for name, path in (('grid8000 (4,000-it. sampler)', os.path.join(here, '..', 'grid8000-2026-12', 'tune_400')),
                   ('this look (8,000-it. sampler)', os.path.join(here, 'tune_400'))):
    rows = {(x['label'], x['setting']): x for x in json.load(open(os.path.join(path, 'results.json')))['rows']}
    t = rows[('fm_8000', 'midpoint x4')]['ms_measured']
    c = rows[('ledi_8000', 'euler x1, sampler midpoint x2')]
    print(f"| {name} | {t:.2f} | {c['ms_measured']:.2f}: {c['ms_sampler']:.2f} + {c['ms_decoder']:.2f} + "
          f"{c['ms_flow']:.2f} | {c['fid']:.1f} | {t / c['ms_measured']:.2f}x | "
          f"{t / (c['ms_measured'] - c['ms_sampler']):.2f}x | {t / c['ms_flow']:.2f}x |")
