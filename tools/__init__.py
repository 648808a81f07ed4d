"""Tools a maintainer runs: `python -m tools.NAME --help`."""
