"""Measurements run by hand from the repository root: python -m benchmarks.<name> --help.

The benchmarks import the modules beside the notebooks by name (`import spread_solver`), as the
notebooks and the tests do (pytest's pythonpath, in pyproject.toml): their folders go on sys.path.
"""
import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
for _folder in ("adversarial_example", "simple_height_vs_weight", "vector_spread_example"):
    if str(_ROOT / _folder) not in sys.path:
        sys.path.insert(0, str(_ROOT / _folder))
