"""Networks: shapes, zero-init outputs, neighborhood attention = natten.na2d, positions."""
import pytest
import torch
import torch.nn.functional as F

import model as M


def tiny_aux(**kw):
    args = dict(channels=3, image_size=(32, 32), patch=4, widths=(16, 32), depths=(1, 1), d_head=8, ff_mult=2,
                kernel=7, z_channels=4)
    args.update(kw)
    return M.AuxModel(**args)


def tiny_flow(**kw):
    args = dict(channels=3, image_size=(32, 32), patch=2, widths=(16, 32, 32), depths=(1, 1, 1), d_head=8, ff_mult=2,
                kernel=3, mapping_width=32, mapping_depth=1, z_shape=(4, 4, 4))
    args.update(kw)
    return M.HDiT(**args)


def test_aux_shapes():
    aux = tiny_aux()
    assert aux.z_shape == (4, 4, 4)
    y = torch.randn(2, 3, 32, 32)
    mu_z, logvar_z = aux.encode(y)
    assert mu_z.shape == logvar_z.shape == (2, 4, 4, 4)
    mu_x, logvar_x = aux.decode(mu_z)
    assert mu_x.shape == logvar_x.shape == (2, 3, 32, 32)
    # non-square images and another patch size / depth
    aux2 = tiny_aux(image_size=(16, 32), patch=2, widths=(8, 16, 32), depths=(1, 1, 1), z_channels=2)
    assert aux2.z_shape == (2, 2, 4)
    assert aux2(torch.randn(1, 3, 16, 32), torch.randn(1, 2, 2, 4))[0].shape == (1, 3, 16, 32)


def test_flow_and_sampler_shapes():
    F = tiny_flow()
    x, t, z = torch.randn(2, 3, 32, 32), torch.rand(2), torch.randn(2, 4, 4, 4)
    assert F(x, t, z).shape == (2, 3, 32, 32)
    baseline = tiny_flow(z_shape=None)
    assert baseline(x, t).shape == (2, 3, 32, 32)
    sampler = M.HDiT(channels=4, image_size=(4, 4), patch=1, widths=(32,), depths=(2,), d_head=16, ff_mult=2,
                     kernel=None, mapping_width=32, mapping_depth=1)
    assert sampler(z, t).shape == (2, 4, 4, 4)


def randomize_zero_init(model, std=0.05):
    """Give the zero-initialised output layers random weights, so the network computes something."""
    for m in model.modules():
        if isinstance(m, torch.nn.Linear) and not m.weight.any():
            torch.nn.init.normal_(m.weight, std=std)
    return model


def test_bad_sizes_are_clear_errors():
    with pytest.raises(ValueError, match='^flow model: input size .* not divisible by patch_size'):
        tiny_flow(image_size=(30, 32))
    with pytest.raises(ValueError, match='^latent sampler: input size'):   # the error names the network it is about
        M.HDiT(channels=4, image_size=(4, 4), patch=3, widths=(32,), depths=(1,), d_head=8, kernel=None)
    with pytest.raises(ValueError, match='head dim'):
        tiny_flow(widths=(12, 32, 32))


def test_outputs_zero_at_init_and_trainable():
    torch.manual_seed(0)
    F, aux = tiny_flow(), tiny_aux()
    x, t, z = torch.randn(2, 3, 32, 32), torch.rand(2), torch.randn(2, 4, 4, 4)
    v = F(x, t, z)
    assert torch.all(v == 0)                      # zero-init output projection: v = 0
    mu_x, logvar_x = aux.decode(z)
    # the prior starts as ~N(0, I): mu_x = 0 and logvar_x = soft_clamp(0) exactly (zero-init raw output), which is
    # within 0.05 of 0 for the default bounds (-9, 3)
    assert torch.all(mu_x == 0)
    assert torch.equal(logvar_x, M.soft_clamp(torch.zeros_like(logvar_x), *aux.logvar_range))
    assert logvar_x.abs().max() < 0.05
    # ... but not dead: the zero-init weights get a gradient
    ((v - 1) ** 2).mean().backward()
    assert F.patch_out.proj.weight.grad.abs().sum() > 0
    mu_z, _ = aux.encode(x)
    assert mu_z.abs().sum() > 0                   # the encoder is not zero-init: z carries information
    # every residual block starts as the identity (zero-init output of attention and feed-forward)
    for m in F.modules():
        if isinstance(m, M.AttentionBlock):
            assert torch.all(m.out.weight == 0)
        if isinstance(m, M.FeedForwardBlock):
            assert torch.all(m.down.weight == 0)
    assert all(m.bias is None for m in F.modules() if isinstance(m, torch.nn.Linear))


def test_conditioning_changes_output():
    torch.manual_seed(0)
    F = randomize_zero_init(tiny_flow())
    x, z = torch.randn(1, 3, 32, 32), torch.randn(1, 4, 4, 4)
    a = F(x, torch.tensor([0.1]), z)
    assert torch.isfinite(a).all() and a.abs().mean() > 1e-3
    assert not torch.allclose(a, F(x, torch.tensor([0.9]), z))    # t reaches the output
    assert not torch.allclose(a, F(x, torch.tensor([0.1]), -z))   # z reaches the output


