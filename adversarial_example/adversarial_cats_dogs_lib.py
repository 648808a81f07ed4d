"""Generated from adversarial_cats_dogs.ipynb by tools/export_cells.py: edit the notebook, not
this file."""


# ---- cell 2
import functools
import sys

assert sys.version_info >= (3, 11), "This notebook needs Python 3.11 or newer"

try:
    import common  # extra code: plot style, quiet start-up, progress display
except ImportError:  # opened without this repository installed
    raise ImportError(
        "This notebook needs the small `common` package of its repository (plot style, GIFs). "
        "From a clone of the repository run `pip install -r requirements.txt` (or just "
        "`pip install -e .`), then restart the kernel.") from None

with common.quiet_tensorflow_startup():  # hides TensorFlow's C++ start-up notices
    import keras
    import tensorflow as tf

import numpy as np
from keras import layers
from packaging.version import Version

assert Version(tf.__version__) >= Version("2.16"), \
    "This notebook needs TensorFlow 2.16 or newer (Keras 3): pip install -r requirements.txt"

SEED = 42


# ---- cell 6
from cats_dogs_data import (  # plumbing: cats_dogs_data.py, next to this notebook
    CLASS_NAMES,  # ("cat", "dog"): label 0 = cat, label 1 = dog
    IMAGE_SIZE,  # 128: images are resized to 128x128 pixels, 3 channels
    find_data_dir,
    load_cached_model,
    load_datasets,
    load_shipped_model,
    load_validation_images,
    model_cache_path,
    save_model,
)
from cats_dogs_training import train_classifier  # the training recipe, next to this notebook


# ---- cell 9
def residual_block(x, filters):
    """Convolution, pooling, normalization, GELU; a second convolution's output added back."""
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    x = layers.MaxPooling2D()(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("gelu")(x)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    y = layers.BatchNormalization()(y)
    y = layers.Activation("gelu")(y)
    return layers.Add()([x, y])


def build_model():
    """Pixel values 0...255, shape (n, 128, 128, 3), in; [P(cat), P(dog)] out."""
    pixels = keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 3), name="pixels")
    x = layers.Rescaling(1 / 255)(pixels)
    for filters in (16, 32):                 # 128x128 -> 64x64 -> 32x32 pixels
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.MaxPooling2D()(x)         # pool first: normalize 4x fewer values
        x = layers.BatchNormalization()(x)
        x = layers.Activation("gelu")(x)
    for filters in (64, 128, 256):           # -> 16x16 -> 8x8 -> 4x4
        x = residual_block(x, filters)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.2)(x)
    logits = layers.Dense(len(CLASS_NAMES), name="logits")(x)
    probabilities = layers.Softmax(name="probabilities")(logits)
    return keras.Model(pixels, probabilities, name="cats_vs_dogs")


# ---- cell 11
TRAIN_SETTINGS = {
    "model": "small-resnet-v1",     # change when build_model() changes
    "epochs": 40,
    "batch_size": 64,
    "peak_learning_rate": 2e-3,     # AdamW; linear warm-up, then cosine decay to 0
    "warmup": 0.1,                  # share of all steps spent warming up
    "weight_decay": 5e-4,
    "label_smoothing": 0.1,
    "flip": True,                   # random left-right flips
    "max_shift": 12,                # pixels, in each direction
    "max_brightness": 25,           # counts added to (or taken from) every channel
    "seed": SEED,
}


def model_path(data_dir=None):
    """Where get_model(from_scratch=True) caches the model trained with TRAIN_SETTINGS."""
    return model_cache_path(TRAIN_SETTINGS, find_data_dir(data_dir))


def get_model(from_scratch=False, data_dir=None):
    """The trained classifier: the one shipped in this folder, or one trained here.

    from_scratch=True: load the model trained with TRAIN_SETTINGS from the per-user cache, or
    train it (a few minutes, progress on stderr) and cache it.
    """
    if not from_scratch:
        return load_shipped_model()
    path = model_path(data_dir)
    model = load_cached_model(path)
    if model is None:
        data = load_datasets(data_dir, verbose=False)
        model, history = train_classifier(build_model, data.train, TRAIN_SETTINGS,
                                          seed=TRAIN_SETTINGS["seed"])
        save_model(model, {"settings": TRAIN_SETTINGS, "history": history}, path)
        model = load_cached_model(path)  # from the file, as every later run will load it
    return model


def predict_proba(model, images):
    """(n, 2) array of probabilities [P(cat), P(dog)] for images of shape (n, 128, 128, 3)."""
    # Batches made here: from an array, predict() makes them in a pipeline that TensorFlow
    # rewrites under op determinism, logging a harmless error line ("NodeDef mentions ...").
    batches = tf.data.Dataset.from_tensor_slices(np.asarray(images, np.float32)).batch(100)
    return model.predict(batches, verbose=0)


