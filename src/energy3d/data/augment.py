"""What 2D detectors see of a mocap pose: keypoints where detectors put them, and other body proportions.

A lifter trained on the projections of one mocap rig's joints learns that rig's geometry: where its
"thorax" (neck-base joint) sits above its hip joints, how long its torso is against its legs. A 2D
detector places keypoints elsewhere — COCO-style hips below and outside the hip joints, shoulders
on the acromion above the glenohumeral joints, the nose ahead of the skull base — and the lifter's
``h36m17`` input is then *derived* from them (pelvis, thorax, spine as midpoints, the head top
extrapolated, :mod:`energy3d.skeleton.layouts`). Measured on the Bandai rig: its shoulder joints sit
0.50 hip-to-ankle lengths above its hip joints; MediaPipe's keypoints on upright people in real
photos give 0.68-0.85 (adults are about 0.6). A model that has only seen 0.50 reads the difference
as the torso leaning towards the camera (20-40 degrees on the project's photos).

Two augmentations, both applied to camera-frame 3D ``h36m17`` poses before projection, with every
random draw taken from a caller's ``torch.Generator`` (so a resumed run repeats them):

* :func:`scale_bones` — per-sample body proportions: every bone group (hip width, thigh, shin,
  torso, neck, head, shoulder width, upper arm, forearm; left and right alike) is scaled by
  ``exp(N(0, sigma))``, clipped to two sigmas, the torso with its own sigma. The pose is rebuilt
  down the kinematic tree from the pelvis (directions unchanged). The 3D target changes with it.
* :func:`detector_keypoints_2d` — virtual surface markers: 3D ``coco17`` keypoints placed relative
  to the rig joints with per-sample offsets (:class:`MarkerConfig`), projected, and converted to
  ``h36m17`` by :func:`energy3d.skeleton.convert` exactly as ``energy3d lift`` converts a detector's
  COCO keypoints. Only the keypoints that conversion uses are placed (nose, shoulders, hips and the
  limbs); eyes and ears are set to the nose.

The offsets' directions follow where annotators and detectors put COCO keypoints (the nose tip; hips
and shoulders on the body's outline near the joints); their ranges were chosen by measurement
(``benchmarks/bench_lift_geometry.py``, ``benchmarks/results/lift_geometry.json``): with hips up to
0.4 thigh lengths low and shoulders up to 10 cm high the lifted torso of upright people in the
project's photos leans 2-5 degrees less than with 0.25 / 6 cm. Uniform ranges, per sample.

The nose decides more than any other keypoint: moving MediaPipe's nose on a photo by 0.15 shoulder
widths turns the lifted body's pitch by 3-11 degrees, and the sign depends on whether the person
faces the camera. Measured by ``benchmarks/bench_keypoint_geometry.py`` (upright people, level
cameras, image heights): MediaPipe puts the nose 0.36-0.44 of the shoulder-above-hip height above
the shoulders on the four photos of people without helmets (0.15-0.28 for astronauts, whose faces it
guesses behind the visor), but the nose 1-5 cm above the rig's skull base gave 0.06 (Bandai; 0.16
HDM05, 0.07 CMU): a lifter trained so read the real faces as bodies tipped 15-25 degrees towards or
away from the camera (back views: photo 01 +24, 03 +14). ``nose_up_m`` = 4-20 cm gives 0.24
[0.09, 0.41] (median [10th, 90th percentile]; HDM05 0.30, CMU 0.22), covering both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from energy3d.errors import InputError
from energy3d.geometry.camera import project
from energy3d.skeleton.layouts import COCO17, H36M17, convert

Tensor = torch.Tensor

__all__ = ["MarkerConfig", "ProportionConfig", "BONE_GROUPS", "scale_bones", "detector_keypoints_3d",
           "detector_keypoints_2d", "torso_leg_ratio"]


@dataclass(frozen=True)
class MarkerConfig:
    """Where a 2D detector's keypoints sit relative to the rig joints (uniform ranges, per sample).

    Attributes:
        nose_forward_m: nose tip ahead of the rig's head joint (skull base) along the face's forward direction.
        nose_up_m: nose above the skull base along the neck (4-20 cm: where MediaPipe puts it, see the
            module docstring; it was -1..5 cm before, which the structured-pose configs keep).
        hip_down: detector hips below the rig hip joints, as a fraction of the thigh (hip -> knee).
        hip_out_m: detector hips outward from the rig hip joints (away from the pelvis).
        shoulder_up_m: detector shoulders above the rig shoulder joints, along the torso's up direction.
        shoulder_out_m: detector shoulders outward (away from the thorax).
    """

    nose_forward_m: tuple[float, float] = (0.07, 0.12)
    nose_up_m: tuple[float, float] = (0.04, 0.20)
    hip_down: tuple[float, float] = (0.0, 0.4)
    hip_out_m: tuple[float, float] = (0.0, 0.04)
    shoulder_up_m: tuple[float, float] = (0.0, 0.1)
    shoulder_out_m: tuple[float, float] = (0.0, 0.03)


@dataclass(frozen=True)
class ProportionConfig:
    """Per-sample body proportions (:func:`scale_bones`): log-normal bone-group scales.

    Attributes:
        limb_sigma: sigma of ``log(scale)`` of every group but the torso (0: off).
        torso_sigma: sigma of ``log(scale)`` of the torso (pelvis -> spine -> thorax).
    """

    limb_sigma: float = 0.0
    torso_sigma: float = 0.0

    @property
    def enabled(self) -> bool:
        return self.limb_sigma > 0 or self.torso_sigma > 0


BONE_GROUPS: dict[str, tuple[str, ...]] = {
    "hip_width": ("r_hip", "l_hip"),
    "thigh": ("r_knee", "l_knee"),
    "shin": ("r_ankle", "l_ankle"),
    "torso": ("spine", "thorax"),
    "neck": ("nose",),
    "head": ("head_top",),
    "shoulder_width": ("l_shoulder", "r_shoulder"),
    "upper_arm": ("l_elbow", "r_elbow"),
    "forearm": ("l_wrist", "r_wrist"),
}
"""``h36m17`` bone groups by the canonical name of each bone's child joint; one scale per group."""


