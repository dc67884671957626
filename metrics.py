"""
The statistics behind evaluate.py, on features and timings alone (no networks, no files): FID, KID and
CMMD of full sets and of bootstrap resamples, the per-run cost model, the bootstrap, and the speedup at
matched quality with its interval. evaluate.py, the benchmarks and the tests import it.

Quality is 'lower is better' everywhere (FID, KID, CMMD). A resample is given as counts: c[i] = how
often image i was drawn, so FID/KID/CMMD of a resample come from the same feature matrices without
copying them.
"""
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm


# -----------------------------------------------------------------------------
# metrics

def frechet_distance(mu1, cov1, mu2, cov2):
    """|mu1 - mu2|^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2)), in float64, with
    tr (C1 C2)^(1/2) = sum sqrt(eig(C1^(1/2) C2 C1^(1/2)))."""
    mu1, cov1, mu2, cov2 = (torch.as_tensor(a, dtype=torch.float64) for a in (mu1, cov1, mu2, cov2))
    e, V = torch.linalg.eigh(cov1)
    s1 = V @ torch.diag(e.clamp(min=0).sqrt()) @ V.T
    tr_sqrt = torch.linalg.eigvalsh(s1 @ cov2 @ s1).clamp(min=0).sqrt().sum()
    return ((mu1 - mu2).square().sum() + cov1.trace() + cov2.trace() - 2 * tr_sqrt).item()


def fid(f1, f2):
    """FID between two feature sets [N, D] (closed form)."""
    f1, f2 = f1.double(), f2.double()
    return frechet_distance(f1.mean(0), torch.cov(f1.T), f2.mean(0), torch.cov(f2.T))


def fid_resampled(x, y, c, d, gram, gxx=None, gyy=None):
    """FID of x [N, D] counted c times each against y [M, D] counted d times, from the Gram matrices gram = x @ y.T,
    gxx = x @ x.T and gyy = y @ y.T (computed here when not given): no operation on the D feature dimensions, so a
    bootstrap replicate costs O(N^2 + N M + M^2) plus one eigendecomposition. Exact: the nonzero eigenvalues of
    C_x C_y are the squared singular values of A B^T / sqrt((N-1)(M-1)), with A = diag(sqrt(c)) (x - mu_x), B
    likewise, and A B^T, the means' products and the traces all come from the Grams."""
    gxx = x @ x.T if gxx is None else gxx
    gyy = y @ y.T if gyy is None else gyy
    n, m = c.sum(), d.sum()
    mu_mu, nu_nu, mu_nu = c @ gxx @ c / n ** 2, d @ gyy @ d / m ** 2, c @ gram @ d / (n * m)
    tr_x = ((c * gxx.diagonal()).sum() - n * mu_mu) / (n - 1)
    tr_y = ((d * gyy.diagonal()).sum() - m * nu_nu) / (m - 1)
    x_nu, y_mu = gram @ d / m, gram.T @ c / n          # x_i . nu and y_j . mu
    ab = (gram - x_nu[:, None] - y_mu[None, :] + mu_nu) * c.sqrt()[:, None] * d.sqrt()[None, :]
    ab = ab[c > 0][:, d > 0]
    small = ab @ ab.T if ab.shape[0] <= ab.shape[1] else ab.T @ ab
    tr_sqrt = torch.linalg.eigvalsh(small).clamp(min=0).sqrt().sum() / torch.sqrt((n - 1) * (m - 1))
    return (mu_mu + nu_nu - 2 * mu_nu + tr_x + tr_y - 2 * tr_sqrt).item()


def cubic_kernel(a, b):
    """KID's kernel (a . b / D + 1)^3 between the rows of a [N, D] and b [M, D] -> [N, M]."""
    return (a @ b.T / a.shape[1] + 1) ** 3


