"""Benchmark: ART's Auto-PGD and Square against attack_ensemble.py's, on the same images.

An independent implementation as a cross-check of the robust model's figure (issue 30): the
Adversarial Robustness Toolbox (ART) attacks the shipped robust model, through its
TensorFlowV2Classifier (Keras 3), on the images of benchmarks/bench_ensemble.py (--images spread
over both classes), first with AutoProjectedGradientDescent (L-inf, cross-entropy, first step
2 epsilon, --steps iterations, --restarts random starts) and then with SquareAttack (L-inf, its
margin loss, --queries iterations, --p-init) on the images Auto-PGD left; then the module's
ensemble runs on the same images with the same settings (or, with --module-mask, its result is
read from a file that `bench_ensemble --save-mask` wrote, e.g. benchmarks/results_ensemble_mask.txt
from the run on all 1000 images). It prints both accuracies, their difference, and the images
each fooled that the other did not.

ART attacks float images: its accuracy is given as it is and with its images rounded to whole
counts (the module's 8-bit threat model). --art-output logits (the default) gives ART the
logits model, so its cross-entropy is computed from the logits; softmax gives it the model's
probabilities, as the issue's measurement did, where the cross-entropy saturates.

ART is an optional extra, not in requirements.txt; install it in a separate venv:

    python -m venv venv-art
    venv-art/bin/pip install -r requirements.txt -r benchmarks/requirements-art.txt
    CATS_DOGS_DIR=/path/to/cats_and_dogs_filtered \\
        venv-art/bin/python -m benchmarks.bench_art_crosscheck --images 300 \\
        --module-mask benchmarks/results_ensemble_mask.txt
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from benchmarks.bench_ensemble import (
    add_ensemble_arguments,
    ae,
    ensemble_from,
    load_models,
    print_report,
    read_mask,
    share,
    spread_images,
)
from common.machine import machine_summary

try:
    import art
    from art.attacks.evasion import AutoProjectedGradientDescent, SquareAttack
    from art.estimators.classification import TensorFlowV2Classifier
except ImportError as error:   # the optional extra
    raise SystemExit(f"{error}: install ART with pip install -r benchmarks/requirements-art.txt "
                     f"(in a separate venv)") from None


def art_classifier(network: keras.Model, logits: bool) -> TensorFlowV2Classifier:
    """ART's wrapper of the network (logits or probabilities out), pixel values 0..255."""
    return TensorFlowV2Classifier(
        model=network, nb_classes=2, input_shape=tuple(network.input_shape[1:]),
        loss_object=keras.losses.CategoricalCrossentropy(from_logits=logits),
        clip_values=(0.0, 255.0))


def fooled(classifier: TensorFlowV2Classifier, images: np.ndarray, labels: np.ndarray,
           batch_size: int) -> np.ndarray:
    """Which images the classifier gets wrong."""
    return classifier.predict(images, batch_size=batch_size).argmax(axis=1) != labels


def to_8bit(attacked: np.ndarray, originals: np.ndarray, epsilon: float) -> np.ndarray:
    """ART's float images rounded to whole counts, kept within the budget and 0..255."""
    rounded = np.clip(np.rint(attacked), originals - epsilon, originals + epsilon)
    return np.clip(rounded, 0.0, 255.0)


def art_attacks(classifier: TensorFlowV2Classifier, images: np.ndarray, labels: np.ndarray,
                correct: np.ndarray, args: argparse.Namespace) -> dict:
    """ART's Auto-PGD on the correct images, then Square on what it left; robust masks, seconds.

    Square runs on the images robust to Auto-PGD's rounded images (a superset of those robust to
    its float images), so that both accuracies are an ensemble's worst case.
    """
    one_hot = np.eye(2, dtype=np.float32)[labels]
    todo = np.flatnonzero(correct)
    apgd = AutoProjectedGradientDescent(
        classifier, norm=np.inf, eps=args.epsilon, eps_step=2 * args.epsilon,
        max_iter=args.steps, targeted=False, nb_random_init=args.restarts,
        batch_size=args.batch_size, loss_type="cross_entropy", verbose=False)
    start = time.perf_counter()
    attacked = apgd.generate(images[todo], y=one_hot[todo])
    apgd_seconds = time.perf_counter() - start
    float_robust, rounded_robust = correct.copy(), correct.copy()
    float_robust[todo] = ~fooled(classifier, attacked, labels[todo], args.batch_size)
    rounded_robust[todo] = ~fooled(classifier, to_8bit(attacked, images[todo], args.epsilon),
                                   labels[todo], args.batch_size)
    after_apgd = {"float": int(float_robust.sum()), "8-bit": int(rounded_robust.sum())}
    todo = np.flatnonzero(rounded_robust)
    square = SquareAttack(classifier, norm=np.inf, max_iter=args.queries, eps=args.epsilon,
                          p_init=args.p_init, nb_restarts=1, batch_size=args.batch_size,
                          verbose=False)
    start = time.perf_counter()
    attacked = square.generate(images[todo], y=one_hot[todo]) if len(todo) else images[todo]
    square_seconds = time.perf_counter() - start
    square_fooled = np.zeros(len(images), bool)
    square_fooled[todo] = fooled(classifier, to_8bit(attacked, images[todo], args.epsilon),
                                 labels[todo], args.batch_size)
    return {"after_apgd": after_apgd, "apgd_seconds": apgd_seconds,
            "square_attacked": len(todo), "square_seconds": square_seconds,
            "float": float_robust & ~square_fooled, "8-bit": rounded_robust & ~square_fooled}


