"""Argument checks for the public entry points a learner calls: one line, one clear message."""
from __future__ import annotations

import math
from numbers import Integral, Real


def check_int(name: str, value: object, minimum: int) -> int:
    """`value` as an int >= `minimum`; else a ValueError that names the argument and the value."""
    # bool is an int to Python, but loop=False or n=True is a slip, never a count
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_positive(name: str, value: object) -> float:
    """`value` as a positive, finite float; else a ValueError that names the argument and value."""
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 < value < math.inf:
        raise ValueError(f"{name} must be a positive, finite number, got {value!r}")
    return float(value)
