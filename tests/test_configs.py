"""The shipped configs: every one parses, the paper-size ones build the paper's networks (parameter counts within
2% of its appendix table), and config/ffhq.py takes one training step of each stage at full resolution."""
import glob
import os

import numpy as np
import pytest
import torch

import model as M
from common import aux_model_args, flow_model_args, sampler_model_args
from configurator import configure
from conftest import ROOT, run

CONFIGS = sorted(glob.glob(os.path.join(ROOT, 'config', '*.py')))

# the paper's appendix: parameters of (aux model, flow model, latent sampler), in millions
PAPER = {'ffhq.py': (37, 160, 17), 'ffhq_sdv.py': (35, 154, 17)}


def test_every_shipped_config_parses():
    names = {os.path.basename(c) for c in CONFIGS}
    assert {'defaults.py', 'emoji.py', 'ffhq.py', 'ffhq_sdv.py', 'afhq.py', 'lhq.py'} <= names
    for path in CONFIGS:
        cfg = configure([path])
        assert cfg['device'] == 'auto', path           # no config pins a device: a GPU is used where there is one
        assert cfg['aux_widths'] and cfg['flow_widths'] and cfg['sampler_widths']


@pytest.mark.parametrize('name', sorted(PAPER))
def test_paper_size_configs_have_the_papers_parameter_counts(name):
    cfg = configure([os.path.join(ROOT, 'config', name)])
    ch, size = (4, cfg['image_size'] // 8) if name.endswith('_sdv.py') else (3, cfg['image_size'])
    count = lambda net: sum(p.numel() for p in net.parameters()) / 1e6
    with torch.device('meta'):   # shapes only: no memory, no time
        aux = M.AuxModel(**aux_model_args(cfg, ch, [size, size]))
        flow = M.HDiT(**flow_model_args(cfg, ch, [size, size], aux.z_shape))
        sampler = M.HDiT(**sampler_model_args(cfg, aux.z_shape))
    for net, paper in zip((aux, flow, sampler), PAPER[name]):
        assert count(net) == pytest.approx(paper, rel=0.02), (name, type(net).__name__, count(net), paper)
    # the same networks for the other data sets
    twin = name.replace('ffhq', 'afhq')
    assert configure([os.path.join(ROOT, 'config', twin)])['flow_widths'] == cfg['flow_widths']


def test_ffhq_config_trains_one_step_of_each_stage_at_256(tmp_path):
    """config/ffhq.py as a user runs it, on two random 256x256 images, batch 1, float32 on the CPU, no compile and
    no grids (a grid of 16 images at 256 px would take minutes here): each stage takes one step and checkpoints."""
    data = tmp_path / 'rgb256.npy'
    np.save(data, np.random.default_rng(0).integers(0, 255, (2, 256, 256, 3), dtype=np.uint8))
    common = ['config/ffhq.py', f'--data={data}', f'--out_dir={tmp_path}/out', '--max_iters=1', '--batch_size=1',
              '--compile=False', '--dtype=float32', '--sample_interval=0', '--warmup_iters=1']
    for script, stage, params in (('train_aux.py', 'aux', '36.93M'), ('train_flow.py', 'flow', '159.94M'),
                                  ('train_sampler.py', 'sampler', '16.96M')):
        p = run(script, *common, timeout=600)
        assert f'{params} parameters' in p.stdout and f'{stage} iter 1/1: loss' in p.stdout
        ck = torch.load(tmp_path / 'out' / f'{stage}.pt', map_location='cpu', weights_only=True)
        assert ck['iter'] == 1 and all(torch.isfinite(v).all() for v in ck['model'].values())
        if stage == 'flow':   # 2.5 GB with its EMA and optimizer state: the sampler stage needs only aux.pt
            os.remove(tmp_path / 'out' / 'flow.pt')
