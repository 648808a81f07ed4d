"""Benchmark: adversarially fine-tune the shipped classifier per seed; clean and robust accuracy.

Trains with the robust recipe (adversarial_example/cats_dogs_robust.py: ROBUST_SETTINGS and
train_robust), starting from the shipped plain model, as get_robust_model(from_scratch=True)
does. Nothing is read from or written to the model cache. A different seed stands in for another
machine's rounding: the recipe must clear its floor (robust accuracy at epsilon under the strong
attack, clean accuracy) on every seed.

    CATS_DOGS_DIR=/path/to/cats_and_dogs_filtered python -m benchmarks.bench_robust \\
        --seeds 42 1 2

One line per seed: the seed, the training seconds (the recipe's own validation check included),
the clean validation accuracy, and the robust accuracy at epsilon under the strong attack (PGD with
a random start; --steps and --restarts) on all 1000 validation images (or the first --images of
them, spread over both classes). --set name=value overrides a setting (for trying a variant).
Pin it with `taskset -c 0` for one core, or set ONEDNN_MAX_CPU_ISA=AVX2 to stand in for a CPU
without AVX-512. Run it from the repository root, as a module.
"""
import argparse
import ast
import time
from pathlib import Path

# The notebook's module first: it imports TensorFlow with its start-up notices hidden.
import adversarial_cats_dogs_lib as adv
import cats_dogs_data as data
import cats_dogs_robust as robust
import numpy as np

from benchmarks.bench_training import weights_digest
from common.machine import machine_summary


def parse_override(text: str) -> tuple[str, object]:
    """'name=value' as (name, the value as a Python literal, or the text itself)."""
    name, _, value = text.partition("=")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    parser.add_argument("--data-dir", default=None, help="default: $CATS_DOGS_DIR or Keras' cache")
    parser.add_argument("--steps", type=int, default=20, help="strong attack: steps per restart")
    parser.add_argument("--restarts", type=int, default=3, help="strong attack: restarts")
    parser.add_argument("--images", type=int, default=1000, help="validation images attacked")
    parser.add_argument("--set", type=parse_override, action="append", default=[],
                        metavar="NAME=VALUE", help="override a setting of ROBUST_SETTINGS")
    parser.add_argument("--save-dir", type=Path, default=None,
                        help="also save each seed's model there, as robust-seed-S.keras")
    args = parser.parse_args()

    adv.tf.config.experimental.enable_op_determinism()   # as the notebook does
    settings = {**robust.ROBUST_SETTINGS, **dict(args.set)}
    print(f"CPU: {machine_summary()}; TensorFlow {adv.tf.__version__}")
    print(f"recipe: {settings}")
    print(f"strong attack: PGD, random start, {args.steps} steps of epsilon/4, "
          f"{args.restarts} restarts")
    train_ds, _ = adv.load_datasets(args.data_dir, verbose=False)
    images, labels = adv.load_validation_images(args.data_dir)
    # evenly spread over the split, which is sorted by class: both classes in proportion
    chosen = np.unique(np.linspace(0, len(images) - 1, min(args.images, len(images))).round()
                       .astype(int))
    images, labels = images[chosen], labels[chosen]
    print(f"{'seed':>6} {'train s':>8} {'clean':>7} {'robust':>7} {'val chk':>8} "
          f"{'attack s':>9} {'cpu s':>7} {'digest':>14}")
    rows = []
    for seed in args.seeds:
        start = time.perf_counter()
        model, history = robust.train_robust(
            data.load_shipped_model(), train_ds, settings, seed=seed,
            validation=(images, labels), progress=True)
        seconds = time.perf_counter() - start
        if args.save_dir:
            args.save_dir.mkdir(parents=True, exist_ok=True)
            model.save(args.save_dir / f"robust-seed-{seed}.keras")
        clean = float(np.mean(adv.predict_proba(model, images).argmax(axis=1) == labels))
        start = time.perf_counter()
        robust_acc = robust.robust_accuracy(model, images, labels, epsilon=settings["epsilon"],
                                            steps=args.steps, restarts=args.restarts, seed=seed)
        attack_seconds = time.perf_counter() - start
        rows.append((seed, seconds, clean, robust_acc))
        print(f"{seed:>6} {seconds:8.0f} {clean:7.1%} {robust_acc:7.1%} "
              f"{history.get('val_robust', float('nan')):8.1%} {attack_seconds:9.0f} "
              f"{history['cpu_seconds']:7.0f} "
              f"{weights_digest(model):>14}", flush=True)
    print(f"lowest clean {min(r[2] for r in rows):.1%}, lowest robust {min(r[3] for r in rows):.1%}"
          f"; slowest training {max(r[1] for r in rows):.0f} s")


if __name__ == "__main__":
    main()
