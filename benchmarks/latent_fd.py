"""
How good is a run's latent sampler, on its own? The sampler's only job is to produce z that look like
the encoder's z of real images, so its quality can be measured in z space, in seconds, without the flow
model or an Inception network: the Frechet distance (FD) between the sampler's z and the encoder's
posterior samples z = mu_z + sigma_z * eps of the training images (what the flow model was trained on).

    FD(setting)  the sampler's z at a solver setting against half B of the training images' z
    floor        half A of the training images' z against half B: what two real sets of this size score

A sampler that matches the data distribution scores near the floor. Reported per sampler setting, so it
also shows how many sampler steps a run needs; useful to screen sampler variants before spending
Inception time on them (evaluate.py's 'z from data' row is the same question answered in image space).

    python benchmarks/latent_fd.py out/headline/ledi out/variants/s8k
    python benchmarks/latent_fd.py out/emoji --settings midpoint:1 midpoint:2 --repeats 5
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import model as M  # noqa: E402
from common import die, get_batch, load_aux, load_data, load_stage  # noqa: E402
from metrics import fid as frechet  # noqa: E402  (the Frechet distance of two feature sets [N, D])


@torch.no_grad()
def training_latents(path):
    """A run's aux and latent sampler, and the encoder's posterior (mu_z, sigma_z) of every image the run trained
    on (a run with a holdout never saw the held-out ones), flattened to [N, D] in float64."""
    aux, aux_ck = load_aux(path, 'cpu')
    sampler, _ = load_stage(path, 'sampler.pt', 'latent sampler (stage 3)', 'cpu', aux_ck)
    data = load_data(aux_ck['config']['data'], 0, aux_ck, aux_ck['config'].get('holdout', 0.0))
    mu, std = [], []
    for i in range(0, len(data), 256):
        m, lv = aux.encode(get_batch(data, torch.arange(i, min(i + 256, len(data))), 'cpu'))
        mu.append(m.double().flatten(1))
        std.append(torch.exp(0.5 * lv.double()).flatten(1))
    return aux, sampler, torch.cat(mu), torch.cat(std)


@torch.no_grad()
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('runs', nargs='+', help='run directories with aux.pt and sampler.pt')
    ap.add_argument('--settings', nargs='+', default=['euler:1', 'midpoint:1', 'midpoint:2', 'midpoint:4', 'midpoint:16'])
    ap.add_argument('--repeats', type=int, default=3, help='independent draws per setting (mean and spread)')
    ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args()
    settings = []
    for s in a.settings:
        solver, _, steps = s.partition(':')
        if solver not in M.TABLEAUS or not steps.isdigit() or int(steps) < 1:
            die(f"--settings: '{s}' is not 'solver:steps' with a solver of {', '.join(M.TABLEAUS)}")
        settings.append((solver, int(steps)))
    print(f'FD in z space against half B of the training latents; mean +- sd over {a.repeats} draws\n')
    print('| run | setting | FD | FD / floor |\n|---|---|---|---|')
    for path in a.runs:
        aux, sampler, mu, std = training_latents(path)
        half = len(mu) // 2
        perm = torch.randperm(len(mu), generator=torch.Generator().manual_seed(a.seed))
        A, B = perm[:half], perm[half:2 * half]

        def draw(idx, g):   # posterior samples of the images idx
            return mu[idx] + std[idx] * torch.randn(mu[idx].shape, generator=g, dtype=torch.float64)

        fds = {}
        for r in range(a.repeats):
            g = torch.Generator().manual_seed(a.seed + 1 + r)
            ref = draw(B, g)
            fds.setdefault('floor', []).append(frechet(draw(A, g), ref))
            for solver, steps in settings:
                n = torch.randn((half, *aux.z_shape), generator=g)
                z = torch.cat([M.solve(sampler, n[i:i + 512], steps, solver) for i in range(0, half, 512)])
                fds.setdefault(f'{solver} x{steps}', []).append(frechet(z.double().flatten(1), ref))
        floor = np.mean(fds['floor'])
        for name, v in fds.items():
            print(f'| {path} | {name} | {np.mean(v):.2f} +- {np.std(v):.2f} | {np.mean(v) / floor:.2f} |')


if __name__ == '__main__':
    main()