# ---- cell 14
def target_margin(logits_model, images, targets):
    """z_target - z_other for images (n, 128, 128, 3) of pixel values; targets: 0=cat, 1=dog.

    The image is classified as its target exactly when its margin is positive.
    """
    logits = logits_model(images, training=False)
    sign = tf.where(targets == 1, 1.0, -1.0)
    return sign * (logits[:, 1] - logits[:, 0])


@tf.function(reduce_retracing=True)
def margin_and_gradient(logits_model, images, targets):
    """The target margins of `images` and their gradient with respect to every pixel value."""
    with tf.GradientTape() as tape:
        tape.watch(images)
        margin = target_margin(logits_model, images, targets)
    return margin, tape.gradient(margin, images)


def attack_step(images, gradient, counts=1.0):
    """One count per channel (or `counts`), in the direction that raises the target margin; stay
    in 0..255."""
    return tf.clip_by_value(images + counts * tf.sign(gradient), 0.0, 255.0)


@functools.cache   # one per model: margin_and_gradient is traced once for each
def logits_of(model):
    """The same network without its final softmax: it outputs the two scores (logits)."""
    return keras.Model(model.input, model.get_layer("logits").output)


# ---- cell 25
def attack(model, images, target_labels, max_steps=16, min_margin=0.0, batch_size=250):
    """Push each image towards its target label, one count per channel per step.

    Returns (adversarial_uint8, steps_needed): steps_needed is the number of steps after which
    the image's target margin exceeded `min_margin` (0 if it already did), or -1 if `max_steps`
    steps did not get it there. Images are attacked `batch_size` at a time.
    """
    logits_model = logits_of(model)
    images = np.asarray(images, dtype=np.uint8)
    targets = np.asarray(target_labels, dtype=np.int32)
    adversarial = images.copy()
    steps_needed = np.full(len(images), -1)
    for start in range(0, len(images), batch_size):
        todo = np.arange(start, min(start + batch_size, len(images)))  # not there yet
        x = tf.constant(images[todo], tf.float32)
        t = tf.constant(targets[todo])
        for step in range(max_steps + 1):
            margin, gradient = margin_and_gradient(logits_model, x, t)
            done = margin.numpy() > min_margin
            steps_needed[todo[done]] = step
            adversarial[todo] = x.numpy().astype(np.uint8)
            if step == max_steps or done.all():
                break
            keep = ~done
            todo = todo[keep]
            x = attack_step(tf.boolean_mask(x, keep), tf.boolean_mask(gradient, keep))
            t = tf.boolean_mask(t, keep)
    return adversarial, steps_needed


# ---- cell 46
def project(x, originals, epsilon):
    """The nearest image to x within epsilon counts of the originals on every channel, in 0..255."""
    x = tf.clip_by_value(x, originals - epsilon, originals + epsilon)
    return tf.clip_by_value(x, 0.0, 255.0)


def default_step_size(epsilon):
    """The strong attack's step, in counts: a quarter of the budget, and at least 0.25."""
    return max(epsilon / 4, 0.25)


def strong_attack(model, images, target_labels, epsilon, steps=10, restarts=2, seed=SEED,
                  min_margin=0.0, step_size=None, batch_size=250):
    """attack() with a budget of epsilon counts, random starts, steps of epsilon / 4, restarts.

    Returns (adversarial, fooled_at): the float images reached (the first that fooled, where one
    did), and for each restart and image the step after which the target margin first exceeded
    min_margin (-1: not in that restart). An image fooled once is not attacked again.
    step_size: the counts of each step, if not default_step_size(epsilon).
    """
    logits_model = logits_of(model)
    images = np.asarray(images, dtype=np.float32)
    targets = np.asarray(target_labels, dtype=np.int32)
    step_size = default_step_size(epsilon) if step_size is None else step_size
    adversarial = images.copy()
    fooled_at = np.full((restarts, len(images)), -1)
    rng = np.random.default_rng(seed)
    for restart in range(restarts):
        for start in range(0, len(images), batch_size):
            todo = np.arange(start, min(start + batch_size, len(images)))
            todo = todo[np.all(fooled_at[:restart, todo] < 0, axis=0)]   # not fooled yet
            if len(todo) == 0:
                continue
            x0, t = tf.constant(images[todo]), tf.constant(targets[todo])
            noise = rng.uniform(-epsilon, epsilon, size=images[todo].shape)  # the random start
            x = project(x0 + tf.constant(noise, tf.float32), x0, epsilon)
            for step in range(steps + 1):
                margin, gradient = margin_and_gradient(logits_model, x, t)
                done = margin.numpy() > min_margin
                fooled_at[restart, todo[done]] = step
                adversarial[todo[done]] = x.numpy()[done]
                if step == steps or done.all():
                    break
                keep = ~done
                todo, x0, t = todo[keep], tf.boolean_mask(x0, keep), tf.boolean_mask(t, keep)
                x = attack_step(tf.boolean_mask(x, keep), tf.boolean_mask(gradient, keep),
                                counts=step_size)
                x = project(x, x0, epsilon)                             # back into the budget
            adversarial[todo[~done]] = x.numpy()[~done]     # where no step fooled: the last one
    return adversarial, fooled_at
