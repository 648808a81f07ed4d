"""Project-wide pytest hooks: strict nbval compares what matters; the cats-vs-dogs data policy."""
import os
from pathlib import Path

import pytest

# TensorFlow's C++ start-up chatter goes to stderr; keep it quiet in test processes too.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent
ADVERSARIAL_NOTEBOOK = ROOT / "adversarial_example" / "adversarial_cats_dogs.ipynb"
PERTURBED_RUNS = pytest.StashKey()  # the future of the rounding-perturbation runs
PERTURBED_PLAN = pytest.StashKey()  # their cases, and the test after which they may start


def pytest_collectstart(collector):
    """Do not compare stderr streams: TF/absl log lines differ between runs and machines."""
    if hasattr(collector, "skip_compare"):
        collector.skip_compare = tuple(collector.skip_compare) + ("stderr",)


def _find_cats_dogs_dir() -> Path:
    """The cats-vs-dogs images, as the notebook finds them, but never downloaded (no network here).

    Raises FileNotFoundError, naming both ways to get them, when they are not available offline.
    """
    from tests.notebook_api import import_beside  # imports TensorFlow: only when needed

    return import_beside(ADVERSARIAL_NOTEBOOK, "cats_dogs_data").find_data_dir(download=False)


def _needs_images(item) -> bool:
    """The adversarial notebook, a test that reads its images, or a test run on that notebook."""
    callspec = getattr(item, "callspec", None)
    return (item.path == ADVERSARIAL_NOTEBOOK
            or "cats_dogs_dir" in getattr(item, "fixturenames", ())
            or (callspec is not None and callspec.params.get("notebook") == ADVERSARIAL_NOTEBOOK))


def pytest_collection_modifyitems(config, items):
    """Perturbation tests last; the REQUIRE_CATS_DOGS policy for the cats-vs-dogs images.

    The adversarial notebook and the tests that read its images: without the images offline,
    those are skipped with the reason; with REQUIRE_CATS_DOGS=1 (as CI sets), the run stops with
    an error instead.
    """
    # The perturbation tests wait for runs that go on beside the other tests: ask last.
    items.sort(key=lambda item: item.get_closest_marker("perturbed") is not None)
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


def pytest_collection_finish(session):
    """Plan the selected rounding-perturbation runs: they start beside the other tests.

    They re-run notebooks for minutes, two kernels at a time; most other tests use one core, so
    running both at once makes the whole suite shorter. Not beside the cats-vs-dogs notebook,
    though, whose convolutions use every core: then they start when its last cell is done.
    Their tests wait for the results.
    """
    cases = [item.callspec.params for item in session.items
             if item.get_closest_marker("perturbed") and not item.get_closest_marker("skip")]
    if not cases:
        return
    busy = [item.nodeid for item in session.items if item.path == ADVERSARIAL_NOTEBOOK]
    session.config.stash[PERTURBED_PLAN] = ([(c["notebook"], c["name"]) for c in cases],
                                            busy[-1] if busy else None)
    if not busy:
        _start_perturbed_runs(session.config)


def _start_perturbed_runs(config) -> None:
    """Start the planned perturbation runs in the background (once)."""
    if PERTURBED_RUNS not in config.stash:
        from tests.perturbed_runs import BackgroundCheck

        config.stash[PERTURBED_RUNS] = BackgroundCheck(config.stash[PERTURBED_PLAN][0], jobs=2)


def pytest_runtest_teardown(item, nextitem):
    """Start the perturbation runs once the cats-vs-dogs notebook's last cell has run."""
    plan = item.config.stash.get(PERTURBED_PLAN, None)
    if plan is not None and plan[1] == item.nodeid:
        _start_perturbed_runs(item.config)


def pytest_sessionfinish(session):
    """End any perturbation run still going (an interrupted or failed session): no stray kernels."""
    if PERTURBED_RUNS in session.config.stash:
        session.config.stash[PERTURBED_RUNS].stop()


@pytest.fixture(scope="session")
def perturbed_results(request):
    """The rounding-perturbation runs' results: {(notebook, name): Result}."""
    _start_perturbed_runs(request.config)   # if nothing started them yet (notebook 3 skipped)
    return request.config.stash[PERTURBED_RUNS].result()
