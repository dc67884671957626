"""
The size guide for your own data: parameters, peak memory and training speed of config/template.py's networks
at 64x64 and 128x128 (its commented 128 variant), on this machine, on random images (speed does not depend on
what the pixels show).

    python benchmarks/size_guide.py                       # 64x64: 30 iterations per stage, 128x128: 6; the template's batches
    python benchmarks/size_guide.py --sizes 64 --iters 50 --device=cuda

Each stage runs as `python train_<stage>.py config/template.py ...` in a child process: its parameter count from
the start-up line, images/s from the last row of its log (out_dir/<stage>_log.jsonl, the first log interval
excluded: warm-up), its peak resident memory from wait4.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIGGER = ['--aux_widths=[64, 128, 256]', '--aux_depths=[2, 2, 2]', '--flow_widths=[128, 256, 512]',
          '--flow_depths=[2, 2, 4]']   # config/template.py's 128x128 variant


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--sizes', type=int, nargs='+', default=[64, 128])
    ap.add_argument('--iters', type=int, default=0, help='iterations per stage (default: 30 at 64 px, 6 above)')
    ap.add_argument('--device', default='--device=cpu')
    a = ap.parse_args()
    print('| size | stage | parameters | batch | images/s | peak memory |\n|---|---|---|---|---|---|')
    for size in a.sizes:
        with tempfile.TemporaryDirectory() as d:
            np.save(f'{d}/data.npy', np.random.default_rng(0).integers(0, 255, (512, size, size, 3), dtype=np.uint8))
            iters = a.iters or (30 if size <= 64 else 6)
            args = ['config/template.py', f'--data={d}/data.npy', f'--image_size={size}', f'--out_dir={d}/out',
                    f'--max_iters={iters}', f'--log_interval={iters // 3}', '--sample_interval=0', a.device]
            args += BIGGER if size == 128 else []
            for stage in ('aux', 'flow', 'sampler'):
                p = subprocess.Popen([sys.executable, f'train_{stage}.py', *args], cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
                out = p.stdout.read()
                _, status, usage = os.wait4(p.pid, 0)
                if os.waitstatus_to_exitcode(status):
                    raise SystemExit(out)
                params = re.search(r'([\d.]+M) parameters', out).group(1)
                batch = re.search(r'batch (\d+) on', out).group(1)
                last = json.loads(open(f'{d}/out/{stage}_log.jsonl').read().splitlines()[-1])
                speed = last.get('img_per_s') or last.get('latents_per_s')
                unit = 'latents/s' if stage == 'sampler' else 'img/s'
                print(f'| {size}x{size} | {stage} | {params} | {batch} | {speed:.0f} {unit} | '
                      f'{usage.ru_maxrss / 1024:.0f} MB |', flush=True)


if __name__ == '__main__':
    main()
