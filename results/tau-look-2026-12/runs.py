"""Run directories that differ only in the prior temperature their flow.pt records, for evaluate.py to pair:

    python results/tau-look-2026-12/runs.py RUN_DIR 1 0.85 0.7 0.5    # -> RUN_DIR_t1, RUN_DIR_t0.85, ...

Each gets a copy of RUN_DIR/flow.pt whose config says tau = T (evaluate.py samples each run at its own tau) and
links to RUN_DIR's aux.pt and sampler.pt when it has them (the baseline has neither)."""
import os
import sys

import torch

run, taus = os.path.normpath(sys.argv[1]), sys.argv[2:]
ck = torch.load(os.path.join(run, 'flow.pt'), map_location='cpu', weights_only=True)
for t in taus:
    d = f'{run}_t{t}'
    os.makedirs(d, exist_ok=True)
    ck['config']['tau'] = float(t)
    torch.save(ck, os.path.join(d, 'flow.pt'))
    for f in ('aux.pt', 'sampler.pt'):
        if os.path.exists(os.path.join(run, f)) and not os.path.lexists(os.path.join(d, f)):
            os.symlink(os.path.realpath(os.path.join(run, f)), os.path.join(d, f))
    print(d, 'tau', t)
