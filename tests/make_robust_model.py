"""Make the robust classifier that ships with the adversarial notebook, and write its record.

    CATS_DOGS_DIR=/path/to/cats_and_dogs_filtered python -m tests.make_robust_model

Fine-tunes the shipped plain classifier (cats_dogs_classifier.keras) adversarially with
ROBUST_SETTINGS and its seed (adversarial_example/cats_dogs_robust.py), measures the clean
validation accuracy and the robust accuracy at epsilon under the strong attack (PGD with a random
start, --steps steps, --restarts restarts) on all validation images, and writes
adversarial_example/cats_dogs_robust.keras with cats_dogs_robust.json beside it: the settings,
epsilon, the training attack, the starting file's SHA-256, both accuracies and the attack that
measured them, versions, machine, training history and the file's SHA-256 (a test checks the file
against it). Run it only when the recipe or the plain model changes: every replacement adds the
file's size (under 5 MB) to the repository's history.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from common.machine import machine_summary
from tests.notebook_api import import_beside, load_api_module

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "adversarial_example" / "adversarial_cats_dogs.ipynb"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="default: $CATS_DOGS_DIR or Keras' cache")
    parser.add_argument("--out", type=Path, default=None,
                        help="model file to write (default: the shipped one)")
    parser.add_argument("--steps", type=int, default=20, help="strong attack: steps per restart")
    parser.add_argument("--restarts", type=int, default=3, help="strong attack: restarts")
    args = parser.parse_args(argv)

    load_api_module(NOTEBOOK, "adversarial_cats_dogs")   # the notebook's seeds and determinism
    robust = import_beside(NOTEBOOK, "cats_dogs_robust")
    data = import_beside(NOTEBOOK, "cats_dogs_data")
    out = args.out or robust.ROBUST_MODEL
    settings = robust.ROBUST_SETTINGS
    start_file = data.SHIPPED_MODEL.with_name(settings["start_from"])
    model, history = robust.make_robust_model(settings, args.data_dir)
    images, labels = data.load_validation_images(args.data_dir)
    logits = robust.keras.Model(model.input, model.get_layer("logits").output)
    predicted = logits.predict(images.astype(np.float32), batch_size=100, verbose=0)
    clean = float(np.mean(predicted.argmax(axis=1) == labels))
    attack = {"name": "PGD", "random_start": True, "steps": args.steps,
              "restarts": args.restarts, "step_size": robust.default_step_size(
                  settings["epsilon"]), "loss": "target margin z_target - z_other"}
    began = time.perf_counter()
    robust_accuracy = robust.robust_accuracy(model, images, labels, epsilon=settings["epsilon"],
                                             steps=args.steps, restarts=args.restarts,
                                             seed=settings["seed"])
    attack_seconds = time.perf_counter() - began
    record = {
        "file": out.name,
        "made_by": "python -m tests.make_robust_model",
        "created": datetime.date.today().isoformat(),
        "settings": settings,
        "seed": settings["seed"],
        "epsilon": settings["epsilon"],
        "training_attack": settings["training_attack"],
        "start_file": start_file.name,
        "start_sha256": data.sha256_of(start_file),
        "validation_accuracy": round(clean, 4),
        "robust_accuracy": round(robust_accuracy, 4),
        "robust_accuracy_attack": attack,
        "robust_accuracy_images": len(labels),
        "training_seconds": history["seconds"],
        "tensorflow": robust.tf.__version__,
        "keras": robust.keras.__version__,
        "python": platform.python_version(),
        "machine": machine_summary(),
        "history": history,
    }
    data.save_model(model, record, out)
    record = data.load_record(out.with_suffix(".json"))
    print(f"{out.name}: {record['bytes']:,} bytes, clean accuracy {clean:.1%}, robust accuracy "
          f"{robust_accuracy:.1%} at epsilon {settings['epsilon']} (PGD {args.steps} steps, "
          f"{args.restarts} restarts, {attack_seconds:.0f} s), trained in "
          f"{history['seconds']:.0f} s, SHA-256 {record['sha256'][:16]}...")
    return 0


if __name__ == "__main__":
    sys.exit(main())
