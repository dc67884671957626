"""
LeDiFlow in one file: every network, the losses and the ODE solvers.

    stage 1  AuxModel        y -> (mu_z, logvar_z) -> z -> (mu_x, logvar_x): the learned prior  (vgl_loss, kl_loss)
    stage 2  HDiT as F       v = F(x_t, t, z): the flow from the prior to the data              (lediflow_loss, fm_loss)
    stage 3  HDiT as S       v = S(z_t, t): plain flow matching from N(0, I) to the latents z    (fm_loss)
    sampling solve(...)      fixed-step Runge-Kutta, forward (t 0 -> 1) or backward (1 -> 0)

Conventions (docs/method.md): t = 0 is the prior sample x0, t = 1 is the data y; x_t = (1 - t) x0 + t y;
the target velocity is y - x0. Images are [B, C, H, W] in [-1, 1]; inside the transformers tokens
are channels-last [B, h, w, width].

The blocks follow the Hourglass Diffusion Transformer (Crowson et al. 2024): patch merge/split with
learned lerp skips, AdaRMSNorm conditioned by a mapping network, axial RoPE, cosine-similarity
attention (neighborhood attention at high resolution, global at the lowest level), GEGLU
feed-forward, no biases, zero-initialised residual outputs so every block starts as the identity.
"""
import math
from functools import lru_cache

import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    import natten  # neighborhood attention kernels; used on CUDA when built with them (forward and backward)
except ImportError:
    natten = None
USE_NATTEN = True  # False: the pure-PyTorch neighborhood attention everywhere (every script sets it from use_natten)


# -----------------------------------------------------------------------------
# Building blocks

def zero_init(layer):
    nn.init.zeros_(layer.weight)
    return layer


class Linear(nn.Linear):
    """nn.Linear without bias: no block in this file has biases (as HDiT)."""
    def __init__(self, in_features, out_features):
        super().__init__(in_features, out_features, bias=False)


def rms_norm(x, scale, eps=1e-6):
    x32 = x.float()
    return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps) * scale.float()).to(x.dtype)


class RMSNorm(nn.Module):
    """RMSNorm with a learned scale (the unconditioned aux model; the final norms). Takes and
    ignores `cond`, so that a block calls its norm the same way with or without conditioning."""
    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x, cond=None):
        return rms_norm(x, self.weight)


class AdaRMSNorm(nn.Module):
    """RMSNorm whose scale is 1 + Linear(cond): the conditioning (t, z) enters every block here.
    The Linear is zero-initialised, so it starts as a plain RMSNorm."""
    def __init__(self, dim, cond_dim):
        super().__init__()
        self.linear = zero_init(Linear(cond_dim, dim))

    def forward(self, x, cond):
        scale = self.linear(cond) + 1
        return rms_norm(x, scale.view(scale.shape[0], *[1] * (x.ndim - 2), scale.shape[-1]))


def norm(dim, cond_dim):
    return AdaRMSNorm(dim, cond_dim) if cond_dim else RMSNorm(dim)


class FeedForwardBlock(nn.Module):
    """Pre-norm GEGLU feed-forward with a zero-init output, as a residual block (dropout on its hidden units while
    training: no parameters, so checkpoints do not depend on it)."""
    def __init__(self, dim, hidden, cond_dim=0, dropout=0.0):
        super().__init__()
        self.norm = norm(dim, cond_dim)
        self.up = Linear(dim, 2 * hidden)
        self.drop = nn.Dropout(dropout)
        self.down = zero_init(Linear(hidden, dim))

    def forward(self, x, cond=None):
        a, gate = self.up(self.norm(x, cond)).chunk(2, dim=-1)
        return x + self.down(self.drop(a * F.gelu(gate)))


def axial_pos(h, w, device):
    """Token centres of an h x w grid in [-1, 1] along the longer side, aspect kept: [h, w, 2].
    The centres of a 2x2-merged grid are the means of its children, so every level agrees."""
    s = max(h, w)
    ys = (torch.arange(h, device=device) + 0.5) * 2 / s - h / s
    xs = (torch.arange(w, device=device) + 0.5) * 2 / s - w / s
    return torch.stack(torch.meshgrid(ys, xs, indexing='ij'), dim=-1)


