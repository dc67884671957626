"""
Stage 3: train the latent sampler S, plain flow matching (Eq. 2) from N(0, I) to the aux encoder's
latents z of the training images. At generation it maps noise to a new z in `sampler_steps` midpoint
steps (the paper: 4; our default 8, better than 2 or 4 on the emoji set: docs/experiments.md).

    python train_sampler.py config/emoji.py                                # needs out_dir/aux.pt
    torchrun --nproc_per_node=2 train_sampler.py config/ffhq.py

The frozen encoder's (mu_z, logvar_z) of every training image (and, with flip, of its mirror image)
are computed once at start-up; each iteration draws fresh z = mu_z + sigma_z * eps from them. Writes out_dir/sampler.pt and
out_dir/sampler_<iter>.png (prior means mu_x = D(z) of generated z).
"""
import copy
import math
import os
import time
from contextlib import nullcontext

import torch
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm import tqdm

import model as M
from common import (all_ranks_finite_or_die, args_diff, aux_ref, build, check_ranks_in_sync, compute_line,
                    data_meta, destroy_distributed, die, get_batch, init_distributed, init_state, load_aux, load_data,
                    load_stage, log_row, pick_device, pick_dtype, pixel_view, sampler_model_args, save_checkpoint,
                    save_grid, say_what_ctrl_c_kept, start_log)
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
# the network: sampler_patch, sampler_widths, sampler_depths, sampler_d_head, sampler_ff_mult, sampler_mapping_width
# and sampler_mapping_depth (common.sampler_model_args)
sampler_batch_size, sampler_max_iters, sampler_lr, sampler_steps, sampler_solver, sampler_target, sampler_t_dist = take(
    cfg, 'sampler_batch_size sampler_max_iters sampler_lr sampler_steps sampler_solver sampler_target sampler_t_dist')
sampler_reflow_from, sampler_reflow_pairs, sampler_reflow_steps, sampler_coupling = take(
    cfg, 'sampler_reflow_from sampler_reflow_pairs sampler_reflow_steps sampler_coupling')
batch_size = batch_size or sampler_batch_size
max_iters = max_iters or sampler_max_iters
lr = lr or sampler_lr
if sampler_target not in ('sample', 'mean'):
    die(f"sampler_target must be 'sample' or 'mean', got '{sampler_target}'")
if sampler_t_dist not in ('uniform', 'logit_normal'):
    die(f"sampler_t_dist must be 'uniform' or 'logit_normal', got '{sampler_t_dist}'")
if sampler_coupling not in ('independent', 'ot'):
    die(f"sampler_coupling must be 'independent' or 'ot', got '{sampler_coupling}'")
if sampler_coupling == 'ot' and sampler_reflow_from:
    die("sampler_reflow_from and sampler_coupling='ot' are two couplings: choose one")

# -----------------------------------------------------------------------------
# set-up: ranks, the frozen aux model, precision, the training targets
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
ckpt_path = os.path.join(out_dir, 'sampler.pt')
say_what_ctrl_c_kept(ckpt_path)   # Ctrl-C: one line naming the last checkpoint, not a traceback
aux, aux_ck = load_aux(out_dir, device)
dataset = load_data(data, image_size, aux_ck, holdout)
latent = data_meta(data)  # None for pixels; the VAE and scale in latent mode
to_pixels = pixel_view(latent, device)  # grids: the VAE decodes latents in latent mode
N = len(dataset)

# the training targets: the frozen encoder's posterior of every image (on every rank, once); with flip,
# of its mirror image too, as the flow model saw both (the sampler must generate the z of either)
mu_all, std_all = [], []
with torch.no_grad():
    for mirror in ([False, True] if flip else [False]):
        for i in tqdm(range(0, N, 256), desc='encode latents' + (' (mirrored)' if mirror else ''), disable=not master):
            y = get_batch(dataset, torch.arange(i, min(i + 256, N)), device)
            with ctx:
                mu_z, logvar_z = aux.encode(y.flip(-1) if mirror else y)
            mu_all.append(mu_z.float())
            std_all.append(torch.exp(0.5 * logvar_z.float()))
