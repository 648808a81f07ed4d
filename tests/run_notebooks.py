"""Re-execute notebooks in place, top to bottom, regenerating every figure and GIF.

Usage (from the repository root):
    python -m tests.run_notebooks                    # every notebook in the collection
    python -m tests.run_notebooks path/to/nb.ipynb [...]

It lives in tests/ because it shares the test suite's machinery (a notebook's stored outputs are
what strict nbval compares). The notebooks are discovered: every *.ipynb in a folder of the
repository root, so a new example folder needs no list to be updated.

Each notebook runs in a fresh kernel with its own folder as working directory. Stderr
streams (TensorFlow's start-up log lines, which differ between machines) are not stored,
and each notebook is written atomically, so a failed run never leaves a half-written file.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from common.files import write_atomically

ROOT = Path(__file__).resolve().parent.parent


def all_notebooks(root: Path = ROOT) -> list[Path]:
    """The collection's notebooks: every *.ipynb one folder below `root`, sorted by path.

    Hidden folders (.git, .venv, .ci-venv, .ipynb_checkpoints) are not looked in.
    """
    return sorted(p for p in root.glob("*/*.ipynb")
                  if p.is_file() and not p.parent.name.startswith("."))


def merge_streams(outputs: list) -> list:
    """Join consecutive stdout chunks into one output: the file does not depend on flush timing."""
    merged = []
    for out in outputs:
        if (out.output_type == "stream" and merged and merged[-1].output_type == "stream"
                and merged[-1].name == out.name):
            merged[-1].text += out.text
        else:
            merged.append(out)
    return merged


def drop_volatile_parts(nb: nbformat.NotebookNode) -> None:
    """Remove stderr streams (log noise) and execution timestamps; merge stdout chunks."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            outputs = [o for o in cell.outputs
                       if not (o.output_type == "stream" and o.name == "stderr")]
            cell.outputs = merge_streams(outputs)
            cell.metadata.pop("execution", None)


def execute_in_place(path: Path, timeout: int = 1800) -> float:
    """Run one notebook top to bottom and store its outputs; return the seconds it took."""
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    elapsed = time.perf_counter() - start
    drop_volatile_parts(nb)
    write_atomically(path, lambda tmp: nbformat.write(nb, tmp))
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run (default: all)")
    args = parser.parse_args(argv)
    notebooks = [p.resolve() for p in args.notebooks] or all_notebooks()
    for path in notebooks:
        if not path.is_file() or path.suffix != ".ipynb":
            parser.error(f"not a notebook file: {path}")
    for path in notebooks:
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        print(f"running {shown} ...", flush=True)
        print(f"  done in {execute_in_place(path):.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
