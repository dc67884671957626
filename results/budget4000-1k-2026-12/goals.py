"""The issue's three goals at the 4,000 budget: the curve's 400-sample test measurement
(results/curve-tau0-2026-12/budget_4000) and this folder's 1,000-sample one (test_1000), in the table of
results/budget500-1k-2026-12/goals.py (what each column is: its docstring).

    python results/budget4000-1k-2026-12/goals.py
"""
import importlib.util
import os

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location('goals500', os.path.join(here, '..', 'budget500-1k-2026-12', 'goals.py'))
goals500 = importlib.util.module_from_spec(spec)
spec.loader.exec_module(goals500)
goals500.table(4000, here)
