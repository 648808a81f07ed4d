"""Skip this folder's notebook, with the reason, when the cats-vs-dogs images are unreachable.

The notebook finds the images in $CATS_DOGS_DIR, in Keras' cache, or by downloading them.
The test suite never downloads (and never probes the network): without the variable or a cached
copy, the notebook is skipped with the reason. Run the notebook once by hand to download and
cache the images. Set REQUIRE_CATS_DOGS=1 (as CI does) to make a skip a failure.
"""
import os
import pathlib

import pytest

DATA_URL = "https://storage.googleapis.com/mledu-datasets/cats_and_dogs_filtered.zip"
NEEDED = [f"{split}/{folder}" for split in ("train", "validation") for folder in ("cats", "dogs")]


def _has_data(path: pathlib.Path) -> bool:
    return any(all((p / n).is_dir() for n in NEEDED) for p in (path, path / "cats_and_dogs_filtered"))


def data_unreachable_reason() -> str | None:
    """None when the notebook can find the images; otherwise why it cannot."""
    env = os.environ.get("CATS_DOGS_DIR")
    if env:
        return None if _has_data(pathlib.Path(env).expanduser()) else (
            f"CATS_DOGS_DIR={env!r} does not hold train/{{cats,dogs}} and validation/{{cats,dogs}}")
    datasets = pathlib.Path(os.environ.get("KERAS_HOME", pathlib.Path.home() / ".keras")) / "datasets"
    if _has_data(datasets / "cats_and_dogs_filtered_extracted") or _has_data(datasets):
        return None
    return (f"cats-vs-dogs images not available offline: CATS_DOGS_DIR is not set and Keras' cache "
            f"has no copy (run the notebook once to download {DATA_URL}, or set CATS_DOGS_DIR)")


def pytest_collection_modifyitems(config, items):
    mine = [item for item in items if pathlib.Path(str(item.fspath)).suffix == ".ipynb"
            and pathlib.Path(str(item.fspath)).parent == pathlib.Path(__file__).parent]
    if not mine:
        return
    reason = data_unreachable_reason()
    if reason is None:
        return
    if os.environ.get("REQUIRE_CATS_DOGS") == "1":
        raise pytest.UsageError(f"REQUIRE_CATS_DOGS=1 but {reason}")
    for item in mine:
        item.add_marker(pytest.mark.skip(reason=reason))
