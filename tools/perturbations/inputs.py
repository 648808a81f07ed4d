"""The data files and random draws the notebooks start from, handed to a perturbation."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Perturb = Callable[[Any], Any]


class PerturbedGenerator(np.random.Generator):
    """The same random stream; every array of floats it draws goes through `perturb`."""

    def __init__(self, bit_generator: np.random.BitGenerator, perturb: Perturb):
        super().__init__(bit_generator)
        self.perturb = perturb

    def standard_normal(self, *args, **kwargs):
        return self.perturb(super().standard_normal(*args, **kwargs))

    def normal(self, *args, **kwargs):
        return self.perturb(super().normal(*args, **kwargs))

    def random(self, *args, **kwargs):
        return self.perturb(super().random(*args, **kwargs))

    def uniform(self, *args, **kwargs):
        return self.perturb(super().uniform(*args, **kwargs))


def perturb_inputs(perturb: Perturb) -> None:
    """Make np.loadtxt and np.random.default_rng hand every array they make to `perturb`."""
    loadtxt, default_rng = np.loadtxt, np.random.default_rng

    def perturbed_loadtxt(*args, **kwargs):
        """np.loadtxt, its table perturbed."""
        return perturb(loadtxt(*args, **kwargs))

    def perturbed_default_rng(seed=None) -> PerturbedGenerator:
        """np.random.default_rng(seed)'s stream, every float draw perturbed."""
        return PerturbedGenerator(default_rng(seed).bit_generator, perturb)

    np.loadtxt = perturbed_loadtxt
    np.random.default_rng = perturbed_default_rng
