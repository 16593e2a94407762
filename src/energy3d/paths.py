"""Where the real data lives.

The data folder is found through the ``ENERGY3D_DATA`` environment variable; without it,
``../shared/data`` relative to the current directory or to the repository that holds this package
is used when it exists. See the README for where to get the same data (public upstream repositories).
"""

from __future__ import annotations

import os
from pathlib import Path

from energy3d.errors import InputError

_REPO = Path(__file__).resolve().parents[2]


def data_root(required: bool = True) -> Path | None:
    """Return the data folder, or raise :class:`InputError` (``required``) / return None if absent."""
    env = os.environ.get("ENERGY3D_DATA")
    candidates = [Path(env)] if env else [Path.cwd() / "../shared/data", _REPO / "../shared/data"]
    for c in candidates:
        if c.is_dir():
            return c.resolve()
    if required:
        where = env if env else "../shared/data"
        raise InputError(
            f"data folder not found at {where}; set ENERGY3D_DATA to the folder holding "
            "motion_bandai/ and objects_cc0/ (see README, 'Data')"
        )
    return None


def cache_root() -> Path:
    """Folder for derived, rebuildable data (``ENERGY3D_CACHE`` or ``~/.cache/energy3d``)."""
    p = Path(os.environ.get("ENERGY3D_CACHE", Path.home() / ".cache" / "energy3d"))
    p.mkdir(parents=True, exist_ok=True)
    return p
