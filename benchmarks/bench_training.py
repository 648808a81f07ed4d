"""Benchmark: train the cats-vs-dogs classifier cold, once per seed; print accuracy and time.

Trains with the notebook's own recipe (adversarial_example/adversarial_cats_dogs.ipynb, its
`#@save` cells: build_model and TRAIN_SETTINGS; cats_dogs_training.train_classifier), so the figures
are those a user gets. Nothing is read from or written to the model cache. A different seed stands
in for another machine's rounding: the recipe must clear the notebook's accuracy check on every
seed, with margin.

    CATS_DOGS_DIR=/path/to/cats_and_dogs_filtered python -m benchmarks.bench_training \\
        --seeds 42 1 2

One line per seed: the seed, the training seconds (validation included), the validation accuracy
of the model the notebook uses, and, on the same weights, the accuracy with left-right flip
averaging at test time (not part of the recipe: the notebook attacks the model without it). Pin it
with `taskset -c 0` for one core, or set ONEDNN_MAX_CPU_ISA=AVX2 to stand in for a CPU without
AVX-512. Run it from the repository root, as a module.
"""
import argparse
import hashlib
import time
from pathlib import Path

import adversarial_cats_dogs_lib as adv  # imports TensorFlow with its start-up notices hidden
import numpy as np

from common.machine import machine_summary


def weights_digest(model) -> str:
    """Short SHA-256 of all the model's weights: equal digests mean identical weights."""
    digest = hashlib.sha256()
    for w in model.get_weights():
        digest.update(w.tobytes())
    return digest.hexdigest()[:12]


def accuracy(model, images, labels, flip_average=False) -> float:
    """Validation accuracy; with flip_average, of the image's and its mirror's summed logits."""
    logits = adv.logits_of(model).predict(images.astype(np.float32), batch_size=100, verbose=0)
    if flip_average:
        logits = logits + adv.logits_of(model).predict(
            images[:, :, ::-1].astype(np.float32), batch_size=100, verbose=0)
    return float(np.mean(logits.argmax(axis=1) == labels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    parser.add_argument("--data-dir", default=None, help="default: $CATS_DOGS_DIR or Keras' cache")
    parser.add_argument("--save-dir", type=Path, default=None,
                        help="also save each seed's model there, as seed-S.keras")
    args = parser.parse_args()

    adv.tf.config.experimental.enable_op_determinism()   # as the notebook does
    print(f"CPU: {machine_summary()}; TensorFlow {adv.tf.__version__}")
    print(f"recipe: {adv.TRAIN_SETTINGS}")
    train_ds, _ = adv.load_datasets(args.data_dir, verbose=False)
    val_images, val_labels = adv.load_validation_images(args.data_dir)
    print(f"{'seed':>6} {'train s':>8} {'val acc':>8} {'flip avg':>9} {'digest':>14}")
    rows = []
    for seed in args.seeds:
        start = time.perf_counter()
        model, _ = adv.train_classifier(adv.build_model, train_ds, adv.TRAIN_SETTINGS, seed=seed,
                                        progress=False)
        final = accuracy(model, val_images, val_labels)
        seconds = time.perf_counter() - start   # training and validation
        flip = accuracy(model, val_images, val_labels, flip_average=True)
        rows.append((seed, seconds, final))
        if args.save_dir:
            args.save_dir.mkdir(parents=True, exist_ok=True)
            model.save(args.save_dir / f"seed-{seed}.keras")
        print(f"{seed:>6} {seconds:8.0f} {final:8.1%} {flip:9.1%} {weights_digest(model):>14}",
              flush=True)
    accuracies = [a for _, _, a in rows]
    print(f"lowest accuracy {min(accuracies):.1%}, mean {np.mean(accuracies):.1%}; "
          f"slowest training {max(s for _, s, _ in rows):.0f} s")


if __name__ == "__main__":
    main()
