"""Human3.6M poses in the layouts common public baselines publish (the dataset itself is not shipped).

Supported files:

* **3D npz** (as published by VideoPose3D-style pipelines, e.g. ``data_3d_h36m.npz``): key
  ``positions_3d`` holds a pickled dict ``subject -> action -> (T, 32, 3)`` float array of world joint
  positions in metres, world frame +Z up, 50 fps. The array is stored as a pickled Python object, so
  reading it needs ``allow_pickle=True`` and **unpickling can run code: only load files you trust**.
* **2D npz** (e.g. ``data_2d_h36m_gt.npz``): key ``positions_2d`` holds a pickled dict
  ``subject -> action -> [per-camera (T, J, 2) arrays]`` in pixels, and optionally ``metadata``
  (a pickled dict with ``layout_name`` ``"h36m"`` or ``"coco"``, ``num_joints`` ...). Same warning.
* **Martinez-style h5** (Martinez et al. 2017 baseline): one file per (subject, action), e.g.
  ``S1/MyPoses/3D_positions/Walking 1.h5``, with a dataset ``3d_poses`` of shape ``(T, 96)``
  (32 joints x 3, millimetres, world +Z up). The original release's dataset ``3D_positions`` of shape
  ``(96, T)`` is read too (it is transposed). Needs the optional ``h5py`` (``pip install energy3d[h5]``).

Conversions:

* 32 -> 17 joints with the standard index list :data:`H36M_32_TO_17`
  ``[0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]`` (gives the ``h36m17`` order:
  Hip, RHip, RKnee, RFoot, LHip, LKnee, LFoot, Spine, Thorax, Neck/Nose, Head, LShoulder, LElbow,
  LWrist, RShoulder, RElbow, RWrist). Arrays that already have 17 joints are taken to be in that order.
* Z-up world to the package's Y-up world: the rotation by -90 degrees about the x axis,
  ``(x, y, z) -> (x, z, -y)`` (:data:`ZUP_TO_YUP`, a proper rotation, det = +1), so +Z becomes +Y.
  2D keypoints are left as they are (pixels).

Action names: the published keys carry a take number and sometimes a camera id, e.g. ``"Walking 1"``,
``"Directions.54138969"``, ``"Sitting 1.55011271"``. :func:`parse_action` strips a trailing
``.<digits>`` (camera id, kept as clip ``camera``) and then a trailing `` <digits>`` (take, kept as
clip ``take``, 0 if absent): ``action`` is the rest (``"Walking"``). The clip ``name`` is
``"<subject>/<original key>"`` and is unique; ``style`` is ``""``.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from energy3d.data.motion import Motion, concat_motions
from energy3d.errors import InputError
from energy3d.skeleton.layouts import H36M17, Skeleton, get_layout

H36M_32_TO_17 = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
ZUP_TO_YUP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
H36M_FPS = 50.0
# Camera order used by the published 2D files (VideoPose3D's Human3.6M camera list).
H36M_CAMERA_IDS = ("54138969", "55011271", "58860488", "60457274")

_ACTION = re.compile(r"^(.*?)(?:\s+(\d+))?(?:\.(\d+))?$")


def parse_action(key: str) -> tuple[str, int, str]:
    """Split a published action key into ``(action, take, camera_id)``.

    Example:
        >>> parse_action("Walking 1"), parse_action("Directions.54138969")
        (('Walking', 1, ''), ('Directions', 0, '54138969'))
    """
    m = _ACTION.match(str(key).strip())
    action, take, cam = m.group(1), m.group(2), m.group(3)
    if not action:  # a key made only of digits: keep it whole
        return str(key).strip(), 0, ""
    return action, int(take) if take else 0, cam or ""


def zup_to_yup(points: np.ndarray) -> np.ndarray:
    """Rotate ``(..., 3)`` points from a Z-up world to a Y-up one: ``(x, y, z) -> (x, z, -y)``."""
    p = np.asarray(points)
    return np.stack([p[..., 0], p[..., 2], -p[..., 1]], axis=-1)


def reduce_to_17(points: np.ndarray, *, what: str = "poses") -> np.ndarray:
    """Select the 17 ``h36m17`` joints from ``(..., 32, D)`` Human3.6M joints (17 joints pass through).

    Raises:
        InputError: the joint axis is neither 32 nor 17.
    """
    p = np.asarray(points)
    if p.ndim < 2 or p.shape[-2] not in (32, 17):
        raise InputError(f"{what}: expected (..., 32, D) or (..., 17, D) Human3.6M joints, got shape {p.shape}")
    return p[..., list(H36M_32_TO_17), :] if p.shape[-2] == 32 else p


def _load_pickled(path: Path, key: str):
    """``np.load(path, allow_pickle=True)[key]`` as a Python object, with clear errors."""
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        with np.load(path, allow_pickle=True) as z:
            if key not in z.files:
                raise InputError(f"{path}: no key {key!r} (keys: {', '.join(z.files)})")
            obj = z[key]
            meta = z["metadata"] if "metadata" in z.files else None
    except InputError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, pickle.UnpicklingError, AttributeError,
            ImportError, ModuleNotFoundError) as e:
        raise InputError(f"{path}: corrupt or unreadable npz ({type(e).__name__}: {e})") from None
    if isinstance(obj, np.ndarray) and obj.dtype == object and obj.shape == ():
        obj = obj.item()
    if isinstance(meta, np.ndarray) and meta.dtype == object and meta.shape == ():
        meta = meta.item()
    if not isinstance(obj, dict):
        raise InputError(f"{path}: {key} must be a dict subject -> action -> array, got {type(obj).__name__}")
    return obj, meta


def _pick(items: Iterable[str], wanted, what: str, path) -> list:
    items = list(items)
    if wanted is None:
        return items
    wanted = [wanted] if isinstance(wanted, str) else list(wanted)
    missing = [w for w in wanted if w not in items]
    if missing:
        raise InputError(f"{path}: no {what} {', '.join(missing)}; available: {', '.join(map(str, items))}")
    return [i for i in items if i in wanted]


def _clip(subject: str, key: str, **extra) -> dict:
    action, take, cam = parse_action(key)
    c = {"name": f"{subject}/{key}", "action": action, "style": "", "subject": str(subject), "take": take}
    if cam:
        c["camera_id"] = cam
    c.update(extra)
    return c


def _finish(parts: list, fps, layout, source) -> Motion:
    motion = concat_motions(parts)
    try:
        if fps is not None:
            motion = motion.subsample(fps)
        if layout is not None:
            motion = motion.to_layout(get_layout(layout))
    except InputError as e:
        raise InputError(f"{source}: {e}") from None
    return motion


def load_h36m_3d(path: str | Path, *, subjects=None, fps: float | None = None,
                 layout: str | Skeleton | None = "h36m17") -> Motion:
    """Read a Human3.6M 3D npz (key ``positions_3d``, see module docstring) as a :class:`Motion`.

    Security: the file is a pickled dict and is loaded with ``allow_pickle=True``; only load files
    you trust.

    Args:
        path: the npz.
        subjects: optional subject name(s) to keep (e.g. ``["S9", "S11"]``).
        fps: target frame rate (50 / k); ``None`` keeps 50 fps.
        layout: output layout (default ``h36m17``; ``None`` also gives ``h36m17``).

    Returns:
        :class:`Motion`, ``joints`` ``(N, 17, 3)`` float32 metres, Y-up (world rotated by
        :data:`ZUP_TO_YUP`), one clip per (subject, action) in file order.

    Raises:
        InputError: missing/corrupt file, wrong structure or array shapes, unknown subject.
    """
    p = Path(path)
    data, _ = _load_pickled(p, "positions_3d")
    parts = []
    for subject in _pick(data, subjects, "subject", p):
        actions = data[subject]
        if not isinstance(actions, dict):
            raise InputError(f"{p}: positions_3d[{subject!r}] must be a dict action -> (T, 32, 3) array")
        for key, arr in actions.items():
            a = np.asarray(arr, dtype=np.float64)
            if a.ndim != 3 or a.shape[-1] != 3:
                raise InputError(f"{p}: positions_3d[{subject!r}][{key!r}]: expected (T, 32, 3) metres, got {a.shape}")
            j = zup_to_yup(reduce_to_17(a, what=f"{p}: positions_3d[{subject!r}][{key!r}]")).astype(np.float32)
            parts.append(Motion(j, H36M17, np.zeros(len(j), np.int64), [_clip(subject, key)], H36M_FPS))
    if not parts:
        raise InputError(f"{p}: positions_3d holds no sequences")
    return _finish(parts, fps, layout, p)


def _import_h5py():
    try:
        import h5py  # noqa: PLC0415 (optional dependency)
    except ImportError:
        raise InputError("reading Human3.6M .h5 files needs h5py: install energy3d[h5] (pip install 'energy3d[h5]')") from None
    return h5py


_SUBJECT = re.compile(r"^S\d+$")


def read_h36m_h5(path: str | Path) -> np.ndarray:
    """Read one Martinez-style h5 file: ``(T, 32, 3)`` float64 millimetres, world +Z up (as stored).

    Raises:
        InputError: h5py missing, unreadable file, or no ``3d_poses`` (T, 96) / ``3D_positions`` (96, T).
    """
    h5py = _import_h5py()
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: file not found")
    try:
        with h5py.File(p, "r") as f:
            if "3d_poses" in f:
                a = np.asarray(f["3d_poses"][()], dtype=np.float64)
                if a.ndim != 2 or a.shape[1] != 96:
                    raise InputError(f"{p}: dataset 3d_poses: expected shape (T, 96) (32 joints x 3, mm), got {a.shape}")
            elif "3D_positions" in f:
                a = np.asarray(f["3D_positions"][()], dtype=np.float64)
                if a.ndim != 2 or a.shape[0] != 96:
                    raise InputError(f"{p}: dataset 3D_positions: expected shape (96, T) (32 joints x 3, mm), got {a.shape}")
                a = a.T
            else:
                raise InputError(f"{p}: no dataset '3d_poses' (T, 96) in this h5 file (has: {', '.join(f.keys())})")
    except InputError:
        raise
    except (OSError, ValueError, KeyError) as e:
        raise InputError(f"{p}: corrupt or unreadable h5 file ({type(e).__name__}: {e})") from None
    return a.reshape(a.shape[0], 32, 3)


def load_h36m_h5(source: str | Path, *, subjects=None, fps: float | None = None,
                 layout: str | Skeleton | None = "h36m17") -> Motion:
    """Read one Martinez-style h5 file or a folder of them (recursive) as a :class:`Motion`.

    The subject is the nearest enclosing folder named like ``S<digits>`` (``""`` if none) and the
    action key is the file name without ``.h5`` (parsed by :func:`parse_action`). In a folder, h5 files
    without a pose dataset (e.g. ``cameras.h5``) are skipped.

    Args:
        source: ``.h5`` file or folder.
        subjects: optional subject name(s) to keep.
        fps: target frame rate (50 / k).
        layout: output layout (default ``h36m17``).

    Returns:
        :class:`Motion` ``(N, 17, 3)`` float32 metres, Y-up (millimetres / 1000, rotated by
        :data:`ZUP_TO_YUP`), 50 fps, one clip per file (sorted by path).

    Raises:
        InputError: h5py missing (install ``energy3d[h5]``), no readable pose file, bad shapes.
    """
    _import_h5py()
    src = Path(source)
    if src.is_dir():
        files = sorted(src.rglob("*.h5"))
    elif src.is_file():
        files = [src]
    else:
        raise InputError(f"{src}: h5 file or folder not found")
    parts = []
    for f in files:
        subject = next((q for q in reversed(f.resolve().parent.parts) if _SUBJECT.match(q)), "")
        if subjects is not None and subject not in ([subjects] if isinstance(subjects, str) else list(subjects)):
            continue
        try:
            a = read_h36m_h5(f)
        except InputError as e:
            if src.is_dir() and "no dataset" in str(e):
                continue
            raise
        j = zup_to_yup(reduce_to_17(a) / 1000.0).astype(np.float32)
        parts.append(Motion(j, H36M17, np.zeros(len(j), np.int64), [_clip(subject, f.stem)], H36M_FPS))
    if not parts:
        raise InputError(f"{src}: no Human3.6M pose h5 files (dataset '3d_poses') found"
                         + (f" for subjects {subjects}" if subjects is not None else ""))
    return _finish(parts, fps, layout, src)


@dataclass
class Keypoints2D:
    """2D keypoints of many clips (one clip per subject, action and camera).

    Attributes:
        keypoints: ``(N, J, 2)`` float32 pixel coordinates (x right, y down).
        layout: joint layout (``h36m17`` or ``coco17`` for the published files).
        clip_index: ``(N,)`` int, non-decreasing index into :attr:`clips`.
        clips: dicts with ``name``, ``action``, ``style``, ``subject``, ``take``, ``camera`` (index in
            the file's per-action list) and ``camera_id`` (Human3.6M camera serial, when known).
        fps: frame rate (50 for Human3.6M).
        metadata: the file's ``metadata`` dict, if any.
    """

    keypoints: np.ndarray
    layout: Skeleton
    clip_index: np.ndarray
    clips: list
    fps: float = H36M_FPS
    metadata: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])


def load_h36m_2d(path: str | Path, *, subjects=None, layout: str | Skeleton | None = None) -> Keypoints2D:
    """Read a Human3.6M 2D npz (key ``positions_2d``, see module docstring).

    Security: the file is a pickled dict (``allow_pickle=True``); only load files you trust.

    Args:
        path: the npz.
        subjects: optional subject name(s) to keep.
        layout: the file's joint layout; ``None`` uses ``metadata['layout_name']`` (``"h36m"`` ->
            ``h36m17``, ``"coco"`` -> ``coco17``), else ``h36m17``. 32-joint arrays are reduced to 17.

    Returns:
        :class:`Keypoints2D` with one clip per (subject, action, camera); pixels, unchanged.

    Raises:
        InputError: missing/corrupt file, wrong structure, shapes that do not fit the layout.
    """
    p = Path(path)
    data, meta = _load_pickled(p, "positions_2d")
    meta = meta if isinstance(meta, dict) else {}
    if layout is None:
        name = str(meta.get("layout_name", "h36m")).lower()
        layout = {"h36m": "h36m17", "coco": "coco17"}.get(name)
        if layout is None:
            raise InputError(f"{p}: metadata layout_name {name!r} is not known (h36m, coco); pass layout=")
    skel = get_layout(layout)
    arrays, clips = [], []
    for subject in _pick(data, subjects, "subject", p):
        actions = data[subject]
        if not isinstance(actions, dict):
            raise InputError(f"{p}: positions_2d[{subject!r}] must be a dict action -> list of per-camera arrays")
        for key, cams in actions.items():
            if isinstance(cams, np.ndarray) and cams.dtype != object:
                cams = list(cams) if cams.ndim == 4 else [cams]
            for ci, arr in enumerate(cams):
                a = np.asarray(arr, dtype=np.float32)
                where = f"{p}: positions_2d[{subject!r}][{key!r}][{ci}]"
                if a.ndim != 3 or a.shape[-1] != 2:
                    raise InputError(f"{where}: expected (T, J, 2) pixels, got {a.shape}")
                if a.shape[1] == 32 and skel.num_joints == 17 and skel.name == "h36m17":
                    a = reduce_to_17(a, what=where)
                skel.check(a, where, dims=(2,))
                extra = {"camera": ci}
                if len(cams) == len(H36M_CAMERA_IDS):
                    extra["camera_id"] = H36M_CAMERA_IDS[ci]
                c = _clip(subject, key, **extra)
                c["name"] = f"{subject}/{key}/cam{ci}"
                arrays.append(a)
                clips.append(c)
    if not arrays:
        raise InputError(f"{p}: positions_2d holds no sequences")
    counts = [len(a) for a in arrays]
    return Keypoints2D(
        keypoints=np.concatenate(arrays, axis=0),
        layout=skel,
        clip_index=np.repeat(np.arange(len(arrays), dtype=np.int64), counts),
        clips=clips,
        fps=H36M_FPS,
        metadata=meta,
    )
