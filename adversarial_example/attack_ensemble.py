"""An attack ensemble for a two-class model: Auto-PGD and Square on the target margin.

Robust accuracy is measured as AutoAttack does it (Croce & Hein 2020): several attacks run in
order, each on the images that are still robust, and an image counts as robust only if no attack
fools it. The gradient attack is Auto-PGD (`apgd`, Croce & Hein 2020); the gradient-free one is
the score-based Square attack (`square_attack`, Andriushchenko et al. 2020), which only queries
the model's outputs and so is not misled by a hidden (masked) gradient. It is also much weaker
where the gradient is honest: at 2/255 on the notebook's 128x128 photos, 1,000 queries fool 10 of
87 photos of the plain model, all of which Auto-PGD fools (benchmarks/RESULTS.md, 2.8), so its
finding nothing is weak evidence on its own. The figure is an upper bound on the true robust
accuracy: a stronger attack could only lower it.

The loss. Every attack here pushes up the target margin, z_target - z_other (the logit of the
class the attack aims for minus the other one); an image is fooled when the margin is above 0.
AutoAttack's own losses cannot be used with two classes: its DLR loss divides the margin by
z_pi1 - z_pi3, the spread between the largest and the third-largest logit, so it needs 3 or more
classes, and its targeted DLR divides by z_pi1 - (z_pi3 + z_pi4) / 2, so it needs 4 or more.
With two classes the margin is what is left of DLR without the division (which only makes the
loss independent of the logits' scale; Auto-PGD's signed steps and its comparisons of losses do
not depend on that scale anyway). With two classes the cross-entropy of the true class is
softplus(margin) (the margin being the logit difference), an increasing function of the
margin, so its gradient points the same way: sigmoid(margin) times the margin's gradient. But
that factor is about exp(margin) on a confidently classified image (margin far below 0), and
when the cross-entropy is computed from the softmax output, as for a model that outputs
probabilities, its gradient is exactly 0 once the probability of the true class rounds to 1 in
float32 (Keras clips it at 1 - 1e-7: a margin below about -16): cross-entropy saturates and its
gradient vanishes, a gradient hidden by the loss and not by the model. From the logits, the
factor stays above 0 down to a margin of about -100; until then Auto-PGD on the cross-entropy
takes the margin's signed steps and makes the same comparisons (softplus is increasing). So the
margin loses nothing, and it does not saturate.

The threat model: 8-bit images, pixel values 0..255 stored as float32, and an L-inf budget of
`epsilon` counts (2 counts is 2/255). Every point an attack tries stays within `epsilon` of the
original and within 0..255. When epsilon and the images are whole numbers, an attack's final
images are rounded to whole numbers (they stay within the budget and 0..255) and an image counts
as fooled only if its ROUNDED image fools the model: the attack must produce a real 8-bit image.
Auto-PGD's points are rounded at the end; Square's points are whole numbers already (it sets
pixels to original +- epsilon, clipped to 0..255). With a fractional epsilon or fractional
images nothing is rounded, and the attacks work on float images.

The model is any `logits_model`: a callable from float32 images (n, height, width, channels) to
logits (n, 2), e.g. logits_of(model) from adversarial_cats_dogs_lib.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable, Mapping
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from common.checks import check_int

LogitsModel = Callable[[tf.Tensor], tf.Tensor]
PIXEL_MAX = 255.0

# Auto-PGD's constants (Croce & Hein 2020, section 3): the first step is 2 epsilon; momentum
# 0.75; checkpoints at 22% of the steps, then closer by 3% of the steps each time, at least 6%
# apart; at a checkpoint the step is halved where at most 75% of the steps since the last one
# raised the loss, or where the step was not halved last time and the best loss did not rise.
APGD_FIRST_STEP = 2.0
APGD_MOMENTUM = 0.75
APGD_RHO = 0.75
APGD_FIRST_CHECKPOINT = 0.22
APGD_CHECKPOINT_DECREASE = 0.03
APGD_MIN_CHECKPOINT_GAP = 0.06

# Square's schedule of p, the share of the image changed per query (Andriushchenko et al. 2020):
# p_init halved at these iterations of a 10,000-query run, scaled to the queries given.
SQUARE_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)
SQUARE_RESAMPLES = 10   # tries to draw a square that changes the image (the original's while loop)

# The ensemble measured for the robust model's record: each attack named, with its settings.
ENSEMBLE = {
    "apgd-margin": {"attack": "apgd", "steps": 100, "restarts": 2, "seed": 0},
    "square": {"attack": "square", "queries": 1000, "p_init": 0.05, "seed": 0},
}


class AttackResult(NamedTuple):
    """What an attack did to each image."""

    fooled: np.ndarray    # bool (n,): the image returned fools the model (margin > 0)
    images: np.ndarray    # float32 (n, h, w, c): the highest-margin point reached per image
    margins: np.ndarray   # float32 (n,): the target margin at those images
    queries: np.ndarray   # int (n,): model evaluations per image (with a gradient, for apgd)


# ---- checks and the model's margin

def _check_attack_inputs(images: np.ndarray, target_labels: np.ndarray, epsilon: float
                         ) -> tuple[np.ndarray, np.ndarray]:
    """The images as float32 and the targets as +-1 signs; ValueError on what cannot be used."""
    if not (isinstance(epsilon, (int, float, np.integer, np.floating)) and not isinstance(
            epsilon, bool) and math.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"epsilon must be a number of counts > 0, got {epsilon!r}")
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4:
        raise ValueError(f"images must have the shape (n, height, width, channels), "
                         f"got {images.shape}")
    if images.size and not (images.min() >= 0 and images.max() <= PIXEL_MAX):
        raise ValueError(f"pixel values must be in 0..255, got {images.min()}..{images.max()}")
    targets = np.asarray(target_labels)
    if targets.shape != (len(images),) or not np.isin(targets, (0, 1)).all():
        raise ValueError(f"target_labels must be {len(images)} labels of 0 or 1, "
                         f"got shape {targets.shape}")
    return images, np.where(targets == 1, 1.0, -1.0).astype(np.float32)


def rounds_to_8bit(images: np.ndarray, epsilon: float) -> bool:
    """Whether the attacks' final images are rounded: a whole epsilon and whole pixel values."""
    return float(epsilon).is_integer() and bool(np.all(images == np.rint(images)))


