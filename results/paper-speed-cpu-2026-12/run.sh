#!/usr/bin/env bash
# What LeDiFlow's latent sampler and aux decoder cost next to one flow evaluation at the paper's network sizes
# (config/ffhq.py at 256x256 RGB, config/ffhq_sdv.py on the SD2 VAE's 32x32x4 latents), on this machine's CPU:
# benchmarks/speed.py with random weights (no data, no checkpoints), batch 2, 7 interleaved rounds after a warm-up,
# bfloat16 and float32, the sampler at 4 midpoint steps (the paper's) and at 2. The VAE decode of the latent configs
# is not timed (speed.py leaves it out: it is the same for both methods). ~6 minutes on 2 cores.
#   bash results/paper-speed-cpu-2026-12/run.sh && python results/paper-speed-cpu-2026-12/overhead.py
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
R=results/paper-speed-cpu-2026-12
for cfg in ffhq ffhq_sdv; do
    for dt in bfloat16 float32; do
        for s in midpoint:4 midpoint:2; do
            d=$R/${cfg}_${dt}_${s/:/}
            HF_HUB_OFFLINE=1 $PY benchmarks/speed.py config/$cfg.py --device=cpu --dtype=$dt --speed_batch=2 \
                --speed_repeats=7 "--eval_ledi=['euler:1', 'midpoint:1']" "--eval_sampler=['$s']" --eval_dir=$d \
                > /dev/null
            echo "wrote $d/speed.md"
        done
    done
done
