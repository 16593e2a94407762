"""Writing 3D joint motion (e.g. lifted poses) as a BVH file that Blender and other tools can import.

:func:`write_bvh` turns ``(T, J, 3)`` world joint positions of a layout such as ``h36m17`` into one
BVH skeleton with constant bone lengths and per-frame joint rotations, so that forward kinematics
of the file gives back the input motion (exactly, up to the bone-length change). The steps, all
documented here because the format leaves them open:

**Frame and units.** Input positions are metres in a Y-up world (BVH worlds are Y-up, the format's
convention; a figure faces +Z with its left side towards +X, as in the gravity-aligned frame the
lifter's world output uses). ``frame="camera"`` accepts OpenCV camera-frame positions (x right,
y down, z forward) instead and converts them here by a 180-degree turn about X,
``(x, y, z) -> (x, -y, -z)``: +Y is then up in the image, not levelled to gravity. The file is
written in centimetres by default (``units="cm"``, the usual BVH unit; Blender's importer then
wants a scale of 0.01), or in ``"m"`` or ``"mm"``. BVH has no field or comment line for units:
they are recovered from the skeleton's size, as :func:`energy3d.data.bvh.read_bvh` does (a leg of
about 80 file units is read as centimetres), or given to the reader (``units="cm"``).

**Bone lengths.** Each bone gets the median of its length over the frames. Frames in which a bone
has (almost) zero length (under 1 micrometre) keep the joint's previous local rotation (the first
frame: no rotation), so a degenerate frame never breaks the file.

**Hierarchy.** The layout's joints with BVH-safe names (every character other than a letter,
digit or ``_`` becomes ``_``: ``Neck/Nose`` -> ``Neck_Nose``), in depth-first order from the
layout's root. A joint rotation turns all of the joint's child bones together, so a joint with
several children (``h36m17``: ``Hip`` and ``Thorax``) could not reproduce children that move
relative to each other (the spine bending away from the hip axis, shoulders shrugging). Such a
joint drives one *primary* child directly (the child on the body's axis: ``spine``, ``thorax``,
``nose`` ... by canonical name, else the child with the largest subtree) and reaches each other
child through a zero-length *helper* joint named ``<Parent>_to_<Child>`` (``Hip_to_RHip``,
``Thorax_to_LShoulder``), which has rotation channels of its own. ``h36m17`` thus writes 21 joints:
its 17 plus 4 helpers. :func:`bvh_joint_names` gives the name of each layout joint in the file.

**Rest pose.** The OFFSETs are a T-pose facing +Z: bone directions from a standard T-pose by the
joints' canonical names (:data:`TPOSE_M`: legs straight down, arms straight out sideways, spine
and neck up, nose forward of the neck), bone lengths from the data (median). A joint whose
canonical name is not in the T-pose takes its bone direction from the first frame in which that
bone is not degenerate. The root's OFFSET is ``0 0 0``; its position channels hold its world position.

**Channels.** Root: ``Xposition Yposition Zposition Zrotation Xrotation Yrotation``; every other
joint three rotation channels whose middle axis is the one nearest the rest direction of the bone
the joint drives (:data:`BONE_ORDERS`): ``Zrotation Yrotation Xrotation`` for bones along Y (legs,
spine, neck, head), ``Zrotation Xrotation Yrotation`` for bones along X (arms, hips, shoulders),
``Yrotation Zrotation Xrotation`` along Z; leaves use ``Zrotation Xrotation Yrotation``. A bone's
own axis in the middle keeps swings of up to 150 degrees far from gimbal lock (with ``ZXY``
everywhere a knee bent 90 degrees would be at it). Angles are degrees, composed in the listed
order as intrinsic rotations (``Z X Y``: ``R = Rz(z) @ Rx(x) @ Ry(y)``, the convention of
:mod:`energy3d.data.bvh`, Blender's and most readers'). Between frames each joint's angles are
kept continuous (of the two equivalent Euler triples and the multiples of 360 degrees, the one
nearest the previous frame), so curves do not jump: a figure turning round three times has a
root angle running to about 1080 degrees.

**Rotations from positions.** A joint's world rotation ``W`` takes the rest direction ``u`` of the
bone it drives to that bone's direction ``d`` in the frame; the twist about ``d`` is left free by
one bone and is chosen by this rule:

* joints with a left/right pair among their children (``Hip``: ``LHip``/``RHip``; ``Thorax``:
  ``LShoulder``/``RShoulder``): the pair's axis (left minus right) fixes the twist, i.e. ``W`` maps
  the rest plane of ``(u, rest axis)`` onto the frame's plane of ``(d, axis)``. The root's
  orientation is thus the pelvis frame (spine direction + hip axis) and the thorax's the chest
  frame (neck direction + shoulder axis);
* every other joint (limbs, spine, neck, head, helpers): no twist relative to its parent, i.e.
  the joint's local rotation is the smallest rotation taking ``u`` to ``d`` seen in the parent's
  frame (a pure swing; the root uses the world frame as its parent). Where that axis is undefined
  (``d`` exactly opposite ``u`` in the parent's frame) any perpendicular axis is used;
* leaf joints (``RFoot``, ``LWrist``, ``Head`` ...) drive no bone: their rotation channels are 0
  (they follow their parent) and their End Site continues the limb (feet point forward and down,
  see :data:`END_SITES`).

With these rules every input joint is reproduced: ``p_child = p_joint + L * d`` for each bone,
with ``L`` the median length. With constant input bone lengths the file's forward kinematics
give back the input positions up to the printed precision (lengths to 1e-8 m, angles to 1e-6
degrees: well under 0.001 mm).

Example:
    >>> import numpy as np
    >>> from energy3d.data.sources import load_motion
    >>> m = load_motion("../shared/data/motion_bandai/bvh", fps=30)   # doctest: +SKIP
    >>> write_bvh("walk.bvh", m.joints[:300], "h36m17", fps=30)       # doctest: +SKIP
    >>> out = joints_to_bvh(np.random.default_rng(0).normal(size=(2, 17, 3)), "h36m17", fps=25)
    >>> out.names[:4], out.frame_time, out.motion.shape
    (['Hip', 'Hip_to_RHip', 'RHip', 'RKnee'], 0.04, (2, 66))
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from energy3d.errors import InputError
from energy3d.skeleton.layouts import Skeleton, get_layout

__all__ = ["BONE_ORDERS", "BVHExport", "END_SITES", "EXPORT_UNITS", "ROOT_ORDER", "TPOSE_M", "bvh_joint_names",
           "format_bvh", "joints_to_bvh", "write_bvh"]

EXPORT_UNITS = {"cm": 100.0, "m": 1.0, "mm": 1000.0}
"""File units :func:`write_bvh` can write: file units per metre."""

ROOT_ORDER = "ZXY"
BONE_ORDERS = {0: "ZXY", 1: "ZYX", 2: "YZX"}
"""Rotation channel order of a joint by the axis (0 x, 1 y, 2 z) nearest the rest direction of the
bone it drives: that axis is the middle one, so that swings of up to 150 degrees stay far from
gimbal lock (the middle angle reaches 90 degrees only for near half-turn swings)."""

_L = {  # left-side T-pose positions (metres, pelvis at the origin, +Y up, facing +Z, left = +X)
    "hip": (0.11, 0.0, 0.0), "knee": (0.11, -0.45, 0.0), "ankle": (0.11, -0.88, 0.0),
    "heel": (0.11, -0.93, -0.05), "big_toe": (0.08, -0.95, 0.15), "small_toe": (0.15, -0.95, 0.12),
    "toes": (0.11, -0.94, 0.13), "clavicle": (0.03, 0.45, 0.02), "shoulder": (0.17, 0.45, 0.0),
    "elbow": (0.45, 0.45, 0.0), "wrist": (0.70, 0.45, 0.0), "eye": (0.03, 0.64, 0.08), "ear": (0.07, 0.62, 0.0),
}
TPOSE_M: dict[str, tuple[float, float, float]] = {
    "pelvis": (0.0, 0.0, 0.0), "spine_low": (0.0, 0.10, 0.0), "spine": (0.0, 0.23, 0.0),
    "thorax": (0.0, 0.48, 0.0), "nose": (0.0, 0.60, 0.09), "head_top": (0.0, 0.75, 0.0),
    **{f"l_{k}": v for k, v in _L.items()},
    **{f"r_{k}": (-v[0], v[1], v[2]) for k, v in _L.items()},
}
"""Rest (T-pose) position of each canonical joint, metres, Y up, facing +Z, left side at +X. Only
directions between a joint and its parent are used; lengths come from the data."""

END_SITES: dict[str, tuple[tuple[float, float, float], float]] = {
    "l_ankle": ((0.0, -0.4, 1.0), 0.35), "r_ankle": ((0.0, -0.4, 1.0), 0.35),
    "l_wrist": ((1.0, 0.0, 0.0), 0.35), "r_wrist": ((-1.0, 0.0, 0.0), 0.35),
}
"""End Site of a leaf joint by canonical name: (rest direction, length as a fraction of the leaf's
own bone). Other leaves continue their bone's rest direction for a quarter of its length."""