def _target_margin(logits: tf.Tensor, signs: tf.Tensor) -> tf.Tensor:
    """z_target - z_other per image, with sign +1 for target 1 and -1 for target 0."""
    return signs * (logits[:, 1] - logits[:, 0])


def _signature(images: np.ndarray) -> list[tf.TensorSpec]:
    """(images, signs) of any batch size: the compiled functions are traced once."""
    return [tf.TensorSpec((None, *images.shape[1:]), tf.float32),
            tf.TensorSpec((None,), tf.float32)]


def _margin_function(logits_model: LogitsModel, images: np.ndarray) -> Callable:
    """A compiled (images, signs) -> target margins, for queries without a gradient."""
    return tf.function(lambda x, signs: _target_margin(logits_model(x), signs),
                       input_signature=_signature(images))


def _margin_and_gradient_function(logits_model: LogitsModel, images: np.ndarray) -> Callable:
    """A compiled (images, signs) -> (target margins, their gradient w.r.t. every pixel)."""
    def margin_and_gradient(x, signs):
        with tf.GradientTape() as tape:
            tape.watch(x)
            margin = _target_margin(logits_model(x), signs)
        gradient = tape.gradient(margin, x)
        if gradient is None:   # no differentiable path from the pixels to the logits
            gradient = tf.zeros_like(x)
        return margin, gradient
    return tf.function(margin_and_gradient, input_signature=_signature(images))


def _evaluate(function: Callable, images: np.ndarray, signs: np.ndarray, batch_size: int
              ) -> list[np.ndarray]:
    """function(images, signs) run in batches; its outputs joined, as numpy arrays."""
    outputs = [function(tf.constant(images[i:i + batch_size]), tf.constant(signs[i:i + batch_size]))
               for i in range(0, len(images), batch_size)]
    outputs = [output if isinstance(output, tuple) else (output,) for output in outputs]
    return [np.concatenate([np.asarray(parts[k]) for parts in outputs])
            for k in range(len(outputs[0]))]


# ---- Auto-PGD

