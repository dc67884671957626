"""
Generate images with trained LeDiFlow checkpoints (or the Gaussian-prior FM baseline), and use the
latent space (paper section 4.2): interpolation, inpainting, anonymization.

    z  = solve(S, n ~ N(0, I))         latent sampler, sampler_steps x sampler_solver
    mu_x, logvar_x = D(z)              the learned prior
    x0 = mu_x + tau * sigma * eps      a sample of it
    x1 = solve(F(., ., z), x0)         the flow, steps x solver: 1 step already works

    python sample.py                                   # out/emoji (the demo), 1 midpoint step
    python sample.py --steps=4 --solver=heun3 --num_samples=256 --out_dir=out/ffhq --seed=7
    python sample.py --out_dir=out/emoji-fm --steps=16 # the baseline (its flow.pt has prior='gaussian')
    python sample.py --num_samples=10000 --save_npz=out/emoji/samples.npz   # for external FID tools (arr_0, uint8)

Modes (--mode=...), each writing one PNG (--output, default out_dir/<mode>.png):
    interpolate   two images (--image, --image2) or two random latents (seeds seed, seed+1):
                  row 1 linear in z; row 2 through the latent sampler: both z solved backward
                  (t 1 -> 0) to noise, interpolated there (--interp=linear, the paper's, or slerp),
                  solved forward again. --frames
    inpaint       --image plus --mask (PNG, white = regenerate) or --box=[x0, y0, x1, y1]:
                  z and x0 from the image through E and D, the Eq. 7 field keeps every unmasked
                  pixel on its straight line to the original. --variations (different prior noise)
    anonymize     --image: z inverted to noise n through the latent sampler, n + strength * r added
                  (r ~ N(0, I), as the paper; --rescale_noise=True divides by sqrt(1 + strength^2)),
                  mapped forward, the masked region (--box, --mask, or the whole image minus a
                  --border) regenerated with the inpainting field. --variations
Rows show the input, the mask (white = regenerated), then the results.
These modes live here, not in a script of their own: each is ~15 lines on top of the same loaded
models, and the shared helpers (encode, invert, prior sample, solve) read best next to plain sampling.

Loads the EMA weights of out_dir/{aux,flow,sampler}.pt (refusing a flow model or sampler that was
trained against another aux checkpoint) and prints solver, steps, NFE and ms per image. The sampling
settings (steps, solver, sampler_steps, sampler_solver, tau) come from the command line, else a config file
given, else the run's own config stored in flow.pt, else config/defaults.py; a line says which.
"""
import math
import os
import time
import zipfile
from contextlib import nullcontext

import numpy as np
import torch
import torch.distributed as dist
from PIL import Image
from tqdm import tqdm

import model as M
from common import (compute_line, destroy_distributed, die, init_distributed, load_image, load_run, load_vae,
                    make_dir, pick_dtype, save_grid, to_uint8, vae_decode)
from configurator import configure, take

# -----------------------------------------------------------------------------
# the settings this script reads (config/defaults.py defines and explains every key)
set_by = {}   # key -> the config file or 'command line' that set it
cfg = configure(set_by=set_by)
out_dir, device, dtype, use_natten, seed, allow_mismatch, vae, output, save_npz, grid_upscale = take(
    cfg, 'out_dir device dtype use_natten seed allow_mismatch vae output save_npz grid_upscale')
num_samples, sample_batch_size, mode, image, image2, frames = take(
    cfg, 'num_samples sample_batch_size mode image image2 frames')
mask, box, border, variations, strength, invert_steps = take(cfg, 'mask box border variations strength invert_steps')
interp, rescale_noise = take(cfg, 'interp rescale_noise')


def check_sampling(cfg):
    if cfg['solver'] not in M.TABLEAUS or cfg['sampler_solver'] not in M.TABLEAUS:
        bad = cfg['solver'] if cfg['solver'] not in M.TABLEAUS else cfg['sampler_solver']
        die(f"unknown solver '{bad}'; choose one of {', '.join(M.TABLEAUS)}")
    if min(cfg['steps'], cfg['sampler_steps']) < 1:
        die('steps and sampler_steps must be >= 1')


check_sampling(cfg)   # what the command line and config files gave, before any work
if frames < 2:   # (num_samples, variations, invert_steps, ...: configurator.py's range check)
    die(f'frames must be at least 2 (the two ends of the interpolation), got {frames}')
