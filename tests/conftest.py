"""Shared test fixtures: the real data folder (tests skip cleanly where it is absent)."""

import pytest

from energy3d.paths import data_root


@pytest.fixture(scope="session")
def data_dir():
    root = data_root(required=False)
    if root is None:
        pytest.skip("real data folder (ENERGY3D_DATA or ../shared/data) not present")
    return root
