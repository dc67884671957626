"""Each loss against values computed by hand."""
import math

import torch

import model as M


def test_vgl_by_hand():
    y = torch.tensor([1.0, 0.0])
    mu = torch.tensor([0.0, 0.5])
    logvar = torch.tensor([0.0, math.log(4.0)])
    # pixel 1: (1-0)^2 * e^0 + 0 = 1; pixel 2: 0.25 / 4 + ln 4
    expected = (1.0 + (0.0625 + math.log(4.0))) / 2
    assert math.isclose(M.vgl_loss(y, mu, logvar).item(), expected, rel_tol=1e-6)


def test_vgl_minimum_is_the_true_variance():
    # for a fixed residual r, the VGL is minimal at logvar = ln r^2: the loss learns the variance
    y, mu = torch.tensor([0.3]), torch.tensor([0.0])
    ls = torch.linspace(-6, 2, 8001)
    losses = torch.stack([M.vgl_loss(y, mu, l.view(1)) for l in ls])
    assert abs(ls[torch.argmin(losses)] - math.log(0.09)) < 2e-3
    # and per pixel: each pixel's own residual sets its own optimum (a shared or missing exp(-logvar) fails here)
    y2, mu2 = torch.tensor([0.3, 1.0]), torch.zeros(2)
    lv = torch.zeros(2, requires_grad=True)
    opt = torch.optim.Adam([lv], lr=0.05)
    for _ in range(600):
        opt.zero_grad()
        M.vgl_loss(y2, mu2, lv).backward()
        opt.step()
    torch.testing.assert_close(lv.detach(), torch.log(y2 ** 2), atol=2e-2, rtol=0)


def test_kl_by_hand():
    mu = torch.tensor([0.0, 1.0])
    logvar = torch.tensor([0.0, math.log(2.0)])
    # element 1: 0; element 2: (1 + 2 - 1 - ln 2) / 2
    expected = (0.0 + (2.0 - math.log(2.0)) / 2) / 2
    assert math.isclose(M.kl_loss(mu, logvar).item(), expected, rel_tol=1e-6)
    assert M.kl_loss(torch.zeros(5), torch.zeros(5)).item() == 0.0


def test_kl_weight_means_the_same_at_every_size():
    """aux_loss = VGL + beta * (2 D_z / D_x) * mean KL, i.e. (2 / D_x) x (per-image Gaussian NLL + beta x per-image
    KL, in nats) minus a constant: beta weighs nats against nats at any image and latent size."""
    g = torch.Generator().manual_seed(0)
    beta = 0.3
    for x_shape, z_shape in [((3, 8, 8), (4, 2, 2)), ((4, 32, 32), (2, 4, 4)), ((3, 16, 16), (8, 1, 1))]:
        y, mu = torch.randn(5, *x_shape, generator=g, dtype=torch.float64), torch.randn(5, *x_shape, generator=g, dtype=torch.float64)
        lv = torch.randn(5, *x_shape, generator=g, dtype=torch.float64)
        mz, lz = torch.randn(5, *z_shape, generator=g, dtype=torch.float64), torch.randn(5, *z_shape, generator=g, dtype=torch.float64)
        nll = 0.5 * ((y - mu) ** 2 * torch.exp(-lv) + lv + math.log(2 * math.pi)).flatten(1).sum(1).mean()
        kl = 0.5 * (mz ** 2 + torch.exp(lz) - 1 - lz).flatten(1).sum(1).mean()
        d_x = math.prod(x_shape)
        expected = 2 / d_x * (nll + beta * kl) - math.log(2 * math.pi)
        assert math.isclose(M.aux_loss(y, mu, lv, mz, lz, beta).item(), expected.item(), rel_tol=1e-9)


def test_lediflow_loss_by_hand():
    y = torch.tensor([1.0, 1.0, 1.0])
    x0 = torch.tensor([0.0, 0.0, 0.0])          # target velocity 1 everywhere
    v = torch.tensor([0.0, 0.5, 2.0])           # squared errors 1, 0.25, 1
    sigma = torch.tensor([0.5, 0.01, 4.0])      # weights 1/sigma = 2, 100 -> capped at w_max = 10, 0.25
    expected = (2 * 1 + 10 * 0.25 + 0.25 * 1) / 3
    assert math.isclose(M.lediflow_loss(v, y, x0, sigma, w_max=10.0).item(), expected, rel_tol=1e-6)


def test_fm_loss_by_hand():
    y, x0, v = torch.tensor([2.0, -1.0]), torch.tensor([1.0, 1.0]), torch.tensor([0.0, 0.0])
    assert math.isclose(M.fm_loss(v, y, x0).item(), (1.0 + 4.0) / 2, rel_tol=1e-6)


def test_inpaint_velocity():
    v, y, x0 = torch.full((4,), 7.0), torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.zeros(4)
    m = torch.tensor([1.0, 0.0, 1.0, 0.0])
    assert M.inpaint_velocity(v, y, x0, m).tolist() == [7.0, 2.0, 7.0, 4.0]


def test_sample_t_distributions():
    g = torch.Generator().manual_seed(0)
    u, ln = M.sample_t(20000, 'uniform', g, 'cpu'), M.sample_t(20000, 'logit_normal', g, 'cpu')
    for t in (u, ln):
        assert t.min() > 0 and t.max() < 1
    mid = lambda t: ((t > 0.25) & (t < 0.75)).float().mean().item()
    assert abs(mid(u) - 0.5) < 0.02
    assert abs(mid(ln) - 0.7267) < 0.02          # P(|N(0, 1)| < logit(0.75) = 1.0986): more t mid-way
    torch.testing.assert_close(torch.logit(ln).std(), torch.tensor(1.0), atol=0.03, rtol=0)


def test_ot_pairing_minimises_the_batch_cost_by_brute_force():
    """model.ot_pairing against every permutation of small batches: its pairing has the least total squared
    distance, and it differs from the identity when the identity is not optimal."""
    import itertools
    g = torch.Generator().manual_seed(0)
    moved = 0
    for trial in range(20):
        n = 2 + trial % 5                                   # batches of 2 to 6
        x0, y = torch.randn(n, 3, 4, 4, generator=g), torch.randn(n, 3, 4, 4, generator=g)
        cost = lambda p: sum(float((x0[p[i]] - y[i]).square().sum()) for i in range(n))
        p = M.ot_pairing(x0, y).tolist()
        assert sorted(p) == list(range(n))
        assert cost(p) <= min(cost(q) for q in itertools.permutations(range(n))) + 1e-9
        moved += p != list(range(n))
    assert moved > 10
