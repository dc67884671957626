"""
Stage 2: train the flow model F(x_t, t, z) from LeDiFlow's learned prior to the data (Eq. 6), or,
with prior='gaussian', the paper's FM baseline (same F, x0 ~ N(0, I), no z, no weights).

    python train_flow.py config/emoji.py                                   # needs out_dir/aux.pt
    torchrun --nproc_per_node=2 train_flow.py config/ffhq.py
    python train_flow.py config/emoji.py --prior=gaussian --out_dir=out/emoji-fm   # the baseline
    python train_flow.py config/emoji.py --prior=gaussian --coupling=ot --out_dir=out/emoji-fm-ot   # OT-CFM
    python train_flow.py config/emoji.py --prior=gaussian --reflow_from=out/emoji-fm --out_dir=out/emoji-fm-2rf

Beyond the paper, two other routes to few-step sampling for comparison: coupling='ot' (minibatch optimal
transport) and reflow_from=TEACHER_DIR (2-rectified flow: train on a trained flow's own (x0, ODE solution)
pairs; for LeDiFlow, x0 from the prior of an image's z and the teacher's image for that z; a new out_dir gets
the teacher's aux.pt and sampler.pt, so that the reflowed run samples like any other).

Writes out_dir/flow.pt (with the id of the aux checkpoint it was trained against) and
out_dir/flow_<iter>.png: rows of prior samples x0, 1-step and 4-step midpoint results, real images.
"""
import copy
import math
import os
import shutil
import time
from contextlib import nullcontext

import torch
from torch.nn.parallel import DistributedDataParallel as DDP
from tqdm import tqdm

import model as M
from common import (all_ranks_finite_or_die, args_diff, aux_ref, build, check_ranks_in_sync, compute_line,
                    data_meta, destroy_distributed, die, flow_model_args, get_batch, init_distributed, init_state,
                    load_aux, load_data, load_stage, log_row, make_dir, pick_device, pick_dtype, pixel_view,
                    save_checkpoint, save_grid, say_what_ctrl_c_kept, start_log)
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
prior, tau, w_max, t_dist, coupling, z_noise = take(cfg, 'prior tau w_max t_dist coupling z_noise')
reflow_from, reflow_pairs, reflow_steps = take(cfg, 'reflow_from reflow_pairs reflow_steps')
flow_batch_size, flow_max_iters, flow_lr, max_train_seconds, keep_every = take(
    cfg, 'flow_batch_size flow_max_iters flow_lr max_train_seconds keep_every')
# the network: flow_patch, flow_widths, flow_depths, flow_d_head, flow_ff_mult, flow_kernel, flow_mapping_width,
# flow_mapping_depth and flow_dropout (common.flow_model_args)
batch_size = batch_size or flow_batch_size
max_iters = max_iters or flow_max_iters
lr = lr or flow_lr
if prior not in ('learned', 'gaussian'):
    die(f"prior must be 'learned' or 'gaussian', got '{prior}'")
if t_dist not in ('uniform', 'logit_normal'):
    die(f"t_dist must be 'uniform' or 'logit_normal', got '{t_dist}'")
learned = prior == 'learned'
if coupling not in ('independent', 'ot'):
    die(f"coupling must be 'independent' or 'ot', got '{coupling}'")
if reflow_from and coupling == 'ot':
    die("reflow_from and coupling='ot' are two couplings: choose one")
if coupling == 'ot' and learned:   # docs/method.md: each x0 belongs to its own image's z
    die("coupling='ot' re-pairs noise and images, but the learned prior's x0 is drawn from its own image's z: "
        "use it with --prior=gaussian (the OT-CFM baseline)")
if z_noise and not learned:   # (z_noise < 0: configurator.py's range check)
    die(f"z_noise is the std of the noise on LeDiFlow's z: 0 with --prior=gaussian (no z); got {z_noise}")

# -----------------------------------------------------------------------------
# set-up: ranks, the frozen aux model, data, precision
M.USE_NATTEN = use_natten   # natten's CUDA kernels where they exist, else the pure-PyTorch path
device = pick_device(device)   # 'auto' -> cuda or cpu (under torchrun each rank then takes its own GPU)
dtype = pick_dtype(dtype, device)   # 'auto': bfloat16 on CUDA, float32 on the CPU
ctx = nullcontext() if dtype == 'float32' else torch.autocast(device.split(':')[0], dtype=getattr(torch, dtype))
if int(os.environ.get('RANK', 0)) == 0:   # first, so that it shows even when a check below stops the run
    print(compute_line(device, dtype, compile), flush=True)
