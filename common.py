"""
Plumbing shared by train_aux.py, train_flow.py, train_sampler.py, sample.py and evaluate.py:
device and DDP set-up, the memory-mapped data, atomic checkpoints and loading the frozen stages,
the VAE of latent mode, images and PNG grids. Plain functions. Everything that makes a training
iteration (the loss, the optimizer step, clipping, EMA, the lr schedule, the seeding) is written
out in the training scripts themselves.
"""
import contextlib
import gc
import glob
import json
import math
import os
import signal
import sys
import threading

import numpy as np
import torch
import torch.distributed as dist
from PIL import Image

import model as M


def die(msg):
    """A one-line error on stderr and exit code 1 (no stack trace). Under torchrun every rank
    meets the same checks (config, files, the all-reduced finite check), so only rank 0 prints
    and every rank exits 1."""
    if int(os.environ.get('RANK', 0)) == 0:
        print(f'error: {msg}', file=sys.stderr, flush=True)
    os._exit(1) if dist.is_available() and dist.is_initialized() else sys.exit(1)


# -----------------------------------------------------------------------------
# device and DDP set-up

def pick_device(device):
    """'auto' -> 'cuda' if there is a GPU, else 'cpu'; a CUDA device without CUDA is a one-line error."""
    if device == 'auto':
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if device.startswith('cuda') and not torch.cuda.is_available():
        die(f"device '{device}' requested but CUDA is not available; use --device=cpu")
    return device


def pick_dtype(dtype, device):
    """The compute dtype: 'auto' -> bfloat16 on CUDA, float32 on the CPU. bfloat16/float16 run the
    forward pass under autocast (on the CPU too, when asked for); float32 runs without it."""
    if dtype == 'auto':
        dtype = 'bfloat16' if device.startswith('cuda') else 'float32'
    if dtype not in ('float32', 'bfloat16', 'float16'):
        die(f"dtype must be 'auto', 'float32', 'bfloat16' or 'float16', got '{dtype}'")
    return dtype


def compute_line(device, dtype, compile=False):
    """The start-up line that says what runs: device, compute dtype, compile, the neighborhood attention."""
    return (f"compute: {device}, {dtype}{' autocast' if dtype != 'float32' else ''}{', torch.compile' if compile else ''}; "
            f'neighborhood attention: {M.attention_path(device)}')


def init_distributed(device):
    """-> (rank, world_size, device, master). Under torchrun (RANK set) joins the process group:
    nccl on CUDA, gloo on CPU; each rank takes the GPU of its LOCAL_RANK."""
    device = pick_device(device)
    if int(os.environ.get('RANK', -1)) == -1:
        return 0, 1, device, True
    rank, world = int(os.environ['RANK']), int(os.environ['WORLD_SIZE'])
    if device.startswith('cuda'):
        device = f"cuda:{int(os.environ['LOCAL_RANK'])}"
        torch.cuda.set_device(device)
    # Before the process group exists: torch.distributed.nn's functions take `group=group.WORLD` as
    # a default argument, evaluated at import. Imported later (DDP does it lazily), they would keep
    # the process group alive to the end of the process, and destroy_process_group() could not
    # stop gloo's worker threads; see destroy_distributed().
    import torch.distributed.nn  # noqa: F401
    dist.init_process_group('nccl' if device.startswith('cuda') else 'gloo')
    return rank, world, device, rank == 0


def destroy_distributed():
    """End the process group for real, while Python is still fully alive. Call it after the DDP
    wrapper is gone (`del model`): DDP holds the group. Why it matters: a gloo worker thread drops
    its reference to a collective's tensors a moment after the collective completes, and that
    needs the GIL. If the group (and so its threads) outlives the script, a thread that is late
    (a busy machine) asks for the GIL while the interpreter shuts down; Python ends such a thread
    inside a C++ destructor and the process aborts (SIGABRT, "terminate called without an active
    exception"). Destroying the last reference joins the threads first, with the GIL released."""
    gc.collect()   # DDP's reference cycles: the wrapper (and its reducer) really go now
    dist.destroy_process_group()


def build(cls, model_args):
    """The network, or a one-line error for an impossible shape (resolution vs patch and levels, ...)."""
    try:
        return cls(**model_args)
    except ValueError as e:
        die(str(e))


