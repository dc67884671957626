"""Latent mode: pre-encoding with a diffusers autoencoder (a tiny random AutoencoderKL stands in for
the SD2 VAE), the three stages on latents, sampling decoded by the same VAE, quality in image space.
This proves the plumbing, not the quality: no pretrained VAE can be downloaded here."""
import json
import os
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT, TINY, run

diffusers = pytest.importorskip('diffusers')
sys.path.insert(0, os.path.join(ROOT, 'data'))

LATENT_NETS = """
aux_patch = 1
flow_patch = 1
image_size = 32
"""


def tiny_vae(path, seed=0):
    torch.manual_seed(seed)
    vae = diffusers.AutoencoderKL(block_out_channels=(8, 16, 16, 16), down_block_types=('DownEncoderBlock2D',) * 4,
                                  up_block_types=('UpDecoderBlock2D',) * 4, layers_per_block=1, norm_num_groups=8,
                                  latent_channels=4, sample_size=32)
    vae.save_pretrained(path)
    return vae


@pytest.fixture(scope='module')
def latents(tmp_path_factory):
    d = tmp_path_factory.mktemp('latent')
    tiny_vae(d / 'vae')
    np.save(d / 'pixels.npy', np.load(f'{ROOT}/data/emoji/emoji32.npz')['images'][:96])
    p = run('data/prepare.py', f'--src={d}/pixels.npy', f'--out={d}/lat.npy', f'--vae={d}/vae', '--batch=32')
    assert 'wrote' in p.stdout and '96 latents of 4x4x4' in p.stdout
    cfg = d / 'tiny.py'
    cfg.write_text(TINY.format(data=str(d / 'lat.npy'), out_dir=str(d / 'out')) + LATENT_NETS)
    return d, str(cfg)


def test_encoding_is_scaled_and_described(latents):
    d, _ = latents
    lat = np.load(d / 'lat.npy')
    assert lat.dtype == np.float16 and lat.shape == (96, 4, 4, 4)
    meta = json.load(open(d / 'lat.json'))
    assert meta['kind'] == 'AutoencoderKL' and meta['scaling_factor'] == pytest.approx(0.18215)
    assert meta['source'] == str(d / 'pixels.npy') and meta['image_size'] == [32, 32]
    vae = diffusers.AutoencoderKL.from_pretrained(d / 'vae')
    x = torch.from_numpy(np.load(d / 'pixels.npy')[:4]).permute(0, 3, 1, 2).float() / 127.5 - 1
    with torch.no_grad():
        expected = vae.encode(x).latent_dist.mean * 0.18215
    np.testing.assert_allclose(lat[:4].astype(np.float32), expected.permute(0, 2, 3, 1).numpy(), atol=2e-3, rtol=1e-2)


def test_encoding_resumes_and_refuses_to_mix(latents, tmp_path, monkeypatch):
    import common
    from prepare import encode
    d, _ = latents
    real, calls = common.vae_encode, []

    def dies_on_third_batch(vae, meta, x):
        calls.append(len(x))
        if len(calls) == 4:   # 1 probe + 2 batches done, then the machine "dies"
            raise KeyboardInterrupt
        return real(vae, meta, x)
    monkeypatch.setattr(common, 'vae_encode', dies_on_third_batch)
    with pytest.raises(KeyboardInterrupt):
        encode(str(d / 'pixels.npy'), str(tmp_path / 'r.npy'), str(d / 'vae'), 32, batch=16, device='cpu')
    monkeypatch.setattr(common, 'vae_encode', real)
    assert json.load(open(tmp_path / 'r.npy.progress.json'))['done'] == 32
    tiny_vae(tmp_path / 'other_vae', seed=1)
    with pytest.raises(SystemExit, match='refusing to mix'):   # a different VAE may not finish this encoding
        encode(str(d / 'pixels.npy'), str(tmp_path / 'r.npy'), str(tmp_path / 'other_vae'), 32, batch=16, device='cpu')
    encode(str(d / 'pixels.npy'), str(tmp_path / 'r.npy'), str(d / 'vae'), 32, batch=16, device='cpu')
    resumed = np.load(tmp_path / 'r.npy')
    np.testing.assert_allclose(resumed.astype(np.float32), np.load(d / 'lat.npy').astype(np.float32), atol=1e-3)
    assert not os.path.exists(tmp_path / 'r.npy.progress.json')
    with pytest.raises(SystemExit, match='refusing to mix'):   # nor overwrite a finished one
        encode(str(d / 'pixels.npy'), str(tmp_path / 'r.npy'), str(tmp_path / 'other_vae'), 32, batch=16, device='cpu')


