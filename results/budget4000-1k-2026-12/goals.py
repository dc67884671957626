"""The issue's three goals at the 4,000 budget: the curve's 400-sample test measurement
(results/curve-tau0-2026-12/budget_4000) and this folder's 1,000-sample one (test_1000), in the table of
results/budget-curve-2026-12/curve.py's goals_table (what each column is: its docstring).

    python results/budget4000-1k-2026-12/goals.py
"""
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, '..', 'budget-curve-2026-12'))
from curve import goals_table  # noqa: E402  (the table every look's goals.py prints)

goals_table(4000, here)
