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
in sorted order, so the array is the same on every machine. `.npy` output is written image by image
(the peak memory does not grow with the number of images: 70,000 FFHQ images at 256 need no 14 GB)
and memory-mapped by the training scripts; `.npz` output is compressed (the small embedded emoji set).
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
from common import center_crop_resize, make_dir, to_rgb  # noqa: E402  (the repo root's common.py)

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


def _npy_header(shape):
    """The .npy header (format 1.0) of a uint8 array of this shape."""
    import io
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {'descr': '|u1', 'fortran_order': False, 'shape': shape})
    return buf.getvalue()


def _fix_npy_count(path, old, new, n_bytes):
    """Rewrite the header of the .npy at path for fewer images than it was started for. The header is padded to
    64 bytes, so the new one has the old one's length in practice; if not, the data is copied behind it in chunks."""
    if len(new) == len(old):
        with open(path, 'r+b') as f:
            f.write(new)
            f.truncate(len(new) + n_bytes)
        return
    with open(path, 'rb') as src, open(path + '.fix', 'wb') as dst:
        src.seek(len(old))
        dst.write(new)
        for _ in range(0, n_bytes, 1 << 24):
            dst.write(src.read(min(1 << 24, n_bytes - dst.tell() + len(new))))
    os.replace(path + '.fix', path)


def prepare(src, out, size, workers=None):
    if not os.path.isdir(src):
        sys.exit(f"error: '{src}' is not a folder")
    if size < MIN_SIDE:
        sys.exit(f'error: --size must be at least {MIN_SIDE}, got {size}')
    files = list_images(src)
    if not files:
        sys.exit(f"error: no image files ({', '.join(sorted(EXTS))}) found under {src}")
    make_dir(os.path.dirname(os.path.abspath(out)))
    tmp, skipped, count = out + '.tmp', {}, 0
    workers = workers or min(8, os.cpu_count() or 1)
    # Written as they come, never held together: a .npy header for all files, then each image's bytes appended
    # with plain writes (page cache, not this process's memory), so the peak memory does not grow with the
    # number of images. Skipped files leave the header too large: it is rewritten for the true count.
    header = lambda n: _npy_header((n, size, size, 3))
    with open(tmp, 'wb') as f, Pool(workers) as pool:
        f.write(header(len(files)))
        it = pool.imap(_load, [(fn, size) for fn in files], chunksize=16)
        for a in tqdm(it, total=len(files), desc=f'prepare {size}x{size}'):
            if isinstance(a, str):
                skipped[a] = skipped.get(a, 0) + 1
            else:
                f.write(np.ascontiguousarray(a).tobytes())
                count += 1
    if not count:
        os.remove(tmp)
        sys.exit(f'error: none of the {len(files)} image files under {src} could be used ({skipped})')
    if count < len(files):
        _fix_npy_count(tmp, header(len(files)), header(count), count * size * size * 3)
    if out.endswith('.npz'):   # the small embedded set: compressed, loaded whole
        images = np.load(tmp)
        with open(tmp + '.npz', 'wb') as f:
            np.savez_compressed(f, images=images)
        os.replace(tmp + '.npz', tmp)
    os.replace(tmp, out)
    why = ', '.join(f'{n} {reason}' for reason, n in sorted(skipped.items())) or 'none'
    print(f'wrote {out}: {count} images of {size}x{size}x3; skipped: {why}')
    return count, skipped


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

    def read(i, j):   # images[i:j], through a memory map opened for this batch alone: the pages it read are
        if src.endswith('.npz'):   # released with it, so the peak memory does not grow with the data set
            return images[i:j]
        m = np.load(src, mmap_mode='r')
        return np.array(m[i:j])
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
        c, h, w = vae_encode(vae, meta, to_tensor(read(0, 1))).shape[1:]
    partial, progress = out + '.partial.npy', out + '.progress.json'
    make_dir(os.path.dirname(os.path.abspath(out)))
    done = 0
    if os.path.isfile(partial) and os.path.isfile(progress):
        state = json.load(open(progress))
        if state['meta'] != meta:
            sys.exit(f"error: an interrupted encoding '{partial}' was made with {state['meta']['vae']} from "
                     f"{state['meta']['source']}; refusing to mix: delete it or use the same --vae and --src")
        done = state['done']
        print(f'resuming the encoding at {done}/{len(images)}')
    else:
        np.lib.format.open_memmap(partial, mode='w+', dtype=np.float16, shape=(len(images), h, w, c)).flush()
    with torch.no_grad():
        for i in tqdm(range(done, len(images), batch), initial=done // batch, total=-(-len(images) // batch),
                      desc=f'encode with {os.path.basename(vae_path.rstrip("/"))}'):
            z = vae_encode(vae, meta, to_tensor(read(i, i + batch)))
            arr = np.load(partial, mmap_mode='r+')   # opened per batch, like the images
            arr[i:i + len(z)] = z.permute(0, 2, 3, 1).cpu().numpy().astype(np.float16)
            arr.flush()
            del arr
            with open(progress + '.tmp', 'w') as f:
                json.dump(dict(meta=meta, done=i + len(z)), f)
            os.replace(progress + '.tmp', progress)
    first = np.load(partial, mmap_mode='r')[:1000].astype(np.float32)
    stats = (float(first.mean()), float(first.std()))
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
