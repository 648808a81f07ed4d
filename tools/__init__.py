"""What a maintainer runs, from the repository root: python -m tools.<name> --help."""
