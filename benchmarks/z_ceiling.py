"""
What does LeDiFlow's latent sampler cost, honestly? evaluate.py's 'z from data' row runs the flow model on z
encoded from *training* images: the aux and flow models trained on exactly those images, so that row is partly
the run reconstructing images it has seen, and a sampler that reached it would be one that copies the training
latents. The ceiling a sampler may honestly aim at is z encoded from images no stage trained on. This script
puts the two side by side, at equal set sizes (FID depends on the number of images), against the evaluation
split's reference images, with the run's own sampler beside them:

    real, held-out        n held-out images themselves (no model: what unseen real images score)
    real, training        n training images outside the reference set (the same, for images the run has seen)
    z from training       the flow model on z = E(y) of those n training images
    z from held-out       the flow model on z = E(y) of the n held-out images: the honest ceiling
    sampled z             the flow model on the latent sampler's z (n samples)
    baseline              optionally (--baseline), a gaussian-prior run at a few settings, for scale

n is the number of held-out images in the split's half (needs a run trained with a holdout). 95% intervals from
the bootstrap: one reference resample shared by all sets in a replicate, each set resampled on its own (the sets
hold different images, so nothing is paired); then the differences 'z from held-out - z from training' (how much
of the 'z from data' row is the run's own training images) and 'sampled z - z from held-out' (what the sampler
costs against the honest ceiling). NN ratio: each set's median Inception distance to its nearest training image
over the held-out images' own (below 1: closer to the training set than unseen images are). MSE to its image: for
the z-from-data rows, the mean squared error between each output and the image its z was encoded from, and the same
for the aux's prior mean D(z) (one line below the table): where the training and held-out MSEs part, that stage has
learned its training images rather than the map from z to an image.

    python benchmarks/z_ceiling.py out/curve_lr6/ledi_2000 --eval_dir=out/sampler_tune/eval
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import metrics  # noqa: E402
import model as M  # noqa: E402
from common import die, get_batch, load_data, load_run  # noqa: E402
from evaluate import (cache_key, inception_features, inception_path, parse_setting, quantize,  # noqa: E402
                      reference_features, split_indices, TEST_SEED_OFFSET)


@torch.no_grad()
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('run', help='a LeDiFlow run directory (aux.pt, flow.pt, sampler.pt) trained with a holdout')
    ap.add_argument('--eval_dir', default='out/z_ceiling', help="feature cache (evaluate.py's eval_dir reuses its own)")
    ap.add_argument('--split', default='tune', choices=['tune', 'test'])
    ap.add_argument('--ref_samples', type=int, default=1000)
    ap.add_argument('--flow', nargs='+', default=['midpoint:1', 'midpoint:2'], help='flow solver:steps settings')
    ap.add_argument('--sampler', default='midpoint:8', help='the latent sampler solver:steps')
    ap.add_argument('--baseline', default='', help='a gaussian-prior run to show beside them (e.g. the equal-compute one)')
    ap.add_argument('--baseline_settings', nargs='+', default=['midpoint:4', 'midpoint:8'])
    ap.add_argument('--bootstrap', type=int, default=1000)
    ap.add_argument('--seed', type=int, default=1337)
    ap.add_argument('--inception', default='', help="a TorchScript FID Inception network (default: evaluate.py's)")
    ap.add_argument('--out', default='', help='also write the numbers to this JSON file')
    a = ap.parse_args()
    flow_settings = [parse_setting(s, '--flow') for s in a.flow]
    sampler_setting = parse_setting(a.sampler, '--sampler')
    flow, aux, sampler, flow_ck = load_run(a.run, 'cpu')
    if aux is None:
        die(f'{a.run} is a gaussian-prior baseline: it has no z to compare')
    cfg = flow_ck['config']
    if not cfg.get('holdout', 0.0):
        die(f'{a.run} was trained without a holdout: there are no unseen images to encode')
    data_arr = load_data(cfg['data'])
    ref_idx, others, held_idx = split_indices(len(data_arr), a.split, a.ref_samples, cfg['holdout'])
    n = len(held_idx)
    inc_path = inception_path(a.inception)
    net = torch.jit.load(inc_path, map_location='cpu').eval()
    os.makedirs(a.eval_dir, exist_ok=True)
    _, key = cache_key(cfg['data'], data_arr, ref_idx, inc_path, '')
    ref = reference_features(data_arr, ref_idx, net, None, os.path.join(a.eval_dir, f'ref_{key}.pt'))
    rest = reference_features(data_arr, others, net, None, os.path.join(a.eval_dir, f'rest_{key}.pt')).inception
    held = reference_features(data_arr, held_idx, net, None, os.path.join(a.eval_dir, f'held_{key}.pt')).inception
    mem = metrics.Memorisation(train=torch.cat([ref.inception, rest]), held=held, ref_small=ref.inception[:n])
    g = torch.Generator().manual_seed(a.seed + (TEST_SEED_OFFSET if a.split == 'test' else 0))
    y_train, y_held = get_batch(data_arr, others[:n], 'cpu'), get_batch(data_arr, held_idx, 'cpu')
    z_sampled = M.solve(sampler, torch.randn(n, *aux.z_shape, generator=g), sampler_setting[1], sampler_setting[0])
    z_of = lambda y: aux.posterior(y, torch.randn(n, *aux.z_shape, generator=g))[0]
    zs = {'z from training': z_of(y_train), 'z from held-out': z_of(y_held), 'sampled z': z_sampled}

    sets = {'real, held-out': held, 'real, training': rest[:n]}
    # how far each z-from-data image lies from the image its z was encoded from (mean squared error in the data's
    # [-1, 1] units): the aux's prior mean D(z), then the flow's output. Equal on training and held-out images means
    # that stage does as well on images it never saw; lower on training images means it learned those images
    source = {'z from training': y_train, 'z from held-out': y_held}
    mse = {k: float(((aux.decode(zs[k])[0].float() - y) ** 2).mean()) for k, y in source.items()}
    eps_seed = int(torch.randint(2 ** 31, (1,), generator=g))
    for solver, steps in flow_settings:
        for name, z in tqdm(zs.items(), desc=f'flow {solver} x{steps}'):
            # the same prior noise for every z source: the sets differ only in where z comes from
            x = M.generate(flow, aux, n=n, steps=steps, solver=solver, tau=cfg.get('tau', 1.0), z=z,
                           generator=torch.Generator().manual_seed(eps_seed))
            sets[f'{name}, flow {solver} x{steps}'] = inception_features(net, quantize(x))
            if name in source:
                mse[f'{name}, flow {solver} x{steps}'] = float(((x.float() - source[name]) ** 2).mean())

    if a.baseline:
        base, base_aux, _, _ = load_run(a.baseline, 'cpu')
        if base_aux is not None:
            die(f'--baseline {a.baseline} is a LeDiFlow run, not a gaussian-prior one')
        for solver, steps in (parse_setting(s, '--baseline_settings') for s in a.baseline_settings):
            x = M.generate(base, n=n, steps=steps, solver=solver, shape=(3, *data_arr.shape[1:3]),
                           generator=torch.Generator().manual_seed(eps_seed))
            sets[f'baseline {os.path.basename(os.path.normpath(a.baseline))}, {solver} x{steps}'] = \
                inception_features(net, quantize(x))

    feats = {k: metrics.Features.against(v, ref) for k, v in sets.items()}
    names = list(feats)
    est = {k: metrics.quality(f, ref, metrics.ones(f.inception), metrics.ones(ref.inception), ['fid', 'kid'])
           for k, f in feats.items()}
    reps = {m: np.zeros((a.bootstrap, len(names))) for m in ('fid', 'kid')}
    gb, m_ref = torch.Generator().manual_seed(a.seed + 12345), len(ref.inception)
    for b in tqdm(range(a.bootstrap), desc='bootstrap'):
        d = torch.bincount(torch.randint(m_ref, (m_ref,), generator=gb), minlength=m_ref).double()
        for j, k in enumerate(names):
            c = torch.bincount(torch.randint(n, (n,), generator=gb), minlength=n).double()
            for m, v in metrics.quality(feats[k], ref, c, d, ['fid', 'kid']).items():
                reps[m][b, j] = v
    for m in reps:
        reps[m] = metrics.recentre(reps[m], [est[k][m] for k in names])

    def ci(m, j, i=None):   # interval of set j's metric, or of set j minus set i
        r = reps[m][:, j] - (0 if i is None else reps[m][:, i])
        lo, hi = np.percentile(r, [2.5, 97.5])
        return [float(lo), float(hi)]

    out = dict(run=a.run, baseline=a.baseline or None, split=a.split, n=n, ref_samples=m_ref, bootstrap=a.bootstrap, seed=a.seed,
               sampler=a.sampler, rows=[], differences=[],
               prior_mean_mse={k: mse[k] for k in source})
    print(f'\n{a.run}, {a.split} split: {n} images per set against {m_ref} reference images, {a.bootstrap} '
          f'replicates\n\n| set | FID [95%] | KID x1e3 [95%] | NN ratio | MSE to its image |\n|---|---|---|---|---|')
    for j, k in enumerate(names):
        nn = mem.check(sets[k])['nn_ratio']   # the memorisation check's own ratio (evaluate.py's)
        row = dict(set=k, fid=est[k]['fid'], fid_ci=ci('fid', j), kid=est[k]['kid'], kid_ci=ci('kid', j), nn_ratio=nn,
                   mse=mse.get(k))
        out['rows'].append(row)
        print(f"| {k} | {row['fid']:.1f} [{row['fid_ci'][0]:.1f}, {row['fid_ci'][1]:.1f}] | {1e3 * row['kid']:.1f} "
              f"[{1e3 * row['kid_ci'][0]:.1f}, {1e3 * row['kid_ci'][1]:.1f}] | {nn:.3f} | "
              f"{'' if row['mse'] is None else format(row['mse'], '.4f')} |")
    print(f"\nThe aux's prior mean D(z) against the image z came from, MSE: training {mse['z from training']:.4f}, "
          f"held-out {mse['z from held-out']:.4f}")
    print('\n| difference | FID [95%] | KID x1e3 [95%] |\n|---|---|---|')
    pairs = [('real, held-out', 'real, training')]
    for solver, steps in flow_settings:
        f = f', flow {solver} x{steps}'
        pairs += [('z from held-out' + f, 'z from training' + f), ('sampled z' + f, 'z from held-out' + f)]
    for p, q in pairs:
        j, i = names.index(p), names.index(q)
        row = dict(a=p, b=q, fid=est[p]['fid'] - est[q]['fid'], fid_ci=ci('fid', j, i),
                   kid=est[p]['kid'] - est[q]['kid'], kid_ci=ci('kid', j, i))
        out['differences'].append(row)
        print(f"| {p} - {q} | {row['fid']:+.1f} [{row['fid_ci'][0]:+.1f}, {row['fid_ci'][1]:+.1f}] | "
              f"{1e3 * row['kid']:+.1f} [{1e3 * row['kid_ci'][0]:+.1f}, {1e3 * row['kid_ci'][1]:+.1f}] |")
    if a.out:
        with open(a.out, 'w') as fh:
            json.dump(out, fh, indent=1)


if __name__ == '__main__':
    main()
