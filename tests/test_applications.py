"""Interpolation, inpainting (Eq. 7) and anonymization: the math, and sample.py's modes end to end."""
import numpy as np
import pytest
import torch
from PIL import Image

import model as M
from conftest import native_grid, TINY, ROOT, run, run_inprocess
from test_model import randomize_zero_init, tiny_flow


@pytest.mark.parametrize('solver', ['euler', 'midpoint', 'heun3', 'rk4'])
def test_inpainting_keeps_unmasked_pixels_exactly(solver):
    torch.manual_seed(0)
    F = randomize_zero_init(tiny_flow(), std=0.2)   # a flow field that really moves pixels
    y, x0, z = torch.rand(2, 3, 32, 32) * 2 - 1, torch.randn(2, 3, 32, 32), torch.randn(2, 4, 4, 4)
    m = torch.zeros(1, 1, 32, 32)
    m[..., 8:24, 4:20] = 1
    out = M.solve(lambda x, t: M.inpaint_velocity(F(x, t, z), y, x0, m), x0, 3, solver)
    keep = m.expand_as(y) == 0
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[keep], y[keep], atol=1e-5, rtol=0)   # land exactly on the original
    assert (out[~keep] - y[~keep]).abs().mean() > 0.1                    # the masked region was generated


def test_slerp():
    a, b = torch.randn(1, 4, 2, 2), torch.randn(1, 4, 2, 2)
    ends = M.slerp(torch.cat([a, a]), torch.cat([b, b]), torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(ends, torch.cat([a, b]), atol=1e-5, rtol=1e-5)
    # in between: the great-circle formula sin((1 - t) w) / sin w a + sin(t w) / sin w b, w the angle of a and b
    t = torch.tensor([0.25, 0.5, 0.8])
    w = torch.arccos((a * b).sum() / (a.norm() * b.norm()))
    expected = torch.cat([torch.sin((1 - s) * w) / torch.sin(w) * a + torch.sin(s * w) / torch.sin(w) * b for s in t])
    torch.testing.assert_close(M.slerp(a.expand(3, -1, -1, -1), b.expand(3, -1, -1, -1), t), expected, atol=1e-5, rtol=1e-4)
    # for two roughly orthogonal high-dimensional Gaussians, slerp keeps the norm
    a, b = torch.randn(1, 4096), torch.randn(1, 4096)
    assert abs(M.slerp(a, b, torch.tensor([0.5])).norm() / a.norm() - 1) < 0.05


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp('apps')
    cfg = d / 'tiny.py'
    cfg.write_text(TINY.format(data=f'{ROOT}/data/emoji/emoji32.npz', out_dir=str(d / 'out')))
    for script in ('train_aux.py', 'train_flow.py', 'train_sampler.py'):
        run(script, str(cfg))
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (48, 64, 4), dtype=np.uint8), 'RGBA').save(d / 'a.png')
    Image.fromarray(rng.integers(0, 255, (40, 40), dtype=np.uint8), 'L').save(d / 'b.png')
    Image.fromarray(np.asarray(np.load(f'{ROOT}/data/emoji/emoji32.npz')['images'][100])).save(d / 'face.png')
    return d


def tiles(path, n_cols, size=32):
    g = native_grid(path)
    rows = (g.shape[0] - 2) // (size + 2)
    return [[g[2 + r * (size + 2):2 + r * (size + 2) + size, 2 + c * (size + 2):2 + c * (size + 2) + size]
             for c in range(n_cols)] for r in range(rows)]


def test_interpolate_seeds_and_images(trained):
    out = trained / 'out'
    p = run('sample.py', f'--out_dir={out}', '--mode=interpolate', '--frames=5', '--steps=2')
    assert 'interpolate (5 frames' in p.stdout
    t = tiles(out / 'interpolate.png', 5)
    assert len(t) == 2 and t[0][0].shape == (32, 32, 3)
    assert not np.array_equal(t[0][0], t[0][4])                  # the ends differ
    np.testing.assert_allclose(t[0][0], t[1][0], atol=2)          # both rows start and end at the same z ...
    np.testing.assert_allclose(t[0][4], t[1][4], atol=2)
    p = run('sample.py', f'--out_dir={out}', '--mode=interpolate', f'--image={trained}/a.png',
            f'--image2={trained}/b.png', f'--output={trained}/ab.png', '--frames=3')
    assert 'note: ' in p.stdout and 'RGBA 64x48' in p.stdout and 'L 40x40' in p.stdout
    assert Image.open(trained / 'ab.png').size == (4 * (3 * 34 + 2), 4 * (2 * 34 + 2))   # shown 4x