def u_mean(k, c):
    """Mean of k[i, j] over pairs of distinct images i != j, image i counted c[i] times (the U-statistic)."""
    return ((c @ k @ c - (c * c * k.diagonal()).sum()) / (c.sum() ** 2 - (c * c).sum())).item()


def kid_resampled(kxx, kyy, kxy, c, d):
    """KID: the unbiased MMD^2 with the cubic kernel, from kernel matrices, over distinct-image pairs.
    With c, d all ones it is the KID of the two full sets."""
    return u_mean(kxx, c) + u_mean(kyy, d) - 2 * (c @ kxy @ d / (c.sum() * d.sum())).item()


def cmmd(e1, e2, sigma=10.0, scale=1000.0, c=None, d=None):
    """CMMD (Jayasumana et al. 2024): biased MMD^2 with the RBF kernel exp(-|x - y|^2 / (2 sigma^2))
    over all pairs, diagonals included, x 1000, on L2-normalised CLIP embeddings (c, d: counts)."""
    e1, e2 = e1.double(), e2.double()
    c = torch.ones(len(e1), dtype=torch.float64) if c is None else c
    d = torch.ones(len(e2), dtype=torch.float64) if d is None else d
    k = lambda a, b, u, v: (u @ torch.exp(-torch.cdist(a, b).square() / (2 * sigma ** 2)) @ v / (u.sum() * v.sum()))
    return (scale * (k(e1, e1, c, c) + k(e2, e2, d, d) - 2 * k(e1, e2, c, d))).item()


def ones(a):
    """Counts of a full set (every image once), for the *_resampled functions."""
    return torch.ones(len(a), dtype=torch.float64)


def kid(x, y):
    """KID of two full feature sets (the unbiased estimator)."""
    return kid_resampled(cubic_kernel(x, x), cubic_kernel(y, y), cubic_kernel(x, y), ones(x), ones(y))


def nearest_distance(x, train, batch=1000):
    """Each row of x [N, D]: its Euclidean distance to the nearest row of train [M, D] -> [N]."""
    return torch.cat([torch.cdist(x[i:i + batch], train).min(1).values for i in range(0, len(x), batch)])


@dataclass
class Memorisation:
    """The memorisation check's yardsticks: the features of every training image (for nearest neighbours), of
    held-out images no run trained on, and of as many training reference images (FID is biased by the set size,
    so the two FIDs are compared at equal size)."""
    train: torch.Tensor      # [M, D] every training image
    held: torch.Tensor       # [K, D] held-out images
    ref_small: torch.Tensor  # [K, D] training reference images
    held_nn: torch.Tensor = field(init=False)   # each held-out image's distance to its nearest training image

    def __post_init__(self):
        self.held_nn = nearest_distance(self.held, self.train)

    def check(self, x):
        """Generated features x [N, D] -> FID and KID against the held-out and against the training images (equal
        numbers), and the nearest-neighbour test: the median distance of a sample to its nearest training image
        over the held-out images' median (below 1: samples sit closer to the training set than unseen real images
        do), and the fraction of samples closer than the held-out images' 5th percentile (about 0.05 without
        copies)."""
        nn = nearest_distance(x, self.train)
        fid_ = lambda y: fid_resampled(x, y, ones(x), ones(y), x @ y.T)   # from the Grams: no 2048 x 2048 matrices
        return dict(fid_held=fid_(self.held), fid_train=fid_(self.ref_small), kid_held=kid(x, self.held),
                    kid_train=kid(x, self.ref_small), nn_ratio=(nn.median() / self.held_nn.median()).item(),
                    nn_close=(nn < torch.quantile(self.held_nn, 0.05)).double().mean().item())


@dataclass
class Reference:
    """The reference images in feature space: Inception features [M, 2048], their kernel matrix, CLIP embeddings."""
    inception: torch.Tensor
    clip: torch.Tensor = None
    gyy: torch.Tensor = field(init=False)   # inception @ inception.T
    kyy: torch.Tensor = field(init=False)   # the cubic kernel among the reference images

    def __post_init__(self):
        self.gyy = self.inception @ self.inception.T
        self.kyy = (self.gyy / self.inception.shape[1] + 1) ** 3


