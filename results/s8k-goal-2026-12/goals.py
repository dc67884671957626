"""The issue's three goals at the 8,000 budget with the latent sampler at 8,000 iterations (this folder's tune_400
and, if it ran, test_1000), beside the curve's 400-sample test measurement (curve.py's goals_table: what each column
is, its docstring).

    python results/s8k-goal-2026-12/goals.py
"""
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, '..', 'budget-curve-2026-12'))
from curve import goals_table  # noqa: E402  (the table every look's goals.py prints)

goals_table(8000, here)
