"""Tests of adversarial_example/cats_dogs_robust.py: adversarial training and its measure.

The attack it trains against and measures with is the notebook's (tests/test_adversarial_lib.py).
One test, marked `training`, fine-tunes the real recipe cold and checks the floor that the notebook
and the shipped record claim.
"""
import json
import shutil
from pathlib import Path

import adversarial_cats_dogs_lib as adv
import cats_dogs_data as data
import cats_dogs_robust as robust
import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.adversarial_helpers import DAMAGES, accuracy_on, damage, linear_model, tiny_model

pytest_plugins = ["tests.adversarial_fixtures"]


# ---- the measure: robust accuracy under the strong attack

def test_robust_accuracy_counts_only_correct_unfooled_images():
    rng = np.random.default_rng(1)
    weights = rng.normal(size=(128, 128, 3)) * 1e-3
    images = rng.integers(40, 216, size=(10, 128, 128, 3)).astype(np.uint8)
    raw = images.reshape(10, -1).astype(np.float64) @ weights.ravel()
    model = linear_model(weights, -np.median(raw))
    labels = adv.predict_proba(model, images).argmax(axis=1)
    labels[0] = 1 - labels[0]                                       # one wrong to begin with
    tiny = robust.robust_accuracy(model, images, labels, epsilon=1e-6, steps=1, restarts=1)
    huge = robust.robust_accuracy(model, images, labels, epsilon=64, steps=8, restarts=1)
    assert tiny == pytest.approx(0.9) and huge == 0.0


def test_robust_accuracy_rejects_a_bad_budget(model_and_images):
    model, images = model_and_images
    with pytest.raises(ValueError, match="epsilon"):
        robust.robust_accuracy(model, images, np.zeros(len(images)), epsilon=0)
    with pytest.raises(ValueError, match="restarts"):
        robust.robust_accuracy(model, images, np.zeros(len(images)), epsilon=1, restarts=0)


# ---- adversarial training

def test_fgsm_random_start_stays_in_the_budget(model_and_images):
    model, images = model_and_images
    x = tf.constant(images, tf.float32)
    labels = tf.constant(adv.predict_proba(model, images).argmax(axis=1), tf.int32)
    logits = adv.logits_of(model)
    for epsilon in (0.0, 2.0):
        pushed = robust.fgsm_random_start(logits, x, labels, tf.constant(epsilon),
                                          tf.constant(1.25 * epsilon),
                                          tf.constant([0, 1], tf.int64)).numpy()
        change = np.abs(pushed - images)
        assert change.max() <= epsilon + 1e-4 and pushed.min() >= 0 and pushed.max() <= 255
        if epsilon:
            assert np.mean(change > 1.0) > 0.5     # most channels moved well past the start
        else:
            assert np.array_equal(pushed, images.astype(np.float32))


def test_pgd_random_start_stays_in_the_budget_and_pushes_further(model_and_images):
    model, images = model_and_images
    x = tf.constant(images, tf.float32)
    labels = tf.constant(adv.predict_proba(model, images).argmax(axis=1), tf.int32)
    logits = adv.logits_of(model)
    args = (logits, x, labels, tf.constant(2.0), tf.constant(2.0), tf.constant([0, 1], tf.int64))
    one = robust.pgd_random_start(*args, steps=1).numpy()
    np.testing.assert_array_equal(one, robust.fgsm_random_start(*args).numpy())  # same start
    three = robust.pgd_random_start(*args, steps=3).numpy()
    assert np.abs(three - images).max() <= 2 + 1e-4 and three.min() >= 0 and three.max() <= 255
    margin = adv.target_margin(logits, tf.constant(three), 1 - labels).numpy()
    margin_one = adv.target_margin(logits, tf.constant(one), 1 - labels).numpy()
    assert np.mean(margin > margin_one) >= 0.5     # more steps push most images further


def test_robust_settings_are_checked_by_name():
    settings = dict(robust.ROBUST_SETTINGS)
    robust.check_robust_settings(settings)
    for bad, match in (({"epsilon": 0}, "epsilon"), ({"training_attack": "pgd-7"}, "attack"),
                       ({"epsilon_ramp": 1.0}, "epsilon_ramp"), ({"step_size": 0}, "step_size"),
                       ({"cutout": 128}, "cutout"), ({"weight_averaging": 1.0}, "averaging"),
                       ({"training_attack": "fgsm-random-start", "attack_steps": 2},
                        "attack_steps"),
                       ({"training_attack": "pgd-random-start", "attack_steps": 1},
                        "attack_steps")):
        with pytest.raises(ValueError, match=match):
            robust.check_robust_settings({**settings, **bad})
    with pytest.raises(ValueError, match="epsilon"):
        robust.check_robust_settings({k: v for k, v in settings.items() if k != "epsilon"})


