"""The defence of adversarial_cats_dogs.ipynb: adversarial training, and its measure.

Adversarial training (Goodfellow et al. 2015; Madry et al. 2018) fine-tunes the trained classifier
on attacked images: each batch is first pushed, by the notebook's own gradient-sign step, as far
as an L-inf budget of `epsilon` pixel counts allows, and the weights are then updated on the
pushed batch. The training attack is FGSM with a random start (Wong, Rice & Kolter 2020, "Fast is
better than free"): one step of 1.25 epsilon from a random point of the epsilon-ball.

The attack, its projection and the strong attack (PGD with random starts and restarts, as an
attacker would run it: Carlini et al. 2019) are the notebook's own, from its `#@save` cells
(adversarial_cats_dogs_lib.py): the defence is trained and measured with the code the notebook
shows.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from adversarial_cats_dogs_lib import (
    TRAIN_SETTINGS,
    logits_of,
    margin_and_gradient,
    predict_proba,
    project,
    strong_attack,
)
from cats_dogs_data import (
    IMAGE_SIZE,
    SHIPPED_MODEL,
    DamagedModelFile,
    find_data_dir,
    load_cached_model,
    load_datasets,
    load_model_file,
    load_record,
    load_shipped_model,
    load_validation_images,
    model_cache_path,
    save_model,
    sha256_of,
)
from cats_dogs_training import (
    TrainingProgress,
    check_settings,
    optimizer_and_loss,
    steps_per_epoch,
    training_batches,
)

from common.progress import text_bar

ROBUST_SETTINGS = {
    **TRAIN_SETTINGS,                     # the plain recipe (the notebook's), except:
    "start_from": "cats_dogs_classifier.keras",  # fine-tuned from the shipped plain model
    "epsilon": 2,                         # L-inf budget, in pixel counts
    "training_attack": "fgsm-random-start",
    "attack_steps": 1,
    "step_size": 1.25,                    # the training attack's step, as a multiple of epsilon
    "epsilon_ramp": 0.3,                  # share of the steps over which epsilon grows from 0
    "epochs": 30,
    "weight_averaging": 0.99,             # momentum of an exponential average of the weights
    "cutout": 48,                         # side of a grey square put at a random place
    "validate_images": 200,               # checked after training, clean and under PGD
    "validate_steps": 10,
}

ROBUST_SETTING_NAMES = ("start_from", "epsilon", "training_attack", "attack_steps", "step_size",
                        "epsilon_ramp", "cutout", "weight_averaging", "validate_images",
                        "validate_steps")
TRAINING_ATTACKS = ("fgsm-random-start", "pgd-random-start")


def check_robust_settings(settings: dict) -> None:
    """Raise ValueError naming any robust-training setting that is missing or out of range."""
    check_settings(settings)
    missing = [name for name in ROBUST_SETTING_NAMES if name not in settings]
    if missing:
        raise ValueError(f"robust training settings lack {', '.join(missing)}")
    if not (isinstance(settings["epsilon"], (int, float)) and 0 < settings["epsilon"] <= 64):
        raise ValueError(f"epsilon must be a number of counts in (0, 64], "
                         f"got {settings['epsilon']!r}")
    if settings["training_attack"] not in TRAINING_ATTACKS:
        raise ValueError(f"training_attack must be one of {TRAINING_ATTACKS}, "
                         f"got {settings['training_attack']!r}")
    steps, one_step = settings["attack_steps"], settings["training_attack"] == "fgsm-random-start"
    if not (isinstance(steps, int) and steps >= 1 and (steps == 1) == one_step):
        raise ValueError(f"attack_steps must be 1 for fgsm-random-start and a whole number >= 2 "
                         f"for pgd-random-start; got {steps!r} for {settings['training_attack']}")
    if not (isinstance(settings["cutout"], int) and 0 <= settings["cutout"] < IMAGE_SIZE):
        raise ValueError(f"cutout is the side of a square in pixels, in [0, {IMAGE_SIZE}); "
                         f"got {settings['cutout']!r}")
    if not 0 < settings["step_size"] <= 4:
        raise ValueError(f"step_size is a multiple of epsilon in (0, 4], "
                         f"got {settings['step_size']!r}")
    if not 0 <= settings["weight_averaging"] < 1:
        raise ValueError(f"weight_averaging is a momentum in [0, 1) (0: no averaging); "
                         f"got {settings['weight_averaging']!r}")
    if not 0 <= settings["epsilon_ramp"] < 1:
        raise ValueError(f"epsilon_ramp is a share of all steps, in [0, 1); "
                         f"got {settings['epsilon_ramp']!r}")


# ---- the strong attack's measure

def robust_accuracy(model: keras.Model, images: np.ndarray, labels: np.ndarray, *,
                    epsilon: float, **attack_options) -> float:
    """Share of `images` classified correctly and not fooled by strong_attack within epsilon.

    attack_options: strong_attack's (steps, restarts, seed, step_size, ...).
    """
    if epsilon <= 0 or attack_options.get("restarts", 1) < 1:
        raise ValueError(f"need epsilon > 0 and restarts >= 1; got epsilon={epsilon}, "
                         f"restarts={attack_options.get('restarts')}")
    labels = np.asarray(labels)
    correct = predict_proba(model, images).argmax(axis=1) == labels
    _, fooled_at = strong_attack(model, images[correct], 1 - labels[correct], epsilon,
                                 **attack_options)
    fooled = np.any(fooled_at >= 0, axis=0)     # by any restart
    return float(np.sum(~fooled) / len(labels))


# ---- adversarial training

class RobustProgress(TrainingProgress):
    """TrainingProgress that also shows the validation check (clean and attacked accuracy)."""

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        logs = logs or {}
        if "val_clean" in logs:
            self.line.update(f"{text_bar(epoch + 1, self.epochs)} validation subset: clean "
                             f"{logs['val_clean']:.1%}, under attack {logs['val_robust']:.1%} "
                             f"(epsilon {logs['epsilon']:g})")


def _epsilon_at(settings: dict, step: tf.Tensor, total_steps: int) -> tf.Tensor:
    """The training budget at `step`: ramped linearly from 0 over the first epsilon_ramp share."""
    ramp_steps = settings["epsilon_ramp"] * total_steps
    share = tf.constant(1.0) if ramp_steps == 0 else tf.minimum(
        1.0, tf.cast(step + 1, tf.float32) / ramp_steps)
    return settings["epsilon"] * share


def fgsm_random_start(logits_model: keras.Model, images: tf.Tensor, labels: tf.Tensor,
                      epsilon: tf.Tensor, step_size: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Images pushed by one gradient-sign step from a random point of the epsilon-ball."""
    noise = tf.random.stateless_uniform(tf.shape(images), seed, -1.0, 1.0) * epsilon
    x = project(images + noise, images, epsilon)
    _, gradient = margin_and_gradient(logits_model, x, 1 - labels)   # towards the other class
    attacked = project(x + step_size * tf.sign(gradient), images, epsilon)
    return attacked


