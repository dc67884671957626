"""
How straight are a trained run's ODE paths? The paper's argument for a learned prior is that paths
starting closer to the data are straighter, so that few solver steps suffice. Measured here on the
same starting points (same seed: the same latent-sampler noise, z and prior sample x0 at every step count):

    gap(n)      = RMS(x_n - x_ref)            the n-step result against a fine solve (ref_steps midpoint steps)
    relative(n) = gap(n) / RMS(x_ref - x0)    the same, as a fraction of the distance the ODE travels

A perfectly straight path has gap(1) = 0 with euler. Pixel units: images in [-1, 1].

    python benchmarks/straightness.py out/headline/ledi out/headline/fm
    python benchmarks/straightness.py out/emoji --tau=0.85 --n=512
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import model as M  # noqa: E402
from common import load_run  # noqa: E402


@torch.no_grad()
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('runs', nargs='+')
    ap.add_argument('--n', type=int, default=256, help='images (the same starting points for every step count)')
    ap.add_argument('--tau', type=float, default=1.0)
    ap.add_argument('--ref_steps', type=int, default=64)
    ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args()
    print(f'{a.n} images per run, seed {a.seed}, tau {a.tau} (LeDiFlow), reference: {a.ref_steps} midpoint steps')
    print('| run | setting | gap RMS | relative gap |\n|---|---|---|---|')
    for path in a.runs:
        flow, aux, sampler, ck = load_run(path, 'cpu')
        shape = (ck['model_args']['channels'], *ck['model_args']['image_size']) if aux is None else None

        def run(steps, solver):   # same generator seed -> the same z and x0 at every step count
            g = torch.Generator().manual_seed(a.seed)
            return M.generate(flow, aux, sampler, n=a.n, steps=steps, solver=solver, tau=a.tau, generator=g, shape=shape)

        x0, ref = run(0, 'euler') if aux is not None else None, run(a.ref_steps, 'midpoint')
        if x0 is None:   # the baseline's x0 is the N(0, I) sample generate draws first
            x0 = torch.randn(a.n, *shape, generator=torch.Generator().manual_seed(a.seed))
        travel = (ref - x0).pow(2).mean().sqrt()
        for solver, steps in (('euler', 1), ('midpoint', 1), ('euler', 2), ('midpoint', 2), ('midpoint', 4)):
            gap = (run(steps, solver) - ref).pow(2).mean().sqrt()
            print(f"| {'LeDiFlow' if aux is not None else 'FM'} {path} | {solver} x{steps} | {gap:.4f} | {gap / travel:.3f} |")


if __name__ == '__main__':
    main()
