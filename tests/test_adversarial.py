"""Tests of the adversarial notebook's functions: the data loader and the attack.

The cells tagged `api` in adversarial_example/adversarial_cats_dogs.ipynb are loaded as the
module `adversarial_cats_dogs` (run on their own, in order, with the notebook's folder as working
directory), and the functions they define or import from cats_dogs_data.py are tested here.
The attack is tested on a small untrained model (the attack's rules do not depend on training),
so these tests never start the notebook's long training. Tests that read the real images take
the `cats_dogs_dir` fixture (conftest.py), which skips them, saying why, without the images.
"""
import shutil
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


@pytest.fixture(scope="module")
def model_and_images(adv, small_copy):
    """An untrained model (seeded) and a few real images, plus two saturated ones (0 and 255)."""
    adv.keras.utils.set_random_seed(0)
    model = adv.build_model()
    _, val_ds = adv.load_datasets(small_copy)
    images, _ = _as_arrays(val_ds)
    edges = np.zeros((2, 128, 128, 3), np.uint8)
    edges[0, :, :64] = 255          # half black, half white: clipping must keep 0..255
    edges[1] = 255
    return model, np.concatenate([images, edges])


def test_predict_proba_shape(adv, model_and_images):
    model, images = model_and_images
    proba = adv.predict_proba(model, images)
    assert proba.shape == (len(images), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


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
    _, gradient = adv.margin_and_gradient(model, adv.tf.constant(x), adv.tf.constant(t))
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


def test_augment_repeats_for_the_same_seed_and_position(adv, model_and_images):
    _, images = model_and_images
    tf = adv.tf
    image = tf.constant(images[0])
    first = adv._augment(7, tf.constant(3, tf.int64), image).numpy()
    again = adv._augment(7, tf.constant(3, tf.int64), image).numpy()
    other = adv._augment(8, tf.constant(3, tf.int64), image).numpy()
    assert first.dtype == np.uint8 and first.shape == images[0].shape
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_recalibrated_batchnorm_holds_the_exact_statistics_of_its_inputs(adv, model_and_images):
    _, images = model_and_images
    tf, layers = adv.tf, adv.layers
    adv.keras.utils.set_random_seed(1)
    model = adv.build_model()
    adv.recalibrate_batchnorm(model, images, batch_size=4)   # batches of unequal size: 4 and 2
    h = tf.constant(images, tf.float32)
    checked = 0
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            values = h.numpy().astype(np.float64).reshape(-1, h.shape[-1])
            np.testing.assert_allclose(layer.moving_mean.numpy(), values.mean(axis=0),
                                       rtol=1e-4, atol=1e-6)
            np.testing.assert_allclose(layer.moving_variance.numpy(), values.var(axis=0),
                                       rtol=1e-3, atol=1e-7)
            checked += 1
        h = layer(h, training=False)
    assert checked == 4


def test_save_model_writes_model_and_history_atomically(adv, cats_dogs_data, tmp_path):
    keras = adv.keras
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    path = tmp_path / "cache" / "cats_dogs_cnn-test.keras"
    cats_dogs_data.save_model(model, {"accuracy": [0.5, 0.75]}, path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["cats_dogs_cnn-test.json",
                                                             "cats_dogs_cnn-test.keras"]
    assert path.with_suffix(".json").read_text() == '{"accuracy": [0.5, 0.75]}'
    loaded = keras.models.load_model(path, safe_mode=True, compile=False)
    for saved, original in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(saved, original)
