"""One entry point for 3D motion of any supported source: :func:`load_motion`.

The format readers (:mod:`energy3d.data.bandai`, :mod:`energy3d.data.bvh`, :mod:`energy3d.data.asf`,
:mod:`energy3d.data.h36m`) build on :mod:`energy3d.data.motion` and :mod:`energy3d.data.mocap`;
this module sits above them all, so ``data/`` has no import circle.

Named sources (folders of the data folder, :func:`energy3d.paths.data_root`):

* ``"hdm05"``: ``motion_hdm05/bvh`` (287 HDM05 clips, 5 actors, ASF bone names, cm);
* ``"cmu"``: ``motion_cmu`` (both subfolders: ``daz_10-14``, DAZ names, cm; ``max_131``, 3ds Max
  names, CMU units);
* ``"bandai"``: the Bandai npz (``motion_bandai/bandai_joints21_30fps_mm.npz``).

Every clip keeps its person in ``clip["subject"]`` (HDM05: the actor, CMU: the subject number,
Bandai: the dataset; see :func:`energy3d.data.mocap.clip_info_from_name`), so splits by person are possible.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from energy3d.data.asf import load_amc
from energy3d.data.bandai import load_bandai
from energy3d.data.bvh import load_bvh
from energy3d.data.h36m import load_h36m_3d, load_h36m_h5
from energy3d.data.motion import Motion
from energy3d.errors import InputError
from energy3d.paths import data_root
from energy3d.skeleton.layouts import Skeleton

__all__ = ["NAMED_SOURCES", "load_motion", "npz_keys", "resolve_named_source"]

NAMED_SOURCES = {
    "hdm05": "motion_hdm05/bvh",
    "cmu": "motion_cmu",
    "bandai": "motion_bandai/bandai_joints21_30fps_mm.npz",
}
"""Source names :func:`load_motion` accepts, and their paths under the data folder."""


def resolve_named_source(source: str | Path) -> Path:
    """The path of a named source (``"hdm05"``, ``"cmu"``, ``"bandai"``), or ``source`` as a path.

    A name is taken as a path when a file or folder of that name exists in the current directory.

    Raises:
        InputError: a named source whose data folder or subfolder is missing.
    """
    name = str(source)
    if name in NAMED_SOURCES and not Path(name).exists():
        path = data_root() / NAMED_SOURCES[name]
        if not path.exists():
            raise InputError(f"named motion source {name!r}: {path} not found (see the README, 'Data')")
        return path
    return Path(source)


def npz_keys(path: Path) -> list[str]:
    """Member names of an ``.npz`` file (unpickles nothing); a corrupt file is an :class:`InputError`."""
    try:
        with np.load(path, allow_pickle=False) as z:  # lists member names; unpickles nothing
            return list(z.files)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise InputError(f"{path}: not a readable .npz file ({type(e).__name__}: {e})") from None


def load_motion(source: str | Path, *, units: str | float | None = None, fps: float | None = None,
                layout: str | Skeleton | None = "h36m17", joint_map=None, asf: str | Path | None = None,
                mapping: str | None = None) -> Motion:
    """Load 3D motion from any supported source, in metres, Y-up, in one joint layout.

    The source type is recognised from the path:

    * ``.npz`` with key ``joints_mm``: the Bandai Namco npz (:func:`energy3d.data.bandai.load_bandai`);
    * ``.npz`` with key ``positions_3d``: a Human3.6M 3D npz (:func:`energy3d.data.h36m.load_h36m_3d`).
      This format is a pickled dict: it is unpickled, so only load files you trust;
    * ``.h5`` file, or a folder holding ``.h5`` files: Martinez-style Human3.6M poses
      (:func:`energy3d.data.h36m.load_h36m_h5`, needs ``energy3d[h5]``);
    * ``.bvh`` file, or a folder holding ``.bvh`` files (recursive): :func:`energy3d.data.bvh.load_bvh`;
    * ``.amc`` file (its ``.asf`` beside it or given as ``asf``), or a folder holding ``.amc`` files:
      :func:`energy3d.data.asf.load_amc`;
    * a named source: ``"hdm05"``, ``"cmu"``, ``"bandai"`` (see the module docstring).

    BVH and AMC folders read every file they can: the others are listed in ``Motion.skipped`` with
    the reason; ``Motion.notes`` says what was assumed (uncertain units, extrapolated head tops).

    Args:
        source: file or folder path, or a source name.
        units: BVH/AMC file units (``"m"``, ``"cm"``, ``"mm"``, ``"inch"``, ``"cmu"`` or metres per
            file unit, also as a string such as ``"0.056444"``); ``None`` detects them (see
            :func:`energy3d.data.mocap.guess_units`; for AMC the ASF's ``:units length``). Ignored
            for npz/h5 sources, whose units are fixed by their formats.
        fps: if given, keep every k-th frame so that the result runs at ``fps``.
        layout: target joint layout (default ``h36m17``). ``None`` keeps the source's own layout.
        joint_map: BVH/AMC: a user joint map (dict or JSON path ``{h36m17 joint: file joint name}``)
            for rigs not recognised by name (see :func:`energy3d.data.mocap.read_joint_map`).
        asf: AMC: the ASF skeleton file (default: the one beside each AMC).
        mapping: BVH/AMC: force one built-in rig (see :data:`energy3d.data.mocap.RIGS`).

    Returns:
        :class:`Motion` with ``joints`` ``(N, J, 3)`` float32 metres, Y-up.

    Raises:
        InputError: missing, unknown or corrupt source, or a layout the source cannot provide.
    """
    path = resolve_named_source(source)
    mocap = {"units": units, "fps": fps, "layout": layout, "joint_map": joint_map, "mapping": mapping}
    if not path.exists():
        raise InputError(f"{path}: no such file or folder (expected a .npz, .h5, .bvh or .amc file, a folder of "
                         f".bvh/.amc/.h5 files, or one of the names {', '.join(NAMED_SOURCES)})")
    if path.is_dir():
        if any(path.rglob("*.bvh")):
            return load_bvh(path, **mocap)
        if any(path.rglob("*.amc")):
            return load_amc(path, asf=asf, **mocap)
        if any(path.rglob("*.h5")):
            return load_h36m_h5(path, fps=fps, layout=layout)
        raise InputError(f"{path}: folder holds no .bvh, .amc or .h5 files")
    suffix = path.suffix.lower()
    if suffix == ".bvh":
        return load_bvh(path, **mocap)
    if suffix == ".amc":
        return load_amc(path, asf=asf, **mocap)
    if suffix == ".asf":
        raise InputError(f"{path}: an ASF file holds a skeleton, no motion; pass the .amc clip (with asf= if its "
                         "ASF is not beside it)")
    if suffix in (".h5", ".hdf5"):
        return load_h36m_h5(path, fps=fps, layout=layout)
    if suffix == ".npz":
        keys = npz_keys(path)
        if "joints_mm" in keys:
            return load_bandai(path, fps=fps, layout=layout)
        if "positions_3d" in keys:
            return load_h36m_3d(path, fps=fps, layout=layout)
        if "positions_2d" in keys:
            raise InputError(f"{path}: holds 2D keypoints (positions_2d), not 3D motion; "
                             "read it with energy3d.data.h36m.load_h36m_2d")
        raise InputError(f"{path}: unknown npz motion file: keys {keys}; expected 'joints_mm' "
                         "(Bandai) or 'positions_3d' (Human3.6M)")
    raise InputError(f"{path}: unknown motion source type {suffix or '(no extension)'!r}; "
                     "expected .npz, .h5, .bvh, .amc or a folder of .bvh/.amc/.h5 files")