def test_train_robust_reports_progress_check_and_history(small_copy, capsys):
    train_ds, _ = data.load_datasets(small_copy, verbose=False)
    validation = data.load_validation_images(small_copy)
    settings = {**robust.ROBUST_SETTINGS, "epochs": 2, "batch_size": 2, "validate_images": 4,
                "validate_steps": 1}
    keras.utils.set_random_seed(0)
    model, history = robust.train_robust(tiny_model(), train_ds, settings, seed=0,
                                         validation=validation)
    assert len(history["accuracy"]) == 2 and len(history["loss"]) == 2
    assert 0 <= history["val_robust"] <= history["val_clean"] <= 1
    assert history["seconds"] > 0 and history["cpu_seconds"] > 0
    err = capsys.readouterr().err
    assert "epoch  2/2" in err and "validation subset: clean" in err and "under attack" in err


# ---- the robust model's files: never mixed up with the plain one's, refused when made otherwise

def fake_robust_files(folder: Path, **record_changes) -> Path:
    """A small model saved as a robust one, with a record as make_models.py writes it."""
    keras.utils.set_random_seed(0)
    settings = robust.ROBUST_SETTINGS
    record = {"settings": settings, "epsilon": settings["epsilon"],
              "start_sha256": data.sha256_of(data.SHIPPED_MODEL), **record_changes}
    path = folder / "cats_dogs_robust.keras"
    data.save_model(tiny_model(), record, path)
    return path


# The floors. The shipped record's robust accuracy is the attack ensemble's worst case on all 1000
# images (64.9%; PGD 20x3 alone: 65.2%). PGD 20x3 measured 65.2%, 65.2% and 65.0% for seeds 42, 1
# and 2 (one with oneDNN capped to AVX2), and this test's own cold run 65.0%; the ensemble costs a
# few tenths of a point more (the per-seed table in benchmarks/RESULTS.md). A rerun is not bit for
# bit the shipped training (a cold run's check subset gave 61.0% under attack where the shipped
# model's gave 60.0%), so both floors sit 3 points below the lowest run, and the clean floor is
# the notebook's.
ROBUST_FLOOR = {"clean": 0.85, "robust": 0.62}


def test_shipped_robust_model_matches_its_record():
    path = robust.ROBUST_MODEL
    record = json.loads(path.with_suffix(".json").read_text())
    assert data.sha256_of(path) == record["sha256"]
    assert path.stat().st_size <= 5_000_000 and record["bytes"] == path.stat().st_size
    assert record["settings"] == robust.ROBUST_SETTINGS   # made with the recipe's settings
    assert record["epsilon"] == robust.ROBUST_SETTINGS["epsilon"]
    assert record["training_attack"] == robust.ROBUST_SETTINGS["training_attack"]
    assert record["start_sha256"] == data.sha256_of(data.SHIPPED_MODEL)
    assert record["validation_accuracy"] >= ROBUST_FLOOR["clean"]
    assert record["robust_accuracy"] >= ROBUST_FLOOR["robust"]
    assert record["robust_accuracy_images"] == 1000
    ensemble = record["robust_accuracy_attack"]      # a gradient attack and a gradient-free one
    assert [a["settings"]["attack"] for a in ensemble["attacks"]] == ["apgd", "square"]
    assert ensemble["attacks"][-1]["robust_after"] == round(1000 * record["robust_accuracy"])
    assert ensemble["rounded_to_8bit"] and ensemble["epsilon"] == record["epsilon"]
    assert record["robust_accuracy"] <= record["pgd_accuracy"]
    pgd = record["pgd_attack"]
    assert pgd["random_start"] and pgd["steps"] >= 20 and pgd["restarts"] >= 3
    for key in ("tensorflow", "keras", "machine", "seed", "training_seconds", "history"):
        assert key in record
    model = robust.load_robust_model()                  # the loader's own checks pass too
    built = adv.build_model()
    assert [w.shape for w in model.get_weights()] == [w.shape for w in built.get_weights()]


def test_robust_model_with_its_own_record_loads(tmp_path):
    path = fake_robust_files(tmp_path)
    model = robust.load_robust_model(path)
    assert model.get_layer("logits").output.shape[-1] == 2


@pytest.mark.parametrize("how", sorted(DAMAGES))
def test_damaged_robust_model_says_which_file_and_what_to_do(tmp_path, how):
    path = fake_robust_files(tmp_path)
    damage(path, how)
    with pytest.raises(data.DamagedModelFile) as info:
        robust.load_robust_model(path)
    message = str(info.value)
    assert str(path) in message and DAMAGES[how] in message and "robust" in message
    assert "git checkout" in message and "get_robust_model(from_scratch=True)" in message


def test_robust_model_without_its_record_is_refused(tmp_path):
    path = fake_robust_files(tmp_path)
    path.with_suffix(".json").unlink()
    with pytest.raises(data.DamagedModelFile, match="cats_dogs_robust.json is missing"):
        robust.load_robust_model(path)