def module_result(logits_model: keras.Model, images: np.ndarray, labels: np.ndarray,
                  chosen: np.ndarray, args: argparse.Namespace) -> np.ndarray:
    """attack_ensemble.py's robust mask on the same images: run now, or read from --module-mask.

    chosen: the images' indices in the validation split, which the mask file is indexed by.
    """
    if args.module_mask:
        robust = read_mask(args.module_mask, chosen)
        print(f"attack_ensemble.py on the same images, read from {args.module_mask}: robust "
              f"{share(int(robust.sum()), len(robust))}")
        return robust
    print("attack_ensemble.py on the same images:")
    report = ae.ensemble_robust_accuracy(logits_model, images, labels, epsilon=args.epsilon,
                                         attacks=ensemble_from(args), batch_size=args.batch_size)
    print_report(report)
    return report["robust_mask"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_ensemble_arguments(parser)
    parser.add_argument("--art-output", choices=("logits", "softmax"), default="logits",
                        help="what ART's classifier outputs (its cross-entropy is computed on it)")
    parser.add_argument("--seed", type=int, default=0, help="numpy's global seed, which ART uses")
    parser.add_argument("--module-mask", type=Path, default=None,
                        help="read the module's result from this file instead of running it")
    args = parser.parse_args()
    print(f"CPU: {machine_summary()}; TensorFlow {tf.__version__}, Keras {keras.__version__}, "
          f"ART {art.__version__}")
    model, logits_model = load_models(args.model)
    images, labels, chosen, _ = spread_images(args.images, args.data_dir)
    n = len(images)
    print(f"{n} validation images ({int(np.sum(labels == 0))} cats, {int(np.sum(labels == 1))} "
          f"dogs), model {args.model.name}, epsilon {args.epsilon:g} counts")
    np.random.seed(args.seed)
    classifier = art_classifier(logits_model if args.art_output == "logits" else model,
                                logits=args.art_output == "logits")
    correct = ~fooled(classifier, images, labels, args.batch_size)
    art_result = art_attacks(classifier, images, labels, correct, args)
    print(f"ART ({args.art_output} output): clean {share(int(correct.sum()), n)}")
    print(f"  AutoProjectedGradientDescent (cross-entropy, eps_step {2 * args.epsilon:g}, "
          f"max_iter {args.steps}, nb_random_init {args.restarts}): robust "
          f"{art_result['after_apgd']['float']} (float), {art_result['after_apgd']['8-bit']} "
          f"(8-bit) in {art_result['apgd_seconds']:.1f} s")
    print(f"  SquareAttack (max_iter {args.queries}, p_init {args.p_init:g}) on "
          f"{art_result['square_attacked']} images: {art_result['square_seconds']:.1f} s")
    for kind in ("float", "8-bit"):
        print(f"  worst case, {kind} images: {share(int(art_result[kind].sum()), n)}")
    module_robust = module_result(logits_model, images, labels, chosen, args)
    art_robust = art_result["8-bit"]
    print(f"ART (8-bit) minus the module: {100 * (art_robust.mean() - module_robust.mean()):+.1f}"
          f" points; fooled by ART only: {int(np.sum(module_robust & ~art_robust))}, by the "
          f"module only: {int(np.sum(art_robust & ~module_robust))}")


if __name__ == "__main__":
    main()
