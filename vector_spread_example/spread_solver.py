"""The vector-spread solver of vector_spread_example.ipynb's deep dive (section 4).

The notebook imports this module from its own folder and shows the ideas (batched restarts in one
tensor, the rising-exponent surrogate, the exact polish); this is the engineering around them.
Two solvers: `solve_thomson` (lowest Coulomb energy) and `solve_max_min_angle` (largest smallest
angle), and two exact NumPy measures of a result, `min_angle_deg` and `riesz_energy`.
"""

from __future__ import annotations

import functools
import time
from typing import NamedTuple

import numpy as np
import scipy.optimize
import scipy.sparse

import common
from common.checks import check_int, check_positive

with common.quiet_tensorflow_startup():   # TensorFlow's C++ start-up notices, hidden
    import tensorflow as tf

# The exponents of the max-min surrogate: Riesz energies whose minimisers approach max-min
# configurations as s grows (the largest, 1536, needs distances in units of the smallest one).
SURROGATE_EXPONENTS = (6.0, 24.0, 96.0, 384.0, 1536.0)


# ---- the exact (NumPy) measures used to report results

def _as_points(vectors: object) -> np.ndarray:
    """`vectors` as a finite float64 (N, d) array with N >= 2 and d >= 2."""
    # the slips: a (B, N, d) batch for one configuration, or the NaNs of a descent that blew up
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise ValueError(f"vectors must be an (N, d) array with N >= 2 and d >= 2, "
                         f"got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("vectors must be finite")
    return x


def min_angle_deg(vectors: object) -> float:
    """Smallest angle (degrees) between any two of the N row vectors (lengths are ignored)."""
    x = _as_points(vectors)
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    d2 = np.sum((u[:, None, :] - u[None, :, :]) ** 2, axis=-1)
    d2[np.diag_indices(len(u))] = np.inf
    # 2*arcsin(chord/2) is accurate for small and large angles alike (arccos is not near 0).
    return float(np.degrees(2 * np.arcsin(min(np.sqrt(d2.min()) / 2, 1.0))))


def riesz_energy(vectors: object, s: float = 1.0) -> float:
    """Riesz s-energy sum_{i<j} 1/|x_i - x_j|^s of the N points (rows), as given."""
    x = _as_points(vectors)
    i, j = np.triu_indices(len(x), k=1)
    r = np.linalg.norm(x[i] - x[j], axis=1)
    return float(np.sum(r ** -float(s)))


# ---- batched energies and the compiled descent

def random_unit_vectors(batch: int, n: int, dims: int, rng: np.random.Generator) -> np.ndarray:
    """(batch, n, dims) float64 array of random unit rows, uniform on the sphere."""
    x = rng.standard_normal((batch, n, dims))
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def squared_distances(x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(off, d2) of a (B, N, d) batch: off-diagonal mask, squared distances (1 on the diagonal)."""
    n = tf.shape(x)[1]
    off = 1.0 - tf.eye(n, dtype=x.dtype)
    # the diagonal is set to 1, so that no distance there is ever divided by or logged as 0
    d2 = tf.maximum(2.0 - 2.0 * tf.matmul(x, x, transpose_b=True), 1e-30) + (1.0 - off)
    return off, d2


@tf.function(reduce_retracing=True)
def batched_riesz_energy(x: tf.Tensor, s: tf.Tensor, unit: tf.Tensor | None = None) -> tf.Tensor:
    """Riesz s-energy of each configuration in a (B, N, d) batch of unit vectors: shape (B,).

    unit: optional (B,) length unit for the distances; measuring them in units of the smallest
    distance keeps every term <= 1 even for a large exponent s.
    """
    off, d2 = squared_distances(x)
    log_d2 = tf.math.log(d2)
    if unit is not None:
        log_d2 -= 2.0 * tf.math.log(unit)[:, None, None]
    r_pow = tf.exp(-0.5 * s * off * log_d2)     # r^-s; exp(0) = 1 on the diagonal, never inf
    return 0.5 * tf.reduce_sum(off * r_pow, axis=[1, 2])


def coulomb_energy(x: tf.Tensor) -> tf.Tensor:
    """Coulomb energy (s = 1) of each configuration in a (B, N, d) batch: one rsqrt per pair."""
    off, d2 = squared_distances(x)
    return 0.5 * tf.reduce_sum(off * tf.math.rsqrt(d2), axis=[1, 2])


def bb_step(k: tf.Tensor, alpha: tf.Tensor, x: tf.Tensor, x_new: tf.Tensor, g: tf.Tensor,
            g_new: tf.Tensor, gnorm_new: tf.Tensor) -> tf.Tensor:
    """Barzilai-Borwein step size for the next step of each configuration: shape (B, 1, 1).

    From the last move dx = x_new - x and the change of gradient dg = g_new - g, alternating the
    long (dx.dx / dx.dg) and the short (dx.dg / dg.dg) step; where dx.dg <= 0 (no curvature seen)
    the last step is doubled instead. Capped so that no step moves more than 0.3
    (gnorm_new: (B, 1, 1) gradient norms at x_new).
    """
    dx, dg = x_new - x, g_new - g
    sy = tf.reduce_sum(dx * dg, axis=[1, 2], keepdims=True)
    ss = tf.reduce_sum(dx * dx, axis=[1, 2], keepdims=True)
    yy = tf.reduce_sum(dg * dg, axis=[1, 2], keepdims=True)
    bb = tf.where(k % 2 == 0, ss / tf.maximum(sy, 1e-300), sy / tf.maximum(yy, 1e-300))
    alpha = tf.where(sy > 0, bb, 2.0 * alpha)
    return tf.minimum(alpha, 0.3 / (gnorm_new + 1e-300))


def _projected_descent(x: tf.Tensor, s: tf.Tensor, unit: tf.Tensor, steps: tf.Tensor,
                       tol: tf.Tensor, quorum: tf.Tensor, coulomb: bool = False
                       ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """Projected gradient descent with Barzilai-Borwein steps on a (B, N, d) batch.

    Minimises batched_riesz_energy(x, s, unit), or coulomb_energy(x) if coulomb=True. Runs at most
    `steps` steps; stops earlier once the lowest-energy configuration and a share `quorum` of the
    batch have gradient norm <= tol (quorum=1: all of them). Returns (x, energies, gradient norms,
    steps run). The public entry points are riemannian_descent and coulomb_descent below.
    """
    def energy_and_grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            e = coulomb_energy(x) if coulomb else batched_riesz_energy(x, s, unit)
        g = tape.gradient(e, x)
        g -= tf.reduce_sum(g * x, axis=-1, keepdims=True) * x  # tangent part only
        return e, g, tf.sqrt(tf.reduce_sum(g * g, axis=[1, 2]))

    def converged(e, gnorm):
        done = gnorm <= tol
        share = tf.reduce_mean(tf.cast(done, x.dtype))
        blown_up = tf.reduce_any(tf.math.is_nan(gnorm))       # (r/unit)^-s overflowed: stop here
        return blown_up or (tf.gather(done, tf.argmin(e)) and share >= quorum)

    e, g, gnorm = energy_and_grad(x)
    alpha = (0.01 / (gnorm + 1e-300))[:, None, None]          # first step moves ~0.01
    k = tf.constant(0)
    while k < steps and not converged(e, gnorm):
        x_new = x - alpha * g
        x_new /= tf.norm(x_new, axis=-1, keepdims=True)       # back onto the sphere
        e_new, g_new, gnorm_new = energy_and_grad(x_new)
        alpha = bb_step(k, alpha, x, x_new, g, g_new, gnorm_new[:, None, None])
        x, e, g, gnorm = x_new, e_new, g_new, gnorm_new
        k += 1
    return x, e, gnorm, k


# (x, s, unit, steps, tol, quorum): one graph for every batch size, N and d
ANY_SHAPE = [tf.TensorSpec([None, None, None], tf.float64), tf.TensorSpec([], tf.float64),
             tf.TensorSpec([None], tf.float64), tf.TensorSpec([], tf.int32),
             tf.TensorSpec([], tf.float64), tf.TensorSpec([], tf.float64)]
# The same Python function compiled twice: one TensorFlow graph for any shape, and with XLA, which
# fuses a step's elementwise work into a few loops (about three times faster on large batches) but
# compiles anew, in about half a second, for every new shape: only for the big, repeated batches.
_riesz_graph = tf.function(_projected_descent, input_signature=ANY_SHAPE)
_coulomb_graph = tf.function(functools.partial(_projected_descent, coulomb=True),
                             input_signature=ANY_SHAPE)
_coulomb_xla = tf.function(functools.partial(_projected_descent, coulomb=True),
                           jit_compile=True)                  # compiled once per shape


class Descent(NamedTuple):
    """What a batched descent returns (it unpacks as a tuple too)."""

    points: tf.Tensor           # (B, N, d) the configurations reached, unit rows
    energies: tf.Tensor         # (B,) their energies
    gradient_norms: tf.Tensor   # (B,) the norms of their gradients along the sphere
    steps: tf.Tensor            # how many steps ran (int32 scalar)


def _descent_args(starts: object, max_steps: object, gradient_tol: object,
                  converged_share: object) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """The common arguments of the two descents, checked and as the tensors the graphs take."""
    x = tf.convert_to_tensor(starts, tf.float64)
    # one (N, d) configuration for a batch of them: TensorFlow's own error would be cryptic
    if x.shape.rank != 3:
        raise ValueError(f"starts must be a (batch, N, d) array of unit rows, got shape {x.shape}")
    max_steps = check_int("max_steps", max_steps, 0)   # 1e4 is a float: the graph wants an int
    if not 0 < converged_share <= 1:   # 50 for 50% would never be reached: all steps would run
        raise ValueError(f"converged_share must be a share in (0, 1], got {converged_share!r}")
    return (x, tf.constant(max_steps), tf.constant(gradient_tol, tf.float64),
            tf.constant(converged_share, tf.float64))


def riemannian_descent(starts: object, *, exponent: float, distance_unit: object = None,
                       max_steps: int = 5000, gradient_tol: float, converged_share: float = 1.0
                       ) -> Descent:
    """Minimise the Riesz energy (exponent s) of each configuration of a (B, N, d) batch.

    Projected gradient steps on the sphere with Barzilai-Borwein step sizes, compiled into one
    graph. Stops after max_steps steps, or earlier once the lowest-energy configuration, and a
    share converged_share of the batch (1.0: all of them), have a gradient norm <= gradient_tol.
    distance_unit: optional (B,) length in which each configuration's distances are measured
    (its smallest distance keeps every term <= 1 for a large exponent); None: 1.
    """
    x, steps, tol, quorum = _descent_args(starts, max_steps, gradient_tol, converged_share)
    unit = (tf.ones([tf.shape(x)[0]], tf.float64) if distance_unit is None
            else tf.convert_to_tensor(distance_unit, tf.float64))
    return Descent(*_riesz_graph(x, tf.constant(exponent, tf.float64), unit, steps, tol, quorum))


def coulomb_descent(starts: object, *, max_steps: int = 5000, gradient_tol: float,
                    converged_share: float = 1.0, xla: bool = False) -> Descent:
    """Minimise the Coulomb energy (s = 1) of each configuration of a (B, N, d) batch.

    The same descent as riemannian_descent, with one rsqrt per pair. xla=True compiles it with
    XLA: about three times faster on large batches, but compiled anew for every new shape.
    """
    x, steps, tol, quorum = _descent_args(starts, max_steps, gradient_tol, converged_share)
    one, unit = tf.constant(1.0, tf.float64), tf.ones([tf.shape(x)[0]], tf.float64)
    return Descent(*(_coulomb_xla if xla else _coulomb_graph)(x, one, unit, steps, tol, quorum))


# ---- the Thomson solver: batched restarts and basin hopping

def _solver_args(n: object, dims: object, time_limit: object, max_rounds: object
                 ) -> tuple[int, int, float, int | None]:
    """The two solvers' checked arguments: (n, dims, time_limit, max_rounds)."""
    # Checked because the slip is silent or far away: n=N/2 is a float, max_rounds=0 would mean
    # "no limit" (the `or` in each solver), time_limit=None or 0 is a natural guess for "no
    # limit". Not checked: seed (NumPy's default_rng says what is wrong) and trace.
    return (check_int("n", n, 2), check_int("dims", dims, 2),
            check_positive("time_limit", time_limit),
            None if max_rounds is None else check_int("max_rounds", max_rounds, 1))


def _restart_batch(n: int) -> int:
    """The largest batch of restarts for n points: about 3200 / n, between 8 and 64."""
    return int(np.clip(3200 // n, 8, 64))


def kicks_around(best: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` perturbed copies of the (N, d) configuration `best`, as unit rows: (count, N, d).

    Half have every point jiggled (Gaussian, of growing sizes); the other half have 1 to 3 points
    moved to random places, which lets a defect of the arrangement hop somewhere else.
    """
    n, dims = best.shape
    n_jiggled = count - count // 2
    sigma = np.geomspace(0.3, 1.5, n_jiggled)[:, None, None] / np.sqrt(n)
    jiggled = best[None] + sigma * rng.standard_normal((n_jiggled, n, dims))
    moved = np.repeat(best[None], count // 2, axis=0)
    for m in moved:
        points = rng.choice(n, rng.integers(1, min(3, n) + 1), replace=False)
        m[points] = rng.standard_normal((len(points), dims))
    kicks = np.concatenate([jiggled, moved])
    return kicks / np.linalg.norm(kicks, axis=-1, keepdims=True)


def solve_thomson(n: int, dims: int = 3, seed: int = 0, *, time_limit: float = 50.0,
                  max_rounds: int | None = None, verbose: bool = False,
                  trace: list | None = None) -> np.ndarray:
    """(n, dims) float64 unit rows minimising the Coulomb (s=1) energy.

    Rounds of batched restarts: the first has 4 random starts, each later one doubles the batch
    up to _restart_batch(n) and fills part of it with kicks around the best so far. Stops once
    the best energy was reached from three independent random starts and at least n random starts
    ran, or when the next round would overrun `time_limit` seconds. trace: optional list;
    (seconds so far, best energy so far) is appended after each round.
    """
    n, dims, time_limit, max_rounds = _solver_args(n, dims, time_limit, max_rounds)
    rng = np.random.default_rng(seed)
    full_batch, batch = _restart_batch(n), 4
    tol = 1e-9 * n * n
    best_x, best_e, hits, random_starts, start = None, np.inf, 0, 0, time.perf_counter()
    for round_ in range(max_rounds or 10**6):
        t0 = time.perf_counter()
        x0 = random_unit_vectors(batch, n, dims, rng)
        n_random = batch
        if best_x is not None:   # the rest of the batch: kicks around the best (basin hopping)
            n_random = batch // 2 if n < 100 else batch // 4
            x0[n_random:] = kicks_around(best_x, batch - n_random, rng)
        random_starts += n_random
        # stop once the lowest and half of all restarts have converged: the rest rarely matter
        x, e, gnorm, steps_run = coulomb_descent(x0, max_steps=5000, gradient_tol=tol,
                                                 converged_share=0.5,
                                                 xla=batch == full_batch and n >= 64)
        e = np.where(gnorm.numpy() <= tol, e.numpy(), np.inf)   # converged restarts only
        i = int(np.argmin(e))
        same = np.isfinite(e) & (e <= e[i] + 1e-9 * max(1.0, e[i]))   # e[i] is the lowest
        if not np.isfinite(best_e) or e[i] < best_e - 1e-9 * max(1.0, best_e):
            best_e, best_x = e[i], x[i].numpy()
            hits = int(np.sum(same[:n_random]))
        else:
            hits += int(np.sum(np.abs(e[:n_random] - best_e) <= 1e-9 * max(1.0, best_e)))
        if trace is not None:
            trace.append((time.perf_counter() - start, float(best_e)))
        if verbose:
            print(f"round {round_}: batch {batch} best {best_e:.9f} hits {hits} "
                  f"steps {int(steps_run)} t={time.perf_counter() - start:.2f}s")
        last = time.perf_counter() - t0
        if (hits >= 3 and random_starts >= n) or time.perf_counter() - start + last > time_limit:
            break
        batch = min(2 * batch, full_batch)
    return best_x


# ---- the max-min solver: surrogates, then an exact polish

def _max_cos(x: np.ndarray) -> tuple[np.ndarray, float]:
    """Gram matrix of the unit rows of x with -inf on the diagonal, and its largest entry."""
    g = x @ x.T
    np.fill_diagonal(g, -np.inf)
    return g, g.max()


def polish_max_min_angle(x: object, max_iter: int = 300, deadline: float | None = None
                         ) -> np.ndarray:
    """Exact local max-min polish of the rows of x: sequential linear programming, trust region.

    Each step linearises the near-active constraints x_i.x_j <= u around x and solves
    min u over tangent moves |delta| <= r with an LP; accepted only if the true smallest angle
    grows. deadline: optional time.perf_counter() value; no LP runs past it (each LP gets the time
    left as its limit), and the best x so far is returned.
    """
    x = _as_points(x)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    n, d = x.shape
    g, cmax = _max_cos(x)
    r = 0.02
    eq_rows = np.repeat(np.arange(n), d)
    for _ in range(max_iter):
        time_left = np.inf if deadline is None else deadline - time.perf_counter()
        if time_left <= 0:
            break                                   # out of time: keep the best so far
        margin = 4 * np.sqrt(d) * r + 1e-12
        i, j = np.nonzero(np.triu(g >= cmax - margin, 1))
        m = len(i)
        rows = np.repeat(np.arange(m), 2 * d + 1)
        cols = np.concatenate([(i[:, None] * d + np.arange(d)), (j[:, None] * d + np.arange(d)),
                               np.full((m, 1), n * d)], axis=1).ravel()
        vals = np.concatenate([x[j], x[i], -np.ones((m, 1))], axis=1).ravel()
        a_ub = scipy.sparse.csr_array((vals, (rows, cols)), shape=(m, n * d + 1))
        a_eq = scipy.sparse.csr_array((x.ravel(), (eq_rows, np.arange(n * d))),
                                      shape=(n, n * d + 1))
        res = scipy.optimize.linprog(
            np.r_[np.zeros(n * d), 1.0], A_ub=a_ub, b_ub=-g[i, j], A_eq=a_eq, b_eq=np.zeros(n),
            bounds=[(-r, r)] * (n * d) + [(None, None)], method="highs",
            options={"time_limit": time_left} if deadline is not None else {})
        if res.status != 0 or cmax - res.x[-1] < 1e-13:
            break                                   # no predicted progress (or LP out of time)
        x_new = x + res.x[:-1].reshape(n, d)
        x_new /= np.linalg.norm(x_new, axis=1, keepdims=True)
        g_new, c_new = _max_cos(x_new)
        if c_new < cmax:
            x, g, cmax, r = x_new, g_new, c_new, min(2 * r, 0.1)
        else:
            r /= 4
            if r < 1e-10:
                break
    return x


def smallest_distances(x: tf.Tensor) -> tf.Tensor:
    """The smallest distance between two unit rows of each configuration of a (B, N, d) batch."""
    n = tf.shape(x)[1]
    gram = tf.matmul(x, x, transpose_b=True) - 2.0 * tf.eye(n, dtype=x.dtype)   # -1 on the diagonal
    return tf.sqrt(2.0 - 2.0 * tf.reduce_max(gram, axis=[1, 2]))


def rising_exponent_surrogate(x: tf.Tensor, exponents: tuple[float, ...] = SURROGATE_EXPONENTS,
                              max_steps: int = 300, deadline: float | None = None) -> tf.Tensor:
    """Minimise the Riesz s-energy of a (B, N, d) batch for each s in turn, as a max-min surrogate.

    Distances are measured in units of each configuration's smallest distance, so that r^-s stays
    finite for s = 1536; at most max_steps steps per exponent. deadline: optional
    time.perf_counter() value after which no further exponent starts (the first always runs).
    """
    n = int(x.shape[1])
    for k, s in enumerate(exponents):
        if k > 0 and deadline is not None and time.perf_counter() > deadline:
            break                                   # out of time: keep what we have
        x = riemannian_descent(x, exponent=s, distance_unit=smallest_distances(x),
                               max_steps=max_steps, gradient_tol=1e-6 * n).points
    return x


@tf.function(reduce_retracing=True)
def soft_sphere_descent(x: tf.Tensor, target_chord: tf.Tensor, n_steps: tf.Tensor
                        ) -> tuple[tf.Tensor, tf.Tensor]:
    """Soft-sphere packing: minimise sum relu(target_chord - |xi - xj|)^2 on a (B, N, d) batch.

    target_chord: (B,) distance each configuration tries to keep between all pairs; n_steps
    steps run. Only overlapping pairs push, so points already far enough apart are left alone.
    """
    def energy_and_grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            off, d2 = squared_distances(x)
            overlap = tf.nn.relu(target_chord[:, None, None] - tf.sqrt(d2))
            e = 0.5 * tf.reduce_sum(off * overlap ** 2, axis=[1, 2])
        g = tape.gradient(e, x)
        g -= tf.reduce_sum(g * x, axis=-1, keepdims=True) * x
        return e, g

    e, g = energy_and_grad(x)
    alpha = 0.01 / (tf.sqrt(tf.reduce_sum(g * g, axis=[1, 2], keepdims=True)) + 1e-300)
    for k in tf.range(n_steps):
        x_new = x - alpha * g
        x_new /= tf.norm(x_new, axis=-1, keepdims=True)
        e_new, g_new = energy_and_grad(x_new)
        gnorm_new = tf.sqrt(tf.reduce_sum(g_new * g_new, axis=[1, 2], keepdims=True))
        alpha = bb_step(k, alpha, x, x_new, g, g_new, gnorm_new)
        x, e, g = x_new, e_new, g_new
    return x, e


def _chord(angle_deg: np.ndarray | float) -> np.ndarray | float:
    """Distance between two unit vectors `angle_deg` degrees apart."""
    return 2.0 * np.sin(np.radians(angle_deg) / 2.0)


def solve_max_min_angle(n: int, dims: int = 3, seed: int = 0, *, time_limit: float = 40.0,
                        max_rounds: int | None = None, verbose: bool = False,
                        trace: list | None = None) -> np.ndarray:
    """(n, dims) float64 unit rows maximising the smallest pairwise angle.

    Round 0: the rising-exponent surrogate on a batch of random starts. Later rounds: soft-sphere
    packings aiming a little above the best angle so far. Each round polishes exactly the four most
    promising candidates and two kicked copies of the best. Stops once the best angle was reached
    from three independent soft-sphere starts (after 2 + n/4 rounds, or earlier if half of all
    those starts reached it), or when the time budget would be overrun. trace: optional list;
    (seconds so far, best angle so far) is appended after each round.
    """
    n, dims, time_limit, max_rounds = _solver_args(n, dims, time_limit, max_rounds)
    rng = np.random.default_rng(seed)
    batch = _restart_batch(n)
    max_rounds = max_rounds or (8 + n // 2)
    min_rounds = 2 + n // 4
    best_x, best_a, hits, polished = None, -np.inf, 0, 0
    start = time.perf_counter()
    deadline = start + time_limit

    def consider(xk, independent=True):
        nonlocal best_x, best_a, hits, polished
        xk = polish_max_min_angle(xk, deadline=deadline)
        a = min_angle_deg(xk)
        polished += independent
        if a > best_a + 1e-7:
            best_x, best_a, hits = xk, a, int(independent)
        elif a > best_a - 1e-7:
            hits += independent

    for round_ in range(max_rounds):
        t0 = time.perf_counter()
        x = tf.constant(random_unit_vectors(batch, n, dims, rng))
        if round_ == 0:
            # Riesz energy with a rising exponent: a smooth surrogate of the max-min angle
            xs = rising_exponent_surrogate(x, deadline=deadline).numpy()
            order = np.argsort([-min_angle_deg(xi) for xi in xs])
        else:
            # soft-sphere packings aiming a little above the best angle so far
            factors = np.linspace(1.0, 1.05, batch)
            x, e = soft_sphere_descent(x, target_chord=tf.constant(_chord(best_a * factors)),
                                       n_steps=tf.constant(400))
            xs, e = x.numpy(), e.numpy()
            order = np.argsort(e / _chord(best_a * factors) ** 2)     # least overlap first
        for k in order[:4]:
            if best_x is not None and time.perf_counter() - start > time_limit:
                break                                 # out of time: no further polish
            consider(xs[k], independent=round_ > 0)   # hits count soft-sphere starts only
        for sigma in (0.05, 0.2):                   # kicks around the best so far
            if time.perf_counter() - start > time_limit:
                break
            kicked = best_x + sigma / np.sqrt(n) * rng.standard_normal((n, dims))
            consider(kicked, independent=False)
        last = time.perf_counter() - t0
        if trace is not None:
            trace.append((time.perf_counter() - start, float(best_a)))
        if verbose:
            print(f"round {round_}: best {best_a:.9f} hits {hits}/{polished} "
                  f"t={time.perf_counter() - start:.1f}s")
        done = hits >= 3 and (round_ + 1 >= min_rounds or 2 * hits >= polished)
        if done or time.perf_counter() - start + last > time_limit:
            break
    return best_x
