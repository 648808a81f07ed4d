"""Notebook hygiene, checked in CI: one kernelspec, no volatile metadata, small files."""

from __future__ import annotations

import nbformat
import pytest

from tools.run_notebooks import all_notebooks, is_volatile

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
MAX_BYTES = 1_500_000  # CONTRIBUTING.md: stored notebooks stay under 1.5 MB


@pytest.mark.parametrize("path", all_notebooks(), ids=lambda p: p.name)
def test_notebook_is_tidy(path):
    assert path.stat().st_size < MAX_BYTES
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec") == KERNELSPEC
    for i, cell in enumerate(nb.cells):
        assert "execution" not in cell.metadata, f"cell {i} stores execution timestamps"
        if cell.cell_type == "code":
            streams = [o.name for o in cell.outputs if o.output_type == "stream"]
            assert "stderr" not in streams, f"cell {i} stores a stderr stream (log noise)"
            assert not any(is_volatile(o) for o in cell.outputs), f"cell {i} stores progress"
