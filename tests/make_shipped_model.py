"""Train the classifier that ships with the adversarial notebook, and write its provenance record.

    CATS_DOGS_DIR=/path/to/cats_and_dogs_filtered python -m tests.make_shipped_model

Trains build_model() with the notebook's TRAIN_SETTINGS (its cells tagged `api`) and its seed,
measures the validation accuracy, and writes adversarial_example/cats_dogs_classifier.keras with
cats_dogs_classifier.json beside it: the settings, seed, versions, machine, accuracy, training
history and the file's SHA-256 (a test checks the file against it). Run it only when the recipe
changes: every replacement adds the file's size (under 5 MB) to the repository's history.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
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
    args = parser.parse_args(argv)

    adv = load_api_module(NOTEBOOK, "adversarial_cats_dogs")
    data = import_beside(NOTEBOOK, "cats_dogs_data")
    out = args.out or data.SHIPPED_MODEL
    settings, seed = adv.TRAIN_SETTINGS, adv.TRAIN_SETTINGS["seed"]
    train_ds, _ = adv.load_datasets(args.data_dir, verbose=False)
    model, history = adv.train_classifier(adv.build_model, train_ds, settings, seed=seed)
    images, labels = adv.load_validation_images(args.data_dir)
    accuracy = float(np.mean(adv.predict_proba(model, images).argmax(axis=1) == labels))
    record = {
        "file": out.name,
        "made_by": "python -m tests.make_shipped_model",
        "created": datetime.date.today().isoformat(),
        "settings": settings,
        "seed": seed,
        "validation_accuracy": round(accuracy, 4),
        "training_seconds": history["seconds"],
        "tensorflow": adv.tf.__version__,
        "keras": adv.keras.__version__,
        "python": platform.python_version(),
        "machine": machine_summary(),
        "history": history,
    }
    data.save_model(model, record, out)
    record = data.load_record(out.with_suffix(".json"))
    print(f"{out.name}: {record['bytes']:,} bytes, validation accuracy {accuracy:.1%}, "
          f"trained in {history['seconds']:.0f} s, SHA-256 {record['sha256'][:16]}...")
    return 0


if __name__ == "__main__":
    sys.exit(main())
