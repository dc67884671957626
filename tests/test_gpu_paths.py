"""The code paths a GPU run takes, exercised on the CPU: bfloat16 autocast in every stage, torch.compile,
and the start-up line that names them. (natten's own call is tested in test_model.py.)"""
import re
import sys

import pytest
import torch

from conftest import run, run_inprocess


def losses(out, stage):
    return [float(v) for v in re.findall(rf'{stage} iter \d+/\d+: loss ([-\d.e+]+)', out)]


def load(path):
    return torch.load(path, map_location='cpu', weights_only=True)


def test_bfloat16_autocast_trains_every_stage(tiny_config, tmp_path):
    """--dtype=bfloat16 on the CPU is CPU autocast: each stage says so at start-up and trains with finite losses
    and weights. (How close bf16 gets to float32, and that it differs at all: the next test.)"""
    for script, stage in (('train_aux.py', 'aux'), ('train_flow.py', 'flow'), ('train_sampler.py', 'sampler')):
        p = run(script, tiny_config, '--dtype=bfloat16')
        assert p.stdout.splitlines()[0].startswith('compute: cpu, bfloat16 autocast')
        l16 = losses(p.stdout, stage)
        assert len(l16) == 3 and all(map(torch.isfinite, torch.tensor(l16)))
        assert all(torch.isfinite(v).all() for v in load(tmp_path / 'out' / f'{stage}.pt')['model'].values())


def test_bfloat16_autocast_losses_close_to_float32():
    """Every stage's loss under CPU bf16 autocast, on networks whose zero-initialised outputs were given random
    weights (at init every output is 0 and the loss would not depend on the precision): different from float32's,
    and within 2% of it."""
    from test_model import randomize_zero_init, tiny_aux, tiny_flow
    import model as M
    torch.manual_seed(0)
    aux, flow = randomize_zero_init(tiny_aux(), 0.2), randomize_zero_init(tiny_flow(), 0.2)
    sampler = randomize_zero_init(M.HDiT(channels=4, image_size=(4, 4), patch=1, widths=(32,), depths=(1,), d_head=8,
                                         ff_mult=2, kernel=None, mapping_width=32, mapping_depth=1), 0.2)
    g = torch.Generator().manual_seed(1)
    y, eps_z, eps_x = torch.rand(4, 3, 32, 32, generator=g) * 2 - 1, torch.randn(4, 4, 4, 4, generator=g), \
        torch.randn(4, 3, 32, 32, generator=g)
    t, n = torch.rand(4, generator=g), torch.randn(4, 4, 4, 4, generator=g)

    def stage_losses():
        mu_x, logvar_x, mu_z, logvar_z = aux(y, eps_z)
        l_aux = M.aux_loss(y, mu_x.float(), logvar_x.float(), mu_z.float(), logvar_z.float(), 1.0)
        z = mu_z.float()
        x0, sigma = aux.prior(z, eps_x)
        xt = (1 - t.view(-1, 1, 1, 1)) * x0 + t.view(-1, 1, 1, 1) * y
        l_flow = M.lediflow_loss(flow(xt, t, z).float(), y, x0, sigma, 10.0)
        zt = (1 - t.view(-1, 1, 1, 1)) * n + t.view(-1, 1, 1, 1) * z
        l_sampler = M.fm_loss(sampler(zt, t).float(), z, n)
        return [l.item() for l in (l_aux, l_flow, l_sampler)]

    with torch.no_grad():
        l32 = stage_losses()
        with torch.autocast('cpu', dtype=torch.bfloat16):
            l16 = stage_losses()
    for a, b in zip(l32, l16):
        assert a != b and abs(a - b) <= 0.02 * abs(a), (l32, l16)


def test_compiled_flow_model_matches_eager_and_trains(tiny_config, tmp_path, monkeypatch):
    """--compile=True on the CPU (inductor): the compiled model gives the eager model's output (float32, within
    1e-5 absolute / 1e-4 relative), two training steps run through it, and the checkpoint holds the plain
    network's keys (no '_orig_mod.' prefix), so sample.py loads it without the compiler."""
    ns = run_inprocess(monkeypatch, 'train_flow.py', tiny_config, '--prior=gaussian', '--compile=True', '--max_iters=2',
                       f'--out_dir={tmp_path}/c')
    ck = load(tmp_path / 'c' / 'flow.pt')
    assert ck['iter'] == 2 and not any('_orig_mod' in k for k in ck['model'])
    compiled, eager = ns['model'], ns['raw_model']
    assert compiled is not eager and hasattr(compiled, '_orig_mod')
    g = torch.Generator().manual_seed(0)
    # the training batch's shape (flow_batch_size 8): the very graph that trained, and no recompile (~30 s cold)
    x, t = torch.randn(8, 3, 32, 32, generator=g), torch.rand(8, generator=g)
    out_c, out_e = compiled(x, t), eager(x, t)
    assert out_e.abs().max() > 1e-6                              # the zero-init output has moved: a real comparison
    torch.testing.assert_close(out_c, out_e, atol=1e-5, rtol=1e-4)
    p = run('sample.py', f'--out_dir={tmp_path}/c', '--num_samples=2', '--steps=1')
    assert 'FM baseline' in p.stdout


@pytest.mark.parametrize('script', ['train_aux.py', 'sample.py'])
def test_start_up_line_names_dtype_and_attention_path(tiny_config, tmp_path, script):
    if script == 'sample.py':
        run('train_flow.py', tiny_config, '--prior=gaussian', '--max_iters=1', f'--out_dir={tmp_path}/s')
        p = run('sample.py', f'--out_dir={tmp_path}/s', '--num_samples=1', '--dtype=bfloat16')
        assert 'compute: cpu, bfloat16 autocast' in p.stdout
    else:
        p = run(script, tiny_config, '--max_iters=1')
        assert 'compute: cpu, float32;' in p.stdout
    assert 'neighborhood attention: pure PyTorch' in p.stdout and 'query tiles' in p.stdout


def test_use_natten_setting_reaches_the_attention(tiny_config, monkeypatch):
    """--use_natten=False is applied by the script (model.USE_NATTEN) and named in the start-up line."""
    p = run('train_aux.py', tiny_config, '--max_iters=1', '--use_natten=False')
    assert 'neighborhood attention: pure PyTorch (use_natten=False)' in p.stdout
    import model as M
    monkeypatch.setattr(M, 'USE_NATTEN', False)
    assert 'use_natten=False' in M.attention_path('cuda')


def test_start_up_line_comes_before_any_check(tmp_path):
    """docs/gpu.md's attention-path check, `python train_flow.py config/ffhq.py --max_iters=1 | head -1`, prints the
    start-up line even where no aux.pt or data exists yet (the missing checkpoint's error follows on stderr)."""
    p = run('train_flow.py', 'config/ffhq.py', '--max_iters=1', f'--out_dir={tmp_path}/none', check=False)
    assert p.returncode == 1 and "prior='learned' needs the stage-1 checkpoint" in p.stderr
    assert p.stdout.splitlines()[0].startswith('compute: cpu, bfloat16 autocast, torch.compile; neighborhood attention:')


def test_gpu_check_says_it_needs_cuda():
    """benchmarks/gpu.sh (make gpu-check) runs on a CUDA machine; here it stops at once with a one-line reason."""
    p = run('bash', 'benchmarks/gpu.sh', check=False, env={'OUT_DIR': '/tmp/gpu_check_test', 'PYTHON': sys.executable})
    assert p.returncode != 0 and 'benchmarks/gpu.sh needs a CUDA device' in p.stderr