_AXIAL = ("spine_low", "spine", "thorax", "nose", "head_top")
_EPS_M = 1e-6  # bones shorter than this (metres) in a frame have no direction in that frame


@dataclass
class BVHExport:
    """One BVH skeleton and its motion, as :func:`joints_to_bvh` builds it.

    Attributes:
        names: ``B`` BVH joint names in file (depth-first) order.
        parents: ``(B,)`` int parent index into ``names``, ``-1`` for the root.
        source: ``(B,)`` int index of the layout joint each BVH joint sits on (a helper sits on its parent).
        helper: ``(B,)`` bool, True for the zero-length helper joints ``<Parent>_to_<Child>``.
        offsets: ``(B, 3)`` float64 OFFSETs in file units (rest pose, in the parent's frame).
        end_sites: ``(B, 3)`` float64 End Site OFFSET of each leaf joint (file units); NaN for non-leaves.
        channels: per BVH joint, its channel names.
        motion: ``(T, C)`` float64 channel values, one row per frame (file units, degrees).
        frame_time: seconds per frame (``1 / fps``).
        units: file units (a key of :data:`EXPORT_UNITS`).
        bone_lengths: ``(J,)`` float64 median bone length of each layout joint (to its parent), metres;
            0 for the root.
        joint_names: ``{layout joint name: BVH joint name}``.
        notes: what was assumed (e.g. frames with degenerate bones), one sentence each.
        local_rotations: ``(T, B, 3, 3)`` float64 each joint's rotation relative to its parent per
            frame (the matrices the Euler channels encode; :mod:`energy3d.data.gltf_export` writes
            them as quaternions).
    """

    names: list
    parents: np.ndarray
    source: np.ndarray
    helper: np.ndarray
    offsets: np.ndarray
    end_sites: np.ndarray
    channels: list
    motion: np.ndarray
    frame_time: float
    units: str
    bone_lengths: np.ndarray
    joint_names: dict
    notes: list = field(default_factory=list)
    local_rotations: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])