def test_inpaint_box_and_mask(trained):
    out = trained / 'out'
    p = run('sample.py', f'--out_dir={out}', '--mode=inpaint', f'--image={trained}/face.png', '--box=[8, 8, 24, 24]',
            '--variations=3')
    assert '256 of 1024 pixels regenerated' in p.stdout
    row = tiles(out / 'inpaint.png', 5)[0]
    y, m, results = row[0].astype(int), row[1], row[2:]
    assert m[8:24, 8:24].min() == 255 and m[:8].max() == 0             # the mask tile: white = regenerated
    keep = np.ones((32, 32), bool)
    keep[8:24, 8:24] = False
    for r in results:
        assert np.abs(r.astype(int)[keep] - y[keep]).max() <= 1      # unmasked pixels are the input's
    assert not np.array_equal(results[0], results[1])                  # different prior noise, different fills
    Image.fromarray(np.where(np.arange(32)[:, None] < 16, 255, 0).astype(np.uint8).repeat(32, 1)).save(trained / 'm.png')
    p = run('sample.py', f'--out_dir={out}', '--mode=inpaint', f'--image={trained}/face.png', f'--mask={trained}/m.png')
    assert '512 of 1024 pixels regenerated' in p.stdout
    Image.new('L', (20, 20)).save(trained / 'bad.png')
    p = run('sample.py', f'--out_dir={out}', '--mode=inpaint', f'--image={trained}/face.png', f'--mask={trained}/bad.png',
            check=False)
    assert p.returncode == 1 and 'mask' in p.stderr and '20x20' in p.stderr and 'Traceback' not in p.stderr


def test_anonymize_changes_only_the_masked_region(trained):
    out = trained / 'out'
    run('sample.py', f'--out_dir={out}', '--mode=anonymize', f'--image={trained}/face.png', '--variations=2',
            '--strength=1.0')
    row = tiles(out / 'anonymize.png', 4)[0]
    y = row[0].astype(int)
    keep = np.ones((32, 32), bool)
    keep[4:28, 4:28] = False                                            # default border 0.125 of 32 = 4 px
    for r in row[2:]:
        assert np.abs(r.astype(int)[keep] - y[keep]).max() <= 1
    assert not np.array_equal(row[2], row[3])


def test_application_errors(trained, tmp_path):
    out = trained / 'out'

    def fails(*args):
        p = run('sample.py', f'--out_dir={out}', *args, check=False)
        assert p.returncode == 1 and 'Traceback' not in p.stderr, p.stderr
        return p.stderr
    assert 'needs --image' in fails('--mode=inpaint')
    assert 'not found' in fails('--mode=inpaint', '--image=/no/such.png', '--box=[0, 0, 4, 4]')
    (tmp_path / 'junk.png').write_text('not a png')
    assert 'could not be read' in fails('--mode=anonymize', f'--image={tmp_path}/junk.png')
    assert 'is a file, where a directory is needed' in fails(f'--output={tmp_path}/junk.png/samples.png')
    assert 'needs --mask' in fails('--mode=inpaint', f'--image={trained}/face.png')
    assert 'box' in fails('--mode=inpaint', f'--image={trained}/face.png', '--box=[0, 0, 40, 4]')
    assert "mode must be" in fails('--mode=edit')
    assert 'frames must be at least 2' in fails('--mode=interpolate', '--frames=1')
    assert 'border is the fraction' in fails('--mode=anonymize', f'--image={trained}/face.png', '--border=0.6')
    assert 'regenerates no pixel (border 0.49 of 32 px)' in fails('--mode=anonymize', f'--image={trained}/face.png',
                                                                 '--border=0.49')   # rounds to 16 px at each edge
    Image.new('L', (32, 32)).save(tmp_path / 'black.png')
    assert 'regenerates no pixel' in fails('--mode=inpaint', f'--image={trained}/face.png', f'--mask={tmp_path}/black.png')


@pytest.mark.parametrize('interp', ['linear', 'slerp'])
def test_interpolation_through_the_sampler_is_linear_by_default(trained, monkeypatch, interp):
    """Row 2 maps both ends to noise and interpolates there: linearly, as the paper does, or by slerp."""
    args = [f'--out_dir={trained / "out"}', '--mode=interpolate', '--frames=4', f'--output={trained}/i.png']
    ns = run_inprocess(monkeypatch, 'sample.py', *args, *([f'--interp={interp}'] if interp != 'linear' else []))
    na, nb, a = ns['na'], ns['nb'], ns['alphas']
    path = (1 - a) * na + a * nb if interp == 'linear' else M.slerp(na.expand(4, -1, -1, -1), nb.expand(4, -1, -1, -1), a.flatten())
    torch.testing.assert_close(ns['z'][4:], ns['from_noise'](path))


@pytest.mark.parametrize('rescale', [False, True])
def test_anonymize_adds_a_random_vector_to_the_noise(trained, monkeypatch, rescale):
    """The paper: n + s * r (r ~ N(0, I)); --rescale_noise=True divides by sqrt(1 + s^2)."""
    s = 0.7
    ns = run_inprocess(monkeypatch, 'sample.py', f'--out_dir={trained / "out"}', '--mode=anonymize', f'--strength={s}',
                       f'--image={trained}/face.png', '--variations=2', f'--rescale_noise={rescale}', f'--output={trained}/a.png')
    n, r = ns['n'], ns['r']
    expected = (n + s * r) / (1 + s ** 2) ** 0.5 if rescale else n + s * r
    torch.testing.assert_close(ns['z'], ns['from_noise'](expected))
