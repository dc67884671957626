"""The issue's three goals at the 4,000 budget with the finer step grids (this folder's tune_400 and test_1000),
beside the curve's 400-sample test measurement on the usual grids, in the table of
results/budget500-1k-2026-12/goals.py (what each column is: its docstring).

    python results/grid4000-2026-12/goals.py
"""
import importlib.util
import os

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location('goals500', os.path.join(here, '..', 'budget500-1k-2026-12', 'goals.py'))
goals500 = importlib.util.module_from_spec(spec)
spec.loader.exec_module(goals500)
goals500.table(4000, here)
