#!/usr/bin/env bash
# The diagnostic of results/sampler8k-2026-12 (docs/experiments.md, "A longer and an OT-coupled latent sampler at
# 8,000 iterations"), tune split, ~20 min on 2 CPU cores: the curve's 8,000 networks at tau 0 with three samplers (the
# curve's, s16k, ot; train.sh link), flow euler x1, sampler midpoint x8, x3, x2, x1, 400 samples, 1,000 replicates;
# the equal-compute baseline at midpoint x4 and x8 for scale. Timings are not read (few rounds, the same-iteration
# baseline trained on the other core). results.{md,json,csv} are copied to tune_400/.
#   bash results/sampler8k-2026-12/eval.sh            # ~40 min (with the baseline training beside it)
#   bash results/sampler8k-2026-12/eval.sh ceiling    # the follow-up: s16k's z against unseen images' z at tau 0
#                                                     # (results/zc-tau0-2026-12's tune_8000_t0_s8 command), ~7 min
#   bash results/sampler8k-2026-12/eval.sh lengths    # the sampler at 4,000, 8,000, 16,000 and 32,000 iterations
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
O=${ZC_DIR:-out/zc}
R=results/sampler8k-2026-12
for d in eval_s8k eval_len; do mkdir -p $O/$d && cp -n $O/eval/*.pt $O/$d/ 2>/dev/null || true; done   # tune reference features
ln -sfn fm $O/fm_eq_8000
if [ "${1:-}" = ceiling ]; then
    $PY benchmarks/z_ceiling.py $O/s16k_t0 --baseline $O/fm_eq_8000 --flow euler:1 midpoint:1 --sampler midpoint:8 \
        --eval_dir=$O/eval --out=$R/ceiling_s16k_t0_s8.json > $R/ceiling_s16k_t0_s8.md
    exit
fi
ev() {   # ev RUNS SAMPLER FM NAME: evaluate.py on tune with this folder's instrument, flow euler x1; results to NAME/
    $PY evaluate.py config/emoji.py "--runs=$1" --eval_dir=$O/eval_$4 --eval_split=tune --eval_samples=400 \
        --eval_bootstrap=1000 --speed_repeats=3 "--eval_ledi=['euler:1']" "--eval_sampler=$2" "--eval_fm=$3"
}
if [ "${1:-}" = lengths ]; then
    ev "['$O/ledi_t0', '$O/s8k_t0', '$O/s16k_t0', '$O/s32k_t0']" "['midpoint:8', 'midpoint:3', 'midpoint:2']" "[]" len
    mkdir -p $R/lengths_400 && cp $O/eval_len/results.{md,json,csv} $R/lengths_400/
    exit
fi
ev "['$O/ledi_t0', '$O/s16k_t0', '$O/ot_t0', '$O/fm_eq_8000']" "['midpoint:8', 'midpoint:3', 'midpoint:2', 'midpoint:1']" \
    "['midpoint:4', 'midpoint:8']" s8k
mkdir -p $R/tune_400 && cp $O/eval_s8k/results.{md,json,csv} $R/tune_400/
