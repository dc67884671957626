"""The curve over training budget: prints its tables and draws assets/budget_curve.png from the per-budget
results.json files next to this file (budget_<N>/: what `bash benchmarks/budget_curve.sh eval` wrote to
out/curve/eval_<N>/, unchanged), or from other folders laid out the same way, with its figure at PNG. With several
folders, a budget is taken from the first folder that has it (with that folder's ledi_seconds.txt); the table of
clipped steps reads the flow logs (ledi_flow_log.jsonl, fm_flow_log.jsonl) of the last folder given.

    python results/budget-curve-2026-12/curve.py
    python results/budget-curve-2026-12/curve.py results/tuned-baseline-2026-12 assets/budget_curve_tuned.png
    python results/budget-curve-2026-12/curve.py results/schedule-2026-12/test results/ledi-lr6-curve-2026-12 \
        assets/budget_curve_sched.png
    python results/budget-curve-2026-12/curve.py results/curve-euler1-2026-12 results/ledi-lr6-curve-2026-12 \
        assets/budget_curve_e1.png

--ledi=NAME reads the LeDiFlow run labelled NAME_<N> (default ledi: ledi_<N>), for folders that evaluated more
than one LeDiFlow run per budget.
"""
import glob
import json
import os
import re
import sys

kid = lambda v: f'{1e3 * v:.1f}'


def load(folders):
    """{budget: results.json} and {budget: LeDiFlow's training seconds} from these folders, a budget from the first
    folder that has it. The seconds are those the equal-compute baseline was matched to (ledi_seconds.txt, from the
    curve's link step) where the folder has them; budgets without them use the evaluated run's own."""
    res, ledi_seconds = {}, {}
    for d in folders:
        sec = os.path.join(d, 'ledi_seconds.txt')
        sec = dict((int(n), float(t)) for n, t in (line.split() for line in open(sec))) if os.path.isfile(sec) else {}
        for p in glob.glob(os.path.join(d, 'budget_*', 'results.json')):
            n = int(re.search(r'budget_(\d+)', p).group(1))
            if n not in res:
                res[n] = json.load(open(p))
                if n in sec:
                    ledi_seconds[n] = sec[n]
    return res, ledi_seconds


def real(r, label):
    return [x for x in r['rows'] if x['label'] == label and x['kind'] in ('sampled z', 'gaussian prior')]


def run(r, label):
    return next(x for x in r['meta']['runs'] if x['label'] == label)


def iters(r, label):
    return int(re.search(r'flow (\d+) iters', run(r, label)['train']).group(1))


def speedup(r, ledi_run, base, m):
    """evaluate.py's speedup entry of run ledi_run against run base by metric m ('fid' or 'kid')."""
    return next(s for s in r['speedup'] if s['ledi_run'] == ledi_run and s['baseline_run'] == base and s['metric'] == m)


def fmt(s):
    if s['ratio'] is None:
        return 'not reached'
    reached = f", reached in {s['reached']:.0%}" if s['reached'] < 0.975 else ''
    return f"{s['ratio']:.2f}x [{s['ci'][0]:.2f}, {s['ci'][1]:.2f}{reached}]"


def goals_met(r, ledi_run, n):
    """The issue's three goals in results r at budget n, each True or False: the lower 95% ends of ledi_run's speedup
    against fm_eq_<n> at least 3.75x, against fm_<n> at least 5x (each by FID and by KID; 0 where not reached), and
    1 midpoint flow step beating fm_eq_<n> at 95% up to at least 8 NFE (by FID and by KID)."""
    e = [speedup(r, ledi_run, f'fm_eq_{n}', m) for m in ('fid', 'kid')]
    s = [speedup(r, ledi_run, f'fm_{n}', m) for m in ('fid', 'kid')]
    lo = lambda x: x['ci'][0] if x['ratio'] is not None else 0.0
    return [all(lo(x) >= 3.75 for x in e), all(lo(x) >= 5 for x in s), all((beats(x) or 0) >= 8 for x in e)]


