"""
Generate images with trained LeDiFlow checkpoints (or the Gaussian-prior FM baseline):

    z  = solve(S, n ~ N(0, I))         latent sampler, sampler_steps x sampler_solver
    mu_x, logvar_x = D(z)              the learned prior
    x0 = mu_x + tau * sigma * eps      a sample of it
    x1 = solve(F(., ., z), x0)         the flow, steps x solver: 1 step already works

    python sample.py                                   # out/emoji (the demo), 1 midpoint step
    python sample.py --steps=4 --solver=heun3 --num_samples=256 --out_dir=out/ffhq --seed=7
    python sample.py --out_dir=out/emoji-fm --steps=16 # the baseline (its flow.pt has prior='gaussian')

Loads the EMA weights of out_dir/{aux,flow,sampler}.pt (refusing a flow model or sampler that was
trained against another aux checkpoint), writes a PNG grid (--output, default
out_dir/samples_<solver><steps>.png) and prints solver, steps, NFE and ms per image.
"""
import os
import time

import torch
from tqdm import tqdm

import model as M
from common import autocast, die, load_aux, load_checkpoint, load_stage, save_grid
from configurator import configure

cfg = configure()
device, dtype, out_dir, seed = cfg['device'], cfg['dtype'], cfg['out_dir'], cfg['seed']
steps, solver, tau = cfg['steps'], cfg['solver'], cfg['tau']
sampler_steps, sampler_solver = cfg['sampler_steps'], cfg['sampler_solver']
num_samples, sample_batch_size = cfg['num_samples'], cfg['sample_batch_size']
if solver not in M.TABLEAUS or sampler_solver not in M.TABLEAUS:
    die(f"unknown solver '{solver if solver not in M.TABLEAUS else sampler_solver}'; choose one of {', '.join(M.TABLEAUS)}")
if steps < 1 or sampler_steps < 1 or num_samples < 1:
    die('steps, sampler_steps and num_samples must be >= 1')
if device == 'auto':
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
if device.startswith('cuda') and not torch.cuda.is_available():
    die(f"device '{device}' requested but CUDA is not available; use --device=cpu")
ctx = autocast(device, dtype)

flow_ck = load_checkpoint(os.path.join(out_dir, 'flow.pt'), 'flow model (stage 2)')
learned = flow_ck['model_args']['z_shape'] is not None
aux = sampler = aux_ck = None
if learned:
    aux, aux_ck = load_aux(out_dir, device)
    sampler, _ = load_stage(out_dir, 'sampler.pt', 'latent sampler (stage 3)', device, aux_ck, cfg['allow_mismatch'])
flow, _ = load_stage(out_dir, 'flow.pt', 'flow model (stage 2)', device, aux_ck, cfg['allow_mismatch'])
shape = (flow_ck['model_args']['channels'], *flow_ck['model_args']['image_size'])

g = torch.Generator().manual_seed(seed)
images, t_total = [], 0.0
for i in tqdm(range(0, num_samples, sample_batch_size), desc='sample', disable=num_samples <= sample_batch_size):
    n = min(sample_batch_size, num_samples - i)
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    with ctx:
        x = M.generate(flow, aux, sampler, n, steps, solver, sampler_steps, sampler_solver, tau, generator=g, shape=shape)
    if device.startswith('cuda'):
        torch.cuda.synchronize()
    t_total += time.perf_counter() - t0
    images.append(x.float().cpu())
images = torch.cat(images)

output = cfg['output'] or os.path.join(out_dir, f'samples_{solver}{steps}.png')
save_grid(images, output, nrow=int(len(images) ** 0.5 + 0.999))
method = 'LeDiFlow' if learned else 'FM baseline (gaussian prior)'
extra = f' + latent sampler {sampler_steps} x {sampler_solver} (NFE {M.nfe(sampler_solver, sampler_steps)})' if learned else ''
print(f'{method}: solver {solver}, steps {steps}, NFE {M.nfe(solver, steps)}{extra}; '
      f'{1000 * t_total / num_samples:.1f} ms/img ({num_samples} images, batch {sample_batch_size}, {device}, '
      f"{'float32' if device == 'cpu' else dtype}, first batch included)")
print(f'wrote {output}')