mu_all, std_all = torch.cat(mu_all), torch.cat(std_all)   # [N or 2N, *z_shape]

# reflow: the teacher's coupling replaces the independent one. Pairs (n, z) with z = solve(teacher, n): a
# flow trained on them has (nearly) straight paths, as each n has one z; drawn once, on every rank alike
teacher = None
if sampler_reflow_from:
    if os.path.abspath(sampler_reflow_from) == os.path.abspath(ckpt_path):
        die(f'reflow: the teacher must not be {ckpt_path}, which this run overwrites; copy it first, e.g. to '
            f'{out_dir}/sampler_teacher.pt, and pass --sampler_reflow_from={out_dir}/sampler_teacher.pt')
    teacher, teacher_ck = load_stage(os.path.dirname(sampler_reflow_from) or '.', os.path.basename(sampler_reflow_from),
                                     'reflow teacher (a trained latent sampler)', device, aux_ck)
    g = torch.Generator().manual_seed(seed + 1)
    n_all = torch.randn((sampler_reflow_pairs, *aux.z_shape), generator=g).to(device)
    with torch.no_grad(), ctx:
        z_all = torch.cat([M.solve(teacher, n_all[i:i + 1024], sampler_reflow_steps, 'midpoint').float()
                           for i in tqdm(range(0, len(n_all), 1024), desc='reflow pairs', disable=not master)])

# -----------------------------------------------------------------------------
# model, optimizer, resume
model_args = sampler_model_args(cfg, aux.z_shape)
raw_model = build(M.HDiT, model_args).to(device)   # on the device before the optimizer sees it
ema = copy.deepcopy(raw_model).requires_grad_(False)  # EMA weights: what sampling uses
optimizer = torch.optim.AdamW(raw_model.parameters(), lr=lr, betas=betas, weight_decay=weight_decay)
# float16 needs a gradient scaler (small gradients would underflow to 0); bfloat16 and float32 do not (a no-op)
scaler = torch.amp.GradScaler(device.split(':')[0], enabled=dtype == 'float16')
ck = init_state(init_from, ckpt_path, 'latent sampler', model_args, raw_model, ema, optimizer, scaler, aux_ck)
if teacher is not None and ck is None:   # reflow starts from the teacher's weights
    if teacher_ck['model_args'] != model_args:
        die(f"reflow: the teacher {sampler_reflow_from} has other model args than the config gives "
            f"({args_diff(teacher_ck['model_args'], model_args)})")
    raw_model.load_state_dict(teacher.state_dict())
    ema.load_state_dict(teacher.state_dict())
it = ck['iter'] if ck else 0
seconds_before = ck.get('train_seconds', 0.0) if ck else 0.0   # wall time of the runs resumed from
if teacher is not None and ck is None:   # a reflowed sampler's training time includes its teacher's
    seconds_before = teacher_ck.get('train_seconds', 0.0)
if master:
    what = (f'reflow of {sampler_reflow_from}: {len(n_all)} pairs ({sampler_reflow_steps} midpoint steps)'
            if teacher is not None else f'{len(mu_all)} latents' + (' (images and mirror images)' if flip else ''))
    print(f'latent sampler: {sum(p.numel() for p in raw_model.parameters()) / 1e6:.2f}M parameters, '
          f'z {list(aux.z_shape)}, {what}, batch {batch_size} on {world} x {device}, from iteration {it}')
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
    save_checkpoint({'stage': 'sampler', 'model_args': model_args, 'config': cfg, 'model': raw_model.state_dict(),
                     'ema': ema.state_dict(), 'optimizer': optimizer.state_dict(), 'scaler': scaler.state_dict(),
                     'iter': it, 'train_seconds': seconds_before + time.time() - t_launch, 'latent': latent,
                     'aux_ref': aux_ref(aux_ck)}, ckpt_path)


