"""Tests of simple_height_vs_weight/optimizer_sweep.py, the learning-rate sweep of notebook 4."""
from __future__ import annotations

import numpy as np
import optimizer_sweep
import pytest


@pytest.fixture(scope="module")
def sweep_module():
    """optimizer_sweep.py, the module beside notebook 4."""
    return optimizer_sweep


@pytest.fixture(scope="module")
def problem(sweep_module):
    """A small least-squares line fit: inputs, targets and the MSE as the notebook writes it."""
    tf = sweep_module.tf
    rng = np.random.default_rng(0)
    inputs = rng.normal(0.0, 1.0, 30)
    targets = 2.0 * inputs + 1.0 + rng.normal(0.0, 0.3, 30)

    def mse(slope, intercept, x, y):
        return tf.reduce_mean((slope * x + intercept - y) ** 2)

    return tf.constant(inputs), tf.constant(targets), mse


def eager_run(sweep_module, optimizer, mse, start, x, y, n):
    """The notebook's eager loop (section 2), for comparison."""
    tf = sweep_module.tf
    params = [tf.Variable(v, dtype=tf.float64) for v in start]
    history = []
    for _ in range(n):
        with tf.GradientTape() as tape:
            loss = mse(*params, x, y)
        grads = tape.gradient(loss, params)
        history.append([params[0].numpy(), params[1].numpy(), loss.numpy()])
        optimizer.apply_gradients(zip(grads, params))
    return np.array(history)


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "Adam"])
def test_compiled_run_is_the_eager_loop(sweep_module, problem, name):
    keras = sweep_module.keras
    x, y, mse = problem
    make = getattr(keras.optimizers, name)
    compiled = sweep_module.CompiledRun(make(learning_rate=0.05), mse, 40)
    for lr in (0.05, 0.2, 0.05):   # reused: each call starts afresh, whatever ran before
        got = compiled(lr, (0.0, 0.0), x, y)
        want = eager_run(sweep_module, make(learning_rate=lr), mse, (0.0, 0.0), x, y, 40)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_sweep_gives_every_optimizer_every_rate(sweep_module, problem):
    keras = sweep_module.keras
    x, y, mse = problem
    makers = {"SGD": lambda lr: keras.optimizers.SGD(learning_rate=lr),
              "RMSprop": lambda lr: keras.optimizers.RMSprop(learning_rate=lr)}
    runs = sweep_module.sweep(makers, [0.01, 0.1], mse, start=(0.0, 0.0), inputs=x, targets=y,
                              n_iterations=5)
    assert list(runs) == ["SGD", "RMSprop"] and all(list(r) == [0.01, 0.1] for r in runs.values())
    assert runs["SGD"][0.1].shape == (5, 3)
    assert runs["SGD"][0.1][0].tolist()[:2] == [0.0, 0.0]          # the first row is the start


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(n_iterations=0), "n_iterations must be an integer >= 1, got 0"),
    (dict(n_iterations=1e3), "n_iterations must be an integer >= 1, got 1000.0"),
    (dict(targets_length=7), "differ in shape"),
])
def test_sweep_rejects_bad_input(sweep_module, problem, kwargs, message):
    keras, tf = sweep_module.keras, sweep_module.tf
    x, y, mse = problem
    targets = y[: kwargs.pop("targets_length")] if "targets_length" in kwargs else y
    settings = dict(learning_rates=[0.1], n_iterations=3) | kwargs
    with pytest.raises(ValueError, match=message):
        sweep_module.sweep({"SGD": lambda lr: keras.optimizers.SGD(learning_rate=lr)},
                           settings["learning_rates"], mse, start=(0.0, 0.0), inputs=x,
                           targets=tf.constant(targets), n_iterations=settings["n_iterations"])


def history_of(losses):
    """A history whose loss column is `losses` (slope and intercept do not matter here)."""
    losses = np.asarray(losses, dtype=float)
    return np.column_stack([np.zeros_like(losses), np.zeros_like(losses), losses])


def test_oscillates_only_when_the_loss_still_rises(sweep_module):
    settling = history_of(100 + 50 * 0.9 ** np.arange(60))
    swinging = history_of(100 + 5 * (1 + (-1) ** np.arange(60)))
    noisy = history_of(100 + 1e-13 * (-1) ** np.arange(60))      # rises of rounding size only
    late = history_of(np.r_[100 + 50 * 0.9 ** np.arange(50), 100.0, 101.0, 100.0 * np.ones(8)])
    assert not sweep_module.oscillates(settling, min_loss=90.0)
    assert sweep_module.oscillates(swinging, min_loss=90.0)
    assert not sweep_module.oscillates(noisy, min_loss=90.0)
    assert sweep_module.oscillates(late, min_loss=90.0)           # one rise in the last 20


def test_excess_text(sweep_module):
    text = sweep_module.excess_text
    assert text(history_of([5.0, np.nan]), 1.0) == "diverges"
    assert text(history_of([5.0, 1e13]), 1.0) == "diverges"
    assert text(history_of([5.0, 1.0 + 1e-9]), 1.0) == "< 1e-6"
    assert text(history_of([5.0, 3.25]), 1.0) == "2.2"
    assert text(history_of([5.0, 3.0, 4.0, 3.25]), 1.0) == "oscillates"


def test_iterations_to_stay_within(sweep_module):
    stay = sweep_module.iterations_to_stay_within
    assert stay(np.array([5.0, 1.005, 1.2, 1.001, 1.0]), 1.0, 0.01) == 3
    assert stay(np.array([1.0, 1.0]), 1.0, 0.01) == 0
    assert stay(np.array([1.0, 1.5]), 1.0, 0.01) is None
    assert stay(np.array([1.0, np.nan]), 1.0, 0.01) is None


def test_best_run_settles_soonest_else_swings_least_high(sweep_module):
    settled_late = history_of([9.0] * 10 + [1.0] * 30)
    settled_early = history_of([9.0] * 2 + [1.0] * 38)
    swinging_low = history_of(1.5 + 0.5 * (-1) ** np.arange(40))
    swinging_high = history_of(3.0 + 1.0 * (-1) ** np.arange(40))
    best = sweep_module.best_runs(
        {"A": {0.1: settled_late, 1.0: settled_early, 3.0: swinging_low},
         "B": {0.1: swinging_high, 1.0: swinging_low}}, min_loss=1.0, tolerance=0.01)
    assert best["A"][0] == 1.0 and best["B"][0] == 1.0


def test_tables_print_no_number_for_an_oscillating_run(sweep_module):
    settling = history_of([3.0, 2.0, 1.5, 1.25])
    swinging = history_of(2.0 + 0.5 * (-1) ** np.arange(30))
    table = sweep_module.sweep_table({"A": {0.1: settling, 1.0: swinging}}, min_loss=1.0)
    assert table.splitlines()[2].split() == ["0.1", "0.25"]
    assert table.splitlines()[3].split() == ["1", "oscillates"]
    best = sweep_module.best_table({"A": (1.0, swinging), "B": (0.1, settling)}, 1.0, 0.01,
                                   exact=(2.0, 1.0))
    rows = {line.split()[0]: line.split()[1:] for line in best.splitlines()[1:3]}
    assert rows["A"] == ["1", "never", "oscillates", "(swings)"]   # no line: it depends on rounding
    assert rows["B"] == ["0.1", "never", "0.25", "0.000", "0.00"]
