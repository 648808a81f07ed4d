"""Every input, starting point and loaded weight moved up by one unit in the last place (ulp)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tools.perturbations.inputs import perturb_inputs

# The entered variable-creator scope, kept for the whole kernel session: if it were garbage
# collected, its generator's exit would undo it.
_kept_scopes: list = []


def one_ulp_up(a: Any) -> Any:
    """Every float (an array's or a Python float) moved up by one ulp; anything else as it is."""
    if isinstance(a, np.ndarray) and a.dtype.kind == "f":
        return np.nextafter(a, np.inf)
    if isinstance(a, float):
        return float(np.nextafter(a, np.inf))
    return a


def nudged(value: Any, dtype: Any = None) -> Any:
    """A variable's starting value, moved up by one ulp if it is a float tensor."""
    tensor = tf.convert_to_tensor(value, dtype=dtype)
    if not tensor.dtype.is_floating:
        return value
    return tf.math.nextafter(tensor, tf.constant(np.inf, tensor.dtype))


def nudging_creator(next_creator: Callable, **kwargs) -> tf.Variable:
    """Every new tf.Variable (parameters, optimizer states) starts one ulp off.

    Not a learning rate: that is a setting the reader chose, not a starting point.
    """
    initial, dtype = kwargs.get("initial_value"), kwargs.get("dtype")
    if initial is not None and "learning_rate" not in (kwargs.get("name") or ""):
        kwargs["initial_value"] = ((lambda: nudged(initial(), dtype)) if callable(initial)
                                   else nudged(initial, dtype))
    return next_creator(**kwargs)


def nudging_loader(load_model: Callable) -> Callable:
    """keras' load_model, every float weight of the model it reads moved up by one ulp."""

    def load_nudged_model(*args, **kwargs):
        model = load_model(*args, **kwargs)
        for weight in model.weights:
            if weight.dtype.startswith("float"):
                weight.assign(nudged(weight))
        return model

    return load_nudged_model


def apply() -> None:
    """Inputs, new variables and loaded models, for the rest of the kernel session."""
    scope = tf.variable_creator_scope(nudging_creator)
    scope.__enter__()
    _kept_scopes.append(scope)
    keras.saving.load_model = keras.models.load_model = nudging_loader(keras.saving.load_model)
    perturb_inputs(one_ulp_up)
