"""ODE solvers: convergence order, exactness on straight paths, backward = inverse, NFE."""
import math

import pytest
import torch

import model as M

ORDER = {'euler': 1, 'midpoint': 2, 'heun2': 2, 'heun3': 3, 'rk4': 4}


def f(x, t):  # dx/dt = x cos(t) + t: state- and time-dependent
    return x * torch.cos(t)[:, None].double() + t[:, None].double()


def exact(x0, t):  # x(t) = e^{sin t} (x0 + int_0^t s e^{-sin s} ds), the integral by fine quadrature
    s = torch.linspace(0, t, 200001, dtype=torch.float64)
    integral = torch.trapezoid(s * torch.exp(-torch.sin(s)), s)
    return math.exp(math.sin(t)) * (x0 + integral)


@pytest.mark.parametrize('solver', list(ORDER))
def test_convergence_order(solver):
    x0 = torch.tensor([[0.5], [-1.0]], dtype=torch.float64)
    ref = exact(x0, 1.0)
    errs = [(M.solve(f, x0, n, solver) - ref).abs().max().item() for n in (8, 16)]
    observed = math.log2(errs[0] / errs[1])
    assert abs(observed - ORDER[solver]) < 0.35, (solver, errs, observed)


@pytest.mark.parametrize('solver', list(ORDER))
def test_one_step_exact_on_straight_path(solver):
    # the flow-matching target of one pair: constant velocity y - x0; any solver, one step, lands on y
    x0, y = torch.randn(3, 3, 4, 4, dtype=torch.float64), torch.randn(3, 3, 4, 4, dtype=torch.float64)
    torch.testing.assert_close(M.solve(lambda x, t: y - x0, x0, 1, solver), y)
    # the field that points from the current point to y, v = (y - x) / (1 - t): euler is exact from t=0
    field = lambda x, t: (y - x) / (1 - t.double()).view(-1, 1, 1, 1)
    torch.testing.assert_close(M.solve(field, x0, 1, 'euler'), y)


@pytest.mark.parametrize('solver', ['midpoint', 'heun3', 'rk4'])
def test_backward_inverts_forward(solver):
    x0 = torch.randn(4, 2, dtype=torch.float64)
    x1 = M.solve(f, x0, 64, solver)
    back = M.solve(f, x1, 64, solver, t0=1.0, t1=0.0)
    assert (x1 - x0).abs().max() > 0.1                  # it went somewhere
    torch.testing.assert_close(back, x0, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize('solver', list(ORDER))
def test_nfe_counts_calls(solver):
    calls = []
    M.solve(lambda x, t: calls.append(t[0].item()) or x, torch.zeros(1, 1), 3, solver)
    assert len(calls) == M.nfe(solver, 3)
    assert min(calls) == 0.0 and max(calls) <= 1.0


def test_bad_solver_args():
    with pytest.raises(ValueError, match='unknown solver'):
        M.solve(f, torch.zeros(1, 1), 1, 'rk45')
    with pytest.raises(ValueError, match='steps'):
        M.solve(f, torch.zeros(1, 1), 0, 'euler')
