"""The numbers docs/experiments.md quotes from this folder ("What the sampler costs at tau 0, at 8,000 iterations"):

    python results/zc-tau0-2026-12/read.py

1. tune_8000_t1 against results/z-ceiling-2026-12/tune_8000_w (same command, the curve's networks trained again):
   how many rows and differences agree to the last digit.
2. at tau 0 and 1 Euler flow step: z from unseen images, the sampler's z at 8 and at 2 midpoint steps, and the
   equal-compute baseline at 8 NFE (midpoint x4), FID and KID x1e3 [95%]; then sampled z - unseen z.
"""
import json
import os

here = os.path.dirname(os.path.abspath(__file__))
load = lambda p: json.load(open(p))
t1, ref = load(os.path.join(here, 'tune_8000_t1.json')), load(os.path.join(here, '../z-ceiling-2026-12/tune_8000_w.json'))
key = lambda r: {k: r[k] for k in r if k not in ('set', 'a', 'b')}
same = sum(key(a) == key(b) for a, b in zip(t1['rows'], ref['rows'])) + \
    sum(key(a) == key(b) for a, b in zip(t1['differences'], ref['differences']))
print(f'tau 1 check: {same} of {len(ref["rows"]) + len(ref["differences"])} rows and differences identical to '
      f'results/z-ceiling-2026-12/tune_8000_w ({len(t1["rows"])} rows here)\n')


def cell(r, m):   # 'value [lo, hi]', KID in units of 1e-3
    k = 1e3 if m == 'kid' else 1
    return f'{r[m] * k:.1f} [{r[m + "_ci"][0] * k:.1f}, {r[m + "_ci"][1] * k:.1f}]'


t0 = {s: load(os.path.join(here, f'tune_8000_t0_s{s}.json')) for s in (8, 2)}   # the sampler at 8 and 2 steps
print('| tau 0, flow euler x1 | FID [95%] | KID x1e3 [95%] | NN ratio |\n|---|---|---|---|')
for s in (8, 2):
    d = t0[s]
    rows = {r['set']: r for r in d['rows']}
    names = ['z from training, flow euler x1', 'z from held-out, flow euler x1'] if s == 8 else []
    names += ['sampled z, flow euler x1'] + ([r for r in rows if r.startswith('baseline') and 'x4' in r] if s == 8 else [])
    for n in names:
        label = f'{n} (sampler midpoint x{s})' if n.startswith('sampled') else n
        print(f'| {label} | {cell(rows[n], "fid")} | {cell(rows[n], "kid")} | {rows[n]["nn_ratio"]:.2f} |')
print('\n| tau 0, flow euler x1: difference | FID [95%] | KID x1e3 [95%] |\n|---|---|---|')
for s in (8, 2):
    d = t0[s]
    for r in d['differences']:
        if r['a'] == 'sampled z, flow euler x1':
            print(f'| sampled z (sampler midpoint x{s}) - z from held-out | {cell(r, "fid")} | {cell(r, "kid")} |')
        if s == 8 and r['a'] == 'z from held-out, flow euler x1':
            print(f'| z from held-out - z from training | {cell(r, "fid")} | {cell(r, "kid")} |')