# ----------------------------------------------------------------------------------------------
# Names and hierarchy


def _safe_names(names) -> list[str]:
    out, seen = [], set()
    for n in names:
        s = re.sub(r"[^A-Za-z0-9_]", "_", str(n)) or "joint"
        base, k = s, 2
        while s in seen:
            s, k = f"{base}_{k}", k + 1
        seen.add(s)
        out.append(s)
    return out


def bvh_joint_names(layout: str | Skeleton) -> dict[str, str]:
    """The BVH joint name :func:`write_bvh` gives each joint of ``layout``.

    Letters, digits and ``_`` are kept; every other character becomes ``_``; repeated names get
    ``_2``, ``_3`` ... The result is also a joint map for :func:`energy3d.data.bvh.load_bvh`
    (``joint_map=``) when the layout is ``h36m17``.

    Args:
        layout: a layout name or :class:`~energy3d.skeleton.layouts.Skeleton`.

    Returns:
        ``{layout joint name: BVH joint name}`` in layout order.

    Example:
        >>> bvh_joint_names("h36m17")["Neck/Nose"]
        'Neck_Nose'
    """
    sk = get_layout(layout)
    return dict(zip(sk.joints, _safe_names(sk.joints)))


def _children(sk: Skeleton) -> list[list[int]]:
    kids = [[] for _ in sk.joints]
    for c, p in enumerate(sk.parents):
        if p >= 0:
            kids[p].append(c)
    return kids


