"""Run a notebook's cells tagged `api` outside Jupyter, for tests and benchmarks."""
from __future__ import annotations

import linecache
import os
from pathlib import Path

import nbformat


def run_api_cells(notebook: Path, module_name: str = "notebook_api") -> dict:
    """Execute the cells tagged `api`, in order, in one namespace, with cwd = the notebook's folder.

    That is what a fresh kernel started in the notebook's folder would do with those cells.
    Returns the namespace, so tests can call the functions the cells define.
    """
    notebook = Path(notebook)
    sources = [cell.source for cell in nbformat.read(notebook, as_version=4).cells
               if cell.cell_type == "code" and "api" in cell.metadata.get("tags", [])]
    if not sources:
        raise ValueError(f"{notebook.name} has no code cell tagged 'api'")
    namespace = {"__name__": module_name}
    cwd = os.getcwd()
    os.chdir(notebook.parent)
    try:
        for i, source in enumerate(sources):
            filename = f"<{notebook.name} api cell {i}>"
            # Register the source, as IPython does, so that tf.function's AutoGraph can read it.
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
            exec(compile(source, filename, "exec"), namespace)
    finally:
        os.chdir(cwd)
    return namespace
