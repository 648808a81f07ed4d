"""The committed CSV is exactly what its seeded generator script writes."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

FOLDER = Path(__file__).resolve().parent.parent / "simple_height_vs_weight"


def load_generator():
    """Import make_height_v_weight_csv.py from the notebook folder."""
    spec = importlib.util.spec_from_file_location("make_csv",
                                                  FOLDER / "make_height_v_weight_csv.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_csv_matches_its_generator(tmp_path):
    generator = load_generator()
    generator.write_csv(tmp_path / "regenerated.csv")
    regenerated = (tmp_path / "regenerated.csv").read_bytes()
    assert regenerated == (FOLDER / "height_v_weight.csv").read_bytes()


def test_data_has_realistic_statistics():
    heights, weights = np.loadtxt(FOLDER / "height_v_weight.csv", delimiter=",", skiprows=1).T
    assert len(heights) == 150
    assert 67 < heights.mean() < 71 and 2 < heights.std() < 4
    assert 180 < weights.mean() < 220 and 30 < weights.std() < 50
    assert 0.3 < np.corrcoef(heights, weights)[0, 1] < 0.6
