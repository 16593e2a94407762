"""Bandai Namco Research motion datasets 1 and 2, as the shared joints npz.

File ``motion_bandai/bandai_joints21_30fps_mm.npz`` (under :func:`energy3d.paths.data_root`), made
from the publisher's BVH files by forward kinematics (see the data folder's README):

* ``joints_mm`` int16 ``(N, 21, 3)``: world joint positions in millimetres, +Y up (BVH convention);
* ``joint_names`` ``(21,)``: the ``bandai21`` layout order (``Head`` is the skull base);
* ``clip_start`` int ``(C + 1,)``: clip ``c`` is frames ``clip_start[c]:clip_start[c + 1]``;
* per clip ``(C,)``: ``clip_name``, ``dataset`` (``dataset-1``/``dataset-2``), ``content`` (the action),
  ``style``, ``take``; and scalar ``fps`` (30).

Clip metadata in a :class:`~energy3d.data.motion.Motion`: ``name`` = clip_name, ``action`` = content,
``style`` = style, ``subject`` = dataset, ``take`` = take (int). (The three actors are not labelled
per clip, so the dataset stands in for the subject.)

Fixed splits, by clip style (:data:`SPLIT_STYLES`): ``test`` = every clip of the styles ``elderly`` and
``masculine`` (dataset-2) and ``giant`` and ``tired`` (dataset-1); ``val`` = style ``youthful``
(dataset-2); ``train`` = all other clips. Style names are matched exactly (dataset-1's
``masculinity`` is a different style and stays in train). Every style lies wholly in one split, so
test and validation measure generalisation to unseen styles.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np

from energy3d.data.motion import Motion
from energy3d.errors import InputError
from energy3d.paths import data_root
from energy3d.skeleton.layouts import BANDAI21, Skeleton, get_layout

DEFAULT_RELPATH = Path("motion_bandai") / "bandai_joints21_30fps_mm.npz"
SPLIT_STYLES = {
    "test": frozenset({"elderly", "masculine", "giant", "tired"}),
    "val": frozenset({"youthful"}),
}
SPLITS = ("train", "val", "test")
_SPLIT_ALIASES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
_REQUIRED = ("joints_mm", "joint_names", "clip_start", "clip_name", "dataset", "content", "style", "take", "fps")


def default_path() -> Path:
    """``data_root()/motion_bandai/bandai_joints21_30fps_mm.npz`` (InputError if no data folder)."""
    return data_root() / DEFAULT_RELPATH


def split_of_style(style: str) -> str:
    """The split (``train``/``val``/``test``) that holds every clip of ``style``."""
    for split, styles in SPLIT_STYLES.items():
        if style in styles:
            return split
    return "train"


def _split_name(split: str) -> str:
    try:
        return _SPLIT_ALIASES[str(split).lower()]
    except KeyError:
        raise InputError(f"unknown Bandai split {split!r}; expected one of train, val, test") from None


def bandai_split(motion_or_meta: Motion | Sequence[dict] | Sequence[str], split: str):
    """Select one fixed split (see module docstring).

    Args:
        motion_or_meta: a :class:`Motion` of Bandai clips, or per-clip metadata (a list of clip
            dicts with a ``style`` key, or a sequence of style strings).
        split: ``"train"``, ``"val"`` (also ``"validation"``) or ``"test"``.

    Returns:
        For a Motion, the Motion restricted to the split's clips; otherwise a ``(C,)`` bool mask.

    Raises:
        InputError: unknown split name, or metadata without styles.
    """
    split = _split_name(split)
    is_motion = isinstance(motion_or_meta, Motion)
    meta = motion_or_meta.clips if is_motion else list(motion_or_meta)
    styles = []
    for c in meta:
        if isinstance(c, dict):
            if "style" not in c:
                raise InputError("bandai_split: clip metadata has no 'style' key")
            styles.append(str(c["style"]))
        else:
            styles.append(str(c))
    mask = np.array([split_of_style(s) == split for s in styles], dtype=bool)
    return motion_or_meta.select_clips(mask) if is_motion else mask


def _read(path: Path):
    if not path.is_file():
        raise InputError(f"{path}: Bandai npz not found (set ENERGY3D_DATA or pass the path; see README 'Data')")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in _REQUIRED if k not in z.files]
            if missing:
                raise InputError(f"{path}: not a Bandai joints npz: missing key(s) {', '.join(missing)}")
            d = {k: z[k] for k in _REQUIRED}
    except InputError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as e:
        raise InputError(f"{path}: corrupt or unreadable Bandai npz ({type(e).__name__}: {e})") from None
    j = d["joints_mm"]
    if j.ndim != 3 or j.shape[1:] != (21, 3):
        raise InputError(f"{path}: joints_mm: expected shape (N, 21, 3), got {j.shape}")
    if list(d["joint_names"]) != list(BANDAI21.joints):
        raise InputError(f"{path}: joint_names {list(d['joint_names'])} differ from the bandai21 layout {list(BANDAI21.joints)}")
    starts = np.asarray(d["clip_start"], dtype=np.int64)
    c = len(d["clip_name"])
    if starts.shape != (c + 1,) or starts[0] != 0 or starts[-1] != j.shape[0] or np.any(np.diff(starts) < 0):
        raise InputError(f"{path}: clip_start must be {c + 1} non-decreasing offsets from 0 to {j.shape[0]}, "
                         f"got shape {starts.shape}")
    for k in ("dataset", "content", "style", "take"):
        if len(d[k]) != c:
            raise InputError(f"{path}: {k} has {len(d[k])} entries, expected one per clip ({c})")
    d["clip_start"] = starts
    return d


def load_bandai(path: str | Path | None = None, split: str | None = None, fps: float | None = None,
                layout: str | Skeleton | None = "h36m17") -> Motion:
    """Load the Bandai joints npz as a :class:`Motion` (metres, +Y up).

    Args:
        path: the npz; default :func:`default_path`.
        split: ``None`` (all clips) or ``"train"``/``"val"``/``"test"`` (see module docstring).
        fps: target frame rate (30 / k: every k-th frame of each clip kept); ``None`` keeps 30.
        layout: output layout, default ``h36m17`` (derived joints, e.g. the head top, follow
            :mod:`energy3d.skeleton.layouts`); ``"bandai21"`` or ``None`` keeps the 21 rig joints.

    Returns:
        :class:`Motion` with ``joints`` ``(N, J, 3)`` float32 metres.

    Raises:
        InputError: missing or corrupt file, unknown split, or an impossible frame rate.

    Example:
        >>> test = load_bandai(split="test", fps=10)  # doctest: +SKIP
    """
    p = Path(path) if path is not None else default_path()
    d = _read(p)
    starts = d["clip_start"]
    counts = np.diff(starts)
    clips = [
        {"name": str(n), "action": str(a), "style": str(s), "subject": str(ds), "take": int(t)}
        for n, a, s, ds, t in zip(d["clip_name"], d["content"], d["style"], d["dataset"], d["take"])
    ]
    clip_index = np.repeat(np.arange(len(clips), dtype=np.int64), counts)
    if split is not None:
        keep_clip = bandai_split(clips, split)
        keep = keep_clip[clip_index]
        joints_mm = d["joints_mm"][keep]
        clip_index = (np.cumsum(keep_clip) - 1)[clip_index[keep]]
        clips = [c for c, k in zip(clips, keep_clip) if k]
    else:
        joints_mm = d["joints_mm"]
    joints = joints_mm.astype(np.float32)
    joints /= np.float32(1000.0)
    motion = Motion(joints, BANDAI21, clip_index, clips, float(d["fps"]))
    if fps is not None:
        motion = motion.subsample(fps)
    if layout is not None:
        try:
            motion = motion.to_layout(get_layout(layout))
        except InputError as e:
            raise InputError(f"{p}: {e}") from None
    return motion