@dataclass
class Features:
    """One setting's generated images in feature space, with the products every replicate reuses."""
    inception: torch.Tensor   # [N, 2048] float64
    gram: torch.Tensor        # inception @ reference.T
    gxx: torch.Tensor         # inception @ inception.T
    kxx: torch.Tensor         # cubic kernel among the generated images
    kxy: torch.Tensor         # ... and against the reference images
    clip: torch.Tensor = None

    @classmethod
    def against(cls, x, ref, clip=None):
        gram, gxx = x @ ref.inception.T, x @ x.T
        return cls(inception=x, gram=gram, gxx=gxx, kxx=(gxx / x.shape[1] + 1) ** 3, kxy=(gram / x.shape[1] + 1) ** 3,
                   clip=clip)


def quality(f, ref, c, d, metrics):
    """{metric: value} of generated features f counted c times against the reference counted d times."""
    v = {}
    if 'fid' in metrics:
        v['fid'] = fid_resampled(f.inception, ref.inception, c, d, f.gram, f.gxx, ref.gyy)
    if 'kid' in metrics:
        v['kid'] = kid_resampled(f.kxx, ref.kyy, f.kxy, c, d)
    if 'cmmd' in metrics:
        v['cmmd'] = cmmd(f.clip, ref.clip, c=c, d=d)
    return v


# -----------------------------------------------------------------------------
# the cost model: ms = fixed + a * flow NFE (+ b * sampler NFE), one per run

def design_row(nfe, sampler_nfe, learned):
    return [1.0, nfe, sampler_nfe] if learned else [1.0, nfe]


def fit_cost_model(rows, ms):
    """Least squares through the settings' median times (one slow round, a busy moment of the machine,
    moves a median little and a mean a lot). rows: per setting its design_row; ms: per setting its list
    of timings. -> coefficients [fixed, per flow NFE(, per sampler NFE)]."""
    X = torch.tensor(rows, dtype=torch.float64)
    y = torch.tensor([float(np.median(m)) for m in ms], dtype=torch.float64)
    return torch.linalg.lstsq(X, y[:, None]).solution.flatten()


def modelled_ms(coef, row):
    return float(torch.tensor(row, dtype=torch.float64) @ coef)


# -----------------------------------------------------------------------------
# the bootstrap

@dataclass
class RunStats:
    """One run after the bootstrap: point estimates and replicates of every metric of every setting, and its
    cost model (point and replicates). Settings are indexed as in the run."""
    est: list           # per setting: {metric: estimate}
    reps: dict          # metric -> array [n_boot, settings]
    coef: torch.Tensor
    coef_reps: list     # n_boot coefficient vectors


