"""Atomic file writes: a reader never sees a half-written file, a failed write leaves none."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def _new_file_mode() -> int:
    """The permissions a plain open() would give a new file under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomically(path: str | os.PathLike, write: Callable[[Path], object]) -> None:
    """Call `write(tmp)` to fill a temp file beside `path`, then replace `path` with it in one step.

    The temp file lives in the same folder (so the replace is atomic) and keeps `path`'s suffix
    (so writers that check it, such as Keras' `model.save`, accept it). If `write` raises, `path`
    is left as it was and the temp file is removed. Permissions: an existing file keeps its
    mode; a new file gets what a plain open() would give it under the current umask.
    """
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():   # else mkstemp's error would name the temp file, not this folder
        raise ValueError(f"folder {str(folder)!r} does not exist; create it before writing "
                         f"{path.name!r}")
    try:
        mode = os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        mode = _new_file_mode()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}",
                                    dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, mode)  # mkstemp makes private (0600) files
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