def pgd_random_start(logits_model: keras.Model, images: tf.Tensor, labels: tf.Tensor,
                     epsilon: tf.Tensor, step_size: tf.Tensor, seed: tf.Tensor,
                     steps: int) -> tf.Tensor:
    """fgsm_random_start followed by steps - 1 more gradient-sign steps, each projected."""
    x = fgsm_random_start(logits_model, images, labels, epsilon, step_size, seed)
    for _ in range(steps - 1):
        _, gradient = margin_and_gradient(logits_model, x, 1 - labels)
        x = project(x + step_size * tf.sign(gradient), images, epsilon)
    return x


def train_robust(model: keras.Model, train_ds: tf.data.Dataset, settings: dict, seed: int, *,
                 validation: tuple[np.ndarray, np.ndarray] | None = None,
                 progress: bool = True) -> tuple[keras.Model, dict]:
    """Adversarially fine-tune `model` (changed in place) with `settings`; return (model, history).

    validation: (images, labels); the first validate_images of them are checked after the last
    epoch (and printed with progress), clean and under a PGD of validate_steps steps, to catch
    catastrophic overfitting. history holds the per-epoch training loss and accuracy on attacked
    images, the check's results and the training time in seconds (validation included).
    """
    check_robust_settings(settings)
    keras.utils.set_random_seed(seed)
    logits_model = logits_of(model)
    epochs = settings["epochs"]
    steps = steps_per_epoch(train_ds, settings)
    total = epochs * steps
    averaging = settings["weight_averaging"]
    optimizer, loss_fn = optimizer_and_loss(settings, total, use_ema=averaging > 0,
                                            ema_momentum=averaging or 0.99)
    optimizer.build(logits_model.trainable_variables)

    @tf.function
    def train_step(images, one_hot, step):
        epsilon = _epsilon_at(settings, step, total)
        labels = tf.argmax(one_hot, axis=1, output_type=tf.int32)
        attacked = pgd_random_start(logits_model, images, labels, epsilon,
                                    settings["step_size"] * epsilon,
                                    tf.stack([tf.constant(seed, tf.int64),
                                              tf.cast(step, tf.int64)]),
                                    settings["attack_steps"])
        with tf.GradientTape() as tape:
            logits = logits_model(attacked, training=True)
            loss = loss_fn(one_hot, logits)
        variables = logits_model.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        correct = tf.reduce_mean(tf.cast(tf.argmax(logits, axis=1, output_type=tf.int32)
                                         == labels, tf.float32))
        return loss, correct

    callback = RobustProgress(epochs) if progress else None
    history = {"loss": [], "accuracy": []}
    start, cpu_start = time.perf_counter(), time.process_time()
    if callback:
        callback.on_train_begin()
    batches = iter(training_batches(train_ds, settings, seed))
    for epoch in range(epochs):
        losses, accuracies = [], []
        for i in range(steps):
            images, one_hot = next(batches)
            loss, correct = train_step(images, one_hot, tf.constant(epoch * steps + i))
            losses.append(float(loss))
            accuracies.append(float(correct))
        logs = {"loss": float(np.mean(losses)), "accuracy": float(np.mean(accuracies))}
        history["loss"].append(logs["loss"])
        history["accuracy"].append(logs["accuracy"])
        if averaging and epoch == epochs - 1:   # the averaged weights replace the last ones
            optimizer.finalize_variable_values(logits_model.trainable_variables)
        if validation is not None and epoch == epochs - 1:
            logs.update(_validate(model, validation, settings))
            history.update({k: logs[k] for k in ("val_clean", "val_robust")})
        if callback:
            callback.on_epoch_end(epoch, logs)
    history["seconds"] = round(time.perf_counter() - start, 1)
    history["cpu_seconds"] = round(time.process_time() - cpu_start, 1)   # summed over cores
    return model, history