def goals_table(n, folder):
    """Print the three goals at budget n as a table: the curve's 400-sample test row (results/curve-tau0-2026-12), then
    each of folder's <split>_<samples>/results.json that exists (tune_400, tune_1000, test_1000): the lower 95% ends
    against equal compute and the same iterations by FID and KID, with the share of replicates whose target is the
    point estimate's, and up to which NFE 1 midpoint step beats the equal-compute baseline at 95%. The looks' goals.py
    (results/budget500-1k-2026-12, budget4000-1k-2026-12, grid4000-2026-12) call it."""
    here = os.path.dirname(os.path.abspath(__file__))
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


def beats(s):
    """Of speedup entry s: up to which baseline NFE 1 midpoint flow step (its better sampler setting) wins at 95%."""
    v = [p['beats_nfe'] or 0 for p in s['per_setting'] if p['setting'].startswith('midpoint x1,')]
    return max(v) if v else None


def by_nfe(rows, nfes):
    """The best FID of rows at each of these NFE ('-' where none has it), joined with ' / '."""
    return ' / '.join(f"{min(x['fid'] for x in rows if x['nfe'] == n):.1f}" if any(x['nfe'] == n for x in rows)
                      else '-' for n in nfes)


def main(args):
    LEDI = next((a.split('=', 1)[1] for a in args if a.startswith('--ledi=')), 'ledi')
    args = [a for a in args if not a.startswith('--ledi=')]
    png = args.pop() if args and args[-1].endswith('.png') else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), '..', '..', 'assets', 'budget_curve.png')
    folders = args or [os.path.dirname(os.path.abspath(__file__))]
    here = folders[-1]   # the folder whose flow logs give the clipping table
    res, ledi_seconds = load(folders)
    budgets = sorted(res)

    def minutes(r, label):
        n = int(label.rsplit('_', 1)[1])
        return (ledi_seconds[n] if label.startswith(LEDI + '_') and n in ledi_seconds
                else run(r, label)['train_seconds']) / 60

    print('| flow iters | LeDiFlow training min | equal-compute FM iters | best FID: LeDiFlow / FM same iters / FM equal '
          'compute | best KID x1e3: same order | LeDiFlow faster than same-iteration FM, by FID | by KID | than '
          'equal-compute FM, by FID | by KID |')
    print('|---|---|---|---|---|---|---|---|---|')
    for n in budgets:
        r = res[n]
        L, S, E = f'{LEDI}_{n}', f'fm_{n}', f'fm_eq_{n}'
        best = lambda label, m: min(x[m] for x in real(r, label))
        print(f"| {n} | {minutes(r, L):.1f} | {iters(r, E)} ({minutes(r, E):.1f} min) | "
              f"{best(L, 'fid'):.1f} / {best(S, 'fid'):.1f} / {best(E, 'fid'):.1f} | "
              f"{kid(best(L, 'kid'))} / {kid(best(S, 'kid'))} / {kid(best(E, 'kid'))} | "
              f"{fmt(speedup(r, L, S, 'fid'))} | {fmt(speedup(r, L, S, 'kid'))} | {fmt(speedup(r, L, E, 'fid'))} | "
              f"{fmt(speedup(r, L, E, 'kid'))} |")

    print('\nThe baseline by NFE (FID at 2 / 4 / 8 / 16 NFE), LeDiFlow by flow NFE with the sampler (FID at 1 / 2 / 4, its best sampler setting; '
          "'-': not in that evaluation's grid) and "
          "with z from data (training images' z: partly the run's own images, not a ceiling), and the memorisation check of LeDiFlow's best setting:\n")
    print('| flow iters | FM same iters | FM equal compute | LeDiFlow 1 / 2 / 4 | z from data 1 / 2 / 4 | LeDiFlow FID vs training '
          '/ held-out | NN distance / held-out\'s |')
    print('|---|---|---|---|---|---|---|')
    for n in budgets:
        r = res[n]
        L = f'{LEDI}_{n}'
        zd = [x for x in r['rows'] if x['label'] == L and x['kind'] == 'z from data']
        b = min(real(r, L), key=lambda x: x['fid'])['memorisation']
        fm = (2, 4, 8, 16)
        print(f"| {n} | {by_nfe(real(r, f'fm_{n}'), fm)} | {by_nfe(real(r, f'fm_eq_{n}'), fm)} | "
              f"{by_nfe(real(r, L), (1, 2, 4))} | {by_nfe(zd, (1, 2, 4))} | "
              f"{b['fid_train']:.1f} / {b['fid_held']:.1f} | "
              f"{b['nn_ratio']:.2f} ({b['nn_close']:.0%} closer than held-out 5th pct) |")

    m0 = res[budgets[0]]['meta']
    print(f"\n{m0['samples']} samples per setting, {m0['ref_samples']} reference images, {m0['bootstrap']} bootstrap "
          f"replicates, {m0['speed_repeats']} timing rounds; split {m0['split']}; {m0['device']}, {m0['dtype']}.")

    print('\nFraction of steps whose gradient grad_clip = 1.0 scaled down (the runs\' flow_log.jsonl, copied here):\n')
    print('| run | iterations 1-100 (warmup) | 101-1000 | 1001-2000 | 2001-3050 |')
    print('|---|---|---|---|---|')
    for name, f in (('LeDiFlow', 'ledi_flow_log.jsonl'), ('FM', 'fm_flow_log.jsonl')):
        log = [json.loads(line) for line in open(os.path.join(here, f))]
        cells = []
        for a, b in ((0, 100), (100, 1000), (1000, 2000), (2000, 3050)):
            c = [x['clipped'] for x in log if a < x['iter'] <= b]   # one row per 100 iterations
            cells.append(f'{sum(c) / len(c):.1%}' if c else '-')
        print(f'| {name} | ' + ' | '.join(cells) + ' |')

    import matplotlib  # only for the figure
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    mins = minutes
    for label, fmtc, name in ((LEDI + '_{}', 'o-', 'LeDiFlow (best setting)'), ('fm_eq_{}', 's-', 'FM, equal compute'),
                              ('fm_{}', '^--', 'FM, same iterations')):
        xs = [mins(res[n], label.format(n)) for n in budgets]
        a1.plot(xs, [min(x['fid'] for x in real(res[n], label.format(n))) for n in budgets], fmtc, label=name)
    zd = [min(x['fid'] for x in res[n]['rows'] if x['label'] == f'{LEDI}_{n}' and x['kind'] == 'z from data') for n in budgets]
    a1.plot([mins(res[n], f'{LEDI}_{n}') for n in budgets], zd, 'o:', color='gray', label='LeDiFlow, z from data')
    a1.set(xscale='log', xlabel='training minutes (2 CPU cores, one thread per run)', ylabel='best FID (lower is better)',
           title='best quality against training compute')
    a1.legend(fontsize=8)
    for base, m, c, name in (('fm_eq_{}', 'fid', 'C1', 'vs equal compute, FID'), ('fm_eq_{}', 'kid', 'C3', 'vs equal compute, KID'),
                             ('fm_{}', 'fid', 'C2', 'vs same iterations, FID'), ('fm_{}', 'kid', 'C4', 'vs same iterations, KID')):
        pts = [(mins(res[n], f'{LEDI}_{n}'), speedup(res[n], f'{LEDI}_{n}', base.format(n), m)) for n in budgets]
        pts = [(x, s) for x, s in pts if s['ratio'] is not None]
        a2.errorbar([x for x, _ in pts], [s['ratio'] for _, s in pts],
                    yerr=[[s['ratio'] - s['ci'][0] for _, s in pts], [s['ci'][1] - s['ratio'] for _, s in pts]],
                    fmt='o-' if 'equal' in name else 'o--', color=c, capsize=3, label=name)
    a2.axhline(3.75, color='gray', ls=':', lw=1, label="the paper's 3.75x")
    a2.axhline(1, color='k', lw=0.5)
    a2.set(xscale='log', xlabel="LeDiFlow's training minutes", ylabel='LeDiFlow faster at matched quality [95%]',
           title='speedup against training compute')
    a2.legend(fontsize=8)
    from matplotlib.ticker import FuncFormatter, ScalarFormatter
    minor = FuncFormatter(lambda v, _: f'{v:g}' if f'{v:g}'[0] in '235' else '')   # 2, 3, 5, 20, ...: no crowding
    for a in (a1, a2):
        a.xaxis.set_major_formatter(ScalarFormatter())
        a.xaxis.set_minor_formatter(minor)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    print(f'wrote {os.path.normpath(png)}')


if __name__ == '__main__':
    main(sys.argv[1:])
