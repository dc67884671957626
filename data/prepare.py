"""
Turn a folder of images (FFHQ, AFHQ, LHQ, your own) into one uint8 array on disk that the
training scripts memory-map: shape [N, H, W, 3], the nanoGPT train.bin idea for images.

    python data/prepare.py --src=/path/to/ffhq --out=data/ffhq256.npy --size=256

Latent mode (the paper's SDV models): encode such an array (or a folder) with a diffusers
autoencoder into float16 latents [N, H/8, W/8, 4], multiplied by the VAE's scaling factor, with a
sidecar data/ffhq256_sdv.json naming the VAE, its scale and the source images. Batched, with a
progress bar, resumable: run the same command again after an interruption.

    python data/prepare.py --src=data/ffhq256.npy --out=data/ffhq256_sdv.npy --vae=/path/to/stable-diffusion-2/vae

Every image is composited on white (transparent pixels), center-cropped to a square and resized
with LANCZOS. Unreadable or truncated files are skipped and counted, not fatal. Files are taken
in sorted order, so the array is the same on every machine. `.npz` output is compressed (used
for the small embedded emoji set); `.npy` output is written in place and can be memory-mapped.
"""
import argparse
import json
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


def encode(src, out, vae_path, size, batch=32, device='auto'):
    """uint8 images (a prepared .npy/.npz, or a folder, prepared first) -> float16 scaled latents + sidecar."""
    import torch
    from common import load_vae, meta_path, vae_encode, vae_meta
    if os.path.isdir(src):
        pixels = os.path.splitext(out)[0] + '_pixels.npy'
        if not os.path.isfile(pixels):
            prepare(src, pixels, size)
        src = pixels
    if not os.path.isfile(src):
        sys.exit(f"error: --src '{src}' is neither a folder nor a prepared image array")
    images = np.load(src)['images'] if src.endswith('.npz') else np.load(src, mmap_mode='r')
    if images.dtype != np.uint8 or images.ndim != 4:
        sys.exit(f"error: '{src}' must be a uint8 image array [N, H, W, 3] from data/prepare.py")
    device = ('cuda' if torch.cuda.is_available() else 'cpu') if device == 'auto' else device
    vae = load_vae(vae_path, device)
    meta = vae_meta(vae, vae_path, images.shape[1])
    meta.update(source=os.path.abspath(src), count=len(images))
    if os.path.isfile(out):
        old = json.load(open(meta_path(out))) if os.path.isfile(meta_path(out)) else None
        if old != meta:
            sys.exit(f"error: '{out}' already exists from {old and old['vae']} / {old and old['source']}; "
                     f"refusing to mix VAEs or data sets: choose another --out")
        print(f'{out} is already encoded with this VAE; nothing to do')
        return
    to_tensor = lambda a: torch.from_numpy(np.array(a)).permute(0, 3, 1, 2).float().to(device) / 127.5 - 1
    with torch.no_grad():
        c, h, w = vae_encode(vae, meta, to_tensor(images[:1])).shape[1:]
    partial, progress = out + '.partial.npy', out + '.progress.json'
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    done = 0
    if os.path.isfile(partial) and os.path.isfile(progress):
        state = json.load(open(progress))
        if state['meta'] != meta:
            sys.exit(f"error: an interrupted encoding '{partial}' was made with {state['meta']['vae']} from "
                     f"{state['meta']['source']}; refusing to mix: delete it or use the same --vae and --src")
        done = state['done']
        arr = np.load(partial, mmap_mode='r+')
        print(f'resuming the encoding at {done}/{len(images)}')
    else:
        arr = np.lib.format.open_memmap(partial, mode='w+', dtype=np.float16, shape=(len(images), h, w, c))
    with torch.no_grad():
        for i in tqdm(range(done, len(images), batch), initial=done // batch, total=-(-len(images) // batch),
                      desc=f'encode with {os.path.basename(vae_path.rstrip("/"))}'):
            z = vae_encode(vae, meta, to_tensor(images[i:i + batch]))
            arr[i:i + len(z)] = z.permute(0, 2, 3, 1).cpu().numpy().astype(np.float16)
            arr.flush()
            with open(progress + '.tmp', 'w') as f:
                json.dump(dict(meta=meta, done=i + len(z)), f)
            os.replace(progress + '.tmp', progress)
    stats = (float(arr[:1000].astype(np.float32).mean()), float(arr[:1000].astype(np.float32).std()))
    del arr
    with open(meta_path(out), 'w') as f:
        json.dump(meta, f, indent=1)
    os.replace(partial, out)
    os.remove(progress)
    print(f'wrote {out}: {len(images)} latents of {h}x{w}x{c} (scale {meta["scaling_factor"]}; mean {stats[0]:.3f}, '
          f'std {stats[1]:.3f}) and {meta_path(out)}')


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--src', required=True, help='folder of images (searched recursively)')
    p.add_argument('--out', required=True, help='output .npy (memory-mapped) or .npz (compressed)')
    p.add_argument('--size', type=int, default=256, help='output resolution (square)')
    p.add_argument('--workers', type=int, default=None)
    p.add_argument('--vae', default=None, help='latent mode: a diffusers AutoencoderKL/AutoencoderTiny directory (or hub name)')
    p.add_argument('--batch', type=int, default=32, help='latent mode: images per VAE batch')
    p.add_argument('--device', default='auto', help='latent mode: cuda if available, else cpu')
    a = p.parse_args()
    if a.vae:
        encode(a.src, a.out, a.vae, a.size, a.batch, a.device)
    else:
        prepare(a.src, a.out, a.size, a.workers)
