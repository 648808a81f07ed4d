"""Make a model that ships with the adversarial notebook, and write its record beside it.

    CATS_DOGS_DIR=/path/to/cats_and_dogs_filtered python adversarial_example/make_models.py plain
    CATS_DOGS_DIR=/path/to/cats_and_dogs_filtered python adversarial_example/make_models.py robust
    CATS_DOGS_DIR=/path/to/cats_and_dogs_filtered python adversarial_example/make_models.py measure

plain: trains build_model() with the notebook's TRAIN_SETTINGS and seed (a few minutes on 2 CPU
cores) and writes cats_dogs_classifier.keras. robust: fine-tunes that shipped classifier
adversarially with ROBUST_SETTINGS (cats_dogs_robust.py; about 10 minutes), measures its accuracy
at epsilon under the notebook's strong attack (PGD with random starts: --steps steps, --restarts
restarts) on all validation images, writes cats_dogs_robust.keras, and then measures it as
`measure` does. measure: the robust accuracy of the robust model's record, the worst case over
attack_ensemble.ENSEMBLE (Auto-PGD, then the gradient-free Square attack; AutoAttack's rule) on
all validation images, written into its record (1 h 51 min on 2 shared CPU cores, last run).
Beside each .keras file goes its record (.json): settings, seed, versions, machine, accuracies,
training history and the file's SHA-256, which every load checks. Run it only when a recipe
changes: each replacement adds the file's size (under 5 MB) to the repository's history.
"""
from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from pathlib import Path

# The notebook's module first: it imports TensorFlow with its start-up notices hidden.
import adversarial_cats_dogs_lib as adv
import attack_ensemble as ae
import cats_dogs_data as data
import cats_dogs_robust as robust
import numpy as np

from common.machine import machine_summary


def make_plain(args: argparse.Namespace) -> tuple[adv.keras.Model, dict, dict]:
    """The plain classifier, trained with the notebook's recipe: (model, history, record)."""
    settings = adv.TRAIN_SETTINGS
    train_ds, _ = data.load_datasets(args.data_dir, verbose=False)
    model, history = adv.train_classifier(adv.build_model, train_ds, settings,
                                          seed=settings["seed"])
    return model, history, {"settings": settings, "seed": settings["seed"]}


def make_robust(args: argparse.Namespace) -> tuple[adv.keras.Model, dict, dict]:
    """The shipped classifier fine-tuned with ROBUST_SETTINGS: (model, history, record)."""
    settings = robust.ROBUST_SETTINGS
    start_file = data.SHIPPED_MODEL.with_name(settings["start_from"])
    model, history = robust.make_robust_model(settings, args.data_dir)
    return model, history, {
        "settings": settings, "seed": settings["seed"], "epsilon": settings["epsilon"],
        "training_attack": settings["training_attack"], "start_file": start_file.name,
        "start_sha256": data.sha256_of(start_file)}


def measure_robustness(model: adv.keras.Model, images: np.ndarray, labels: np.ndarray,
                       args: argparse.Namespace) -> tuple[dict, str]:
    """The robust accuracy under the strong attack: (record entries, a summary for the user)."""
    settings = robust.ROBUST_SETTINGS
    began = time.perf_counter()
    accuracy = robust.robust_accuracy(model, images, labels, epsilon=settings["epsilon"],
                                      steps=args.steps, restarts=args.restarts,
                                      seed=settings["seed"])
    attack = {"name": "PGD", "random_start": True, "steps": args.steps,
              "restarts": args.restarts, "step_size": adv.default_step_size(settings["epsilon"]),
              "loss": "target margin z_target - z_other"}
    summary = (f"accuracy under PGD {accuracy:.1%} at epsilon {settings['epsilon']} "
               f"({args.steps} steps, {args.restarts} restarts, "
               f"{time.perf_counter() - began:.0f} s), ")
    return {"pgd_accuracy": round(accuracy, 4), "pgd_attack": attack}, summary


def ensemble_entries(report: dict, measured_by: str) -> dict:
    """The record's robust accuracy: an ensemble report of attack_ensemble, its attacks named."""
    attacks = [{key: attack[key] for key in ("name", "settings", "attacked", "fooled",
                                             "robust_after", "seconds")}
               for attack in report["attacks"]]
    return {"robust_accuracy": round(float(report["robust_accuracy"]), 4),
            "robust_accuracy_images": int(report["images"]),
            "robust_accuracy_attack": {
                "name": "ensemble: " + " then ".join(attack["name"] for attack in attacks),
                "rule": "AutoAttack's: an image is robust only if no attack fools it",
                "epsilon": report["epsilon"], "rounded_to_8bit": report["rounded_to_8bit"],
                "loss": "target margin z_target - z_other", "attacks": attacks,
                "measured_by": measured_by, "machine": machine_summary(),
                "date": datetime.date.today().isoformat()}}


