"""Progress of long work: one line updated in place in Jupyter, lines on stderr elsewhere."""
from __future__ import annotations

import sys
from typing import TextIO

# Marks the progress output in a notebook, so that tools/run_notebooks.py leaves it out of the
# stored notebooks, as it leaves out stderr.
PROGRESS_METADATA = {"tf_beyond_dl": {"progress": True}}


def in_jupyter_kernel() -> bool:
    """Whether this code runs in a Jupyter kernel (IPython connected to a notebook front end)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and hasattr(shell, "kernel")


class ProgressLine:
    """Shows a changing line of progress.

    In a Jupyter kernel, one output in the normal text colour, replaced at each update (not
    stderr, which Jupyter shows in the colour of errors). Elsewhere, or with a `stream`, each
    update is a new line on that stream (default: sys.stderr), as a terminal and a log expect.
    """

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream
        self._handle = None
        self._use_display = stream is None and in_jupyter_kernel()

    def update(self, text: str) -> None:
        """Show `text` as the current progress."""
        if not self._use_display:
            print(text, file=self.stream or sys.stderr, flush=True)
            return
        from IPython.display import display  # only in a kernel, where IPython is loaded

        bundle = {"text/plain": text}
        if self._handle is None:
            self._handle = display(bundle, raw=True, metadata=PROGRESS_METADATA, display_id=True)
        else:
            self._handle.update(bundle, raw=True, metadata=PROGRESS_METADATA)


def text_bar(done: int, total: int, width: int = 20) -> str:
    """A bar of `width` characters, filled in proportion to done / total: '█████░░░░░'."""
    filled = round(width * done / total)
    return "█" * filled + "░" * (width - filled)
