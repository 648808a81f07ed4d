"""Measurements run by hand from the repository root: python -m tests.benchmarks.<name> --help."""
