"""The issue's three goals at the 500 budget, from each evaluation of this folder (<split>_<samples>/results.json)
and from the curve's 400-sample test measurement of the same networks (results/curve-tau0-2026-12/budget_500):
the lower 95% end of LeDiFlow's speedup against the equal-compute baseline (goal: >= 3.75x) and against the
same-iteration one (>= 5x), by FID and by KID, with the share of replicates in which the baseline's target is the
point estimate's; and up to which baseline NFE 1 midpoint flow step beats the equal-compute baseline at 95% (goal: 8).
results/budget4000-1k-2026-12/goals.py prints the same table at 4,000 with `table`.

    python results/budget500-1k-2026-12/goals.py
"""
import json
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, '..', 'budget-curve-2026-12'))
from curve import beats, fmt, goals_met, speedup  # noqa: E402  (the curve's own readers and speedup format)


def table(n, folder):
    """The goals at budget n: the curve's test row, then folder's <split>_<samples> evaluations that exist."""
    curve = os.path.join(here, '..', 'curve-tau0-2026-12', f'budget_{n}', 'results.json')
    evals = [('test, 400 (the curve)', curve)] + [
        (d.replace('_', ', '), os.path.join(folder, d, 'results.json'))
        for d in ('tune_400', 'tune_1000', 'test_1000')
        if os.path.isfile(os.path.join(folder, d, 'results.json'))]
    print('| split, samples | vs equal compute, FID (target kept) | KID | vs same iterations, FID (target kept) | KID | '
          '1 midpoint step beats equal compute up to NFE, FID / KID | goals met (1 / 2 / 3) |')
    print('|---|---|---|---|---|---|---|')
    for name, p in evals:
        r = json.load(open(p))
        e = [speedup(r, f'ledi_{n}', f'fm_eq_{n}', m) for m in ('fid', 'kid')]
        s = [speedup(r, f'ledi_{n}', f'fm_{n}', m) for m in ('fid', 'kid')]
        met = goals_met(r, f'ledi_{n}', n)
        print(f"| {name} | {fmt(e[0])} ({100 * e[0]['target_kept']:.0f}%) | {fmt(e[1])} | "
              f"{fmt(s[0])} ({100 * s[0]['target_kept']:.0f}%) | {fmt(s[1])} | "
              f"{beats(e[0])} / {beats(e[1])} | {' / '.join('yes' if m else 'no' for m in met)} |")


if __name__ == '__main__':
    table(500, here)
