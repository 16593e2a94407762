"""Tests for energy3d.data.binvox: hand-encoded files, round trips, voxel order, corrupt files."""

import numpy as np
import pytest

from energy3d.data.binvox import read_binvox, rle_decode, rle_encode, write_binvox
from energy3d.errors import InputError
from energy3d.geometry.mesh import box_mesh
from energy3d.geometry.voxel import voxelize, world_grid_centers

HEADER = b"#binvox 1\ndim 2 2 2\ntranslate -1 -2 -3\nscale 4\ndata\n"


def test_hand_encoded_file_follows_x_z_y_order(tmp_path):
    # stream index = x * 4 + z * 2 + y; set only voxel (x=1, y=0, z=0) -> index 4
    p = tmp_path / "a.binvox"
    p.write_bytes(HEADER + bytes([0, 4, 1, 1, 0, 3]))
    b = read_binvox(p)
    expect = np.zeros((2, 2, 2), bool)
    expect[1, 0, 0] = True
    np.testing.assert_array_equal(b.grid, expect)
    np.testing.assert_allclose(b.translate, [-1, -2, -3])
    assert b.scale == 4.0
    # (x=0, y=1, z=0) is index 1 and (x=0, y=0, z=1) is index 2
    p.write_bytes(HEADER + bytes([0, 1, 1, 1, 0, 6]))
    assert read_binvox(p).grid[0, 1, 0] and read_binvox(p).grid.sum() == 1
    p.write_bytes(HEADER + bytes([0, 2, 1, 1, 0, 5]))
    assert read_binvox(p).grid[0, 0, 1] and read_binvox(p).grid.sum() == 1
    # world centre of voxel (i, j, k) = scale * ((i, j, k) + 0.5) / dim + translate
    np.testing.assert_allclose(b.centers()[1, 0, 0], [4 * 0.75 - 1, 4 * 0.25 - 2, 4 * 0.25 - 3])
    np.testing.assert_allclose(b.bounds, [[-1, -2, -3], [3, 2, 1]])


def test_writer_produces_the_hand_encoding(tmp_path):
    g = np.zeros((2, 2, 2), bool)
    g[1, 0, 0] = True
    write_binvox(tmp_path / "w.binvox", g, translate=(-1, -2, -3), scale=4.0)
    raw = (tmp_path / "w.binvox").read_bytes()
    assert raw.startswith(b"#binvox 1\ndim 2 2 2\n")
    assert raw.endswith(b"data\n" + bytes([0, 4, 1, 1, 0, 3]))


def test_rle_long_runs_split_at_255():
    enc = rle_encode(np.zeros(512, np.uint8))
    assert enc == bytes([0, 255, 0, 255, 0, 2])
    a = np.random.default_rng(0).random(5000) < 0.02
    a[1000:1700] = True
    np.testing.assert_array_equal(rle_decode(rle_encode(a), a.size), a)


def test_round_trip_of_a_voxelised_mesh(tmp_path):
    g = voxelize(box_mesh(center=(0.1, -0.05, 0.2), size=(0.3, 0.5, 0.2)), 32)
    write_binvox(tmp_path / "b.binvox", g)
    b = read_binvox(tmp_path / "b.binvox")
    np.testing.assert_array_equal(b.grid, g)
    np.testing.assert_allclose(b.centers(), world_grid_centers(32))  # default: the unit cube around 0


@pytest.mark.parametrize(
    "raw,match",
    [
        (b"#voxels\n", "not a binvox"),
        (b"#binvox 1\ntranslate 0 0 0\ndata\n" + bytes([0, 8]), "no 'dim'"),
        (b"#binvox 1\ndim 2 2 3\ndata\n" + bytes([0, 12]), "cubic"),
        (b"#binvox 1\ndim 2 2 x\ndata\n", "bad binvox header"),
        (b"#binvox 1\ndim 2 2 2\nfoo 1\ndata\n", "unknown binvox header"),
        (b"#binvox 1\ndim 2 2 2\n", "before the 'data'"),
        (HEADER + bytes([0, 4, 1, 1]), "truncated"),
        (HEADER + bytes([0, 8, 1, 1]), "too long"),
        (HEADER + bytes([0, 8, 1]), "odd number"),
        (HEADER + bytes([0, 0, 0, 8]), "zero-length"),
    ],
)
def test_corrupt_files(tmp_path, raw, match):
    p = tmp_path / "c.binvox"
    p.write_bytes(raw)
    with pytest.raises(InputError, match=match):
        read_binvox(p)


def test_writer_and_reader_argument_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_binvox(tmp_path / "none.binvox")
    with pytest.raises(InputError, match="cubic"):
        write_binvox(tmp_path / "x.binvox", np.zeros((2, 3, 2)))
    with pytest.raises(InputError, match="scale"):
        write_binvox(tmp_path / "x.binvox", np.zeros((2, 2, 2)), scale=0.0)