if learned and reflow_from and not os.path.exists(os.path.join(out_dir, 'aux.pt')):
    # a reflowed LeDiFlow flow keeps its teacher's aux model and latent sampler: copy them into out_dir (atomically,
    # each rank its own temp file: several ranks may copy at once, and each leaves a whole file)
    make_dir(out_dir)
    for name in ('aux.pt', 'sampler.pt'):
        src, dst = os.path.join(reflow_from, name), os.path.join(out_dir, name)
        if os.path.isfile(src) and not os.path.exists(dst):
            shutil.copyfile(src, f'{dst}.tmp.{os.getpid()}')
            os.replace(f'{dst}.tmp.{os.getpid()}', dst)
            if int(os.environ.get('RANK', 0)) == 0:
                print(f"reflow: the teacher's {name} copied to {dst}", flush=True)
if learned and not os.path.isfile(os.path.join(out_dir, 'aux.pt')):
    die(f"prior='learned' needs the stage-1 checkpoint {os.path.join(out_dir, 'aux.pt')}: run train_aux.py with "
        f"the same out_dir first, or train the baseline with --prior=gaussian")
rank, world, device, master = init_distributed(device)
if batch_size % (world * gradient_accumulation_steps):
    die(f'batch_size {batch_size} is not divisible by world size {world} x gradient_accumulation_steps '
        f'{gradient_accumulation_steps}')
micro_batch = batch_size // (world * gradient_accumulation_steps)   # per rank and micro-step
torch.manual_seed(seed)   # the initial weights: the same on every rank
aux, aux_ck = load_aux(out_dir, device) if learned else (None, None)
dataset = load_data(data, image_size, aux_ck, holdout)
latent = data_meta(data)  # None for pixels; the VAE and scale in latent mode
N, H, W, C = dataset.shape
make_dir(out_dir)
to_pixels = pixel_view(latent, device)  # grids: the VAE decodes latents in latent mode
ckpt_path = os.path.join(out_dir, 'flow.pt')
say_what_ctrl_c_kept(ckpt_path)   # Ctrl-C: one line naming the last checkpoint, not a traceback

# -----------------------------------------------------------------------------
# model, optimizer, resume
model_args = flow_model_args(cfg, C, [H, W], aux.z_shape if learned else None)
raw_model = build(M.HDiT, model_args).to(device)   # on the device before the optimizer sees it
ema = copy.deepcopy(raw_model).requires_grad_(False).eval()  # EMA weights: what sampling uses (no dropout)
optimizer = torch.optim.AdamW(raw_model.parameters(), lr=lr, betas=betas, weight_decay=weight_decay)
# float16 needs a gradient scaler (small gradients would underflow to 0); bfloat16 and float32 do not (a no-op)
scaler = torch.amp.GradScaler(device.split(':')[0], enabled=dtype == 'float16')
ck = init_state(init_from, ckpt_path, 'flow model', model_args, raw_model, ema, optimizer, scaler, aux_ck)
it = ck['iter'] if ck else 0
seconds_before = ck.get('train_seconds', 0.0) if ck else 0.0   # wall time of the runs resumed from
teacher = None
if reflow_from:   # reflow (2-rectified flow): a trained flow model, the teacher, provides the couplings (below)
    teacher_path = os.path.join(reflow_from, 'flow.pt')
    if os.path.abspath(teacher_path) == os.path.abspath(ckpt_path):
        die(f'reflow: the teacher must not be {ckpt_path}, which this run overwrites; train the reflowed model in '
            f'another out_dir (with the same aux.pt for LeDiFlow)')
    teacher, teacher_ck = load_stage(reflow_from, 'flow.pt', 'reflow teacher (a trained flow model)', device, aux_ck)
    if teacher_ck['model_args'] != model_args:
        die(f"reflow: the teacher {teacher_path} has other model args than the config gives "
            f"({args_diff(teacher_ck['model_args'], model_args)})")
    if teacher_ck['config'].get('holdout', 0.0) != holdout:
        die(f"reflow: the teacher {teacher_path} was trained with holdout={teacher_ck['config'].get('holdout', 0.0)}, "
            f"this run has holdout={holdout}")
    if ck is None:   # a reflowed model starts from its teacher's weights, and its training time includes the teacher's
        raw_model.load_state_dict(teacher.state_dict())
        ema.load_state_dict(teacher.state_dict())
        seconds_before = teacher_ck.get('train_seconds', 0.0)
if master:
    print(f"flow model ({'LeDiFlow, learned prior' if learned else 'FM baseline, gaussian prior'}): "
          f'{sum(p.numel() for p in raw_model.parameters()) / 1e6:.2f}M parameters, data {N} x {H}x{W}x{C}, '
          f'batch {batch_size} on {world} x {device}, from iteration {it}')
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


