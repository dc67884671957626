"""The FM baseline's own sweep on the tune split: prints its table from the results.json files next to this file
(iters_<N>/: what `bash benchmarks/baseline_sweep.sh eval` wrote, unchanged) and the runs' training logs (logs/).

    python results/baseline-sweep-2026-12/table.py
"""
import glob
import json
import os
import re

here = os.path.dirname(os.path.abspath(__file__))
change = {'base': 'none (lr 3e-4, EMA 0.995, warmup 100, grad_clip 1.0, logit-normal t, patch 4)',
          'lr_1.5e-4': 'lr 1.5e-4', 'lr_6e-4': 'lr 6e-4', 'ema_0.999': 'EMA decay 0.999', 'clip_off': 'grad_clip off',
          'warmup_20': 'warmup 20', 't_uniform': 'uniform t', 'patch_2': "patch 2 (base's training time)"}


def clipped(name):
    """The fraction of clipped steps in iterations 1-100 / 101-1000 / 1001-2000, from the run's log."""
    if name == 'clip_off':
        return 'never (clipping off)'
    log = [json.loads(line) for line in open(os.path.join(here, 'logs', f'{name}.jsonl'))]
    parts = []
    for lo, hi in ((0, 100), (100, 1000), (1000, 2000)):
        rows = [r for r in log if lo < r['iter'] <= hi]
        if rows:   # log rows every 100 iterations, each the mean over its 100
            parts.append(f"{100 * sum(r['clipped'] for r in rows) / len(rows):.1f}%")
    return ' / '.join(parts)


def table(path):
    r = json.load(open(path))
    m = r['meta']
    print(f"\n{os.path.relpath(path, here)}: split {m['split']}, {m['samples']} samples per setting, "
          f"{m['bootstrap']} bootstrap replicates\n")
    print('| run | change from the base | flow iters (training min) | clipped steps: it. 1-100 / 101-1000 / '
          '1001-2000 | FID midpoint x2 / x4 / x8 (4 / 8 / 16 NFE) | best FID [95%] | best KID x1e3 [95%] |')
    print('|---|---|---|---|---|---|---|')
    for run in m['runs']:
        label = run['label']
        rows = [x for x in r['rows'] if x['label'] == label and x['kind'] == 'gaussian prior']
        fid = {x['steps']: x['fid'] for x in rows if x['solver'] == 'midpoint'}
        bf, bk = min(rows, key=lambda x: x['fid']), min(rows, key=lambda x: x['kid'])
        iters = re.search(r'flow (\d+) iters', run['train']).group(1)
        print(f"| {label} | {change.get(label, '?')} | {iters} ({run['train_seconds'] / 60:.1f}) | {clipped(label)} | "
              f"{' / '.join(f'{fid[s]:.1f}' for s in (2, 4, 8))} | "
              f"{bf['fid']:.1f} [{bf['fid_ci'][0]:.1f}, {bf['fid_ci'][1]:.1f}] ({bf['setting']}) | "
              f"{1e3 * bk['kid']:.1f} [{1e3 * bk['kid_ci'][0]:.1f}, {1e3 * bk['kid_ci'][1]:.1f}] ({bk['setting']}) |")


for p in sorted(glob.glob(os.path.join(here, 'iters_*', 'results.json')), reverse=True):
    table(p)
