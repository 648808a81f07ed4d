"""Tests of adversarial_example/attack_ensemble.py on models whose answer is known.

A linear model on small 8x8x3 images: logits (0, w.x + b), so the target margin is -|w.x + b|
for an image classified right and the best L-inf change of epsilon counts raises it by exactly
epsilon * ||w||_1 (every pixel moved by epsilon in the direction of its weight's sign, when no
pixel is within epsilon of 0 or 255). An image is fooled exactly when |w.x + b| < epsilon *
||w||_1. The same model with its pixels behind tf.stop_gradient has a zero gradient everywhere:
gradient attacks see nothing, a score-based one still sees the margin.
"""
import attack_ensemble as ae  # beside notebook 3; found through pytest's pythonpath
import numpy as np
import pytest
import tensorflow as tf

EPSILON = 2
SHAPE = (8, 8, 3)


def linear_model(w: np.ndarray, b: float, masked: bool = False):
    """Logits (0, w.x + b); masked: the pixels pass through tf.stop_gradient (gradient 0)."""
    weights = tf.constant(w.reshape(-1), tf.float32)

    def logits(images):
        x = tf.reshape(images, (tf.shape(images)[0], -1))
        score = tf.linalg.matvec(tf.stop_gradient(x) if masked else x, weights) + b
        return tf.stack([tf.zeros_like(score), score], axis=1)
    return logits


@pytest.fixture(scope="module")
def weights():
    """Weights of size 0.5 to 1.5 and random sign, and a bias that splits the classes."""
    rng = np.random.default_rng(1)
    w = rng.uniform(0.5, 1.5, SHAPE) * rng.choice([-1.0, 1.0], SHAPE)
    return w.astype(np.float32), float(-np.sum(w) * 127.5)