def out_of_time():
    """max_train_seconds: has the run's training time (as its checkpoint counts it) reached the budget? Rank 0's
    clock decides for all, so every rank stops at the same iteration."""
    if not max_train_seconds:
        return False
    done = torch.tensor(float(seconds_before + time.time() - t_launch >= max_train_seconds), device=device)
    if world > 1:
        torch.distributed.broadcast(done, 0)
    return bool(done.item())


def checkpoint(*paths):
    """The run's state, written atomically to flow.pt and to every path given (keep_every's snapshots)."""
    state = {'stage': 'flow', 'model_args': model_args, 'config': cfg, 'model': raw_model.state_dict(),
             'ema': ema.state_dict(), 'optimizer': optimizer.state_dict(), 'scaler': scaler.state_dict(),
             'iter': it, 'train_seconds': seconds_before + time.time() - t_launch, 'latent': latent,
             'aux_ref': aux_ref(aux_ck) if learned else None,
             'reflow': dict(teacher=os.path.abspath(reflow_from), pairs=reflow_pairs, steps=reflow_steps,
                            solver='midpoint') if reflow_from else None}
    for path in (ckpt_path, *paths):
        save_checkpoint(state, path)


@torch.no_grad()
def draw_prior(y, g, noise=0.0):
    """-> x0, sigma, z for a batch of images: z ~ E(y) (+ noise * N(0, I): z_noise), x0 = mu_x + tau * sigma * eps
    from D(z). The baseline: x0 ~ N(0, I), no sigma, no z."""
    if not learned:
        return torch.randn(y.shape, generator=g, device=device), None, None
    with ctx:
        z, _, _ = aux.posterior(y, torch.randn(len(y), *aux.z_shape, generator=g, device=device))
        if noise:   # drawn only when asked, so that z_noise = 0 draws exactly the paper's randomness
            z = z + noise * torch.randn(z.shape, generator=g, device=device)
        x0, sigma = aux.prior(z, torch.randn(y.shape, generator=g, device=device), tau)
    return x0, sigma, z


# reflow: the teacher's coupling replaces the independent one. Pairs (z, x0, y = the teacher's ODE solution from x0
# given z), drawn once on every rank alike: a flow trained on them has (nearly) straight paths, as each x0 has one y.
# Held in memory (reflow_pairs x 3 images on the device): fine at 32 px, a GPU's memory at 256 px
if teacher is not None:
    g_pairs = torch.Generator().manual_seed(seed + 2)
    pairs = {'x0': [], 'y': [], 'z': [], 'sigma': []}
    with torch.no_grad():
        for i in tqdm(range(0, reflow_pairs, 256), desc='reflow pairs', disable=not master):
            y = get_batch(dataset, torch.randint(N, (min(256, reflow_pairs - i),), generator=g_pairs), device)
            x0, sigma, z = draw_prior(y, g_pairs if device == 'cpu' else torch.Generator(device).manual_seed(seed + i),
                                      z_noise)
            with ctx:
                y_teacher = M.solve(lambda x, t: teacher(x, t, z), x0, reflow_steps, 'midpoint').float()
            for k, v in (('x0', x0), ('y', y_teacher), ('z', z), ('sigma', sigma)):
                pairs[k].append(v)
    pairs = {k: torch.cat(v) if v[0] is not None else None for k, v in pairs.items()}


@torch.no_grad()
def sample_grid():
    g = torch.Generator().manual_seed(seed)
    y = get_batch(dataset, torch.randint(N, (16,), generator=g), device)
    x0, _, z = draw_prior(y, torch.Generator(device).manual_seed(seed))
    with ctx:
        rows = [M.solve(lambda x, t: ema(x, t, z), x0, n, 'midpoint') for n in (1, 4)]
    return save_grid(to_pixels(torch.cat([x0, *rows, y]).float()), f'{out_dir}/flow_{it:06d}.png', 16, grid_upscale)


# -----------------------------------------------------------------------------
# training loop
t_start = t_log = time.time()
log_path = start_log(os.path.join(out_dir, 'flow_log.jsonl'), it) if master else None   # benchmarks/plot_log.py
it_log = it
skipped = 0  # batches skipped for a non-finite loss (skip_nonfinite)
clipped = 0  # steps since the last log line whose gradient norm grad_clip scaled down (LeDiFlow's Eq. 6 and the
             # baseline's loss differ in scale, so the same grad_clip may bind on one and not the other)
stop = out_of_time()
if stop and ck is None:   # a budget smaller than the start-up (or than a reflow teacher's time) would save nothing
    took = seconds_before + time.time() - t_launch
    spent = f"{'the teacher and ' if teacher is not None else ''}start-up took {took:.0f} s"
    die(f'max_train_seconds={max_train_seconds:g} is spent before the first iteration ({spent}): '
        f'nothing would be trained')
