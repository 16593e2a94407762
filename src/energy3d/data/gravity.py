"""A gravity-aligned world frame for camera-frame poses: +Y up, the person facing +Z at frame 0.

Lifted poses are in the camera frame (x right, y down, z forward), which tilts with the camera.
:func:`gravity_frame` estimates the camera's pitch and roll from the poses themselves and returns
the rotation to a world frame a user can animate in: +Y up, the person facing +Z at frame 0 (their
left along +X), the root joint of frame 0 at the origin.

How up is estimated (:func:`estimate_up`). Each frame gives a body axis: the mean of the unit
vectors pelvis -> thorax (the spine) and mid-ankles -> mid-hips (the legs). Standing and walking
people lean forward a little, so each axis is turned back by :data:`FORWARD_LEAN_DEG` about the
body's left-right axis (from the hips and shoulders). The frames' corrected axes are averaged with
weights that say how upright the pose is (straight knees, thighs in line with the spine: both
rotation-invariant, so they do not depend on the unknown up), and frames more than
:data:`OUTLIER_DEG` from the weighted mean are left out (bending, lying down) in a second pass. Over a
sequence the camera's up is assumed constant (a static or panning camera, or one that moves without
tilting).

Yaw is free: the person's facing at frame 0, ``left x up`` with ``left`` the hips' and shoulders'
right -> left vectors made horizontal, becomes +Z.

Limits. The estimate is as good as the poses' body axes. On the Bandai test split's true 3D poses it
is 2.7 degrees off on average for single frames and 2.1 for clips (95th percentile 7 and 9: leaning
and bowing bodies); on poses lifted by the bundled IGE-8 from noisy detector-style 2D, 5-6 degrees
for cameras at -10..15 degrees elevation and 11-16 at 15..45 (clips seen by a moving camera; single
frames 6-17), because the lifter pulls the camera's pitch towards its training cameras (-15..20
degrees; ``benchmarks/bench_gravity.py``, which also measures a lifter trained with wider cameras).
Where the camera's tilt is known (a phone's sensors), pass ``up_camera``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from energy3d.errors import InputError
from energy3d.skeleton import Skeleton, get_layout

__all__ = ["GravityInfo", "gravity_frame", "estimate_up", "uprightness", "camera_pitch_roll", "horizon_up",
           "FORWARD_LEAN_DEG"]

FORWARD_LEAN_DEG = 3.0
"""Mean forward lean of the body axis (spine + legs, see module docstring) from the true vertical, degrees:
3.1 over the Bandai training split at 10 fps (79.6k poses; median 1.9; 1-2 for standing actions, 4 for
walking, 13 for running)."""
OUTLIER_DEG = 30.0
"""Frames whose body axis lies further than this from the first weighted mean are left out of the second."""


@dataclass
class GravityInfo:
    """What :func:`gravity_frame` estimated.

    Attributes:
        up_camera: ``(3,)`` unit world up in the camera frame (x right, y down, z forward).
        pitch_deg: the camera's pitch: its optical axis below the horizon, degrees (positive looking down).
        roll_deg: the camera's roll about its optical axis, degrees: ``atan2(up_x, -up_y)``, the
            ``roll_deg`` of :func:`energy3d.geometry.camera.orbit_camera`.
        facing_camera: ``(3,)`` unit facing direction at frame 0 in the camera frame (horizontal).
        weights: ``(T,)`` weight of each frame in the up estimate (0 for frames left out).
        floor_y: the ground's height in the world frame, metres: the 5th percentile of the ankles'
            heights minus :data:`ANKLE_HEIGHT_M`.
        frames_used: frames with a non-zero weight.
    """

    up_camera: np.ndarray
    pitch_deg: float
    roll_deg: float
    facing_camera: np.ndarray
    weights: np.ndarray
    floor_y: float
    frames_used: int


ANKLE_HEIGHT_M = 0.08
"""Height of the ankle joint above the floor when the foot is flat, metres (for :attr:`GravityInfo.floor_y`)."""


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, 1e-12)


def _roles(layout: Skeleton) -> dict[str, int]:
    need = ("l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle", "l_shoulder", "r_shoulder")
    idx = {}
    for r in need:
        try:
            idx[r] = layout.index(r)
        except (KeyError, ValueError, InputError):
            raise InputError(f"gravity_frame: layout {layout.name} has no {r} joint (needs {', '.join(need)} "
                             "and thorax or the shoulders)") from None
    for r in ("pelvis", "thorax"):  # optional: the mid-hips and the mid-shoulders stand in
        try:
            idx[r] = layout.index(r)
        except (KeyError, ValueError, InputError):
            idx[r] = -1
    return idx


def _check_poses(poses, layout: Skeleton) -> np.ndarray:
    try:
        import torch

        if isinstance(poses, torch.Tensor):
            poses = poses.detach().cpu().double().numpy()
    except ImportError:  # pragma: no cover
        pass
    p = np.asarray(poses, dtype=np.float64)
    if p.ndim != 3 or p.shape[1:] != (layout.num_joints, 3) or p.shape[0] == 0:
        raise InputError(f"gravity_frame: poses: expected shape (T, {layout.num_joints}, 3) with T >= 1 for layout "
                         f"{layout.name}, got {p.shape}")
    if not np.isfinite(p).all():
        raise InputError(f"gravity_frame: poses: {int((~np.isfinite(p)).sum())} non-finite values (NaN or inf)")
    return p


def _parts(p: np.ndarray, ix: dict[str, int]):
    mid_sh = 0.5 * (p[:, ix["l_shoulder"]] + p[:, ix["r_shoulder"]])
    thorax = p[:, ix["thorax"]] if ix["thorax"] >= 0 else mid_sh
    mid_hip = 0.5 * (p[:, ix["l_hip"]] + p[:, ix["r_hip"]])
    pelvis = p[:, ix["pelvis"]] if ix["pelvis"] >= 0 else mid_hip
    mid_ank = 0.5 * (p[:, ix["l_ankle"]] + p[:, ix["r_ankle"]])
    spine = _unit(thorax - pelvis)
    legs = _unit(mid_hip - mid_ank)
    left = (p[:, ix["l_hip"]] - p[:, ix["r_hip"]]) + (p[:, ix["l_shoulder"]] - p[:, ix["r_shoulder"]])
    return spine, legs, left


def uprightness(poses, layout: Skeleton | str) -> np.ndarray:
    """How upright each pose is, from angles only (so it does not depend on the camera): ``(T,)`` in [0, 1].

    The product of the knees' straightness (the cosine between thigh and shin, the more bent knee)
    and the hips' (the cosine between the spine and the legs' axis), each mapped from [0.5, 1] to
    [0, 1]: 1 for a person standing straight, 0 for a knee or the hips bent by 60 degrees or more.

    Args:
        poses: ``(T, J, 3)`` joints in any frame.
        layout: their layout (needs pelvis, hips, knees, ankles, shoulders).
    """
    layout = get_layout(layout)
    p = _check_poses(poses, layout)
    ix = _roles(layout)
    spine, legs, _ = _parts(p, ix)
    knees = []
    for s in ("l", "r"):
        thigh = _unit(p[:, ix[f"{s}_knee"]] - p[:, ix[f"{s}_hip"]])
        shin = _unit(p[:, ix[f"{s}_ankle"]] - p[:, ix[f"{s}_knee"]])
        knees.append((thigh * shin).sum(-1))
    knee = np.minimum(*knees)
    hip = (spine * legs).sum(-1)
    f = lambda c: np.clip((c - 0.5) / 0.5, 0.0, 1.0)
    return f(knee) * f(hip)


def estimate_up(poses, layout: Skeleton | str, *, lean_deg: float = FORWARD_LEAN_DEG, weighted: bool = True):
    """World up in the frame of ``poses`` from the body axes of upright frames (see module docstring).

    Args:
        poses: ``(T, J, 3)`` joints (any frame, e.g. the camera frame), ``T >= 1``.
        layout: their layout.
        lean_deg: forward lean of the body axis that is turned back.
        weighted: weight frames by :func:`uprightness` (else equally; outliers are dropped either way).

    Returns:
        ``(up (3,) unit vector, weights (T,))``.
    """
    layout = get_layout(layout)
    p = _check_poses(poses, layout)
    ix = _roles(layout)
    spine, legs, left = _parts(p, ix)
    axis = _unit(spine + legs)
    lat = left - (left * axis).sum(-1, keepdims=True) * axis
    lat = _unit(lat)
    fwd = np.cross(lat, axis)
    a = math.radians(lean_deg)
    axis = math.cos(a) * axis - math.sin(a) * fwd  # turn the forward lean back
    w = uprightness(p, layout) if weighted else np.ones(len(p))
    w = np.maximum(w, 1e-3)  # every frame counts a little, so a sequence of bent poses still gives an answer
    up = _unit((w[:, None] * axis).sum(0))
    keep = (axis @ up) >= math.cos(math.radians(OUTLIER_DEG))
    if keep.any():
        w = np.where(keep, w, 0.0)
        up = _unit((w[:, None] * axis).sum(0))
    return up, w


def camera_pitch_roll(up_camera) -> tuple[float, float]:
    """``(pitch, roll)`` in degrees of a camera whose world up, in its frame (x right, y down, z forward), is ``up_camera``.

    Pitch: the optical axis below the horizon (positive looking down), ``asin(-up_z)``. Roll:
    ``atan2(up_x, -up_y)``, the angle of world up from the image's up direction.
    """
    u = _unit(np.asarray(up_camera, dtype=np.float64))
    return float(np.degrees(np.arcsin(np.clip(-u[2], -1, 1)))), float(np.degrees(np.arctan2(u[0], -u[1])))


def horizon_up(points, K) -> np.ndarray:
    """World up in the camera frame (x right, y down, z forward) from two image points on the horizon.

    The horizon is the image of the horizontal plane through the camera centre (for the sea or a
    plain far away; a hill or a ridge lies above it), so the normal of the plane spanned by the two
    points' viewing rays ``K^-1 (x, y, 1)`` is vertical. Of its two signs, up is the one with
    ``y < 0``: the sky is above the horizon in a photo taken less than 90 degrees from level. With
    :func:`camera_pitch_roll` this gives the camera's pitch and roll; with ``gravity_frame(...,
    up_camera=...)`` the world frame, without any pose estimate. The answer is as good as ``K``: the
    pitch of a horizon ``d`` pixels above the principal point is ``atan(d / f)``.

    Args:
        points: ``((x1, y1), (x2, y2))`` pixels, two distinct points on the horizon line.
        K: ``(3, 3)`` camera intrinsics of the same image.

    Raises:
        InputError: wrong shapes, non-finite values, or points less than a pixel apart.
    """
    pts = np.asarray(points, dtype=np.float64)
    K = np.asarray(K, dtype=np.float64)
    if pts.size != 4 or not np.isfinite(pts).all():
        raise InputError(f"horizon: expected two finite image points (x1, y1, x2, y2), got {points!r}")
    pts = pts.reshape(2, 2)
    if K.shape != (3, 3) or not np.isfinite(K).all() or abs(np.linalg.det(K)) < 1e-12:
        raise InputError(f"horizon: K must be a finite invertible (3, 3) matrix, got shape {K.shape}")
    if np.linalg.norm(pts[0] - pts[1]) < 1.0:
        raise InputError(f"horizon: the two points {pts.tolist()} are less than a pixel apart; they define no line")
    rays = np.linalg.solve(K, np.c_[pts, np.ones(2)].T).T
    n = _unit(np.cross(rays[0], rays[1]))
    return -n if n[1] > 0 else n


def gravity_frame(poses_cam, layout: Skeleton | str, *, lean_deg: float = FORWARD_LEAN_DEG, weighted: bool = True,
                  up_camera=None):
    """Rotate camera-frame poses into a gravity-aligned world frame: +Y up, facing +Z at frame 0.

    Up is estimated from the poses (:func:`estimate_up`) unless ``up_camera`` is given; the yaw is
    set so the person faces +Z at frame 0 (their left along +X, a right-handed frame); the root joint
    (the layout's first root, the pelvis for ``h36m17``) of frame 0 goes to the origin. The camera
    is assumed not to tilt during the sequence (it may pan or move).

    Args:
        poses_cam: ``(T, J, 3)`` camera-frame joints, metres (x right, y down, z forward), ``T >= 1``;
            numpy or torch.
        layout: their joint layout (needs pelvis, hips, knees, ankles, shoulders; thorax if it has one).
        lean_deg, weighted: see :func:`estimate_up`.
        up_camera: optional known ``(3,)`` world up in the camera frame (e.g. from a phone's IMU).

    Returns:
        ``(R, poses_world, info)``: ``R (3, 3)`` camera -> world rotation (``det = +1``),
        ``poses_world = (poses_cam - root_0) @ R.T`` ``(T, J, 3)`` float64 numpy, and a
        :class:`GravityInfo`.

    Raises:
        InputError: wrong shape, non-finite values, a layout without the joints needed, or a zero
            ``up_camera``.

    Example:
        >>> import numpy as np
        >>> from energy3d.skeleton import H36M17
        >>> poses = np.load("poses.npz")["joints_3d"]          # doctest: +SKIP
        >>> R, world, info = gravity_frame(poses, H36M17)       # doctest: +SKIP
        >>> info.pitch_deg                                      # doctest: +SKIP
        21.3
    """
    layout = get_layout(layout)
    p = _check_poses(poses_cam, layout)
    ix = _roles(layout)
    if up_camera is None:
        up, w = estimate_up(p, layout, lean_deg=lean_deg, weighted=weighted)
    else:
        u = np.asarray(up_camera, dtype=np.float64).reshape(-1)
        if u.shape != (3,) or not np.isfinite(u).all() or np.linalg.norm(u) < 1e-9:
            raise InputError(f"gravity_frame: up_camera: expected a finite non-zero (3,) vector, got {up_camera!r}")
        up, w = _unit(u), np.ones(len(p))
    _, _, left = _parts(p[:1], ix)
    left = left[0] - (left[0] @ up) * up
    if np.linalg.norm(left) < 1e-9:
        raise InputError("gravity_frame: the hips and shoulders of frame 0 are vertical or coincide; no facing direction")
    x = _unit(left)
    z = np.cross(x, up)  # facing = left x up
    R = np.stack([x, up, z])
    root = p[0, ix["pelvis"]] if ix["pelvis"] >= 0 else 0.5 * (p[0, ix["l_hip"]] + p[0, ix["r_hip"]])
    world = (p - root) @ R.T
    ank = world[:, [ix["l_ankle"], ix["r_ankle"]], 1]
    pitch, roll = camera_pitch_roll(up)
    info = GravityInfo(up_camera=up, pitch_deg=pitch, roll_deg=roll, facing_camera=z, weights=w,
                       floor_y=float(np.percentile(ank, 5) - ANKLE_HEIGHT_M), frames_used=int((w > 0).sum()))
    return R, world, info
