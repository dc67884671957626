"""The code paths a GPU run takes, exercised on the CPU: bfloat16 autocast in every stage, torch.compile,
and the start-up line that names them. (natten's own call is tested in test_model.py.)"""
import re

import pytest
import torch

from conftest import run, run_inprocess


def losses(out, stage):
    return [float(v) for v in re.findall(rf'{stage} iter \d+/\d+: loss ([-\d.e+]+)', out)]


def load(path):
    return torch.load(path, map_location='cpu', weights_only=True)


def test_bfloat16_autocast_trains_every_stage_close_to_float32(tiny_config, tmp_path):
    """--dtype=bfloat16 on the CPU is CPU autocast: each stage's first losses stay finite and within 2% of
    float32's (same seed, same data), and the weights it reaches differ from float32's (it did run in bf16)."""
    for script, stage in (('train_aux.py', 'aux'), ('train_flow.py', 'flow'), ('train_sampler.py', 'sampler')):
        got = {}
        for dtype in ('float32', 'bfloat16'):
            out = tmp_path / dtype
            p = run(script, tiny_config, f'--out_dir={out}', f'--dtype={dtype}')
            line = next(l for l in p.stdout.splitlines() if l.startswith('compute:'))
            assert line.startswith(f'compute: cpu, {dtype}') and ('autocast' in line) == (dtype == 'bfloat16')
            got[dtype] = (losses(p.stdout, stage), load(out / f'{stage}.pt')['model'])
        (l32, w32), (l16, w16) = got['float32'], got['bfloat16']
        assert len(l16) == 3 and all(map(torch.isfinite, torch.tensor(l16)))
        for a, b in zip(l32, l16):
            assert abs(a - b) <= 0.02 * abs(a), (stage, l32, l16)
        assert any(not torch.equal(w32[k], w16[k]) for k in w32), stage


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
    x, t = torch.randn(4, 3, 32, 32, generator=g), torch.rand(4, generator=g)
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
