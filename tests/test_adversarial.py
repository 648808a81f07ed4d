"""Tests of the adversarial notebook's functions and of the two modules beside it.

The cells tagged `api` in adversarial_example/adversarial_cats_dogs.ipynb are loaded as the
module `adversarial_cats_dogs` (run on their own, in order, with the notebook's folder as working
directory); cats_dogs_data.py (images, model files) and cats_dogs_training.py (the recipe) are
imported directly. The attack is tested on a small untrained model (its rules do not depend on
training). One test trains the real recipe cold and checks the accuracy claim: the recipe is
proven on every run, not only the shipped weights. Tests that read the real images take the
`cats_dogs_dir` fixture (conftest.py), which skips them, saying why, without the images.
"""
import io
import json
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.notebook_api import import_beside, load_api_module

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "adversarial_example" / "adversarial_cats_dogs.ipynb"


@pytest.fixture(scope="module")
def adv():
    """The notebook's `api` cells as a module."""
    return load_api_module(NOTEBOOK, "adversarial_cats_dogs")


@pytest.fixture(scope="module")
def cats_dogs_data(adv):
    """cats_dogs_data.py, the module beside the notebook that its `api` cells import from."""
    return import_beside(NOTEBOOK, "cats_dogs_data")


@pytest.fixture(scope="module")
def training(adv):
    """cats_dogs_training.py, the training recipe beside the notebook."""
    return import_beside(NOTEBOOK, "cats_dogs_training")


@pytest.fixture(scope="module")
def small_copy(cats_dogs_dir, tmp_path_factory):
    """A few real images per class and split, plus undecodable files in train/cats."""
    root = tmp_path_factory.mktemp("cats_dogs_small")
    for split, n in (("train", 3), ("validation", 2)):
        for folder in ("cats", "dogs"):
            (root / split / folder).mkdir(parents=True)
            for path in sorted((cats_dogs_dir / split / folder).iterdir())[:n]:
                shutil.copy(path, root / split / folder / path.name)
    (root / "train" / "cats" / "cat.corrupt.jpg").write_bytes(b"this is not a JPEG file")
    (root / "train" / "cats" / "cat.empty.jpg").write_bytes(b"")
    return root


def _as_arrays(ds):
    images, labels = zip(*ds.as_numpy_iterator())
    return np.stack(images), np.array(labels)


def test_loader_skips_and_counts_undecodable_files(adv, small_copy, capsys):
    data = adv.load_datasets(small_copy)
    assert data.report == {"train": {"images": 6, "skipped": 2},
                           "validation": {"images": 4, "skipped": 0}}
    assert "2 undecodable file(s) skipped" in capsys.readouterr().out
    train_ds, val_ds = data
    images, labels = _as_arrays(train_ds)
    assert images.shape == (6, 128, 128, 3) and images.dtype == np.uint8
    assert labels.tolist() == [0, 0, 0, 1, 1, 1]
    images, labels = _as_arrays(val_ds)
    assert images.shape == (4, 128, 128, 3) and labels.tolist() == [0, 0, 1, 1]


def test_loader_is_quiet_when_asked(adv, small_copy, capsys):
    adv.load_datasets(small_copy, verbose=False)
    assert capsys.readouterr().out == ""


def test_loader_missing_folder_gives_clear_error(adv, cats_dogs_data, tmp_path):
    with pytest.raises(FileNotFoundError, match="CATS_DOGS_DIR") as info:
        adv.load_datasets(tmp_path / "no_such_folder")
    assert cats_dogs_data.DATA_URL in str(info.value)


