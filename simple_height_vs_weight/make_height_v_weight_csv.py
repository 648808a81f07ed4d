"""Write height_v_weight.csv: 150 synthetic adult men, height (inches) and weight (pounds).

The notebooks only read the CSV; this script documents where it came from and rewrites it
identically (seeded). Parameters are realistic for adult men in the USA, after the CDC's
NHANES 2015-2018 body-measurement tables and the usual height-weight correlation:
- height: normal, mean 69.0 in (175 cm), standard deviation 2.9 in;
- weight: mean 199.8 lb, standard deviation 40 lb, correlation with height 0.45,
  so weight = 199.8 + 0.45 * (40 / 2.9) * (height - 69.0) + normal noise
  with standard deviation 40 * sqrt(1 - 0.45**2) (about 6.2 lb more per inch).
Values are rounded to 0.1 in and 0.1 lb, as a tape measure and a scale would give them.

Run: python make_height_v_weight_csv.py
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from common.files import write_atomically

SEED = 2024
N_PEOPLE = 150
HEIGHT_MEAN_IN, HEIGHT_SD_IN = 69.0, 2.9
WEIGHT_MEAN_LB, WEIGHT_SD_LB = 199.8, 40.0
CORRELATION = 0.45


def sample_people(n: int = N_PEOPLE, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Heights (in) and weights (lb) of n synthetic adult men."""
    rng = np.random.default_rng(seed)
    height = rng.normal(HEIGHT_MEAN_IN, HEIGHT_SD_IN, n)
    slope = CORRELATION * WEIGHT_SD_LB / HEIGHT_SD_IN
    noise_sd = WEIGHT_SD_LB * np.sqrt(1 - CORRELATION**2)
    weight = WEIGHT_MEAN_LB + slope * (height - HEIGHT_MEAN_IN) + rng.normal(0, noise_sd, n)
    return np.round(height, 1), np.round(weight, 1)


def write_csv(path: Path) -> None:
    """Write the table atomically (temp file, then replace)."""
    height, weight = sample_people()

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["height_in", "weight_lb"])
            writer.writerows((f"{h:.1f}", f"{w:.1f}") for h, w in zip(height, weight, strict=True))

    write_atomically(path, write)


if __name__ == "__main__":
    write_csv(Path(__file__).with_name("height_v_weight.csv"))
