"""The tables of results/curve-sampler-w-2026-12 that curve.py does not print, from budget_<N>/results.json:

1. the new sampler minus the base, paired (same aux, flow and seeds; evaluate.py's vs_run), at every setting;
2. the issue's three goals for both samplers: the lower 95% end of the speedup against the equal-compute baseline
   (goal: >= 3.75x, by FID and by KID) and against the same-iteration one (>= 5x), and up to which baseline NFE 1
   midpoint flow step beats the equal-compute baseline at 95% (goal: 8), its better sampler setting;
3. the retrained base and same-iteration runs against the earlier curve's (the same configs and seeds).

    python results/curve-sampler-w-2026-12/paired.py
"""
import json
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, '..', 'budget-curve-2026-12'))
from curve import beats, fmt, load, speedup  # noqa: E402  (the curve's own readers and speedup format)

res = load([here])[0]

print('New sampler minus base, paired, FID [95%] / KID x1e3 [95%]:\n')
print('| flow iters | setting | FID: base / new | FID difference | KID x1e3 difference |')
print('|---|---|---|---|---|')
for n in sorted(res):
    rows = res[n]['rows']
    for x in rows:
        if x['label'] != f'ledi_w_{n}' or x.get('vs_run') is None or x['kind'] != 'sampled z':
            continue
        b = next(y for y in rows if y['label'] == f'ledi_{n}' and y['setting'] == x['setting'] and y['kind'] == x['kind'])
        f, k = x['fid_vs_run_ci'], x['kid_vs_run_ci']
        print(f"| {n} | {x['setting']} | {b['fid']:.1f} / {x['fid']:.1f} | {x['fid_vs_run']:+.1f} [{f[0]:+.1f}, {f[1]:+.1f}] | "
              f"{1e3 * x['kid_vs_run']:+.2f} [{1e3 * k[0]:+.2f}, {1e3 * k[1]:+.2f}] |")


print('\nThe goals (lower 95% end >= 3.75x against equal compute, >= 5x against same iterations, 1 midpoint step '
      'beats equal compute at 95% up to 8 NFE):\n')
print('| flow iters | sampler | vs equal compute, FID | KID | vs same iterations, FID | KID | 1 midpoint step beats '
      'equal compute up to NFE, FID / KID |')
print('|---|---|---|---|---|---|---|')
for n in sorted(res):
    r = res[n]
    for led, name in ((f'ledi_{n}', 'base'), (f'ledi_w_{n}', 'new')):
        e = [speedup(r, led, f'fm_eq_{n}', m) for m in ('fid', 'kid')]
        s = [speedup(r, led, f'fm_{n}', m) for m in ('fid', 'kid')]
        print(f"| {n} | {name} | {fmt(e[0])} | {fmt(e[1])} | {fmt(s[0])} | {fmt(s[1])} | "
              f"{beats(e[0])} / {beats(e[1])} |")

# The base runs and the same-iteration baselines were trained again from scratch with the configs of the README's
# earlier curve (results/curve-euler1-2026-12, budgets up to 4,000): same seeds, same CPU, one thread, so they should be the same networks
# and give the same images; this compares their point FID and KID, setting by setting.
print("\nRetrained runs against the earlier curve's (results/curve-euler1-2026-12), largest FID / KID difference:\n")
for n in sorted(res):
    p = os.path.join(here, '..', 'curve-euler1-2026-12', f'budget_{n}', 'results.json')
    if not os.path.isfile(p):   # 8,000: the earlier curve stopped at 4,000
        continue
    old = {(x['label'], x['setting'], x['kind']): x for x in json.load(open(p))['rows']}
    for label in (f'ledi_{n}', f'fm_{n}'):
        rows = [x for x in res[n]['rows'] if x['label'] == label]
        d = [max(abs(x[k] - old[label, x['setting'], x['kind']][k]) for k in ('fid', 'kid')) for x in rows]
        print(f'{n} {label}: {len(d)} settings, largest difference {max(d):.2e}')
