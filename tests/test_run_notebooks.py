"""Tests for the notebook runner (tools/run_notebooks.py) on tiny notebooks."""
from __future__ import annotations

import re

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from tools import run_notebooks

# Tests of a maintainer's tool, which start Jupyter kernels (seconds each): .ci/run runs them
# with the slow proofs (`pytest -m "training or slow"`); a learner's `pytest` leaves them out.
pytestmark = pytest.mark.slow


def write_notebook(path, *sources):
    """Write a notebook made of the given code cells."""
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)


def first_cell_as_stored(path, *sources):
    """Write a notebook of the given code cells, execute it in place, and read its first cell."""
    write_notebook(path, *sources)
    run_notebooks.execute_in_place(path)
    return nbformat.read(path, as_version=4).cells[0]


def test_execute_in_place_stores_stdout_but_not_stderr(tmp_path):
    cell = first_cell_as_stored(
        tmp_path / "tiny.ipynb", "import sys\nprint('hello')\nprint('noise', file=sys.stderr)",
        "open('made_here.txt', 'w').write('x')")
    assert [o.get("name") for o in cell.outputs] == ["stdout"]
    assert cell.outputs[0].text == "hello\n"
    assert "execution" not in cell.metadata  # no timestamps: re-running gives an identical file
    # it ran with the notebook's folder as working directory
    assert (tmp_path / "made_here.txt").exists()


def test_stdout_chunks_are_merged_whatever_the_flush_timing(tmp_path):
    outputs = first_cell_as_stored(
        tmp_path / "chunks.ipynb", "import sys, time\nfor i in range(3):\n"
        "    print(i, flush=True)\n    print('log', file=sys.stderr, flush=True)\n"
        "    time.sleep(0.2)").outputs
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


def test_stream_chunks_are_joined_as_before():
    # nbconvert's CoalesceStreamsPreprocessor replaced a hand-written merge: same result here.
    nb = new_notebook(cells=[new_code_cell("")])
    nb.cells[0].outputs = [new_output("stream", name="stdout", text="a\n"),
                           new_output("stream", name="stderr", text="log\n"),
                           new_output("stream", name="stdout", text="b\n"),
                           new_output("execute_result", data={"text/plain": "1"},
                                      execution_count=1),
                           new_output("stream", name="stdout", text="c\n")]
    run_notebooks.drop_volatile_parts(nb)
    assert [(o.output_type, o.get("text")) for o in nb.cells[0].outputs] == [
        ("stream", "a\nb\n"), ("execute_result", None), ("stream", "c\n")]


def test_re_executing_gives_an_identical_file(tmp_path):
    path = tmp_path / "same.ipynb"
    write_notebook(path, "for i in range(3):\n    print(i, flush=True)", "6 * 7")
    run_notebooks.execute_in_place(path)
    first = path.read_bytes()
    run_notebooks.execute_in_place(path)
    assert path.read_bytes() == first


def test_main_shows_each_notebook_its_time_and_what_changed(tmp_path, capfd):
    path = tmp_path / "tiny.ipynb"
    # os.write(2, ...) stands in for TensorFlow's C++ log lines, written below Python
    write_notebook(path, "import os\nprint('hello')\nos.write(2, b'KERNEL-NOISE\\n')",
                   "open('figure.txt', 'w').write('x')")
    (tmp_path / "untouched.txt").write_text("y")
    log = tmp_path / "logs" / "kernels.log"
    assert run_notebooks.main([str(path), "--log", str(log)]) == 0
    out, err = capfd.readouterr()
    assert "KERNEL-NOISE" not in out + err and "IPKernelApp" not in out + err
    assert "KERNEL-NOISE" in log.read_text()
    assert re.search(r"\[1/1\] .*tiny\.ipynb \.\.\. ok, \d+ s", out)
    changed = out.split("Changed on disk:")[1]
    assert re.search(r"new +.*figure\.txt", changed)
    assert re.search(r"modified +.*tiny\.ipynb", changed)
    assert "untouched" not in changed and "kernels.log" not in changed
    # a second run changes nothing, and says so
    assert run_notebooks.main([str(path), "--log", str(log)]) == 0
    assert "Changed on disk: nothing" in capfd.readouterr().out


def test_main_prints_the_kernel_log_of_a_failing_notebook_and_goes_on(tmp_path, capfd):
    broken, fine = tmp_path / "a_broken.ipynb", tmp_path / "b_fine.ipynb"
    write_notebook(broken, "import os\nos.write(2, b'WHAT-THE-KERNEL-SAID\\n')",
                   "raise RuntimeError('boom')")
    write_notebook(fine, "print('fine')")
    before = broken.read_bytes()
    log = tmp_path / "kernels.log"
    assert run_notebooks.main([str(broken), str(fine), "--log", str(log)]) == 1
    out = capfd.readouterr().out
    assert "a_broken.ipynb ... FAILED" in out and "boom" in out
    assert "WHAT-THE-KERNEL-SAID" in out  # the log, printed because the notebook failed
    assert "b_fine.ipynb ... ok" in out
    assert "failed, left as they were" in out
    assert broken.read_bytes() == before
    assert re.search(r"modified +.*b_fine\.ipynb", out)
    assert "a_broken.ipynb" not in out.split("Changed on disk:")[1].split("failed")[0]


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


def test_progress_displays_are_not_stored(tmp_path):
    outputs = first_cell_as_stored(
        tmp_path / "progress.ipynb", "import common\nline = common.ProgressLine()\n"
        "line.update('1/2')\nline.update('2/2')\nprint('done')").outputs
    assert [(o.output_type, o.get("text")) for o in outputs] == [("stream", "done\n")]
