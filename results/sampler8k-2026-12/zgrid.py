"""The z-space screen of results/sampler8k-2026-12 (exploration, run before the plan): 2 and 3 midpoint steps of a
run's latent sampler on uneven time grids, by the Frechet distance of its z to half of the training latents as
benchmarks/latent_fd.py measures it (the same halves, seeds and reference draws; one noise draw shared by every grid),
beside the even grids.

    python results/sampler8k-2026-12/zgrid.py out/zc/ledi      # ~3 min on one core
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
from benchmarks.latent_fd import training_latents  # noqa: E402
from metrics import fid as frechet  # noqa: E402

torch.set_grad_enabled(False)
path = sys.argv[1]
aux, sampler, mu, std = training_latents(path)
half = len(mu) // 2
perm = torch.randperm(len(mu), generator=torch.Generator().manual_seed(0))
A, B = perm[:half], perm[half:2 * half]


def midpoint(x, ts):   # model.solve's midpoint steps, on the grid ts instead of an even one
    for t, t_next in zip(ts[:-1], ts[1:]):
        h = t_next - t
        k = sampler(x, torch.full((x.shape[0],), t))
        x = x + h * sampler(x + h / 2 * k, torch.full((x.shape[0],), t + h / 2))
    return x


grids = {'x2 even': [0, .5, 1], 'x3 even': [0, 1 / 3, 2 / 3, 1], 'x8 even': np.linspace(0, 1, 9).tolist()}
grids.update({f'x2 at {s}': [0, s, 1] for s in (0.2, 0.3, 0.4, 0.6, 0.7, 0.8)})
grids.update({f'x3 at {a}, {b}': [0, a, b, 1] for a, b in ((0.15, 0.4), (0.2, 0.5), (0.3, 0.6), (0.4, 0.7),
                                                            (0.5, 0.8), (0.6, 0.85))})
fds = {}
for r in range(3):   # latent_fd.py's draws: seed 1 + r, the reference, the floor's half A, then the sampler's noise
    g = torch.Generator().manual_seed(1 + r)
    ref = mu[B] + std[B] * torch.randn(mu[B].shape, generator=g, dtype=torch.float64)
    floor = mu[A] + std[A] * torch.randn(mu[A].shape, generator=g, dtype=torch.float64)
    fds.setdefault('floor', []).append(frechet(floor, ref))
    n = torch.randn((half, *aux.z_shape), generator=g)
    for name, ts in grids.items():
        z = torch.cat([midpoint(n[i:i + 512], ts) for i in range(0, half, 512)])
        fds.setdefault(name, []).append(frechet(z.double().flatten(1), ref))
print(f'{path}: FD in z space against half B of the training latents, midpoint steps on a time grid; '
      f'mean +- sd over 3 draws\n\n| grid | FD |\n|---|---|')
for name, v in fds.items():
    print(f'| {name} | {np.mean(v):.2f} +- {np.std(v):.2f} |')
