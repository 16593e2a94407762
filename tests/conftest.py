"""Shared test fixtures: the real data folder (tests skip cleanly where it is absent), one torch thread,
a tiny trained voxel checkpoint."""

import pytest
import torch

from energy3d.paths import data_root
from helpers import tiny_trained_voxel


@pytest.fixture(scope="session")
def data_dir():
    root = data_root(required=False)
    if root is None:
        pytest.skip("real data folder (ENERGY3D_DATA or ../shared/data) not present")
    return root


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module: tiny models gain nothing from more, and lose a lot on a busy machine.

    Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def tiny_voxel_ckpt(tmp_path_factory):
    """``best.json`` of a tiny voxel IGE model trained once per session (:func:`helpers.tiny_trained_voxel`)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return tiny_trained_voxel(tmp_path_factory.mktemp("voxckpt"))
    finally:
        torch.set_num_threads(n)
