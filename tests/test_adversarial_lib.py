"""Tests of notebook 3's saved functions (adversarial_example/adversarial_cats_dogs_lib.py).

That module is generated from the notebook's `#@save` cells (tools/export_cells.py), so these
tests run the code the learner reads: the network and its model file, the margin and its
gradient, the attack, and the strong attack of section 9.
"""
import json

import adversarial_cats_dogs_lib as adv
import cats_dogs_data as data
import numpy as np
import pytest
import tensorflow as tf

from tests.adversarial_helpers import DAMAGES, damage, linear_model

pytest_plugins = ["tests.adversarial_fixtures"]


# ---- the network, its margin and the attack, on an untrained model

def test_model_outputs_probabilities_from_its_logits(model_and_images):
    model, images = model_and_images
    proba = adv.predict_proba(model, images)
    assert proba.shape == (len(images), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    logits = adv.logits_of(model)(images.astype(np.float32)).numpy()
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(proba, expected, rtol=1e-4, atol=1e-6)


def test_margin_is_positive_exactly_when_classified_as_target(model_and_images):
    model, images = model_and_images
    x = tf.constant(images, tf.float32)
    predicted = adv.predict_proba(model, images).argmax(axis=1)
    for targets in (predicted, 1 - predicted):
        margin, _ = adv.margin_and_gradient(adv.logits_of(model), x, tf.constant(targets))
        assert np.array_equal(margin.numpy() > 0, targets == predicted)


@pytest.mark.parametrize("max_steps", [0, 1, 3])
def test_attack_moves_each_channel_at_most_one_count_per_step(model_and_images, max_steps):
    model, images = model_and_images
    predicted = adv.predict_proba(model, images).argmax(axis=1)
    targets = 1 - predicted
    adversarial, steps = adv.attack(model, images, targets, max_steps=max_steps)
    assert adversarial.dtype == np.uint8 and adversarial.shape == images.shape
    assert steps.shape == (len(images),) and set(steps.tolist()) <= set(range(-1, max_steps + 1))
    change = np.abs(adversarial.astype(int) - images.astype(int))
    change = change.reshape(len(images), -1).max(axis=1)
    allowed = np.where(steps >= 0, steps, max_steps)
    assert np.all(change <= allowed)            # no wrap-around at 0 or 255, one count per step
    if max_steps == 0:
        assert np.all(steps == -1) and np.array_equal(adversarial, images)


def test_attack_one_step_moves_every_channel_by_exactly_one_unless_clipped(model_and_images):
    model, images = model_and_images
    x = images[:4].astype(np.float32)
    t = np.array([1, 1, 0, 0], np.int32)
    _, gradient = adv.margin_and_gradient(adv.logits_of(model), tf.constant(x), tf.constant(t))
    stepped = adv.attack_step(tf.constant(x), gradient).numpy()
    diff = stepped - x
    expected = np.clip(x + np.sign(gradient.numpy()), 0, 255) - x
    assert np.array_equal(diff, expected) and np.all(np.abs(diff) <= 1)
    # nearly every channel moves (only those at 0 or 255, or with a zero gradient, stay)
    assert np.mean(np.abs(diff) == 1) > 0.9


def test_attack_reports_flips_honestly(model_and_images):
    model, images = model_and_images
    predicted = adv.predict_proba(model, images).argmax(axis=1)
    # half the targets are the current prediction (0 steps), half the other class
    targets = np.where(np.arange(len(images)) % 2 == 0, predicted, 1 - predicted)
    adversarial, steps = adv.attack(model, images, targets, max_steps=2)
    assert np.all(steps[targets == predicted] == 0)
    assert np.array_equal(adversarial[steps == 0], images[steps == 0])
    now = adv.predict_proba(model, adversarial).argmax(axis=1)
    assert np.all(now[steps >= 0] == targets[steps >= 0])
    assert np.all(now[steps == -1] != targets[steps == -1])


def test_attack_to_a_margin_stops_only_past_it(model_and_images):
    model, images = model_and_images
    targets = 1 - adv.predict_proba(model, images).argmax(axis=1)
    adversarial, steps = adv.attack(model, images, targets, max_steps=3, min_margin=0.05)
    margin, _ = adv.margin_and_gradient(adv.logits_of(model), tf.constant(adversarial, tf.float32),
                                        tf.constant(targets))
    margin = margin.numpy()
    assert np.all(margin[steps >= 0] > 0.05) and np.all(margin[steps == -1] <= 0.05)


# ---- the strong attack of section 9

@pytest.mark.parametrize("epsilon", [1, 2, 4])
def test_strong_attack_finds_the_best_change_of_a_linear_model(epsilon):
    # For margin w.x + b the best change within epsilon is epsilon * sign(w), raising the margin
    # by epsilon * |w|_1 (no pixel is near 0 or 255 here): exactly the images it can push past 0
    # must be fooled.
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(128, 128, 3)) * 1e-3
    images = rng.integers(40, 216, size=(24, 128, 128, 3)).astype(np.uint8)
    raw = images.reshape(24, -1).astype(np.float64) @ weights.ravel()
    gain = epsilon * np.abs(weights).sum()
    bias = -np.median(raw) - gain                   # about half can be pushed past 0
    best = raw + bias + gain
    clear = np.abs(best) > 1e-3 * gain              # leave out ties within rounding
    model = linear_model(weights, bias)
    targets = np.ones(24, np.int32)
    assert np.all(adv.predict_proba(model, images).argmax(axis=1) == 0)   # all cats at first
    attacked, fooled_at = adv.strong_attack(model, images, targets, epsilon, steps=10, restarts=1)
    fooled = fooled_at[0] >= 0
    assert 4 <= clear.sum() and 0 < fooled[clear].sum() < clear.sum()
    assert np.array_equal(fooled[clear], best[clear] > 0)
    change = np.abs(attacked - images.astype(np.float32)).reshape(24, -1).max(axis=1)
    assert np.all(change <= epsilon + 1e-4) and attacked.min() >= 0 and attacked.max() <= 255
    assert np.all(adv.predict_proba(model, attacked[fooled]).argmax(axis=1) == 1)


