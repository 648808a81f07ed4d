"""Tests of adversarial_example/cats_dogs_data.py: the images, the model files and their cache."""
import json
import shutil
import sys
from pathlib import Path

import adversarial_cats_dogs_lib as adv
import cats_dogs_data as data
import numpy as np
import pytest

from tests.adversarial_helpers import DAMAGES, damage

pytest_plugins = ["tests.adversarial_fixtures"]


def _as_arrays(ds):
    images, labels = zip(*ds.as_numpy_iterator())
    return np.stack(images), np.array(labels)


# ---- the images

def test_loader_skips_and_counts_undecodable_files(small_copy, capsys):
    loaded = data.load_datasets(small_copy)
    assert loaded.report == {"train": {"images": 6, "skipped": 2},
                             "validation": {"images": 4, "skipped": 0}}
    assert "2 undecodable file(s) skipped" in capsys.readouterr().out
    train_ds, val_ds = loaded
    images, labels = _as_arrays(train_ds)
    assert images.shape == (6, 128, 128, 3) and images.dtype == np.uint8
    assert labels.tolist() == [0, 0, 0, 1, 1, 1]
    images, labels = _as_arrays(val_ds)
    assert images.shape == (4, 128, 128, 3) and labels.tolist() == [0, 0, 1, 1]


def test_loader_is_quiet_when_asked(small_copy, capsys):
    data.load_datasets(small_copy, verbose=False)
    assert capsys.readouterr().out == ""


def test_loader_missing_folder_gives_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="CATS_DOGS_DIR") as info:
        data.load_datasets(tmp_path / "no_such_folder")
    assert data.DATA_URL in str(info.value)


def test_loader_without_any_source_names_both_ways(tmp_path, monkeypatch):
    monkeypatch.delenv("CATS_DOGS_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))   # an empty Keras cache

    def no_network(*args, **kwargs):
        raise OSError("no network in this test")

    monkeypatch.setattr(data.keras.utils, "get_file", no_network)
    with pytest.raises(FileNotFoundError, match="CATS_DOGS_DIR") as info:
        data.load_datasets()
    message = str(info.value)
    assert data.DATA_URL in message and "no network in this test" in message


@pytest.mark.slow   # reads all 3,000 photos (seconds); the notebook reads them on every run too
def test_real_data_labels_shapes_dtypes(cats_dogs_dir):
    loaded = data.load_datasets(cats_dogs_dir)
    assert loaded.report == {"train": {"images": 2000, "skipped": 0},
                             "validation": {"images": 1000, "skipped": 0}}
    train_ds, val_ds = loaded
    image, label = next(iter(val_ds))
    assert image.shape == (128, 128, 3) and image.dtype.name == "uint8"
    assert label.dtype.is_integer and int(label) == 0
    labels = np.array([label for _, label in val_ds.as_numpy_iterator()])
    assert np.bincount(labels).tolist() == [500, 500]


def test_validation_images_alone(small_copy):
    images, labels = data.load_validation_images(small_copy)
    assert images.shape == (4, 128, 128, 3) and images.dtype == np.uint8
    assert labels.tolist() == [0, 0, 1, 1] and labels.dtype == np.int32


# ---- the shipped model's files, damaged files, the cache folder

def test_shipped_model_matches_its_record():
    path, record_path = data.SHIPPED_MODEL, data.SHIPPED_RECORD
    record = json.loads(record_path.read_text())
    assert data.sha256_of(path) == record["sha256"]
    assert path.stat().st_size <= 5_000_000 and record["bytes"] == path.stat().st_size
    assert record["settings"] == adv.TRAIN_SETTINGS   # made with the settings the notebook shows
    assert record["validation_accuracy"] >= 0.85
    for key in ("tensorflow", "keras", "machine", "seed", "training_seconds", "history"):
        assert key in record
    model = data.keras.models.load_model(path, safe_mode=True, compile=False)
    built = adv.build_model()
    assert [w.shape for w in model.get_weights()] == [w.shape for w in built.get_weights()]


@pytest.mark.parametrize("how", sorted(DAMAGES))
def test_damaged_shipped_model_says_which_file_what_happened_and_what_to_do(tmp_path, how):
    path = tmp_path / "cats_dogs_classifier.keras"
    shutil.copy(data.SHIPPED_MODEL, path)
    shutil.copy(data.SHIPPED_RECORD, path.with_suffix(".json"))
    damage(path, how)
    with pytest.raises(data.DamagedModelFile) as info:
        data.load_shipped_model(path)
    message = str(info.value)
    assert str(path) in message and DAMAGES[how] in message
    assert "git checkout" in message and "from_scratch=True" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, path.stem + ".json"])


def test_shipped_model_without_its_record_is_refused(tmp_path):
    path = tmp_path / "cats_dogs_classifier.keras"
    shutil.copy(data.SHIPPED_MODEL, path)
    with pytest.raises(data.DamagedModelFile, match="missing"):
        data.load_shipped_model(path)


def test_cache_dir_is_the_variable_or_the_platforms_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("TF_BEYOND_DL_CACHE", str(tmp_path / "mine"))
    assert data.cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("TF_BEYOND_DL_CACHE")
    expected = data.platformdirs.user_cache_dir("tf-beyond-dl", appauthor=False)
    assert data.cache_dir() == Path(expected)
    if sys.platform.startswith("linux"):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert data.cache_dir() == tmp_path / "xdg" / "tf-beyond-dl"