def images_by_margin(w: np.ndarray, b: float, bands: list[tuple[float, float, int]], seed: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whole-count images 20..235 with |w.x + b| / (EPSILON ||w||_1) in each band [lo, hi).

    bands: (lo, hi, count). Returns (images, labels the model gives them, their ratio).
    """
    rng = np.random.default_rng(seed)
    threshold = EPSILON * np.abs(w).sum()
    chosen = []
    for lo, hi, count in bands:
        found = []
        while len(found) < count:
            x = rng.integers(20, 236, (4000, *SHAPE)).astype(np.float32)
            ratio = np.abs(x.reshape(len(x), -1) @ w.reshape(-1) + b) / threshold
            found.extend(x[(ratio >= lo) & (ratio < hi)])
        chosen.extend(found[:count])
    images = np.stack(chosen)
    score = images.reshape(len(images), -1) @ w.reshape(-1) + b
    return images, (score > 0).astype(np.int32), np.abs(score) / threshold


def small_cnn():
    """A small untrained Keras CNN from 8x8x3 pixel values to 2 logits, steep enough to fool."""
    import keras
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input(SHAPE), keras.layers.Rescaling(1 / 32, offset=-4),
                             keras.layers.Conv2D(8, 3, activation="tanh"),
                             keras.layers.Flatten(), keras.layers.Dense(2)])


def margins_of(logits_model, images, targets) -> np.ndarray:
    """z_target - z_other, computed directly."""
    logits = np.asarray(logits_model(tf.constant(images, tf.float32)))
    return np.where(targets == 1, 1, -1) * (logits[:, 1] - logits[:, 0])


# ---- Auto-PGD

def test_apgd_fools_exactly_the_images_within_reach(weights):
    """Fooled exactly when |margin| < epsilon ||w||_1, at the corner epsilon * sign(w)."""
    w, b = weights
    images, labels, ratio = images_by_margin(w, b, [(0, 0.98, 30), (1.02, 3, 30)], seed=2)
    result = ae.apgd(linear_model(w, b), images, 1 - labels, epsilon=EPSILON, steps=20)
    np.testing.assert_array_equal(result.fooled, ratio < 1)
    direction = np.sign(w) * np.where(labels == 0, 1, -1)[:, None, None, None]
    np.testing.assert_array_equal(result.images, images + EPSILON * direction)
    np.testing.assert_allclose(result.margins, margins_of(linear_model(w, b), result.images,
                                                          1 - labels), rtol=1e-5, atol=1e-3)


def test_apgd_restarts_only_add_fooled_images(weights):
    """With a hidden gradient only random starts fool; more restarts, a superset fooled."""
    w, b = weights
    images, labels, _ = images_by_margin(w, b, [(0, 0.08, 40)], seed=3)
    masked = linear_model(w, b, masked=True)
    once = ae.apgd(masked, images, 1 - labels, epsilon=EPSILON, steps=5, restarts=1)
    five = ae.apgd(masked, images, 1 - labels, epsilon=EPSILON, steps=5, restarts=5)
    assert np.all(five.fooled[once.fooled])
    assert 0 < once.fooled.sum() < five.fooled.sum() < len(images)
    assert np.all(five.queries[~once.fooled] > once.queries[~once.fooled])


def test_apgd_checkpoints_are_the_papers():
    """Croce & Hein's checkpoints: 22% of the steps, then gaps 3% shorter, at least 6%."""
    assert ae.apgd_checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert ae.apgd_checkpoints(0) == []


def test_apgd_halves_its_step_to_reach_a_point_inside_the_ball():
    """A bowl whose top is inside the ball, at whole counts: only smaller steps land on it.

    The margin is 0.5 - ||x - top||^2, so only the top itself fools once rounded; steps of
    2 epsilon from a random start, clipped to the ball, would circle it.
    """
    rng = np.random.default_rng(9)
    top = rng.integers(50, 200, SHAPE).astype(np.float32)
    images = top + rng.integers(-4, 5, (10, *SHAPE)).astype(np.float32)

    def bowl(x):
        score = 0.5 - tf.reduce_sum(tf.reshape((x - top) ** 2, (tf.shape(x)[0], -1)), axis=1)
        return tf.stack([tf.zeros_like(score), score], axis=1)
    result = ae.apgd(bowl, images, np.ones(10, int), epsilon=4, steps=30)
    assert result.fooled.all()
    np.testing.assert_array_equal(result.images, np.broadcast_to(top, images.shape))


# ---- Square

def test_square_fools_the_images_within_reach_given_queries(weights):
    """Fooled when |margin| < 0.8 epsilon ||w||_1 (with queries); never beyond the bound."""
    w, b = weights
    images, labels, ratio = images_by_margin(w, b, [(0, 0.8, 20), (1.0, 3, 20)], seed=4)
    result = ae.square_attack(linear_model(w, b), images, 1 - labels, epsilon=EPSILON,
                              queries=1000)
    np.testing.assert_array_equal(result.fooled, ratio < 1)
    assert np.all(result.queries[~result.fooled] == 1000)
    np.testing.assert_allclose(result.margins, margins_of(linear_model(w, b), result.images,
                                                          1 - labels), rtol=1e-5, atol=1e-3)


def test_square_changes_every_pixel_the_last_row_and_column_too():
    """Square reaches the last row and column (the original code's side-1 squares never do)."""
    w = np.zeros((4, 4, 1), np.float32)
    w[3, 3] = 1.0
    images = np.full((10, 4, 4, 1), 100.0, np.float32)
    result = ae.square_attack(linear_model(w, -101.0), images, np.ones(10, int), epsilon=2,
                              queries=300)
    assert result.fooled.all()


def test_square_counts_queries_and_stops_on_fooled_images(weights):
    """Every image the model sees is counted, and a fooled image is not queried again."""
    w, b = weights
    images, labels, _ = images_by_margin(w, b, [(0, 0.3, 10), (1.2, 3, 5)], seed=5)
    seen = tf.Variable(0)
    linear = linear_model(w, b)

    def counting(x):
        seen.assign_add(tf.shape(x)[0])
        return linear(x)
    result = ae.square_attack(counting, images, 1 - labels, epsilon=EPSILON, queries=300)
    assert int(seen.numpy()) == result.queries.sum()
    assert np.all(result.queries[result.fooled] < 300)
    assert np.all(result.queries[~result.fooled] == 300)


# ---- both attacks: the threat model

@pytest.mark.parametrize("attack", ["apgd", "square"])
@pytest.mark.parametrize("epsilon", [3, 1.5])
def test_attacks_stay_in_the_budget_and_in_8_bit(attack, epsilon):
    """Within epsilon and 0..255 (pixels at 0 and 255 too); whole counts with a whole epsilon."""
    rng = np.random.default_rng(6)
    images = rng.integers(0, 256, (12, *SHAPE)).astype(np.float32)
    images[:4, :2] = 0
    images[4:8, :2] = 255
    model = small_cnn()
    targets = 1 - ae.clean_predictions(model, images)
    settings = {"steps": 10, "restarts": 2} if attack == "apgd" else {"queries": 50}
    result = ae.ATTACKS[attack](model, images, targets, epsilon=epsilon, **settings)
    assert np.abs(result.images - images).max() <= epsilon
    assert result.images.min() >= 0 and result.images.max() <= 255
    assert 0 < result.fooled.sum() < len(images)
    if float(epsilon).is_integer():
        np.testing.assert_array_equal(result.images, np.rint(result.images))
    # fooled is decided on the images returned (for apgd: after rounding)
    np.testing.assert_array_equal(result.fooled, margins_of(model, result.images, targets) > 0)


def test_rounds_to_8bit_only_with_whole_epsilon_and_pixels():
    """The 8-bit rule applies when both the budget and the pixel values are whole numbers."""
    whole = np.full((1, *SHAPE), 10.0, np.float32)
    assert ae.rounds_to_8bit(whole, 2) and ae.rounds_to_8bit(whole, 2.0)
    assert not ae.rounds_to_8bit(whole, 1.5)
    assert not ae.rounds_to_8bit(whole + 0.25, 2)


# ---- the ensemble

def test_hidden_gradient_defeats_apgd_but_not_square_or_the_ensemble(weights):
    """On the masked model APGD fools nothing, Square fools what is in reach: the worst case."""
    w, b = weights
    images, labels, ratio = images_by_margin(w, b, [(0.3, 0.7, 8), (1.05, 3, 8)], seed=7)
    masked = linear_model(w, b, masked=True)
    assert not ae.apgd(masked, images, 1 - labels, epsilon=EPSILON, steps=10,
                       restarts=2).fooled.any()
    attacks = {"apgd": {"attack": "apgd", "steps": 10, "restarts": 2, "seed": 0},
               "square": {"attack": "square", "queries": 1000, "seed": 0}}
    report = ae.ensemble_robust_accuracy(masked, images, labels, epsilon=EPSILON,
                                         attacks=attacks)
    assert [(a["name"], a["attacked"], a["fooled"]) for a in report["attacks"]] == [
        ("apgd", 16, 0), ("square", 16, 8)]
    np.testing.assert_array_equal(report["robust_mask"], ratio >= 1)
    assert report["robust"] == 8 and report["robust_accuracy"] == 0.5
    assert report["rounded_to_8bit"] and report["attacks"][1]["settings"] == attacks["square"]


def test_ensemble_counts_misclassified_images_as_not_robust(weights):
    """Wrongly classified images are not attacked and not robust; APGD leaves Square nothing."""
    w, b = weights
    images, labels, ratio = images_by_margin(w, b, [(0, 0.9, 6), (1.1, 3, 10)], seed=8)
    labels[-3:] = 1 - labels[-3:]   # three far-from-the-boundary images, now misclassified
    report = ae.ensemble_robust_accuracy(linear_model(w, b), images, labels, epsilon=EPSILON,
                                         attacks={"apgd": {"attack": "apgd", "steps": 10},
                                                  "square": {"attack": "square", "queries": 200}})
    assert report["clean_correct"] == 13
    assert [(a["attacked"], a["fooled"], a["robust_after"]) for a in report["attacks"]] == [
        (13, 6, 7), (7, 0, 7)]
    assert report["robust"] == 7 and report["robust_accuracy"] == 7 / 16
    assert all(a["seconds"] >= 0 for a in report["attacks"])


# ---- bad input

GOOD = {"images": np.full((2, *SHAPE), 100.0, np.float32), "targets": np.array([0, 1])}


@pytest.mark.parametrize("call, message", [
    (lambda m: ae.apgd(m, GOOD["images"], GOOD["targets"], epsilon=0), "epsilon"),
    (lambda m: ae.apgd(m, GOOD["images"], GOOD["targets"], epsilon=-1), "epsilon"),
    (lambda m: ae.apgd(m, GOOD["images"], GOOD["targets"], epsilon=float("nan")), "epsilon"),
    (lambda m: ae.apgd(m, GOOD["images"], GOOD["targets"], epsilon=2, steps=-1), "steps"),
    (lambda m: ae.apgd(m, GOOD["images"], GOOD["targets"], epsilon=2, restarts=0), "restarts"),
    (lambda m: ae.square_attack(m, GOOD["images"], GOOD["targets"], epsilon=0), "epsilon"),
    (lambda m: ae.square_attack(m, GOOD["images"], GOOD["targets"], epsilon=2, queries=0),
     "queries"),
    (lambda m: ae.square_attack(m, GOOD["images"], GOOD["targets"], epsilon=2, p_init=0),
     "p_init"),
    (lambda m: ae.apgd(m, GOOD["images"], np.array([0, 2]), epsilon=2), "target_labels"),
    (lambda m: ae.apgd(m, GOOD["images"], np.array([0]), epsilon=2), "target_labels"),
    (lambda m: ae.apgd(m, GOOD["images"][0], GOOD["targets"], epsilon=2), "shape"),
    (lambda m: ae.apgd(m, GOOD["images"] * 3, GOOD["targets"], epsilon=2), "0..255"),
    (lambda m: ae.ensemble_robust_accuracy(m, GOOD["images"], GOOD["targets"], epsilon=0),
     "epsilon"),
    (lambda m: ae.ensemble_robust_accuracy(m, GOOD["images"], GOOD["targets"], epsilon=2,
                                           attacks={"x": {"attack": "fgsm"}}), "one of"),
    (lambda m: ae.ensemble_robust_accuracy(m, GOOD["images"], GOOD["targets"], epsilon=2,
                                           attacks={"x": {"attack": "apgd", "step": 5}}),
     "no setting step"),
    (lambda m: ae.ensemble_robust_accuracy(m, GOOD["images"], GOOD["targets"], epsilon=2,
                                           attacks={}), "empty"),
])
def test_bad_input_is_a_clear_value_error(call, message, weights):
    """Each public function says what is wrong before it runs anything."""
    with pytest.raises(ValueError, match=message):
        call(linear_model(*weights))


def test_wilson_interval_matches_the_published_figures():
    """The issue's intervals: 60.0% of 200 is 53.1-66.5%, 65.2% of 1000 is 62.2-68.1%."""
    assert [round(100 * v, 1) for v in ae.wilson_interval(120, 200)] == [53.1, 66.5]
    assert [round(100 * v, 1) for v in ae.wilson_interval(652, 1000)] == [62.2, 68.1]
    assert ae.wilson_interval(0, 10)[0] == 0 and ae.wilson_interval(10, 10)[1] == pytest.approx(1)
    with pytest.raises(ValueError):
        ae.wilson_interval(3, 0)