def bootstrap(features, rows, ms, ref, n_boot, seed, metrics, noise=None):
    """Point estimates and n_boot replicates of every metric of every setting, and of every run's cost model.
    features[r][s]: Features of setting s of run r; rows[r][s]: its design_row, or None when it is not part of
    the run's cost model (the 'z from data' rows); ms[r][s]: its per-round total ms; noise[r]: what run r's image i
    is drawn from besides the seed (evaluate.noise_key; None: every run its own). In a replicate:
      - one resample of the reference images, shared by every setting of every run;
      - one resample of the generated images per run, shared by every setting of that run: all settings of a
        run are generated from the same seeds, so image i of one setting is paired with image i of another and
        differences between settings are paired (a setting compared with an identical one differs by exactly 0);
      - runs with the same noise key (same seeds, same noise shapes: e.g. two LeDiFlow runs that differ only in
        their sampler) draw the same noise for image i, so their images are paired too and they share that
        resample; runs of different keys are resampled independently: two methods consume their random streams
        differently, so their images are not paired. (Every run draws its own resample, used or not, so a run's
        replicates do not depend on which other runs share its key.)
      - one resample of the timing rounds, shared by all runs (the rounds were interleaved). -> [RunStats]"""
    noise = list(range(len(features))) if noise is None else noise
    g = torch.Generator().manual_seed(seed + 12345)
    n_gen, n_ref = len(features[0][0].inception), len(ref.inception)
    ones_n, ones_m = torch.ones(n_gen, dtype=torch.float64), torch.ones(n_ref, dtype=torch.float64)
    timed = [[s for s, row in enumerate(run_rows) if row is not None] for run_rows in rows]
    stats = []
    for r, run_feats in enumerate(features):
        fit = fit_cost_model([rows[r][s] for s in timed[r]], [ms[r][s] for s in timed[r]])
        stats.append(RunStats(est=[quality(f, ref, ones_n, ones_m, metrics) for f in run_feats],
                              reps={m: np.zeros((n_boot, len(run_feats))) for m in metrics}, coef=fit, coef_reps=[]))
    rounds = len(ms[0][0])
    for b in tqdm(range(n_boot), desc='bootstrap'):
        d = torch.bincount(torch.randint(n_ref, (n_ref,), generator=g), minlength=n_ref).double()
        pick = torch.randint(rounds, (rounds,), generator=g).tolist()
        drawn = {}   # noise key -> the resample of its first run
        for r, run_feats in enumerate(features):
            picked = [[ms[r][s][i] for i in pick] for s in timed[r]]
            stats[r].coef_reps.append(fit_cost_model([rows[r][s] for s in timed[r]], picked))
            c = torch.bincount(torch.randint(n_gen, (n_gen,), generator=g), minlength=n_gen).double()
            c = drawn.setdefault(noise[r], c)
            for s, f in enumerate(run_feats):
                for m, v in quality(f, ref, c, d, metrics).items():
                    stats[r].reps[m][b, s] = v
    return stats


def recentre(reps, est):
    """Replicates [B, S] shifted so that each setting's mean is its estimate [S]: FID of a resample is biased
    upwards (fewer distinct images), by an amount that differs from setting to setting; matching raw replicates
    would compare those biases too."""
    reps = np.asarray(reps, dtype=np.float64)
    return reps - reps.mean(0) + np.asarray(est, dtype=np.float64)


def interval(reps, estimate=None):
    """2.5-97.5 percentile interval of bootstrap replicates; with an estimate, re-centred on it (for metrics whose
    resamples are biased, like FID's: fewer distinct images)."""
    shift = 0.0 if estimate is None else estimate - float(np.mean(reps))
    return [float(np.percentile(reps, 2.5)) + shift, float(np.percentile(reps, 97.5)) + shift]


# -----------------------------------------------------------------------------
# matching: the speedup at matched quality

def paired_diff(q_a, q_b, reps_a, reps_b):
    """The 95% interval of q_a - q_b from replicates that share their resamples (paired: [B] or [B, S] each),
    placed around the point difference. Two identical sets give [0, 0]."""
    diff = np.asarray(reps_a, dtype=np.float64) - np.asarray(reps_b, dtype=np.float64)
    shift = (np.asarray(q_a, dtype=np.float64) - q_b) - diff.mean(0)
    return np.stack([np.percentile(diff, 2.5, axis=0) + shift, np.percentile(diff, 97.5, axis=0) + shift], -1)


def vs_best(q, q_reps):
    """Each setting of a run against the run's best (lowest q): -> (index of the best, [S, 2] the 95% interval of
    q(s) - q(best)). q [S]: the qualities (the point estimates, or one replicate's); q_reps [B, S]: the run's
    replicates, paired across its settings (bootstrap), whose differences give the spread, placed around the
    difference in q. An interval that includes 0: indistinguishable from the best."""
    q, q_reps = np.asarray(q, dtype=np.float64), np.asarray(q_reps, dtype=np.float64)
    best = int(np.argmin(q))
    return best, paired_diff(q, q[best], q_reps, q_reps[:, [best]])


