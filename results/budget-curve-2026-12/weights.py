"""The size of LeDiFlow's Eq. 6 importance weights w = min(1 / sigma, w_max) on training images, for the curve's
aux model (out/curve/ledi/aux.pt, from `bash benchmarks/budget_curve.sh train`; checkpoints are not committed):
whether normalising the weighted loss by its mean weight could change training.

    python results/budget-curve-2026-12/weights.py
    -> 2 December 2026: mean w 6.40; batch-of-64 means 4.90-7.02 (std 0.539); 37% of pixels at w_max
"""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
from common import get_batch, load_aux, load_data  # noqa: E402

aux, ck = load_aux('out/curve/ledi', 'cpu')
data = load_data('data/emoji/emoji32.npz', holdout=ck['config']['holdout'])
g = torch.Generator().manual_seed(0)
y = get_batch(data, torch.randint(len(data), (1024,), generator=g), 'cpu')
with torch.no_grad():
    z, _, _ = aux.posterior(y, torch.randn(len(y), *aux.z_shape, generator=g))
    x0, sigma = aux.prior(z, torch.randn(y.shape, generator=g), 1.0)
w_max = ck['config'].get('w_max', 10.0)
w = (1.0 / sigma).clamp(max=w_max)
bm = w.reshape(16, 64, -1).mean((1, 2))
print(f'mean w {w.mean():.2f}; batch-of-64 means {bm.min():.2f}-{bm.max():.2f} (std {bm.std():.3f}); '
      f'{(w >= w_max).float().mean():.0%} of pixels at w_max')
