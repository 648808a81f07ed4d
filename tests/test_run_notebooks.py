"""Tests for the notebook runner (tests/run_notebooks.py) on a tiny notebook."""
from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from tests import run_notebooks


def write_notebook(path, *sources):
    """Write a notebook made of the given code cells."""
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)


def test_execute_in_place_stores_stdout_but_not_stderr(tmp_path):
    path = tmp_path / "tiny.ipynb"
    write_notebook(path, "import sys\nprint('hello')\nprint('noise', file=sys.stderr)",
                   "open('made_here.txt', 'w').write('x')")
    run_notebooks.execute_in_place(path)
    cell = nbformat.read(path, as_version=4).cells[0]
    assert [o.get("name") for o in cell.outputs] == ["stdout"]
    assert cell.outputs[0].text == "hello\n"
    assert "execution" not in cell.metadata  # no timestamps: re-running gives an identical file
    # it ran with the notebook's folder as working directory
    assert (tmp_path / "made_here.txt").exists()


def test_stdout_chunks_are_merged_whatever_the_flush_timing(tmp_path):
    path = tmp_path / "chunks.ipynb"
    write_notebook(path, "import sys, time\nfor i in range(3):\n    print(i, flush=True)\n"
                         "    print('log', file=sys.stderr, flush=True)\n    time.sleep(0.2)")
    run_notebooks.execute_in_place(path)
    outputs = nbformat.read(path, as_version=4).cells[0].outputs
    assert len(outputs) == 1 and outputs[0].name == "stdout"
    assert outputs[0].text == "0\n1\n2\n"


def test_failing_notebook_is_left_untouched(tmp_path):
    path = tmp_path / "broken.ipynb"
    write_notebook(path, "raise RuntimeError('boom')")
    before = path.read_bytes()
    with pytest.raises(Exception, match="boom"):
        run_notebooks.execute_in_place(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.ipynb"]


def test_main_rejects_a_path_that_is_not_a_notebook(tmp_path, capsys):
    with pytest.raises(SystemExit):
        run_notebooks.main([str(tmp_path / "missing.ipynb")])
    assert "not a notebook file" in capsys.readouterr().err


def test_all_notebooks_lists_the_collection():
    names = {p.name for p in run_notebooks.all_notebooks()}
    assert names == {"tf_grad_desc_intro.ipynb", "tf_optimizers.ipynb",
                     "vector_spread_example.ipynb", "adversarial_cats_dogs.ipynb"}


def test_all_notebooks_skips_hidden_folders_and_deeper_levels(tmp_path):
    for path in ("a/one.ipynb", "b/two.ipynb", ".venv/no.ipynb", "a/.ipynb_checkpoints/no.ipynb",
                 "a/deeper/no.ipynb", "top_level_no.ipynb"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("{}")
    found = run_notebooks.all_notebooks(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a/one.ipynb", "b/two.ipynb"]
