"""The rounding-perturbation check (tests/perturbed_runs.py): each perturbation perturbs, the check
catches an output that depends on rounding, and every notebook's compared outputs withstand it.
"""
from __future__ import annotations

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from tests import perturbed_runs
from tools.run_notebooks import ROOT, all_notebooks, execute_in_place

ADVERSARIAL_NOTEBOOK = ROOT / "adversarial_example" / "adversarial_cats_dogs.ipynb"

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
    nb, _ = perturbed_runs.run_perturbed(path, perturbed_runs.perturbation(name),
                                         tmp_path / "work")
    return [perturbed_runs.compared_text(cell) for cell in nb.cells]


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


def test_one_ulp_moves_inputs_and_starting_points_by_one_ulp(tmp_path):
    (moved,) = perturbed_stdout(
        tmp_path, "one-ulp",
        "import numpy as np, tensorflow as tf\n"
        "a = np.loadtxt('d.csv', delimiter=',')\n"
        "b = np.genfromtxt('d.csv', delimiter=',')\n"
        "r = np.random.default_rng(1).random(4)\n"
        "s = np.random.Generator(np.random.PCG64(1)).random(4)\n"
        "v = tf.Variable(0.75, dtype=tf.float64)\n"
        "print((a == np.nextafter(b, np.inf)).all(), (r == np.nextafter(s, np.inf)).all(), "
        "v.numpy() == np.nextafter(0.75, 1.0), tf.Variable(3).numpy())")
    assert moved == "True True True 3\n"       # integers are left alone


def test_one_thread_plain_kernels_sets_threads_and_switches(tmp_path):
    (settings,) = perturbed_stdout(
        tmp_path, "one-thread-plain-kernels",
        "import os, tensorflow as tf\n"
        "print(tf.config.threading.get_intra_op_parallelism_threads(), "
        "os.environ['TF_ENABLE_ONEDNN_OPTS'])")
    assert settings == "1 0\n"


CHAOTIC = ("import numpy as np\nx = np.loadtxt('d.csv', delimiter=',')[:, 1].mean()\n"
           "for _ in range(200):\n    x = 3.9 * x * (1 - x)   # the logistic map: chaotic\n"
           "print(f'{x:.6f}')")
STABLE = "print(f\"{np.loadtxt('d.csv', delimiter=',')[:, 1].mean():.6f}\")"


@pytest.mark.parametrize("name", ["other-order", "one-ulp"])
def test_check_catches_an_output_that_depends_on_rounding(tmp_path, name):
    path = make_notebook(tmp_path / "nb", CHAOTIC, STABLE)
    execute_in_place(path)                       # the stored outputs, as run_notebooks makes them
    result = perturbed_runs.check(path, name)
    assert result.error is None
    assert [m.where for m in result.mismatches] == ["cell 0"]   # the chaotic one, not the mean
    assert "cell 0:" in result.report()


def test_check_reports_a_failing_cell(tmp_path):
    path = make_notebook(tmp_path / "nb", "assert False, 'margin too thin'")
    result = perturbed_runs.check(path, "other-order")
    assert result.error is not None and "margin too thin" in result.error


def test_unknown_perturbation_is_named():
    with pytest.raises(ValueError, match="no perturbation named 'two-ulp'.*other-order"):
        perturbed_runs.perturbation("two-ulp")


# ---- the notebooks themselves: every compared output withstands every perturbation

def cases() -> list[tuple]:
    """(notebook, perturbation) pairs, run at the start of the session (conftest.py).

    The cats-vs-dogs notebook compares as text only facts about the image files and the model's
    record (its numbers are learned outputs, asserted instead), so it runs once, with every weight
    of its model moved by one ulp, which also checks its asserted margins; and it takes minutes,
    so that run is one of the slow proofs (`pytest -m "training or slow"`, run by CI)."""
    found = []
    for notebook in all_notebooks():
        if notebook == ADVERSARIAL_NOTEBOOK:
            found.append(pytest.param(notebook, "one-ulp", id=f"{notebook.stem}-one-ulp",
                                      marks=pytest.mark.slow))
        else:
            found += [pytest.param(notebook, p.name, id=f"{notebook.stem}-{p.name}")
                      for p in perturbed_runs.perturbations()]
    return found


@pytest.mark.perturbed
@pytest.mark.parametrize(("notebook", "name"), cases())
def test_compared_outputs_do_not_depend_on_rounding(perturbed_results, notebook, name):
    result = perturbed_results[notebook, name]
    assert result.error is None and not result.mismatches, result.report()
