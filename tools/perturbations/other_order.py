"""The data's rows, and the points of every random configuration, in another order.

Every sum over them then runs in another order: other last bits, the same mathematics.
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np

from tools.perturbations.inputs import perturb_inputs

SEED = 20261204  # the order the rows are put in: any fixed one


def reordered_rows(a: Any, order: np.random.Generator) -> Any:
    """A float table's rows (axis -2: a data file's rows, a configuration's points) reordered."""
    if not isinstance(a, np.ndarray) or a.ndim < 2 or a.dtype.kind != "f":
        return a
    return np.take(a, order.permutation(a.shape[-2]), axis=-2)


def apply() -> None:
    """Every table read with np.loadtxt or drawn with np.random.default_rng comes reordered."""
    order = np.random.Generator(np.random.PCG64(SEED))  # not default_rng: that one is patched
    perturb_inputs(functools.partial(reordered_rows, order=order))
