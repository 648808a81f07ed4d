"""Tests of common.write_atomically: all or nothing, no temp file left, permissions kept."""

from __future__ import annotations

import os

import pytest

from common.files import write_atomically


def test_writes_a_new_file_with_the_umask_default(tmp_path):
    path = tmp_path / "new.txt"
    old_umask = os.umask(0o022)
    try:
        write_atomically(path, lambda tmp: tmp.write_text("hello"))
    finally:
        os.umask(old_umask)
    assert path.read_text() == "hello"
    assert path.stat().st_mode & 0o777 == 0o644  # not mkstemp's private 0600
    assert os.listdir(tmp_path) == ["new.txt"]


def test_replacing_keeps_the_existing_mode(tmp_path):
    path = tmp_path / "script.sh"
    path.write_text("old")
    path.chmod(0o750)
    write_atomically(path, lambda tmp: tmp.write_text("new"))
    assert path.read_text() == "new"
    assert path.stat().st_mode & 0o777 == 0o750


def test_temp_file_is_beside_the_target_and_keeps_its_suffix(tmp_path):
    seen = []
    write_atomically(tmp_path / "model.keras",
                     lambda tmp: seen.append(tmp) or tmp.write_bytes(b"x"))
    assert seen[0].parent == tmp_path and seen[0].suffix == ".keras"  # Keras checks the suffix
    assert seen[0].name.startswith(".model.")
    assert not seen[0].exists()


def test_failure_keeps_the_old_file_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("old")

    def half_then_fail(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomically(path, half_then_fail)
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["data.csv"]


def test_interrupt_leaves_no_temp_file(tmp_path):
    def interrupted(tmp):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically(tmp_path / "x.txt", interrupted)
    assert os.listdir(tmp_path) == []


def test_rejects_a_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        write_atomically(tmp_path / "missing" / "x.txt", lambda tmp: None)
