"""Print the README's headline tables from results.json next to this file (what `make headline` wrote to
out/headline/eval/results.json), so that every number the README quotes can be traced to it.

    python results/headline-2026-12/table.py
"""
import json
import os

res = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results.json')))
rows, meta = res['rows'], res['meta']
real = lambda label: [r for r in rows if r['label'] == label and r['kind'] in ('sampled z', 'gaussian prior')]
kid = lambda v: f'{1e3 * v:.1f}'


def at_nfe(label, n, m):
    """The best value of metric m among the run's real settings with n flow NFE ('-' if none)."""
    vals = [r[m] for r in real(label) if r['nfe'] == n and r.get('sampler_steps') in (0, None, 2)]
    return '-' if not vals else (f'{min(vals):.1f}' if m == 'fid' else kid(min(vals)))


def speedup(base, m):
    s = next(s for s in res['speedup'] if s['baseline_run'] == base and s['metric'] == m)
    return 'not reached' if s['ratio'] is None else f"{s['ratio']:.2f}x [{s['ci'][0]:.2f}, {s['ci'][1]:.2f}]"


print('| run | method | training min | best FID | best KID x1e3 | FID at 1 / 2 / 4 flow NFE | KID x1e3 at 1 / 2 / 4 '
      '| LeDiFlow faster by FID [95%] | by KID [95%] |')
print('|---|---|---|---|---|---|---|---|---|')
for run in meta['runs']:
    label, mine = run['label'], real(run['label'])
    best = lambda m: min(mine, key=lambda r: r[m])
    bf, bk = best('fid'), best('kid')
    ledi = run['method'].startswith('LeDiFlow')
    print(f"| {label} | {run['method']} | {run['train_seconds'] / 60:.1f} | {bf['fid']:.1f} ({bf['setting']}) | "
          f"{kid(bk['kid'])} ({bk['setting']}) | {' / '.join(at_nfe(label, n, 'fid') for n in (1, 2, 4))} | "
          f"{' / '.join(at_nfe(label, n, 'kid') for n in (1, 2, 4))} | "
          f"{'-' if ledi else speedup(label, 'fid')} | {'-' if ledi else speedup(label, 'kid')} |")

print()
bases = [r['label'] for r in meta['runs'] if not r['method'].startswith('LeDiFlow')]
print('The largest baseline NFE each LeDiFlow setting beats at 95% (by FID / by KID; 0: not even 1 NFE):\n')
print('| LeDiFlow setting | ' + ' | '.join(f'vs {b}' for b in bases) + ' |')
print('|---|' + '---|' * len(bases))
per = {(s['baseline_run'], s['metric']): {e['setting']: e for e in s['per_setting']} for s in res['speedup']}
for name in per[(bases[0], 'fid')]:
    cells = [f"{per[(b, 'fid')][name]['beats_nfe'] or 0} / {per[(b, 'kid')][name]['beats_nfe'] or 0}" for b in bases]
    print(f'| {name} | ' + ' | '.join(cells) + ' |')

if meta.get('holdout'):
    k = len(meta['held_out_indices'])
    print(f"\nMemorisation check, {k} held-out images against {k} training images (held-out images themselves: "
          f"FID {meta['held_out_fid_train']:.1f} and KID x1e3 {kid(meta['held_out_kid_train'])} against the training "
          f"images):\n")
    print('| run | setting | FID vs training / held-out | KID x1e3 vs training / held-out | NN distance / held-out\'s '
          '| closer than held-out 5th pct |')
    print('|---|---|---|---|---|---|')
    for run in meta['runs']:
        r = min(real(run['label']), key=lambda r: r['fid'])
        g = r['memorisation']
        print(f"| {run['label']} | {r['setting']} (its best FID) | {g['fid_train']:.1f} / {g['fid_held']:.1f} | "
              f"{kid(g['kid_train'])} / {kid(g['kid_held'])} | {g['nn_ratio']:.3f} | {100 * g['nn_close']:.1f}% |")