def test_three_stages_sample_and_evaluate_on_latents(latents, tmp_path):
    d, cfg = latents
    for script in ('train_aux.py', 'train_flow.py', 'train_sampler.py'):
        run(script, cfg)
    out = d / 'out'
    ck = torch.load(out / 'flow.pt', weights_only=True)
    assert ck['model_args']['channels'] == 4 and ck['model_args']['image_size'] == [4, 4]   # from the data
    assert ck['latent']['vae'] == str(d / 'vae')
    p = run('sample.py', f'--out_dir={out}', '--num_samples=4', '--steps=2')
    assert 'VAE decode (AutoencoderKL' in p.stdout
    from PIL import Image
    assert Image.open(out / 'samples_midpoint2.png').size == (4 * 70, 4 * 70)   # 2 x 2 images of 32 px, shown 4x
    # the same flow stage on pixel data against this latent aux model is refused
    p = run('train_flow.py', cfg, f'--data={ROOT}/data/emoji/emoji32.npz', '--image_size=0', check=False)
    assert p.returncode == 1 and 'aux.pt was trained on latents' in p.stderr
    # quality in image space
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 16, stride=16), torch.nn.Flatten(), torch.nn.Linear(4 * 18 * 18, 8))
    torch.jit.script(net).save(str(tmp_path / 'inc.pt'))
    run('evaluate.py', cfg, f"--runs=['{out}']", "--eval_ledi=['euler:1']", "--eval_sampler=['euler:1']", '--eval_samples=8',
        '--eval_ref_samples=16', f'--eval_dir={tmp_path}/ev', f'--inception={tmp_path}/inc.pt', '--speed_batch=4',
        '--speed_repeats=1', '--eval_bootstrap=5')
    res = json.load(open(tmp_path / 'ev' / 'results.json'))
    row = res['rows'][0]
    assert row['method'] == 'LeDiFlow' and row['latent'] and row['ms_vae'] > 0
    assert row['fid_ci'][0] <= row['fid'] <= row['fid_ci'][1]
    # quality is measured in image space: the reference features are the network's features of the source
    # *pixel* images (16 of the tune split's), not of the latents
    import evaluate
    pixels = np.load(d / 'pixels.npy')
    ref_idx, _, _ = evaluate.split_indices(len(pixels), 'tune', 16)
    assert sorted(ref_idx.tolist()) == res['meta']['ref_indices']
    expected = evaluate.inception_features(torch.jit.load(str(tmp_path / 'inc.pt')),
                                           torch.from_numpy(pixels[np.sort(ref_idx.numpy())]).permute(0, 3, 1, 2))
    cached = [f for f in os.listdir(tmp_path / 'ev') if f.startswith('ref_')]
    assert len(cached) == 1
    torch.testing.assert_close(torch.load(tmp_path / 'ev' / cached[0], weights_only=True)['inception'], expected,
                               rtol=1e-5, atol=1e-5)


def test_autoencoder_tiny_round_trip(tmp_path):
    import common
    torch.manual_seed(0)
    diffusers.AutoencoderTiny(encoder_block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
                              num_encoder_blocks=(1, 1, 1, 1), num_decoder_blocks=(1, 1, 1, 1)).save_pretrained(tmp_path / 'taesd')
    vae = common.load_vae(str(tmp_path / 'taesd'), 'cpu')
    meta = common.vae_meta(vae, str(tmp_path / 'taesd'), 32)
    assert meta['kind'] == 'AutoencoderTiny' and meta['scaling_factor'] == 1.0
    z = common.vae_encode(vae, meta, torch.rand(2, 3, 32, 32) * 2 - 1)
    assert z.shape == (2, 4, 4, 4)
    assert common.vae_decode(vae, meta, z).shape == (2, 3, 32, 32)


def test_a_missing_vae_directory_is_named_not_looked_up_on_the_hub(tmp_path):
    np.save(tmp_path / 'pixels.npy', np.load(f'{ROOT}/data/emoji/emoji32.npz')['images'][:4])
    p = run('data/prepare.py', f'--src={tmp_path}/pixels.npy', f'--out={tmp_path}/lat.npy', f'--vae={tmp_path}/no_vae',
            check=False)
    assert p.returncode == 1 and f"error: VAE directory '{tmp_path}/no_vae' not found" in p.stderr
    assert 'huggingface' not in p.stderr and 'Traceback' not in p.stderr
