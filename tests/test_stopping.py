"""Stopping a run with Ctrl-C (SIGINT) or SIGTERM leaves no process behind: no kernel, no child.

Each test starts a run in a child process whose environment carries a unique mark (every process
it starts inherits it), waits until the notebook's cell runs, sends the signal, and looks in
/proc for any process still carrying the mark.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from tools.run_notebooks import ROOT

# Tests of a maintainer's tool, which start Jupyter kernels (seconds each): .ci/run runs them
# with the slow proofs (`pytest -m "training or slow"`); a learner's `pytest` leaves them out.
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path("/proc/self/environ").exists(),
                                 reason="looks for processes in /proc (Linux)")]

MARK = "TF_BEYOND_DL_STOPPING_TEST"
SIGNALS = [pytest.param(signal.SIGINT, id="SIGINT"), pytest.param(signal.SIGTERM, id="SIGTERM")]


def write_notebook(path: Path, *sources: str) -> Path:
    """A notebook of the given code cells."""
    nb = new_notebook(cells=[new_code_cell(source) for source in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)
    return path


def busy_notebook(path: Path, started: Path) -> Path:
    """A notebook whose cell starts a child process, says so, then sits in a long C call.

    The C call holds the GIL (ctypes.PyDLL), as a long library call can: the kernel then cannot
    run its thread that ends it when its parent is gone.
    """
    return write_notebook(path, "import ctypes, pathlib, subprocess\n"
                                "child = subprocess.Popen(['sleep', '60'])\n"
                                f"pathlib.Path({str(started)!r}).touch()\n"
                                "ctypes.PyDLL(None).sleep(60)")


def marked_processes(mark: str) -> dict[int, str]:
    """{pid: command line} of every process whose environment holds `mark` (NAME=value)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:  # gone meanwhile, or another user's
            continue
        if mark.encode() in environ:
            found[int(entry.name)] = command
    return found


def wait_until(condition, seconds: float) -> bool:
    """Whether `condition()` became true within `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def stop_and_list_survivors(command: list[str], cwd: Path, started: Path,
                            signum: int) -> dict[int, str]:
    """Start `command`, send `signum` once its notebook's cell runs; what is left 10 s later."""
    mark = f"{MARK}={uuid.uuid4().hex}"
    env = {**os.environ, MARK: mark.split("=", 1)[1]}
    run = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    try:
        if not wait_until(started.exists, 120):
            run.kill()
            pytest.fail(f"the notebook's cell never started:\n{run.communicate()[0]}")
        time.sleep(0.5)  # the cell is now in its C call
        run.send_signal(signum)
        run.wait(timeout=30)
        wait_until(lambda: not marked_processes(mark), 10)
        return marked_processes(mark)
    finally:
        for pid in marked_processes(mark):  # a failed test leaves nothing running either
            os.kill(pid, signal.SIGKILL)
        if run.poll() is None:
            run.kill()
            run.wait()


@pytest.mark.parametrize("signum", SIGNALS)
def test_stopping_the_perturbation_proof_leaves_no_process(tmp_path, signum):
    started = tmp_path / "started"
    notebook = busy_notebook(tmp_path / "busy.ipynb", started)
    command = [sys.executable, "-m", "tools.perturbation_proof", "--perturbation",
               "other-order", str(notebook), str(notebook), "--jobs", "2"]
    assert stop_and_list_survivors(command, ROOT, started, signum) == {}


@pytest.mark.parametrize("signum", SIGNALS)
def test_stopping_pytest_nbval_leaves_no_process(tmp_path, signum):
    # This repository's conftest.py in a folder of its own; a test that runs nbclient in the
    # pytest process first, as the suite's tests do (nbclient resets SIGTERM's handler).
    shutil.copy(ROOT / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    write_notebook(tmp_path / "quick.ipynb", "1 + 1")
    (tmp_path / "test_nbclient_first.py").write_text(
        "import nbformat\nfrom nbclient import NotebookClient\n\n\n"
        "def test_run_a_notebook_here():\n"
        "    NotebookClient(nbformat.read('quick.ipynb', as_version=4)).execute()\n")
    started = tmp_path / "started"
    notebook = busy_notebook(tmp_path / "busy.ipynb", started)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--nbval", "-q",
               "test_nbclient_first.py", notebook.name]
    assert stop_and_list_survivors(command, tmp_path, started, signum) == {}