def _validate(model: keras.Model, validation: tuple[np.ndarray, np.ndarray],
              settings: dict) -> dict:
    """Clean and attacked accuracy on the first validate_images validation images."""
    n = settings["validate_images"]
    # a spread of both classes: every (len / n)-th image, as the split is sorted by class
    every = max(1, math.floor(len(validation[0]) / n))
    images, labels = validation[0][::every][:n], validation[1][::every][:n]
    clean = float(np.mean(predict_proba(model, images).argmax(axis=1) == labels))
    # seed 0: the random starts this check has always used (its results are in the records)
    robust = robust_accuracy(model, images, labels, epsilon=settings["epsilon"],
                             steps=settings["validate_steps"], restarts=1, seed=0)
    return {"val_clean": clean, "val_robust": robust, "epsilon": settings["epsilon"]}


ROBUST_MODEL = SHIPPED_MODEL.with_name("cats_dogs_robust.keras")
ROBUST_RECORD = ROBUST_MODEL.with_suffix(".json")


def check_robust_record(record: dict, record_path: Path, settings: dict) -> None:
    """Raise DamagedModelFile unless the record was made with `settings` from the shipped start.

    Names the settings that differ (epsilon first), or says when the robust model was fine-tuned
    from another plain model than the one beside it.
    """
    made_with = record.get("settings")
    if not isinstance(made_with, dict):
        raise DamagedModelFile(f"{record_path} has no settings entry")
    if record.get("epsilon") != settings["epsilon"]:
        raise DamagedModelFile(f"{record_path} is of a model trained at epsilon "
                               f"{record.get('epsilon')!r}, but the settings ask for epsilon "
                               f"{settings['epsilon']!r}")
    differ = sorted(name for name in set(made_with) | set(settings)
                    if made_with.get(name) != settings.get(name))
    if differ:
        raise DamagedModelFile(f"{record_path} is of a model made with other settings than "
                               f"these: {', '.join(differ)} differ")
    start = SHIPPED_MODEL.with_name(settings["start_from"])
    if record.get("start_sha256") != sha256_of(start):
        raise DamagedModelFile(f"{record_path} says its model was fine-tuned from a "
                               f"{start.name} with SHA-256 "
                               f"{str(record.get('start_sha256'))[:16]}..., not from the one in "
                               f"{start.parent}")


