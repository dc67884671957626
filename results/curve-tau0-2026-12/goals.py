"""The tables of results/curve-tau0-2026-12 that curve.py does not print, from budget_<N>/results.json:

1. the issue's three goals at every budget measured: the lower 95% end of LeDiFlow's speedup against the
   equal-compute baseline (goal: >= 3.75x, by FID and by KID) and against the same-iteration one (>= 5x), and up to
   which baseline NFE 1 midpoint flow step beats the equal-compute baseline at 95% (goal: 8), its better sampler
   setting;
2. beside them, the same numbers from the README's curve at tau 1 (results/curve-sampler-w-2026-12, run ledi_w_N):
   the same trained networks, another evaluation (200 samples, 500 replicates), so the two are not paired.

    python results/curve-tau0-2026-12/goals.py
"""
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, '..', 'budget-curve-2026-12'))
from curve import beats, fmt, goals_met, load, real, speedup  # noqa: E402  (the curve's own readers and speedup format)

res = load([here])[0]
old = load([os.path.join(here, '..', 'curve-sampler-w-2026-12')])[0]


def row(r, led, n):
    e = [speedup(r, led, f'fm_eq_{n}', m) for m in ('fid', 'kid')]
    s = [speedup(r, led, f'fm_{n}', m) for m in ('fid', 'kid')]
    best = min(real(r, led), key=lambda x: x['fid'])
    eq = min(x['fid'] for x in real(r, f'fm_eq_{n}'))
    return (f"{best['fid']:.1f} / {eq:.1f} ({best['setting']}) | {fmt(e[0])} | {fmt(e[1])} | {fmt(s[0])} | {fmt(s[1])} | "
            f"{beats(e[0])} / {beats(e[1])} |")


print('The goals (lower 95% end >= 3.75x against equal compute, >= 5x against same iterations, 1 midpoint step '
      'beats equal compute at 95% up to 8 NFE); LeDiFlow at tau 0 (this folder) and at tau 1 (the README\'s curve):\n')
print("Best FID: LeDiFlow's / the equal-compute baseline's in the same evaluation (FID falls with the sample count: "
      "compare the two within a row, not this folder's 400-sample rows with the curve's 200-sample ones).\n")
print('| flow iters | LeDiFlow tau | best FID: LeDiFlow / equal-compute FM (LeDiFlow\'s setting) | vs equal compute, FID | KID | vs same iterations, FID | KID | '
      '1 midpoint step beats equal compute up to NFE, FID / KID |')
print('|---|---|---|---|---|---|---|---|')
for n in sorted(res):
    print(f'| {n} | 0 | ' + row(res[n], f'ledi_{n}', n))
    if n in old:
        print(f'| {n} | 1 (curve) | ' + row(old[n], f'ledi_w_{n}', n))
met = [(n, *goals_met(res[n], f'ledi_{n}', n)) for n in sorted(res)]
print('\nMet at each budget (goal 1: both lower ends >= 3.75x; goal 2: both >= 5x; goal 3: by FID and by KID):')
for n, g1, g2, g3 in met:
    print(f'  {n}: goal 1 {"yes" if g1 else "no"}, goal 2 {"yes" if g2 else "no"}, goal 3 {"yes" if g3 else "no"}')