def _root(sk: Skeleton) -> int:
    roots = [j for j, p in enumerate(sk.parents) if p < 0]
    if len(roots) != 1:
        raise InputError(f"layout {sk.name}: a BVH file holds one skeleton with one root; the layout has "
                         f"{len(roots)} root joints ({', '.join(sk.joints[j] for j in roots)})")
    # every joint must hang from the root (no cycles)
    seen, stack, kids = set(), [roots[0]], _children(sk)
    while stack:
        j = stack.pop()
        seen.add(j)
        stack.extend(kids[j])
    if len(seen) != sk.num_joints:
        loose = ", ".join(sk.joints[j] for j in range(sk.num_joints) if j not in seen)
        raise InputError(f"layout {sk.name}: joints {loose} are not connected to the root")
    return roots[0]


def _subtree_size(kids, j) -> int:
    return 1 + sum(_subtree_size(kids, c) for c in kids[j])


def _primary_child(sk: Skeleton, kids, j) -> int:
    axial = [c for c in kids[j] if sk.canonical[c] in _AXIAL]
    if axial:
        return axial[0]
    return max(kids[j], key=lambda c: (_subtree_size(kids, c), -c))


def _mirror_pair(sk: Skeleton, kids, j, primary):
    """A (left, right) pair of ``j``'s children, preferring one without the primary child; or None."""
    pairs = [(a, b) for a, b in zip(sk.left, sk.right) if a in kids[j] and b in kids[j]]
    pairs.sort(key=lambda ab: primary in ab)
    return pairs[0] if pairs else None


@dataclass
class _Node:
    name: str
    parent: int          # BVH index
    source: int          # layout joint it sits on
    drives: int | None   # layout child whose bone its rotation sets (None: leaf)
    pair: tuple | None   # (left, right) layout joints fixing the twist, or None
    helper: bool


def _build_nodes(sk: Skeleton) -> list[_Node]:
    kids = _children(sk)
    safe = _safe_names(sk.joints)
    taken = set(safe)
    nodes: list[_Node] = []

    def add(j, parent):
        drives = pair = None
        if kids[j]:
            drives = _primary_child(sk, kids, j)
            pair = _mirror_pair(sk, kids, j, drives) if len(kids[j]) > 1 else None
        me = len(nodes)
        nodes.append(_Node(safe[j], parent, j, drives, pair, False))
        for c in kids[j]:
            if c == drives:
                add(c, me)
            else:
                name = base = f"{safe[j]}_to_{safe[c]}"
                k = 2
                while name in taken:
                    name, k = f"{base}_{k}", k + 1
                taken.add(name)
                h = len(nodes)
                nodes.append(_Node(name, me, j, c, None, True))
                add(c, h)

    add(_root(sk), -1)
    return nodes


# ----------------------------------------------------------------------------------------------
# Rotations


def _unit(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = np.linalg.norm(v, axis=-1)
    return v / np.maximum(n, 1e-300)[..., None], n


def _swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(..., 3, 3)`` smallest rotations taking unit vectors ``a`` to unit vectors ``b`` (``(..., 3)``).

    Axis ``a x b`` and angle ``atan2(|a x b|, a.b)`` (stable near 0 and 180 degrees); for exactly
    opposite vectors, a half turn about an axis perpendicular to ``a``.
    """
    a, b = np.broadcast_arrays(a, b)
    cross = np.cross(a, b)
    s = np.linalg.norm(cross, axis=-1)
    c = np.sum(a * b, axis=-1)
    axis = cross / np.maximum(s, 1e-300)[..., None]
    flat = s < 1e-12
    if np.any(flat):
        # any axis perpendicular to a: a x (the coordinate axis least aligned with a)
        e = np.eye(3)[np.argmin(np.abs(a[flat]), axis=-1)]
        axis[flat] = _unit(np.cross(a[flat], e))[0]
    angle = np.arctan2(s, c)
    shape = a.shape[:-1]
    return Rotation.from_rotvec((axis * angle[..., None]).reshape(-1, 3)).as_matrix().reshape(shape + (3, 3))


def _basis(a: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal frames ``[a, (a x s) x a, a x s]`` (columns) and whether ``s`` fixes them."""
    x = _unit(a)[0]
    z, n = _unit(np.cross(x, s))
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=-1), n > _EPS_M


