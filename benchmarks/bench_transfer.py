"""Benchmark: adversarial images made on other models, shown to the shipped robust model.

A transfer attack (issue 30, item 5): Auto-PGD on the target margin (attack_ensemble.apgd, --steps
steps, one run, the whole budget, rounded to 8-bit images) attacks each --sources model within
--epsilon counts, and the images it makes are shown to the target model (default: the shipped
robust one). A robust model trained independently (another seed: `python -m
benchmarks.bench_robust --seeds 1 --save-dir DIR`) is the informative source: if the target's own
gradient were hidden, images made on a similar model without that defect would fool it more
often than its own white-box attack does. The plain shipped model is the weak comparison the
notebook makes. On the images that the source and the target both classify right, it prints
the share each source's images fool, beside the target's own white-box worst case on the same
images: read from a --target-mask file (bench_ensemble --save-mask) or, without one, Auto-PGD run
on the target with the same settings.

    CATS_DOGS_DIR=/path/to/cats_and_dogs_filtered python -m benchmarks.bench_transfer \\
        --sources DIR/robust-seed-1.keras adversarial_example/cats_dogs_classifier.keras \\
        --target-mask benchmarks/results_ensemble_mask.txt --images 300

Run it from the repository root, as a module.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from benchmarks.bench_ensemble import (
    ROBUST_MODEL,
    ae,
    load_models,
    read_mask,
    share,
    spread_images,
)
from common.machine import machine_summary


def made_on(logits_model, images: np.ndarray, labels: np.ndarray, args: argparse.Namespace
            ) -> tuple[np.ndarray, float]:
    """Auto-PGD's images on this model, towards the other class, and the seconds it took."""
    start = time.perf_counter()
    result = ae.apgd(logits_model, images, 1 - labels, epsilon=args.epsilon, steps=args.steps,
                     restarts=1, seed=args.seed, batch_size=args.batch_size)
    return result.images, time.perf_counter() - start


def right_on(logits_model, images: np.ndarray, labels: np.ndarray, batch_size: int) -> np.ndarray:
    """Which images the model classifies right."""
    return ae.clean_predictions(logits_model, images, batch_size) == labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=Path, nargs="+", required=True,
                        help="model files whose adversarial images are transferred")
    parser.add_argument("--target", type=Path, default=ROBUST_MODEL, help="the model attacked")
    parser.add_argument("--target-mask", type=Path, default=None,
                        help="the target's white-box result (bench_ensemble --save-mask)")
    parser.add_argument("--images", type=int, default=300, help="validation images, spread")
    parser.add_argument("--data-dir", default=None, help="default: $CATS_DOGS_DIR or Keras' cache")
    parser.add_argument("--epsilon", type=float, default=2, help="L-inf budget in counts")
    parser.add_argument("--steps", type=int, default=100, help="Auto-PGD steps on each source")
    parser.add_argument("--seed", type=int, default=0, help="Auto-PGD's random start")
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args()
    print(f"CPU: {machine_summary()}")
    images, labels, chosen, _ = spread_images(args.images, args.data_dir)
    _, target = load_models(args.target)
    target_right = right_on(target, images, labels, args.batch_size)
    if args.target_mask:
        white_box_robust, how = read_mask(args.target_mask, chosen), f"read from {args.target_mask}"
    else:
        attacked, seconds = made_on(target, images, labels, args)
        white_box_robust = target_right & right_on(target, attacked, labels, args.batch_size)
        how = f"Auto-PGD {args.steps} steps, run now in {seconds:.0f} s"
    print(f"target {args.target.name}, {len(images)} validation images, epsilon "
          f"{args.epsilon:g} counts ({args.epsilon:g}/255); target right on "
          f"{share(int(target_right.sum()), len(images))}")
    print(f"{'source':<32} {'both right':>10} {'fooled by transfer':>30} "
          f"{'fooled white-box (' + how + ')':>30}  seconds")
    for source_path in args.sources:
        _, source = load_models(source_path)
        both = target_right & right_on(source, images, labels, args.batch_size)
        attacked, seconds = made_on(source, images[both], labels[both], args)
        transferred = ~right_on(target, attacked, labels[both], args.batch_size)
        white_box = ~white_box_robust[both]
        print(f"{source_path.name:<32} {int(both.sum()):>10} "
              f"{share(int(transferred.sum()), int(both.sum())):>30} "
              f"{share(int(white_box.sum()), int(both.sum())):>30}  {seconds:.0f}")
        print(f"{'':<32} fooled by the transfer but not white-box: "
              f"{int(np.sum(transferred & ~white_box))}")


if __name__ == "__main__":
    main()
