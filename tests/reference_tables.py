"""Read the published record tables in tests/reference/ (see tests/reference/README.md).

For tests and benchmarks only: the solvers under test never read these tables.
"""
from __future__ import annotations

import csv
from pathlib import Path

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"

THOMSON = "thomson_energies_N2-200.csv"
TAMMES = "tammes_angles_N2-30.csv"


def read_table(name: str, column: str) -> dict[int, float]:
    """{N: value} from the reference table `name` (a CSV file with columns N and `column`).

    Raises FileNotFoundError if there is no such table and KeyError if it has no such column.
    """
    with open(REFERENCE_DIR / name, newline="") as f:
        rows = list(csv.DictReader(f))
    if rows and column not in rows[0]:
        raise KeyError(f"{name} has no column {column!r}; it has {list(rows[0])}")
    return {int(row["N"]): float(row[column]) for row in rows}


def thomson_energies() -> dict[int, float]:
    """Best-known Thomson (Coulomb) energies of N = 2..200 points on the sphere in R^3."""
    return read_table(THOMSON, "best_known_energy")


def tammes_angles() -> dict[int, float]:
    """Best-known Tammes angles (degrees) of N = 2..30 points on the sphere in R^3."""
    return read_table(TAMMES, "best_known_min_angle_deg")