def _hold(local: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Local rotations of frames where ``ok`` is False replaced by the last good frame's (identity before any)."""
    if ok.all():
        return local
    idx = np.where(ok, np.arange(len(ok)), -1)
    idx = np.maximum.accumulate(idx)
    out = np.where((idx >= 0)[:, None, None], local[np.maximum(idx, 0)], np.eye(3))
    return out


def _continuous_euler(mats: np.ndarray, orders: list[str]) -> np.ndarray:
    """``(T, B, 3)`` Euler degrees of ``(T, B, 3, 3)`` rotations, continuous over time.

    Angles of joint ``b`` are in the order ``orders[b]`` (e.g. ``"ZXY"``: intrinsic, ``R = Rz @ Rx @ Ry``).
    Each rotation has two triples, ``(a, b, c)`` and ``(a + 180, 180 - b, c + 180)``; per frame the
    one (with each angle moved by a multiple of 360) nearest the previous frame's is kept.
    """
    T, B = mats.shape[:2]
    e = np.empty((T, B, 3))
    for order in set(orders):
        cols = [b for b in range(B) if orders[b] == order]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # gimbal lock: the triple is still exact
            rot = Rotation.from_matrix(mats[:, cols].reshape(-1, 3, 3))
            e[:, cols] = rot.as_euler(order, degrees=True).reshape(T, len(cols), 3)
    alt = np.stack([e[..., 0] + 180.0, 180.0 - e[..., 1], e[..., 2] + 180.0], axis=-1)
    out = np.empty_like(e)
    prev = None
    for t in range(T):
        cands = np.stack([e[t], alt[t]])  # (2, B, 3)
        if prev is None:
            cands = (cands + 180.0) % 360.0 - 180.0
            pick = np.argmin(np.abs(cands).sum(-1), axis=0)
        else:
            cands = cands - 360.0 * np.round((cands - prev) / 360.0)
            pick = np.argmin(np.abs(cands - prev).sum(-1), axis=0)
        prev = cands[pick, np.arange(B)]
        out[t] = prev
    return out


# ----------------------------------------------------------------------------------------------
# Checks


def _check_inputs(joints, layout, fps, frame, units):
    sk = get_layout(layout)
    if hasattr(joints, "detach"):  # a torch tensor
        joints = joints.detach().cpu().numpy()
    try:
        x = np.asarray(joints, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"joints: expected a numeric array of shape (T, {sk.num_joints}, 3) "
                         f"(metres, layout {sk.name}), got {type(joints).__name__}") from None
    if x.ndim != 3 or x.shape[1:] != (sk.num_joints, 3):
        raise InputError(f"joints: expected shape (T, {sk.num_joints}, 3) for layout {sk.name} "
                         f"(T frames, {sk.num_joints} joints, xyz metres), got {tuple(x.shape)}")
    if x.shape[0] < 1:
        raise InputError(f"joints: expected at least 1 frame, got shape {tuple(x.shape)}")
    bad = ~np.isfinite(x)
    if bad.any():
        t, j, _ = np.argwhere(bad)[0]
        raise InputError(f"joints: expected finite positions, got {int(bad.any(-1).sum())} non-finite joint "
                         f"position(s) (NaN or inf), the first in frame {t}, joint {sk.joints[j]}")
    if isinstance(fps, bool) or not isinstance(fps, (int, float, np.integer, np.floating)) \
            or not np.isfinite(fps) or fps <= 0:
        raise InputError(f"fps: expected a positive number of frames per second, got {fps!r}")
    if frame not in ("y-up", "camera"):
        raise InputError(f"frame: expected 'y-up' (world, +Y up) or 'camera' (x right, y down, z forward), "
                         f"got {frame!r}")
    if units not in EXPORT_UNITS:
        raise InputError(f"units: expected one of {', '.join(EXPORT_UNITS)}, got {units!r}")
    if frame == "camera":
        x = x * np.array([1.0, -1.0, -1.0])
    return x, sk


# ----------------------------------------------------------------------------------------------
# Building the file


def joints_to_bvh(joints, layout: str | Skeleton, fps: float, *, frame: str = "y-up", units: str = "cm") -> BVHExport:
    """BVH skeleton and channels for a joint motion (see the module docstring for every rule).

    Args:
        joints: ``(T, J, 3)`` joint positions in metres (numpy array or tensor), ``T >= 1``, in a
            Y-up world (``frame="y-up"``) or the OpenCV camera frame (``frame="camera"``).
        layout: the joints' layout (name such as ``"h36m17"`` or a Skeleton) with one root.
        fps: frames per second (> 0); ``Frame Time`` is ``1 / fps``.
        frame: ``"y-up"`` or ``"camera"`` (converted by ``(x, y, z) -> (x, -y, -z)``).
        units: file units, ``"cm"`` (default), ``"m"`` or ``"mm"``.

    Returns:
        :class:`BVHExport` with ``motion`` ``(T, C)``: ``C = 6 + 3 * (B - 1)`` for ``B`` BVH joints.

    Raises:
        InputError: wrong shape or layout, fewer than 1 frame, NaN or inf, ``fps`` not > 0, unknown
            ``frame`` or ``units``, a layout with several roots, or a motion whose bones all have
            zero length.

    Example:
        >>> import numpy as np
        >>> out = joints_to_bvh(np.random.default_rng(0).normal(size=(5, 17, 3)), "h36m17", fps=10, units="m")
        >>> len(out.names), out.motion.shape, out.channels[0][:3]
        (21, (5, 66), ('Xposition', 'Yposition', 'Zposition'))
    """
    x, sk = _check_inputs(joints, layout, fps, frame, units)
    T, J = x.shape[:2]
    scale = EXPORT_UNITS[units]
    nodes = _build_nodes(sk)
    notes = []

    # bones: median lengths, per-frame directions, rest directions
    par = np.asarray(sk.parents)
    vec = np.zeros_like(x)
    has = par >= 0
    vec[:, has] = x[:, has] - x[:, par[has]]
    dirs, length = _unit(vec)
    ok = length > _EPS_M  # (T, J)
    ok[:, ~has] = False
    lengths = np.where(has, np.median(length, axis=0), 0.0)
    if lengths.sum() < _EPS_M:
        raise InputError(f"joints: every bone of the {sk.name} skeleton has zero length (all joints of a frame at "
                         "one point); there is no skeleton to write")
    rest_dir = np.zeros((J, 3))
    for j in np.flatnonzero(has):
        cj, cp = sk.canonical[j], sk.canonical[par[j]]
        if cj in TPOSE_M and cp in TPOSE_M and np.any(np.subtract(TPOSE_M[cj], TPOSE_M[cp])):
            rest_dir[j] = _unit(np.subtract(TPOSE_M[cj], TPOSE_M[cp], dtype=np.float64))[0]
        elif ok[:, j].any():
            rest_dir[j] = dirs[int(np.argmax(ok[:, j])), j]
        else:
            rest_dir[j] = (0.0, 1.0, 0.0)
    n_bad = int((~ok[:, has]).any(axis=1).sum())
    if n_bad:
        notes.append(f"{n_bad} of {T} frames have a bone of (almost) zero length; its joint keeps its previous "
                     "rotation there")
    rest = np.zeros((J, 3))
    order = [n.source for n in nodes if not n.helper]  # parents before children
    for j in order:
        if has[j]:
            rest[j] = rest[par[j]] + lengths[j] * rest_dir[j]
    size = np.linalg.norm(rest[:, None] - rest[None], axis=-1).max()
    if not 0.3 <= size <= 3.0:
        notes.append(f"the rest skeleton spans {size:.3g} m, no human size: are the joints in metres?")

    # world rotations, node by node (parents first)
    B = len(nodes)
    world = np.zeros((T, B, 3, 3))
    local = np.zeros((T, B, 3, 3))
    eye = np.broadcast_to(np.eye(3), (T, 3, 3))
    for b, nd in enumerate(nodes):
        Wp = world[:, nd.parent] if nd.parent >= 0 else eye
        if nd.drives is None:
            Q = eye.copy()
        else:
            c = nd.drives
            u, d, good = rest_dir[c], dirs[:, c], ok[:, c]
            # no twist relative to the parent: swing of u onto d seen in the parent's frame
            Q = _swing(np.broadcast_to(u, (T, 3)), np.einsum("tba,tb->ta", Wp, d))
            if nd.pair is not None:
                left, right = nd.pair
                v = rest[left] - rest[right]
                e = x[:, left] - x[:, right]
                F_rest, rest_ok = _basis(u, v)
                F, frame_ok = _basis(d, e)
                use = good & frame_ok & bool(rest_ok)
                W_pair = F @ F_rest.T
                Q_pair = np.swapaxes(Wp, -1, -2) @ W_pair
                Q = np.where(use[:, None, None], Q_pair, Q)
            Q = _hold(Q, good)
        local[:, b] = Q
        world[:, b] = Wp @ Q

    # channels: root position, then per joint its angles in its order
    orders = [ROOT_ORDER] + [
        ROOT_ORDER if nd.drives is None else BONE_ORDERS[int(np.argmax(np.abs(rest_dir[nd.drives])))]
        for nd in nodes[1:]]
    eul = _continuous_euler(local, orders)
    motion = np.concatenate([x[:, nodes[0].source] * scale, eul.reshape(T, 3 * B)], axis=1)
    channels = [("Xposition", "Yposition", "Zposition") + tuple(f"{a}rotation" for a in ROOT_ORDER)]
    channels += [tuple(f"{a}rotation" for a in o) for o in orders[1:]]

    offsets = np.zeros((B, 3))
    end_sites = np.full((B, 3), np.nan)
    for b, nd in enumerate(nodes):
        if nd.parent >= 0 and not nd.helper:
            offsets[b] = (rest[nd.source] - rest[nodes[nd.parent].source]) * scale
        if nd.drives is None:
            j = nd.source
            direction, frac = END_SITES.get(sk.canonical[j], (rest_dir[j], 0.25))
            size = frac * lengths[j] if lengths[j] > _EPS_M else 0.05
            end_sites[b] = _unit(np.asarray(direction, dtype=np.float64))[0] * size * scale

    return BVHExport(
        names=[n.name for n in nodes],
        parents=np.array([n.parent for n in nodes], dtype=np.int64),
        source=np.array([n.source for n in nodes], dtype=np.int64),
        helper=np.array([n.helper for n in nodes], dtype=bool),
        offsets=offsets,
        end_sites=end_sites,
        channels=channels,
        motion=motion,
        frame_time=1.0 / float(fps),
        units=units,
        bone_lengths=lengths,
        joint_names=bvh_joint_names(sk),
        notes=notes,
        local_rotations=local,
    )


_DECIMALS = {"cm": 6, "m": 8, "mm": 5}  # lengths to 1e-8 m in every unit; angles to 1e-6 degrees


def _num(v: float, decimals: int = 6) -> str:
    s = f"{v:.{decimals}f}"
    return s[1:] if s.startswith("-") and not s.strip("-0.") else s


def format_bvh(export: BVHExport) -> str:
    """The BVH text of :func:`joints_to_bvh`'s result: tab-indented hierarchy, one line per frame;
    angles with 6 decimals (degrees), lengths with 6 (cm), 8 (m) or 5 (mm) decimals, i.e. to 1e-8 m.

    Args:
        export: a :class:`BVHExport`.

    Returns:
        the file content, ending with a newline.
    """
    kids = [[] for _ in export.names]
    for b, p in enumerate(export.parents):
        if p >= 0:
            kids[p].append(b)
    lines = ["HIERARCHY"]
    nd = _DECIMALS[export.units]

    def block(b, depth):
        ind = "\t" * depth
        head = "ROOT" if export.parents[b] < 0 else "JOINT"
        lines.append(f"{ind}{head} {export.names[b]}")
        lines.append(f"{ind}{{")
        lines.append(f"{ind}\tOFFSET {' '.join(_num(v, nd) for v in export.offsets[b])}")
        lines.append(f"{ind}\tCHANNELS {len(export.channels[b])} {' '.join(export.channels[b])}")
        for c in kids[b]:
            block(c, depth + 1)
        if not kids[b]:
            lines.append(f"{ind}\tEnd Site")
            lines.append(f"{ind}\t{{")
            lines.append(f"{ind}\t\tOFFSET {' '.join(_num(v, nd) for v in export.end_sites[b])}")
            lines.append(f"{ind}\t}}")
        lines.append(f"{ind}}}")

    block(0, 0)
    lines += ["MOTION", f"Frames: {export.num_frames}", f"Frame Time: {export.frame_time:.8f}"]
    lines += [" ".join([_num(v, nd) for v in row[:3]] + [_num(v) for v in row[3:]]) for row in export.motion]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------
# Writing


_REASONS = {errno.EACCES: "permission denied", errno.EPERM: "permission denied",
            errno.ENOSPC: "no space left on the device", errno.ENAMETOOLONG: "the name is too long for the file system",
            errno.EROFS: "the file system is read-only",
            errno.ENOTDIR: "a part of the path is a file, not a folder", errno.EISDIR: "it is a folder",
            errno.EEXIST: "a part of the path is a file, not a folder", errno.ENOENT: "no such file or folder"}


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` (ASCII text or bytes) to a temporary file beside ``path`` and rename it into place;
    if anything fails, the temporary file is deleted and the folders this call made are removed again."""
    made, tmp, done = [], None, False
    try:
        if path.is_dir():
            raise InputError(f"{path}: is a folder; give a {path.suffix or 'file'} name")
        for folder in path.parents:
            if folder.exists():
                break
            made.insert(0, folder)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:100]}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode("ascii"))
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
        done = True
    except OSError as e:
        reason = _REASONS.get(e.errno, e.strerror or type(e).__name__)
        raise InputError(f"{path}: cannot write there ({reason})") from None
    finally:
        if not done:
            for leftover in ([tmp] if tmp else []):
                try:
                    os.unlink(leftover)
                except OSError:
                    pass
            for folder in reversed(made):
                try:
                    folder.rmdir()
                except OSError:
                    pass


def write_bvh(path: str | Path, joints, layout: str | Skeleton, fps: float, *, frame: str = "y-up",
              units: str = "cm") -> BVHExport:
    """Write joint motion as a BVH file: one skeleton, constant bone lengths, rotations per frame.

    The file's forward kinematics reproduce the input: exactly (to the printed precision, 1e-8 m
    and 1e-6 degrees) when the input bone lengths are constant, and otherwise the root positions and every bone's direction,
    with each bone at its median length. Rest pose, units, channel order, helper joints and the
    twist rule are described in the module docstring (:mod:`energy3d.data.bvh_export`).

    Everything is checked and computed before the file is touched; the text is written to a
    temporary file beside ``path`` and renamed into place, so an error leaves no partial file (and
    no folder this call created). Callers that do long work first can check the destination
    beforehand with :func:`energy3d.tasks.outputs.check_output_file` (``suffixes=(".bvh",)``).

    Args:
        path: the ``.bvh`` file to write (folders are created; an existing file is replaced).
        joints: ``(T, J, 3)`` joint positions in metres, ``T >= 1``, Y-up world (``frame="y-up"``,
            e.g. the gravity-aligned world output of lifting, facing +Z) or OpenCV camera frame
            (``frame="camera"``).
        layout: the joints' layout, e.g. ``"h36m17"`` (or a Skeleton with one root).
        fps: frames per second (> 0).
        frame: ``"y-up"`` (default) or ``"camera"``.
        units: file units: ``"cm"`` (default; Blender: import with scale 0.01), ``"m"`` or ``"mm"``.

    Returns:
        :class:`BVHExport`: what was written (joint names, offsets, channels, bone lengths, notes).

    Raises:
        InputError: bad ``joints`` (shape, layout, fewer than 1 frame, NaN/inf), ``fps`` not > 0,
            unknown ``frame``/``units``, a path without the ``.bvh`` suffix, a folder, or a place
            that cannot be written (the reason in words).

    Example:
        >>> from energy3d.data.bvh import read_bvh
        >>> from energy3d.skeleton.layouts import H36M17
        >>> out = write_bvh("pose.bvh", world_joints, "h36m17", fps=30)         # doctest: +SKIP
        >>> b = read_bvh("pose.bvh", units="cm")                                 # doctest: +SKIP
        >>> idx = [b.names.index(out.joint_names[n]) for n in H36M17.joints]     # doctest: +SKIP
        >>> b.positions_m()[:, idx].shape    # doctest: +SKIP
        (300, 17, 3)

        ``b.positions_m()[:, idx]`` is the input (metres) up to the bone-length change.
    """
    p = Path(path)
    if p.suffix.lower() != ".bvh":
        raise InputError(f"{p}: expected a .bvh file name")
    export = joints_to_bvh(joints, layout, fps, frame=frame, units=units)
    write_atomic(p, format_bvh(export))
    return export
