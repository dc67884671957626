"""
Stage 2: train the flow model F(x_t, t, z) from LeDiFlow's learned prior to the data (Eq. 6), or,
with prior='gaussian', the paper's FM baseline (same F, x0 ~ N(0, I), no z, no weights).

    python train_flow.py config/emoji.py                                   # needs out_dir/aux.pt
    torchrun --nproc_per_node=2 train_flow.py config/ffhq.py
    python train_flow.py config/emoji.py --prior=gaussian --out_dir=out/emoji-fm   # the baseline

Writes out_dir/flow.pt (with the id of the aux checkpoint it was trained against) and
out_dir/flow_<iter>.png: rows of prior samples x0, 1-step and 4-step midpoint results, real images.
Settings: config/defaults.py (shared ones and the flow block).
"""
import copy
import os
import time

import torch

import model as M
from common import (autocast, aux_ref, build, check_ranks_in_sync, count_params, data_meta, destroy_distributed, die,
                    ema_update, get_batch, init_distributed, init_state, iteration_rng, load_aux, load_data, lr_at,
                    micro_batch_size, no_sync, optimizer_step, pixel_view, save_checkpoint, save_grid, wrap)
from configurator import configure

cfg = configure()
globals().update(cfg)  # flat globals, nanoGPT style: every key of config/defaults.py is a variable
batch_size = batch_size or flow_batch_size
max_iters = max_iters or flow_max_iters
if prior not in ('learned', 'gaussian'):
    die(f"prior must be 'learned' or 'gaussian', got '{prior}'")
if t_dist not in ('uniform', 'logit_normal'):
    die(f"t_dist must be 'uniform' or 'logit_normal', got '{t_dist}'")
learned = prior == 'learned'
if learned and not os.path.isfile(os.path.join(out_dir, 'aux.pt')):
    die(f"prior='learned' needs the stage-1 checkpoint {os.path.join(out_dir, 'aux.pt')}: run train_aux.py with "
        f"the same out_dir first, or train the baseline with --prior=gaussian")

rank, world, device, master = init_distributed(device)
micro_batch = micro_batch_size(batch_size, world, gradient_accumulation_steps)
torch.manual_seed(seed)
aux, aux_ck = load_aux(out_dir, device) if learned else (None, None)
dataset = load_data(data, image_size, aux_ck)
latent = data_meta(data)  # None for pixels; the VAE and scale in latent mode
N, H, W, C = dataset.shape
ctx = autocast(device, dtype)
os.makedirs(out_dir, exist_ok=True)
to_pixels = pixel_view(latent, device)  # grids: the VAE decodes latents in latent mode
ckpt_path = os.path.join(out_dir, 'flow.pt')

# -----------------------------------------------------------------------------
# model, optimizer, resume
model_args = dict(channels=C, image_size=[H, W], patch=flow_patch, widths=flow_widths, depths=flow_depths,
                  d_head=flow_d_head, ff_mult=flow_ff_mult, kernel=flow_kernel, mapping_width=flow_mapping_width,
                  mapping_depth=flow_mapping_depth, z_shape=list(aux.z_shape) if learned else None)
model = build(M.HDiT, model_args).to(device)  # on the device before the optimizer sees it
ema = copy.deepcopy(model).requires_grad_(False)
optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=betas, weight_decay=weight_decay)
ck = init_state(init_from, ckpt_path, 'flow model', model_args, model, ema, optimizer, aux_ck if learned else None)
it = ck['iter'] if ck else 0
if master:
    print(f"flow model ({'LeDiFlow, learned prior' if learned else 'FM baseline, gaussian prior'}): "
          f'{count_params(model) / 1e6:.2f}M parameters, data {N} x {H}x{W}x{C}, batch {batch_size} '
          f'on {world} x {device}, from iteration {it}')
raw = model
model = wrap(raw, compile, world, device)


def checkpoint():
    save_checkpoint({'stage': 'flow', 'model_args': model_args, 'config': cfg, 'model': raw.state_dict(),
                     'ema': ema.state_dict(), 'optimizer': optimizer.state_dict(), 'iter': it, 'latent': latent,
                     'aux_ref': aux_ref(aux_ck) if learned else None}, ckpt_path)


@torch.no_grad()
def draw_prior(y, g):
    """-> x0, sigma, z for a batch of images: z ~ E(y), (mu_x, logvar_x) = D(z), x0 = mu_x + tau * sigma * eps.
    The baseline: x0 ~ N(0, I), sigma = 1, no z."""
    if not learned:
        return torch.randn(y.shape, generator=g, device=device), None, None
    with ctx:
        mu_z, logvar_z = aux.encode(y)
        z = mu_z.float() + torch.exp(0.5 * logvar_z.float()) * torch.randn(mu_z.shape, generator=g, device=device)
        mu_x, logvar_x = aux.decode(z)
    sigma = torch.exp(0.5 * logvar_x.float())
    return mu_x.float() + tau * sigma * torch.randn(y.shape, generator=g, device=device), sigma, z


@torch.no_grad()
def sample_grid():
    g = torch.Generator().manual_seed(seed)
    y = get_batch(dataset, torch.randint(N, (16,), generator=g), device)
    x0, _, z = draw_prior(y, torch.Generator(device).manual_seed(seed))
    with ctx:
        rows = [M.solve(lambda x, t: ema(x, t, z), x0, n, 'midpoint') for n in (1, 4)]
    return save_grid(to_pixels(torch.cat([x0, *rows, y]).float()), f'{out_dir}/flow_{it:06d}.png', 16)


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
        x0, sigma, z = draw_prior(y, g_dev)
        t = torch.rand(micro_batch, generator=g_dev, device=device)
        if t_dist == 'logit_normal':
            t = torch.sigmoid(torch.randn(micro_batch, generator=g_dev, device=device))
        tb = t.view(-1, 1, 1, 1)
        x_t = (1 - tb) * x0 + tb * y                                     # the straight path
        with no_sync(model, micro_step < gradient_accumulation_steps - 1):
            with ctx:
                v = model(x_t, t, z).float()
            loss = M.lediflow_loss(v, y, x0, sigma, w_max) if learned else M.fm_loss(v, y, x0)   # Eq. 6 / Eq. 2
            (loss / gradient_accumulation_steps).backward()
    if optimizer_step(optimizer, raw.parameters(), loss, grad_clip, it, 'flow', skip_nonfinite):
        ema_update(ema, raw, ema_decay, it)
    else:
        skipped += 1
    it += 1

    if master and (it % log_interval == 0 or it == max_iters):
        dt = time.time() - t_log
        t_log = time.time()
        n_img, it_log = batch_size * (it - it_log), it
        print(f'flow iter {it}/{max_iters}: loss {loss.item():.4f}, lr {lr_now:.2e}, {n_img / dt:.1f} img/s, '
              f'{time.time() - t_start:.0f}s' + (f', {skipped} skipped' if skipped else ''), flush=True)
    if master and (it % ckpt_interval == 0 or it == max_iters):
        checkpoint()
    if master and (it % sample_interval == 0 or it == max_iters):
        sample_grid()

if master:
    print(f'flow done: {ckpt_path}, grid {out_dir}/flow_{it:06d}.png, {time.time() - t_start:.0f}s')
if world > 1:
    check_ranks_in_sync(raw, master)
    del model               # the DDP wrapper holds the process group (common.destroy_distributed says why)
    destroy_distributed()
