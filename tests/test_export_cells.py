"""Tests of tools/export_cells.py: `#@save` cells become the module beside their notebook."""
import importlib.util

import nbformat
import pytest

from tools import export_cells


@pytest.fixture
def notebook(tmp_path):
    """A small notebook: a markdown cell, two marked code cells and an unmarked one between."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A lesson"),
                nbformat.v4.new_code_cell("#@save\nimport math\n\nTAU = 2 * math.pi"),
                nbformat.v4.new_code_cell("print(TAU)  # shown to the learner only"),
                nbformat.v4.new_code_cell("#@save\ndef circumference(r):\n    return TAU * r")]
    path = tmp_path / "lesson.ipynb"
    nbformat.write(nb, path)
    return path


def test_marked_cells_are_saved_in_order_with_their_cell_numbers(notebook):
    assert export_cells.main([str(notebook)]) == 0
    module = notebook.with_name("lesson_lib.py")
    assert module.read_text() == (
        '"""Generated from lesson.ipynb by tools/export_cells.py: edit the notebook, not\n'
        'this file."""\n'
        "\n\n# ---- cell 1\nimport math\n\nTAU = 2 * math.pi\n"
        "\n\n# ---- cell 3\ndef circumference(r):\n    return TAU * r\n")
    spec = importlib.util.spec_from_file_location("lesson_lib", module)
    lesson = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lesson)
    assert lesson.circumference(1.0) == pytest.approx(6.283185307)
    assert "print" not in module.read_text()             # the unmarked cell stays out


def test_check_names_a_module_that_is_missing_or_out_of_date(notebook, capsys):
    assert export_cells.main(["--check", str(notebook)]) == 1          # not written yet
    assert "lesson_lib.py" in capsys.readouterr().out
    export_cells.main([str(notebook)])
    assert export_cells.main(["--check", str(notebook)]) == 0
    nb = nbformat.read(notebook, as_version=4)
    nb.cells[3].source += " + 0"                                       # the notebook is edited
    nbformat.write(nb, notebook)
    assert export_cells.main(["--check", str(notebook)]) == 1
    assert "out of date: " in capsys.readouterr().out


def test_a_notebook_without_marked_cells_has_no_module(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1  #@save is not on the first line")]
    path = tmp_path / "plain.ipynb"
    nbformat.write(nb, path)
    assert export_cells.main([str(path)]) == 0
    assert export_cells.main(["--check", str(path)]) == 0
    assert not path.with_name("plain_lib.py").exists()


def test_every_generated_module_of_the_repository_is_up_to_date():
    stale = [export_cells.module_path(nb) for nb in export_cells.all_notebooks()
             if export_cells.is_stale(nb)]
    assert stale == [], f"run python -m tools.export_cells: {', '.join(map(str, stale))}"
