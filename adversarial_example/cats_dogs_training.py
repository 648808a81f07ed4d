"""The training recipe of adversarial_cats_dogs.ipynb: augmentation, schedule, progress.

The notebook shows the network (`build_model`) and the settings (`TRAIN_SETTINGS`); this module
turns them into a trained model. It is the machinery the notebook needs but does not teach:
the lesson is the attack, and any ordinary classifier will do for it.

Everything is seeded: the shuffling and the augmentation use stateless random operations keyed
by the seed and the example's position in the training stream, so two runs on the same machine
give the same model. Another CPU, core count or GPU rounds differently and trains a slightly
different one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

import keras
import tensorflow as tf
from cats_dogs_data import IMAGE_SIZE

from common.progress import ProgressLine, text_bar

SETTING_NAMES = ("epochs", "batch_size", "peak_learning_rate", "warmup", "weight_decay",
                 "label_smoothing", "max_shift", "max_brightness", "flip")


def check_settings(settings: dict) -> None:
    """Raise ValueError naming any training setting that is missing or out of range."""
    missing = [name for name in SETTING_NAMES if name not in settings]
    if missing:
        raise ValueError(f"training settings lack {', '.join(missing)}")
    if not (isinstance(settings["epochs"], int) and settings["epochs"] >= 1):
        raise ValueError(f"epochs must be a whole number >= 1, got {settings['epochs']!r}")
    if not (isinstance(settings["batch_size"], int) and settings["batch_size"] >= 1):
        raise ValueError(f"batch_size must be a whole number >= 1, got {settings['batch_size']!r}")
    if not 0 <= settings["warmup"] < 1:
        raise ValueError(f"warmup is a share of all steps, in [0, 1); got {settings['warmup']!r}")
    if not 0 <= settings["max_shift"] < IMAGE_SIZE // 2:
        raise ValueError(f"max_shift must be in [0, {IMAGE_SIZE // 2}) pixels, "
                         f"got {settings['max_shift']!r}")


def augment(image: tf.Tensor, seed: int, index: tf.Tensor, max_shift: int,
            max_brightness: float, flip: bool = True, cutout: int = 0) -> tf.Tensor:
    """A random flip, shift and brightness change of one uint8 image; float32 pixel values 0..255.

    The shift is a random crop of the image padded by `max_shift` mirrored pixels on each side;
    the brightness change adds the same random number in [-max_brightness, max_brightness] to
    every channel. The randomness is a function of (seed, index) only.
    """
    seeds = tf.random.experimental.stateless_split(
        tf.stack([tf.constant(seed, tf.int64), tf.cast(index, tf.int64)]), 4 if cutout else 3)
    if flip:
        image = tf.image.stateless_random_flip_left_right(image, seeds[0])
    if max_shift:
        padding = [[max_shift, max_shift], [max_shift, max_shift], [0, 0]]
        image = tf.pad(image, padding, mode="REFLECT")
        image = tf.image.stateless_random_crop(image, [IMAGE_SIZE, IMAGE_SIZE, 3], seeds[1])
    image = tf.cast(image, tf.float32)
    if max_brightness:
        image += tf.random.stateless_uniform([], seeds[2], -max_brightness, max_brightness)
    image = tf.clip_by_value(image, 0.0, 255.0)
    if cutout:   # a grey square at a random place (Cutout, DeVries and Taylor 2017)
        corner = tf.random.stateless_uniform([2], seeds[3], 0, IMAGE_SIZE - cutout + 1, tf.int32)
        rows = tf.range(IMAGE_SIZE)[:, None]
        cols = tf.range(IMAGE_SIZE)[None, :]
        inside = ((rows >= corner[0]) & (rows < corner[0] + cutout)
                  & (cols >= corner[1]) & (cols < corner[1] + cutout))
        image = tf.where(inside[:, :, None], 128.0, image)
    return image


def training_batches(train_ds: tf.data.Dataset, settings: dict, seed: int) -> tf.data.Dataset:
    """An endless stream of augmented, shuffled batches: (images, one-hot labels)."""
    n_train = int(train_ds.cardinality())

    def augment_example(index, example):
        image, label = example
        image = augment(image, seed, index, settings["max_shift"], settings["max_brightness"],
                        settings["flip"], settings.get("cutout", 0))
        return image, tf.one_hot(label, 2)

    # Fixed parallelism, tf.data's autotuning off: with it on, fit() sometimes stayed up to a
    # minute past its last epoch on a busy 2-core machine, waiting for the tuning thread.
    options = tf.data.Options()
    options.autotune.enabled = False
    return (train_ds.shuffle(n_train, seed=seed).repeat().enumerate()
            .map(augment_example, num_parallel_calls=2, deterministic=True)
            .batch(settings["batch_size"], drop_remainder=True).prefetch(2)
            .with_options(options))


def learning_rate_schedule(settings: dict, total_steps: int
                           ) -> keras.optimizers.schedules.LearningRateSchedule:
    """Linear warm-up to the peak learning rate, then cosine decay to zero."""
    warmup_steps = int(settings["warmup"] * total_steps)
    return keras.optimizers.schedules.CosineDecay(
        0.0, total_steps - warmup_steps, warmup_target=settings["peak_learning_rate"],
        warmup_steps=warmup_steps)


def steps_per_epoch(train_ds: tf.data.Dataset, settings: dict) -> int:
    """Whole batches of settings["batch_size"] in the training set; ValueError if none."""
    steps = int(train_ds.cardinality()) // settings["batch_size"]
    if steps < 1:
        raise ValueError(f"{int(train_ds.cardinality())} training images are fewer than one "
                         f"batch of {settings['batch_size']}")
    return steps


def optimizer_and_loss(settings: dict, total_steps: int, **optimizer_options
                       ) -> tuple[keras.optimizers.Optimizer, keras.losses.Loss]:
    """AdamW on learning_rate_schedule, and the cross-entropy of the logits (label-smoothed).

    optimizer_options: more of AdamW's arguments (the robust recipe's weight averaging).
    """
    optimizer = keras.optimizers.AdamW(learning_rate_schedule(settings, total_steps),
                                       weight_decay=settings["weight_decay"], **optimizer_options)
    loss = keras.losses.CategoricalCrossentropy(from_logits=True,
                                                label_smoothing=settings["label_smoothing"])
    return optimizer, loss


def _clock(seconds: float) -> str:
    """Seconds as m:ss."""
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class TrainingProgress(keras.callbacks.Callback):
    """Shows the epoch, the training accuracy so far and the time left, after every epoch.

    In Jupyter, one line in the normal text colour, updated in place (its output is marked, and
    tools/run_notebooks.py leaves it out of stored notebooks); in a terminal, or with `stream`,
    one line per epoch on stderr (or `stream`).
    """

    def __init__(self, epochs: int, stream: TextIO | None = None):
        super().__init__()
        self.epochs = epochs
        self.line = ProgressLine(stream)

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()
        self.line.update(f"{text_bar(0, self.epochs)} training for {self.epochs} epochs ...")

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        elapsed = time.perf_counter() - self.start
        left = elapsed / done * (self.epochs - done)
        accuracy = (logs or {}).get("accuracy", float("nan"))
        self.line.update(f"{text_bar(done, self.epochs)} epoch {done:2}/{self.epochs}: training "
                         f"accuracy {accuracy:6.1%} (augmented images), {_clock(elapsed)} "
                         f"elapsed, about {_clock(left)} left")


def train_classifier(build_model: Callable[[], keras.Model], train_ds: tf.data.Dataset,
                     settings: dict, seed: int, progress: bool = True) -> tuple[keras.Model, dict]:
    """Train `build_model()` with `settings`; return (model, history).

    The model must output probabilities from a layer fed by a layer named "logits"; training
    minimises the cross-entropy of the logits (with label smoothing). history holds the
    per-epoch training loss and accuracy and the training time in seconds.
    """
    # The notebook's logits_of, imported here: the notebook's module imports this one.
    from adversarial_cats_dogs_lib import logits_of

    check_settings(settings)
    keras.utils.set_random_seed(seed)
    model = build_model()
    logits = logits_of(model)
    epochs = settings["epochs"]
    steps = steps_per_epoch(train_ds, settings)
    optimizer, loss = optimizer_and_loss(settings, epochs * steps)
    logits.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    callbacks = [TrainingProgress(epochs)] if progress else []
    start = time.perf_counter()
    fitted = logits.fit(training_batches(train_ds, settings, seed), epochs=epochs,
                        steps_per_epoch=steps, shuffle=False, verbose=0, callbacks=callbacks)
    history = {name: [float(v) for v in values] for name, values in fitted.history.items()}
    history["seconds"] = round(time.perf_counter() - start, 1)
    return model, history
