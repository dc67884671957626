"""
Peak memory of data/prepare.py against the number of images: it writes the .npy image by image, so the peak
should not grow with the data set (FFHQ at 256 is 70,000 x 196 KB = 13.7 GB of pixels).

    python benchmarks/prepare_memory.py                    # 1,000 and 8,000 synthetic 256x256 PNGs
    python benchmarks/prepare_memory.py --counts 500 2000 --size 128

Each count: synthetic images (smooth colour ramps with a random offset: small PNGs) in a temporary folder, then
`python data/prepare.py` in a child process; its peak resident set size (the largest of it and its workers,
from wait4) and its wall time are printed.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_images(folder, n, size, seed=0):
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    for i in range(n):
        a, b, c = rng.uniform(0.2, 1.0, 3)
        img = np.stack([ramp[None, :] * a + 0 * ramp[:, None], ramp[:, None] * b + 0 * ramp[None, :],
                        (ramp[None, :] + ramp[:, None]) / 2 * c], -1)
        Image.fromarray(np.roll(img, int(rng.integers(size)), axis=1).astype(np.uint8)).save(f'{folder}/{i:06d}.png')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--counts', type=int, nargs='+', default=[1000, 8000])
    ap.add_argument('--size', type=int, default=256)
    ap.add_argument('--workers', type=int, default=2)
    a = ap.parse_args()
    for n in a.counts:
        with tempfile.TemporaryDirectory() as d:
            os.makedirs(f'{d}/imgs')
            make_images(f'{d}/imgs', n, a.size)
            t0 = time.time()
            p = subprocess.Popen([sys.executable, f'{ROOT}/data/prepare.py', f'--src={d}/imgs', f'--out={d}/out.npy',
                                  f'--size={a.size}', f'--workers={a.workers}'], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True)
            _, status, usage = os.wait4(p.pid, 0)
            out = p.stdout.read().strip()
            assert os.waitstatus_to_exitcode(status) == 0, out
            check = np.load(f'{d}/out.npy', mmap_mode='r')
            assert check.shape == (n, a.size, a.size, 3)
            print(f'{n} images of {a.size}x{a.size}: {n * a.size * a.size * 3 / 2 ** 20:.0f} MB of pixels, peak RSS '
                  f'{usage.ru_maxrss / 1024:.0f} MB, {time.time() - t0:.1f} s ({out})', flush=True)


if __name__ == '__main__':
    main()
