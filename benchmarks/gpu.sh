#!/usr/bin/env bash
# The GPU check: one unattended command (~5-10 min) on a CUDA machine, after `make install` (and natten's CUDA
# wheel, docs/gpu.md). It reports what runs (attention path, bf16, compile), ms/img at 1 midpoint step of the
# paper-size networks with random weights (config/ffhq.py and config/ffhq_sdv.py, LeDiFlow and the FM baseline,
# eager and compiled) with peak GPU memory, and the training throughput of 200 flow iterations of
# config/ffhq.py on random 256x256 images. Everything lands in $OUT_DIR (default out/gpu_check); summary.md
# collects the numbers.
#   bash benchmarks/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${OUT_DIR:-out/gpu_check}
BATCH=${FLOW_BATCH:-32}
mkdir -p "$OUT"
$PY -c "import torch; assert torch.cuda.is_available(), 'benchmarks/gpu.sh needs a CUDA device'; print(torch.cuda.get_device_name())"
$PY -c "import natten; print('natten', natten.__version__, 'CUDA kernels:', natten.HAS_LIBNATTEN)" || echo "natten not importable"

# 1. inference speed at the paper's sizes (random weights: no checkpoints or data needed)
for c in ffhq ffhq_sdv; do
  $PY benchmarks/speed.py config/$c.py --device=cuda --speed_batch=64 --speed_repeats=10 \
      "--eval_ledi=['midpoint:1', 'midpoint:2']" --eval_dir="$OUT/$c" | tee "$OUT/$c.log"
done

# 2. training throughput: config/ffhq.py's flow model (bf16, torch.compile), 200 iterations on random images
$PY -c "import numpy as np; np.save('$OUT/rand256.npy', np.random.default_rng(0).integers(0, 255, (1024, 256, 256, 3), dtype=np.uint8))"
T="config/ffhq.py --data=$OUT/rand256.npy --out_dir=$OUT/run --sample_interval=0 --ckpt_interval=100000 --device=cuda"
$PY train_aux.py $T --max_iters=20 --batch_size=$BATCH --log_interval=10 | tee "$OUT/aux.log"
$PY train_flow.py $T --max_iters=200 --batch_size=$BATCH --log_interval=50 | tee "$OUT/flow.log"

# 3. the summary
$PY - "$OUT" "$BATCH" <<'PYEOF'
import json, sys
out, batch = sys.argv[1], sys.argv[2]
lines = ['# GPU check', '', open(f'{out}/flow.log').readline().strip(), '']
for c in ('ffhq', 'ffhq_sdv'):
    lines += [f'## {c}: inference, random weights', '', open(f'{out}/{c}/speed.md').read()]
rows = [json.loads(l) for l in open(f'{out}/run/flow_log.jsonl')]
steady = rows[1:] or rows   # the first interval holds the compilation
ips = sum(r['img_per_s'] for r in steady) / len(steady)
lines += ['## config/ffhq.py flow model, training', '',
          f'{rows[-1]["iter"]} iterations at batch {batch}: {ips:.1f} img/s after the first log interval '
          f'(which holds torch.compile), {rows[-1]["wall_s"]:.0f} s in all.']
open(f'{out}/summary.md', 'w').write('\n'.join(lines) + '\n')
print('\n'.join(lines))
PYEOF