def _check_pose(y: Tensor, name: str = "poses") -> None:
    if y.dim() != 3 or y.shape[1:] != (H36M17.num_joints, 3):
        raise InputError(f"{name}: expected camera-frame h36m17 poses of shape (B, 17, 3), got {tuple(y.shape)}")


def scale_bones(y: Tensor, cfg: ProportionConfig, generator: torch.Generator) -> Tensor:
    """Poses ``(B, 17, 3)`` (``h36m17``, metres) with every bone group scaled per sample (see module docstring).

    The pelvis stays where it is; bone directions are kept. ``cfg`` all zeros returns ``y``.
    """
    _check_pose(y)
    if not cfg.enabled:
        return y
    B = y.shape[0]
    names = list(BONE_GROUPS)
    z = torch.randn(B, len(names), generator=generator, dtype=torch.float64).clamp(-2.0, 2.0)
    sig = torch.tensor([cfg.torso_sigma if n == "torso" else cfg.limb_sigma for n in names], dtype=torch.float64)
    scale = torch.exp(z * sig).to(y.dtype)  # (B, G)
    per_joint = torch.ones(B, H36M17.num_joints, dtype=y.dtype)
    for g, n in enumerate(names):
        for c in BONE_GROUPS[n]:
            per_joint[:, H36M17.canonical.index(c)] = scale[:, g]
    out = y.clone()
    for c, p in enumerate(H36M17.parents):  # parents precede children in h36m17
        if p >= 0:
            out[:, c] = out[:, p] + per_joint[:, c, None] * (y[:, c] - y[:, p])
    return out


def _unit(v: Tensor) -> Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-9)


def _u(gen, B, rng, dtype):
    lo, hi = rng
    return (lo + (hi - lo) * torch.rand(B, generator=gen, dtype=torch.float64)).to(dtype)[:, None]