def load_robust_model(path: Path = ROBUST_MODEL, settings: dict = ROBUST_SETTINGS) -> keras.Model:
    """The shipped robust classifier, checked against its record and against `settings`.

    Raises DamagedModelFile naming the file and what is wrong: a missing, altered or unloadable
    model or record, a plain model's record, or a record of other settings (epsilon, recipe,
    starting model) than `settings`. Nothing is deleted.
    """
    record_path = path.with_suffix(".json")
    try:
        model = load_model_file(path, robust=True)
        check_robust_record(load_record(record_path), record_path, settings)
    except DamagedModelFile as error:
        raise DamagedModelFile(
            f"The shipped robust model cannot be used: {error}. Restore both files from the "
            f"repository (git checkout -- {path.name} {path.stem}.json, in {path.parent}), or "
            f"train your own with get_robust_model(from_scratch=True), which takes several "
            f"minutes.") from None
    return model


def robust_model_path(data_dir: str | os.PathLike | None = None,
                      settings: dict = ROBUST_SETTINGS) -> Path:
    """Where get_robust_model(from_scratch=True) caches the model made with `settings`."""
    start = SHIPPED_MODEL.with_name(settings["start_from"])
    return model_cache_path({**settings, "start_sha256": sha256_of(start)},
                            find_data_dir(data_dir))


def get_robust_model(from_scratch: bool = False, data_dir: str | os.PathLike | None = None,
                     settings: dict = ROBUST_SETTINGS) -> keras.Model:
    """The adversarially trained classifier: the one shipped in this folder, or one made here.

    from_scratch=True: load the model made with `settings` from the per-user cache, or make it
    (adversarial fine-tuning of the shipped plain model: several minutes, progress on stderr)
    and cache it.
    """
    if not from_scratch:
        return load_robust_model(settings=settings)
    path = robust_model_path(data_dir, settings)
    model = load_cached_model(path, robust=True)
    if model is None:
        model, history = make_robust_model(settings, data_dir)
        start = SHIPPED_MODEL.with_name(settings["start_from"])
        save_model(model, {"settings": settings, "epsilon": settings["epsilon"],
                           "start_sha256": sha256_of(start), "history": history}, path)
        model = load_cached_model(path, robust=True)  # from the file, as later runs load it
    return model


def make_robust_model(settings: dict = ROBUST_SETTINGS,
                      data_dir: str | os.PathLike | None = None, progress: bool = True
                      ) -> tuple[keras.Model, dict]:
    """Fine-tune the shipped plain model with `settings` (its seed); return (model, history)."""
    check_robust_settings(settings)
    start = load_shipped_model(SHIPPED_MODEL.with_name(settings["start_from"]))
    train_ds, _ = load_datasets(data_dir, verbose=False)
    validation = load_validation_images(data_dir)
    return train_robust(start, train_ds, settings, settings["seed"], validation=validation,
                        progress=progress)
