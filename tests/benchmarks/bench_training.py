"""Benchmark: train the cats-vs-dogs classifier cold, once per seed; print accuracy and time.

Trains with the notebook's own recipe (adversarial_example/adversarial_cats_dogs.ipynb, cells
tagged `api`), so the figures are those a user gets. Nothing is read from or written to the model
cache. A different seed stands in for another machine's rounding: the recipe must clear the
notebook's accuracy target on every seed, with margin.

    CATS_DOGS_DIR=/path/to/cats_and_dogs_filtered python -m tests.benchmarks.bench_training \
        --seeds 42 1 2

Run it from the repository root, as a module. Pin it with `taskset -c 0` to see the one-core
figures. Each run takes about half an hour on 2 cores (AMD EPYC, Zen 4), 50 minutes on one.
"""
import argparse
import hashlib
import os
import platform
import time
from pathlib import Path

import numpy as np

from tests.notebook_api import load_api_module

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[2]

NOTEBOOK = ROOT / "adversarial_example" / "adversarial_cats_dogs.ipynb"


def cpu_model() -> str:
    """The CPU's model name as the OS reports it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def weights_digest(model) -> str:
    """Short SHA-256 of all the model's weights: equal digests mean identical weights."""
    digest = hashlib.sha256()
    for w in model.get_weights():
        digest.update(w.tobytes())
    return digest.hexdigest()[:12]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    parser.add_argument("--data-dir", default=None, help="default: $CATS_DOGS_DIR or Keras' cache")
    args = parser.parse_args()

    adv = load_api_module(NOTEBOOK, "adversarial_cats_dogs")
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset")
    print(f"CPU: {cpu_model()}, {os.cpu_count()} logical cores, "
          f"{len(os.sched_getaffinity(0))} usable; "
          f"TensorFlow {adv.tf.__version__}, TF_ENABLE_ONEDNN_OPTS={onednn}")
    print(f"recipe: {adv.TRAIN_SETTINGS}")
    train_ds, val_ds = adv.load_datasets(args.data_dir)
    val_images = np.stack([image for image, _ in val_ds.as_numpy_iterator()])
    val_labels = np.array([label for _, label in val_ds.as_numpy_iterator()])
    print(f"{'seed':>6} {'train s':>8} {'val acc':>8} {'digest':>14}")
    rows = []
    for seed in args.seeds:
        start = time.perf_counter()
        model, _ = adv.train_model(train_ds, val_ds, seed=seed)
        seconds = time.perf_counter() - start
        predicted = adv.predict_proba(model, val_images).argmax(axis=1)
        accuracy = float(np.mean(predicted == val_labels))
        rows.append((seed, seconds, accuracy))
        print(f"{seed:>6} {seconds:8.0f} {accuracy:8.1%} {weights_digest(model):>14}", flush=True)
    accuracies = [a for _, _, a in rows]
    print(f"lowest accuracy {min(accuracies):.1%}, mean {np.mean(accuracies):.1%}; "
          f"slowest training {max(s for _, s, _ in rows):.0f} s")


if __name__ == "__main__":
    main()
