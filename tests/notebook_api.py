"""Load a notebook's cells tagged `api` as a module, for tests and benchmarks."""

from __future__ import annotations

import importlib
import linecache
import os
import sys
import types
from pathlib import Path

import nbformat


def load_api_module(notebook: str | os.PathLike, name: str) -> types.ModuleType:
    """Run the notebook's cells tagged `api`, in order, as the module `name`, and return it.

    That is what a fresh kernel started in the notebook's folder would do with those cells:
    they run with the notebook's folder as working directory and first on sys.path (so they
    can import a helper module beside the notebook). The module is registered in
    sys.modules[name], so tests can write `module.f(...)` and `monkeypatch.setattr(module, ...)`.
    """
    notebook = Path(notebook).resolve()
    sources = [cell.source for cell in nbformat.read(notebook, as_version=4).cells
               if cell.cell_type == "code" and "api" in cell.metadata.get("tags", [])]
    if not sources:
        raise ValueError(f"{notebook.name} has no code cell tagged 'api'")
    module = types.ModuleType(name, f"The cells tagged `api` of {notebook.name}.")
    module.__file__ = str(notebook)
    sys.modules[name] = module
    cwd, folder = os.getcwd(), str(notebook.parent)
    os.chdir(folder)
    sys.path.insert(0, folder)
    try:
        for i, source in enumerate(sources):
            filename = f"<{notebook.name} api cell {i}>"
            # Register the source, as IPython does, so that tf.function's AutoGraph can read it.
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
            exec(compile(source, filename, "exec"), module.__dict__)
    except BaseException:
        del sys.modules[name]
        raise
    finally:
        sys.path.remove(folder)
        os.chdir(cwd)
    return module


def import_beside(notebook: str | os.PathLike, name: str) -> types.ModuleType:
    """Import the helper module `name` from the notebook's folder, as the notebook does."""
    folder = str(Path(notebook).resolve().parent)
    sys.path.insert(0, folder)
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(folder)
