"""The rounding-perturbation proof (tools/perturbation_proof.py) on tiny notebooks: each
perturbation perturbs, and the proof catches an output that depends on rounding.

The proof itself, on the collection's notebooks, is a maintainer's step (.ci/run runs it).
"""
from __future__ import annotations

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from tools import perturbation_proof as proof
from tools.run_notebooks import all_notebooks, execute_in_place

# Tests of a maintainer's tool, which start Jupyter kernels (seconds each): .ci/run runs them
# with the slow proofs (`pytest -m "training or slow"`); a learner's `pytest` leaves them out.
pytestmark = pytest.mark.slow

DATA = np.array([[0.1 * k + 1 / 3, 7 / (k + 1)] for k in range(40)])


def make_notebook(folder, *sources):
    """A notebook of the given code cells, beside a small CSV of floats (d.csv)."""
    folder.mkdir()
    np.savetxt(folder / "d.csv", DATA, delimiter=",", fmt="%.17g")
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    path = folder / "tiny.ipynb"
    nbformat.write(nb, path)
    return path


def perturbed_stdout(tmp_path, name, *sources):
    """The stdout of each cell of a tiny notebook run under the named perturbation."""
    path = make_notebook(tmp_path / "nb", *sources)
    nb, _ = proof.run(proof.run_perturbed(path, proof.perturbation(name), tmp_path / "work"))
    return [proof.compared_text(cell) for cell in nb.cells]


def test_other_order_reorders_data_rows_and_random_points(tmp_path):
    rows, points = perturbed_stdout(
        tmp_path, "other-order",
        "import numpy as np\na = np.loadtxt('d.csv', delimiter=',')\n"
        "print(a.shape, a[:, 0].tolist() == sorted(a[:, 0].tolist()), "
        "sorted(map(tuple, a)) == sorted(map(tuple, np.genfromtxt('d.csv', delimiter=','))))",
        "x = np.random.default_rng(7).standard_normal((3, 12, 2))\n"
        "y = np.random.Generator(np.random.PCG64(7)).standard_normal((3, 12, 2))\n"
        "print((x == y).all(), all(sorted(map(tuple, x[k])) == sorted(map(tuple, y[k])) "
        "for k in range(3)))")
    assert rows == "(40, 2) False True\n"    # the same rows, not in the file's order
    assert points == "False True\n"           # each configuration: the same points, reordered


def test_one_ulp_moves_inputs_starting_points_and_loaded_weights_by_one_ulp(tmp_path):
    (moved, loaded) = perturbed_stdout(
        tmp_path, "one-ulp",
        "import numpy as np, tensorflow as tf\n"
        "a = np.loadtxt('d.csv', delimiter=',')\n"
        "b = np.genfromtxt('d.csv', delimiter=',')\n"
        "r = np.random.default_rng(1).random(4)\n"
        "s = np.random.Generator(np.random.PCG64(1)).random(4)\n"
        "v = tf.Variable(0.75, dtype=tf.float64)\n"
        "print((a == np.nextafter(b, np.inf)).all(), (r == np.nextafter(s, np.inf)).all(), "
        "v.numpy() == np.nextafter(0.75, 1.0), tf.Variable(3).numpy())",
        "import keras\n"
        "model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])\n"
        "model.set_weights([np.full((2, 1), 0.5, 'float32'), np.zeros(1, 'float32')])\n"
        "model.save('m.keras')\n"
        "kernel = keras.saving.load_model('m.keras').get_weights()[0]\n"
        "print((kernel == np.nextafter(np.float32(0.5), np.float32(1))).all())")
    assert moved == "True True True 3\n"       # integers are left alone
    assert loaded == "True\n"


def test_one_thread_plain_kernels_sets_threads_and_switches(tmp_path):
    (settings,) = perturbed_stdout(
        tmp_path, "one-thread-plain-kernels",
        "import os, tensorflow as tf\n"
        "print(tf.config.threading.get_intra_op_parallelism_threads(), "
        "os.environ['TF_ENABLE_ONEDNN_OPTS'])")
    assert settings == "1 0\n"


def test_figures_are_not_drawn_nor_gifs_recorded_unless_compared(tmp_path):
    path = make_notebook(tmp_path / "nb", "import common, matplotlib\n"
                         "print(matplotlib.get_backend() == 'agg', "
                         "common.record_gif is common.save_gif)")
    for figures, expected in [(False, "True True\n"), (True, "False False\n")]:
        nb, _ = proof.run(proof.run_perturbed(path, proof.perturbation("other-order"),
                                              tmp_path / f"work_{figures}", figures=figures))
        assert proof.compared_text(nb.cells[0]) == expected


CHAOTIC = ("import numpy as np\nx = np.loadtxt('d.csv', delimiter=',')[:, 1].mean()\n"
           "for _ in range(200):\n    x = 3.9 * x * (1 - x)   # the logistic map: chaotic\n"
           "print(f'{x:.6f}')")
STABLE = "print(f\"{np.loadtxt('d.csv', delimiter=',')[:, 1].mean():.6f}\")"


@pytest.mark.parametrize("name", ["other-order", "one-ulp"])
def test_proof_catches_an_output_that_depends_on_rounding(tmp_path, capsys, name):
    path = make_notebook(tmp_path / "nb", CHAOTIC, STABLE)
    execute_in_place(path)                       # the stored outputs, as run_notebooks makes them
    assert proof.main([str(path), "--perturbation", name]) == 1
    report = capsys.readouterr().out
    assert f"tiny.ipynb under {name}: FAILED, 1 compared output(s) changed" in report
    assert "cell 0:" in report and "cell 1:" not in report   # the chaotic one, not the mean
    assert "0 of 1 case(s) passed" in report


def test_proof_reports_a_failing_cell(tmp_path):
    path = make_notebook(tmp_path / "nb", "assert False, 'margin too thin'")
    result = proof.run(proof.check(path, "other-order"))
    assert not result.passed and "margin too thin" in result.error


def test_unknown_perturbation_is_named():
    with pytest.raises(ValueError, match="no perturbation named 'two-ulp'.*other-order"):
        proof.perturbation("two-ulp")


def test_default_cases_run_the_cats_dogs_notebook_under_one_ulp_only():
    cases = proof.default_cases(all_notebooks())
    assert [name for nb, name in cases if nb == proof.ADVERSARIAL_NOTEBOOK] == ["one-ulp"]
    assert len(cases) == 3 * (len(all_notebooks()) - 1) + 1
    assert "other-order" not in {name for _, name in proof.default_cases(all_notebooks(),
                                                                         figures=True)}