while it < max_iters and not stop:
    lr_now = get_lr(it)
    for group in optimizer.param_groups:
        group['lr'] = lr_now
    # the randomness of this iteration on this rank: seeded by (seed, iteration, rank), so a resumed
    # run draws exactly what an unbroken one would (data indices on the CPU, noise on the device)
    s = (seed * 1_000_003 + it) * 4099 + rank
    g_cpu = torch.Generator().manual_seed(s)
    g_dev = g_cpu if device == 'cpu' else torch.Generator(device).manual_seed(s)
    torch.manual_seed(s)   # the global generator's only use here: flow_dropout's masks (so they resume exactly too)
    loss_sum = torch.zeros((), device=device)
    for micro_step in range(gradient_accumulation_steps):
        if teacher is None:
            y = get_batch(dataset, torch.randint(N, (micro_batch,), generator=g_cpu), device, flip, g_cpu)
            x0, sigma, z = draw_prior(y, g_dev, z_noise)
        else:   # reflow: a batch of the teacher's pairs
            j = torch.randint(reflow_pairs, (micro_batch,), generator=g_cpu).to(device)
            x0, y, z, sigma = (None if pairs[k] is None else pairs[k][j] for k in ('x0', 'y', 'z', 'sigma'))
        if coupling == 'ot':   # minibatch OT: this micro-batch's noise re-paired with its images (per rank)
            x0 = x0[M.ot_pairing(x0, y)]
        t = M.sample_t(micro_batch, t_dist, g_dev, device)              # uniform or logit-normal
        tb = t.view(-1, 1, 1, 1)
        x_t = (1 - tb) * x0 + tb * y                                     # the straight path from x0 to y
        if world > 1:   # DDP all-reduces the gradients in backward(): only needed on the last micro-step
            model.require_backward_grad_sync = micro_step == gradient_accumulation_steps - 1
        with ctx:
            v = model(x_t, t, z).float()
        loss = M.lediflow_loss(v, y, x0, sigma, w_max) if learned else M.fm_loss(v, y, x0)   # Eq. 6 / Eq. 2
        scaler.scale(loss / gradient_accumulation_steps).backward()
        loss_sum += loss.detach()
    loss_mean = loss_sum / gradient_accumulation_steps
    # the optimizer step: clip the gradient, check (on every rank) that all is finite, step, EMA
    scaler.unscale_(optimizer)   # float16: the true gradients before clipping
    grad_norm = torch.nn.utils.clip_grad_norm_(raw_model.parameters(), grad_clip or float('inf'))
    clipped += bool(grad_clip and grad_norm > grad_clip)
    if all_ranks_finite_or_die(loss_mean, grad_norm, 'flow', it, skip_nonfinite, fp16=scaler.is_enabled(),
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
    stop = out_of_time()

    if master and (it % log_interval == 0 or it == max_iters or stop):
        dt, t_log = time.time() - t_log, time.time()
        n_steps, it_log = it - it_log, it
        n_img = batch_size * n_steps
        print(f'flow iter {it}/{max_iters}: loss {loss_mean.item():.4f}, lr {lr_now:.2e}, {n_img / dt:.1f} img/s, '
              f'{time.time() - t_start:.0f}s, clipped {clipped / n_steps:.0%}' +
              (f', {skipped} skipped' if skipped else ''), flush=True)
        log_row(log_path, iter=it, loss=loss_mean.item(), lr=lr_now, img_per_s=n_img / dt,
                wall_s=seconds_before + time.time() - t_launch, skipped=skipped, clipped=clipped / n_steps)
        clipped = 0
    keep = [os.path.join(out_dir, f'flow_{it:06d}.pt')] if keep_every and it % keep_every == 0 else []
    if master and (it % ckpt_interval == 0 or it == max_iters or stop or keep):
        checkpoint(*keep)   # a kept snapshot loads as a run's flow.pt
    if master and sample_interval and (it % sample_interval == 0 or it == max_iters or stop):   # 0: no grids
        sample_grid()

if master:
    if stop:
        print(f'flow: stopped at iteration {it}, the training time reached max_train_seconds={max_train_seconds:.0f}')
    grid = f', grid {out_dir}/flow_{it:06d}.png' if sample_interval else ''   # sample_interval=0: none
    print(f'flow done: {ckpt_path}{grid}, {time.time() - t_start:.0f}s')
if world > 1:
    check_ranks_in_sync(raw_model, master)
    del model               # the DDP wrapper holds the process group (common.destroy_distributed says why)
    destroy_distributed()