def apgd_checkpoints(steps: int) -> list[int]:
    """The steps after which Auto-PGD may halve its step: 22% in, then gaps 3% shorter, >= 6%."""
    gap = max(int(APGD_FIRST_CHECKPOINT * steps), 1)
    decrease = max(int(APGD_CHECKPOINT_DECREASE * steps), 1)
    least = max(int(APGD_MIN_CHECKPOINT_GAP * steps), 1)
    checkpoints = []
    while (checkpoints[-1] if checkpoints else 0) + gap <= steps:
        checkpoints.append((checkpoints[-1] if checkpoints else 0) + gap)
        gap = max(gap - decrease, least)
    return checkpoints


def _apgd_run(margin_and_gradient: Callable, originals: np.ndarray, signs: np.ndarray,
              epsilon: float, steps: int, rng: np.random.Generator
              ) -> tuple[np.ndarray, np.ndarray]:
    """One Auto-PGD run on one batch from a random start: (best points, their margins)."""
    low = np.maximum(originals - epsilon, 0.0)
    high = np.minimum(originals + epsilon, PIXEL_MAX)

    def evaluate(x):
        margin, gradient = margin_and_gradient(tf.constant(x), tf.constant(signs))
        return margin.numpy(), gradient.numpy()

    noise = rng.uniform(-epsilon, epsilon, originals.shape).astype(np.float32)
    x = np.clip(originals + noise, low, high)
    margin, gradient = evaluate(x)
    best_x, best_margin, best_gradient = x.copy(), margin.copy(), gradient.copy()
    step = np.full((len(x), 1, 1, 1), APGD_FIRST_STEP * epsilon, np.float32)
    previous, history = x, [margin]
    checkpoints, last_check = apgd_checkpoints(steps), 0
    best_at_check, halved_at_check = best_margin.copy(), np.ones(len(x), bool)
    for i in range(steps):
        weight = APGD_MOMENTUM if i > 0 else 1.0   # the new step's weight; the rest is momentum
        z = np.clip(x + step * np.sign(gradient), low, high)
        x, previous = np.clip(x + weight * (z - x) + (1 - weight) * (x - previous), low, high), x
        margin, gradient = evaluate(x)
        history.append(margin)
        better = margin > best_margin
        best_x[better], best_margin[better] = x[better], margin[better]
        best_gradient[better] = gradient[better]
        if i + 1 in checkpoints:
            gap, last_check = i + 1 - last_check, i + 1
            rises = np.sum(np.diff(np.stack(history[-gap - 1:]), axis=0) > 0, axis=0)
            halve = (rises <= APGD_RHO * gap) | (~halved_at_check & (best_at_check >= best_margin))
            step[halve] /= 2
            x[halve], gradient[halve] = best_x[halve], best_gradient[halve]   # restart from best
            halved_at_check, best_at_check = halve, best_margin.copy()
    return best_x, best_margin


def apgd(logits_model: LogitsModel, images: np.ndarray, target_labels: np.ndarray, *,
         epsilon: float, steps: int = 100, restarts: int = 1, seed: int = 0,
         batch_size: int = 100) -> AttackResult:
    """Auto-PGD (L-inf) on the target margin within `epsilon` counts; see the module docstring.

    Each restart is a run of `steps` signed-gradient steps from a random point of the
    epsilon-ball, with Auto-PGD's schedule: a first step of 2 epsilon, momentum 0.75, and at each
    checkpoint the step halved, and the run moved back to its best point, for the images where
    the margin stopped rising. A run keeps every image of its batch to the end (a higher margin
    survives rounding better); each later restart attacks only the images not yet fooled, so
    restarts only add fooled images. The images returned are the highest-margin points found,
    rounded to whole counts when rounds_to_8bit(images, epsilon); an image is fooled when the
    returned (so, rounded) image has a margin above 0. queries: gradient evaluations per image.
    """
    originals, signs = _check_attack_inputs(images, target_labels, epsilon)
    check_int("steps", steps, 0)
    check_int("restarts", restarts, 1)
    check_int("batch_size", batch_size, 1)
    rounding = rounds_to_8bit(originals, epsilon)
    margin_and_gradient = _margin_and_gradient_function(logits_model, originals)
    margin_only = _margin_function(logits_model, originals)
    result = originals.copy()
    margins = np.full(len(originals), -np.inf, np.float32)
    queries = np.zeros(len(originals), int)
    rng = np.random.default_rng(seed)
    for _ in range(restarts):
        todo = np.flatnonzero(margins <= 0)
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            reached, margin = _apgd_run(margin_and_gradient, originals[batch], signs[batch],
                                        epsilon, steps, rng)
            if rounding:   # whole counts within the ball stay within it and within 0..255
                reached = np.rint(reached)
                margin = _evaluate(margin_only, reached, signs[batch], batch_size)[0]
            queries[batch] += steps + 1
            better = margin > margins[batch]
            result[batch[better]], margins[batch[better]] = reached[better], margin[better]
    return AttackResult(margins > 0, result, margins, queries)


