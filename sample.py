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
from contextlib import nullcontext

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

import model as M
from common import (compute_line, die, load_image, load_run, load_vae, pick_device, pick_dtype, save_grid, to_uint8,
                    vae_decode)
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
if min(invert_steps, num_samples, frames, variations) < 1:
    die('invert_steps, num_samples, frames and variations must be >= 1')
if mode not in ('sample', 'interpolate', 'inpaint', 'anonymize'):
    die(f"mode must be 'sample', 'interpolate', 'inpaint' or 'anonymize', got '{mode}'")
if interp not in ('linear', 'slerp'):
    die(f"interp must be 'linear' or 'slerp', got '{interp}'")
M.USE_NATTEN = use_natten   # natten's CUDA kernels where they exist, else the pure-PyTorch path
device = pick_device(device)
dtype = pick_dtype(dtype, device)   # 'auto': bfloat16 on CUDA, float32 on the CPU
ctx = nullcontext() if dtype == 'float32' else torch.autocast(device.split(':')[0], dtype=getattr(torch, dtype))
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
print('sampling settings: ' + ', '.join(f'{k} {cfg[k]} ({set_by.get(k, "default")})' for k in SAMPLING.split()))
if not learned and mode != 'sample':
    die(f"--mode={mode} needs LeDiFlow's latent space; {out_dir}/flow.pt is the gaussian-prior baseline")
C, H, W = flow_ck['model_args']['channels'], *flow_ck['model_args']['image_size']
latent = flow_ck.get('latent')   # latent mode: the models work on VAE latents, decoded once at the end
if latent and mode != 'sample':
    die(f'--mode={mode} works on pixel-space models; {out_dir} models VAE latents')
vae_model = load_vae(vae or latent['vae'], device) if latent else None
g = torch.Generator().manual_seed(seed)
output = output or os.path.join(out_dir, f'samples_{solver}{steps}.png' if mode == 'sample' else f'{mode}.png')


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
        return (torch.from_numpy(np.asarray(img.convert('L'), dtype=np.float32) / 255.0 > 0.5).float()[None, None])
    if box:
        x0, y0, x1, y1 = box
        if not (0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H):
            die(f'box {box} must satisfy 0 <= x0 < x1 <= {W} and 0 <= y0 < y1 <= {H} (model pixels)')
        m[..., y0:y1, x0:x1] = 1
        return m
    if border is None:
        die('--mode=inpaint needs --mask=PNG or --box=[x0, y0, x1, y1]')
    b = int(round(border * H))
    m[..., b:H - b, b:W - b] = 1
    return m


def report(what, n_img, seconds, nfe_flow, extra=''):
    print(f'{what}: solver {solver}, steps {steps}, NFE {nfe_flow}{extra}; {1000 * seconds / n_img:.1f} ms/img '
          f'({n_img} images, {device}, {dtype})')


# -----------------------------------------------------------------------------
with torch.no_grad(), ctx:
    t0 = time.perf_counter()
    if mode == 'sample':
        images = []
        for i in tqdm(range(0, num_samples, sample_batch_size), desc='sample', disable=num_samples <= sample_batch_size):
            n = min(sample_batch_size, num_samples - i)
            images.append(M.generate(flow, aux, sampler, n=n, steps=steps, solver=solver, sampler_steps=sampler_steps,
                                     sampler_solver=sampler_solver, tau=tau, generator=g, shape=(C, H, W)).float().cpu())
        elapsed = time.perf_counter() - t0   # .cpu() above waited for the device
        images = torch.cat(images)
        extra = f' + latent sampler {sampler_steps} x {sampler_solver} (NFE {M.nfe(sampler_solver, sampler_steps)})' if learned else ''
        report('LeDiFlow' if learned else 'FM baseline (gaussian prior)', num_samples, elapsed,
               M.nfe(solver, steps), extra + ', first batch included')
        if latent:   # decode with the VAE the data was encoded with, in batches; timed on its own
            t1 = time.perf_counter()
            images = torch.cat([vae_decode(vae_model, latent, images[i:i + sample_batch_size].to(device)).cpu()
                                for i in range(0, len(images), sample_batch_size)])
            print(f"VAE decode ({latent['kind']}, {latent['vae']}): {1000 * (time.perf_counter() - t1) / num_samples:.1f} ms/img")
        save_grid(images, output, nrow=math.ceil(math.sqrt(len(images))), upscale=grid_upscale)
        if save_npz:   # the layout external FID tools read: uint8 [N, H, W, 3] under 'arr_0', as the PNG holds them
            np.savez(save_npz, arr_0=to_uint8(images))
            print(f'wrote {save_npz} ({len(images)} images, uint8 [N, H, W, C] as arr_0)')

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
print(f'wrote {output}')