# -----------------------------------------------------------------------------
# the networks' arguments, from the config: one home for the training scripts and benchmarks/speed.py
# (they are stored in every checkpoint as 'model_args' and rebuild the network from it)

def aux_model_args(cfg, channels, image_size):
    """AuxModel (stage 1) for data of `channels` x image_size [H, W]."""
    return dict(channels=channels, image_size=list(image_size), patch=cfg['aux_patch'], widths=cfg['aux_widths'],
                depths=cfg['aux_depths'], d_head=cfg['aux_d_head'], ff_mult=cfg['aux_ff_mult'],
                kernel=cfg['aux_kernel'], z_channels=cfg['z_channels'],
                logvar_range=[cfg['logvar_min'], cfg['logvar_max']])


def flow_model_args(cfg, channels, image_size, z_shape):
    """HDiT flow model F (stage 2); z_shape None: the gaussian-prior baseline (no z input)."""
    return dict(channels=channels, image_size=list(image_size), patch=cfg['flow_patch'], widths=cfg['flow_widths'],
                depths=cfg['flow_depths'], d_head=cfg['flow_d_head'], ff_mult=cfg['flow_ff_mult'],
                kernel=cfg['flow_kernel'], mapping_width=cfg['flow_mapping_width'],
                mapping_depth=cfg['flow_mapping_depth'], z_shape=None if z_shape is None else list(z_shape),
                # only when set, so that checkpoints from before flow_dropout existed resume and compare equal
                **({'dropout': cfg['flow_dropout']} if cfg['flow_dropout'] else {}))


def sampler_model_args(cfg, z_shape):
    """HDiT latent sampler S (stage 3) on z of z_shape [c, h, w]: one level of global attention."""
    patch, widths = cfg['sampler_patch'], cfg['sampler_widths']
    if len(widths) != 1:
        die(f'the latent sampler has one level of global attention: sampler_widths must have one entry, got {widths}')
    if any(s % patch for s in z_shape[1:]):
        die(f'sampler_patch={patch} does not divide the z grid {list(z_shape[1:])}')
    return dict(channels=z_shape[0], image_size=list(z_shape[1:]), patch=patch, widths=widths,
                depths=cfg['sampler_depths'], d_head=cfg['sampler_d_head'], ff_mult=cfg['sampler_ff_mult'],
                kernel=None, mapping_width=cfg['sampler_mapping_width'], mapping_depth=cfg['sampler_mapping_depth'],
                z_shape=None)


_skipped_in_a_row = {}   # per stage: optimizer steps skipped one after another (all_ranks_finite_or_die)


def all_ranks_finite_or_die(loss, grad_norm, stage, it, skip_nonfinite, fp16=False, max_in_a_row=50):
    """The finite check before an optimizer step, agreed by every rank (a collective all-reduce: call it on every
    rank; it may end the process): True if the loss and gradient norm are finite everywhere. Otherwise the run
    stops naming the stage and iteration, before the weights change (the last checkpoint stays good), or, with
    skip_nonfinite, returns False and the caller skips the batch. float16: an overflowing gradient is routine (the
    GradScaler skips that step and lowers its scale): False, without stopping. But max_in_a_row skipped steps one
    after another (the scaler cannot fix a gradient that is NaN at every scale) stop the run: it cannot learn."""
    bad = torch.stack([~torch.isfinite(loss.detach()), ~torch.isfinite(grad_norm)]).float()
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(bad, op=dist.ReduceOp.MAX)
    bad_loss, bad_grad = bad.tolist()
    if (bad_loss or (bad_grad and not fp16)) and not skip_nonfinite:
        die(f'stage {stage}: non-finite loss ({loss.item()}) or gradient at iteration {it}; stopped, the last '
            f'checkpoint is kept. Lower lr, raise warmup_iters, or pass --skip_nonfinite=True to skip such batches')
    ok = not (bad_loss or bad_grad)
    _skipped_in_a_row[stage] = 0 if ok else _skipped_in_a_row.get(stage, 0) + 1
    if _skipped_in_a_row[stage] >= max_in_a_row:
        die(f'stage {stage}: {_skipped_in_a_row[stage]} optimizer steps in a row skipped for a non-finite loss or '
            f'gradient (the last at iteration {it}); stopped, the last checkpoint is kept. '
            + ('float16 cannot represent these gradients: use --dtype=bfloat16 or float32, or lower lr'
               if fp16 else 'Lower lr or raise warmup_iters'))
    return ok