class AxialRoPE(nn.Module):
    """Rotary embedding of (row, col) positions on half of each head's dims (HDiT's axial RoPE)."""
    def __init__(self, d_head, n_heads):
        super().__init__()
        n = d_head // 8  # angles per axis; 2 axes x n angles x 2 dims = d_head / 2 rotated dims
        freqs = torch.linspace(math.log(math.pi), math.log(10 * math.pi), n_heads * n + 1)[:-1].exp()
        self.register_buffer('freqs', freqs.view(n, n_heads).T.contiguous(), persistent=False)

    def forward(self, x, pos):  # x: [B, h, w, heads, d_head], pos: [h, w, 2]
        theta = torch.cat([pos[..., None, 0:1] * self.freqs, pos[..., None, 1:2] * self.freqs], -1)
        m = theta.shape[-1]
        cos, sin = theta.cos().to(x.dtype), theta.sin().to(x.dtype)
        x1, x2, rest = x[..., :m], x[..., m:2 * m], x[..., 2 * m:]
        return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin, rest], dim=-1)


# Neighborhood attention, NATTEN's semantics: on each axis query i sees the k keys starting at
# clamp(i - k // 2, 0, n - k) (k clipped to the grid), so windows slide inward at the borders and every
# query sees exactly k x k keys. Three implementations of the same function, one entry point:

def natten_na2d(q, k, v, kernel, scale=None):
    """natten.na2d (its fused kernels), heads-last [B, h, w, heads, d], the kernel clipped to the grid."""
    return natten.na2d(q, k, v, (min(kernel, q.shape[1]), min(kernel, q.shape[2])), scale=scale)


def cached(fn):
    """lru_cache for the pure mask builders below, bypassed while torch.compile traces them (it folds them into
    its graph, and would warn about a cache it cannot see through)."""
    fn_cached = lru_cache(maxsize=64)(fn)
    return lambda *args: fn(*args) if torch.compiler.is_compiling() else fn_cached(*args)


