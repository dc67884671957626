"""Run directories that differ only in the prior temperature their flow.pt records, for evaluate.py to pair:

    python results/tau-look-2026-12/runs.py RUN_DIR 1 0.85 0.7 0.5    # -> RUN_DIR_t1, RUN_DIR_t0.85, ...
    python results/tau-look-2026-12/runs.py RUN_DIR/flow_002000.pt 0 --out=DIR   # one checkpoint, one tau -> DIR

Each gets a copy of the flow checkpoint (RUN_DIR/flow.pt unless a file is named) whose config says tau = T
(evaluate.py samples each run at its own tau) and links to the run's aux.pt and sampler.pt when it has them (the
baseline has neither)."""
import os
import sys

import torch

args = [a for a in sys.argv[1:] if not a.startswith('--out=')]
outs = [a[len('--out='):] for a in sys.argv[1:] if a.startswith('--out=')]
src, taus = os.path.normpath(args[0]), args[1:]
ckpt = src if os.path.isfile(src) else os.path.join(src, 'flow.pt')
run = os.path.dirname(ckpt)
if outs and len(taus) != 1:
    sys.exit('runs.py: --out=DIR takes exactly one tau')
ck = torch.load(ckpt, map_location='cpu', weights_only=True)
for t in taus:
    d = outs[0] if outs else f'{src}_t{t}'
    os.makedirs(d, exist_ok=True)
    ck['config']['tau'] = float(t)
    torch.save(ck, os.path.join(d, 'flow.pt'))
    for f in ('aux.pt', 'sampler.pt'):
        if os.path.exists(os.path.join(run, f)):
            dst = os.path.join(d, f)
            if os.path.lexists(dst):
                os.remove(dst)   # linked anew, as ln -sf does
            os.symlink(os.path.realpath(os.path.join(run, f)), dst)
    print(d, 'tau', t)
