"""Tests of adversarial_example/make_models.py: one maker, two models, the same record writing.

The training is replaced by a stand-in that returns a tiny model at once; what is tested is what
the script writes: the model file, its record, and the command that made it.
"""
import adversarial_cats_dogs_lib as adv
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


@pytest.mark.parametrize("kind", ["plain", "robust"])
def test_each_model_is_written_with_its_record(kind, no_training, small_copy, tmp_path, capsys):
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
        assert record["robust_accuracy_images"] == 4
        assert record["robust_accuracy_attack"]["steps"] == 1
        assert 0 <= record["robust_accuracy"] <= record["validation_accuracy"]
    else:
        assert "epsilon" not in record       # a plain model's record states no budget
    assert f"{out.name}: " in capsys.readouterr().out
