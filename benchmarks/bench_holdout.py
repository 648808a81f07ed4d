"""Benchmark: the robust recipe's choices made again on training photos held out, not validation.

The robust recipe (ROBUST_SETTINGS) was chosen by accuracy under attack on validation photos
(benchmarks/RESULTS.md, 2.3), the photos it is then scored on. This benchmark makes the main
choices again without them (issue 30, item 4): every fifth training photo (400 of 2,000, both
classes) is held out; the plain classifier is trained on the other 1,600 with TRAIN_SETTINGS;
each variant of --variants fine-tunes it adversarially on the same 1,600 (its own check after
training runs on held-out photos too); and each is scored on the 400 held-out photos, clean and
under the strong attack (PGD with random starts, --steps, --restarts, at epsilon). The variant
with the highest held-out robust accuracy is the one the held-out photos choose. No validation
photo is read.

    CATS_DOGS_DIR=/path/to/cats_and_dogs_filtered python -m benchmarks.bench_holdout

Run it from the repository root, as a module (about 40 minutes on 2 CPU cores).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

# The notebook's module first: it imports TensorFlow with its start-up notices hidden.
import adversarial_cats_dogs_lib as adv
import cats_dogs_data as data
import cats_dogs_robust as robust
import numpy as np
from attack_ensemble import wilson_interval

from common.machine import machine_summary

# The choices of RESULTS.md 2.3's second set that decided the recipe, as changes to it.
VARIANTS = {
    "recipe": {},
    "no-cutout": {"cutout": 0},
    "cutout-64": {"cutout": 64},
    "pgd2-cutout-48": {"epochs": 20, "training_attack": "pgd-random-start", "attack_steps": 2,
                       "step_size": 1.0},
}
HOLD_OUT_EVERY = 5


def split_training_photos(train_ds: adv.tf.data.Dataset) -> tuple[tuple, tuple]:
    """(kept images, labels), (held-out images, labels): every fifth photo held out."""
    images, labels = (np.stack(a) for a in zip(*train_ds.as_numpy_iterator()))
    held = np.zeros(len(labels), bool)
    held[::HOLD_OUT_EVERY] = True                # the split is sorted by class: both classes
    return (images[~held], labels[~held]), (images[held], labels[held])


def as_dataset(images: np.ndarray, labels: np.ndarray) -> adv.tf.data.Dataset:
    """Arrays as the (image, label) dataset that the training functions take."""
    return adv.tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int32)))


def score(model: adv.keras.Model, images: np.ndarray, labels: np.ndarray, settings: dict,
          args: argparse.Namespace) -> tuple[float, float]:
    """Clean accuracy and accuracy under the strong attack on the held-out photos."""
    clean = float(np.mean(adv.predict_proba(model, images).argmax(axis=1) == labels))
    attacked = robust.robust_accuracy(model, images, labels, epsilon=settings["epsilon"],
                                      steps=args.steps, restarts=args.restarts,
                                      seed=settings["seed"])
    return clean, attacked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="default: $CATS_DOGS_DIR or Keras' cache")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=20, help="strong attack: steps per restart")
    parser.add_argument("--restarts", type=int, default=3, help="strong attack: restarts")
    args = parser.parse_args()
    adv.tf.config.experimental.enable_op_determinism()   # as the notebook does
    print(f"CPU: {machine_summary()}; TensorFlow {adv.tf.__version__}")
    train_ds, _ = data.load_datasets(args.data_dir, verbose=False)
    (kept, kept_labels), (held, held_labels) = split_training_photos(train_ds)
    print(f"training photos: {len(kept_labels)} kept, {len(held_labels)} held out "
          f"({int(np.sum(held_labels == 0))} cats, {int(np.sum(held_labels == 1))} dogs)")
    kept_ds = as_dataset(kept, kept_labels)
    start = time.perf_counter()
    plain, _ = adv.train_classifier(adv.build_model, kept_ds, adv.TRAIN_SETTINGS,
                                    seed=adv.TRAIN_SETTINGS["seed"])
    plain_clean = float(np.mean(adv.predict_proba(plain, held).argmax(axis=1) == held_labels))
    print(f"plain model on the 1,600: held-out clean accuracy {plain_clean:.1%}, "
          f"{time.perf_counter() - start:.0f} s")
    with tempfile.TemporaryDirectory() as folder:
        plain_file = Path(folder) / "plain.keras"
        plain.save(plain_file)
        rows = []
        for name in args.variants:
            settings = {**robust.ROBUST_SETTINGS, **VARIANTS[name]}
            start = time.perf_counter()
            model, _ = robust.train_robust(
                adv.keras.models.load_model(plain_file, compile=False), kept_ds, settings,
                seed=settings["seed"], validation=(held, held_labels))
            seconds = time.perf_counter() - start
            clean, attacked = score(model, held, held_labels, settings, args)
            rows.append((name, clean, attacked))
            low, high = wilson_interval(round(attacked * len(held_labels)), len(held_labels))
            print(f"{name:16} held-out clean {clean:6.1%}, under PGD {args.steps}x{args.restarts} "
                  f"{attacked:6.1%} ({low:.1%}-{high:.1%}), training {seconds:.0f} s", flush=True)
    best = max(rows, key=lambda row: row[2])
    print(f"chosen on the held-out photos: {best[0]} ({best[2]:.1%} under attack)")


if __name__ == "__main__":
    main()
