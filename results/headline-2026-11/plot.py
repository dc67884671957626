"""Redraw this (former) headline's quality-vs-time plots next to this file with evaluate.plot, from the settings
table in results.md next to this file (the run's results.json was not committed). The README's figures are the
December headline's, in assets/.

    python results/headline-2026-11/plot.py
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, ROOT)
from evaluate import plot  # noqa: E402

NUM = r'([-\d.]+) \[([-\d.]+), ([-\d.]+)\]'
rows = []
for line in open(os.path.join(HERE, 'results.md')):
    cells = [c.strip() for c in line.strip().strip('|').split('|')]
    if len(cells) != 7 or not re.fullmatch(NUM, cells[5]):
        continue
    label, setting, _, ms_model, _, fid, kid = cells
    kind = ('z from data' if 'z from data' in setting else 'prior only' if setting.startswith('no flow step')
            else 'sampled z' if label == 'ledi' else 'gaussian prior')
    (f, f0, f1), (k, k0, k1) = (map(float, re.fullmatch(NUM, c).groups()) for c in (fid, kid))
    rows.append(dict(label=label, kind=kind, method='LeDiFlow' if label == 'ledi' else 'FM', setting=setting,
                     ms_model=None if ms_model == '-' else float(ms_model), fid=f, fid_ci=[f0, f1],
                     kid=k, kid_ci=[k0, k1]))   # KID x1e3, as the table has it
assert len(rows) == 25, len(rows)
plot(rows, 'fid', os.path.join(HERE, 'quality_vs_time.png'))
plot(rows, 'kid', os.path.join(HERE, 'quality_vs_time_kid.png'))
print(f'wrote {HERE}/quality_vs_time.png, quality_vs_time_kid.png')