if mode not in ('sample', 'interpolate', 'inpaint', 'anonymize'):
    die(f"mode must be 'sample', 'interpolate', 'inpaint' or 'anonymize', got '{mode}'")
if not 0 <= border < 0.5:
    die(f'border is the fraction of the side kept at each edge: in [0, 0.5), got {border}')
if interp not in ('linear', 'slerp'):
    die(f"interp must be 'linear' or 'slerp', got '{interp}'")
M.USE_NATTEN = use_natten   # natten's CUDA kernels where they exist, else the pure-PyTorch path
rank, world, device, master = init_distributed(device)   # under torchrun: --save_npz shares the samples out
if world > 1 and not (mode == 'sample' and save_npz):
    die('under torchrun, sample.py shares out --mode=sample with --save_npz (each rank its share of the npz); '
        'run the other modes with plain python')
dtype = pick_dtype(dtype, device)   # 'auto': bfloat16 on CUDA, float32 on the CPU
ctx = nullcontext() if dtype == 'float32' else torch.autocast(device.split(':')[0], dtype=getattr(torch, dtype))
if master:
    print(compute_line(device, dtype))

flow, aux, sampler, flow_ck = load_run(out_dir, device, allow_mismatch)
learned = aux is not None

# the sampling settings: the command line, then a config file given, then the run's own config (stored in
# flow.pt: config/ffhq.py's 4 sampler steps reach `python sample.py --out_dir=out/ffhq`), then the defaults
SAMPLING = 'steps solver sampler_steps sampler_solver tau'
for key in SAMPLING.split():
    if key not in set_by and key in flow_ck.get('config', {}):
        cfg[key], set_by[key] = flow_ck['config'][key], f'{out_dir}/flow.pt'
check_sampling(cfg)
steps, solver, sampler_steps, sampler_solver, tau = take(cfg, SAMPLING)
if master:
    print('sampling settings: ' + ', '.join(f'{k} {cfg[k]} ({set_by.get(k, "default")})' for k in SAMPLING.split()))
if not learned and mode != 'sample':
    die(f"--mode={mode} needs LeDiFlow's latent space; {out_dir}/flow.pt is the gaussian-prior baseline")
C, H, W = flow_ck['model_args']['channels'], *flow_ck['model_args']['image_size']
latent = flow_ck.get('latent')   # latent mode: the models work on VAE latents, decoded for the outputs
H_img, W_img = latent['image_size'] if latent else (H, W)   # the images' size in pixels
if latent and mode != 'sample':
    die(f'--mode={mode} works on pixel-space models; {out_dir} models VAE latents')
vae_model = load_vae(vae or latent['vae'], device) if latent else None
g = torch.Generator().manual_seed(seed)
output = output or os.path.join(out_dir, f'samples_{solver}{steps}.png' if mode == 'sample' else f'{mode}.png')
for path in filter(None, (output, save_npz)):   # their folders, before any work (every rank: each writes its npz part)
    make_dir(os.path.dirname(os.path.abspath(path)))


# -----------------------------------------------------------------------------
# the pieces every application is made of

def randn(*shape):
    return torch.randn(shape, generator=g).to(device)


def encode(y):
    """z of an image: the encoder's posterior mean."""
    return aux.encode(y)[0]


def prior_sample(z, eps):
    """x0 = mu_x + tau * sigma * eps from the learned prior D(z)."""
    return aux.prior(z, eps, tau)[0]


def to_noise(z):
    """Invert the latent sampler: solve its ODE backward, t 1 -> 0."""
    return M.solve(sampler, z, invert_steps, sampler_solver, t0=1.0, t1=0.0)


def from_noise(n):
    return M.solve(sampler, n, invert_steps, sampler_solver)


def flow_to_image(z, x0):
    return M.solve(lambda x, t: flow(x, t, z), x0, steps, solver)


def inpaint(y, z, x0, mask):
    """Eq. 7: unmasked pixels follow the straight line x0 -> y and land exactly on y."""
    return M.solve(lambda x, t: M.inpaint_velocity(flow(x, t, z), y, x0, mask), x0, steps, solver)


def input_image(path):
    if not path:
        die(f'--mode={mode} needs --image=PATH')
    if H != W:
        die(f'the applications take square images; this model is {H}x{W}')
    y, size = load_image(path, H)
    return y.to(device), size


