"""Project-wide pytest hooks: strict nbval compares what matters; the cats-vs-dogs data policy;
SIGTERM stops pytest as Ctrl-C does."""
import os
import signal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
ADVERSARIAL_NOTEBOOK = ROOT / "adversarial_example" / "adversarial_cats_dogs.ipynb"


def pytest_collectstart(collector):
    """Do not compare stderr streams: TF/absl log lines differ between runs and machines."""
    if hasattr(collector, "skip_compare"):
        collector.skip_compare = tuple(collector.skip_compare) + ("stderr",)


def pytest_runtest_setup(item):
    """SIGTERM (what `timeout`, CI runners and `kill` send) stops pytest as Ctrl-C does.

    By default SIGTERM ends pytest at once, and nbval's kernel is left running while a cell is in
    a long C call (the kernel's watch for its parent's end waits for the GIL), as is any process
    a cell started; as Ctrl-C, it lets nbval shut the kernel down (tests/test_stopping.py). Set
    before every test: nbclient, run by a test in this process, resets SIGTERM to the default.
    """
    signal.signal(signal.SIGTERM, signal.default_int_handler)


def _find_cats_dogs_dir() -> Path:
    """The cats-vs-dogs images, as the notebook finds them, but never downloaded (no network here).

    Raises FileNotFoundError, naming both ways to get them, when they are not available offline.
    """
    import common

    with common.quiet_tensorflow_startup():   # cats_dogs_data imports TensorFlow: only when needed
        import cats_dogs_data  # beside the notebook; found through pytest's pythonpath

    return cats_dogs_data.find_data_dir(download=False)


def _needs_images(item) -> bool:
    """The adversarial notebook, or a test that reads its images."""
    return item.path == ADVERSARIAL_NOTEBOOK or "cats_dogs_dir" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(config, items):
    """The REQUIRE_CATS_DOGS policy for the cats-vs-dogs images.

    The adversarial notebook and the tests that read its images: without the images offline,
    those are skipped with the reason; with REQUIRE_CATS_DOGS=1 (as CI sets), the run stops with
    an error instead.
    """
    needs_images = [item for item in items if _needs_images(item)]
    if not needs_images:
        return
    try:
        _find_cats_dogs_dir()
    except FileNotFoundError as error:
        if os.environ.get("REQUIRE_CATS_DOGS") == "1":
            raise pytest.UsageError(f"REQUIRE_CATS_DOGS=1 but {error}") from None
        for item in needs_images:
            reason = f"cats-vs-dogs images not available offline: {error}"
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def cats_dogs_dir() -> Path:
    """The folder of the cats-vs-dogs images ($CATS_DOGS_DIR or Keras' cache)."""
    return _find_cats_dogs_dir()
