"""Tests of the masks of robust images that bench_ensemble writes and other benchmarks read."""
import numpy as np
import pytest

from benchmarks.bench_ensemble import read_mask, spread_indices, write_mask


def test_spread_indices_cover_the_split_evenly():
    assert list(spread_indices(5, 1000)) == [0, 250, 500, 749, 999]
    assert list(spread_indices(2000, 10)) == list(range(10))     # never more than there are


def test_a_mask_reads_back_what_was_written(tmp_path):
    path, chosen = tmp_path / "mask.txt", spread_indices(30, 250)
    robust = np.arange(len(chosen)) % 3 == 0
    write_mask(path, chosen, robust, total=250)
    np.testing.assert_array_equal(read_mask(path, chosen), robust)
    np.testing.assert_array_equal(read_mask(path, chosen[::2]), robust[::2])


def test_reading_an_image_that_was_not_attacked_is_an_error(tmp_path):
    path = tmp_path / "mask.txt"
    write_mask(path, np.array([0, 2]), np.array([True, False]), total=4)
    with pytest.raises(ValueError, match="no result for 1 of the images"):
        read_mask(path, np.array([0, 1]))
