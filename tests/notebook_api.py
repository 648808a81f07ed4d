"""Kept only for conftest.py, which finds the cats-vs-dogs images with it; remove with its use.

Tests import the modules beside the notebooks directly (`import cats_dogs_data`): pytest's
pythonpath (pyproject.toml) holds their folders.
"""
from __future__ import annotations

import importlib
import os
import sys
import types
from pathlib import Path


def import_beside(notebook: str | os.PathLike, name: str) -> types.ModuleType:
    """Import the helper module `name` from the notebook's folder, as the notebook does."""
    folder = str(Path(notebook).resolve().parent)
    sys.path.insert(0, folder)
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(folder)
