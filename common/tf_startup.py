"""Hide TensorFlow's C++ start-up notices, which its own log level cannot hide.

With TensorFlow 2.21, `import tensorflow` writes, straight to file descriptor 2 and before its log
level (TF_CPP_MIN_LOG_LEVEL) is read, absl's "All log messages before absl::InitializeLog() ..."
warning, the oneDNN notice (port.cc) and, on a machine without NVIDIA drivers, "Could not find
cuda drivers" (cudart_stub.cc), each of them twice; the first device query then logs "failed call
to cuInit" (cuda_platform.cc), an error-level line that only level 3 hides. A Jupyter kernel
forwards whatever reaches descriptor 2 into the cell, so a learner sees them on the error colour.
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator

LOG_LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"

_NOTICES = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IW]\d{4} [^\]]*\] (oneDNN custom operations are on"
    r"|Could not find cuda drivers on your machine"
    r"|This TensorFlow binary is optimized to use available CPU instructions)"
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate")
_NO_DRIVER = "Could not find cuda drivers on your machine"
_CUINIT = re.compile(r"E\d{4} [^\]]*\] failed call to cuInit")


def without_startup_notices(text: str) -> str:
    """`text` without TensorFlow's start-up notices; every other line is kept, in order.

    The cuInit failure is dropped only together with the notice that no NVIDIA driver was found
    (then no GPU is expected); with a driver installed it is a real error and is kept.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    no_driver = _NO_DRIVER in text
    kept = [line for line in text.splitlines(keepends=True)
            if not _NOTICES.match(line) and not (no_driver and _CUINIT.match(line))]
    return "".join(kept)


@contextlib.contextmanager
def quiet_tensorflow_startup(log_level: str = "2") -> Iterator[None]:
    """Import TensorFlow inside this block to hide its C++ start-up notices; keep other output.

    Sets TF_CPP_MIN_LOG_LEVEL to `log_level` unless the user has set it. While the block runs
    (and the first device query, made on leaving it), file descriptor 2 goes to a temporary
    file; afterwards everything in it except the known notices is written to sys.stderr. With
    TF_CPP_MIN_LOG_LEVEL=0 (the user asks for every log line) nothing is captured or hidden.
    """
    if log_level not in {"0", "1", "2", "3"}:
        raise ValueError(f"log_level must be '0', '1', '2' or '3', got {log_level!r}")
    os.environ.setdefault(LOG_LEVEL_VARIABLE, log_level)
    if os.environ[LOG_LEVEL_VARIABLE] == "0":
        yield
        return
    sys.stderr.flush()
    saved_fd = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
            if "tensorflow" in sys.modules:  # the cuInit line comes with the first device query
                sys.modules["tensorflow"].config.list_physical_devices()
        finally:
            os.dup2(saved_fd, 2)
            os.close(saved_fd)
            captured.seek(0)
            rest = without_startup_notices(captured.read().decode("utf-8", errors="replace"))
            if rest:
                sys.stderr.write(rest)
                sys.stderr.flush()
