"""Fixtures shared by the tests of notebook 3's modules: small copies of the data, a model.

The test files load them with `pytest_plugins = ["tests.adversarial_fixtures"]` (their helper
functions are in tests/adversarial_helpers.py). The attack and the training are tested on small
untrained models (their rules do not depend on training) and a few real images. Tests that read
the real images take the `cats_dogs_dir` fixture (conftest.py), which skips them, saying why,
without the images.
"""
import shutil

import adversarial_cats_dogs_lib as adv
import keras
import numpy as np
import pytest
from cats_dogs_data import load_validation_images


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


@pytest.fixture(scope="module")
def model_and_images(small_copy):
    """An untrained model (seeded) and a few real images, plus two saturated ones (0 and 255)."""
    keras.utils.set_random_seed(0)
    model = adv.build_model()
    images, _ = load_validation_images(small_copy)
    edges = np.zeros((2, 128, 128, 3), np.uint8)
    edges[0, :, :64] = 255          # half black, half white: clipping must keep 0..255
    edges[1] = 255
    return model, np.concatenate([images, edges])


@pytest.fixture
def instant_training(monkeypatch, tmp_path):
    """An empty model cache in tmp_path, and a way to replace a training by an instant stand-in.

    Call it with the module, the name of its training function, and what makes the model from
    that function's arguments. It returns the list of the stand-in's calls, (args, kwargs) each.
    """
    monkeypatch.setenv("TF_BEYOND_DL_CACHE", str(tmp_path))

    def replace(module, name, make_model):
        calls = []

        def train_at_once(*args, **kwargs):
            calls.append((args, kwargs))
            return make_model(*args, **kwargs), {"accuracy": [0.5], "loss": [0.7], "seconds": 0.0}

        monkeypatch.setattr(module, name, train_at_once)
        return calls

    return replace


@pytest.fixture
def empty_cache(monkeypatch, tmp_path):
    """An empty model cache (TF_BEYOND_DL_CACHE) in tmp_path."""
    monkeypatch.setenv("TF_BEYOND_DL_CACHE", str(tmp_path))
    return tmp_path


@pytest.fixture
def as_in_the_notebook():
    """Op determinism on, as the notebook's setup turns it on (for the recipes trained cold)."""
    adv.tf.config.experimental.enable_op_determinism()
