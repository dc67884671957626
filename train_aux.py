"""
Stage 1: train the auxiliary model (encoder E, decoder D) whose decoder output N(mu_x, exp(logvar_x))
is LeDiFlow's learned prior. Loss (Eq. 4-5): L_aux = VGL + kl_weight * KL.

    python train_aux.py config/emoji.py                            # one process (CPU or one GPU)
    torchrun --nproc_per_node=2 train_aux.py config/ffhq.py        # DDP on one node

Writes out_dir/aux.pt (model args, config, weights, EMA, optimizer, iteration) and
out_dir/aux_<iter>.png: rows of inputs y, prior means mu_x, prior samples x0, prior sigma.
"""
import copy
import math
import os
import time
import uuid
from contextlib import nullcontext

import torch
from torch.nn.parallel import DistributedDataParallel as DDP

import model as M
from common import (all_ranks_finite_or_die, aux_model_args, build, check_ranks_in_sync, compute_line, data_meta,
                    destroy_distributed, die, get_batch, init_distributed, init_state, load_data, log_row, make_dir,
                    pick_device, pick_dtype, pixel_view, save_checkpoint, save_grid, say_what_ctrl_c_kept, start_log)
from configurator import configure, take

# -----------------------------------------------------------------------------
# the settings this script reads (config/defaults.py defines and explains every key)
cfg = configure()
t_launch = time.time()   # the stage's wall time, recorded in its checkpoint (train_seconds)
out_dir, data, holdout, image_size, flip, device, dtype, compile, use_natten, seed, init_from = take(
    cfg, 'out_dir data holdout image_size flip device dtype compile use_natten seed init_from')
batch_size, max_iters, gradient_accumulation_steps = take(cfg, 'batch_size max_iters gradient_accumulation_steps')
lr, betas, weight_decay, warmup_iters, decay_lr, min_lr, grad_clip, ema_decay = take(
    cfg, 'lr betas weight_decay warmup_iters decay_lr min_lr grad_clip ema_decay')
skip_nonfinite, max_skipped_in_a_row = take(cfg, 'skip_nonfinite max_skipped_in_a_row')
log_interval, sample_interval, ckpt_interval, grid_upscale = take(
    cfg, 'log_interval sample_interval ckpt_interval grid_upscale')
kl_weight, aux_batch_size, aux_max_iters, aux_lr = take(cfg, 'kl_weight aux_batch_size aux_max_iters aux_lr')
# the network: aux_patch, aux_widths, aux_depths, aux_d_head, aux_ff_mult, aux_kernel, z_channels, logvar_min/max
# (common.aux_model_args)
batch_size = batch_size or aux_batch_size
max_iters = max_iters or aux_max_iters
lr = lr or aux_lr

# -----------------------------------------------------------------------------
# set-up: ranks, data, precision
M.USE_NATTEN = use_natten   # natten's CUDA kernels where they exist, else the pure-PyTorch path
device = pick_device(device)   # 'auto' -> cuda or cpu (under torchrun each rank then takes its own GPU)
dtype = pick_dtype(dtype, device)   # 'auto': bfloat16 on CUDA, float32 on the CPU
ctx = nullcontext() if dtype == 'float32' else torch.autocast(device.split(':')[0], dtype=getattr(torch, dtype))
if int(os.environ.get('RANK', 0)) == 0:   # first, so that it shows even when a check below stops the run
    print(compute_line(device, dtype, compile), flush=True)
rank, world, device, master = init_distributed(device)
if batch_size % (world * gradient_accumulation_steps):
    die(f'batch_size {batch_size} is not divisible by world size {world} x gradient_accumulation_steps '
        f'{gradient_accumulation_steps}')