def load_mask(image_size, border=None):
    """1 where pixels are regenerated: from --mask (white = regenerate; the input file's size or the
    model's), --box=[x0, y0, x1, y1] in model pixels, or else the whole image minus a border (a
    fraction of the side at each edge; None: a mask or box is required)."""
    m = torch.zeros(1, 1, H, W)
    if mask:
        if not os.path.isfile(mask):
            die(f"mask file '{mask}' not found")
        try:
            img = Image.open(mask)
            img.load()
        except OSError as e:
            die(f"mask file '{mask}' could not be read ({e})")
        if img.size == tuple(image_size) and img.size != (W, H):
            s = min(img.size)   # the same center crop as the image, then resize
            l, t = (img.size[0] - s) // 2, (img.size[1] - s) // 2
            img = img.crop((l, t, l + s, t + s)).resize((W, H), Image.NEAREST)
        elif img.size != (W, H):
            die(f'mask {mask} is {img.size[0]}x{img.size[1]}, but the image is {image_size[0]}x{image_size[1]} '
                f'and the model {W}x{H}; give a mask of either size')
        m = torch.from_numpy(np.asarray(img.convert('L'), dtype=np.float32) / 255.0 > 0.5).float()[None, None]
    elif box:
        x0, y0, x1, y1 = box
        if not (0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H):
            die(f'box {box} must satisfy 0 <= x0 < x1 <= {W} and 0 <= y0 < y1 <= {H} (model pixels)')
        m[..., y0:y1, x0:x1] = 1
    elif border is None:
        die('--mode=inpaint needs --mask=PNG or --box=[x0, y0, x1, y1]')
    else:
        b = int(round(border * H))
        m[..., b:H - b, b:W - b] = 1
    if not m.any():
        die(f'the mask regenerates no pixel ({"white = regenerate in " + mask if mask else f"border {border} of {H} px"})')
    return m


MAX_GRID = 256   # the PNG shows at most the first 256 samples; --save_npz holds all


def write_npz(path, parts):
    """Join the ranks' part files (uint8 [n, H, W, 3] .npy) into one npz holding them as 'arr_0', the layout
    external FID tools read, streaming in chunks (50,000 images at 256 px need not fit in memory), then remove them."""
    arrays = [np.load(p, mmap_mode='r') for p in parts]
    n, shape = sum(len(a) for a in arrays), arrays[0].shape[1:]
    tmp = path + '.tmp'
    with zipfile.ZipFile(tmp, 'w', zipfile.ZIP_STORED, allowZip64=True) as zf:
        with zf.open('arr_0.npy', 'w', force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, {'descr': '|u1', 'fortran_order': False, 'shape': (n, *shape)})
            for a in arrays:
                for i in range(0, len(a), 1024):
                    f.write(np.ascontiguousarray(a[i:i + 1024]).tobytes())
    del arrays
    os.replace(tmp, path)
    for p in parts:
        os.remove(p)


def report(what, n_img, seconds, nfe_flow, extra=''):
    print(f'{what}: solver {solver}, steps {steps}, NFE {nfe_flow}{extra}; {1000 * seconds / n_img:.1f} ms/img '
          f'({n_img} images, {device}, {dtype})')


