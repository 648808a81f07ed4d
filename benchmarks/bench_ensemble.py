"""Benchmark: the attack ensemble against the shipped robust model, at epsilon 2 counts (2/255).

Runs adversarial_example/attack_ensemble.py's ensemble (Auto-PGD on the target margin, then
Square on what survives; AutoAttack's rule, rounded 8-bit images) on --images validation images
spread over both classes, and prints per attack the images attacked, newly fooled and seconds,
then the clean accuracy and the worst case over the ensemble, each with its 95% Wilson interval,
and the CPU it ran on. The robust record's robust_accuracy is this figure on all 1000 images,
written by `python adversarial_example/make_models.py measure`.

    CATS_DOGS_DIR=/path/to/cats_and_dogs_filtered python -m benchmarks.bench_ensemble --images 300

--steps, --restarts, --queries and --p-init override the ensemble's settings (ENSEMBLE in
attack_ensemble.py); --attacks runs some of them only (e.g. Square alone on the plain model: how
strong is it where the gradient attack fools every image?); --model attacks another model file
(e.g. a robust model of another seed, from `python -m benchmarks.bench_robust --save-dir`),
--save-mask writes which validation images stayed robust ('1'), fooled ('0') or were not
attacked ('-'), by index in load_validation_images' order, for bench_art_crosscheck.py and
bench_transfer.py to compare with. Run it from the repository root, as a module.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import NamedTuple

# The notebook's module first: it imports TensorFlow with its start-up notices hidden.
import adversarial_cats_dogs_lib as adv
import attack_ensemble as ae
import keras
import numpy as np
import tensorflow as tf
from cats_dogs_data import load_validation_images

from common.files import write_atomically
from common.machine import machine_summary

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "adversarial_example"

ROBUST_MODEL = FOLDER / "cats_dogs_robust.keras"


def load_models(path: Path = ROBUST_MODEL) -> tuple[keras.Model, keras.Model]:
    """The shipped robust model (softmax output) and its logits model."""
    model = keras.saving.load_model(path, safe_mode=True)
    return model, adv.logits_of(model)


def spread_indices(count: int, total: int) -> np.ndarray:
    """`count` indices evenly spread over 0..total-1 (the split is sorted by class)."""
    return np.unique(np.linspace(0, total - 1, min(count, total)).round().astype(int))


class Spread(NamedTuple):
    """Validation images spread over the split, where they were taken from, and its size."""

    images: np.ndarray    # float32, pixel values 0..255
    labels: np.ndarray
    indices: np.ndarray   # in load_validation_images' order: what a mask file is indexed by
    total: int            # images in the split


def spread_images(count: int, data_dir: str | None = None) -> Spread:
    """`count` validation images evenly spread over the split (sorted by class): both classes."""
    images, labels = load_validation_images(data_dir)
    chosen = spread_indices(count, len(images))
    return Spread(images[chosen].astype(np.float32), labels[chosen], chosen, len(images))


def write_mask(path: Path, chosen: np.ndarray, robust: np.ndarray, total: int) -> None:
    """Which of `total` validation images were attacked and stayed robust: '1', '0' or '-'."""
    line = np.full(total, "-")
    line[chosen] = np.where(robust, "1", "0")
    text = "".join(line)
    write_atomically(path, lambda tmp: tmp.write_text(
        "\n".join(text[i:i + 100] for i in range(0, total, 100)) + "\n"))


def read_mask(path: Path, chosen: np.ndarray) -> np.ndarray:
    """The robust mask of write_mask() at the indices `chosen`; ValueError if one was not run."""
    text = "".join(path.read_text().split())
    picked = np.array([text[i] for i in chosen])
    if np.any(picked == "-"):
        raise ValueError(f"{path} has no result for {int(np.sum(picked == '-'))} of the images")
    return picked == "1"


def add_ensemble_arguments(parser: argparse.ArgumentParser) -> None:
    """The options both benchmarks share: images, budget and the ensemble's settings."""
    apgd, square = ae.ENSEMBLE["apgd-margin"], ae.ENSEMBLE["square"]
    parser.add_argument("--images", type=int, default=300, help="validation images attacked")
    parser.add_argument("--data-dir", default=None, help="default: $CATS_DOGS_DIR or Keras' cache")
    parser.add_argument("--epsilon", type=float, default=2, help="L-inf budget in counts")
    parser.add_argument("--steps", type=int, default=apgd["steps"], help="Auto-PGD steps")
    parser.add_argument("--restarts", type=int, default=apgd["restarts"], help="Auto-PGD runs")
    parser.add_argument("--queries", type=int, default=square["queries"],
                        help="Square: queries per image")
    parser.add_argument("--p-init", type=float, default=square["p_init"], help="Square's p_init")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--attacks", nargs="+", choices=list(ae.ENSEMBLE),
                        default=list(ae.ENSEMBLE),
                        help="run only these of the ensemble's attacks (e.g. square alone)")
    parser.add_argument("--model", type=Path, default=ROBUST_MODEL,
                        help="the model file attacked (default: the shipped robust model)")


