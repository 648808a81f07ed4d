"""Project-wide pytest hooks: keep strict nbval comparing what matters."""
import os

# TensorFlow's C++ start-up chatter goes to stderr; keep it quiet in test processes too.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_collectstart(collector):
    """Do not compare stderr streams: TF/absl log lines differ between runs and machines."""
    if hasattr(collector, "skip_compare"):
        collector.skip_compare = tuple(collector.skip_compare) + ("stderr",)
