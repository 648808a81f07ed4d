"""Tests of adversarial_example/cats_dogs_training.py, the recipe that trains notebook 3's network.

One test, marked `training`, trains the real recipe cold and checks the notebook's accuracy
claim: the recipe is proven, not only the shipped weights.
"""
import io

import adversarial_cats_dogs_lib as adv
import cats_dogs_data as data
import cats_dogs_training as training
import numpy as np
import pytest
import tensorflow as tf

from tests.adversarial_helpers import accuracy_on, tiny_model

pytest_plugins = ["tests.adversarial_fixtures"]


def test_augment_repeats_for_the_same_seed_and_position(model_and_images):
    _, images = model_and_images
    image = tf.constant(images[0])
    first = training.augment(image, 7, tf.constant(3), max_shift=12, max_brightness=25).numpy()
    again = training.augment(image, 7, tf.constant(3), max_shift=12, max_brightness=25).numpy()
    other = training.augment(image, 8, tf.constant(3), max_shift=12, max_brightness=25).numpy()
    assert first.dtype == np.float32 and first.shape == images[0].shape
    assert first.min() >= 0 and first.max() <= 255
    assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_augment_shift_is_a_window_of_the_mirrored_image(model_and_images):
    _, images = model_and_images
    image, shift = images[0], 5
    padded = np.pad(image, [(shift, shift), (shift, shift), (0, 0)], mode="reflect")
    windows = {padded[r:r + 128, c:c + 128].tobytes()
               for r in range(2 * shift + 1) for c in range(2 * shift + 1)}
    for index in range(4):
        out = training.augment(tf.constant(image), 0, tf.constant(index), max_shift=shift,
                               max_brightness=0, flip=False).numpy()
        assert out.astype(np.uint8).tobytes() in windows


def test_augment_cutout_greys_one_square_of_the_given_side(model_and_images):
    _, images = model_and_images
    side = 40
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


def test_settings_are_checked_by_name():
    settings = dict(adv.TRAIN_SETTINGS)
    training.check_settings(settings)
    with pytest.raises(ValueError, match="label_smoothing"):
        training.check_settings({k: v for k, v in settings.items() if k != "label_smoothing"})
    with pytest.raises(ValueError, match="epochs"):
        training.check_settings({**settings, "epochs": 0})
    with pytest.raises(ValueError, match="max_shift"):
        training.check_settings({**settings, "max_shift": 64})


def test_training_batches_are_augmented_with_one_hot_labels(small_copy):
    train_ds, _ = data.load_datasets(small_copy, verbose=False)
    settings = {**adv.TRAIN_SETTINGS, "batch_size": 4}
    images, labels = next(iter(training.training_batches(train_ds, settings, seed=0)))
    assert images.shape == (4, 128, 128, 3) and images.dtype.name == "float32"
    assert labels.shape == (4, 2) and np.all(labels.numpy().sum(axis=1) == 1)


def test_fewer_images_than_one_batch_are_refused(small_copy):
    train_ds, _ = data.load_datasets(small_copy, verbose=False)
    assert training.steps_per_epoch(train_ds, {"batch_size": 4}) == 1   # 6 images
    with pytest.raises(ValueError, match="fewer than one batch of 7"):
        training.steps_per_epoch(train_ds, {"batch_size": 7})


def test_progress_shows_epoch_accuracy_and_time_left():
    stream = io.StringIO()
    progress = training.TrainingProgress(epochs=4, stream=stream)
    progress.on_train_begin()
    progress.on_epoch_end(0, {"accuracy": 0.625})
    lines = stream.getvalue().splitlines()
    assert lines[0] == "░" * 20 + " training for 4 epochs ..."
    assert lines[1].startswith("█" * 5 + "░" * 15 + " epoch  1/4: training accuracy  62.5%")
    assert "left" in lines[1]


def test_train_classifier_reports_progress_and_history(small_copy, capsys):
    train_ds, _ = data.load_datasets(small_copy, verbose=False)
    settings = {**adv.TRAIN_SETTINGS, "epochs": 2, "batch_size": 2}
    model, history = training.train_classifier(tiny_model, train_ds, settings, seed=0)
    assert len(history["accuracy"]) == 2 and len(history["loss"]) == 2
    assert history["seconds"] > 0
    err = capsys.readouterr().err
    assert "epoch  2/2" in err and "left" in err


# ---- the recipe itself, trained cold: the claim the notebook makes of any training run

ACCURACY_CLAIM = 0.85  # what the notebook asserts; the seeds measured gave 88.1-90.9% (see README)


@pytest.mark.training
def test_recipe_trains_cold_to_the_claimed_accuracy(cats_dogs_dir, empty_cache,
                                                    as_in_the_notebook):
    """The notebook's own path: get_model(from_scratch=True) with an empty cache."""
    model = adv.get_model(from_scratch=True, data_dir=cats_dogs_dir)
    accuracy = accuracy_on(model, *data.load_validation_images(cats_dogs_dir))
    print(f"validation accuracy of the model trained cold: {accuracy:.1%}")
    assert accuracy >= ACCURACY_CLAIM
    assert adv.model_path(cats_dogs_dir).exists()      # cached for the next run
