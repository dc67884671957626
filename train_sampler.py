"""
Stage 3: train the latent sampler S, plain flow matching (Eq. 2) from N(0, I) to the aux encoder's
latents z of the training images. At generation it maps noise to a new z (4 midpoint steps).

    python train_sampler.py config/emoji.py                                # needs out_dir/aux.pt
    torchrun --nproc_per_node=2 train_sampler.py config/ffhq.py

The frozen encoder's (mu_z, logvar_z) of every training image are computed once at start-up;
each iteration draws fresh z = mu_z + sigma_z * eps from them. Writes out_dir/sampler.pt and
out_dir/sampler_<iter>.png (prior means mu_x = D(z) of generated z).
Settings: config/defaults.py (shared ones and the sampler block).
"""
import copy
import os
import time

import torch
from tqdm import tqdm

import model as M
from common import (autocast, aux_ref, build, check_ranks_in_sync, count_params, data_meta, destroy_distributed, die,
                    ema_update, get_batch, init_distributed, init_state, iteration_rng, load_aux, load_data, lr_at,
                    micro_batch_size, no_sync, optimizer_step, pixel_view, save_checkpoint, save_grid, wrap)
from configurator import configure

cfg = configure()
globals().update(cfg)  # flat globals, nanoGPT style: every key of config/defaults.py is a variable
batch_size = batch_size or sampler_batch_size
max_iters = max_iters or sampler_max_iters

rank, world, device, master = init_distributed(device)
micro_batch = micro_batch_size(batch_size, world, gradient_accumulation_steps)
torch.manual_seed(seed)
ctx = autocast(device, dtype)
ckpt_path = os.path.join(out_dir, 'sampler.pt')
aux, aux_ck = load_aux(out_dir, device)
dataset = load_data(data, image_size, aux_ck)
latent = data_meta(data)  # None for pixels; the VAE and scale in latent mode
to_pixels = pixel_view(latent, device)  # grids: the VAE decodes latents in latent mode
N = len(dataset)

# the training targets: the frozen encoder's posterior of every image (on every rank, once)
mu_all, std_all = [], []
with torch.no_grad():
    for i in tqdm(range(0, N, 256), desc='encode latents', disable=not master):
        with ctx:
            mu_z, logvar_z = aux.encode(get_batch(dataset, torch.arange(i, min(i + 256, N)), device))
        mu_all.append(mu_z.float())
        std_all.append(torch.exp(0.5 * logvar_z.float()))
mu_all, std_all = torch.cat(mu_all), torch.cat(std_all)

# -----------------------------------------------------------------------------
# model, optimizer, resume
model_args = dict(channels=aux.z_shape[0], image_size=list(aux.z_shape[1:]), patch=1, widths=sampler_widths,
                  depths=sampler_depths, d_head=sampler_d_head, ff_mult=sampler_ff_mult, kernel=None,
                  mapping_width=sampler_mapping_width, mapping_depth=sampler_mapping_depth, z_shape=None)
if len(sampler_widths) != 1:
    die(f'the latent sampler has one level of global attention: sampler_widths must have one entry, got {sampler_widths}')
model = build(M.HDiT, model_args).to(device)  # on the device before the optimizer sees it
ema = copy.deepcopy(model).requires_grad_(False)
optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=betas, weight_decay=weight_decay)
ck = init_state(init_from, ckpt_path, 'latent sampler', model_args, model, ema, optimizer, aux_ck)
it = ck['iter'] if ck else 0
if master:
    print(f'latent sampler: {count_params(model) / 1e6:.2f}M parameters, z {list(aux.z_shape)}, {N} latents, '
          f'batch {batch_size} on {world} x {device}, from iteration {it}')
raw = model
model = wrap(raw, compile, world, device)


def checkpoint():
    save_checkpoint({'stage': 'sampler', 'model_args': model_args, 'config': cfg, 'model': raw.state_dict(),
                     'ema': ema.state_dict(), 'optimizer': optimizer.state_dict(), 'iter': it, 'latent': latent,
                     'aux_ref': aux_ref(aux_ck)}, ckpt_path)


@torch.no_grad()
def sample_grid():
    n = torch.randn((64, *aux.z_shape), generator=torch.Generator().manual_seed(seed)).to(device)
    with ctx:
        z = M.solve(ema, n, sampler_steps, sampler_solver)
        mu_x, _ = aux.decode(z)
    return save_grid(to_pixels(mu_x.float()), f'{out_dir}/sampler_{it:06d}.png', 8)


# -----------------------------------------------------------------------------
# training loop
t_start = t_log = time.time()
it_log = it
skipped = 0  # batches skipped for a non-finite loss (skip_nonfinite)
while it < max_iters:
    lr_now = lr_at(it, lr, warmup_iters, max_iters, decay_lr, min_lr)
    for group in optimizer.param_groups:
        group['lr'] = lr_now
    g_cpu, g_dev = iteration_rng(seed, it, rank, device)
    for micro_step in range(gradient_accumulation_steps):
        idx = torch.randint(N, (micro_batch,), generator=g_cpu).to(device)
        z = mu_all[idx] + std_all[idx] * torch.randn(mu_all[idx].shape, generator=g_dev, device=device)
        noise = torch.randn(z.shape, generator=g_dev, device=device)
        t = torch.rand(micro_batch, generator=g_dev, device=device)
        tb = t.view(-1, 1, 1, 1)
        z_t = (1 - tb) * noise + tb * z
        with no_sync(model, micro_step < gradient_accumulation_steps - 1):
            with ctx:
                v = model(z_t, t).float()
            loss = M.fm_loss(v, z, noise)
            (loss / gradient_accumulation_steps).backward()
    if optimizer_step(optimizer, raw.parameters(), loss, grad_clip, it, 'sampler', skip_nonfinite):
        ema_update(ema, raw, ema_decay, it)
    else:
        skipped += 1
    it += 1

    if master and (it % log_interval == 0 or it == max_iters):
        dt = time.time() - t_log
        t_log = time.time()
        n_img, it_log = batch_size * (it - it_log), it
        print(f'sampler iter {it}/{max_iters}: loss {loss.item():.4f}, lr {lr_now:.2e}, {n_img / dt:.1f} latents/s, '
              f'{time.time() - t_start:.0f}s' + (f', {skipped} skipped' if skipped else ''), flush=True)
    if master and (it % ckpt_interval == 0 or it == max_iters):
        checkpoint()
    if master and (it % sample_interval == 0 or it == max_iters):
        sample_grid()

if master:
    print(f'sampler done: {ckpt_path}, grid {out_dir}/sampler_{it:06d}.png, {time.time() - t_start:.0f}s')
if world > 1:
    check_ranks_in_sync(raw, master)
    del model               # the DDP wrapper holds the process group (common.destroy_distributed says why)
    destroy_distributed()