micro_batch = batch_size // (world * gradient_accumulation_steps)   # per rank and micro-step
torch.manual_seed(seed)   # the initial weights: the same on every rank
dataset = load_data(data, image_size, holdout=holdout)
latent = data_meta(data)  # None for pixels; the VAE and scale in latent mode
N, H, W, C = dataset.shape
make_dir(out_dir)
to_pixels = pixel_view(latent, device)  # grids: the VAE decodes latents in latent mode
ckpt_path = os.path.join(out_dir, 'aux.pt')
say_what_ctrl_c_kept(ckpt_path)   # Ctrl-C: one line naming the last checkpoint, not a traceback

# -----------------------------------------------------------------------------
# model, optimizer, resume
model_args = aux_model_args(cfg, C, [H, W])
raw_model = build(M.AuxModel, model_args).to(device)   # on the device before the optimizer sees it
ema = copy.deepcopy(raw_model).requires_grad_(False)  # EMA weights: what later stages and sampling use
optimizer = torch.optim.AdamW(raw_model.parameters(), lr=lr, betas=betas, weight_decay=weight_decay)
# float16 needs a gradient scaler (small gradients would underflow to 0); bfloat16 and float32 do not (a no-op)
scaler = torch.amp.GradScaler(device.split(':')[0], enabled=dtype == 'float16')
ck = init_state(init_from, ckpt_path, 'auxiliary model', model_args, raw_model, ema, optimizer, scaler)
it, run_id = (ck['iter'], ck['run_id']) if ck else (0, uuid.uuid4().hex)
seconds_before = ck.get('train_seconds', 0.0) if ck else 0.0   # wall time of the runs resumed from
if master:
    print(f'aux model: {sum(p.numel() for p in raw_model.parameters()) / 1e6:.2f}M parameters, z {list(raw_model.z_shape)}, '
          f'data {N} x {H}x{W}x{C}, batch {batch_size} on {world} x {device}, from iteration {it}')
model = torch.compile(raw_model) if compile else raw_model   # what the loop calls; raw_model holds the weights
if world > 1:
    model = DDP(model, device_ids=[device] if device.startswith('cuda') else None)   # all-reduces the gradients


def get_lr(it):
    """Linear warmup, then constant (the paper) or cosine decay to min_lr at max_iters."""
    if it < warmup_iters:
        return lr * (it + 1) / warmup_iters
    if not decay_lr:
        return lr
    p = min(1.0, (it - warmup_iters) / max(1, max_iters - warmup_iters))
    return min_lr + 0.5 * (1 + math.cos(math.pi * p)) * (lr - min_lr)


def checkpoint():
    save_checkpoint({'stage': 'aux', 'model_args': model_args, 'config': cfg, 'model': raw_model.state_dict(),
                     'ema': ema.state_dict(), 'optimizer': optimizer.state_dict(), 'scaler': scaler.state_dict(),
                     'iter': it, 'train_seconds': seconds_before + time.time() - t_launch, 'latent': latent,
                     'run_id': run_id}, ckpt_path)


@torch.no_grad()
def sample_grid():
    g = torch.Generator().manual_seed(seed)
    y = get_batch(dataset, torch.randint(N, (16,), generator=g), device)
    eps = torch.randn((16, *ema.x_shape), generator=g).to(device)
    with ctx:
        mu_z, _ = ema.encode(y)
        mu_x, sigma = ema.prior(mu_z, eps, tau=0.0)   # the prior mean
        x0, _ = ema.prior(mu_z, eps)                    # a prior sample
    rows = [to_pixels(r) for r in (y, mu_x, x0)]
    if latent is None:  # a sigma map is only an image in pixel space
        rows.append(sigma.clamp(max=1) * 2 - 1)
    return save_grid(torch.cat(rows), f'{out_dir}/aux_{it:06d}.png', 16, grid_upscale)


