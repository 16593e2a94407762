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

Evaluation pairs (published 2D keypoint files with the 3D ground truth)
------------------------------------------------------------------------

``energy3d evaluate CKPT --motion data_3d_h36m.npz --two-d-file data_2d_h36m_gt.npz [--cameras cams.json]``
pairs the 3D ground truth with the 2D keypoints of a public 2D file (ground-truth projections or a
detector's output, see :mod:`energy3d.data.h36m` for both layouts) instead of posing the motion in
front of virtual cameras.

Pairing. Every per-camera 2D sequence ``positions_2d[subject][key][i]`` is matched with
``positions_3d[subject][key]`` (same subject and action key, e.g. ``"Walking 1"``). Both are 50 fps;
when their frame counts differ by at most :data:`MAX_FRAME_MISMATCH` frames (the public files
sometimes do, by a frame or two) both are cut to the shorter and the pair is listed in ``truncated``;
a larger difference is an error. Frames ``0, k, 2k, ...`` with ``k = 50 / fps`` are kept from both.
Results are grouped by the action name without take number (:func:`energy3d.data.h36m.parse_action`:
``"Walking 1"`` and ``"Walking"`` are both ``Walking``) and averaged over actions, as
:func:`energy3d.tasks.lift.evaluate_lifter` does. The command evaluates the usual test subjects S9 and
S11 (those the 2D file has; every subject of the 2D file if it has neither) and records them.

Model inputs are normalised camera coordinates ``(p - c) / f`` of the 2D keypoints (pixels; lens
distortion is ignored, the 2D files are used as they are), converted to the checkpoint's input
layout with :func:`energy3d.skeleton.convert` when the file's layout differs (e.g. ``coco17``).

Camera JSON (``--cameras``)::

    {"S9": {"0": {"f": [1145.0, 1144.0], "c": [512.5, 515.5],
                  "R": [[...], [...], [...]], "t": [1.84, 4.96, 1.56], "image_size": [1000, 1002]},
            "1": {...}, ...},
     "S11": [{...}, {...}, ...]}

* Subjects map to cameras, either a dict keyed by the camera's index in the 2D file's per-action
  list (``"0"`` ...) or by its Human3.6M serial (``"54138969"``, see
  :data:`energy3d.data.h36m.H36M_CAMERA_IDS`), or a list in index order.
* ``f``: ``[fx, fy]`` pixels, or ``focal``: one number (both must be positive). ``c``: ``[cx, cy]``
  pixels; may be left out when ``image_size`` ``[W, H]`` is given (then the image centre).
* ``R`` (3x3, a rotation, **world -> camera**) and ``t`` (3 numbers, metres, **the camera centre in
  the world**) are optional, together: ``X_cam = R (X_world - t)``. The world is the 3D file's frame
  as stored (Human3.6M: +Z up, metres). This is the convention of the original Human3.6M camera
  parameters (``R`` world -> camera, ``T`` the centre, there in millimetres: divide by 1000); the
  VideoPose3D list gives the camera -> world rotation as a quaternion ``orientation`` (use its
  matrix transposed as ``R``) and the centre in millimetres as ``translation``. Note it differs from
  :class:`energy3d.geometry.camera.Camera`, whose ``t`` is ``-R @ centre``.

Metrics. With ``R`` and ``t`` for every camera the ground truth is moved into each camera frame and
MPJPE, P1a and PA-MPJPE are reported exactly as :func:`energy3d.tasks.lift.evaluate_lifter` reports
them (MPJPE after the adult-size scale prior). Without them the ground truth stays in the world
frame: P1a and MPJPE need the camera frame and are not reported (``null`` in the JSON, ``nan`` in
the table, with a warning); PA-MPJPE is rotation-invariant and is reported. Without ``--cameras`` the
intrinsics are those of ``energy3d lift`` for a 1000 x 1000 image
(:func:`energy3d.geometry.camera.default_intrinsics`: principal point at the centre, focal
``1.2 * 1000`` px), which is recorded in the result; the true Human3.6M focal lengths are about
1145 px, so PA-MPJPE is then an approximation too.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from energy3d.config import load_json
from energy3d.data.motion import Motion, concat_motions, fps_step
from energy3d.errors import InputError
from energy3d.geometry.camera import default_intrinsics, to_normalized
from energy3d.skeleton.layouts import H36M17, Skeleton, convert, get_layout

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


# ----------------------------------------------------------------------------- evaluation pairs

MAX_FRAME_MISMATCH = 5
"""Largest 2D / 3D frame-count difference (50 fps frames) that is truncated rather than an error."""
H36M_TEST_SUBJECTS = ("S9", "S11")
"""The subjects of the usual Human3.6M test protocol."""
MAX_REPROJECTION_PX = 100.0
"""With extrinsics, a median distance above this between the 2D file and the projected 3D ground truth
is an error (wrong cameras or ``t`` convention); ground-truth 2D files give a few pixels, detectors tens."""
DEFAULT_IMAGE_SIZE = (1000, 1000)
"""Image size assumed without ``--cameras`` (Human3.6M frames are 1000 x 1000 or 1000 x 1002 px)."""
NOT_REPORTED_WARNING = ("no camera extrinsics (--cameras with R and t): P1a and MPJPE need the ground truth in the "
                        "camera frame and are not reported; PA-MPJPE is rotation-invariant and is reported")
_CAMERA_KEYS = {"f", "focal", "c", "R", "t", "image_size"}


@dataclass(frozen=True)
class H36MCamera:
    """One Human3.6M camera from a cameras JSON (see module docstring).

    Attributes:
        K: ``(3, 3)`` intrinsics, pixels.
        R: ``(3, 3)`` world -> camera rotation, or ``None``.
        t: ``(3,)`` camera centre in the world, metres, or ``None``: ``X_cam = R (X_world - t)``.
        image_size: ``(W, H)`` pixels, or ``None``.
    """

    K: np.ndarray
    R: np.ndarray | None = None
    t: np.ndarray | None = None
    image_size: tuple[float, float] | None = None

    def to_camera(self, X: np.ndarray) -> np.ndarray:
        """World points ``(..., 3)`` (metres) -> camera frame ``(..., 3)``: ``R (X - t)``."""
        return (np.asarray(X, dtype=np.float64) - self.t) @ self.R.T


def _numbers(v, n: int, what: str) -> np.ndarray:
    try:
        a = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{what}: expected {n} numbers, got {v!r}") from None
    if a.shape != (n,) or not np.isfinite(a).all():
        raise InputError(f"{what}: expected {n} finite numbers, got {v!r}")
    return a


def parse_camera(d, where: str) -> H36MCamera:
    """One camera entry of a cameras JSON (see module docstring) -> :class:`H36MCamera`.

    Raises:
        InputError: not a dict, unknown keys, missing or non-positive focal, no principal point,
            ``R`` not a 3x3 rotation, ``R`` without ``t`` (or the reverse).
    """
    if not isinstance(d, dict):
        raise InputError(f"{where}: expected an object with f (or focal), c, and optionally R, t, image_size; got {d!r}")
    unknown = sorted(set(d) - _CAMERA_KEYS)
    if unknown:
        raise InputError(f"{where}: unknown keys {', '.join(unknown)} (valid keys: {', '.join(sorted(_CAMERA_KEYS))})")
    if "f" in d:
        f = d["f"]
        f = _numbers([f, f] if isinstance(f, (int, float)) else f, 2, f"{where}: f")
    elif "focal" in d:
        f = _numbers([d["focal"]] * 2, 2, f"{where}: focal")
    else:
        raise InputError(f"{where}: no focal length (f: [fx, fy] or focal: number, pixels)")
    if not (f > 0).all():
        raise InputError(f"{where}: focal length must be positive, got {f.tolist()}")
    size = None
    if "image_size" in d:
        size = _numbers(d["image_size"], 2, f"{where}: image_size")
        if not (size > 0).all():
            raise InputError(f"{where}: image_size must be positive, got {size.tolist()}")
        size = (float(size[0]), float(size[1]))
    if "c" in d:
        c = _numbers(d["c"], 2, f"{where}: c")
    elif size is not None:
        c = np.array(size) / 2.0
    else:
        raise InputError(f"{where}: no principal point (c: [cx, cy] pixels, or image_size: [W, H] for the centre)")
    K = np.array([[f[0], 0.0, c[0]], [0.0, f[1], c[1]], [0.0, 0.0, 1.0]])
    if ("R" in d) != ("t" in d):
        raise InputError(f"{where}: R and t go together (X_cam = R (X_world - t)); got only {'R' if 'R' in d else 't'}")
    R = t = None
    if "R" in d:
        try:
            R = np.asarray(d["R"], dtype=np.float64)
        except (TypeError, ValueError):
            R = np.zeros(0)
        if R.shape != (3, 3) or not np.isfinite(R).all():
            raise InputError(f"{where}: R: expected a 3x3 list of finite numbers (world -> camera), got {d['R']!r}")
        if not (np.allclose(R @ R.T, np.eye(3), atol=1e-4) and np.linalg.det(R) > 0):
            raise InputError(f"{where}: R must be a 3x3 rotation matrix (world -> camera), got {R.tolist()}")
        t = _numbers(d["t"], 3, f"{where}: t (camera centre, metres)")
    return H36MCamera(K=K, R=R, t=t, image_size=size)


def read_h36m_cameras(source) -> dict[str, dict[str, H36MCamera]]:
    """Read a cameras JSON (path, or the already parsed dict; format in the module docstring).

    Returns:
        ``subject -> camera key -> H36MCamera``; keys are the camera index as a string (``"0"``) or
        the Human3.6M serial, as written in the file (lists are keyed ``"0"``, ``"1"``, ...).

    Raises:
        InputError: missing file, invalid JSON, wrong structure, any bad camera entry.
    """
    where = str(source) if not isinstance(source, dict) else "cameras"
    d = load_json(source) if not isinstance(source, dict) else source
    if not isinstance(d, dict) or not d:
        raise InputError(f"{where}: expected an object subject -> cameras (e.g. {{\"S9\": {{\"0\": {{...}}}}}})")
    out = {}
    for subject, cams in d.items():
        if isinstance(cams, list):
            cams = {str(i): c for i, c in enumerate(cams)}
        if not isinstance(cams, dict):
            raise InputError(f"{where}: {subject}: expected cameras as an object (index or serial -> camera) or a list")
        out[str(subject)] = {str(k): parse_camera(c, f"{where}: {subject} camera {k}") for k, c in cams.items()}
    return out


@dataclass
class H36MEvalSet:
    """Paired Human3.6M 2D inputs and 3D ground truth, one row per (frame, camera).

    Attributes:
        points_2d: ``(N, J, 2)`` float32 pixels from the 2D file, in :attr:`input_layout`.
        K: ``(N, 3, 3)`` float32 intrinsics of each row's camera.
        joints: ``(N, 17, 3)`` float32 metres, ``h36m17``: camera frame (x right, y down, z forward)
            when :attr:`frame` is ``"camera"``, else the 3D file's world frame (+Z up).
        frame: ``"camera"`` or ``"world"``.
        action: ``(N,)`` action names without take number.
        clip: ``(N,)`` ``"<subject>/<key>/cam<i>"`` of each row.
        input_layout: layout of :attr:`points_2d` (the checkpoint's input layout).
        fps: frame rate after subsampling.
        subjects: the subjects used.
        intrinsics: where the intrinsics came from (for the record).
        truncated: the pairs whose 2D and 3D frame counts differed (within the tolerance).
        reprojection_px: with extrinsics: median distance (pixels) between the 2D file's keypoints
            and the projected 3D ground truth over the joints both layouts name (a few pixels for
            ground-truth 2D files); ``None`` without extrinsics.
    """

    points_2d: np.ndarray
    K: np.ndarray
    joints: np.ndarray
    frame: str
    action: np.ndarray
    clip: np.ndarray
    input_layout: str = "h36m17"
    fps: float = 50.0
    subjects: list = field(default_factory=list)
    intrinsics: str = ""
    truncated: list = field(default_factory=list)
    reprojection_px: float | None = None

    def __len__(self) -> int:
        return len(self.points_2d)

    def normalized(self) -> torch.Tensor:
        """The model inputs ``(p - c) / f``: ``(N, J, 2)`` float32 tensor."""
        return to_normalized(torch.as_tensor(self.points_2d), torch.as_tensor(self.K))


def default_subjects(available: Sequence[str]) -> list[str]:
    """The test subjects S9 and S11 that ``available`` has, or all of ``available`` if it has neither."""
    test = [s for s in H36M_TEST_SUBJECTS if s in available]
    return test or list(available)


def camera_for(cams, subject: str, index: int, serial: str | None, where: str) -> H36MCamera:
    """The camera of ``subject`` for the 2D file's camera ``index`` (or Human3.6M ``serial``) from a cameras dict."""
    per = cams.get(subject)
    if per is None:
        raise InputError(f"{where}: no cameras for subject {subject} (has: {', '.join(cams) or 'none'}); "
                         f"the 2D file needs {subject} camera {index}")
    for key in (str(index), serial):
        if key is not None and key in per:
            return per[key]
    name = f"{index}" + (f" (serial {serial})" if serial else "")
    raise InputError(f"{where}: subject {subject} has no camera {name}, which the 2D file needs "
                     f"(cameras given: {', '.join(per) or 'none'})")


def load_h36m_eval(motion_3d: str | Path, two_d: str | Path, *, cameras=None, fps: float = 50.0,
                   subjects: Sequence[str] | str | None = None, input_layout: str = "h36m17",
                   max_frame_mismatch: int = MAX_FRAME_MISMATCH) -> H36MEvalSet:
    """Pair a Human3.6M 3D npz with a published 2D npz for evaluation (see module docstring).

    Security: both files are pickled dicts read with ``allow_pickle=True``; only load files you trust.

    Args:
        motion_3d: npz with ``positions_3d`` (:func:`energy3d.data.h36m.load_h36m_3d`).
        two_d: npz with ``positions_2d`` (:func:`energy3d.data.h36m.load_h36m_2d`), ``(T, 17|32, 2)``
            pixels per camera.
        cameras: cameras JSON path or parsed dict, or ``None`` for the default intrinsics of
            ``energy3d lift`` on a 1000 x 1000 image and no extrinsics.
        fps: frame rate to keep, ``50 / k`` for an integer ``k``.
        subjects: subjects to use; ``None``: every subject of the 2D file; ``"test"``: those of
            :data:`H36M_TEST_SUBJECTS` (S9, S11) the 2D file has, or every subject if it has neither.
        input_layout: the checkpoint's 2D input layout.
        max_frame_mismatch: tolerated 2D / 3D frame-count difference (50 fps frames).

    Returns:
        :class:`H36MEvalSet`; ``frame`` is ``"camera"`` only if every camera used has ``R`` and ``t``.

    Raises:
        InputError: missing ``positions_2d`` / ``positions_3d``, a subject or action of the 2D file
            missing from the 3D file, frame counts that differ by more than ``max_frame_mismatch``,
            a 2D array without 17 (or 32) joints, NaN keypoints or ground truth, a subject or camera
            missing from the cameras JSON, a non-positive focal, a bad ``fps``, ground truth behind
            a camera or projecting more than :data:`MAX_REPROJECTION_PX` from the 2D keypoints
            (wrong cameras, or the wrong ``t`` convention).
    """
    step = fps_step(H36M_FPS, float(fps), "--fps")
    kp = load_h36m_2d(two_d)
    file_subjects = list(dict.fromkeys(c["subject"] for c in kp.clips))
    if subjects is None:
        subjects = file_subjects
    elif isinstance(subjects, str) and subjects == "test":
        subjects = default_subjects(file_subjects)
    subjects = [str(s) for s in ([subjects] if isinstance(subjects, str) else subjects)]
    missing = [s for s in subjects if s not in file_subjects]
    if missing:
        raise InputError(f"{two_d}: no subject {', '.join(missing)} in positions_2d (has: {', '.join(file_subjects)})")
    try:
        motion = load_h36m_3d(motion_3d, subjects=subjects)
    except InputError as e:
        raise InputError(f"3D ground truth for the 2D file's subjects {', '.join(subjects)}: {e}") from None
    names3d = {c["name"]: i for i, c in enumerate(motion.clips)}
    cams = read_h36m_cameras(cameras) if cameras is not None else None
    cam_where = str(cameras) if cameras is not None and not isinstance(cameras, dict) else "cameras"
    if cams is None:
        K_default = default_intrinsics(*DEFAULT_IMAGE_SIZE).double().numpy()
        intr = (f"default (no --cameras): energy3d lift's intrinsics for a {DEFAULT_IMAGE_SIZE[0]}x{DEFAULT_IMAGE_SIZE[1]} "
                f"image, focal {K_default[0, 0]:g} px, principal point ({K_default[0, 2]:g}, {K_default[1, 2]:g})")
    else:
        intr = f"from {cam_where}"

    starts = np.concatenate([[0], np.cumsum(np.bincount(kp.clip_index, minlength=len(kp.clips)))])
    rows = []  # (points (n, J, 2), K (3, 3), world joints (n, 17, 3), camera, action, clip name)
    truncated = []
    for i, clip in enumerate(kp.clips):
        subject = clip["subject"]
        if subject not in subjects:
            continue
        name2d = clip["name"]
        name3d = name2d.rsplit("/cam", 1)[0]
        key = name3d[len(subject) + 1:]
        p2 = kp.keypoints[starts[i]:starts[i + 1]]
        if not np.isfinite(p2).all():
            bad = np.flatnonzero(~np.isfinite(p2).all(axis=(1, 2)))
            raise InputError(f"{two_d}: positions_2d[{subject!r}][{key!r}][{clip['camera']}]: NaN or infinite keypoints "
                             f"in {len(bad)} of {len(p2)} frames (first: frame {bad[0]})")
        if name3d not in names3d:
            have = [c["name"][len(subject) + 1:] for c in motion.clips if c["subject"] == subject]
            raise InputError(f"{two_d}: positions_2d[{subject!r}][{key!r}] has no 3D ground truth in {motion_3d} "
                             f"({subject} there has: {', '.join(have) or 'nothing'})")
        X = motion.clip(names3d[name3d]) @ ZUP_TO_YUP  # back to the file's +Z-up world (the inverse rotation)
        if not np.isfinite(X).all():
            raise InputError(f"{motion_3d}: positions_3d[{subject!r}][{key!r}]: NaN or infinite ground truth")
        T2, T3 = len(p2), len(X)
        if T2 != T3:
            if abs(T2 - T3) > max_frame_mismatch:
                raise InputError(f"{two_d}: positions_2d[{subject!r}][{key!r}][{clip['camera']}] has {T2} frames, the 3D "
                                 f"ground truth in {motion_3d} has {T3}: more than {max_frame_mismatch} apart, so they "
                                 f"cannot be paired")
            truncated.append({"clip": name2d, "frames_2d": T2, "frames_3d": T3, "kept": min(T2, T3)})
        T = min(T2, T3)
        keep = np.arange(0, T, step)
        cam = None
        if cams is not None:
            cam = camera_for(cams, subject, clip["camera"], clip.get("camera_id"), cam_where)
            K = cam.K
        else:
            K = K_default
        action = clip["action"]
        rows.append((p2[keep], K, X[keep], cam, action, name2d))
    if not rows:
        raise InputError(f"{two_d}: no 2D sequences for subjects {', '.join(subjects)}")

    camera_frame = cams is not None and all(r[3].R is not None for r in rows)
    h36m = get_layout("h36m17")
    common = [(h36m.canonical.index(c), j) for j, c in enumerate(kp.layout.canonical) if c in h36m.canonical]
    joints, reproj = [], []
    for p2, K, X, cam, _, name in rows:
        if camera_frame:
            Xc = cam.to_camera(X)
            behind = Xc[:, 0, 2] <= 0
            if behind.any():
                raise InputError(f"{cam_where}: {name}: the ground-truth pelvis is behind the camera in {int(behind.sum())} "
                                 f"of {len(Xc)} frames; check R (world -> camera) and t (the camera centre in the 3D "
                                 f"file's world, metres: X_cam = R (X_world - t))")
            joints.append(Xc)
            if common:
                a, b = map(list, zip(*common))
                proj = Xc[:, a, :2] / Xc[:, a, 2:] * np.diag(K)[:2] + K[:2, 2]
                reproj.append(np.linalg.norm(proj - p2[:, b], axis=-1).ravel())
        else:
            joints.append(X)
    reprojection = float(np.median(np.concatenate(reproj))) if reproj else None
    if reprojection is not None and reprojection > MAX_REPROJECTION_PX:
        raise InputError(f"{cam_where}: the 3D ground truth projected through these cameras lands {reprojection:.0f} px "
                         f"(median) from the 2D file's keypoints (more than {MAX_REPROJECTION_PX:g} px): check R "
                         "(world -> camera), t (the camera centre in metres: X_cam = R (X_world - t)), f and c, and "
                         "that the files and cameras belong together")
    points = np.concatenate([r[0] for r in rows])
    if kp.layout.name != get_layout(input_layout).name:
        points = convert(points, kp.layout, input_layout)
    n = [len(r[0]) for r in rows]
    return H36MEvalSet(
        points_2d=points.astype(np.float32),
        K=np.concatenate([np.repeat(r[1][None], k, axis=0) for r, k in zip(rows, n)]).astype(np.float32),
        joints=np.concatenate(joints).astype(np.float32),
        frame="camera" if camera_frame else "world",
        action=np.concatenate([np.full(k, r[4], dtype=object) for r, k in zip(rows, n)]).astype(str),
        clip=np.concatenate([np.full(k, r[5], dtype=object) for r, k in zip(rows, n)]).astype(str),
        input_layout=get_layout(input_layout).name,
        fps=H36M_FPS / step,
        subjects=subjects,
        intrinsics=intr,
        truncated=truncated,
        reprojection_px=reprojection,
    )
