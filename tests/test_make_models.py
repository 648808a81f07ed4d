"""Tests of adversarial_example/make_models.py: one maker, two models, the same record writing.

The training is replaced by a stand-in that returns a tiny model at once; what is tested is what
the script writes: the model file, its record, and the command that made it.
"""
import json

import adversarial_cats_dogs_lib as adv
import attack_ensemble as ae
import cats_dogs_data as data
import cats_dogs_robust as robust
import make_models
import pytest

from tests.adversarial_helpers import tiny_model

pytest_plugins = ["tests.adversarial_fixtures"]


@pytest.fixture
def no_training(monkeypatch):
    """Both recipes replaced by a tiny untrained model, made at once."""
    history = {"accuracy": [0.5], "loss": [0.7], "seconds": 1.5}
    monkeypatch.setattr(adv, "train_classifier",
                        lambda build_model, train_ds, settings, seed: (tiny_model(), history))
    monkeypatch.setattr(robust, "make_robust_model",
                        lambda settings, data_dir: (tiny_model(), history))


@pytest.fixture
def short_ensemble(monkeypatch):
    """The record's ensemble with a few steps and queries: the same attacks, quickly."""
    monkeypatch.setattr(ae, "ENSEMBLE", {
        "apgd-margin": {"attack": "apgd", "steps": 3, "restarts": 1, "seed": 0},
        "square": {"attack": "square", "queries": 5, "p_init": 0.05, "seed": 0}})


def check_ensemble_entries(record: dict, images: int) -> None:
    """The record's robust accuracy is the worst case of a named ensemble on `images` images."""
    attack = record["robust_accuracy_attack"]
    assert record["robust_accuracy_images"] == images
    assert [a["name"] for a in attack["attacks"]] == ["apgd-margin", "square"]
    assert attack["name"] == "ensemble: apgd-margin then square"
    assert attack["attacks"][-1]["robust_after"] == round(record["robust_accuracy"] * images)
    assert 0 <= record["robust_accuracy"] <= record["validation_accuracy"]


@pytest.mark.parametrize("kind", ["plain", "robust"])
def test_each_model_is_written_with_its_record(kind, no_training, short_ensemble, small_copy,
                                               tmp_path, capsys):
    out = tmp_path / f"{kind}.keras"
    options = ["--steps", "1", "--restarts", "1"] if kind == "robust" else []
    assert make_models.main([kind, "--data-dir", str(small_copy), "--out", str(out), *options]) == 0
    record = data.load_record(out.with_suffix(".json"))
    assert record["file"] == out.name and record["sha256"] == data.sha256_of(out)
    assert record["made_by"] == f"python adversarial_example/make_models.py {kind}"
    assert 0 <= record["validation_accuracy"] <= 1 and record["training_seconds"] == 1.5
    for key in ("created", "seed", "tensorflow", "keras", "python", "machine", "history"):
        assert key in record
    settings = robust.ROBUST_SETTINGS if kind == "robust" else adv.TRAIN_SETTINGS
    assert record["settings"] == settings
    if kind == "robust":
        assert record["epsilon"] == settings["epsilon"]
        assert record["start_sha256"] == data.sha256_of(data.SHIPPED_MODEL)
        assert record["pgd_attack"]["steps"] == 1
        assert 0 <= record["robust_accuracy"] <= record["pgd_accuracy"]   # more attacks, not less
        check_ensemble_entries(record, images=4)
    else:
        assert "epsilon" not in record       # a plain model's record states no budget
    assert f"{out.name}: " in capsys.readouterr().out


def test_measure_writes_the_ensemble_into_the_record_and_keeps_the_model(
        no_training, short_ensemble, small_copy, tmp_path, capsys):
    out = tmp_path / "robust.keras"
    make_models.main(["robust", "--data-dir", str(small_copy), "--out", str(out),
                      "--steps", "1", "--restarts", "1"])
    before = data.load_record(out.with_suffix(".json"))
    edited = {**before, "robust_accuracy": -1.0, "robust_accuracy_attack": {}}
    out.with_suffix(".json").write_text(json.dumps(edited))
    assert make_models.main(["measure", "--data-dir", str(small_copy), "--out", str(out)]) == 0
    after = data.load_record(out.with_suffix(".json"))
    check_ensemble_entries(after, images=4)
    assert after["robust_accuracy"] == before["robust_accuracy"]   # measured again, same answer
    assert after["sha256"] == data.sha256_of(out) == before["sha256"]
    assert "robust accuracy" in capsys.readouterr().out