# -----------------------------------------------------------------------------
# training loop
t_start = t_log = time.time()
log_path = start_log(os.path.join(out_dir, 'aux_log.jsonl'), it) if master else None   # benchmarks/plot_log.py
it_log = it
skipped = 0  # batches skipped for a non-finite loss (skip_nonfinite)
while it < max_iters:
    lr_now = get_lr(it)
    for group in optimizer.param_groups:
        group['lr'] = lr_now
    # the randomness of this iteration on this rank: seeded by (seed, iteration, rank), so a resumed
    # run draws exactly what an unbroken one would (data indices on the CPU, noise on the device)
    s = (seed * 1_000_003 + it) * 4099 + rank
    g_cpu = torch.Generator().manual_seed(s)
    g_dev = g_cpu if device == 'cpu' else torch.Generator(device).manual_seed(s)
    losses = torch.zeros(3, device=device)   # loss, VGL, KL summed over the micro-steps (for the log)
    for micro_step in range(gradient_accumulation_steps):
        y = get_batch(dataset, torch.randint(N, (micro_batch,), generator=g_cpu), device, flip, g_cpu)
        eps = torch.randn((micro_batch, *raw_model.z_shape), generator=g_dev, device=device)
        if world > 1:   # DDP all-reduces the gradients in backward(): only needed on the last micro-step
            model.require_backward_grad_sync = micro_step == gradient_accumulation_steps - 1
        with ctx:
            mu_x, logvar_x, mu_z, logvar_z = model(y, eps)
        mu_x, logvar_x, mu_z, logvar_z = mu_x.float(), logvar_x.float(), mu_z.float(), logvar_z.float()
        loss = M.aux_loss(y, mu_x, logvar_x, mu_z, logvar_z, kl_weight)         # Eq. 4-5
        scaler.scale(loss / gradient_accumulation_steps).backward()
        with torch.no_grad():
            losses += torch.stack([loss, M.vgl_loss(y, mu_x, logvar_x), M.kl_loss(mu_z, logvar_z) * mu_z[0].numel()])
    losses /= gradient_accumulation_steps
    # the optimizer step: clip the gradient, check (on every rank) that all is finite, step, EMA
    scaler.unscale_(optimizer)   # float16: the true gradients before clipping
    grad_norm = torch.nn.utils.clip_grad_norm_(raw_model.parameters(), grad_clip or float('inf'))
    if all_ranks_finite_or_die(losses[0], grad_norm, 'aux', it, skip_nonfinite, fp16=scaler.is_enabled(),
                               max_in_a_row=max_skipped_in_a_row):
        scaler.step(optimizer)   # optimizer.step() (float16: unless its gradients overflowed)
        with torch.no_grad():   # EMA of the weights; its decay warms up as min(ema_decay, (1 + it) / (10 + it))
            d = min(ema_decay, (1 + it) / (10 + it))
            for e, p in zip(ema.parameters(), raw_model.parameters()):
                e.lerp_(p, 1 - d)
    else:
        skipped += 1
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    it += 1

    if master and (it % log_interval == 0 or it == max_iters):
        dt, t_log = time.time() - t_log, time.time()
        n_img, it_log = batch_size * (it - it_log), it
        loss_v, vgl_v, kl_v = losses.tolist()
        print(f'aux iter {it}/{max_iters}: loss {loss_v:.4f} (vgl {vgl_v:.4f}, kl {kl_v:.1f} nats/img), lr {lr_now:.2e}, '
              f'{n_img / dt:.1f} img/s, {time.time() - t_start:.0f}s' + (f', {skipped} skipped' if skipped else ''),
              flush=True)
        log_row(log_path, iter=it, loss=loss_v, vgl=vgl_v, kl_nats=kl_v, lr=lr_now, img_per_s=n_img / dt,
                wall_s=seconds_before + time.time() - t_launch, skipped=skipped)
    if master and (it % ckpt_interval == 0 or it == max_iters):
        checkpoint()
    if master and sample_interval and (it % sample_interval == 0 or it == max_iters):   # 0: no grids
        sample_grid()

if master:
    grid = f', grid {out_dir}/aux_{it:06d}.png' if sample_interval else ''   # sample_interval=0: none
    print(f'aux done: {ckpt_path}{grid}, {time.time() - t_start:.0f}s')
if world > 1:
    check_ranks_in_sync(raw_model, master)
    del model               # the DDP wrapper holds the process group (common.destroy_distributed says why)
    destroy_distributed()
