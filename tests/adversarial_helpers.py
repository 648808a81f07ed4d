"""Helpers shared by the tests of notebook 3's modules: tiny models, damaged model files."""
import zipfile
from pathlib import Path

import adversarial_cats_dogs_lib as adv
import keras
import numpy as np


def accuracy_on(model: keras.Model, images: np.ndarray, labels: np.ndarray) -> float:
    """The share of the images that the model classifies as labelled."""
    return float(np.mean(adv.predict_proba(model, images).argmax(axis=1) == labels))


def tiny_model() -> keras.Model:
    """A network as small as can be, shaped like build_model's: logits, then probabilities."""
    pixels = keras.Input((128, 128, 3))
    x = keras.layers.Conv2D(4, 8, strides=8, use_bias=False)(pixels)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    logits = keras.layers.Dense(2, name="logits")(x)
    return keras.Model(pixels, keras.layers.Softmax()(logits))


def linear_model(weights: np.ndarray, bias: float) -> keras.Model:
    """A model whose dog-minus-cat logit is weights . pixels + bias: its best attack is known."""
    pixels = keras.Input((128, 128, 3))
    logits = keras.layers.Dense(2, name="logits")(keras.layers.Flatten()(pixels))
    model = keras.Model(pixels, keras.layers.Softmax()(logits))
    kernel = np.stack([np.zeros(weights.size), weights.ravel()], axis=1).astype(np.float32)
    model.get_layer("logits").set_weights([kernel, np.array([0.0, bias], np.float32)])
    return model


# How a model file can be damaged, and what the error message then says.
DAMAGES = {"truncated": "not a .keras", "altered": "has changed", "not a zip": "not a .keras"}


def damage(path: Path, how: str) -> None:
    """Damage a model file as a new user might find it (one of DAMAGES)."""
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[:len(data) // 3])
    elif how == "altered":                      # still a zip, but not the recorded bytes
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr("extra.txt", "not part of the model")
    elif how == "not a zip":
        path.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:0\n")
