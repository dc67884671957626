"""The issue's three goals at the 500 budget, from each evaluation of this folder (<split>_<samples>/results.json)
and from the curve's 400-sample test measurement of the same networks (results/curve-tau0-2026-12/budget_500):
the lower 95% end of LeDiFlow's speedup against the equal-compute baseline (goal: >= 3.75x) and against the
same-iteration one (>= 5x), by FID and by KID, with the share of replicates in which the baseline's target is the
point estimate's; and up to which baseline NFE 1 midpoint step beats the equal-compute baseline at 95% (goal: 8).
The table is results/budget-curve-2026-12/curve.py's goals_table.

    python results/budget500-1k-2026-12/goals.py
"""
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, '..', 'budget-curve-2026-12'))
from curve import goals_table  # noqa: E402  (the table every look's goals.py prints)

goals_table(500, here)