def ensemble_from(args: argparse.Namespace) -> dict:
    """ENSEMBLE with the settings given on the command line (only the --attacks chosen)."""
    ensemble = {"apgd-margin": {**ae.ENSEMBLE["apgd-margin"], "steps": args.steps,
                                "restarts": args.restarts},
                "square": {**ae.ENSEMBLE["square"], "queries": args.queries,
                           "p_init": args.p_init}}
    return {name: settings for name, settings in ensemble.items() if name in args.attacks}


def share(count: int, n: int) -> str:
    """count of n as a percentage with its 95% Wilson interval."""
    low, high = ae.wilson_interval(count, n)
    return f"{count}/{n} = {count / n:.1%} (95% Wilson {low:.1%}-{high:.1%})"


def print_report(report: dict) -> None:
    """The ensemble's per-attack lines, the clean accuracy and the worst case."""
    print(f"{'attack':<12} {'settings':<54} {'attacked':>8} {'fooled':>7} {'left':>5} "
          f"{'seconds':>8}")
    for attack in report["attacks"]:
        settings = ", ".join(f"{k}={v}" for k, v in attack["settings"].items())
        print(f"{attack['name']:<12} {settings:<54} {attack['attacked']:>8} "
              f"{attack['fooled']:>7} {attack['robust_after']:>5} {attack['seconds']:>8.1f}")
    n = report["images"]
    print(f"clean accuracy: {share(report['clean_correct'], n)}")
    print(f"robust accuracy at epsilon {report['epsilon']:g} counts "
          f"({report['epsilon']:g}/255 = {report['epsilon'] / 255:.4f}), worst case over "
          f"{' + '.join(a['name'] for a in report['attacks'])}: {share(report['robust'], n)}"
          f"{'' if report['rounded_to_8bit'] else ' (float images: not rounded)'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_ensemble_arguments(parser)
    parser.add_argument("--save-mask", type=Path, default=None,
                        help="write which validation images stayed robust to this file")
    args = parser.parse_args()
    print(f"CPU: {machine_summary()}; TensorFlow {tf.__version__}, Keras {keras.__version__}")
    _, logits_model = load_models(args.model)
    images, labels, chosen, total = spread_images(args.images, args.data_dir)
    print(f"{len(images)} validation images ({int(np.sum(labels == 0))} cats, "
          f"{int(np.sum(labels == 1))} dogs), model {args.model.name}")
    start = time.perf_counter()
    report = ae.ensemble_robust_accuracy(logits_model, images, labels, epsilon=args.epsilon,
                                         attacks=ensemble_from(args),
                                         batch_size=args.batch_size)
    print_report(report)
    print(f"total {time.perf_counter() - start:.1f} s")
    if args.save_mask:
        write_mask(args.save_mask, chosen, report["robust_mask"], total)


if __name__ == "__main__":
    main()
