"""
Turn a folder of images (FFHQ, AFHQ, LHQ, your own) into one uint8 array on disk that the
training scripts memory-map: shape [N, H, W, 3], the nanoGPT train.bin idea for images.

    python data/prepare.py --src=/path/to/ffhq --out=data/ffhq256.npy --size=256

Every image is composited on white (transparent pixels), center-cropped to a square and resized
with LANCZOS. Unreadable or truncated files are skipped and counted, not fatal. Files are taken
in sorted order, so the array is the same on every machine. `.npz` output is compressed (used
for the small embedded emoji set); `.npy` output is written in place and can be memory-mapped.
"""
import argparse
import os
import sys
from multiprocessing import Pool

import numpy as np
from PIL import Image
from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from common import center_crop_resize, to_rgb  # noqa: E402  (the repo root's common.py)

EXTS = {'.png', '.jpg', '.jpeg', '.webp', '.bmp', '.tif', '.tiff', '.gif'}
MIN_SIDE = 16  # images whose shorter side is below this are skipped as too small


def load_for_dataset(path, size):
    """-> uint8 [size, size, 3], or a reason string ('unreadable', 'too small') if it is skipped."""
    try:
        with Image.open(path) as img:
            img.load()
            if min(img.size) < MIN_SIDE:
                return 'too small'
            return np.asarray(center_crop_resize(to_rgb(img), size), dtype=np.uint8)
    except Exception:  # truncated, corrupt, not an image: the caller counts it
        return 'unreadable'


def _load(args):
    return load_for_dataset(*args)


def list_images(src):
    files = []
    for root, _, names in os.walk(src):
        files += [os.path.join(root, n) for n in names if os.path.splitext(n)[1].lower() in EXTS]
    return sorted(files)


def prepare(src, out, size, workers=None):
    if not os.path.isdir(src):
        sys.exit(f"error: '{src}' is not a folder")
    if size < MIN_SIDE:
        sys.exit(f'error: --size must be at least {MIN_SIDE}, got {size}')
    files = list_images(src)
    if not files:
        sys.exit(f"error: no image files ({', '.join(sorted(EXTS))}) found under {src}")
    images, skipped = [], {}
    workers = workers or min(8, os.cpu_count() or 1)
    with Pool(workers) as pool:
        it = pool.imap(_load, [(f, size) for f in files], chunksize=16)
        for a in tqdm(it, total=len(files), desc=f'prepare {size}x{size}'):
            if isinstance(a, str):
                skipped[a] = skipped.get(a, 0) + 1
            else:
                images.append(a)
    if not images:
        sys.exit(f'error: none of the {len(files)} image files under {src} could be used ({skipped})')
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + '.tmp'
    if out.endswith('.npz'):
        with open(tmp, 'wb') as f:
            np.savez_compressed(f, images=np.stack(images))
    else:
        arr = np.lib.format.open_memmap(tmp, mode='w+', dtype=np.uint8, shape=(len(images), size, size, 3))
        for i, a in enumerate(images):
            arr[i] = a
        arr.flush()
        del arr
    os.replace(tmp, out)
    why = ', '.join(f'{n} {reason}' for reason, n in sorted(skipped.items())) or 'none'
    print(f'wrote {out}: {len(images)} images of {size}x{size}x3; skipped: {why}')
    return len(images), skipped


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--src', required=True, help='folder of images (searched recursively)')
    p.add_argument('--out', required=True, help='output .npy (memory-mapped) or .npz (compressed)')
    p.add_argument('--size', type=int, default=256, help='output resolution (square)')
    p.add_argument('--workers', type=int, default=None)
    a = p.parse_args()
    prepare(a.src, a.out, a.size, a.workers)
