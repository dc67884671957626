"""LeDiFlow's latent sampler + aux decoder in units of one flow evaluation, from run.sh's speed.json files and, for
comparison, the emoji networks' (results/s8k-goal-2026-12/speed_after: float32, batch 64): what that overhead leaves
of a speedup against an 8-NFE baseline setting (8 x the baseline's 1-NFE time over LeDiFlow's 1 Euler flow step).
Usage: python results/paper-speed-cpu-2026-12/overhead.py"""
import glob
import json
import os

here = os.path.dirname(os.path.abspath(__file__))
files = [(os.path.basename(os.path.dirname(f)).rsplit('_', 2), f)
         for f in sorted(glob.glob(os.path.join(here, '*', 'speed.json')))]
files += [(('emoji (s8k-goal speed_after/' + os.path.basename(f)[:-5] + ')', 'float32', 'midpoint2'), f)
          for f in sorted(glob.glob(os.path.join(here, '..', 's8k-goal-2026-12', 'speed_after', 'run*.json')))]
print('| config | dtype | sampler | ms/img: sampler + aux decoder | ms/img: one flow evaluation (FM, euler x1) | '
      'sampler + decoder in flow evaluations | LeDiFlow 1 Euler step in baseline NFE | '
      'its ceiling against an 8-NFE baseline |')
print('|---|---|---|---|---|---|---|---|')
for (cfg, dtype, sampler), f in files:
    rows = json.load(open(f))['rows']
    ledi = next(r for r in rows if r['method'] == 'LeDiFlow' and r['solver'] == 'euler' and r['steps'] == 1)
    fm = next(r for r in rows if r['method'] == 'FM' and r['solver'] == 'euler' and r['steps'] == 1)
    extra = ledi['ms_sampler'] + ledi['ms_decoder']
    nfe = ledi['ms_per_img'] / fm['ms_per_img']
    digits = 2 if extra < 10 else 0
    print(f"| {cfg} | {dtype} | {sampler.replace('midpoint', 'midpoint x')} | {extra:.{digits}f} | "
          f"{fm['ms_flow']:.{digits}f} | {extra / fm['ms_flow']:.2f} | {nfe:.2f} | {8 / nfe:.1f}x |")