@cached
def neighborhood_mask(h, w, kernel, device):
    """[h*w, h*w] bool: which keys each query sees."""
    def axis(n, k):
        k = min(k, n)
        start = (torch.arange(n, device=device) - k // 2).clamp(0, n - k)
        j = torch.arange(n, device=device)
        return (j[None] >= start[:, None]) & (j[None] < start[:, None] + k)
    mh, mw = axis(h, kernel), axis(w, kernel)
    return (mh[:, None, :, None] & mw[None, :, None, :]).reshape(h * w, h * w)


def na2d_masked(q, k, v, kernel, scale=None):
    """Global scaled_dot_product_attention with all but the k x k window masked out: O((hw)^2) time and
    memory, but one large matmul, the fastest way for small grids."""
    B, h, w, nh, d = q.shape
    q, k, v = (t.reshape(B, h * w, nh, d).transpose(1, 2) for t in (q, k, v))
    o = F.scaled_dot_product_attention(q, k, v, attn_mask=neighborhood_mask(h, w, kernel, q.device), scale=scale)
    return o.transpose(1, 2).reshape(B, h, w, nh, d)


@cached
def tile_plan(n, kernel, tile, device):
    """One axis cut into query tiles. Tile t reads the keys [t * tile - pad_lo, + band) of the axis
    zero-padded by (pad_lo, pad_hi): every window of its queries lies inside (a window starts at most
    k // 2 before its query, or, in the last k // 2 positions, at n - k; `extra` widens the bands for
    a short last tile). -> tile, pad_lo, pad_hi, mask [tiles, tile, band]: the keys each query's window holds."""
    k = min(kernel, n)
    tile = max(tile, k // 2 + 1)                      # the first tile's windows must fit too
    tiles = -(-n // tile)
    extra = max(0, k // 2 + 1 - (n - (tiles - 1) * tile))
    band, pad_lo = tile + k - 1 + extra, k // 2 + extra
    pad_hi = tiles * tile + band - tile - pad_lo - n
    start = (torch.arange(tiles * tile, device=device) - k // 2).clamp(0, n - k).view(tiles, tile)
    key = (torch.arange(tiles, device=device) * tile - pad_lo)[:, None] + torch.arange(band, device=device)
    return tile, pad_lo, pad_hi, (key[:, None, :] >= start[:, :, None]) & (key[:, None, :] < start[:, :, None] + k)


def na2d_tiled(q, k, v, kernel, scale=None, tile=8):
    """Each tile x tile block of queries attends to its band of (tile + k - 1)^2 keys (a little more after a
    short last tile), masked to every query's own window: O(hw (tile + k - 1)^2) time and O(hw) memory,
    in plain PyTorch ops, so backward works on every device. Queries are zero-padded to whole tiles
    (the padding's results are dropped); tile is raised to k // 2 + 1 if smaller."""
    B, h, w, nh, d = q.shape
    sh, plh, phh, mh = tile_plan(h, kernel, tile, q.device)
    sw, plw, phw, mw = tile_plan(w, kernel, tile, q.device)
    (th, _, bh), (tw, _, bw) = mh.shape, mw.shape
    qt = F.pad(q, (0, 0, 0, 0, 0, tw * sw - w, 0, th * sh - h))
    qt = qt.view(B, th, sh, tw, sw, nh, d).permute(0, 5, 1, 3, 2, 4, 6).reshape(B * nh, th * tw, sh * sw, d)

    def bands(t):   # overlapping windows of the padded grid, one per tile: [B * nh, tiles, bh * bw, d]
        t = F.pad(t, (0, 0, 0, 0, plw, phw, plh, phh)).unfold(1, bh, sh).unfold(2, bw, sw)
        return t.permute(0, 3, 1, 2, 5, 6, 4).reshape(B * nh, th * tw, bh * bw, d)
    mask = (mh[:, None, :, None, :, None] & mw[None, :, None, :, None, :]).reshape(th * tw, sh * sw, bh * bw)
    o = F.scaled_dot_product_attention(qt, bands(k), bands(v), attn_mask=mask, scale=scale)
    o = o.view(B, nh, th, tw, sh, sw, d).permute(0, 2, 4, 3, 5, 1, 6).reshape(B, th * sh, tw * sw, nh, d)
    return o[:, :h, :w]


TILED_MIN_TOKENS = 32 * 32    # from this grid up the tiles are faster than the masked form (measured: docs/gpu.md)


def neighborhood_attention(q, k, v, kernel, scale=None):
    """The one entry point, [B, h, w, heads, d]: natten's fused CUDA kernels when natten was built with
    them (forward and backward); else masked SDPA on small grids and query tiles on large ones."""
    if USE_NATTEN and natten is not None and natten.HAS_LIBNATTEN and q.is_cuda:
        return natten_na2d(q, k, v, kernel, scale)
    if q.shape[1] * q.shape[2] < TILED_MIN_TOKENS:
        return na2d_masked(q, k, v, kernel, scale)
    return na2d_tiled(q, k, v, kernel, scale)


def attention_path(device):
    """What neighborhood_attention runs on `device`, for the scripts' start-up line."""
    if USE_NATTEN and natten is not None and natten.HAS_LIBNATTEN and str(device).startswith('cuda'):
        return f'natten {natten.__version__} (CUDA kernels)'
    why = ('use_natten=False' if not USE_NATTEN else 'natten not installed' if natten is None
           else 'natten has no CUDA kernels here' if str(device).startswith('cuda')
           else 'natten has no CPU kernels with backward')
    return f'pure PyTorch ({why}): masked SDPA below {TILED_MIN_TOKENS} tokens, query tiles from there'


class AttentionBlock(nn.Module):
    """Pre-norm cosine-similarity self-attention with axial RoPE, as a residual block.
    kernel = None: global attention; kernel = k: k x k neighborhood attention."""
    def __init__(self, dim, d_head, cond_dim=0, kernel=None):
        super().__init__()
        if dim % d_head:
            raise ValueError(f'width {dim} is not a multiple of the head dim {d_head}')
        self.heads, self.d_head, self.kernel = dim // d_head, d_head, kernel
        self.norm = norm(dim, cond_dim)
        self.qkv = Linear(dim, 3 * dim)
        self.scale = nn.Parameter(torch.full([self.heads], 10.0))  # learned per-head temperature
        self.rope = AxialRoPE(d_head, self.heads)
        self.out = zero_init(Linear(dim, dim))

    def forward(self, x, pos, cond=None):
        B, h, w, dim = x.shape
        q, k, v = self.qkv(self.norm(x, cond)).view(B, h, w, 3, self.heads, self.d_head).unbind(3)
        # cosine similarity: unit q and k, the temperature sqrt(scale) split over both
        s = self.scale.sqrt()[:, None].float()
        q = (F.normalize(q.float(), dim=-1, eps=1e-6) * s).to(v.dtype)
        k = (F.normalize(k.float(), dim=-1, eps=1e-6) * s).to(v.dtype)
        q, k = self.rope(q, pos), self.rope(k, pos)
        if self.kernel is None:
            q, k, v = (t.reshape(B, h * w, self.heads, self.d_head).transpose(1, 2) for t in (q, k, v))
            o = F.scaled_dot_product_attention(q, k, v, scale=1.0).transpose(1, 2)
        else:
            o = neighborhood_attention(q, k, v, self.kernel, scale=1.0)
        return x + self.out(o.reshape(B, h, w, dim))


class Block(nn.Module):
    """One transformer block: attention, then feed-forward (each a pre-norm residual that starts as the identity)."""
    def __init__(self, dim, d_head, ff_mult, cond_dim=0, kernel=None, dropout=0.0):
        super().__init__()
        self.attn = AttentionBlock(dim, d_head, cond_dim, kernel)
        self.ff = FeedForwardBlock(dim, ff_mult * dim, cond_dim, dropout)

    def forward(self, x, pos, cond=None):
        return self.ff(self.attn(x, pos, cond), cond)


class Level(nn.ModuleList):
    """`depth` blocks at one token resolution; kernel = None: global attention, k: k x k neighborhoods."""
    def __init__(self, width, depth, d_head, ff_mult, cond_dim=0, kernel=None, dropout=0.0):
        super().__init__(Block(width, d_head, ff_mult, cond_dim, kernel, dropout) for _ in range(depth))

    def forward(self, x, cond=None):
        pos = axial_pos(x.shape[1], x.shape[2], x.device).to(x.dtype)
        for block in self:
            x = block(x, pos, cond)
        return x


class TokenMerge(nn.Module):
    """[B, H, W, C] -> [B, H/p, W/p, out]: each p x p patch becomes one token (linear projection)."""
    def __init__(self, in_features, out_features, patch):
        super().__init__()
        self.p = patch
        self.proj = Linear(in_features * patch * patch, out_features)

    def forward(self, x):
        B, H, W, C = x.shape
        p = self.p
        x = x.view(B, H // p, p, W // p, p, C).permute(0, 1, 3, 2, 4, 5).reshape(B, H // p, W // p, p * p * C)
        return self.proj(x)


class TokenSplit(nn.Module):
    """[B, h, w, C] -> [B, h*p, w*p, out]; with a skip, lerp(skip, x, fac) with fac learned (init 0.5)."""
    def __init__(self, in_features, out_features, patch, skip=True, zero=False):
        super().__init__()
        self.p = patch
        self.proj = Linear(in_features, out_features * patch * patch)
        if zero:
            zero_init(self.proj)
        self.fac = nn.Parameter(torch.tensor(0.5)) if skip else None

    def forward(self, x, skip=None):
        B, h, w, _ = x.shape
        p = self.p
        x = self.proj(x).view(B, h, w, p, p, -1).permute(0, 1, 3, 2, 4, 5).reshape(B, h * p, w * p, -1)
        return x if self.fac is None else torch.lerp(skip, x, self.fac.to(x.dtype))


class FourierFeatures(nn.Module):
    """t in [0, 1] -> [cos, sin](2 pi f t) with fixed random frequencies f ~ N(0, std^2)."""
    def __init__(self, dim, std=4.0):
        super().__init__()
        g = torch.Generator().manual_seed(0)  # the same on every rank and every run
        self.register_buffer('freqs', torch.randn(dim // 2, generator=g) * std)

    def forward(self, t):
        f = 2 * math.pi * t.float()[:, None] * self.freqs
        return torch.cat([f.cos(), f.sin()], dim=-1)


def soft_clamp(x, lo, hi):
    """x smoothly bounded to (lo, hi): lo + softplus(x - lo) - softplus(x - hi), ~x well inside the range.
    Unlike a hard clamp its gradient never vanishes, so a value pushed past a bound can come back."""
    return lo + F.softplus(x - lo) - F.softplus(x - hi)


def check_grid(size, patch, n_levels, what):
    f = patch * 2 ** (n_levels - 1)
    if any(s % f for s in size):
        raise ValueError(f'{what}: input size {tuple(size)} is not divisible by patch_size x 2^(levels-1) = {f}; '
                         f'change the resolution, the patch size or the number of levels')


# -----------------------------------------------------------------------------
# Stage 1: the auxiliary model (encoder + decoder -> learned per-pixel prior)

class AuxModel(nn.Module):
    """Encoder: the hourglass' down path, y -> (mu_z, logvar_z), z of shape [z_channels, H/f, W/f]
    with f = patch * 2^(levels-1). Decoder: its up path, z -> (mu_x, logvar_x) per pixel, the learned
    prior N(mu_x, exp(logvar_x)). No skips between them: everything the decoder knows passes z.
    Neighborhood attention at every level but the last (global)."""
    def __init__(self, channels=3, image_size=(32, 32), patch=2, widths=(64, 128, 256), depths=(2, 2, 2),
                 d_head=16, ff_mult=3, kernel=7, z_channels=4, logvar_range=(-9.0, 3.0)):
        super().__init__()
        check_grid(image_size, patch, len(widths), 'aux model')
        if len(depths) != len(widths):
            raise ValueError(f'aux model: {len(widths)} widths but {len(depths)} depths')
        f = patch * 2 ** (len(widths) - 1)
        self.x_shape = (channels, *image_size)
        self.z_shape = (z_channels, image_size[0] // f, image_size[1] // f)
        self.logvar_range = logvar_range
        n = len(widths)
        # encoder: local levels, each followed by a 2x2 merge, then the global level
        self.enc_in = TokenMerge(channels, widths[0], patch)
        self.enc_down = nn.ModuleList(Level(widths[i], depths[i], d_head, ff_mult, 0, kernel) for i in range(n - 1))
        self.enc_mid = Level(widths[-1], depths[-1], d_head, ff_mult, 0, None)
        self.enc_merges = nn.ModuleList(TokenMerge(widths[i], widths[i + 1], 2) for i in range(n - 1))
        self.enc_norm = RMSNorm(widths[-1])
        self.enc_out = Linear(widths[-1], 2 * z_channels)
        # decoder: the global level, then 2x2 splits, each followed by a local level
        self.dec_in = Linear(z_channels, widths[-1])
        self.dec_up = nn.ModuleList(Level(widths[i], depths[i], d_head, ff_mult, 0, kernel) for i in range(n - 1))
        self.dec_mid = Level(widths[-1], depths[-1], d_head, ff_mult, 0, None)
        self.dec_splits = nn.ModuleList(TokenSplit(widths[i + 1], widths[i], 2, skip=False) for i in range(n - 1))
        self.dec_norm = RMSNorm(widths[0])
        self.dec_out = TokenSplit(widths[0], 2 * channels, patch, skip=False, zero=True)  # prior = N(0, I) at init

    def encode(self, y):
        """y [B, C, H, W] -> mu_z, logvar_z, each [B, z_channels, H/f, W/f]."""
        x = self.enc_in(y.permute(0, 2, 3, 1))
        for level, merge in zip(self.enc_down, self.enc_merges):
            x = merge(level(x))
        x = self.enc_mid(x)
        mu, logvar = self.enc_out(self.enc_norm(x)).permute(0, 3, 1, 2).chunk(2, dim=1)
        return mu, logvar.clamp(-30.0, 20.0)

    def decode(self, z):
        """z [B, z_channels, h, w] -> mu_x, logvar_x, each [B, C, H, W] (logvar smoothly bounded to logvar_range)."""
        x = self.dec_mid(self.dec_in(z.permute(0, 2, 3, 1)))
        for level, split in reversed(list(zip(self.dec_up, self.dec_splits))):
            x = level(split(x))
        mu, logvar = self.dec_out(self.dec_norm(x)).permute(0, 3, 1, 2).chunk(2, dim=1)
        return mu, soft_clamp(logvar.float(), *self.logvar_range)   # float32: bf16 would flatten the bound's gradient

    def prior(self, z, eps, tau=1.0):
        """A sample of the learned prior D(z) and its scale: x0 = mu_x + tau * sigma * eps, sigma = exp(logvar_x / 2).
        tau is the prior temperature (tau = 0: the prior mean)."""
        mu_x, logvar_x = self.decode(z)
        sigma = torch.exp(0.5 * logvar_x.float())
        return mu_x.float() + tau * sigma * eps, sigma

    def posterior(self, y, eps):
        """A sample of the encoder's posterior q(z | y) (reparameterisation, eps ~ N(0, I) of z's shape):
        -> z = mu_z + exp(logvar_z / 2) * eps, mu_z, logvar_z."""
        mu_z, logvar_z = self.encode(y)
        return mu_z.float() + torch.exp(0.5 * logvar_z.float()) * eps, mu_z, logvar_z

    def forward(self, y, eps):
        """Reconstruct y through a sampled z."""
        z, mu_z, logvar_z = self.posterior(y, eps)
        mu_x, logvar_x = self.decode(z)
        return mu_x, logvar_x, mu_z, logvar_z


# -----------------------------------------------------------------------------
# Stage 2 and 3: the hourglass transformer, as flow model F(x_t, t, z) and latent sampler S(z_t, t)

class HDiT(nn.Module):
    """Hourglass transformer predicting a velocity. Levels i = 0..n-1 halve the token grid; the last
    is global attention, the others k x k neighborhood attention. Down path -> middle -> up path
    with lerp skips; AdaRMSNorm everywhere, conditioned by a mapping network on Fourier features
    of t plus (if z_shape is given) a linear summary of the flattened z. z is also seen spatially:
    upsampled (nearest) to the input size and concatenated to x_t.
    One level (widths=[384], depths=[8], patch=1) is the latent sampler; z_shape=None is the
    Gaussian-prior FM baseline. dropout: on the feed-forward hidden units of every level, while training."""
    def __init__(self, channels=3, image_size=(32, 32), patch=2, widths=(128, 256), depths=(2, 4), d_head=32,
                 ff_mult=3, kernel=7, mapping_width=256, mapping_depth=2, z_shape=None, dropout=0.0):
        super().__init__()
        what = 'latent sampler' if len(widths) == 1 and kernel is None else 'flow model'   # for the errors below
        check_grid(image_size, patch, len(widths), what)
        if len(depths) != len(widths):
            raise ValueError(f'{what}: {len(widths)} widths but {len(depths)} depths')
        n = len(widths)
        self.z_shape = tuple(z_shape) if z_shape else None
        in_ch = channels + (self.z_shape[0] if self.z_shape else 0)
        # conditioning: t (and z) -> mapping network -> cond for every AdaRMSNorm
        self.time_emb = FourierFeatures(mapping_width)
        self.time_in = Linear(mapping_width, mapping_width)
        self.z_in = Linear(math.prod(self.z_shape), mapping_width) if self.z_shape else None
        self.mapping = nn.Sequential(*[FeedForwardBlock(mapping_width, ff_mult * mapping_width) for _ in range(mapping_depth)])
        self.mapping_norm = RMSNorm(mapping_width)
        c = mapping_width
        self.patch_in = TokenMerge(in_ch, widths[0], patch)
        self.down = nn.ModuleList(Level(widths[i], depths[i], d_head, ff_mult, c, kernel, dropout) for i in range(n - 1))
        self.merges = nn.ModuleList(TokenMerge(widths[i], widths[i + 1], 2) for i in range(n - 1))
        self.mid = Level(widths[-1], depths[-1], d_head, ff_mult, c, None, dropout)
        self.splits = nn.ModuleList(TokenSplit(widths[i + 1], widths[i], 2) for i in range(n - 1))
        self.up = nn.ModuleList(Level(widths[i], depths[i], d_head, ff_mult, c, kernel, dropout) for i in range(n - 1))
        self.out_norm = RMSNorm(widths[0])
        self.patch_out = TokenSplit(widths[0], channels, patch, skip=False, zero=True)  # v = 0 at init

    def forward(self, x, t, z=None):
        """x [B, C, H, W], t [B] in [0, 1], z [B, *z_shape] (or None) -> velocity [B, C, H, W]."""
        cond = self.time_in(self.time_emb(t))
        if self.z_shape:
            cond = cond + self.z_in(z.flatten(1))
            x = torch.cat([x, F.interpolate(z, size=x.shape[-2:], mode='nearest')], dim=1)
        cond = self.mapping_norm(self.mapping(cond))
        x = self.patch_in(x.permute(0, 2, 3, 1))
        skips = []
        for level, merge in zip(self.down, self.merges):
            x = level(x, cond)
            skips.append(x)
            x = merge(x)
        x = self.mid(x, cond)
        for level, split, skip in reversed(list(zip(self.up, self.splits, skips))):
            x = level(split(x, skip), cond)
        return self.patch_out(self.out_norm(x)).permute(0, 3, 1, 2)


# -----------------------------------------------------------------------------
# Losses ("Eq." numbers are the paper's; docs/method.md writes them out)

def vgl_loss(y, mu_x, logvar_x):
    """Eq. 4, variance-guided loss: Gaussian NLL x2 without the constant, mean per element."""
    return ((y - mu_x) ** 2 * torch.exp(-logvar_x) + logvar_x).mean()


def kl_loss(mu_z, logvar_z):
    """KL(N(mu_z, sigma_z^2) || N(0, I)), mean per latent element."""
    return 0.5 * (mu_z ** 2 + torch.exp(logvar_z) - 1 - logvar_z).mean()


def aux_loss(y, mu_x, logvar_x, mu_z, logvar_z, kl_weight):
    """Eq. 5: L_aux = VGL + beta * KL, beta = kl_weight. VGL is a mean over the D_x pixel elements and
    KL one over the D_z latent elements, so the KL is weighed as in the per-image negative ELBO, and
    beta means the same at every image and latent size:
        per image, in nats:  NLL + beta * KL = D_x / 2 * (VGL + beta * 2 D_z / D_x * mean KL) + const.
    beta = 1 is the VAE's ELBO; lower = sharper prior, rougher latent space (docs/method.md)."""
    d_x, d_z = y[0].numel(), mu_z[0].numel()
    return vgl_loss(y, mu_x, logvar_x) + kl_weight * (2 * d_z / d_x) * kl_loss(mu_z, logvar_z)


def lediflow_loss(v, y, x0, sigma, w_max):
    """Eq. 6: importance-weighted flow matching, w = min(1 / sigma, w_max) per pixel."""
    w = (1.0 / sigma).clamp(max=w_max)
    return (w * (v - (y - x0)) ** 2).mean()


def fm_loss(v, y, x0):
    """Eq. 2: plain (rectified) flow matching, target velocity y - x0."""
    return ((v - (y - x0)) ** 2).mean()


def ot_pairing(x0, y):
    """Minibatch optimal-transport coupling (OT-CFM; Tong et al. 2023, Pooladian et al. 2023): the permutation p
    that minimises sum_i |x0[p[i]] - y[i]|^2 over the batch, so that x0[p] is paired with y. Exact, by scipy's
    linear_sum_assignment (a modified Jonker-Volgenant solver: O(B^3), ~1 ms at B = 64)."""
    from scipy.optimize import linear_sum_assignment   # only the OT coupling needs scipy
    cost = torch.cdist(y.flatten(1).double(), x0.flatten(1).double()).square()
    _, cols = linear_sum_assignment(cost.cpu().numpy())
    return torch.as_tensor(cols, device=x0.device)


def sample_t(n, dist, generator, device):
    """Training times t in (0, 1): 'uniform', or 'logit_normal' (logit(t) ~ N(0, 1), more samples mid-way)."""
    if dist == 'logit_normal':
        return torch.sigmoid(torch.randn(n, generator=generator, device=device))
    return torch.rand(n, generator=generator, device=device)


def inpaint_velocity(v, y, x0, mask):
    """Eq. 7: v' = m * F(x, t, z) + (1 - m) * (y - x0); m = 1 where pixels are generated."""
    return mask * v + (1 - mask) * (y - x0)


def slerp(a, b, alpha):
    """Spherical interpolation between noise tensors a and b ([B, ...]); alpha [B] in [0, 1]."""
    a_, b_ = a.flatten(1), b.flatten(1)
    omega = torch.acos(((a_ * b_).sum(1) / (a_.norm(dim=1) * b_.norm(dim=1))).clamp(-1 + 1e-7, 1 - 1e-7))
    w = lambda s: (torch.sin(s * omega) / torch.sin(omega)).view(-1, *[1] * (a.ndim - 1))
    return w(1 - alpha) * a + w(alpha) * b


# -----------------------------------------------------------------------------
# Fixed-step ODE solvers: explicit Runge-Kutta, Butcher tableaus (c, A, b); NFE per step = len(c)

TABLEAUS = {
    'euler':    ([0.0], [[]], [1.0]),
    'midpoint': ([0.0, 1 / 2], [[], [1 / 2]], [0.0, 1.0]),
    'heun2':    ([0.0, 1.0], [[], [1.0]], [1 / 2, 1 / 2]),
    'heun3':    ([0.0, 1 / 3, 2 / 3], [[], [1 / 3], [0.0, 2 / 3]], [1 / 4, 0.0, 3 / 4]),
    'rk4':      ([0.0, 1 / 2, 1 / 2, 1.0], [[], [1 / 2], [0.0, 1 / 2], [0.0, 0.0, 1.0]], [1 / 6, 1 / 3, 1 / 3, 1 / 6]),
}


def nfe(solver, steps):
    """Network evaluations of `steps` steps of `solver`."""
    return steps * len(TABLEAUS[solver][0])


@torch.no_grad()
def solve(f, x, steps, solver='midpoint', t0=0.0, t1=1.0):
    """Integrate dx/dt = f(x, t) from t0 to t1 in `steps` equal steps (t1 < t0 runs backward).
    f takes x and t as a [B] tensor. Returns the final x."""
    if solver not in TABLEAUS:
        raise ValueError(f"unknown solver '{solver}'; choose one of {', '.join(TABLEAUS)}")
    if steps < 1:
        raise ValueError(f'steps must be >= 1, got {steps}')
    c, A, b = TABLEAUS[solver]
    ts = torch.linspace(t0, t1, steps + 1, dtype=torch.float64).tolist()
    for t, t_next in zip(ts[:-1], ts[1:]):
        h = t_next - t
        ks = []
        for ci, ai in zip(c, A):
            xi = x + h * sum(a * k for a, k in zip(ai, ks) if a) if any(ai) else x
            ks.append(f(xi, torch.full((x.shape[0],), t + ci * h, device=x.device)))
        x = x + h * sum(bi * k for bi, k in zip(b, ks) if bi)
    return x


# -----------------------------------------------------------------------------
# Generation: latent sampler -> decoder -> prior sample -> flow ODE (docs/method.md, "Generation")

@torch.no_grad()
def generate(flow, aux=None, sampler=None, n=16, steps=1, solver='midpoint', sampler_steps=4,
             sampler_solver='midpoint', tau=1.0, z=None, generator=None, shape=None):
    """n new images [n, C, H, W] (unclamped). With aux=None: the Gaussian-prior baseline, x0 ~ N(0, I)
    of `shape` (C, H, W). z (optional) skips the latent sampler: the same z gives contextually
    similar, different images (the variation comes from the prior noise eps). generator: a torch.Generator, or a
    list of n, one per sample."""
    dev = next(flow.parameters()).device

    def randn(*s):   # generator: one for the batch, or a list of one per sample (its noise then never depends on
        if isinstance(generator, (list, tuple)):   # which batch or which rank it is drawn in)
            return torch.stack([torch.randn(s[1:], generator=g, device=g.device) for g in generator]).to(dev)
        return torch.randn(s, generator=generator, device=generator.device if generator else 'cpu').to(dev)
    if aux is None:   # the baseline: x0 ~ N(0, tau^2 I) (tau 1: the paper's)
        return solve(flow, tau * randn(n, *shape), steps, solver)
    if z is None:
        z = solve(sampler, randn(n, *aux.z_shape), sampler_steps, sampler_solver)
    x0, _ = aux.prior(z, randn(n, *aux.x_shape), tau)
    return solve(lambda x, t: flow(x, t, z), x0, steps, solver) if steps else x0   # steps=0: the prior sample