def test_loader_without_any_source_names_both_ways(adv, cats_dogs_data, tmp_path, monkeypatch):
    monkeypatch.delenv("CATS_DOGS_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))   # an empty Keras cache

    def no_network(*args, **kwargs):
        raise OSError("no network in this test")

    monkeypatch.setattr(adv.keras.utils, "get_file", no_network)
    with pytest.raises(FileNotFoundError, match="CATS_DOGS_DIR") as info:
        adv.load_datasets()
    message = str(info.value)
    assert cats_dogs_data.DATA_URL in message and "no network in this test" in message


ACCURACY_CLAIM = 0.85  # what the notebook asserts; the seeds measured gave 88.1-90.9% (see README)


def test_real_data_labels_shapes_dtypes(adv, cats_dogs_dir):
    data = adv.load_datasets(cats_dogs_dir)
    assert data.report == {"train": {"images": 2000, "skipped": 0},
                           "validation": {"images": 1000, "skipped": 0}}
    train_ds, val_ds = data
    image, label = next(iter(val_ds))
    assert image.shape == (128, 128, 3) and image.dtype.name == "uint8"
    assert label.dtype.is_integer and int(label) == 0
    labels = np.array([label for _, label in val_ds.as_numpy_iterator()])
    assert np.bincount(labels).tolist() == [500, 500]



def test_validation_images_alone(adv, small_copy):
    images, labels = adv.load_validation_images(small_copy)
    assert images.shape == (4, 128, 128, 3) and images.dtype == np.uint8
    assert labels.tolist() == [0, 0, 1, 1] and labels.dtype == np.int32


# ---- the network and the attack, on an untrained model

@pytest.fixture(scope="module")
def model_and_images(adv, small_copy):
    """An untrained model (seeded) and a few real images, plus two saturated ones (0 and 255)."""
    adv.keras.utils.set_random_seed(0)
    model = adv.build_model()
    images, _ = adv.load_validation_images(small_copy)
    edges = np.zeros((2, 128, 128, 3), np.uint8)
    edges[0, :, :64] = 255          # half black, half white: clipping must keep 0..255
    edges[1] = 255
    return model, np.concatenate([images, edges])


def test_model_outputs_probabilities_from_its_logits(adv, model_and_images):
    model, images = model_and_images
    proba = adv.predict_proba(model, images)
    assert proba.shape == (len(images), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    logits = adv.logits_of(model)(images.astype(np.float32)).numpy()
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(proba, expected, rtol=1e-4, atol=1e-6)


def test_margin_is_positive_exactly_when_classified_as_target(adv, model_and_images):
    model, images = model_and_images
    tf = adv.tf
    x = tf.constant(images, tf.float32)
    predicted = adv.predict_proba(model, images).argmax(axis=1)
    for targets in (predicted, 1 - predicted):
        margin, _ = adv.margin_and_gradient(adv.logits_of(model), x, tf.constant(targets))
        assert np.array_equal(margin.numpy() > 0, targets == predicted)


@pytest.mark.parametrize("max_steps", [0, 1, 3])
def test_attack_moves_each_channel_at_most_one_count_per_step(adv, model_and_images, max_steps):
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


def test_attack_one_step_moves_every_channel_by_exactly_one_unless_clipped(adv, model_and_images):
    model, images = model_and_images
    x = images[:4].astype(np.float32)
    t = np.array([1, 1, 0, 0], np.int32)
    _, gradient = adv.margin_and_gradient(adv.logits_of(model), adv.tf.constant(x),
                                          adv.tf.constant(t))
    stepped = adv.attack_step(adv.tf.constant(x), gradient).numpy()
    diff = stepped - x
    expected = np.clip(x + np.sign(gradient.numpy()), 0, 255) - x
    assert np.array_equal(diff, expected) and np.all(np.abs(diff) <= 1)
    # nearly every channel moves (only those at 0 or 255, or with a zero gradient, stay)
    assert np.mean(np.abs(diff) == 1) > 0.9


def test_attack_reports_flips_honestly(adv, model_and_images):
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


def test_attack_to_a_margin_stops_only_past_it(adv, model_and_images):
    model, images = model_and_images
    tf = adv.tf
    targets = 1 - adv.predict_proba(model, images).argmax(axis=1)
    adversarial, steps = adv.attack(model, images, targets, max_steps=3, min_margin=0.05)
    margin, _ = adv.margin_and_gradient(adv.logits_of(model), tf.constant(adversarial, tf.float32),
                                        tf.constant(targets))
    margin = margin.numpy()
    assert np.all(margin[steps >= 0] > 0.05) and np.all(margin[steps == -1] <= 0.05)


# ---- the training recipe (cats_dogs_training.py)

def test_augment_repeats_for_the_same_seed_and_position(training, model_and_images):
    _, images = model_and_images
    tf = training.tf
    image = tf.constant(images[0])
    first = training.augment(image, 7, tf.constant(3), max_shift=12, max_brightness=25).numpy()
    again = training.augment(image, 7, tf.constant(3), max_shift=12, max_brightness=25).numpy()
    other = training.augment(image, 8, tf.constant(3), max_shift=12, max_brightness=25).numpy()
    assert first.dtype == np.float32 and first.shape == images[0].shape
    assert first.min() >= 0 and first.max() <= 255
    assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_augment_shift_is_a_window_of_the_mirrored_image(training, model_and_images):
    _, images = model_and_images
    tf, image, shift = training.tf, images[0], 5
    padded = np.pad(image, [(shift, shift), (shift, shift), (0, 0)], mode="reflect")
    windows = {padded[r:r + 128, c:c + 128].tobytes()
               for r in range(2 * shift + 1) for c in range(2 * shift + 1)}
    for index in range(4):
        out = training.augment(tf.constant(image), 0, tf.constant(index), max_shift=shift,
                               max_brightness=0, flip=False).numpy()
        assert out.astype(np.uint8).tobytes() in windows


def test_augment_cutout_greys_one_square_of_the_given_side(training, model_and_images):
    _, images = model_and_images
    tf, side = training.tf, 40
    image = np.full((128, 128, 3), 50, np.uint8)
    for index in range(3):
        out = training.augment(tf.constant(image), 0, tf.constant(index), max_shift=0,
                               max_brightness=0, flip=False, cutout=side).numpy()
        grey = np.all(out == 128, axis=-1)
        rows, cols = np.flatnonzero(grey.any(axis=1)), np.flatnonzero(grey.any(axis=0))
        assert grey.sum() == side * side and len(rows) == side and len(cols) == side
        assert np.all(out[~grey] == 50)
    plain = training.augment(tf.constant(images[0]), 0, tf.constant(0), max_shift=0,
                             max_brightness=0, flip=False).numpy()
    np.testing.assert_array_equal(plain, images[0].astype(np.float32))   # no cutout: untouched


def test_settings_are_checked_by_name(adv, training):
    settings = dict(adv.TRAIN_SETTINGS)
    training.check_settings(settings)
    with pytest.raises(ValueError, match="label_smoothing"):
        training.check_settings({k: v for k, v in settings.items() if k != "label_smoothing"})
    with pytest.raises(ValueError, match="epochs"):
        training.check_settings({**settings, "epochs": 0})
    with pytest.raises(ValueError, match="max_shift"):
        training.check_settings({**settings, "max_shift": 64})


def test_training_batches_are_augmented_with_one_hot_labels(adv, training, small_copy):
    train_ds, _ = adv.load_datasets(small_copy, verbose=False)
    settings = {**adv.TRAIN_SETTINGS, "batch_size": 4}
    images, labels = next(iter(training.training_batches(train_ds, settings, seed=0)))
    assert images.shape == (4, 128, 128, 3) and images.dtype.name == "float32"
    assert labels.shape == (4, 2) and np.all(labels.numpy().sum(axis=1) == 1)


def test_progress_shows_epoch_accuracy_and_time_left(training):
    stream = io.StringIO()
    progress = training.TrainingProgress(epochs=4, stream=stream)
    progress.on_train_begin()
    progress.on_epoch_end(0, {"accuracy": 0.625})
    lines = stream.getvalue().splitlines()
    assert lines[0] == "░" * 20 + " training for 4 epochs ..."
    assert lines[1].startswith("█" * 5 + "░" * 15 + " epoch  1/4: training accuracy  62.5%")
    assert "left" in lines[1]


def tiny_model(keras):
    """A network as small as can be, shaped like build_model's: logits, then probabilities."""
    pixels = keras.Input((128, 128, 3))
    x = keras.layers.Conv2D(4, 8, strides=8, use_bias=False)(pixels)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    logits = keras.layers.Dense(2, name="logits")(x)
    return keras.Model(pixels, keras.layers.Softmax()(logits))


def test_train_classifier_reports_progress_and_history(adv, training, small_copy, capsys):
    train_ds, _ = adv.load_datasets(small_copy, verbose=False)
    settings = {**adv.TRAIN_SETTINGS, "epochs": 2, "batch_size": 2}
    model, history = training.train_classifier(lambda: tiny_model(adv.keras), train_ds,
                                               settings, seed=0)
    assert len(history["accuracy"]) == 2 and len(history["loss"]) == 2
    assert history["seconds"] > 0
    err = capsys.readouterr().err
    assert "epoch  2/2" in err and "left" in err


# ---- model files: the shipped model, the cache, damaged files (cats_dogs_data.py)

def test_shipped_model_matches_its_record(adv, cats_dogs_data):
    path, record_path = cats_dogs_data.SHIPPED_MODEL, cats_dogs_data.SHIPPED_RECORD
    record = json.loads(record_path.read_text())
    assert cats_dogs_data.sha256_of(path) == record["sha256"]
    assert path.stat().st_size <= 5_000_000 and record["bytes"] == path.stat().st_size
    assert record["settings"] == adv.TRAIN_SETTINGS   # made with the settings the notebook shows
    assert record["validation_accuracy"] >= 0.85
    for key in ("tensorflow", "keras", "machine", "seed", "training_seconds", "history"):
        assert key in record
    model = adv.keras.models.load_model(path, safe_mode=True, compile=False)
    built = adv.build_model()
    assert [w.shape for w in model.get_weights()] == [w.shape for w in built.get_weights()]


def damage(path: Path, how: str) -> None:
    """Damage a model file as a new user might find it."""
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[:len(data) // 3])
    elif how == "altered":                      # still a zip, but not the recorded bytes
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr("extra.txt", "not part of the model")
    elif how == "not a zip":
        path.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:0\n")


DAMAGES = {"truncated": "not a .keras", "altered": "has changed", "not a zip": "not a .keras"}


@pytest.mark.parametrize("how", sorted(DAMAGES))
def test_damaged_shipped_model_says_which_file_what_happened_and_what_to_do(
        adv, cats_dogs_data, tmp_path, how):
    path = tmp_path / "cats_dogs_classifier.keras"
    shutil.copy(cats_dogs_data.SHIPPED_MODEL, path)
    shutil.copy(cats_dogs_data.SHIPPED_RECORD, path.with_suffix(".json"))
    damage(path, how)
    with pytest.raises(cats_dogs_data.DamagedModelFile) as info:
        cats_dogs_data.load_shipped_model(path)
    message = str(info.value)
    assert str(path) in message and DAMAGES[how] in message
    assert "git checkout" in message and "from_scratch=True" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, path.stem + ".json"])


def test_shipped_model_without_its_record_is_refused(cats_dogs_data, tmp_path):
    path = tmp_path / "cats_dogs_classifier.keras"
    shutil.copy(cats_dogs_data.SHIPPED_MODEL, path)
    with pytest.raises(cats_dogs_data.DamagedModelFile, match="missing"):
        cats_dogs_data.load_shipped_model(path)


@pytest.fixture
def quick_training(adv, monkeypatch, tmp_path):
    """get_model(from_scratch=True) with an empty cache in tmp_path and a stand-in for training.

    The stand-in returns an untrained build_model() at once and counts its calls.
    """
    monkeypatch.setenv("TF_BEYOND_DL_CACHE", str(tmp_path))
    calls = []

    def train_at_once(build_model, train_ds, settings, seed, **options):
        calls.append(seed)
        return build_model(), {"accuracy": [0.5], "loss": [0.7], "seconds": 0.0}

    monkeypatch.setattr(adv, "train_classifier", train_at_once)
    return calls


def test_cache_is_trained_once_then_loaded(adv, cats_dogs_data, quick_training, small_copy,
                                           tmp_path):
    first = adv.get_model(from_scratch=True, data_dir=small_copy)
    second = adv.get_model(from_scratch=True, data_dir=small_copy)
    assert quick_training == [adv.TRAIN_SETTINGS["seed"]]
    path = adv.model_path(small_copy)
    assert path.parent == tmp_path
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["sha256"] == cats_dogs_data.sha256_of(path)
    assert record["settings"] == adv.TRAIN_SETTINGS
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("how", sorted(DAMAGES) + ["record missing"])
def test_damaged_cached_model_is_retrained_with_a_warning(adv, quick_training, small_copy,
                                                          tmp_path, how):
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


# ---- the recipe itself, trained cold: the claim the notebook makes of any training run

@pytest.mark.training
def test_recipe_trains_cold_to_the_claimed_accuracy(adv, cats_dogs_dir, monkeypatch, tmp_path):
    """The notebook's own path: get_model(from_scratch=True) with an empty cache."""
    monkeypatch.setenv("TF_BEYOND_DL_CACHE", str(tmp_path))
    model = adv.get_model(from_scratch=True, data_dir=cats_dogs_dir)
    images, labels = adv.load_validation_images(cats_dogs_dir)
    accuracy = np.mean(adv.predict_proba(model, images).argmax(axis=1) == labels)
    print(f"validation accuracy of the model trained cold: {accuracy:.1%}")
    assert accuracy >= ACCURACY_CLAIM
    assert adv.model_path(cats_dogs_dir).exists()      # cached for the next run


def test_cache_dir_is_the_variable_or_the_platforms_user_cache(cats_dogs_data, monkeypatch,
                                                               tmp_path):
    monkeypatch.setenv("TF_BEYOND_DL_CACHE", str(tmp_path / "mine"))
    assert cats_dogs_data.cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("TF_BEYOND_DL_CACHE")
    expected = cats_dogs_data.platformdirs.user_cache_dir("tf-beyond-dl", appauthor=False)
    assert cats_dogs_data.cache_dir() == Path(expected)
    if sys.platform.startswith("linux"):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert cats_dogs_data.cache_dir() == tmp_path / "xdg" / "tf-beyond-dl"


# ---- the defence: adversarial training and the strong attack (cats_dogs_robust.py)

@pytest.fixture(scope="module")
def robust(adv):
    """cats_dogs_robust.py, the robust recipe and the strong attack, beside the notebook."""
    return import_beside(NOTEBOOK, "cats_dogs_robust")


def linear_model(keras, weights: np.ndarray, bias: float):
    """A model whose dog-minus-cat logit is weights . pixels + bias: its best attack is known."""
    pixels = keras.Input((128, 128, 3))
    logits = keras.layers.Dense(2, name="logits")(keras.layers.Flatten()(pixels))
    model = keras.Model(pixels, keras.layers.Softmax()(logits))
    kernel = np.stack([np.zeros(weights.size), weights.ravel()], axis=1).astype(np.float32)
    model.get_layer("logits").set_weights([kernel, np.array([0.0, bias], np.float32)])
    return model


@pytest.mark.parametrize("epsilon", [1, 2, 4])
def test_strong_attack_finds_the_best_change_of_a_linear_model(adv, robust, epsilon):
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
    model = linear_model(adv.keras, weights, bias)
    targets = np.ones(24, np.int32)
    assert np.all(adv.predict_proba(model, images).argmax(axis=1) == 0)   # all cats at first
    attacked, fooled = robust.strong_attack(model, images, targets, epsilon=epsilon, steps=10,
                                            restarts=1)
    assert 4 <= clear.sum() and 0 < fooled[clear].sum() < clear.sum()
    assert np.array_equal(fooled[clear], best[clear] > 0)
    change = np.abs(attacked - images.astype(np.float32)).reshape(24, -1).max(axis=1)
    assert np.all(change <= epsilon + 1e-4) and attacked.min() >= 0 and attacked.max() <= 255
    assert np.all(adv.predict_proba(model, attacked[fooled]).argmax(axis=1) == 1)
    assert np.array_equal(attacked[~fooled], images[~fooled].astype(np.float32))


def test_strong_attack_without_its_additions_is_the_notebooks_attack(adv, robust,
                                                                     model_and_images):
    # One-count steps, no random start, one restart, a budget as large as the steps can reach:
    # the projection never acts, and PGD is the attack the notebook teaches, image for image.
    model, images = model_and_images
    targets = 1 - adv.predict_proba(model, images).argmax(axis=1)
    adversarial, steps = adv.attack(model, images, targets, max_steps=3)
    attacked, fooled = robust.strong_attack(model, images, targets, epsilon=3, steps=3,
                                            restarts=1, step_size=1.0, random_start=False)
    assert np.array_equal(fooled, steps >= 0)
    np.testing.assert_array_equal(attacked[fooled], adversarial[fooled].astype(np.float32))


def test_notebooks_strong_attack_is_the_modules(adv, robust, model_and_images):
    # The notebook grows its strong attack from attack(); the module's copy measures the record
    # and the training check. Same seed, same random starts: the same images fooled, the same way.
    model, images = model_and_images
    targets = 1 - adv.predict_proba(model, images).argmax(axis=1)
    options = {"steps": 3, "restarts": 2, "seed": 5}
    shown, fooled_at = adv.strong_attack(model, images, targets, 0.5, **options)
    measured, fooled = robust.strong_attack(model, images, targets, epsilon=0.5, **options)
    assert fooled_at.shape == (2, len(images))
    assert 0 < fooled.sum() < len(images)           # a case where the budget matters
    np.testing.assert_array_equal(np.any(fooled_at >= 0, axis=0), fooled)
    np.testing.assert_array_equal(shown[fooled], measured[fooled])
    once = np.flatnonzero(fooled_at[0] >= 0)
    assert np.all(fooled_at[1, once] == -1)          # a fooled image is not attacked again


def test_notebooks_strong_attack_spends_the_whole_budget_when_asked(adv, model_and_images):
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


def test_notebook_shows_the_training_step_that_train_robust_runs(robust):
    # Section 9 prints train_robust's step as a code block: every line of it must be the
    # module's, so that the two cannot drift apart.
    import nbformat
    cells = nbformat.read(NOTEBOOK, as_version=4).cells
    text = next(c.source for c in cells if c.source.startswith("## 9. A defence"))
    block = text.split("```python\n")[1].split("```")[0]
    source = {line.split("#")[0].strip()
              for line in Path(robust.__file__).read_text().splitlines()}
    shown = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert len(shown) >= 6
    assert [line for line in shown if line not in source] == []


def test_strong_attack_restarts_only_add_fooled_images(adv, robust, model_and_images):
    model, images = model_and_images
    targets = 1 - adv.predict_proba(model, images).argmax(axis=1)
    options = {"epsilon": 0.5, "steps": 1, "seed": 3}
    _, once = robust.strong_attack(model, images, targets, restarts=1, **options)
    _, thrice = robust.strong_attack(model, images, targets, restarts=3, **options)
    assert np.all(thrice[once])                   # the first restart is the same run


def test_strong_attack_rejects_a_bad_budget(robust, model_and_images):
    model, images = model_and_images
    with pytest.raises(ValueError, match="epsilon"):
        robust.strong_attack(model, images, np.zeros(len(images)), epsilon=0)
    with pytest.raises(ValueError, match="restarts"):
        robust.strong_attack(model, images, np.zeros(len(images)), epsilon=1, restarts=0)


def test_robust_accuracy_counts_only_correct_unfooled_images(adv, robust):
    rng = np.random.default_rng(1)
    weights = rng.normal(size=(128, 128, 3)) * 1e-3
    images = rng.integers(40, 216, size=(10, 128, 128, 3)).astype(np.uint8)
    raw = images.reshape(10, -1).astype(np.float64) @ weights.ravel()
    model = linear_model(adv.keras, weights, -np.median(raw))
    labels = adv.predict_proba(model, images).argmax(axis=1)
    labels[0] = 1 - labels[0]                                       # one wrong to begin with
    tiny = robust.robust_accuracy(model, images, labels, epsilon=1e-6, steps=1, restarts=1)
    huge = robust.robust_accuracy(model, images, labels, epsilon=64, steps=8, restarts=1)
    assert tiny == pytest.approx(0.9) and huge == 0.0


def test_fgsm_random_start_stays_in_the_budget(adv, robust, model_and_images):
    model, images = model_and_images
    tf = robust.tf
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


def test_pgd_random_start_stays_in_the_budget_and_pushes_further(adv, robust,
                                                                   model_and_images):
    model, images = model_and_images
    tf = robust.tf
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


def test_robust_settings_are_checked_by_name(robust):
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


def test_train_robust_reports_progress_check_and_history(adv, robust, small_copy, capsys):
    train_ds, _ = adv.load_datasets(small_copy, verbose=False)
    validation = adv.load_validation_images(small_copy)
    settings = {**robust.ROBUST_SETTINGS, "epochs": 2, "batch_size": 2, "validate_images": 4,
                "validate_steps": 1}
    adv.keras.utils.set_random_seed(0)
    model, history = robust.train_robust(tiny_model(adv.keras), train_ds, settings, seed=0,
                                         validation=validation)
    assert len(history["accuracy"]) == 2 and len(history["loss"]) == 2
    assert 0 <= history["val_robust"] <= history["val_clean"] <= 1
    assert history["seconds"] > 0 and history["cpu_seconds"] > 0
    err = capsys.readouterr().err
    assert "epoch  2/2" in err and "validation subset: clean" in err and "under attack" in err


# ---- the robust model's files: never mixed up with the plain one's, refused when made otherwise

def fake_robust_files(adv, robust, cats_dogs_data, folder: Path, **record_changes) -> Path:
    """A small model saved as a robust one, with a record as make_robust_model writes it."""
    adv.keras.utils.set_random_seed(0)
    settings = robust.ROBUST_SETTINGS
    record = {"settings": settings, "epsilon": settings["epsilon"],
              "start_sha256": cats_dogs_data.sha256_of(cats_dogs_data.SHIPPED_MODEL),
              **record_changes}
    path = folder / "cats_dogs_robust.keras"
    cats_dogs_data.save_model(tiny_model(adv.keras), record, path)
    return path


ROBUST_SHIPPED = (ROOT / "adversarial_example" / "cats_dogs_robust.keras").exists()


@pytest.mark.skipif(not ROBUST_SHIPPED, reason="no robust model shipped yet: the recipe does not "
                    "reach the floor of issue 25 (robust accuracy 65% at epsilon 2) so far")
def test_shipped_robust_model_matches_its_record(adv, robust, cats_dogs_data):
    path = robust.ROBUST_MODEL
    record = json.loads(path.with_suffix(".json").read_text())
    assert cats_dogs_data.sha256_of(path) == record["sha256"]
    assert path.stat().st_size <= 5_000_000 and record["bytes"] == path.stat().st_size
    assert record["settings"] == robust.ROBUST_SETTINGS   # made with the recipe's settings
    assert record["epsilon"] == robust.ROBUST_SETTINGS["epsilon"]
    assert record["training_attack"] == robust.ROBUST_SETTINGS["training_attack"]
    assert record["start_sha256"] == cats_dogs_data.sha256_of(cats_dogs_data.SHIPPED_MODEL)
    assert record["validation_accuracy"] >= ROBUST_FLOOR["clean"]
    assert record["robust_accuracy"] >= ROBUST_FLOOR["robust"]
    assert record["robust_accuracy_images"] == 1000
    attack = record["robust_accuracy_attack"]
    assert attack["random_start"] and attack["steps"] >= 20 and attack["restarts"] >= 3
    for key in ("tensorflow", "keras", "machine", "seed", "training_seconds", "history"):
        assert key in record
    model = robust.load_robust_model()                  # the loader's own checks pass too
    built = adv.build_model()
    assert [w.shape for w in model.get_weights()] == [w.shape for w in built.get_weights()]


def test_robust_model_with_its_own_record_loads(adv, robust, cats_dogs_data, tmp_path):
    path = fake_robust_files(adv, robust, cats_dogs_data, tmp_path)
    model = robust.load_robust_model(path)
    assert model.get_layer("logits").output.shape[-1] == 2


@pytest.mark.parametrize("how", sorted(DAMAGES))
def test_damaged_robust_model_says_which_file_and_what_to_do(adv, robust, cats_dogs_data,
                                                             tmp_path, how):
    path = fake_robust_files(adv, robust, cats_dogs_data, tmp_path)
    damage(path, how)
    with pytest.raises(cats_dogs_data.DamagedModelFile) as info:
        robust.load_robust_model(path)
    message = str(info.value)
    assert str(path) in message and DAMAGES[how] in message and "robust" in message
    assert "git checkout" in message and "get_robust_model(from_scratch=True)" in message


def test_robust_model_without_its_record_is_refused(adv, robust, cats_dogs_data, tmp_path):
    path = fake_robust_files(adv, robust, cats_dogs_data, tmp_path)
    path.with_suffix(".json").unlink()
    with pytest.raises(cats_dogs_data.DamagedModelFile, match="cats_dogs_robust.json is missing"):
        robust.load_robust_model(path)


def test_plain_files_under_the_robust_name_are_refused(robust, cats_dogs_data, tmp_path):
    path = tmp_path / "cats_dogs_robust.keras"
    shutil.copy(cats_dogs_data.SHIPPED_MODEL, path)
    shutil.copy(cats_dogs_data.SHIPPED_RECORD, path.with_suffix(".json"))
    with pytest.raises(cats_dogs_data.DamagedModelFile, match="plain") as info:
        robust.load_robust_model(path)
    assert str(path.with_suffix(".json")) in str(info.value)


def test_robust_files_under_the_plain_name_are_refused(adv, robust, cats_dogs_data, tmp_path):
    robust_path = fake_robust_files(adv, robust, cats_dogs_data, tmp_path)
    path = tmp_path / "plain" / "cats_dogs_classifier.keras"
    path.parent.mkdir()
    shutil.copy(robust_path, path)
    shutil.copy(robust_path.with_suffix(".json"), path.with_suffix(".json"))
    with pytest.raises(cats_dogs_data.DamagedModelFile, match="robust") as info:
        cats_dogs_data.load_shipped_model(path)
    assert str(path.with_suffix(".json")) in str(info.value)


def test_robust_record_of_the_other_kind_beside_the_right_model_is_refused(
        adv, robust, cats_dogs_data, tmp_path):
    path = fake_robust_files(adv, robust, cats_dogs_data, tmp_path)
    shutil.copy(cats_dogs_data.SHIPPED_RECORD, path.with_suffix(".json"))   # the plain record
    with pytest.raises(cats_dogs_data.DamagedModelFile, match="plain"):
        robust.load_robust_model(path)


@pytest.mark.parametrize("change, match", [
    ({"epsilon": 4}, "trained at epsilon 4, but the settings ask for epsilon 2"),
    ({"settings": "recipe"}, "differ"),
    ({"start_sha256": "0" * 64}, "fine-tuned from"),
])
def test_robust_record_of_other_settings_is_refused(adv, robust, cats_dogs_data, tmp_path,
                                                    change, match):
    settings = robust.ROBUST_SETTINGS
    if change.get("settings") == "recipe":
        change = {"settings": {**settings, "epochs": settings["epochs"] + 1}}
    path = fake_robust_files(adv, robust, cats_dogs_data, tmp_path, **change)
    with pytest.raises(cats_dogs_data.DamagedModelFile, match=match) as info:
        robust.load_robust_model(path)
    assert str(path.with_suffix(".json")) in str(info.value)


def test_robust_model_of_another_epsilon_than_asked_is_refused(adv, robust, cats_dogs_data,
                                                               tmp_path):
    path = fake_robust_files(adv, robust, cats_dogs_data, tmp_path)
    other = {**robust.ROBUST_SETTINGS, "epsilon": 4}
    with pytest.raises(cats_dogs_data.DamagedModelFile, match="ask for epsilon 4"):
        robust.load_robust_model(path, settings=other)


@pytest.fixture
def quick_robust_training(adv, robust, monkeypatch, tmp_path):
    """get_robust_model(from_scratch=True) with an empty cache and a stand-in for training."""
    monkeypatch.setenv("TF_BEYOND_DL_CACHE", str(tmp_path))
    calls = []

    def make_at_once(settings, data_dir=None, progress=True):
        calls.append(settings["seed"])
        adv.keras.utils.set_random_seed(len(calls))
        return tiny_model(adv.keras), {"accuracy": [0.5], "loss": [0.7], "seconds": 0.0}

    monkeypatch.setattr(robust, "make_robust_model", make_at_once)
    return calls


def test_robust_cache_is_made_once_then_loaded(adv, robust, cats_dogs_data, quick_robust_training,
                                               small_copy, tmp_path):
    first = robust.get_robust_model(from_scratch=True, data_dir=small_copy)
    second = robust.get_robust_model(from_scratch=True, data_dir=small_copy)
    assert len(quick_robust_training) == 1
    path = robust.robust_model_path(small_copy)
    assert path.parent == tmp_path and path != adv.model_path(small_copy)
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["epsilon"] == robust.ROBUST_SETTINGS["epsilon"]
    assert record["start_sha256"] == cats_dogs_data.sha256_of(cats_dogs_data.SHIPPED_MODEL)
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_damaged_robust_cache_is_made_again_with_a_warning(robust, quick_robust_training,
                                                           small_copy):
    robust.get_robust_model(from_scratch=True, data_dir=small_copy)
    damage(robust.robust_model_path(small_copy), "truncated")
    with pytest.warns(UserWarning, match="cached model cannot be used"):
        robust.get_robust_model(from_scratch=True, data_dir=small_copy)
    assert len(quick_robust_training) == 2


# ---- the robust recipe, made cold: the floor the notebook and the record claim

# The floor, which the shipped file's record must meet. Seeds 42, 1 and 2 (one with oneDNN
# capped to AVX2) measured 86.4%, 86.3%, 87.2% clean and 65.2%, 65.2%, 65.0% robust on all 1000
# images (README), and this test's own cold run 86.5% and 65.0%: the floor holds on every run, by
# at most 0.2 points. A rerun is not bit for bit the shipped training (that cold run's check
# subset gave 61.0% under attack where the shipped model's gave 60.0%), so the cold proof asserts
# the robust accuracy 3 points below the lowest run, and the clean floor as the notebook does.
ROBUST_FLOOR = {"clean": 0.85, "robust": 0.65}
COLD_PROOF_FLOOR = {"clean": 0.85, "robust": 0.62}


@pytest.mark.training
def test_robust_recipe_fine_tunes_cold_to_the_floor(adv, robust, cats_dogs_dir, monkeypatch,
                                                    tmp_path):
    """get_robust_model(from_scratch=True) with an empty cache, then the strong attack."""
    monkeypatch.setenv("TF_BEYOND_DL_CACHE", str(tmp_path))
    model = robust.get_robust_model(from_scratch=True, data_dir=cats_dogs_dir)
    images, labels = adv.load_validation_images(cats_dogs_dir)
    clean = np.mean(adv.predict_proba(model, images).argmax(axis=1) == labels)
    accuracy = robust.robust_accuracy(model, images, labels,
                                      epsilon=robust.ROBUST_SETTINGS["epsilon"], steps=20,
                                      restarts=3, seed=robust.ROBUST_SETTINGS["seed"])
    print(f"robust model made cold: clean accuracy {clean:.1%}, robust accuracy {accuracy:.1%} "
          f"at epsilon {robust.ROBUST_SETTINGS['epsilon']} (PGD 20 steps, 3 restarts, "
          f"{len(images)} images)")
    assert clean >= COLD_PROOF_FLOOR["clean"] and accuracy >= COLD_PROOF_FLOOR["robust"]
    assert robust.robust_model_path(cats_dogs_dir).exists()      # cached for the next run