def detector_keypoints_3d(y: Tensor, cfg: MarkerConfig, generator: torch.Generator, *, one_person: bool = False) -> Tensor:
    """Virtual detector keypoints ``(B, 17, 3)`` in the ``coco17`` layout from rig poses ``(B, 17, 3)`` (``h36m17``).

    Limbs (elbows, wrists, knees, ankles) are the rig joints; hips, shoulders and the nose are
    offset as :class:`MarkerConfig` says; eyes and ears are set to the nose (the ``h36m17``
    conversion does not use them). The offsets are drawn per sample, or once for all ``B`` poses
    with ``one_person`` (the frames of one person's clip).
    """
    _check_pose(y)
    dt = y.dtype
    B = 1 if one_person else y.shape[0]  # offsets (B, 1) broadcast over the poses
    J = {c: y[:, H36M17.canonical.index(c)] for c in H36M17.canonical}
    up = _unit(J["thorax"] - J["pelvis"])
    right = _unit(J["r_hip"] - J["l_hip"] + J["r_shoulder"] - J["l_shoulder"])
    forward = _unit(torch.linalg.cross(up, right))
    neck = _unit(J["nose"] - J["thorax"])  # the rig's "nose" joint is its head joint (skull base)
    face = _unit(forward - (forward * neck).sum(-1, keepdim=True) * neck)
    nose = J["nose"] + _u(generator, B, cfg.nose_forward_m, dt) * face + _u(generator, B, cfg.nose_up_m, dt) * neck
    out = {"nose": nose, "l_eye": nose, "r_eye": nose, "l_ear": nose, "r_ear": nose}

    def outward(v):  # the part of v across the body (orthogonal to the torso's up direction)
        return _unit(v - (v * up).sum(-1, keepdim=True) * up)

    for s in ("l", "r"):
        hip, knee = J[f"{s}_hip"], J[f"{s}_knee"]
        out[f"{s}_hip"] = (hip + _u(generator, B, cfg.hip_down, dt) * (knee - hip)
                           + _u(generator, B, cfg.hip_out_m, dt) * outward(hip - J["pelvis"]))
        sh = J[f"{s}_shoulder"]
        out[f"{s}_shoulder"] = (sh + _u(generator, B, cfg.shoulder_up_m, dt) * up
                                + _u(generator, B, cfg.shoulder_out_m, dt) * outward(sh - J["thorax"]))
        for c in ("elbow", "wrist", "knee", "ankle"):
            out[f"{s}_{c}"] = J[f"{s}_{c}"]
    return torch.stack([out[c] for c in COCO17.canonical], dim=1)


def detector_keypoints_2d(y: Tensor, K: Tensor, cfg: MarkerConfig, generator: torch.Generator, *,
                          one_person: bool = False) -> Tensor:
    """``h36m17`` 2D (pixels) ``(B, 17, 2)`` as ``energy3d lift`` builds it from a detector's COCO keypoints.

    Args:
        y: ``(B, 17, 3)`` camera-frame rig poses (``h36m17``, metres).
        K: ``(B, 3, 3)`` intrinsics.
        cfg: marker offsets.
        generator: source of the per-sample offsets.
        one_person: one draw of the offsets for all ``B`` poses (one person's frames).
    """
    coco = detector_keypoints_3d(y, cfg, generator, one_person=one_person)
    p = project(coco.to(torch.float64), K.to(torch.float64))
    return torch.from_numpy(convert(p.numpy(), COCO17, H36M17)).to(y.dtype)


def torso_leg_ratio(points, layout) -> np.ndarray:
    """Height of the shoulder midpoint above the hip midpoint over the hip-to-ankle length (2D or 3D).

    The measure of the module docstring: ``|mid(shoulders) - mid(hips)| / mean(|hip - ankle|)``.

    Args:
        points: ``(..., J, D)`` in ``layout``.
        layout: a layout with canonical ``l/r_hip``, ``l/r_shoulder``, ``l/r_ankle``.
    """
    a = np.asarray(points, dtype=np.float64)
    g = lambda c: a[..., layout.index(c), :]
    hips = 0.5 * (g("l_hip") + g("r_hip"))
    sh = 0.5 * (g("l_shoulder") + g("r_shoulder"))
    leg = 0.5 * (np.linalg.norm(g("l_hip") - g("l_ankle"), axis=-1) + np.linalg.norm(g("r_hip") - g("r_ankle"), axis=-1))
    return np.linalg.norm(sh - hips, axis=-1) / np.maximum(leg, 1e-9)
