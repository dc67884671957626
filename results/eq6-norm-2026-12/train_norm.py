"""train_flow.py with Eq. 6 divided by each batch's mean weight (docs/experiments.md, "Eq. 6 normalised per batch"):

    L = sum(w * (v - (y - x0))^2) / sum(w),   w = min(1 / sigma, w_max) per pixel

instead of the paper's mean(w * (v - (y - x0))^2). Everything else is train_flow.py, with the same arguments:

    python results/eq6-norm-2026-12/train_norm.py config/emoji.py --out_dir=out/eq6norm ...

An experiment, not an option of the repo: it replaces model.lediflow_loss, then runs train_flow.py as a script.
"""
import os
import runpy
import sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
sys.path.insert(0, root)
import model as M  # noqa: E402


def lediflow_loss_normalised(v, y, x0, sigma, w_max):
    w = (1.0 / sigma).clamp(max=w_max)
    return (w * (v - (y - x0)) ** 2).sum() / w.sum()


M.lediflow_loss = lediflow_loss_normalised
sys.argv[0] = os.path.join(root, 'train_flow.py')
runpy.run_path(sys.argv[0], run_name='__main__')