def measure_with_ensemble(model: adv.keras.Model, images: np.ndarray, labels: np.ndarray
                          ) -> tuple[dict, str]:
    """The worst case over attack_ensemble.ENSEMBLE: (record entries, a summary for the user)."""
    report = ae.ensemble_robust_accuracy(adv.logits_of(model), images, labels,
                                         epsilon=robust.ROBUST_SETTINGS["epsilon"],
                                         attacks=ae.ENSEMBLE)
    entries = ensemble_entries(report, "python adversarial_example/make_models.py measure")
    low, high = ae.wilson_interval(report["robust"], report["images"])
    summary = (f"robust accuracy {report['robust_accuracy']:.1%} (95% interval {low:.1%}-"
               f"{high:.1%}), the worst case over {entries['robust_accuracy_attack']['name']}")
    return entries, summary


def measure(args: argparse.Namespace) -> int:
    """Measure the robust model with the ensemble and write the result into its record."""
    path = args.out or robust.ROBUST_MODEL
    model = robust.load_robust_model(path)
    images, labels = data.load_validation_images(args.data_dir)
    entries, summary = measure_with_ensemble(model, images, labels)
    record = {**data.load_record(path.with_suffix(".json")), **entries}
    data.write_record(record, path.with_suffix(".json"))
    print(f"{path.name}: {summary}")
    return 0


def write_model(model: adv.keras.Model, out: Path, kind: str, history: dict, facts: dict,
                clean: float, measured: dict) -> dict:
    """Save the model at `out` with its record (what it is, how it was made); return the record."""
    record = {
        "file": out.name,
        "made_by": f"python adversarial_example/make_models.py {kind}",
        "created": datetime.date.today().isoformat(),
        **facts,
        "validation_accuracy": round(clean, 4),
        **measured,
        "training_seconds": history["seconds"],
        "tensorflow": adv.tf.__version__,
        "keras": adv.keras.__version__,
        "python": platform.python_version(),
        "machine": machine_summary(),
        "history": history,
    }
    data.save_model(model, record, out)
    return data.load_record(out.with_suffix(".json"))


MAKERS = {"plain": (make_plain, data.SHIPPED_MODEL), "robust": (make_robust, robust.ROBUST_MODEL)}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The model to make (plain or robust) and its options."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", default=None, help="default: $CATS_DOGS_DIR or Keras' cache")
    common.add_argument("--out", type=Path, default=None,
                        help="model file to write (default: the shipped one)")
    parser = argparse.ArgumentParser(prog="python adversarial_example/make_models.py",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="plain|robust")
    kinds.add_parser("plain", parents=[common], help="train the classifier",
                     description=f"Train the classifier; writes {data.SHIPPED_MODEL.name}.")
    made_robust = kinds.add_parser(
        "robust", parents=[common], help="fine-tune it adversarially",
        description=f"Fine-tune the shipped classifier adversarially and measure it; writes "
                    f"{robust.ROBUST_MODEL.name}.")
    made_robust.add_argument("--steps", type=int, default=20, help="strong attack: steps")
    made_robust.add_argument("--restarts", type=int, default=3, help="strong attack: restarts")
    kinds.add_parser(
        "measure", parents=[common], help="measure the robust model with the attack ensemble",
        description=f"Measure {robust.ROBUST_MODEL.name} (or --out) with attack_ensemble.ENSEMBLE "
                    f"on all validation images; writes the worst case into its record.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.kind == "measure":
        return measure(args)
    make, shipped = MAKERS[args.kind]
    out = args.out or shipped
    adv.keras.utils.set_random_seed(adv.SEED)            # as the notebook does
    adv.tf.config.experimental.enable_op_determinism()
    model, history, facts = make(args)
    images, labels = data.load_validation_images(args.data_dir)
    clean = float(np.mean(adv.predict_proba(model, images).argmax(axis=1) == labels))
    measured, summary = {}, ""
    if args.kind == "robust":
        measured, summary = measure_robustness(model, images, labels, args)
        entries, ensemble_summary = measure_with_ensemble(model, images, labels)
        measured, summary = {**measured, **entries}, summary + ensemble_summary + ", "
    record = write_model(model, out, args.kind, history, facts, clean, measured)
    print(f"{out.name}: {record['bytes']:,} bytes, validation accuracy {clean:.1%}, {summary}"
          f"trained in {history['seconds']:.0f} s, SHA-256 {record['sha256'][:16]}...")
    return 0


if __name__ == "__main__":
    sys.exit(main())