# ---- Square

def square_p(p_init: float, iteration: int, queries: int) -> float:
    """Square's share of the image changed at `iteration`: p_init halved on its schedule."""
    at = int(iteration / queries * 10000)   # the schedule is set for 10,000 queries
    return p_init / 2 ** sum(at > halving for halving in SQUARE_HALVINGS)


def square_side(p: float, height: int, width: int) -> int:
    """The side of Square's square that changes a share p of the pixels: 1 to min side - 1."""
    return min(max(int(round(math.sqrt(p * height * width))), 1), min(height, width) - 1)


def _propose_squares(best: np.ndarray, originals: np.ndarray, side: int, epsilon: float,
                     rng: np.random.Generator) -> np.ndarray:
    """best with one square per image set to original +- epsilon, one random sign per channel.

    A square that would leave an image unchanged is drawn again (up to SQUARE_RESAMPLES times),
    as in the original code: a query is not spent on a point already tried. The square's corner
    is anywhere from 0 to height - side (the original code stops one short, so that its last row
    and column are never changed by a square of side 1: on 8x8 images, a quarter of the pixels).
    """
    n, height, width, channels = best.shape
    top = rng.integers(0, height - side + 1, n)[:, None]
    left = rng.integers(0, width - side + 1, n)[:, None]
    rows, cols = np.arange(height), np.arange(width)
    inside = (((rows >= top) & (rows < top + side))[:, :, None]
              & ((cols >= left) & (cols < left + side))[:, None, :])[..., None]
    proposal = best.copy()
    redraw = np.ones(n, bool)
    for _ in range(SQUARE_RESAMPLES):
        sign = rng.choice(np.array([-epsilon, epsilon], np.float32), (int(redraw.sum()), 1, 1,
                                                                      channels))
        proposal[redraw] = np.where(inside[redraw],
                                    np.clip(originals[redraw] + sign, 0.0, PIXEL_MAX),
                                    best[redraw])
        redraw &= np.all(proposal == best, axis=(1, 2, 3))
        if not redraw.any():
            break
    return proposal


def square_attack(logits_model: LogitsModel, images: np.ndarray, target_labels: np.ndarray, *,
                  epsilon: float, queries: int = 1000, p_init: float = 0.05, seed: int = 0,
                  batch_size: int = 100) -> AttackResult:
    """The score-based L-inf Square attack on the target margin; see the module docstring.

    Starts from vertical stripes: each column of each channel moved by +epsilon or -epsilon.
    Each query then sets one square, at a random place and with one random sign per channel, to
    original +- epsilon, and keeps the change when the margin rises. The square's side covers a
    share p of the pixels, p_init halved on Square's schedule (square_p). Only images not yet
    fooled are queried; queries is the most per image, the starting point counted. Every point is
    original +- epsilon clipped to 0..255, so whole numbers when rounds_to_8bit(images, epsilon).
    """
    originals, signs = _check_attack_inputs(images, target_labels, epsilon)
    check_int("queries", queries, 1)
    check_int("batch_size", batch_size, 1)
    if not (isinstance(p_init, (int, float)) and 0 < p_init <= 1):
        raise ValueError(f"p_init is a share of the pixels, in (0, 1], got {p_init!r}")
    margin_of = _margin_function(logits_model, originals)
    rng = np.random.default_rng(seed)
    n, height, width, channels = originals.shape
    stripes = rng.choice(np.array([-epsilon, epsilon], np.float32), (n, 1, width, channels))
    best = np.clip(originals + stripes, 0.0, PIXEL_MAX)
    margins = _evaluate(margin_of, best, signs, batch_size)[0] if n else np.zeros(0, np.float32)
    used = np.ones(n, int)
    for i in range(queries - 1):
        todo = np.flatnonzero(margins <= 0)
        if len(todo) == 0:
            break
        side = square_side(square_p(p_init, i, queries), height, width)
        proposal = _propose_squares(best[todo], originals[todo], side, epsilon, rng)
        margin = _evaluate(margin_of, proposal, signs[todo], batch_size)[0]
        used[todo] += 1
        better = margin > margins[todo]
        best[todo[better]], margins[todo[better]] = proposal[better], margin[better]
    return AttackResult(margins > 0, best, margins, used)