@torch.no_grad()
def sample_grid():
    n = torch.randn((64, *aux.z_shape), generator=torch.Generator().manual_seed(seed)).to(device)
    with ctx:
        z = M.solve(ema, n, sampler_steps, sampler_solver)
        mu_x, _ = aux.decode(z)
    return save_grid(to_pixels(mu_x.float()), f'{out_dir}/sampler_{it:06d}.png', 8, grid_upscale)


# -----------------------------------------------------------------------------
# training loop
t_start = t_log = time.time()
log_path = start_log(os.path.join(out_dir, 'sampler_log.jsonl'), it) if master else None   # benchmarks/plot_log.py
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
    loss_sum = torch.zeros((), device=device)
    for micro_step in range(gradient_accumulation_steps):
        if teacher is None:
            idx = torch.randint(len(mu_all), (micro_batch,), generator=g_cpu).to(device)
            eps = torch.randn(mu_all[idx].shape, generator=g_dev, device=device)
            z = mu_all[idx] + std_all[idx] * eps if sampler_target == 'sample' else mu_all[idx]   # z ~ E(y), or its mean
            noise = torch.randn(z.shape, generator=g_dev, device=device)
            if sampler_coupling == 'ot':   # minibatch OT: this micro-batch's noise re-paired with its z (per rank)
                noise = noise[M.ot_pairing(noise, z)]
        else:   # reflow: a pair of the teacher's
            idx = torch.randint(len(n_all), (micro_batch,), generator=g_cpu).to(device)
            noise, z = n_all[idx], z_all[idx]
        t = M.sample_t(micro_batch, sampler_t_dist, g_dev, device)      # uniform or logit-normal
        tb = t.view(-1, 1, 1, 1)
        z_t = (1 - tb) * noise + tb * z                                  # the straight path from noise to z
        if world > 1:   # DDP all-reduces the gradients in backward(): only needed on the last micro-step
            model.require_backward_grad_sync = micro_step == gradient_accumulation_steps - 1
        with ctx:
            v = model(z_t, t).float()
        loss = M.fm_loss(v, z, noise)                                      # Eq. 2
        scaler.scale(loss / gradient_accumulation_steps).backward()
        loss_sum += loss.detach()
    loss_mean = loss_sum / gradient_accumulation_steps
    # the optimizer step: clip the gradient, check (on every rank) that all is finite, step, EMA
    scaler.unscale_(optimizer)   # float16: the true gradients before clipping
    grad_norm = torch.nn.utils.clip_grad_norm_(raw_model.parameters(), grad_clip or float('inf'))
    if all_ranks_finite_or_die(loss_mean, grad_norm, 'sampler', it, skip_nonfinite, fp16=scaler.is_enabled(),
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
        print(f'sampler iter {it}/{max_iters}: loss {loss_mean.item():.4f}, lr {lr_now:.2e}, {n_img / dt:.1f} latents/s, '
              f'{time.time() - t_start:.0f}s' + (f', {skipped} skipped' if skipped else ''), flush=True)
        log_row(log_path, iter=it, loss=loss_mean.item(), lr=lr_now, latents_per_s=n_img / dt,
                wall_s=seconds_before + time.time() - t_launch, skipped=skipped)
    if master and (it % ckpt_interval == 0 or it == max_iters):
        checkpoint()
    if master and sample_interval and (it % sample_interval == 0 or it == max_iters):   # 0: no grids
        sample_grid()

if master:
    grid = f', grid {out_dir}/sampler_{it:06d}.png' if sample_interval else ''   # sample_interval=0: none
    print(f'sampler done: {ckpt_path}{grid}, {time.time() - t_start:.0f}s')
if world > 1:
    check_ranks_in_sync(raw_model, master)
    del model               # the DDP wrapper holds the process group (common.destroy_distributed says why)
    destroy_distributed()
