"""The learning-rate sweep of tf_optimizers.ipynb: each optimizer at each rate, runs compiled.

The notebook writes the optimization loop out in plain eager TensorFlow (section 2). A fair
comparison runs that loop for every optimizer at every learning rate: 5 x 14 runs of 150
iterations, twice. Eager, that takes about a minute; here each optimizer's loop is compiled once
with `tf.function` and reused for every rate, so the whole sweep takes seconds. The mathematics is
the loop of the notebook: the same loss, the same gradients, the same Keras update.

A run that keeps oscillating at a constant learning rate can be chaotic: its 150th iterate depends
on the last bits of every step before it, so another CPU, or the same rows summed in another order,
ends it elsewhere. So the tables print a number only for runs that have stopped oscillating (their
loss no longer rises in the last 20 iterations) and say "oscillates" for the others; a run that
oscillates is compared with the others by how high its loss still swings.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import keras
import numpy as np
import tensorflow as tf

from common.checks import check_int

Sweep = dict  # {optimizer name: {learning rate: History}}
Loss = Callable[[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]
History = np.ndarray  # one row per iteration: slope, intercept, loss (before that step)
DIVERGED = 1e12       # an excess this large (or not finite) is a run that blew up
WINDOW = 20           # iterations at the end of a run in which an oscillation is looked for
RISE = 1e-9           # a rise of the loss larger than this (relative) is no rounding noise


class CompiledRun:
    """One Keras optimizer's loop, compiled once; each call starts afresh at a given rate."""

    def __init__(self, optimizer: keras.optimizers.Optimizer, loss: Loss, n_iterations: int):
        self.optimizer, self.loss, self.n_iterations = optimizer, loss, n_iterations
        self.params = [tf.Variable(0.0, dtype=tf.float64, name=name)
                       for name in ("slope", "intercept")]
        optimizer.build(self.params)
        # The optimizer's state as a fresh one has it (Adagrad's accumulators do not start at 0).
        self._fresh_state = [variable.numpy() for variable in optimizer.variables]
        self._iterate = tf.function(self._loop)

    def _loop(self, inputs: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
        """The notebook's loop: record (slope, intercept, loss), then one optimizer step."""
        history = tf.TensorArray(tf.float64, size=self.n_iterations)
        for i in tf.range(self.n_iterations):
            with tf.GradientTape() as tape:
                loss = self.loss(*self.params, inputs, targets)
            grads = tape.gradient(loss, self.params)
            history = history.write(i, tf.stack([*self.params, loss]))
            self.optimizer.apply_gradients(zip(grads, self.params))
        return history.stack()

    def __call__(self, learning_rate: float, start: tuple[float, float], inputs: tf.Tensor,
                 targets: tf.Tensor) -> History:
        """One run from `start`: an (n_iterations, 3) array of slope, intercept and loss."""
        for variable, value in zip(self.optimizer.variables, self._fresh_state):
            variable.assign(value)
        self.optimizer.learning_rate = learning_rate
        for param, value in zip(self.params, start):
            param.assign(value)
        return self._iterate(inputs, targets).numpy()


def sweep(make_optimizer: Mapping[str, Callable[[float], keras.optimizers.Optimizer]],
          learning_rates: Sequence[float], loss: Loss, *, start: tuple[float, float],
          inputs: tf.Tensor, targets: tf.Tensor, n_iterations: int) -> Sweep:
    """For each optimizer, {learning rate: history} of a run from `start` at each rate.

    `loss(slope, intercept, inputs, targets)` is the notebook's MSE; `make_optimizer` maps a
    name to a function that makes that Keras optimizer for a learning rate.
    """
    n_iterations = check_int("n_iterations", n_iterations, 1)
    # (30, 1) inputs against (30,) targets would broadcast to a (30, 30) loss: wrong, silently
    if inputs.shape != targets.shape:
        raise ValueError(f"inputs {inputs.shape} and targets {targets.shape} differ in shape")
    runs = {}
    for name, make in make_optimizer.items():
        run = CompiledRun(make(learning_rates[0]), loss, n_iterations)
        runs[name] = {lr: run(lr, start, inputs, targets) for lr in learning_rates}
    return runs


def final_excess(history: History, min_loss: float) -> float:
    """The loss above its minimum after the last iteration; inf for a run that diverged."""
    excess = history[-1, 2] - min_loss
    return excess if np.isfinite(excess) and excess < DIVERGED else np.inf


def oscillates(history: History, min_loss: float, window: int = WINDOW) -> bool:
    """Whether the loss still rises, by more than rounding, in the last `window` iterations."""
    excess = history[-window:, 2] - min_loss
    rises = np.diff(excess) / np.maximum(np.abs(excess[:-1]), 1e-12)
    return bool(np.any(rises > RISE)) and excess[-1] >= 1e-6


def highest_excess(history: History, min_loss: float, window: int = WINDOW) -> float:
    """How high the loss rises above its minimum in the last `window` iterations."""
    excess = history[-window:, 2] - min_loss
    return float(excess.max()) if np.isfinite(excess).all() else np.inf


def iterations_to_stay_within(losses: np.ndarray, min_loss: float,
                              tolerance: float) -> int | None:
    """First iteration from which the loss stays within `tolerance` (relative) of the minimum.

    None: not within it at the last iteration.
    """
    outside = np.flatnonzero(~(losses <= min_loss * (1 + tolerance)))  # NaN counts as outside
    if outside.size == 0:
        return 0
    return None if outside[-1] == len(losses) - 1 else int(outside[-1] + 1)


def best_runs(sweeps: Sweep, min_loss: float,
              tolerance: float) -> dict[str, tuple[float, History]]:
    """For each optimizer, (learning rate, history) of its best run.

    The best run stays within `tolerance` of the minimum soonest; among runs that never do, the
    one whose loss swings least high in its last iterations.
    """
    def rank(run: tuple[float, History]) -> tuple[float, float]:
        settled = iterations_to_stay_within(run[1][:, 2], min_loss, tolerance)
        return (np.inf if settled is None else settled, highest_excess(run[1], min_loss))

    return {name: min(runs.items(), key=rank) for name, runs in sweeps.items()}


def excess_text(history: History, min_loss: float) -> str:
    """The loss above its minimum at the end: a number, 'diverges' or 'oscillates'."""
    excess = final_excess(history, min_loss)
    if np.isinf(excess):
        return "diverges"
    if oscillates(history, min_loss):
        return "oscillates"
    return "< 1e-6" if excess < 1e-6 else f"{excess:.2g}"


def sweep_table(sweeps: Sweep, min_loss: float) -> str:
    """The loss above its minimum after the last iteration, one row per learning rate."""
    names = list(sweeps)
    rates = list(sweeps[names[0]])
    n_iterations = len(sweeps[names[0]][rates[0]])
    lines = [f"MSE − minimum after {n_iterations} iterations, for each learning rate",
             f"{'η':>7}" + "".join(f"{name:>16}" for name in names)]
    for lr in rates:
        lines.append(f"{lr:7g}" + "".join(
            f"{excess_text(sweeps[name][lr], min_loss):>16}" for name in names))
    return "\n".join(lines)


def best_table(best: dict[str, tuple[float, History]], min_loss: float, tolerance: float, *,
               exact: tuple[float, float],
               to_original_units: Callable[[float, float], tuple[float, float]] | None = None
               ) -> str:
    """Each optimizer's best run: when it settles, how far above the minimum it ends, its line.

    The line of a run that still oscillates is not printed (it depends on rounding).
    """
    convert = to_original_units or (lambda slope, intercept: (slope, intercept))
    within = f"within {100 * tolerance:g}% from"
    lines = [f"{'optimizer':16}{'best η':>8}{within:>18}{'MSE − minimum':>15}{'slope':>8}"
             f"{'intercept':>11}"]
    for name, (lr, history) in best.items():
        settled = iterations_to_stay_within(history[:, 2], min_loss, tolerance)
        settled = "never" if settled is None else f"iteration {settled}"
        excess = excess_text(history, min_loss)
        if excess == "oscillates":
            line = f"{'(swings)':>19}"
        else:
            slope, intercept = convert(*history[-1, :2])
            line = f"{slope:8.3f}{intercept:11.2f}"
        lines.append(f"{name:16}{lr:8g}{settled:>18}{excess:>15}{line}")
    lines.append(f"{'exact (least squares)':40}{'0':>15}{exact[0]:8.3f}{exact[1]:11.2f}")
    return "\n".join(lines)