# ---- the ensemble

ATTACKS = {"apgd": apgd, "square": square_attack}


def _check_ensemble(attacks: Mapping[str, Mapping]) -> None:
    """ValueError naming an attack of unknown kind or a setting its function does not take."""
    if not attacks:
        raise ValueError("attacks is empty: name at least one")
    for name, settings in attacks.items():
        kind = settings.get("attack")
        if kind not in ATTACKS:
            raise ValueError(f"attack {name!r}: 'attack' must be one of {sorted(ATTACKS)}, "
                             f"got {kind!r}")
        taken = {parameter.name for parameter in inspect.signature(ATTACKS[kind]).parameters
                 .values() if parameter.kind is inspect.Parameter.KEYWORD_ONLY}
        unknown = sorted(set(settings) - {"attack"} - (taken - {"epsilon", "batch_size"}))
        if unknown:
            raise ValueError(f"attack {name!r} ({kind}) has no setting {', '.join(unknown)}")


def clean_predictions(logits_model: LogitsModel, images: np.ndarray, batch_size: int = 100
                      ) -> np.ndarray:
    """The class each image is given (argmax of the logits), in batches."""
    images = np.asarray(images, np.float32)
    predict = tf.function(lambda x: tf.argmax(logits_model(x), axis=1),
                          input_signature=_signature(images)[:1])
    return np.concatenate([predict(tf.constant(images[i:i + batch_size])).numpy()
                           for i in range(0, len(images), batch_size)] or [np.zeros(0, int)])


def ensemble_robust_accuracy(logits_model: LogitsModel, images: np.ndarray, labels: np.ndarray,
                             *, epsilon: float, attacks: Mapping[str, Mapping] = ENSEMBLE,
                             batch_size: int = 100) -> dict:
    """Robust accuracy within `epsilon` counts under AutoAttack's rule; the worst case.

    attacks: name -> settings, run in this order; settings hold the kind ("attack": "apgd" or
    "square") and the function's keyword settings (steps, restarts, queries, p_init, seed).
    Images the model gets wrong without attack count as not robust and are not attacked; each
    attack then runs on the images still robust, pushing up the margin of the other class (the
    module docstring says why the margin, not DLR or cross-entropy), and an image is
    robust only if no attack fools it. Returns a dict: epsilon, images, clean_correct,
    clean_accuracy, rounded_to_8bit, attacks (per attack: name, settings, attacked, fooled (newly
    fooled), robust_after, seconds), robust and robust_accuracy (the worst case over the
    ensemble, of all images) and robust_mask (bool per image).
    """
    originals, _ = _check_attack_inputs(images, labels, epsilon)
    labels = np.asarray(labels)
    _check_ensemble(attacks)
    robust = clean_predictions(logits_model, originals, batch_size) == labels
    clean_correct = int(robust.sum())
    reports = []
    for name, settings in attacks.items():
        todo = np.flatnonzero(robust)
        start = time.perf_counter()
        options = {key: value for key, value in settings.items() if key != "attack"}
        outcome = ATTACKS[settings["attack"]](logits_model, originals[todo], 1 - labels[todo],
                                              epsilon=epsilon, batch_size=batch_size, **options)
        robust[todo[outcome.fooled]] = False
        reports.append({"name": name, "settings": dict(settings), "attacked": len(todo),
                        "fooled": int(outcome.fooled.sum()), "robust_after": int(robust.sum()),
                        "seconds": round(time.perf_counter() - start, 1)})
    n = len(originals)
    return {"epsilon": epsilon, "images": n, "clean_correct": clean_correct,
            "clean_accuracy": clean_correct / n if n else math.nan,
            "rounded_to_8bit": rounds_to_8bit(originals, epsilon), "attacks": reports,
            "robust": int(robust.sum()), "robust_accuracy": robust.sum() / n if n else math.nan,
            "robust_mask": robust}


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval of a share successes / n (95% with the default z)."""
    if n <= 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n > 0, got {successes} of {n}")
    share, z2 = successes / n, z * z
    centre = (share + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(share * (1 - share) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)