def test_plain_files_under_the_robust_name_are_refused(tmp_path):
    path = tmp_path / "cats_dogs_robust.keras"
    shutil.copy(data.SHIPPED_MODEL, path)
    shutil.copy(data.SHIPPED_RECORD, path.with_suffix(".json"))
    with pytest.raises(data.DamagedModelFile, match="plain") as info:
        robust.load_robust_model(path)
    assert str(path.with_suffix(".json")) in str(info.value)


def test_robust_files_under_the_plain_name_are_refused(tmp_path):
    robust_path = fake_robust_files(tmp_path)
    path = tmp_path / "plain" / "cats_dogs_classifier.keras"
    path.parent.mkdir()
    shutil.copy(robust_path, path)
    shutil.copy(robust_path.with_suffix(".json"), path.with_suffix(".json"))
    with pytest.raises(data.DamagedModelFile, match="robust") as info:
        data.load_shipped_model(path)
    assert str(path.with_suffix(".json")) in str(info.value)


def test_robust_record_of_the_other_kind_beside_the_right_model_is_refused(tmp_path):
    path = fake_robust_files(tmp_path)
    shutil.copy(data.SHIPPED_RECORD, path.with_suffix(".json"))   # the plain record
    with pytest.raises(data.DamagedModelFile, match="plain"):
        robust.load_robust_model(path)


@pytest.mark.parametrize("change, match", [
    ({"epsilon": 4}, "trained at epsilon 4, but the settings ask for epsilon 2"),
    ({"settings": "recipe"}, "differ"),
    ({"start_sha256": "0" * 64}, "fine-tuned from"),
])
def test_robust_record_of_other_settings_is_refused(tmp_path, change, match):
    settings = robust.ROBUST_SETTINGS
    if change.get("settings") == "recipe":
        change = {"settings": {**settings, "epochs": settings["epochs"] + 1}}
    path = fake_robust_files(tmp_path, **change)
    with pytest.raises(data.DamagedModelFile, match=match) as info:
        robust.load_robust_model(path)
    assert str(path.with_suffix(".json")) in str(info.value)


def test_robust_model_of_another_epsilon_than_asked_is_refused(tmp_path):
    path = fake_robust_files(tmp_path)
    other = {**robust.ROBUST_SETTINGS, "epsilon": 4}
    with pytest.raises(data.DamagedModelFile, match="ask for epsilon 4"):
        robust.load_robust_model(path, settings=other)


# ---- the robust model made here and cached

@pytest.fixture
def quick_robust_training(instant_training):
    """get_robust_model(from_scratch=True) with an empty cache; a tiny model made at once."""
    return instant_training(robust, "make_robust_model", lambda *_, **__: tiny_model())


def test_robust_cache_is_made_once_then_loaded(quick_robust_training, small_copy, tmp_path):
    first = robust.get_robust_model(from_scratch=True, data_dir=small_copy)
    second = robust.get_robust_model(from_scratch=True, data_dir=small_copy)
    assert len(quick_robust_training) == 1
    path = robust.robust_model_path(small_copy)
    assert path.parent == tmp_path and path != adv.model_path(small_copy)
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["epsilon"] == robust.ROBUST_SETTINGS["epsilon"]
    assert record["start_sha256"] == data.sha256_of(data.SHIPPED_MODEL)
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_damaged_robust_cache_is_made_again_with_a_warning(quick_robust_training, small_copy):
    robust.get_robust_model(from_scratch=True, data_dir=small_copy)
    damage(robust.robust_model_path(small_copy), "truncated")
    with pytest.warns(UserWarning, match="cached model cannot be used"):
        robust.get_robust_model(from_scratch=True, data_dir=small_copy)
    assert len(quick_robust_training) == 2


# ---- the robust recipe, made cold: the floor the notebook and the record claim

@pytest.mark.training
def test_robust_recipe_fine_tunes_cold_to_the_floor(cats_dogs_dir, empty_cache,
                                                    as_in_the_notebook):
    """get_robust_model(from_scratch=True) with an empty cache, then the strong attack."""
    model = robust.get_robust_model(from_scratch=True, data_dir=cats_dogs_dir)
    images, labels = data.load_validation_images(cats_dogs_dir)
    clean = accuracy_on(model, images, labels)
    accuracy = robust.robust_accuracy(model, images, labels,
                                      epsilon=robust.ROBUST_SETTINGS["epsilon"], steps=20,
                                      restarts=3, seed=robust.ROBUST_SETTINGS["seed"])
    print(f"robust model made cold: clean accuracy {clean:.1%}, robust accuracy {accuracy:.1%} "
          f"at epsilon {robust.ROBUST_SETTINGS['epsilon']} (PGD 20 steps, 3 restarts, "
          f"{len(images)} images)")
    assert clean >= ROBUST_FLOOR["clean"] and accuracy >= ROBUST_FLOOR["robust"]
    assert robust.robust_model_path(cats_dogs_dir).exists()      # cached for the next run
