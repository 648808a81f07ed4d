"""Re-execute notebooks in place, top to bottom, regenerating every figure and GIF.

Usage (from the repository root):
    python -m tools.run_notebooks                    # every notebook in the collection
    python -m tools.run_notebooks path/to/nb.ipynb [...]

The stored outputs it writes are what strict nbval compares. The notebooks are discovered: every
*.ipynb in a folder of the repository root, so a new example folder needs no list to be updated.

Each notebook runs in a fresh kernel with its own folder as working directory. The terminal shows
each notebook and its time, then which files the run changed. The kernels' own log (TensorFlow's
C++ lines, Jupyter's warnings) goes to a log file, and is printed only for a notebook that fails.
Stderr streams and progress displays are not stored in the notebooks, and each notebook is
written atomically, so a failed run never leaves a half-written file.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path
from typing import IO

import nbformat
from nbclient import NotebookClient
from nbconvert.preprocessors import CoalesceStreamsPreprocessor

from common.files import write_atomically
from common.progress import PROGRESS_METADATA

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LOG = ROOT / "build" / "run_notebooks.log"  # build/ is git-ignored
SKIPPED_FOLDERS = {"__pycache__", "build", "venv"}


def all_notebooks(root: Path = ROOT) -> list[Path]:
    """The collection's notebooks: every *.ipynb one folder below `root`, sorted by path.

    Hidden folders (.git, .venv, .ci-venv, .ipynb_checkpoints) are not looked in.
    """
    return sorted(p for p in root.glob("*/*.ipynb")
                  if p.is_file() and not p.parent.name.startswith("."))


def is_volatile(output: nbformat.NotebookNode) -> bool:
    """Whether an output is log noise (stderr) or progress (marked by common.ProgressLine)."""
    if output.output_type == "stream":
        return output.name == "stderr"
    marker = next(iter(PROGRESS_METADATA))
    return output.get("metadata", {}).get(marker) == PROGRESS_METADATA[marker]


def drop_volatile_parts(nb: nbformat.NotebookNode) -> None:
    """Remove stderr streams (log noise), progress and execution timestamps; join stream chunks.

    Joining consecutive stream outputs (nbconvert's CoalesceStreamsPreprocessor) makes the file
    independent of flush timing. Dropping stderr and progress is this project's own: no library
    offers it.
    """
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not is_volatile(o)]
            cell.metadata.pop("execution", None)
    CoalesceStreamsPreprocessor().preprocess(nb, {})


def execute_in_place(path: Path, timeout: int = 1800, kernel_log: IO | None = None) -> float:
    """Run one notebook top to bottom and store its outputs; return the seconds it took.

    `kernel_log`: an open file that receives the kernel process's own stdout and stderr (None:
    they go where this process's go).
    """
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    redirect = {} if kernel_log is None else {"stdout": kernel_log, "stderr": kernel_log}
    NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute(**redirect)
    elapsed = time.perf_counter() - start
    drop_volatile_parts(nb)
    write_atomically(path, lambda tmp: nbformat.write(nb, tmp))
    return elapsed


def snapshot(folders: list[Path], exclude: Path | None = None) -> dict[Path, str]:
    """SHA-256 of every file below `folders`, except in hidden folders, caches and build output.

    `exclude`: one file left out (the run's own log, when the user puts it there).
    """
    digests = {}
    for folder in folders:
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = [d for d in dirnames
                           if not d.startswith(".") and d not in SKIPPED_FOLDERS]
            for name in filenames:
                if name.startswith("."):  # temp files of atomic writes, editor files
                    continue
                path = Path(dirpath, name)
                if path == exclude:
                    continue
                digests[path] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def changes(before: dict[Path, str], after: dict[Path, str]) -> list[tuple[str, Path]]:
    """("modified" | "new" | "deleted", path) for every file that differs, sorted by path."""
    found = [("modified", p) for p in before.keys() & after.keys() if before[p] != after[p]]
    found += [("new", p) for p in after.keys() - before.keys()]
    found += [("deleted", p) for p in before.keys() - after.keys()]
    return sorted(found, key=lambda item: item[1])


def shown(path: Path) -> str:
    """A path as the user reads it: relative to the repository when inside it."""
    return str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.run_notebooks",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run (default: all)")
    parser.add_argument("--log", type=Path, default=DEFAULT_LOG,
                        help="file for the kernels' own log, printed only when a notebook fails "
                             f"(default: {shown(DEFAULT_LOG)})")
    args = parser.parse_args(argv)
    notebooks = [p.resolve() for p in args.notebooks] or all_notebooks()
    for path in notebooks:
        if not path.is_file() or path.suffix != ".ipynb":
            parser.error(f"not a notebook file: {path}")
    log_path = args.log.resolve()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    folders = sorted({path.parent for path in notebooks})
    before = snapshot(folders, exclude=log_path)
    print(f"Re-executing {len(notebooks)} notebook(s); kernel log in {shown(log_path)}",
          flush=True)
    failed = []
    with open(log_path, "w", encoding="utf-8") as log:
        for number, path in enumerate(notebooks, 1):
            print(f"[{number}/{len(notebooks)}] {shown(path)} ... ", end="", flush=True)
            log.write(f"===== {shown(path)}\n")
            log.flush()
            offset = log.tell()
            start = time.perf_counter()
            try:
                elapsed = execute_in_place(path, kernel_log=log)
            except Exception as error:  # a failing cell, a dead kernel, a timeout
                log.flush()
                print(f"FAILED after {time.perf_counter() - start:.0f} s", flush=True)
                with open(log_path, encoding="utf-8", errors="replace") as reread:
                    reread.seek(offset)
                    kernel_output = reread.read().strip()
                print(f"{type(error).__name__}: {error}".rstrip())
                print(f"--- kernel log of {path.name} ---\n{kernel_output or '(empty)'}\n---",
                      flush=True)
                failed.append(path)
            else:
                print(f"ok, {elapsed:.0f} s", flush=True)
    changed = changes(before, snapshot(folders, exclude=log_path))
    if changed:
        print("Changed on disk:")
        for kind, path in changed:
            print(f"  {kind:8}  {shown(path)}")
    else:
        print("Changed on disk: nothing (every output was regenerated identically)")
    if failed:
        print(f"{len(failed)} notebook(s) failed, left as they were: "
              + ", ".join(shown(p) for p in failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
