"""The latent sampler judged in z space, without any image network: the 64-dimensional Frechet distance and the
median nearest-neighbour distance of sampled z to the training latents, beside those of the held-out images'
latents (what an unseen image's z looks like). Seconds on a CPU; a screen, not a result (the rules use FID).

    python results/sampler-tune-2026-12/zspace.py RUN_DIR [RUN_DIR ...]    # from the repo root; each has aux.pt
                                                                            # and sampler.pt, all the same aux.pt
The latents: one posterior sample z = mu_z + sigma_z * eps of every training image and of its mirror image (what
train_sampler.py trains on), and likewise of the held-out images (config/emoji.py's holdout); sampled z: four per
held-out latent, from fixed noise, with 2 and 8 midpoint steps.
"""
import os
import sys

import torch

sys.path.insert(0, os.getcwd())
import model as M
from common import data_split, get_batch, load_aux, load_data, load_stage
from configurator import configure

torch.set_grad_enabled(False)
cfg = configure(['config/emoji.py'])
runs = sys.argv[1:]
aux, aux_ck = load_aux(runs[0], 'cpu')


def posterior_samples(images):
    out = []
    for mirror in (False, True):
        for i in range(0, len(images), 256):
            y = get_batch(images, torch.arange(i, min(i + 256, len(images))), 'cpu')
            mu, logvar = aux.encode(y.flip(-1) if mirror else y)
            out.append(mu + torch.exp(0.5 * logvar) * torch.randn_like(mu))
    return torch.cat(out).flatten(1).double()


def frechet(a, b):
    ca, cb = torch.cov(a.T), torch.cov(b.T)
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + ca.trace() + cb.trace()
                 - 2 * torch.linalg.eigvals(ca @ cb).real.clamp(min=0).sqrt().sum())


def nn_median(a, b):
    return float(torch.cdist(a, b).min(1).values.median())


torch.manual_seed(0)
everything = load_data(cfg['data'], cfg['image_size'])
train = posterior_samples(load_data(cfg['data'], cfg['image_size'], aux_ck, cfg['holdout']))
held = posterior_samples(everything[data_split(len(everything), cfg['holdout'])[1].numpy()])
print(f'{len(train)} training z, {len(held)} held-out z: held-out Frechet {frechet(held, train):.3f}, '
      f'nearest-neighbour median {nn_median(held, train):.3f}')
noise = torch.randn(4 * len(held), *aux.z_shape, generator=torch.Generator().manual_seed(1))
for run in runs:
    sampler, ck = load_stage(run, 'sampler.pt', 'latent sampler', 'cpu', aux_ck)
    for steps in (2, 8):
        z = torch.cat([M.solve(sampler, noise[i:i + 512], steps, 'midpoint') for i in range(0, len(noise), 512)])
        z = z.flatten(1).double()
        print(f'{run} ({ck["iter"]} it.) midpoint x{steps}: Frechet {frechet(z, train):.3f}, '
              f'nearest-neighbour median {nn_median(z[:len(held)], train):.3f}')
