"""Tests of common.quiet_tensorflow_startup and common.ProgressLine, in processes and kernels."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from common.progress import PROGRESS_METADATA, ProgressLine, text_bar
from common.tf_startup import quiet_tensorflow_startup, without_startup_notices
from tools.run_notebooks import drop_volatile_parts

ROOT = Path(__file__).resolve().parent.parent

# The lines TensorFlow 2.21 printed in a fresh Jupyter kernel on this project's machine.
STARTUP_LOG = """\
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1796360786.395723    3558 port.cc:153] oneDNN custom operations are on. You may see \
slightly different numerical results due to floating-point round-off errors from different \
computation orders. To turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.
I0000 00:00:1796360786.397018    3558 cudart_stub.cc:31] Could not find cuda drivers on your \
machine, GPU will not be used.
E0000 00:00:1796360790.433913    3558 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA \
error: Failed call to cuInit: UNKNOWN ERROR (303)
"""
CUINIT = STARTUP_LOG.splitlines(keepends=True)[-1]


def test_startup_notices_are_removed_and_other_lines_kept():
    assert without_startup_notices(STARTUP_LOG) == ""
    other = "W0000 00:00:1.0  1 some_op.cc:1] a warning that matters\nplain text\n"
    assert without_startup_notices(STARTUP_LOG + other) == other


def test_cuinit_failure_is_kept_when_a_driver_was_found():
    assert without_startup_notices(CUINIT) == CUINIT   # with a driver it is a real error


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="text must be a str"):
        without_startup_notices(b"bytes")
    with pytest.raises(ValueError, match="log_level must be"):
        with quiet_tensorflow_startup(log_level="5"):
            pass


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    """Run `code` in a fresh Python with this repository importable and `env` added."""
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    environment.update(env, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=environment, timeout=300, check=True)


FAKE_STARTUP = ("import os, common\n"
                "with common.quiet_tensorflow_startup():\n"
                f"    os.write(2, {STARTUP_LOG.encode()!r})\n"
                "    os.write(2, b'a real problem\\n')\n"
                "print(os.environ['TF_CPP_MIN_LOG_LEVEL'])\n")


def test_fd2_notices_are_hidden_and_other_output_kept():
    result = run_python(FAKE_STARTUP)
    assert result.stderr == "a real problem\n"
    assert result.stdout == "2\n"   # the default level, set because the user set none


def test_a_users_own_level_is_kept_and_0_hides_nothing():
    assert run_python(FAKE_STARTUP, TF_CPP_MIN_LOG_LEVEL="1").stdout == "1\n"
    result = run_python(FAKE_STARTUP, TF_CPP_MIN_LOG_LEVEL="0")
    assert result.stderr == STARTUP_LOG + "a real problem\n"


def run_cells(*sources: str) -> nbformat.NotebookNode:
    """Run code cells in a fresh Jupyter kernel (as a learner's), with the repo importable."""
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(ROOT)
    NotebookClient(nb, timeout=300, kernel_name="python3").execute(env=env)
    return nb


def stderr_of(nb: nbformat.NotebookNode) -> str:
    """Everything the cells of `nb` showed on stderr."""
    return "".join(o.text for c in nb.cells for o in c.outputs
                   if o.output_type == "stream" and o.name == "stderr")


def test_a_first_run_in_a_kernel_shows_no_tensorflow_log():
    nb = run_cells("import common\n"
                   "with common.quiet_tensorflow_startup():\n"
                   "    import keras\n"
                   "    import tensorflow as tf",
                   "print(tf.reduce_sum(tf.ones(3)).numpy())")
    assert stderr_of(nb) == ""
    assert nb.cells[1].outputs[0].text == "3.0\n"


def test_progress_in_a_kernel_is_one_display_updated_in_place_and_not_stored():
    nb = run_cells("import common\n"
                   "line = common.ProgressLine()\n"
                   "for i in range(3):\n"
                   "    line.update(f'step {i}')")
    outputs = nb.cells[0].outputs
    assert [o.output_type for o in outputs] == ["display_data"]
    assert outputs[0].data["text/plain"] == "step 2" and stderr_of(nb) == ""
    assert outputs[0].metadata == PROGRESS_METADATA
    drop_volatile_parts(nb)
    assert nb.cells[0].outputs == []


def test_progress_outside_jupyter_is_lines_on_the_stream(capsys):
    line = ProgressLine()
    line.update("one")
    line.update("two")
    assert capsys.readouterr().err == "one\ntwo\n"


def test_text_bar():
    assert text_bar(0, 4, width=8) == "░" * 8
    assert text_bar(1, 4, width=8) == "██" + "░" * 6
    assert text_bar(4, 4, width=8) == "█" * 8
