import os
import runpy
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault('HF_HUB_OFFLINE', '1')
if os.environ.get('PYTEST_XDIST_WORKER'):   # `pytest -n N` (make test): N workers share the cores, one thread each,
    os.environ['OMP_NUM_THREADS'] = '1'     # as the scripts the tests start get (run() below); set before torch loads

# A tiny version of every network, on the bundled emoji data: seconds per stage on a CPU.
TINY = """
data = {data!r}
out_dir = {out_dir!r}
device = 'cpu'
warmup_iters = 2
log_interval = 1
sample_interval = 1000
ckpt_interval = 1000
aux_patch = 4
aux_widths = [16, 32]
aux_depths = [1, 1]
aux_d_head = 8
aux_batch_size = 8
aux_max_iters = 3
flow_patch = 4
flow_widths = [16, 32]
flow_depths = [1, 1]
flow_d_head = 8
flow_mapping_width = 32
flow_mapping_depth = 1
flow_batch_size = 8
flow_max_iters = 3
sampler_widths = [32]
sampler_depths = [1]
sampler_d_head = 16
sampler_mapping_width = 32
sampler_mapping_depth = 1
sampler_batch_size = 16
sampler_max_iters = 3
num_samples = 4
"""


@pytest.fixture
def tiny_config(tmp_path):
    """Path of a config file for tiny networks writing into a fresh out_dir (tmp_path/out)."""
    path = tmp_path / 'tiny.py'
    path.write_text(TINY.format(data=os.path.join(ROOT, 'data', 'emoji', 'emoji32.npz'), out_dir=str(tmp_path / 'out')))
    return str(path)


def run(*args, check=True, timeout=300, env=None):
    """Run a repo script as a user would; returns the CompletedProcess (stdout+stderr as text)."""
    cmd = [sys.executable, *args] if args[0].endswith('.py') else list(args)
    e = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1', **(env or {}))
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=e)
    if check and p.returncode != 0:
        raise AssertionError(f'{cmd} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}')
    return p


def run_inprocess(monkeypatch, script, *args):
    """Run a repo script in this process, as `python script args` would, and return its globals: for
    tests that check what a script computed, not only what it printed."""
    monkeypatch.setattr(sys, 'argv', [script, *args])
    monkeypatch.chdir(ROOT)
    return runpy.run_path(os.path.join(ROOT, script), run_name='__main__')


def native_grid(path, k=4):
    """A PNG grid of 32 px images as the scripts write it, enlarged k x by nearest neighbour (grid_upscale): checks
    that it is exactly that (every pixel a k x k block) and returns the native grid."""
    g = np.asarray(Image.open(path))
    small = g[::k, ::k]
    assert g.shape[:2] == (small.shape[0] * k, small.shape[1] * k)
    assert np.array_equal(g, small.repeat(k, axis=0).repeat(k, axis=1))
    return small
