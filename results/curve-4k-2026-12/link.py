"""Run directories for the curve's 4,000-iteration budget (docs/experiments.md, "4,000 flow iterations"):
out/curve4k/{ledi,fm,fm_eq}_4000, and LeDiFlow's seconds the equal-compute baseline is matched to.

    python results/curve-4k-2026-12/link.py
"""
import glob
import os

import torch

O = 'out/curve4k'
secs = lambda p: torch.load(p, weights_only=True)['train_seconds']
curve = {int(n): float(t) for n, t in (l.split() for l in open('out/curve_lr6/ledi_seconds.txt'))}
rate = (curve[2000] - curve[1000]) / 1000                       # the curve's flow seconds per iteration, 1,000-2,000
measured = secs(f'{O}/ledi6/flow_004000.pt') - secs('out/curve_lr6/ledi6/flow_002000.pt')   # the resumed segment
t = curve[2000] + max(measured, rate * 2000)
fm = sorted(glob.glob(f'{O}/fm/flow_0*.pt'))
eq = next(p for p in fm if secs(p) >= t)
for d, files in (('ledi_4000', {'flow.pt': f'{O}/ledi6/flow_004000.pt', 'aux.pt': f'{O}/ledi6/aux.pt',
                                'sampler.pt': f'{O}/ledi6/sampler.pt'}),
                 ('fm_4000', {'flow.pt': f'{O}/fm/flow_004000.pt'}), ('fm_eq_4000', {'flow.pt': eq})):
    os.makedirs(f'{O}/{d}', exist_ok=True)
    for name, target in files.items():
        if os.path.lexists(f'{O}/{d}/{name}'):
            os.remove(f'{O}/{d}/{name}')
        os.symlink(os.path.realpath(target), f'{O}/{d}/{name}')
open(f'{O}/ledi_seconds.txt', 'w').write(f'4000 {t}\n')
print(f'resumed segment measured {measured:.1f} s, at the curve rate {rate * 2000:.1f} s; LeDiFlow at 4000: {t:.1f} s; '
      f'equal compute: {os.path.basename(eq)} ({secs(eq):.1f} s)')