def test_strong_attack_restarts_only_add_fooled_images(model_and_images):
    model, images = model_and_images
    targets = 1 - adv.predict_proba(model, images).argmax(axis=1)
    options = {"epsilon": 0.5, "steps": 1, "seed": 3}
    _, once = adv.strong_attack(model, images, targets, restarts=1, **options)
    _, thrice = adv.strong_attack(model, images, targets, restarts=3, **options)
    assert once.shape == (1, len(images)) and thrice.shape == (3, len(images))
    np.testing.assert_array_equal(thrice[0], once[0])   # the first restart is the same run
    first = np.flatnonzero(once[0] >= 0)
    assert 0 < len(first) < len(images)                 # a case where the budget matters
    assert np.all(thrice[1:, first] == -1)              # a fooled image is not attacked again


def test_strong_attack_spends_the_whole_budget_when_asked(model_and_images):
    model, images = model_and_images
    targets = 1 - adv.predict_proba(model, images).argmax(axis=1)
    pushed, fooled_at = adv.strong_attack(model, images, targets, 2, steps=4, restarts=1,
                                          min_margin=np.inf)
    change = np.abs(pushed - images.astype(np.float32)).reshape(len(images), -1)
    assert np.all(fooled_at == -1)                   # never stops early
    assert change.max() <= 2 + 1e-4 and pushed.min() >= 0 and pushed.max() <= 255
    assert np.median(change.max(axis=1)) == pytest.approx(2.0, abs=1e-4)   # to the budget's edge
    margins_before = adv.target_margin(adv.logits_of(model), images.astype(np.float32),
                                       targets).numpy()
    margins_after = adv.target_margin(adv.logits_of(model), pushed, targets).numpy()
    assert np.all(margins_after > margins_before)


def test_strong_attack_takes_the_step_size_asked_for(model_and_images):
    model, images = model_and_images
    targets = 1 - adv.predict_proba(model, images).argmax(axis=1)
    assert adv.default_step_size(8) == 2 and adv.default_step_size(0.5) == 0.25
    small, _ = adv.strong_attack(model, images, targets, 4, steps=1, restarts=1,
                                 min_margin=np.inf, step_size=0.5, seed=1)
    large, _ = adv.strong_attack(model, images, targets, 4, steps=1, restarts=1,
                                 min_margin=np.inf, seed=1)             # 4 / 4 = 1 count
    start, _ = adv.strong_attack(model, images, targets, 4, steps=0, restarts=1,
                                 min_margin=np.inf, seed=1)             # the same random start
    inside = (np.abs(large - images) < 3) & (large > 1) & (large < 254)  # neither box nor 0..255
    moved_small, moved_large = np.abs(small - start)[inside], np.abs(large - start)[inside]
    np.testing.assert_allclose(2 * moved_small, moved_large, atol=1e-4)   # the same direction
    assert np.mean(np.abs(moved_large - 1) < 1e-4) > 0.9    # 1 count, unless the gradient is 0


# ---- the model: the shipped one, or one trained here and cached

@pytest.fixture
def quick_training(instant_training):
    """get_model(from_scratch=True) with an empty cache; training returns build_model() at once."""
    return instant_training(adv, "train_classifier", lambda build_model, *_, **__: build_model())


def test_cache_is_trained_once_then_loaded(quick_training, small_copy, tmp_path):
    first = adv.get_model(from_scratch=True, data_dir=small_copy)
    second = adv.get_model(from_scratch=True, data_dir=small_copy)
    assert [kwargs["seed"] for _, kwargs in quick_training] == [adv.TRAIN_SETTINGS["seed"]]
    path = adv.model_path(small_copy)
    assert path.parent == tmp_path
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["sha256"] == data.sha256_of(path)
    assert record["settings"] == adv.TRAIN_SETTINGS
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("how", sorted(DAMAGES) + ["record missing"])
def test_damaged_cached_model_is_retrained_with_a_warning(quick_training, small_copy, tmp_path,
                                                          how):
    adv.get_model(from_scratch=True, data_dir=small_copy)
    path = adv.model_path(small_copy)
    (tmp_path / "someone_elses_file.txt").write_text("keep me")
    if how == "record missing":
        path.with_suffix(".json").unlink()
    else:
        damage(path, how)
    with pytest.warns(UserWarning, match="cached model cannot be used") as warned:
        model = adv.get_model(from_scratch=True, data_dir=small_copy)
    assert path.name in str(warned[0].message)
    assert len(quick_training) == 2 and model is not None
    assert (tmp_path / "someone_elses_file.txt").read_text() == "keep me"   # nothing else lost
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [path.name, path.stem + ".json", "someone_elses_file.txt"])
