"""
Inference speed of a config's networks with random weights: no checkpoints or data needed, so the
paper-size models can be timed anywhere. LeDiFlow (latent sampler + decoder + flow) and the FM baseline
at the same flow settings, eager and, on CUDA, torch.compile'd; each setting timed as evaluate.py times
it (interleaved rounds after a warm-up, the median reported).

    python benchmarks/speed.py config/ffhq.py --device=cuda --speed_batch=64 "--eval_ledi=['midpoint:1', 'midpoint:2']"
    python benchmarks/speed.py config/ffhq_sdv.py --device=cuda
    python benchmarks/speed.py config/emoji.py --image_size=32 --speed_batch=64

Reads image_size (latent mode, 4 channels at 1/8 of the size, when the data file's .json sidecar says so
or its name ends in _sdv.npy, as in config/ffhq_sdv.py), the
aux_*, flow_* and sampler_* network keys (built with the training scripts' own model args: common.py),
eval_ledi, the first setting of eval_sampler, tau, seed, device, dtype, speed_batch, speed_repeats and
eval_dir. Writes eval_dir/speed.md and speed.json.
"""
import copy
import json
import os
import sys
from contextlib import nullcontext

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import model as M  # noqa: E402
from common import (aux_model_args, build, compute_line, data_meta, die, flow_model_args, pick_device,  # noqa: E402
                    pick_dtype, sampler_model_args)
from configurator import configure, take  # noqa: E402
from evaluate import Run, median_times, parse_setting, settings_of, time_all  # noqa: E402


def main():
    cfg = configure()
    (data, image_size, seed, device, dtype, use_natten, tau, eval_ledi, eval_sampler, eval_dir, speed_batch,
     speed_repeats) = take(cfg, 'data image_size seed device dtype use_natten tau eval_ledi eval_sampler eval_dir '
                                'speed_batch speed_repeats')
    M.USE_NATTEN = use_natten
    device = pick_device(device)
    dtype = pick_dtype(dtype, device)
    ctx = nullcontext() if dtype == 'float32' else torch.autocast(device.split(':')[0], dtype=getattr(torch, dtype))
    print(compute_line(device, dtype))
    if not image_size:
        die('benchmarks/speed.py needs image_size in the config (e.g. config/ffhq.py sets 256)')
    ledi_flow = [parse_setting(s, 'eval_ledi') for s in eval_ledi]
    sampler_setting = [parse_setting(s, 'eval_sampler') for s in eval_sampler][:1]
    # latent mode (the SD VAE's 4 x /8 latents): the data file's sidecar says so, or, for the SDV configs' data
    # that you may not have yet, its name (data/ffhq256_sdv.npy)
    latent = data_meta(data) is not None or os.path.splitext(data)[0].endswith('_sdv')
    ch, size = (4, image_size // 8) if latent else (3, image_size)

    torch.manual_seed(seed)
    aux = build(M.AuxModel, aux_model_args(cfg, ch, [size, size])).to(device).eval()
    nets = dict(ledi=build(M.HDiT, flow_model_args(cfg, ch, [size, size], aux.z_shape)),
                fm=build(M.HDiT, flow_model_args(cfg, ch, [size, size], None)),
                sampler=build(M.HDiT, sampler_model_args(cfg, aux.z_shape)))
    nets = {k: v.to(device).eval() for k, v in nets.items()}
    params = {k: sum(p.numel() for p in v.parameters()) / 1e6 for k, v in dict(aux=aux, **nets).items()}
    print('parameters: ' + ', '.join(f'{k} {v:.1f}M' for k, v in params.items()))
    dev_name = (torch.cuda.get_device_name(device) if device.startswith('cuda')
                else f'cpu ({torch.get_num_threads()} threads)')
    rows = []
    for compiled in ([False, True] if device.startswith('cuda') else [False]):
        net = {k: torch.compile(v) if compiled else v for k, v in nets.items()}
        a = aux
        if compiled:   # the decoder is reached through aux.prior(): compile a copy's decode method
            a = copy.deepcopy(aux)
            a.decode = torch.compile(a.decode)
        runs = [Run('LeDiFlow', net['ledi'], a, net['sampler'], shape=(ch, size, size), device=device, tau=tau,
                    settings=settings_of(True, ledi_flow, sampler_setting, [], diagnostics=False)),
                Run('FM', net['fm'], shape=(ch, size, size), device=device,
                    settings=settings_of(False, [], [], ledi_flow))]
        times = time_all(runs, speed_batch, speed_repeats, ctx, None)
        for run, run_times in zip(runs, times):
            for s, rounds in zip(run.settings, run_times):
                t = median_times(rounds)
                rows.append(dict(method=run.label, compiled=compiled, solver=s.solver, steps=s.steps, nfe=s.nfe,
                                 sampler=f'{s.sampler_solver} x{s.sampler_steps}' if run.learned else '-',
                                 ms_per_img=t['total'], ms_sampler=t['sampler'], ms_decoder=t['decoder'],
                                 ms_flow=t['flow']))
                print(rows[-1], flush=True)
    peak = torch.cuda.max_memory_allocated(device) / 2 ** 30 if device.startswith('cuda') else None
    lines = [f'Random-weight networks of the config ({", ".join(f"{k} {v:.1f}M" for k, v in params.items())}), '
             f'{dev_name}, {dtype}, batch {speed_batch}, median of {speed_repeats} interleaved rounds after a warm-up'
             + (f'; peak GPU memory {peak:.1f} GiB' if peak is not None else '') + '.', '',
             '| method | compiled | flow setting | NFE | sampler | ms/img | sampler + decoder + flow ms |',
             '|---|---|---|---|---|---|---|']
    lines += [f"| {r['method']} | {r['compiled']} | {r['solver']} x{r['steps']} | {r['nfe']} | {r['sampler']} | "
              f"{r['ms_per_img']:.2f} | {r['ms_sampler']:.2f} + {r['ms_decoder']:.2f} + {r['ms_flow']:.2f} |"
              for r in rows]
    os.makedirs(eval_dir, exist_ok=True)
    open(os.path.join(eval_dir, 'speed.md'), 'w').write('\n'.join(lines) + '\n')
    with open(os.path.join(eval_dir, 'speed.json'), 'w') as f:
        json.dump(dict(device=dev_name, dtype=dtype, parameters_m=params, peak_gpu_gib=peak, rows=rows), f, indent=1)
    print('\n'.join(lines))
    print(f'wrote {eval_dir}/speed.md, speed.json')


if __name__ == '__main__':
    main()
