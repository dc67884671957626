"""
Neighborhood attention: time and peak memory of model.py's implementations, for token grids from
16x16 to 128x128 at B=1 with the heads x head dim of config/ffhq.py's first level (4 x 64), k = 7.

    python benchmarks/attention.py                          # the CPU table of docs/gpu.md (~3 min on 2 cores)
    python benchmarks/attention.py --grids=32,64 --device=cuda

  masked   global scaled_dot_product_attention with all but each query's window masked: O((hw)^2)
  tiled    8x8 query tiles, each attending to its 14x14 band of keys: O(hw k^2)
  natten   natten.na2d: on the CPU its Flex backend, forward only; on CUDA its kernels, if built with them

Each measurement runs in a fresh process, so that its peak memory is its own: on the CPU the growth
of the peak resident set over what the inputs (and a first small call) already took, on CUDA
torch.cuda.max_memory_allocated. The CPU figure includes the allocator's slack: compare, don't add.
Time: median of --repeats runs after one warm-up, forward alone and forward + backward.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measure(impl, n, backward, device, repeats, heads=4, d_head=64, kernel=7):
    """One measurement, in this process: -> {'ms': ..., 'peak_mb': ...}."""
    import torch
    sys.path.insert(0, ROOT)
    import model as M
    fn = {'masked': M.na2d_masked, 'tiled': M.na2d_tiled, 'natten': M.natten_na2d}[impl]
    torch.manual_seed(0)
    small = [torch.randn(1, 8, 8, heads, d_head, device=device, requires_grad=backward) for _ in range(3)]
    o = fn(*small, kernel)   # first call: thread pools and kernels initialise, outside the measurement
    if backward:
        o.sum().backward()
    qkv = [torch.randn(1, n, n, heads, d_head, device=device) for _ in range(3)]
    sync = torch.cuda.synchronize if device.startswith('cuda') else (lambda: None)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if device.startswith('cuda'):
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeats + 1):
        q, k, v = (t.detach().requires_grad_(backward) for t in qkv)
        sync()
        t0 = time.perf_counter()
        o = fn(q, k, v, kernel)
        if backward:
            o.sum().backward()
        sync()
        times.append(1000 * (time.perf_counter() - t0))
    peak = (torch.cuda.max_memory_allocated() / 2 ** 20 if device.startswith('cuda')
            else (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024)
    return {'ms': statistics.median(times[1:]), 'peak_mb': peak}


def run_one(impl, n, backward, device, repeats):
    """measure() in a fresh process; None if it failed (e.g. natten's CPU backend has no backward)."""
    arg = json.dumps([impl, n, backward, device, repeats])
    p = subprocess.run([sys.executable, __file__, f'--one={arg}'], capture_output=True, text=True)
    lines = [l for l in p.stdout.splitlines() if l.startswith('{')]
    return json.loads(lines[-1]) if p.returncode == 0 and lines else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--grids', default='16,32,64,128', help='token grid sides, comma-separated')
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--natten_max', type=int, default=128, help='largest grid for natten (its CPU backend: 36 s, 14 GB at 128)')
    ap.add_argument('--one', help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(measure(*json.loads(args.one))))
        return
    import torch
    threads = torch.get_num_threads() if args.device == 'cpu' else None
    print(f"neighborhood attention, B=1, 4 heads x 64, k=7, {args.device}{f' ({threads} threads)' if threads else ''}, "
          f"float32; ms (median of {args.repeats}) and peak MB\n")
    print('| tokens | masked fwd | masked fwd+bwd | tiled fwd | tiled fwd+bwd | natten fwd | tiled vs masked (fwd / fwd+bwd) |')
    print('|---|---|---|---|---|---|---|')
    fmt = lambda r: '-' if r is None else f"{r['ms']:.1f} ms, {r['peak_mb']:.0f} MB"
    for n in [int(g) for g in args.grids.split(',')]:
        r = {(impl, bwd): run_one(impl, n, bwd, args.device, args.repeats)
             for impl in ('masked', 'tiled') for bwd in (False, True)}
        nat = run_one('natten', n, False, args.device, args.repeats) if n <= args.natten_max else None
        ratio = lambda b: f"{r['masked', b]['ms'] / r['tiled', b]['ms']:.1f}x" if r['masked', b] and r['tiled', b] else '-'
        print(f"| {n}x{n} | {fmt(r['masked', False])} | {fmt(r['masked', True])} | {fmt(r['tiled', False])} | "
              f"{fmt(r['tiled', True])} | {fmt(nat)} | {ratio(False)} / {ratio(True)} |", flush=True)


if __name__ == '__main__':
    main()
