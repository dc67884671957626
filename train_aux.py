"""
Stage 1: train the auxiliary model (encoder E, decoder D) whose decoder output N(mu_x, exp(logvar_x))
is LeDiFlow's learned prior. Loss (Eq. 4-5): L_aux = VGL + kl_weight * KL.

    python train_aux.py config/emoji.py                            # one process (CPU or one GPU)
    torchrun --nproc_per_node=2 train_aux.py config/ffhq.py        # DDP on one node

Writes out_dir/aux.pt (model args, config, weights, EMA, optimizer, iteration) and
out_dir/aux_<iter>.png: rows of inputs y, prior means mu_x, prior samples x0, prior sigma.
Settings: config/defaults.py (shared ones and the aux_* block).
"""
import copy
import os
import time
import uuid

import torch

import model as M
from common import (autocast, build, check_ranks_in_sync, count_params, data_meta, destroy_distributed, ema_update,
                    get_batch, init_distributed, init_state, iteration_rng, load_data, lr_at, micro_batch_size, no_sync,
                    optimizer_step, pixel_view, save_checkpoint, save_grid, wrap)
from configurator import configure

cfg = configure()
globals().update(cfg)  # flat globals, nanoGPT style: every key of config/defaults.py is a variable
batch_size = batch_size or aux_batch_size
max_iters = max_iters or aux_max_iters

rank, world, device, master = init_distributed(device)
micro_batch = micro_batch_size(batch_size, world, gradient_accumulation_steps)
torch.manual_seed(seed)
dataset = load_data(data, image_size)
latent = data_meta(data)  # None for pixels; the VAE and scale in latent mode
N, H, W, C = dataset.shape
ctx = autocast(device, dtype)
os.makedirs(out_dir, exist_ok=True)
to_pixels = pixel_view(latent, device)  # grids: the VAE decodes latents in latent mode
ckpt_path = os.path.join(out_dir, 'aux.pt')

# -----------------------------------------------------------------------------
# model, optimizer, resume
model_args = dict(channels=C, image_size=[H, W], patch=aux_patch, widths=aux_widths, depths=aux_depths,
                  d_head=aux_d_head, ff_mult=aux_ff_mult, kernel=aux_kernel, z_channels=z_channels,
                  logvar_range=[logvar_min, logvar_max])
model = build(M.AuxModel, model_args).to(device)  # on the device before the optimizer sees it
ema = copy.deepcopy(model).requires_grad_(False)
optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=betas, weight_decay=weight_decay)
ck = init_state(init_from, ckpt_path, 'auxiliary model', model_args, model, ema, optimizer)
it, run_id = (ck['iter'], ck['run_id']) if ck else (0, uuid.uuid4().hex)
if master:
    print(f'aux model: {count_params(model) / 1e6:.2f}M parameters, z {list(model.z_shape)}, '
          f'data {N} x {H}x{W}x{C}, batch {batch_size} on {world} x {device}, from iteration {it}')
raw = model
model = wrap(raw, compile, world, device)


def checkpoint():
    save_checkpoint({'stage': 'aux', 'model_args': model_args, 'config': cfg, 'model': raw.state_dict(),
                     'ema': ema.state_dict(), 'optimizer': optimizer.state_dict(), 'iter': it, 'latent': latent,
                     'run_id': run_id}, ckpt_path)


@torch.no_grad()
def sample_grid():
    g = torch.Generator().manual_seed(seed)
    y = get_batch(dataset, torch.randint(N, (16,), generator=g), device)
    with ctx:
        mu_z, _ = ema.encode(y)
        mu_x, logvar_x = ema.decode(mu_z)
    sigma = torch.exp(0.5 * logvar_x.float())
    x0 = mu_x.float() + sigma * torch.randn(mu_x.shape, generator=g).to(device)
    rows = [to_pixels(r) for r in (y, mu_x.float(), x0)]
    if latent is None:  # a sigma map is only an image in pixel space
        rows.append(sigma.clamp(max=1) * 2 - 1)
    return save_grid(torch.cat(rows), f'{out_dir}/aux_{it:06d}.png', 16)


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
        y = get_batch(dataset, torch.randint(N, (micro_batch,), generator=g_cpu), device, flip, g_cpu)
        eps = torch.randn((micro_batch, *raw.z_shape), generator=g_dev, device=device)
        with no_sync(model, micro_step < gradient_accumulation_steps - 1):
            with ctx:
                mu_x, logvar_x, mu_z, logvar_z = model(y, eps)
            loss = M.aux_loss(y, mu_x.float(), logvar_x.float(), mu_z.float(), logvar_z.float(), kl_weight)
            (loss / gradient_accumulation_steps).backward()
    if optimizer_step(optimizer, raw.parameters(), loss, grad_clip, it, 'aux', skip_nonfinite):
        ema_update(ema, raw, ema_decay, it)
    else:
        skipped += 1
    it += 1

    if master and (it % log_interval == 0 or it == max_iters):
        dt = time.time() - t_log
        t_log = time.time()
        n_img, it_log = batch_size * (it - it_log), it
        vgl = M.vgl_loss(y, mu_x.float(), logvar_x.float()).item()
        print(f'aux iter {it}/{max_iters}: loss {loss.item():.4f} (vgl {vgl:.4f}, kl {M.kl_loss(mu_z.float(), logvar_z.float()).item():.4f}), '
              f'lr {lr_now:.2e}, {n_img / dt:.1f} img/s, {time.time() - t_start:.0f}s'
              + (f', {skipped} skipped' if skipped else ''), flush=True)
    if master and (it % ckpt_interval == 0 or it == max_iters):
        checkpoint()
    if master and (it % sample_interval == 0 or it == max_iters):
        sample_grid()

if master:
    print(f'aux done: {ckpt_path}, grid {out_dir}/aux_{it:06d}.png, {time.time() - t_start:.0f}s')
if world > 1:
    check_ranks_in_sync(raw, master)
    del model               # the DDP wrapper holds the process group (common.destroy_distributed says why)
    destroy_distributed()
