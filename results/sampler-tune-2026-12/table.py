"""The latent sampler at equal training time on the tune split: prints its table from results.json (what
evaluate.py wrote, unchanged) and the samplers' training logs (logs/; base.log: the sampler's part of
results/tuned-baseline-2026-12/ledi_train.log).

    python results/sampler-tune-2026-12/table.py
"""
import json
import os
import re

here = os.path.dirname(os.path.abspath(__file__))
change = {'base': "none (config/emoji.py's sampler: width 256, batch 128, lr 3e-4)", 'lr_6e-4': 'lr 6e-4',
          'b512_lr_6e-4': 'batch 512, lr 6e-4', 'w128': 'width 128',
          'w128_b512_lr_6e-4': 'width 128, batch 512, lr 6e-4'}
r = json.load(open(os.path.join(here, 'results.json')))
m = r['meta']
print(f"split {m['split']}, {m['samples']} samples per setting, {m['bootstrap']} bootstrap replicates; flow midpoint x1 "
      f"(2 NFE) throughout\n")
print('| run | change from the base | sampler iters (s, M params) | FID, sampler midpoint x2 / x4 / x8 | '
      'best FID [95%] | best KID x1e3 [95%] | ms/img at sampler x2 / x8 (sampler part) |')
print('|---|---|---|---|---|---|---|')
for run in m['runs']:
    label = run['label']
    rows = {x['sampler_steps']: x for x in r['rows'] if x['label'] == label and x['kind'] == 'sampled z'}
    bf, bk = min(rows.values(), key=lambda x: x['fid']), min(rows.values(), key=lambda x: x['kid'])
    log = [json.loads(line) for line in open(os.path.join(here, 'logs', f'{label}.jsonl'))]
    params = re.search(r'latent sampler: ([\d.]+)M parameters', open(os.path.join(here, 'logs', f'{label}.log')).read())
    fids = ' / '.join(f"{rows[s]['fid']:.1f}" for s in (2, 4, 8))
    iters = re.search(r'sampler (\d+) iters', run['train']).group(1)
    print(f"| {label} | {change[label]} | {iters} ({log[-1]['wall_s']:.0f}, {params.group(1)}) | "
          f"{fids} | "
          f"{bf['fid']:.1f} [{bf['fid_ci'][0]:.1f}, {bf['fid_ci'][1]:.1f}] (x{bf['sampler_steps']}) | "
          f"{1e3 * bk['kid']:.1f} [{1e3 * bk['kid_ci'][0]:.1f}, {1e3 * bk['kid_ci'][1]:.1f}] (x{bk['sampler_steps']}) | "
          f"{rows[2]['ms_model']:.2f} / {rows[8]['ms_model']:.2f} ({rows[2]['ms_sampler']:.2f} / {rows[8]['ms_sampler']:.2f}) |")
z = next(x for x in r['rows'] if x['kind'] == 'z from data')
print(f"\nz from data (the same aux and flow, every run): FID {z['fid']:.1f} [{z['fid_ci'][0]:.1f}, {z['fid_ci'][1]:.1f}], "
      f"KID x1e3 {1e3 * z['kid']:.1f}")
