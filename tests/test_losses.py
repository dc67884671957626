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
    # for fixed residual r, (r^2 e^-l + l) is minimal at l = ln r^2: the loss learns the variance
    r = torch.tensor(0.3)
    ls = torch.linspace(-6, 2, 8001)
    best = ls[torch.argmin(r ** 2 * torch.exp(-ls) + ls)]
    assert abs(best - math.log(0.09)) < 2e-3


def test_kl_by_hand():
    mu = torch.tensor([0.0, 1.0])
    logvar = torch.tensor([0.0, math.log(2.0)])
    # element 1: 0; element 2: (1 + 2 - 1 - ln 2) / 2
    expected = (0.0 + (2.0 - math.log(2.0)) / 2) / 2
    assert math.isclose(M.kl_loss(mu, logvar).item(), expected, rel_tol=1e-6)
    assert M.kl_loss(torch.zeros(5), torch.zeros(5)).item() == 0.0


def test_aux_loss_is_vgl_plus_beta_kl():
    g = torch.Generator().manual_seed(0)
    y, mu, lv, mz, lz = (torch.randn(2, 3, generator=g) for _ in range(5))
    total = M.aux_loss(y, mu, lv, mz, lz, 0.25)
    assert math.isclose(total.item(), (M.vgl_loss(y, mu, lv) + 0.25 * M.kl_loss(mz, lz)).item(), rel_tol=1e-6)


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