def test_flow_dropout_only_while_training():
    """dropout: random in train mode, off in eval mode (there the network is the dropout-0 network with the same
    weights), and no parameters of its own (the state dict is the dropout-0 network's)."""
    torch.manual_seed(0)
    F = randomize_zero_init(tiny_flow(dropout=0.5))
    plain = tiny_flow()
    assert F.state_dict().keys() == plain.state_dict().keys()
    plain.load_state_dict(F.state_dict())
    x, t, z = torch.randn(2, 3, 32, 32), torch.rand(2), torch.randn(2, 4, 4, 4)
    a, b = F(x, t, z), F(x, t, z)
    assert not torch.allclose(a, b)                                 # training: a new mask every call
    F.eval()
    torch.testing.assert_close(F(x, t, z), plain(x, t, z))          # sampling: no dropout


def brute_force_na(q, k, v, kernel):
    """Neighborhood attention by loops: query (i, j) attends to the window starting at clamp(i - k//2, 0, L - k)."""
    B, H, W, nh, d = q.shape
    out = torch.empty_like(q)
    kh, kw = min(kernel, H), min(kernel, W)
    for i in range(H):
        for j in range(W):
            si, sj = min(max(i - kh // 2, 0), H - kh), min(max(j - kw // 2, 0), W - kw)
            keys = k[:, si:si + kh, sj:sj + kw].reshape(B, -1, nh, d)
            vals = v[:, si:si + kh, sj:sj + kw].reshape(B, -1, nh, d)
            att = torch.einsum('bhd,bnhd->bhn', q[:, i, j] * d ** -0.5, keys).softmax(-1)
            out[:, i, j] = torch.einsum('bhn,bnhd->bhd', att, vals)
    return out


IMPLS = {'masked': M.na2d_masked, 'tiled (tile 8)': M.na2d_tiled, 'tiled (tile 3)': lambda *a, **k: M.na2d_tiled(*a, **k, tile=3)}


@pytest.mark.parametrize('impl', list(IMPLS))
@pytest.mark.parametrize('H,W,kernel', [(9, 9, 7), (12, 7, 5), (5, 11, 3), (4, 6, 7), (17, 20, 7), (16, 16, 3), (11, 26, 7)])
def test_neighborhood_attention_matches_definition_forward_and_backward(impl, H, W, kernel):
    """Both pure-PyTorch implementations equal the loop definition (NATTEN's window semantics: non-square
    grids, grids smaller than the kernel, grids that are no multiple of the tile), values and gradients."""
    torch.manual_seed(0)
    qkv = [torch.randn(2, H, W, 2, 8, dtype=torch.float64) for _ in range(3)]
    a = [t.clone().requires_grad_() for t in qkv]
    b = [t.clone().requires_grad_() for t in qkv]
    out, ref = IMPLS[impl](*a, kernel), brute_force_na(*b, kernel)
    torch.testing.assert_close(out, ref, atol=1e-10, rtol=1e-10)
    w = torch.randn_like(ref)
    (out * w).sum().backward()
    (ref * w).sum().backward()
    for x, y in zip(a, b):
        torch.testing.assert_close(x.grad, y.grad, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize('H,W,kernel', [(9, 9, 7), (16, 16, 7), (12, 8, 5), (7, 10, 3), (33, 35, 7)])
def test_neighborhood_attention_matches_natten(H, W, kernel):
    natten = pytest.importorskip('natten')
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, H, W, 4, 16) for _ in range(3))
    for scale in (None, 1.0):
        ref = natten.na2d(q, k, v, kernel, scale=scale)                # natten's own (Flex) CPU forward
        for impl in IMPLS.values():
            torch.testing.assert_close(impl(q, k, v, kernel, scale=scale), ref, atol=1e-5, rtol=1e-5)


def test_natten_wrapper_of_the_cuda_path_agrees_in_bfloat16():
    """The exact call the CUDA path makes (model.natten_na2d: kernel clipped per axis into a tuple, scale=1.0 as
    AttentionBlock passes it, heads-last bf16 inputs), run here through natten's CPU backend, against the fallback."""
    natten = pytest.importorskip('natten')
    torch.manual_seed(0)
    for H, W, kernel in [(16, 16, 7), (5, 12, 7), (40, 36, 7)]:
        q, k, v = (torch.randn(2, H, W, 4, 32) for _ in range(3))
        q, k = F.normalize(q, dim=-1) * 3, F.normalize(k, dim=-1) * 3   # cosine-sim attention, temperature 3^2
        out = M.natten_na2d(*(t.bfloat16() for t in (q, k, v)), kernel, scale=1.0)
        assert out.dtype == torch.bfloat16 and out.shape == q.shape
        torch.testing.assert_close(out.float(), M.neighborhood_attention(q, k, v, kernel, scale=1.0), atol=3e-2, rtol=3e-2)


def test_neighborhood_attention_picks_masked_for_small_and_tiles_for_large_grids(monkeypatch):
    calls = []
    for name in ('na2d_masked', 'na2d_tiled'):
        real = getattr(M, name)
        monkeypatch.setattr(M, name, lambda *a, real=real, name=name, **k: calls.append(name) or real(*a, **k))
    for n in (8, 31, 32, 48):
        q = torch.randn(1, n, n, 2, 8)
        M.neighborhood_attention(q, q, q, 7)
    assert calls == ['na2d_masked', 'na2d_masked', 'na2d_tiled', 'na2d_tiled']
    assert 'natten' in M.attention_path('cpu') and 'query tiles' in M.attention_path('cpu')


def largest_intermediate(fn, *args):
    """The element count of the largest tensor any op makes while fn runs (the inputs aside): what bounds the
    memory an attention implementation needs beyond its inputs and output."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Largest(TorchDispatchMode):
        numel = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in (out if isinstance(out, (tuple, list)) else [out]):
                if isinstance(t, torch.Tensor):
                    Largest.numel = max(Largest.numel, t.numel())
            return out
    with Largest():
        fn(*args)
    return Largest.numel


def test_tiled_attention_memory_grows_linearly():
    """Measured: 4x the tokens makes the tiles' largest intermediate tensor ~4x larger (O(hw)), the masked
    form's ~16x (its [hw, hw] mask and scores: O((hw)^2))."""
    size = {}
    for n in (32, 64):
        q, k, v = (torch.randn(1, n, n, 2, 8) for _ in range(3))
        size[n] = (largest_intermediate(M.na2d_tiled, q, k, v, 7), largest_intermediate(M.na2d_masked, q, k, v, 7))
    tiled, masked = size[64][0] / size[32][0], size[64][1] / size[32][1]
    assert 3.5 <= tiled <= 5, tiled
    assert masked >= 14, masked
    assert size[64][0] < size[64][1] / 5


def test_axial_positions_agree_across_levels():
    fine, coarse = M.axial_pos(8, 4, 'cpu'), M.axial_pos(4, 2, 'cpu')
    pooled = fine.view(4, 2, 2, 2, 2).mean((1, 3))          # centre of each 2x2 patch
    torch.testing.assert_close(pooled, coarse)
    assert fine[..., 0].max() == -fine[..., 0].min()        # centred


def test_generate_shapes_and_baseline():
    torch.manual_seed(0)
    aux, F = tiny_aux(), tiny_flow()
    sampler = M.HDiT(channels=4, image_size=(4, 4), patch=1, widths=(16,), depths=(1,), d_head=8, ff_mult=2,
                     kernel=None, mapping_width=16, mapping_depth=1)
    x = M.generate(F, aux, sampler, n=3, steps=2, solver='heun2', generator=torch.Generator().manual_seed(0))
    assert x.shape == (3, 3, 32, 32)
    # at init F = 0 and the prior is N(0, I): the result is the prior sample itself, x0 ~ N(0, I)
    assert 0.8 < x.std() < 1.2
    fb = tiny_flow(z_shape=None)
    xb = M.generate(fb, n=2, steps=1, shape=(3, 32, 32), generator=torch.Generator().manual_seed(1))
    assert xb.shape == (2, 3, 32, 32)
    # the baseline's temperature scales its N(0, I) start; F = 0 at init, so the result is that start itself
    xh = M.generate(fb, n=2, steps=1, shape=(3, 32, 32), tau=0.5, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(xh, 0.5 * xb)
    assert 0.8 < xb.std() < 1.2


def test_logvar_bound_is_smooth_with_gradient_past_the_bounds():
    lo, hi = -9.0, 3.0
    x = torch.tensor([lo - 5, lo, -3.0, hi, hi + 5], requires_grad=True)
    y = M.soft_clamp(x, lo, hi)
    assert (y > lo).all() and (y < hi).all()
    assert abs(y[2].item() + 3.0) < 1e-3                    # ~the identity well inside the range
    y.sum().backward()
    assert (x.grad > 1e-3).all(), x.grad                     # at and past both bounds: a pixel can come back
    # the decoder's logvar_x: drive its raw output far past both bounds, every pixel still gets a gradient
    torch.manual_seed(0)
    aux = tiny_aux(logvar_range=(lo, hi))
    torch.nn.init.normal_(aux.dec_out.proj.weight, std=1.0)   # raw logvar ~ N(0, 4^2): some past both bounds
    raw = []
    aux.dec_out.register_forward_hook(lambda m, i, o: raw.append(o) or o.retain_grad())
    mu_x, logvar_x = aux.decode(torch.randn(2, 4, 4, 4))
    assert logvar_x.min() >= lo and logvar_x.max() <= hi
    logvar_x.sum().backward()
    raw_logvar, grad = raw[0][..., 3:], raw[0].grad[..., 3:]   # channels-last [mu (3), logvar (3)] before the split
    near = (raw_logvar > lo - 10) & (raw_logvar < hi + 10)      # float32 resolves the gradient there (it decays as e^-d)
    assert (near & (raw_logvar < lo)).sum() > 5 and (near & (raw_logvar > hi)).sum() > 5
    assert (grad[near] > 0).all()
