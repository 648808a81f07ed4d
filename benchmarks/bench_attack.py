"""Benchmark: does the strong attack converge? Robust accuracy against steps, restarts, step size.

Carlini et al. (2019) ask of every robustness figure that the attack behind it be run until more
effort no longer helps. This attacks a model (by default the shipped robust one) with
the notebook's strong_attack at a budget of --epsilon counts on validation images spread over
both classes, for each number of steps, restarts and step size asked for, and prints the robust
accuracy and the time of each. More steps or restarts can only fool more images; when the
accuracy stops falling, the attack has converged.

    CATS_DOGS_DIR=/path/to/cats_and_dogs_filtered python -m benchmarks.bench_attack \\
        --images 500 --steps 5 10 20 50 100 --restarts 1 3 10

--model FILE.keras attacks another model file (loaded without a record check, e.g. one that
bench_robust saved with --save-dir). Run it from the repository root, as a module.
"""
import argparse
import time
from pathlib import Path

# The notebook's module first: it imports TensorFlow with its start-up notices hidden.
import adversarial_cats_dogs_lib as adv
import cats_dogs_data as data
import cats_dogs_robust as robust
import keras
import numpy as np

from common.machine import machine_summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None,
                        help="a .keras file (default: the shipped robust model)")
    parser.add_argument("--data-dir", default=None, help="default: $CATS_DOGS_DIR or Keras' cache")
    parser.add_argument("--epsilon", type=float, default=None,
                        help="budget in counts (default: the robust recipe's)")
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--steps", type=int, nargs="+", default=[5, 10, 20, 50, 100])
    parser.add_argument("--restarts", type=int, nargs="+", default=[1, 3, 10])
    parser.add_argument("--step-sizes", type=float, nargs="+", default=[None],
                        help="counts per step (default: epsilon / 4)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    model = (keras.models.load_model(args.model, safe_mode=True, compile=False) if args.model
             else robust.load_robust_model())
    epsilon = args.epsilon or robust.ROBUST_SETTINGS["epsilon"]
    images, labels = data.load_validation_images(args.data_dir)
    # evenly spread over the split, which is sorted by class: both classes in proportion
    chosen = np.unique(np.linspace(0, len(images) - 1, min(args.images, len(images))).round()
                       .astype(int))
    images, labels = images[chosen], labels[chosen]
    print(f"CPU: {machine_summary()}")
    print(f"model: {args.model or robust.ROBUST_MODEL.name}; epsilon {epsilon:g} counts; "
          f"{len(images)} validation images, spread evenly over the split")
    print(f"{'step size':>9} {'steps':>6} {'restarts':>8} {'robust':>7} {'seconds':>8}")
    for step_size in args.step_sizes:
        size = step_size or adv.default_step_size(epsilon)
        for restarts in args.restarts:
            for steps in args.steps:
                start = time.perf_counter()
                accuracy = robust.robust_accuracy(model, images, labels, epsilon=epsilon,
                                                  steps=steps, restarts=restarts,
                                                  step_size=size, seed=args.seed)
                print(f"{size:9.3g} {steps:6} {restarts:8} {accuracy:7.1%} "
                      f"{time.perf_counter() - start:8.0f}", flush=True)


if __name__ == "__main__":
    main()
