"""evaluate.py: each metric against its definition, the CLIP path, and the sweep end to end."""
import json
import math
import os

import numpy as np
import pytest
import torch

import evaluate as E
from conftest import run


def test_fid_self_is_zero_and_closed_form():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(500, 16, generator=g, dtype=torch.float64)
    assert abs(E.fid(f, f)) < 1e-8
    # two Gaussians with commuting covariances Q diag(a) Q^T, Q diag(b) Q^T:
    # FID = |mu1 - mu2|^2 + sum(a + b - 2 sqrt(a b))
    Q, _ = torch.linalg.qr(torch.randn(8, 8, generator=g, dtype=torch.float64))
    a, b = torch.rand(8, generator=g, dtype=torch.float64) + 0.1, torch.rand(8, generator=g, dtype=torch.float64) + 0.1
    mu1, mu2 = torch.randn(8, generator=g, dtype=torch.float64), torch.randn(8, generator=g, dtype=torch.float64)
    expected = ((mu1 - mu2) ** 2).sum() + (a + b - 2 * (a * b).sqrt()).sum()
    got = E.frechet_distance(mu1, Q @ torch.diag(a) @ Q.T, mu2, Q @ torch.diag(b) @ Q.T)
    assert math.isclose(got, expected.item(), rel_tol=1e-9)
    # and from samples, the estimate approaches it
    x = mu1 + torch.randn(20000, 8, generator=g, dtype=torch.float64) * a.sqrt() @ Q.T
    y = mu2 + torch.randn(20000, 8, generator=g, dtype=torch.float64) * b.sqrt() @ Q.T
    assert abs(E.fid(x, y) - expected.item()) < 0.05 * expected.item()


def test_cmmd_equals_brute_force():
    g = torch.Generator().manual_seed(1)
    x = torch.nn.functional.normalize(torch.randn(7, 5, generator=g, dtype=torch.float64), dim=1)
    y = torch.nn.functional.normalize(torch.randn(9, 5, generator=g, dtype=torch.float64) + 0.5, dim=1)
    k = lambda a, b: math.exp(-float(((a - b) ** 2).sum()) / (2 * 10.0 ** 2))
    kxx = sum(k(a, b) for a in x for b in x) / 49
    kyy = sum(k(a, b) for a in y for b in y) / 81
    kxy = sum(k(a, b) for a in x for b in y) / 63
    assert math.isclose(E.cmmd(x, y), 1000 * (kxx + kyy - 2 * kxy), rel_tol=1e-9)
    assert E.cmmd(x, x) == pytest.approx(0, abs=1e-12)


def test_kid_unbiased():
    g = torch.Generator().manual_seed(2)
    same = [E.kid(torch.randn(200, 32, generator=g), torch.randn(200, 32, generator=g), n_subsets=20, seed=i)
            for i in range(5)]
    assert abs(np.mean(same)) < 0.01                       # unbiased: ~0 for one distribution
    assert min(same) < 0 < max(same) or abs(np.mean(same)) < 0.002  # fluctuates around zero, not always positive
    diff = E.kid(torch.randn(200, 32, generator=g), torch.randn(200, 32, generator=g) + 0.5, n_subsets=20)
    assert diff > 20 * abs(np.mean(same))


def test_time_to_reach_and_speedup():
    base = [(10.0, 50.0), (20.0, 30.0), (40.0, 20.0), (80.0, 21.0)]
    assert E.time_to_reach(base, 40.0) == pytest.approx(15.0)   # halfway between 50 @10 and 30 @20
    assert E.time_to_reach(base, 20.0) == pytest.approx(40.0)
    assert E.time_to_reach(base, 60.0) == 10.0
    assert E.time_to_reach(base, 10.0) is None
    sp = E.speedups([(5.0, 30.0), (6.0, 10.0)], base)
    assert sp[0]['speedup'] == pytest.approx(4.0) and sp[1]['speedup'] is None


def test_clip_embeddings_on_tiny_random_clip(tmp_path):
    transformers = pytest.importorskip('transformers')
    cfg = transformers.CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                        num_attention_heads=2, image_size=32, patch_size=8, projection_dim=16)
    transformers.CLIPVisionModelWithProjection(cfg).save_pretrained(tmp_path / 'clip')
    clip = E.load_clip(str(tmp_path / 'clip'), 'cpu')
    e = E.clip_embeddings(clip, torch.rand(5, 3, 20, 20) * 2 - 1)
    assert e.shape == (5, 16)
    torch.testing.assert_close(e.norm(dim=1), torch.ones(5, dtype=torch.float64))


def test_sweep_end_to_end(tiny_config, tmp_path):
    out, fm = tmp_path / 'out', tmp_path / 'fm'
    for script in ('train_aux.py', 'train_flow.py', 'train_sampler.py'):
        run(script, tiny_config)
    run('train_flow.py', tiny_config, '--prior=gaussian', f'--out_dir={fm}')
    # a small random network stands in for Inception (TorchScript, like the real one)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 16, stride=16), torch.nn.Flatten(), torch.nn.Linear(8 * 18 * 18, 24))
    torch.jit.script(net).save(str(tmp_path / 'inc.pt'))
    args = [tiny_config, f"--runs=['{out}', '{fm}']", "--eval_solvers=['euler', 'midpoint']", '--eval_steps=[1, 2]',
            '--eval_samples=12', '--eval_ref_samples=20', f'--eval_dir={tmp_path}/eval', f'--inception={tmp_path}/inc.pt',
            '--speed_batch=4', '--speed_repeats=1']
    p = run('evaluate.py', *args)
    assert 'CMMD is skipped' in p.stdout
    res = json.load(open(tmp_path / 'eval' / 'results.json'))
    assert len(res['rows']) == 8 and {r['method'] for r in res['rows']} == {'LeDiFlow', 'FM'}
    for r in res['rows']:
        assert r['nfe'] == r['steps'] * (1 if r['solver'] == 'euler' else 2)
        assert r['fid'] > 0 and r['ms_flow'] > 0
        assert (r['ms_sampler'] > 0) == (r['method'] == 'LeDiFlow')
    assert 'at_best_ledi_fid' in res['speedup']
    for f in ('results.md', 'results.csv', 'quality_vs_time.png'):
        assert os.path.getsize(tmp_path / 'eval' / f) > 0
    # fixed seeds: a rerun (with the cached reference features) gives the same quality numbers
    run('evaluate.py', *args)
    again = json.load(open(tmp_path / 'eval' / 'results.json'))
    assert [r['fid'] for r in again['rows']] == [r['fid'] for r in res['rows']]


def test_speed_only_times_random_networks(tiny_config, tmp_path):
    p = run('evaluate.py', tiny_config, '--speed_only=True', '--image_size=32', "--eval_solvers=['midpoint']",
            '--eval_steps=[1, 2]', '--speed_batch=2', '--speed_repeats=1', f'--eval_dir={tmp_path}/s')
    assert '| LeDiFlow | False | midpoint | 2 | 4 |' in p.stdout
    rows = json.load(open(tmp_path / 's' / 'speed.json'))['rows']
    assert len(rows) == 4 and {r['method'] for r in rows} == {'LeDiFlow', 'FM'}
    for r in rows:
        assert r['ms_flow'] > 0 and (r['ms_sampler'] > 0) == (r['method'] == 'LeDiFlow')
    p = run('evaluate.py', tiny_config, '--speed_only=True', check=False)
    assert p.returncode == 1 and 'needs image_size' in p.stderr