def plateau_target(q, ms, q_reps):
    """The baseline's target: the cheapest setting whose quality is statistically indistinguishable from its
    best (vs_best); of two equally cheap ones, the better. q [S], ms [S]: the qualities and times to decide on
    (the point estimates, or one replicate's); q_reps [B, S]: re-centred replicates, which give the spread.
    -> index of the target setting."""
    best, ci = vs_best(q, q_reps)
    ok = ci[:, 0] <= 0
    ok[best] = True
    # ties in cost (same NFE, e.g. euler x16 and midpoint x8) go to the better setting: a user at that cost
    # would pick it, and the easier target would flatter LeDiFlow
    return min(np.flatnonzero(ok), key=lambda s: (ms[s], q[s]))


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


@dataclass
class Curve:
    """One run's real settings on one metric, as the matching reads them (S settings, B replicates)."""
    names: list              # [S] setting names
    nfe: list                # [S] flow NFE
    q: np.ndarray            # [S] quality (lower is better)
    q_reps: np.ndarray       # [B, S], re-centred on q (recentre)
    ms: np.ndarray           # [S] modelled ms/img
    ms_reps: np.ndarray      # [B, S]
    ms_measured: np.ndarray  # [S] median of the timed rounds


def match(ledi, base):
    """The speedup at matched quality of one LeDiFlow curve over one baseline curve, with its interval, and per
    LeDiFlow setting the baseline's time to reach it and the largest baseline NFE it beats at 95%. In every
    replicate the whole matching is redone on that replicate's qualities and times: the baseline's target (the
    plateau rule on the replicate's qualities), then LeDiFlow's cheapest setting that reaches it.
    -> dict (what results.json holds under 'speedup')."""
    target = plateau_target(base.q, base.ms, base.q_reps)
    ratio, li = matched_speedup(ledi.q, ledi.ms, base.q, base.ms, target)
    reps, same_target = [], 0
    for b in range(len(ledi.q_reps)):
        tb = plateau_target(base.q_reps[b], base.ms_reps[b], base.q_reps)
        same_target += tb == target
        reps.append(matched_speedup(ledi.q_reps[b], ledi.ms_reps[b], base.q_reps[b], base.ms_reps[b], tb)[0])
    found = li is not None
    out = dict(target=float(base.q[target]), baseline_setting=base.names[target], baseline_ms=float(base.ms[target]),
               baseline_ms_measured=float(base.ms_measured[target]), ratio=float(ratio) if found else None,
               ci=interval(reps) if found else None, reached=float(np.mean([s > 0 for s in reps])),
               target_kept=same_target / len(reps),
               ledi_setting=ledi.names[li] if found else None, ledi_quality=float(ledi.q[li]) if found else None,
               ledi_ms=float(ledi.ms[li]) if found else None,
               ledi_ms_measured=float(ledi.ms_measured[li]) if found else None,
               ratio_measured=float(base.ms_measured[target] / ledi.ms_measured[li]) if found else None,
               per_setting=[])
    nfes = sorted(set(base.nfe))
    for i, name in enumerate(ledi.names):
        t = time_to_reach(base.q, base.ms, ledi.q[i])
        beats = None   # the largest n such that it beats the baseline's best setting at every NFE up to n
        for n in nfes:
            at_n = [j for j, b in enumerate(base.nfe) if b == n]
            if np.percentile(ledi.q_reps[:, i] - base.q_reps[:, at_n].min(1), 97.5) >= 0:
                break
            beats = n
        out['per_setting'].append(dict(setting=name, quality=float(ledi.q[i]), ms=float(ledi.ms[i]), baseline_ms=t,
                                       speedup=None if t is None else t / ledi.ms[i], beats_nfe=beats))
    return out
