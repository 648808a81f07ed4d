"""Write each notebook's `#@save` cells into a module beside it, as d2l does.

    python -m tools.export_cells             # (re)write the module of every notebook
    python -m tools.export_cells --check     # exit 1, naming them, if any module is out of date
    python -m tools.export_cells NB.ipynb    # only these notebooks

A code cell whose first line is `#@save` is saved into `<notebook stem>_lib.py` beside the
notebook (adversarial_example/adversarial_cats_dogs.ipynb -> adversarial_cats_dogs_lib.py), in
the notebook's order, each cell after a `# ---- cell N` line (N: its index among all the
notebook's cells, counted from 0 as nbformat does). The modules beside the notebook and the tests
import that module, so they run the very code the learner reads: one source for each function.
A notebook without a `#@save` cell has no module. Edit the notebook, then run this tool; the
tests fail while a module is out of date.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

from common.files import write_atomically

ROOT = Path(__file__).resolve().parent.parent
SAVE_MARK = "#@save"


def all_notebooks(root: Path = ROOT) -> list[Path]:
    """Every notebook one folder below `root`, outside hidden folders, sorted by path."""
    return sorted(p for p in root.glob("*/*.ipynb") if not p.parent.name.startswith("."))


def module_path(notebook: Path) -> Path:
    """Where the notebook's saved cells go: `<stem>_lib.py` beside it."""
    return notebook.with_name(f"{notebook.stem}_lib.py")


def saved_cells(notebook: Path) -> list[tuple[int, str]]:
    """(index, source without its `#@save` line) of each code cell marked for saving."""
    cells = nbformat.read(notebook, as_version=4).cells
    saved = []
    for index, cell in enumerate(cells):
        first, _, rest = cell.source.partition("\n")
        if cell.cell_type == "code" and first.split()[:1] == [SAVE_MARK]:
            saved.append((index, rest.strip("\n")))
    return saved


def module_text(notebook: Path) -> str | None:
    """The module generated from the notebook's saved cells; None if it has none."""
    cells = saved_cells(notebook)
    if not cells:
        return None
    header = (f'"""Generated from {notebook.name} by tools/export_cells.py: edit the notebook, '
              f'not\nthis file."""\n')
    return header + "".join(f"\n\n# ---- cell {index}\n{source}\n" for index, source in cells)


def is_stale(notebook: Path) -> bool:
    """Whether the notebook's module is missing or differs from what its saved cells give."""
    text = module_text(notebook)
    path = module_path(notebook)
    return text is not None and (not path.is_file() or path.read_text() != text)


def export(notebook: Path) -> Path | None:
    """Write the notebook's module if it is out of date; return its path if written."""
    if not is_stale(notebook):
        return None
    text = module_text(notebook)
    path = module_path(notebook)
    write_atomically(path, lambda tmp: tmp.write_text(text))
    return path


def _shown(path: Path) -> Path:
    """`path` relative to the repository root when it is inside it."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.export_cells", description=__doc__.splitlines()[0],
        epilog="A code cell whose first line is `#@save` goes into <notebook stem>_lib.py "
               "beside the notebook.")
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to export (default: every notebook of the repository)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 naming each module that is out of date")
    args = parser.parse_args(argv)
    notebooks = [p.resolve() for p in args.notebooks] or all_notebooks()
    if args.check:
        stale = [module_path(nb) for nb in notebooks if is_stale(nb)]
        for path in stale:
            print(f"out of date: {_shown(path)} (run python -m tools.export_cells)")
        return 1 if stale else 0
    for notebook in notebooks:
        written = export(notebook)
        if written:
            print(f"wrote {_shown(written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
