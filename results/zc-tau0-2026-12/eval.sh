#!/usr/bin/env bash
# The diagnostic of results/zc-tau0-2026-12 (docs/experiments.md, "What the sampler costs at tau 0, at 8,000
# iterations"), on the networks train.sh made, tune split, ~15 min on 2 CPU cores:
#   1. tau 1, results/z-ceiling-2026-12/tune_8000_w's command: should give that file's cells again
#   2. tau 0, flow euler x1 and midpoint x1, the sampler at midpoint x8, then at midpoint x2
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
O=${ZC_DIR:-out/zc}
R=results/zc-tau0-2026-12
ln -sfn fm $O/fm_eq_8000        # the equal-compute baseline, named as in the earlier file
$PY benchmarks/z_ceiling.py $O/ledi --baseline $O/fm_eq_8000 --flow euler:1 midpoint:1 midpoint:2 \
    --eval_dir=$O/eval --out=$R/tune_8000_t1.json > $R/tune_8000_t1.md
$PY results/tau-look-2026-12/runs.py $O/ledi 0 --out=$O/ledi_t0 > /dev/null
for s in 8 2; do
    $PY benchmarks/z_ceiling.py $O/ledi_t0 --baseline $O/fm_eq_8000 --flow euler:1 midpoint:1 --sampler midpoint:$s \
        --eval_dir=$O/eval --out=$R/tune_8000_t0_s$s.json > $R/tune_8000_t0_s$s.md
done