# -----------------------------------------------------------------------------
with torch.no_grad(), ctx:
    t0 = time.perf_counter()
    if mode == 'sample':
        # sample i is drawn from its own generator (seed, i): the images do not depend on the batch size or on how
        # many ranks share the work. Under torchrun each rank takes a contiguous share and writes its part of the
        # npz; rank 0 joins them in sample order.
        share = math.ceil(num_samples / world)
        first, last = min(rank * share, num_samples), min((rank + 1) * share, num_samples)
        part = f'{save_npz}.part{rank}.npy' if save_npz else None
        arr = np.lib.format.open_memmap(part, mode='w+', dtype=np.uint8, shape=(last - first, H_img, W_img, 3)) \
            if part else None
        grid, gen_s, vae_s = [], 0.0, 0.0
        quiet = not master or last - first <= sample_batch_size
        for i in tqdm(range(first, last, sample_batch_size), desc='sample', disable=quiet):
            t1 = time.perf_counter()
            gens = [torch.Generator().manual_seed(seed * 2 ** 32 + j)
                    for j in range(i, min(i + sample_batch_size, last))]
            x = M.generate(flow, aux, sampler, n=len(gens), steps=steps, solver=solver, sampler_steps=sampler_steps,
                           sampler_solver=sampler_solver, tau=tau, generator=gens, shape=(C, H, W)).float().cpu()
            t2 = time.perf_counter()   # .cpu() waited for the device
            if latent:   # decode with the VAE the data was encoded with; timed on its own
                x = vae_decode(vae_model, latent, x.to(device)).cpu()
            gen_s, vae_s = gen_s + t2 - t1, vae_s + time.perf_counter() - t2
            if arr is not None:
                arr[i - first:i - first + len(x)] = to_uint8(x)
            if len(grid) * sample_batch_size < MAX_GRID:
                grid.append(x[:MAX_GRID])
        n_mine = last - first
        if master:
            s_nfe = M.nfe(sampler_solver, sampler_steps)
            extra = f' + latent sampler {sampler_steps} x {sampler_solver} (NFE {s_nfe})' if learned else ''
            report('LeDiFlow' if learned else 'FM baseline (gaussian prior)', max(n_mine, 1), gen_s,
                   M.nfe(solver, steps), extra + ', first batch included' + (f', rank 0 of {world}' * (world > 1)))
            if latent:
                print(f"VAE decode ({latent['kind']}, {latent['vae']}): {1000 * vae_s / max(n_mine, 1):.1f} ms/img")
            images = torch.cat(grid)[:MAX_GRID]
            save_grid(images, output, nrow=math.ceil(math.sqrt(len(images))), upscale=grid_upscale)
        if arr is not None:
            arr.flush()
            del arr
            if world > 1:
                dist.barrier()   # every part is written
            if master:
                write_npz(save_npz, [f'{save_npz}.part{r}.npy' for r in range(world)])
                print(f'wrote {save_npz} ({num_samples} images, uint8 [N, H, W, C] as arr_0)')

    elif mode == 'interpolate':
        if image:
            za, zb = encode(input_image(image)[0]), encode(input_image(image2 or image)[0])
            na, nb = to_noise(za), to_noise(zb)
        else:   # two random latents: their noise is known, no inversion needed
            na, nb = randn(1, *aux.z_shape), randn(1, *aux.z_shape)
            za, zb = from_noise(na), from_noise(nb)
        alphas = torch.linspace(0, 1, frames, device=device).view(-1, 1, 1, 1)
        z_linear = (1 - alphas) * za + alphas * zb                                         # (a) linear in z
        if interp == 'linear':   # (b) the paper: linear between the two noise vectors
            n_path = (1 - alphas) * na + alphas * nb
        else:                    # slerp keeps the norm a Gaussian sample has (docs/method.md)
            n_path = M.slerp(na.expand(frames, -1, -1, -1), nb.expand(frames, -1, -1, -1), alphas.flatten())
        z_sampler = from_noise(n_path)
        eps = randn(1, C, H, W).expand(2 * frames, -1, -1, -1)   # the same prior noise in every frame: only z moves
        z = torch.cat([z_linear, z_sampler])
        images = flow_to_image(z, prior_sample(z, eps))
        save_grid(images.float(), output, nrow=frames, upscale=grid_upscale)
        report(f'interpolate ({frames} frames, row 1 linear in z, row 2 through the latent sampler)', 2 * frames,
               time.perf_counter() - t0, M.nfe(solver, steps))

    else:  # inpaint, anonymize
        y, size = input_image(image)
        m = load_mask(size, border=border if mode == 'anonymize' else None).to(device)
        z = encode(y).expand(variations, -1, -1, -1)
        if mode == 'anonymize':   # a new identity: move z in the sampler's noise space, map it back
            n = to_noise(z[:1])
            r = randn(variations, *aux.z_shape)
            n_new = n + strength * r                        # the paper: add a small random vector
            if rescale_noise:   # back to the norm of a N(0, I) sample: large strengths stay in distribution
                n_new = n_new / math.sqrt(1 + strength ** 2)
            z = from_noise(n_new)
        yv = y.expand(variations, -1, -1, -1)
        x0 = prior_sample(z, randn(variations, C, H, W))
        images = inpaint(yv, z, x0, m)
        save_grid(torch.cat([y, m.expand(1, C, H, W) * 2 - 1, images.float()]), output, nrow=variations + 2,
                  upscale=grid_upscale)
        report(f'{mode} ({variations} variations, {int(m.sum())} of {H * W} pixels regenerated)', variations,
               time.perf_counter() - t0, M.nfe(solver, steps))
if master:
    print(f'wrote {output}')
if world > 1:
    destroy_distributed()