def check_ranks_in_sync(model, master):
    """Under DDP every rank must end with the same weights: compare per-tensor checksums across ranks."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    dev = next(model.parameters()).device
    mine = torch.stack([s for p in model.parameters() for s in (p.double().sum(), p.double().square().sum())]).to(dev)
    every = [torch.empty_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(every, mine)
    if not all(torch.equal(every[0], e) for e in every):
        die('the DDP ranks ended with different weights')
    if master:
        print(f'DDP: weights identical on all {len(every)} ranks', flush=True)


# -----------------------------------------------------------------------------
# data: uint8 images [N, H, W, C] from data/prepare.py, or float16 VAE latents [N, h, w, c]
# (latent mode, data/prepare.py --vae) described by a .json sidecar: which VAE, which scale

def meta_path(path):
    return os.path.splitext(path)[0] + '.json'


def data_meta(path):
    """The latent-mode description of a data file (VAE, scaling), or None for pixel data."""
    p = meta_path(path)
    return json.load(open(p)) if os.path.isfile(p) and not path.endswith('.npz') else None


def describe(latent):
    return 'pixels' if latent is None else f"latents of {latent['vae']} (scale {latent['scaling_factor']})"


SPLIT_SEED = 0   # the fixed permutation behind the held-out images and evaluate.py's tune/test halves


def data_split(n, holdout):
    """-> (training indices, held-out indices), both sorted: the first round(holdout * n) items of a fixed permutation
    (seed SPLIT_SEED, whatever the run's seed) are never trained on, by any stage of any method, so evaluate.py can
    compare samples with images no model has seen (its memorisation check)."""
    if not 0 <= holdout < 1:
        die(f'holdout must be a fraction in [0, 1), got {holdout}')
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(SPLIT_SEED))
    k = round(holdout * n)
    return perm[k:].sort().values, perm[:k].sort().values


def load_data(path, image_size=0, aux_ck=None, holdout=0.0):
    """The training data, [N, H, W, C] (memory-mapped for .npy): uint8 images, or float16 latents
    with their sidecar. Checks it against the config's image_size (the pixel resolution; 0 = any)
    and against the aux checkpoint a later stage builds on (same shape, same VAE). holdout > 0: only
    the training items (data_split), read into memory."""
    if not os.path.isfile(path):
        die(f"data file '{path}' not found; build it with data/prepare.py (see README)")
    try:
        data = np.load(path)['images'] if path.endswith('.npz') else np.load(path, mmap_mode='r')
    except Exception as e:
        die(f"data file '{path}' could not be read as a .npy/.npz image array, the format data/prepare.py writes "
            f"({type(e).__name__}: {str(e).splitlines()[0][:160]})")
    latent = data_meta(path)
    want = np.float16 if latent else np.uint8
    if data.ndim != 4 or len(data) == 0 or data.dtype != want:
        hint = '' if latent or data.dtype == np.uint8 else f'; latents need the sidecar {meta_path(path)} (data/prepare.py --vae)'
        die(f"data file '{path}' must hold a non-empty {np.dtype(want).name} array [N, H, W, C], got "
            f"{data.dtype} {list(data.shape)}{hint}")
    pixels = latent['image_size'] if latent else list(data.shape[1:3])
    if image_size and list(pixels) != [image_size, image_size]:
        die(f"data file '{path}' holds {'latents of ' if latent else ''}{pixels[0]}x{pixels[1]} images but the config "
            f"says image_size={image_size}; prepare the data at that size or change image_size")
    if aux_ck is not None and aux_ck.get('latent') != latent:
        die(f"aux.pt was trained on {describe(aux_ck.get('latent'))}, but '{path}' holds {describe(latent)}; "
            f"every stage must use the same data (and VAE)")
    if aux_ck is not None:
        a = aux_ck['model_args']
        if [*a['image_size'], a['channels']] != list(data.shape[1:]):
            die(f"aux.pt was trained on {a['image_size'][0]}x{a['image_size'][1]}x{a['channels']} data, "
                f"but '{path}' holds {data.shape[1]}x{data.shape[2]}x{data.shape[3]}")
    if aux_ck is not None and aux_ck['config'].get('holdout', 0.0) != holdout:
        die(f"aux.pt was trained with holdout={aux_ck['config'].get('holdout', 0.0)}, this run has "
            f"holdout={holdout}; every stage must hold out the same images")
    return data[data_split(len(data), holdout)[0].numpy()] if holdout else data


def get_batch(data, idx, device, flip=False, gen=None):
    """Items idx -> float [B, C, H, W] on device: images scaled to [-1, 1], latents as stored
    (random horizontal flips if flip)."""
    idx = np.sort(idx.numpy())  # sorted reads are kinder to a memory-mapped file
    x = torch.from_numpy(np.ascontiguousarray(data[idx])).permute(0, 3, 1, 2).float()
    if data.dtype == np.uint8:
        x = x / 127.5 - 1
    if flip:
        f = torch.rand(len(idx), generator=gen) < 0.5
        x[f] = x[f].flip(-1)
    return x.to(device, non_blocking=True)


# -----------------------------------------------------------------------------
# checkpoints

_written = {}   # checkpoint path -> the iteration this process last wrote there (for say_what_ctrl_c_kept)


def save_checkpoint(obj, path):
    """Atomic: write a temp file in the same folder, fsync, rename over the old one, fsync the folder.
    A crash at any moment leaves either the old or the new checkpoint, never a torn one; a Ctrl-C waits until
    the write is done. Weights that are no longer finite are never written over a good checkpoint."""
    for key in ('model', 'ema'):
        if key in obj and not all(torch.isfinite(v).all() for v in obj[key].values() if v.is_floating_point()):
            die(f"non-finite weights at iteration {obj.get('iter')}; not overwriting the last good checkpoint '{path}'")
    for stale in glob.glob(f'{glob.escape(path)}.tmp.*'):  # left by a process killed mid-write
        with contextlib.suppress(OSError):
            os.remove(stale)
    tmp = f'{path}.tmp.{os.getpid()}'
    with ctrl_c_waits():
        try:
            with open(tmp, 'wb') as f:
                torch.save(obj, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            _written[path] = obj.get('iter')
        except BaseException as e:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            if isinstance(e, OSError):
                die(f"could not write checkpoint '{path}' ({e}); the previous checkpoint is kept")
            raise
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def ctrl_c_waits():
    """Hold a Ctrl-C (SIGINT) that arrives inside the block until the block is done, then do what the handler before
    would have: Python's default raises KeyboardInterrupt, SIG_DFL ends the process, SIG_IGN drops it. Around a
    checkpoint write: torch.save stopped midway raises a RuntimeError from its zip writer, not KeyboardInterrupt."""
    # Only the main thread may set handlers, and a handler set outside Python (getsignal None) cannot be put back.
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is None:
        yield
        return
    caught = []
    old = signal.signal(signal.SIGINT, lambda *args: caught.append(args))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
    if caught and callable(old):
        old(*caught[0])   # Python's default handler raises KeyboardInterrupt
    elif caught and old == signal.SIG_DFL:
        signal.raise_signal(signal.SIGINT)   # the default action, now back in place: the process ends by SIGINT


def say_what_ctrl_c_kept(ckpt_path):
    """Ctrl-C in a training script: instead of Python's traceback, one line (rank 0) saying what is kept and how to
    go on. Checkpoints are atomic, so only the iterations since the last one are lost. Other errors keep theirs."""
    def hook(kind, value, tb):
        if not issubclass(kind, KeyboardInterrupt):
            return sys.__excepthook__(kind, value, tb)
        if int(os.environ.get('RANK', 0)) != 0:
            return
        if ckpt_path in _written:
            kept = f'{ckpt_path} holds iteration {_written[ckpt_path]}; --init_from=resume goes on from there'
        elif os.path.isfile(ckpt_path):
            kept = f'{ckpt_path} is as this run found it (no checkpoint written yet); --init_from=resume goes on from it'
        else:
            kept = 'before the first checkpoint, nothing was written'
        print(f'interrupted: {kept}', file=sys.stderr, flush=True)
    sys.excepthook = hook


def load_checkpoint(path, what):
    """torch.load(weights_only=True): a checkpoint is data, never code. One-line errors."""
    if not os.path.isfile(path):
        die(f"no {what} checkpoint at '{path}'; train it first (see README) or set --out_dir")
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:
        die(f"{what} checkpoint '{path}' could not be loaded safely: truncated, corrupt, or holding more than tensors "
            f"and plain data ({type(e).__name__}: {str(e).splitlines()[0][:200]})")


def load_weights(net, state, path):
    """load_state_dict, with a one-line error for weights of another layout (e.g. a checkpoint written
    by an older model.py, before its blocks were renamed)."""
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        keys = [k for k in state][:2]
        die(f"'{path}' holds weights that do not fit this model.py (its parameter names, e.g. {keys}, or shapes "
            f"differ: {str(e).splitlines()[1].strip()[:160] if len(str(e).splitlines()) > 1 else e}); it was written by "
            f"another version of this repo: retrain it, or check out the version that wrote it")


def args_diff(there, here):
    """The keys where a checkpoint's model args differ from the config's: 'widths [128, 256] there, [64, 128] here'."""
    return ', '.join(f'{k} {there.get(k, "unset")} there, {here.get(k, "unset")} here'
                     for k in sorted(set(there) | set(here)) if there.get(k) != here.get(k))


def init_state(init_from, path, what, model_args, model, ema, optimizer, scaler, aux_ck=None):
    """'scratch' -> None. 'resume' -> the checkpoint at path, its weights, EMA, optimizer and gradient-scaler
    state loaded into model, ema, optimizer, scaler; refused if it has another architecture or was trained
    against another aux checkpoint than aux_ck."""
    if init_from not in ('scratch', 'resume'):
        die(f"init_from must be 'scratch' or 'resume', got '{init_from}'")
    if init_from == 'scratch':
        return None
    ck = load_checkpoint(path, what)
    if ck['model_args'] != model_args:
        die(f"{path} was trained with other model args than the config gives "
            f"({args_diff(ck['model_args'], model_args)}); resume with the same network settings, or start a new out_dir")
    if aux_ck is not None and ck.get('aux_ref') != aux_ref(aux_ck):
        die(f"{path} was trained against aux checkpoint {ck.get('aux_ref')}, aux.pt is now {aux_ref(aux_ck)}")
    load_weights(model, ck['model'], path)
    load_weights(ema, ck['ema'], path)
    optimizer.load_state_dict(ck['optimizer'])
    if ck.get('scaler'):
        scaler.load_state_dict(ck['scaler'])
    return ck


def aux_ref(ck):
    """What identifies an aux checkpoint: its run id and iteration (stored by the later stages)."""
    return {'run_id': ck['run_id'], 'iter': ck['iter']}


def load_aux(out_dir, device):
    """The frozen stage-1 model (EMA weights) -> (AuxModel, checkpoint)."""
    ck = load_checkpoint(os.path.join(out_dir, 'aux.pt'), 'auxiliary model (stage 1)')
    aux = M.AuxModel(**ck['model_args'])
    load_weights(aux, ck['ema'], os.path.join(out_dir, 'aux.pt'))
    return aux.to(device).eval().requires_grad_(False), ck


def load_stage(out_dir, name, what, device, aux_ck=None, allow_mismatch=False):
    """A frozen stage-2/3 model (EMA weights) -> (HDiT, checkpoint); refuses one trained against
    another aux checkpoint than aux_ck (unless allow_mismatch)."""
    ck = load_checkpoint(os.path.join(out_dir, name), what)
    if aux_ck is not None and ck.get('aux_ref') != aux_ref(aux_ck):
        msg = (f"{what} '{os.path.join(out_dir, name)}' was trained against aux checkpoint {ck.get('aux_ref')}, "
               f"but aux.pt is {aux_ref(aux_ck)}")
        if not allow_mismatch:
            die(f'{msg}; retrain it on this aux model (or pass --allow_mismatch=True to use it anyway)')
        print(f'warning: {msg}; using it anyway (allow_mismatch)', file=sys.stderr)
    net = M.HDiT(**ck['model_args'])
    load_weights(net, ck['ema'], os.path.join(out_dir, name))
    return net.to(device).eval().requires_grad_(False), ck


# -----------------------------------------------------------------------------
# the machine-readable log: out_dir/<stage>_log.jsonl, one JSON object per log line

def start_log(path, it):
    """Open a stage's log for a run at iteration it: from scratch (it = 0) an empty file; on resume the rows up to
    it are kept and later ones (logged after the checkpoint a crash went back to) dropped, so no row is doubled.
    A row a crash or a full disk cut short is dropped too."""
    rows = []
    if it and os.path.isfile(path):
        with open(path) as f:
            for line in f:
                try:
                    if json.loads(line)['iter'] <= it:
                        rows.append(line.rstrip('\n') + '\n')
                except (ValueError, KeyError, TypeError):   # torn or empty
                    pass
    with open(path + '.tmp', 'w') as f:
        f.writelines(rows)
    os.replace(path + '.tmp', path)
    return path


def log_row(path, **row):
    """Append one row (iteration, loss parts, lr, images/s, wall time) to the log."""
    try:
        with open(path, 'a') as f:
            f.write(json.dumps(row) + '\n')
    except OSError as e:   # a full disk: say so in one line (the last checkpoint is whole)
        die(f"could not write the log '{path}' ({e}); the last checkpoint is kept")


# -----------------------------------------------------------------------------
# latent mode: a diffusers autoencoder (the SD2 VAE) between pixels and the latents the stages model

def load_vae(path, device):
    """AutoencoderKL or AutoencoderTiny from a local directory (a Stable Diffusion repo with a vae/
    subfolder works too), or a hub name when there is network."""
    import diffusers  # only latent mode needs it
    if not os.path.isdir(path) and (os.path.isabs(path) or path.startswith('.') or path.count('/') != 1):
        die(f"VAE directory '{path}' not found (a local copy of a diffusers VAE, e.g. stable-diffusion-2's vae folder)")
    sub = 'vae' if os.path.isfile(os.path.join(path, 'vae', 'config.json')) else None
    cfg_file = os.path.join(path, sub or '', 'config.json')
    kind = json.load(open(cfg_file)).get('_class_name', 'AutoencoderKL') if os.path.isfile(cfg_file) else 'AutoencoderKL'
    if kind not in ('AutoencoderKL', 'AutoencoderTiny'):
        die(f"'{path}' holds a {kind}; latent mode takes an AutoencoderKL or AutoencoderTiny")
    try:
        vae = getattr(diffusers, kind).from_pretrained(path, subfolder=sub)
    except Exception as e:
        die(f"VAE '{path}' could not be loaded ({type(e).__name__}: {str(e).splitlines()[0][:200]})")
    return vae.to(device).eval().requires_grad_(False)


def vae_meta(vae, path, image_size):
    """What the data sidecar and every checkpoint record about the latent space."""
    c = vae.config
    return dict(vae=os.path.abspath(path) if os.path.isdir(path) else path, kind=type(vae).__name__,
                scaling_factor=float(c.scaling_factor), shift_factor=float(c.get('shift_factor') or 0.0),
                image_size=[image_size, image_size])


@torch.no_grad()
def vae_encode(vae, meta, x):
    """Images [-1, 1] -> (latent - shift) * scale (the posterior mean for AutoencoderKL)."""
    enc = vae.encode(x.to(vae.dtype))
    lat = enc.latents if meta['kind'] == 'AutoencoderTiny' else enc.latent_dist.mean
    return (lat.float() - meta['shift_factor']) * meta['scaling_factor']


@torch.no_grad()
def vae_decode(vae, meta, z, batch=32):
    """Scaled latents -> images in [-1, 1], in batches."""
    out = [vae.decode((z[i:i + batch] / meta['scaling_factor'] + meta['shift_factor']).to(vae.dtype)).sample.float()
           for i in range(0, len(z), batch)]
    return torch.cat(out)


def pixel_view(latent, device):
    """For the training grids: data-space tensors -> images (identity in pixel mode; the VAE,
    loaded on first use, in latent mode)."""
    vae = []
    def view(x):
        if latent is None:
            return x
        if not vae:
            vae.append(load_vae(latent['vae'], device))
        return vae_decode(vae[0], latent, x.float())
    return view


def load_run(out_dir, device, allow_mismatch=False):
    """Everything sample.py and evaluate.py need from a run directory: (flow, aux, sampler, flow
    checkpoint); aux and sampler are None for the gaussian-prior baseline."""
    flow_ck = load_checkpoint(os.path.join(out_dir, 'flow.pt'), 'flow model (stage 2)')
    aux = sampler = aux_ck = None
    if flow_ck['model_args']['z_shape'] is not None:
        aux, aux_ck = load_aux(out_dir, device)
        sampler, _ = load_stage(out_dir, 'sampler.pt', 'latent sampler (stage 3)', device, aux_ck, allow_mismatch)
    flow, _ = load_stage(out_dir, 'flow.pt', 'flow model (stage 2)', device, aux_ck, allow_mismatch)
    return flow, aux, sampler, flow_ck


# -----------------------------------------------------------------------------
# images

def to_rgb(img, background=(255, 255, 255)):
    """Any PIL mode (RGBA, LA, P, L, I;16, CMYK) -> RGB uint8, transparency composited on white."""
    if img.mode in ('I;16', 'I;16B', 'I;16L', 'I'):  # 16/32-bit grayscale: rescale to 8 bit
        a = np.asarray(img, dtype=np.float64)
        a = a / (65535.0 if a.max() > 255 else 255.0) * 255.0
        img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), 'L')
    if img.mode == 'P':
        img = img.convert('RGBA')
    if img.mode in ('RGBA', 'LA'):
        img = img.convert('RGBA')
        bg = Image.new('RGBA', img.size, background + (255,))
        img = Image.alpha_composite(bg, img)
    return img.convert('RGB')


def center_crop_resize(img, size):
    w, h = img.size
    s = min(w, h)
    img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    return img.resize((size, size), Image.LANCZOS) if s != size else img


def load_image(path, size):
    """An image file of any size or mode -> float [1, 3, size, size] in [-1, 1] (center crop + resize,
    transparency on white, with a one-line notice when it had to be converted)."""
    if not os.path.isfile(path):
        die(f"image file '{path}' not found")
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode != 'RGB' or img.size != (size, size):
                print(f"note: {path} is {img.mode} {img.size[0]}x{img.size[1]}; converted to RGB, center-cropped "
                      f"and resized to {size}x{size}")
            a = np.asarray(center_crop_resize(to_rgb(img), size), dtype=np.uint8)
            return torch.from_numpy(a.copy()).permute(2, 0, 1)[None].float() / 127.5 - 1, img.size
    except (OSError, ValueError) as e:
        die(f"image file '{path}' could not be read ({type(e).__name__}: {e})")

def to_uint8(x):
    """[B, C, H, W] in [-1, 1] -> uint8 [B, H, W, C] numpy."""
    return ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def grid_scale(size, upscale=True):
    """The integer factor a PNG meant for a person is enlarged by: tiles of 64 px or less grow (nearest
    neighbour) to at least 128 px, so a 32 px image is shown at 128 px; larger images stay native."""
    return max(1, math.ceil(128 / size)) if upscale and size <= 64 else 1


def make_dir(path):
    """os.makedirs(path, exist_ok=True), with a one-line error where it cannot be made (a file in its way, no
    permission, a read-only or full disk) -> path."""
    if os.path.exists(path) and not os.path.isdir(path):
        die(f"'{path}' is a file, where a directory is needed")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        die(f"cannot create the directory '{path}' ({e.strerror or e})")
    return path


def save_grid(x, path, nrow=8, upscale=True):
    """Save images [B, C, H, W] in [-1, 1] as one PNG grid, nrow images per row, 2 px white gaps, enlarged by
    grid_scale (nearest neighbour: every pixel becomes a k x k block, gaps too; upscale=False: native size)."""
    a = to_uint8(x)
    B, H, W, C = a.shape
    rows = math.ceil(B / nrow)
    grid = np.full((rows * (H + 2) + 2, nrow * (W + 2) + 2, C), 255, np.uint8)
    for i, img in enumerate(a):
        r, c = divmod(i, nrow)
        grid[2 + r * (H + 2):2 + r * (H + 2) + H, 2 + c * (W + 2):2 + c * (W + 2) + W] = img
    k = grid_scale(min(H, W), upscale)
    grid = grid.repeat(k, axis=0).repeat(k, axis=1)
    make_dir(os.path.dirname(os.path.abspath(path)))
    try:
        Image.fromarray(grid[..., 0] if C == 1 else grid).save(path)
    except OSError as e:   # a full disk, or a folder of that name
        die(f"could not write the image '{path}' ({e})")
    return path
