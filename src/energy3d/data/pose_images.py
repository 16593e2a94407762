"""Rendered person images with exact 3D truth, heatmap-mode inputs and the label volume (Kinauer et al.).

Every sample is one real motion-capture pose (Bandai by default, split by clip exactly like the
lifting data, :func:`energy3d.data.lifting.load_source`) placed in front of one virtual camera of
the lifting set (:func:`energy3d.data.lifting.pose_in_cameras`, elevations -15 to +20 degrees).

Images. A body is built from the 17 ``h36m17`` joints of the pose (:func:`body_mesh`): capsules
along the limbs with per-sample radii (upper arm, forearm, thigh, shin), a torso of two elliptic
capsules (pelvis -> spine with the hip width, spine -> thorax with the shoulder width), a neck, a
head ellipsoid between the skull base and the head top, hands beyond the wrists and feet ahead of the
ankles. Parts are coloured as clothes (shirt, trousers, shoes) and skin, with per-sample colours,
random short/long sleeves and shorts, and an independent small jitter per part, so neither one colour
scheme nor a left/right colour code can be learnt. It is rasterised with the project's z-buffer
(:func:`energy3d.geometry.render.rasterize`; self-occlusion follows) straight into the crop: the crop
intrinsics ``K_crop = S @ K`` scale and shift ``K`` so the ``crop x crop`` image is rendered at 2x and
averaged down (anti-aliasing, soft edges against the background). Lambert + ambient shading with a
random light direction and ambient level. Backgrounds (:data:`BACKGROUND_KINDS`): linear gradients,
smooth colour noise, textures (stripes, checks, rings) and renders of the CC0 object models of the
data folder (a small bank of object plates rendered per build and randomly cropped / flipped / tinted).

The crop box (:func:`crop_box_from_points`): the bounding box of the 17 projected joints, extended
upward by 0.35 x the 2D Head-Thorax distance (the head top is above the Head joint), its centre, side
``margin * max(w, h)``. The training split jitters the box (scale +-10 %, shift +-5 % of the side) and
the jitter is baked into its images and labels.

Label volume (Kinauer et al. §3.2). Volume coordinates of a joint are all in crop pixels: ``u, v`` its
projection in the crop, ``w = (Z_j - Z_root) * s + crop / 2`` with
``s = sqrt(var(u) + var(v)) / sqrt(var(X) + var(Y))`` over the 17 joints: "the ratio of standard
deviations of real-world and projected coordinates is preserved in the z dimension". ``s`` is stored
as ``z_scale`` (crop px per metre). See :func:`volume_coords`.

Heatmap mode (inputs that a 2D detector can give on a real photo): detector-style 2D keypoints
(virtual markers + detector noise, exactly as lifting's ``make_inputs(keypoints="detector",
two_d="noisy")``) with confidences, the crop box from that noisy 2D, and Gaussian maps of the
keypoints (:func:`heatmap_sample`).

Cache. ``cache_root()/pose_images/<split>-<key>/``: ``labels.npz`` (small arrays), ``images.npy``
(uint8 ``(N, crop, crop, 3)``, a plain ``.npy`` so it is memory-mapped instead of read: the train split
is about 0.8 GB at crop 128) and ``meta.json`` (build time, count, bytes; written last, so a build
that died half-way is rebuilt). :func:`build_info` reads it back.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from energy3d.data.augment import MarkerConfig, detector_keypoints_2d
from energy3d.data.lifting import CameraConfig, NoiseConfig, detector_noise, pose_in_cameras
from energy3d.errors import InputError
from energy3d.skeleton import Skeleton, get_layout

__all__ = ["BACKGROUND_KINDS", "BodyConfig", "PoseImageConfig", "PoseImageSet", "body_mesh", "sample_body",
           "render_person", "crop_box_from_points", "jitter_boxes", "crop_intrinsics", "to_crop", "from_crop",
           "volume_coords", "crop_image", "make_background", "keypoint_heatmaps", "heatmap_batch",
           "detector_style_2d", "heatmap_sample", "load_pose_image_split", "build_info", "cache_dir",
           "render_sample", "object_plates", "clear_cache", "PARTS"]

BACKGROUND_KINDS = ("gradient", "noise", "texture", "objects")
SPLITS = ("train", "val", "test")
FORMAT_VERSION = 1
HEAD_TOP_EXTENSION = 0.35
"""The crop box reaches this fraction of the 2D Head-Thorax distance above the topmost joint."""

Tensor = torch.Tensor


def _check_range(name: str, r, lo: float = 0.0, hi: float = math.inf) -> None:
    if not (isinstance(r, (tuple, list)) and len(r) == 2):
        raise InputError(f"{name}: expected a (low, high) pair, got {r!r}")
    a, b = float(r[0]), float(r[1])
    if not (math.isfinite(a) and math.isfinite(b) and lo <= a <= b <= hi):
        raise InputError(f"{name}: need {lo} <= low <= high <= {hi}, got {r!r}")


@dataclass(frozen=True)
class BodyConfig:
    """Per-sample body shape and appearance ranges (uniform draws; lengths in metres).

    Attributes:
        upper_arm_radius, forearm_radius, thigh_radius, shin_radius: limb capsule radii.
        hip_half_width: half width of the pelvis part (added to the hips' own half distance).
        shoulder_pad: the chest reaches this far beyond the shoulder joints (sideways).
        torso_depth: half depth (front-back) of abdomen and chest.
        neck_radius: neck capsule radius.
        head_radius: half width of the head ellipsoid (its length spans skull base -> head top).
        hand_radius: hand ellipsoid radius (its length is 2.4 radii beyond the wrist).
        foot_length: foot length ahead of the ankle (heel 0.05 m behind it).
        sleeve_prob / shorts_prob: probability of short sleeves (skin forearms) / shorts (skin shins).
        colour_jitter: per-part independent colour jitter (std, on [0, 1] RGB).
        ambient: ambient light fraction.
        light_elevation_deg: the light comes from this far above (+) the camera's horizontal plane.
        segments: vertices around each capsule; rings: rings per capsule end (mesh resolution).
    """

    upper_arm_radius: tuple = (0.04, 0.055)
    forearm_radius: tuple = (0.03, 0.042)
    thigh_radius: tuple = (0.06, 0.085)
    shin_radius: tuple = (0.04, 0.055)
    hip_half_width: tuple = (0.04, 0.07)
    shoulder_pad: tuple = (0.02, 0.05)
    torso_depth: tuple = (0.09, 0.13)
    neck_radius: tuple = (0.04, 0.055)
    head_radius: tuple = (0.08, 0.1)
    hand_radius: tuple = (0.03, 0.04)
    foot_length: tuple = (0.16, 0.22)
    sleeve_prob: float = 0.35
    shorts_prob: float = 0.2
    colour_jitter: float = 0.04
    ambient: tuple = (0.25, 0.6)
    light_elevation_deg: tuple = (-10.0, 60.0)
    segments: int = 10
    rings: int = 3

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, (tuple, list)):
                if f.name == "light_elevation_deg":
                    _check_range(f"body.{f.name}", v, -90.0, 90.0)
                elif f.name == "ambient":
                    _check_range(f"body.{f.name}", v, 0.0, 1.0)
                else:
                    _check_range(f"body.{f.name}", v, 0.0, 1.0)
                object.__setattr__(self, f.name, tuple(float(x) for x in v))
        for n in ("sleeve_prob", "shorts_prob"):
            if not 0.0 <= getattr(self, n) <= 1.0:
                raise InputError(f"body.{n} must be in [0, 1], got {getattr(self, n)!r}")
        if not 0.0 <= self.colour_jitter <= 0.5:
            raise InputError(f"body.colour_jitter must be in [0, 0.5], got {self.colour_jitter!r}")
        if int(self.segments) < 4 or int(self.rings) < 1:
            raise InputError(f"body.segments must be >= 4 and body.rings >= 1, got {self.segments}, {self.rings}")


def _default_caps() -> dict:
    return {"train": 0, "val": 500, "test": 2000}


@dataclass(frozen=True)
class PoseImageConfig:
    """What the rendered pose images are made of (everything here goes into the cache key).

    Attributes:
        source: motion source as :attr:`energy3d.data.lifting.LiftDataConfig.source`.
        fps: subsample the 30 fps motion to this rate.
        max_poses: per split cap (``{"train": 0, "val": 500, "test": 2000}``; 0 = all) or one int for every
            split; the kept poses are evenly spaced over the split.
        crop: side of the square crop, pixels (CPU configs 128; the paper's 320 works too).
        margin: crop side over the joints' (head-extended) 2D box side.
        seed: seed of cameras, bodies, backgrounds and box jitter.
        camera: virtual cameras (elevation -15 to +20 degrees as the bundled lifter).
        body: body shape / appearance ranges.
        backgrounds: background kinds drawn uniformly (:data:`BACKGROUND_KINDS`).
        jitter_scale, jitter_shift: training box jitter (scale +-, shift +- fraction of the side).
        markers, noise: heatmap-mode detector-style keypoints and their noise.
        heatmap_size: heatmap-mode maps are ``heatmap_size^2`` over the crop.
        heatmap_sigma: Gaussian sigma in heatmap pixels.
        supersample: render at this factor and average down.
    """

    source: str = "bandai"
    fps: float = 2.0
    max_poses: dict | int = field(default_factory=_default_caps)
    crop: int = 128
    margin: float = 1.25
    seed: int = 0
    camera: CameraConfig = field(default_factory=lambda: CameraConfig(elevation_deg=(-15.0, 20.0)))
    body: BodyConfig = field(default_factory=BodyConfig)
    backgrounds: tuple = BACKGROUND_KINDS
    jitter_scale: float = 0.1
    jitter_shift: float = 0.05
    markers: MarkerConfig = field(default_factory=MarkerConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    heatmap_size: int = 64
    heatmap_sigma: float = 1.5
    supersample: int = 2

    def __post_init__(self):
        bg = (self.backgrounds,) if isinstance(self.backgrounds, str) else tuple(self.backgrounds)
        object.__setattr__(self, "backgrounds", bg)
        if not bg:
            raise InputError("pose images: backgrounds must name at least one kind")
        bad = [b for b in bg if b not in BACKGROUND_KINDS]
        if bad:
            raise InputError(f"pose images: unknown background kind {bad[0]!r} (known: {', '.join(BACKGROUND_KINDS)})")
        for name, obj, typ in (("camera", self.camera, CameraConfig), ("body", self.body, BodyConfig),
                               ("markers", self.markers, MarkerConfig), ("noise", self.noise, NoiseConfig)):
            if isinstance(obj, dict):
                object.__setattr__(self, name, typ(**obj))
            elif not isinstance(obj, typ):
                raise InputError(f"pose images: {name} must be a {typ.__name__}, got {type(obj).__name__}")
        mp = self.max_poses
        if isinstance(mp, dict):
            bad = [k for k in mp if k not in SPLITS]
            if bad:
                raise InputError(f"pose images: max_poses has unknown split {bad[0]!r} (known: train, val, test)")
            mp = {k: int(mp.get(k, 0)) for k in SPLITS}
            vals = list(mp.values())
        else:
            vals = [mp]
        if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0 for v in vals):
            raise InputError(f"pose images: max_poses must be integers >= 0, got {self.max_poses!r}")
        object.__setattr__(self, "max_poses", mp if isinstance(mp, dict) else int(mp))
        if not (isinstance(self.crop, (int, np.integer)) and 16 <= self.crop <= 1024):
            raise InputError(f"pose images: crop must be an integer in [16, 1024], got {self.crop!r}")
        if not (math.isfinite(self.margin) and 1.0 <= self.margin <= 4.0):
            raise InputError(f"pose images: margin must be in [1, 4], got {self.margin!r}")
        if not (self.fps > 0 and math.isfinite(self.fps)):
            raise InputError(f"pose images: fps must be positive, got {self.fps!r}")
        if not (0 <= self.jitter_scale < 0.5 and 0 <= self.jitter_shift < 0.5):
            raise InputError("pose images: jitter_scale and jitter_shift must be in [0, 0.5)")
        if not (isinstance(self.heatmap_size, (int, np.integer)) and 4 <= self.heatmap_size <= 1024):
            raise InputError(f"pose images: heatmap_size must be an integer in [4, 1024], got {self.heatmap_size!r}")
        if not (self.heatmap_sigma > 0 and math.isfinite(self.heatmap_sigma)):
            raise InputError(f"pose images: heatmap_sigma must be positive, got {self.heatmap_sigma!r}")
        if int(self.supersample) < 1 or int(self.supersample) > 4:
            raise InputError(f"pose images: supersample must be in 1..4, got {self.supersample!r}")

    def cap(self, split: str) -> int:
        """The ``max_poses`` cap of ``split`` (0 = all)."""
        return int(self.max_poses.get(split, 0)) if isinstance(self.max_poses, dict) else int(self.max_poses)


@dataclass
class PoseImageSet:
    """Rendered crops with their 3D truth and label volume coordinates.

    Attributes:
        images: ``(N, crop, crop, 3)`` uint8 RGB (memory-mapped from the cache), or None (built without images).
        joints_cam: ``(N, 17, 3)`` float32 metres, camera frame (x right, y down, z forward).
        joints_vol: ``(N, 17, 3)`` float32 volume coordinates ``(u, v, w)`` in crop pixels (:func:`volume_coords`).
        z_scale: ``(N,)`` float32 crop pixels per metre (the §3.2 ratio ``s``).
        points_2d: ``(N, 17, 2)`` float32 exact projections, original image pixels.
        K: ``(N, 3, 3)`` float32 original intrinsics.
        box: ``(N, 3)`` float32 crop box ``(x0, y0, size)``, original pixels (training jitter included).
        action: ``(N,)`` str action label.
        layout: ``h36m17``.
    """

    images: np.ndarray | None
    joints_cam: np.ndarray
    joints_vol: np.ndarray
    z_scale: np.ndarray
    points_2d: np.ndarray
    K: np.ndarray
    box: np.ndarray
    action: np.ndarray
    layout: Skeleton

    def __len__(self) -> int:
        return len(self.joints_cam)

    @property
    def crop(self) -> int:
        """Crop side in pixels (from the images; None when built without images)."""
        return None if self.images is None else int(self.images.shape[1])

    def subset(self, idx) -> "PoseImageSet":
        """The samples selected by ``idx`` (index array, slice or bool mask); images are copied."""
        im = None if self.images is None else np.asarray(self.images[idx])
        return PoseImageSet(im, self.joints_cam[idx], self.joints_vol[idx], self.z_scale[idx], self.points_2d[idx],
                            self.K[idx], self.box[idx], self.action[idx], self.layout)


# ----------------------------------------------------------------------------- crop geometry


def _as_points(points, name: str, last: int = 2) -> np.ndarray:
    a = points.detach().cpu().numpy() if hasattr(points, "detach") else np.asarray(points)
    if a.ndim not in (2, 3) or a.shape[-1] != last:
        raise InputError(f"{name}: expected shape (J, {last}) or (N, J, {last}), got {tuple(a.shape)}")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise InputError(f"{name}: contains NaN or inf")
    return a


def _as_box(box, n_lead: tuple) -> np.ndarray:
    b = box.detach().cpu().numpy() if hasattr(box, "detach") else np.asarray(box)
    b = b.astype(np.float64)
    if b.shape[-1:] != (3,):
        raise InputError(f"box: expected shape (3,) or (N, 3) of (x0, y0, size), got {tuple(b.shape)}")
    if not np.isfinite(b).all() or (b[..., 2] <= 0).any():
        raise InputError("box: values must be finite and the size positive")
    return b


def crop_box_from_points(points_2d, margin: float = 1.25, layout: Skeleton | str = "h36m17") -> np.ndarray:
    """Square crop box ``(x0, y0, size)`` around 2D joints (the interface's rule).

    The bounding box of the joints, its top raised by ``0.35 x |Head - Thorax|`` (2D; the head top
    sits above the ``Head`` joint), then a square of side ``margin * max(w, h)`` about its centre.

    Args:
        points_2d: ``(J, 2)`` or ``(N, J, 2)`` pixels in ``layout``.
        margin: side over the box's longer side (>= 1).
        layout: the joints' layout (needs ``Head`` / ``Thorax``, i.e. canonical ``head_top`` / ``thorax``).

    Returns:
        ``(3,)`` or ``(N, 3)`` float32.
    """
    lay = get_layout(layout) if isinstance(layout, str) else layout
    p = _as_points(points_2d, "points_2d")
    if p.shape[-2] != lay.num_joints:
        raise InputError(f"points_2d: expected {lay.num_joints} joints ({lay.name}), got {p.shape[-2]}")
    if not (math.isfinite(margin) and margin > 0):
        raise InputError(f"margin must be positive, got {margin!r}")
    ext = HEAD_TOP_EXTENSION * np.linalg.norm(p[..., lay.index("head_top"), :] - p[..., lay.index("thorax"), :], axis=-1)
    lo, hi = p.min(axis=-2), p.max(axis=-2)
    lo[..., 1] -= ext
    c = 0.5 * (lo + hi)
    side = margin * np.maximum(hi - lo, 1e-6).max(axis=-1)
    out = np.stack([c[..., 0] - side / 2, c[..., 1] - side / 2, side], axis=-1)
    return out.astype(np.float32)


def jitter_boxes(box, scale: float, shift: float, rng: np.random.Generator) -> np.ndarray:
    """Training box jitter: side times ``U(1 - scale, 1 + scale)``, centre moved by ``U(-shift, shift)``
    of the side per axis. ``box (N, 3)`` -> ``(N, 3)`` float32."""
    b = _as_box(box, ())
    n = b.shape[0]
    s = b[:, 2] * rng.uniform(1 - scale, 1 + scale, n)
    c = b[:, :2] + b[:, 2:3] / 2 + rng.uniform(-shift, shift, (n, 2)) * b[:, 2:3]
    return np.concatenate([c - s[:, None] / 2, s[:, None]], axis=1).astype(np.float32)


def crop_intrinsics(K, box, crop: int) -> np.ndarray:
    """``K_crop = S @ K`` with ``S`` mapping image pixels into the crop: ``(x - x0) * crop / size``.

    ``K (3, 3)`` or ``(N, 3, 3)``, ``box (3,)`` or ``(N, 3)`` -> same leading shape, float64.
    """
    K = np.asarray(K, dtype=np.float64)
    b = _as_box(box, ())
    s = crop / b[..., 2]
    S = np.zeros(b.shape[:-1] + (3, 3))
    S[..., 0, 0] = s
    S[..., 1, 1] = s
    S[..., 0, 2] = -b[..., 0] * s
    S[..., 1, 2] = -b[..., 1] * s
    S[..., 2, 2] = 1.0
    return S @ K


def to_crop(points_2d, box, crop: int) -> np.ndarray:
    """Image pixels -> crop pixels: ``(p - (x0, y0)) * crop / size``.

    ``points_2d (J, 2)`` with ``box (3,)``, or ``(N, J, 2)`` with ``(N, 3)``; float32 out.
    """
    p = _as_points(points_2d, "points_2d")
    b = _as_box(box, ())
    if b.ndim != p.ndim - 1 or (b.ndim == 2 and len(b) != len(p)):
        raise InputError(f"to_crop: points {p.shape} and box {b.shape} do not match ((J,2)+(3,) or (N,J,2)+(N,3))")
    return ((p - b[..., None, :2]) * (crop / b[..., None, 2:3])).astype(np.float32)


def from_crop(points_crop, box, crop: int) -> np.ndarray:
    """Crop pixels -> image pixels (inverse of :func:`to_crop`)."""
    p = _as_points(points_crop, "points_crop")
    b = _as_box(box, ())
    if b.ndim != p.ndim - 1 or (b.ndim == 2 and len(b) != len(p)):
        raise InputError(f"from_crop: points {p.shape} and box {b.shape} do not match ((J,2)+(3,) or (N,J,2)+(N,3))")
    return (p * (b[..., None, 2:3] / crop) + b[..., None, :2]).astype(np.float32)


def volume_coords(joints_cam, points_crop, crop: int, root: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Label-volume coordinates (Kinauer et al. §3.2), batched.

    ``u, v`` are the joints' crop-pixel positions; ``w = (Z_j - Z_root) * s + crop / 2`` with
    ``s = sqrt(var(u) + var(v)) / sqrt(var(X) + var(Y))`` over the joints (camera-frame X, Y in
    metres): the ratio of the standard deviations of the real-world and projected coordinates is
    preserved in the z dimension.

    Args:
        joints_cam: ``(J, 3)`` or ``(N, J, 3)`` metres, camera frame.
        points_crop: ``(J, 2)`` or ``(N, J, 2)`` crop pixels (:func:`to_crop` of their projections).
        crop: crop side in pixels (``w`` is centred on ``crop / 2``).
        root: root joint index (0, the pelvis, in ``h36m17``).

    Returns:
        ``joints_vol`` (``(..., J, 3)`` float32) and ``z_scale`` (``(...)`` float32, crop px per metre).
    """
    X = _as_points(joints_cam, "joints_cam", 3)
    p = _as_points(points_crop, "points_crop", 2)
    if X.shape[:-1] != p.shape[:-1]:
        raise InputError(f"volume_coords: joints_cam {X.shape} and points_crop {p.shape} disagree")
    sd_img = np.sqrt(p[..., 0].var(axis=-1) + p[..., 1].var(axis=-1))
    sd_world = np.sqrt(X[..., 0].var(axis=-1) + X[..., 1].var(axis=-1))
    if (sd_world <= 1e-9).any():
        raise InputError("volume_coords: a pose has all joints at one X, Y (zero spread)")
    s = sd_img / sd_world
    w = (X[..., 2] - X[..., root:root + 1, 2]) * s[..., None] + crop / 2.0
    return np.concatenate([p, w[..., None]], axis=-1).astype(np.float32), s.astype(np.float32)


def crop_image(rgb, box, crop: int, pad: str = "edge") -> np.ndarray:
    """Cut the square ``box = (x0, y0, size)`` out of an image and resize it to ``crop x crop`` (bilinear).

    For real photos (the crop a model trained here expects). Pixel centres follow the renderer's
    convention (pixel ``j`` covers ``[j, j+1)``), so crop pixel ``(i, j)`` samples image point
    ``(x0 + (j + 0.5) * size / crop, y0 + (i + 0.5) * size / crop)``; :func:`to_crop` maps points alike.
    A shrinking crop is pre-blurred by box-averaging (no aliasing).

    Args:
        rgb: ``(H, W, 3)`` uint8 or float in [0, 1].
        box: ``(3,)`` ``(x0, y0, size)`` pixels.
        crop: output side.
        pad: ``"edge"`` (replicate border pixels) or ``"grey"`` (mid grey) outside the image.

    Returns:
        ``(crop, crop, 3)`` uint8.
    """
    a = rgb.detach().cpu().numpy() if hasattr(rgb, "detach") else np.asarray(rgb)
    if a.ndim != 3 or a.shape[2] != 3 or a.shape[0] < 1 or a.shape[1] < 1:
        raise InputError(f"crop_image: expected an (H, W, 3) image, got shape {tuple(a.shape)}")
    if pad not in ("edge", "grey"):
        raise InputError(f"crop_image: pad must be 'edge' or 'grey', got {pad!r}")
    img = a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a.astype(np.float32)
    if not np.isfinite(img).all():
        raise InputError("crop_image: image contains NaN or inf")
    b = _as_box(box, ())
    if b.shape != (3,):
        raise InputError(f"crop_image: expected one box (3,), got {b.shape}")
    x0, y0, size = b
    H, W = img.shape[:2]
    step = size / crop
    k = int(step) if step >= 2 else 1
    if k > 1:  # box-average by k so bilinear sampling of a big shrink does not alias
        Hk, Wk = H // k, W // k
        if Hk >= 1 and Wk >= 1:
            img = img[:Hk * k, :Wk * k].reshape(Hk, k, Wk, k, 3).mean(axis=(1, 3))
            x0, y0, step = x0 / k, y0 / k, step / k
            H, W = Hk, Wk
    xs = x0 + (np.arange(crop) + 0.5) * step - 0.5  # continuous -> array index coordinates
    ys = y0 + (np.arange(crop) + 0.5) * step - 0.5
    out = _bilinear(img, xs, ys)
    if pad == "grey":
        outside = (ys[:, None] < -0.5) | (ys[:, None] > H - 0.5) | (xs[None] < -0.5) | (xs[None] > W - 0.5)
        out[outside] = 0.5
    return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)


def _bilinear(img: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    H, W = img.shape[:2]
    xc = np.clip(xs, 0, W - 1)
    yc = np.clip(ys, 0, H - 1)
    x0 = np.floor(xc).astype(np.int64)
    y0 = np.floor(yc).astype(np.int64)
    x1 = np.minimum(x0 + 1, W - 1)
    y1 = np.minimum(y0 + 1, H - 1)
    fx = (xc - x0)[None, :, None]
    fy = (yc - y0)[:, None, None]
    top = img[y0][:, x0] * (1 - fx) + img[y0][:, x1] * fx
    bot = img[y1][:, x0] * (1 - fx) + img[y1][:, x1] * fx
    return top * (1 - fy) + bot * fy


# ----------------------------------------------------------------------------- body mesh


def _capsule_template(segments: int, rings: int):
    """Unit template of a generalised capsule: per vertex ``(end, sin phi, cos phi, cos theta, sin theta)``."""
    th = 2 * np.pi * np.arange(segments) / segments
    rows = [(0, 0.0, 1.0)]  # pole of end a (phi = 0)
    for k in range(1, rings + 1):
        phi = 0.5 * np.pi * k / rings
        rows.append((0, np.sin(phi), np.cos(phi)))
    for k in range(rings, 0, -1):
        phi = 0.5 * np.pi * k / rings
        rows.append((1, np.sin(phi), -np.cos(phi)))
    rows.append((1, 0.0, -1.0))  # pole of end b
    verts, ring_index = [], []
    for r, (end, sp, cp) in enumerate(rows):
        if sp == 0.0:
            ring_index.append([len(verts)])
            verts.append((end, 0.0, cp, 1.0, 0.0))
        else:
            ring_index.append(list(range(len(verts), len(verts) + segments)))
            verts += [(end, sp, cp, np.cos(t), np.sin(t)) for t in th]
    faces = []
    for r in range(len(rows) - 1):
        A, B = ring_index[r], ring_index[r + 1]
        for s in range(segments):
            s1 = (s + 1) % segments
            if len(A) == 1:
                faces.append((A[0], B[s1], B[s]))
            elif len(B) == 1:
                faces.append((A[s], A[s1], B[0]))
            else:
                faces.append((A[s], A[s1], B[s1]))
                faces.append((A[s], B[s1], B[s]))
    return np.array(verts, dtype=np.float64), np.array(faces, dtype=np.int64)


_TEMPLATES: dict = {}


def _template(segments: int, rings: int):
    key = (int(segments), int(rings))
    if key not in _TEMPLATES:
        _TEMPLATES[key] = _capsule_template(*key)
    return _TEMPLATES[key]


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, 1e-9)


def _frames(d: np.ndarray, hint: np.ndarray):
    """Orthonormal ``e1, e2`` across axes ``d (P, 3)``; ``e1`` as close to ``hint (P, 3)`` as possible."""
    e1 = hint - (hint * d).sum(-1, keepdims=True) * d
    bad = np.linalg.norm(e1, axis=-1) < 1e-6
    if bad.any():
        alt = np.where(np.abs(d[bad, :1]) < 0.9, np.array([[1.0, 0, 0]]), np.array([[0, 1.0, 0]]))
        e1[bad] = alt - (alt * d[bad]).sum(-1, keepdims=True) * d[bad]
    e1 = _unit(e1)
    return e1, np.cross(d, e1)


def _capsules(a, b, rxa, rya, rxb, ryb, capa, capb, hint, segments, rings):
    """Vertices ``(P * V, 3)`` and faces of ``P`` generalised capsules (elliptic sections, own cap lengths)."""
    tv, tf = _template(segments, rings)
    d = b - a
    n = np.linalg.norm(d, axis=-1, keepdims=True)
    d = np.where(n > 1e-9, d / np.maximum(n, 1e-9), np.array([[0.0, -1.0, 0.0]]))
    e1, e2 = _frames(d, hint)
    end = tv[:, 0][None, :, None]
    sp, cp, ct, st = (tv[:, i][None, :, None] for i in (1, 2, 3, 4))
    centre = np.where(end == 0, a[:, None], b[:, None])
    rx = np.where(end == 0, rxa[:, None, None], rxb[:, None, None])
    ry = np.where(end == 0, rya[:, None, None], ryb[:, None, None])
    cap = np.where(end == 0, capa[:, None, None], capb[:, None, None])
    v = centre + sp * (ct * rx * e1[:, None] + st * ry * e2[:, None]) - cp * cap * d[:, None]
    P, V = v.shape[:2]
    f = (tf[None] + (np.arange(P) * V)[:, None, None]).reshape(-1, 3)
    return v.reshape(-1, 3), f


PARTS = ("abdomen", "chest", "neck", "head", "l_upper_arm", "l_forearm", "l_hand", "r_upper_arm", "r_forearm",
         "r_hand", "l_thigh", "l_shin", "l_foot", "r_thigh", "r_shin", "r_foot")
"""Body parts of :func:`body_mesh`, in the order of its capsules."""


def sample_body(cfg: BodyConfig, rng: np.random.Generator) -> dict:
    """Draw one body's shape and appearance: ``{"radii": {...}, "colours": (len(PARTS), 3), "ambient",
    "light_dir"}`` (see :class:`BodyConfig`)."""
    u = lambda r: float(rng.uniform(r[0], r[1]))
    shape = {n: u(getattr(cfg, n)) for n in ("upper_arm_radius", "forearm_radius", "thigh_radius", "shin_radius",
                                             "hip_half_width", "shoulder_pad", "torso_depth", "neck_radius",
                                             "head_radius", "hand_radius", "foot_length")}
    # clothes: random hue / saturation / value per garment; skin from a range of tones
    def hsv(h, s, v):
        i = int(h * 6) % 6
        f = h * 6 - int(h * 6)
        p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
        return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i])

    shirt = hsv(rng.uniform(), rng.uniform(0.0, 0.9), rng.uniform(0.2, 0.95))
    trousers = hsv(rng.uniform(), rng.uniform(0.0, 0.7), rng.uniform(0.12, 0.8))
    shoes = hsv(rng.uniform(), rng.uniform(0.0, 0.5), rng.uniform(0.05, 0.7))
    tone = rng.uniform()
    skin = np.array([0.95, 0.78, 0.66]) * (1 - tone) + np.array([0.36, 0.24, 0.17]) * tone
    skin = skin * rng.uniform(0.92, 1.05)
    hair = hsv(rng.uniform(0.03, 0.12), rng.uniform(0.2, 0.8), rng.uniform(0.05, 0.6))
    short_sleeves = rng.uniform() < cfg.sleeve_prob
    shorts = rng.uniform() < cfg.shorts_prob
    cols = {"abdomen": shirt, "chest": shirt, "neck": skin, "head": skin, "hand": skin,
            "upper_arm": shirt, "forearm": skin if short_sleeves else shirt,
            "thigh": trousers, "shin": skin if shorts else trousers, "foot": shoes}
    colours = np.stack([cols[p.split("_", 1)[1] if p[:2] in ("l_", "r_") else p] for p in PARTS])
    colours = colours + rng.normal(0.0, cfg.colour_jitter, colours.shape)  # independent per part (and side)
    el = math.radians(u(cfg.light_elevation_deg))
    az = rng.uniform(-1.2, 1.2)  # light from the camera's side of the person, left or right
    light = np.array([math.sin(az) * math.cos(el), -math.sin(el), -math.cos(az) * math.cos(el)])
    return {"shape": shape, "colours": np.clip(colours, 0.0, 1.0), "hair": np.clip(hair, 0, 1),
            "ambient": u(cfg.ambient), "light_dir": light}


def body_mesh(joints, body: dict, cfg: BodyConfig | None = None, layout: Skeleton | str = "h36m17"):
    """A body around one pose: capsules for limbs, torso, neck, head, hands and feet (:data:`PARTS`).

    Args:
        joints: ``(17, 3)`` ``h36m17`` joints, metres, any frame whose up is roughly ``-y`` or ``+y``
            (the torso axis is taken from the joints, not from the frame).
        body: a :func:`sample_body` draw.
        cfg: mesh resolution (``segments``, ``rings``).

    Returns:
        ``(vertices (V, 3), faces (F, 3), face_colours (F, 3))`` numpy arrays.
    """
    cfg = cfg or BodyConfig()
    lay = get_layout(layout) if isinstance(layout, str) else layout
    X = _as_points(joints, "joints", 3)
    if X.shape != (lay.num_joints, 3):
        raise InputError(f"joints: expected shape ({lay.num_joints}, 3), got {X.shape}")
    J = {c: X[lay.index(c)] for c in lay.canonical}
    sh = body["shape"]
    up = _unit(J["thorax"] - J["pelvis"])
    right = _unit(J["r_hip"] - J["l_hip"] + J["r_shoulder"] - J["l_shoulder"])
    fwd = _unit(np.cross(up, right))
    hip_half = 0.5 * np.linalg.norm(J["r_hip"] - J["l_hip"]) + sh["hip_half_width"]
    sho_half = 0.5 * np.linalg.norm(J["r_shoulder"] - J["l_shoulder"]) + sh["shoulder_pad"]
    depth = sh["torso_depth"]
    waist = 0.5 * (hip_half + sho_half) * 0.85
    rows = []  # (a, b, rxa, rya, rxb, ryb, capa, capb, hint)

    def add(a, b, rxa, rya, rxb, ryb, capa, capb, hint):
        rows.append((a, b, rxa, rya, rxb, ryb, capa, capb, hint))

    hip_dir = _unit(J["l_hip"] - J["r_hip"])
    sho_dir = _unit(J["l_shoulder"] - J["r_shoulder"])
    pelvis_low = J["pelvis"] - 0.04 * up
    add(pelvis_low, J["spine"], hip_half, depth, waist, depth * 0.9, 0.06, 0.05, hip_dir)
    add(J["spine"], J["thorax"] - 0.02 * up, waist, depth * 0.9, sho_half, depth, 0.05, 0.07, sho_dir)
    head_axis = _unit(J["head_top"] - J["nose"])
    head_r = sh["head_radius"]
    add(J["thorax"] - 0.03 * up, J["nose"] + 0.03 * head_axis, sh["neck_radius"], sh["neck_radius"] * 0.95,
        sh["neck_radius"], sh["neck_radius"], 0.0, 0.0, sho_dir)
    head_len = np.linalg.norm(J["head_top"] - J["nose"])
    hc = J["nose"] + head_axis * (0.45 * head_len) + 0.02 * fwd
    cap = max(0.55 * head_len, head_r)
    add(hc - 0.01 * head_axis, hc + 0.01 * head_axis, head_r * 0.88, head_r, head_r * 0.88, head_r, cap, cap * 0.95,
        sho_dir)
    for s in ("l", "r"):
        ua, fa, hr = sh["upper_arm_radius"], sh["forearm_radius"], sh["hand_radius"]
        add(J[f"{s}_shoulder"], J[f"{s}_elbow"], ua, ua, fa * 1.1, fa * 1.1, ua, fa * 1.1, fwd)
        add(J[f"{s}_elbow"], J[f"{s}_wrist"], fa * 1.05, fa * 1.05, fa * 0.85, fa * 0.8, fa, fa * 0.8, fwd)
        fdir = _unit(J[f"{s}_wrist"] - J[f"{s}_elbow"])
        add(J[f"{s}_wrist"] + fdir * hr * 0.9, J[f"{s}_wrist"] + fdir * hr * 1.6, hr * 0.95, hr * 0.55, hr, hr * 0.5,
            hr * 1.1, hr * 1.1, fwd)
    for s in ("l", "r"):
        th, sr = sh["thigh_radius"], sh["shin_radius"]
        hip, knee, ank = J[f"{s}_hip"], J[f"{s}_knee"], J[f"{s}_ankle"]
        add(hip, knee, th, th, sr * 1.1, sr * 1.1, th * 0.8, sr * 1.1, fwd)
        add(knee, ank, sr * 1.05, sr * 1.05, sr * 0.7, sr * 0.7, sr, sr * 0.7, fwd)
        shin = _unit(ank - knee)
        ffwd = _unit(fwd - (fwd * shin).sum() * shin)
        fl = sh["foot_length"]
        base = ank + 0.045 * shin
        add(base - 0.05 * ffwd, base + fl * ffwd, 0.045, 0.035, 0.045, 0.03, 0.04, 0.04, np.cross(shin, ffwd))
    cols = np.asarray(body["colours"])
    a, b, rxa, rya, rxb, ryb, capa, capb, hint = (np.array(c, dtype=np.float64) for c in zip(*rows))
    v, f = _capsules(a, b, rxa, rya, rxb, ryb, capa, capb, hint, int(cfg.segments), int(cfg.rings))
    per = len(f) // len(rows)
    fc = np.repeat(cols, per, axis=0)
    # hair: the upper half of the head capsule's faces
    hv = v[f[PARTS.index("head") * per:(PARTS.index("head") + 1) * per]].mean(axis=1)
    top = ((hv - hc) @ head_axis) > 0.25 * head_r
    back = ((hv - hc) @ fwd) < 0.3 * head_r
    hair = np.asarray(body.get("hair", cols[PARTS.index("head")]))
    fc[PARTS.index("head") * per:(PARTS.index("head") + 1) * per][top & back] = hair
    return v, f, fc


def render_person(joints_cam, K_crop, crop: int, body_params: dict, rng: np.random.Generator | None = None,
                  *, supersample: int = 2, cfg: BodyConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Render the body of a camera-frame pose straight into a ``crop x crop`` image.

    Args:
        joints_cam: ``(17, 3)`` ``h36m17`` metres, camera frame.
        K_crop: ``(3, 3)`` crop intrinsics (:func:`crop_intrinsics`).
        crop: output side (pixels).
        body_params: a :func:`sample_body` draw (shape, colours, light).
        rng: unused (every random draw is in ``body_params``, :func:`sample_body`); kept for the interface.
        supersample: sub-samples per pixel side (coverage is averaged: soft edges).

    Returns:
        ``rgb (crop, crop, 3)`` float32 in [0, 1], premultiplied by coverage (black where empty) and
        ``alpha (crop, crop)`` float32 coverage in [0, 1]; ``alpha >= 0.5`` is the body mask.
    """
    from energy3d.geometry.render import rasterize

    X = _as_points(joints_cam, "joints_cam", 3)
    if X.shape != (17, 3):
        raise InputError(f"joints_cam: expected shape (17, 3), got {X.shape}")
    if (X[:, 2] <= 0.05).any():
        raise InputError("joints_cam: every joint must be in front of the camera (z > 0.05 m)")
    Kc = np.asarray(K_crop, dtype=np.float64)
    if Kc.shape != (3, 3) or not np.isfinite(Kc).all():
        raise InputError(f"K_crop: expected a finite (3, 3) matrix, got shape {Kc.shape}")
    v, f, fc = body_mesh(X, body_params, cfg)
    s = int(supersample)
    Ks = Kc.copy()
    Ks[:2] *= s
    tri = v[f]
    face_id, _ = rasterize(tri, Ks, crop * s, crop * s, near=0.05)
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n = _unit(n)
    n = np.where(((n * tri.mean(axis=1)).sum(-1) < 0)[:, None], n, -n)
    light = _unit(np.asarray(body_params["light_dir"], dtype=np.float64))
    amb = float(body_params["ambient"])
    col = np.clip(fc * (amb + (1 - amb) * np.clip(n @ light, 0, None))[:, None], 0, 1)
    hit = face_id >= 0
    img = np.zeros((crop * s, crop * s, 3))
    img[hit] = col[face_id[hit]]
    rgb = img.reshape(crop, s, crop, s, 3).mean(axis=(1, 3))
    alpha = hit.reshape(crop, s, crop, s).mean(axis=(1, 3))
    return rgb.astype(np.float32), alpha.astype(np.float32)


# ----------------------------------------------------------------------------- backgrounds


def _random_colour(rng):
    return rng.uniform(0.05, 0.95, 3) * rng.uniform(0.5, 1.0) + rng.uniform(0, 0.2)


def _smooth_noise(rng, size: int, cells: int) -> np.ndarray:
    g = rng.uniform(0, 1, (cells + 1, cells + 1, 3))
    xs = np.linspace(0, cells, size)
    return _bilinear(g.astype(np.float32), xs, xs)


def make_background(kind: str, size: int, rng: np.random.Generator, plates: list | None = None) -> np.ndarray:
    """A ``(size, size, 3)`` float32 background in [0, 1] of one :data:`BACKGROUND_KINDS` kind.

    ``"objects"`` needs ``plates`` (object renders, :func:`object_plates`); without them it falls back
    to ``"texture"``.
    """
    if kind not in BACKGROUND_KINDS:
        raise InputError(f"unknown background kind {kind!r} (known: {', '.join(BACKGROUND_KINDS)})")
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    if kind == "objects" and plates:
        p = plates[int(rng.integers(len(plates)))]
        P = p.shape[0]
        side = int(rng.integers(size, max(size + 1, P)))
        side = min(side, P)
        y0, x0 = (int(rng.integers(0, P - side + 1)) for _ in range(2))
        img = _bilinear(p[y0:y0 + side, x0:x0 + side], np.linspace(0, side - 1, size), np.linspace(0, side - 1, size))
        if rng.uniform() < 0.5:
            img = img[:, ::-1]
        img = img * rng.uniform(0.7, 1.2, 3)[None, None]
        return np.clip(img, 0, 1).astype(np.float32)
    if kind == "gradient" or kind == "objects":
        if kind == "objects":
            kind = "texture"
        else:
            a, b = _random_colour(rng), _random_colour(rng)
            ang = rng.uniform(0, 2 * np.pi)
            t = (np.cos(ang) * (xx - 0.5) + np.sin(ang) * (yy - 0.5)) * rng.uniform(0.8, 2.0) + 0.5
            t = np.clip(t, 0, 1)[..., None]
            img = a * (1 - t) + b * t
            if rng.uniform() < 0.5:  # a floor: a second gradient below a horizon line
                hz = rng.uniform(0.3, 0.8)
                c = _random_colour(rng)
                fl = (yy > hz + 0.1 * (xx - 0.5) * rng.uniform(-1, 1))[..., None]
                img = np.where(fl, c * (0.6 + 0.4 * yy[..., None]), img)
            return np.clip(img, 0, 1).astype(np.float32)
    if kind == "noise":
        img = _smooth_noise(rng, size, int(rng.integers(2, 12)))
        img = img * rng.uniform(0.4, 1.0) + _random_colour(rng) * rng.uniform(0, 0.5)
        img = img + rng.normal(0, rng.uniform(0.0, 0.06), img.shape)
        return np.clip(img, 0, 1).astype(np.float32)
    # texture: stripes, checks or rings with random frequency and orientation
    a, b = _random_colour(rng), _random_colour(rng)
    ang = rng.uniform(0, np.pi)
    freq = rng.uniform(3, 20)
    u = np.cos(ang) * xx + np.sin(ang) * yy
    w = -np.sin(ang) * xx + np.cos(ang) * yy
    pattern = int(rng.integers(3))
    if pattern == 0:
        t = 0.5 + 0.5 * np.sin(2 * np.pi * freq * u)
    elif pattern == 1:
        t = ((np.floor(freq * u) + np.floor(freq * w)) % 2).astype(np.float32)
    else:
        cx, cy = rng.uniform(0, 1, 2)
        t = 0.5 + 0.5 * np.sin(2 * np.pi * freq * np.hypot(xx - cx, yy - cy))
    t = t[..., None]
    img = a * (1 - t) + b * t
    img = img * (0.75 + 0.5 * _smooth_noise(rng, size, 3).mean(-1, keepdims=True))
    return np.clip(img, 0, 1).astype(np.float32)


def object_plates(n: int, size: int, seed: int, per_plate: tuple = (2, 5)) -> list:
    """``n`` background plates ``(size, size, 3)`` float32 rendering CC0 object models (data folder's
    ``objects_cc0``) at random places in front of a random backdrop. Empty list when the folder is absent."""
    from energy3d.data.mesh_io import read_obj
    from energy3d.data.shapes import normalize_model, objects_dir, read_index
    from energy3d.geometry.mesh import transform_mesh
    from energy3d.geometry.render import render
    from energy3d.paths import data_root

    root = data_root(required=False)
    if root is None or not (root / "objects_cc0" / "INDEX.tsv").is_file():
        return []
    entries = read_index(root)
    folder = objects_dir(root)
    rng = np.random.default_rng([seed, 7321])
    chosen = rng.choice(len(entries), size=min(len(entries), max(4, n)), replace=False)
    meshes = []
    for i in chosen:
        e = entries[int(i)]
        try:
            meshes.append(normalize_model(read_obj(e.obj_path(folder)), e.pack, e.name))
        except (InputError, OSError, ValueError):
            continue
    if not meshes:
        return []
    f = size * rng.uniform(0.8, 1.4)
    K = np.array([[f, 0, size / 2], [0, f, size / 2], [0, 0, 1.0]])
    plates = []
    for _ in range(n):
        bg = make_background(str(rng.choice(["gradient", "noise", "texture"])), size, rng)
        img = bg.astype(np.float64)
        items = []
        for _ in range(int(rng.integers(per_plate[0], per_plate[1] + 1))):
            m = meshes[int(rng.integers(len(meshes)))]
            ang = rng.uniform(0, 2 * np.pi)
            R = np.array([[np.cos(ang), 0, np.sin(ang)], [0, 1, 0], [-np.sin(ang), 0, np.cos(ang)]])
            R = np.array([[1, 0, 0], [0, np.cos(0.3), -np.sin(0.3)], [0, np.sin(0.3), np.cos(0.3)]]) @ R
            R = np.diag([1.0, -1.0, 1.0]) @ R  # Y up world -> y down camera
            z = rng.uniform(2.0, 4.5)
            t = np.array([rng.uniform(-0.5, 0.5) * z * size / f, rng.uniform(-0.3, 0.4) * z * size / f, z])
            items.append((transform_mesh(m, R, t, scale=rng.uniform(0.8, 1.8)), z))
        for m, _ in sorted(items, key=lambda x: -x[1]):
            if m.face_colors is not None:
                m.face_colors = np.clip(m.face_colors * rng.uniform(0.6, 1.3, 3), 0, 1)
            rgb, mask, _ = render(m, K, np.eye(3), np.zeros(3), size, size, background=(0, 0, 0),
                                  light_dir=(rng.uniform(-0.6, 0.6), -0.6, -0.7), ambient=rng.uniform(0.3, 0.6))
            img = np.where(mask[..., None], rgb, img)
        plates.append(img.astype(np.float32))
    return plates


# ----------------------------------------------------------------------------- heatmap mode


def keypoint_heatmaps(points_hm, confidence, size: int, sigma: float) -> Tensor:
    """Gaussian keypoint maps: ``conf * exp(-|x - p|^2 / (2 sigma^2))`` at heatmap pixel centres ``(j + 0.5)``.

    Args:
        points_hm: ``(B, J, 2)`` keypoints in heatmap pixels (continuous; pixel ``j`` covers ``[j, j+1)``).
        confidence: ``(B, J)`` in [0, 1]; 0 gives an empty map.
        size: map side; sigma: Gaussian sigma (heatmap pixels).

    Returns:
        ``(B, J, size, size)`` float32 tensor; a keypoint on a pixel centre peaks there at its confidence.
    """
    p = torch.as_tensor(points_hm, dtype=torch.float32)
    c = torch.as_tensor(confidence, dtype=torch.float32)
    if p.dim() != 3 or p.shape[-1] != 2:
        raise InputError(f"points_hm: expected shape (B, J, 2), got {tuple(p.shape)}")
    if c.shape != p.shape[:2]:
        raise InputError(f"confidence: expected shape {tuple(p.shape[:2])}, got {tuple(c.shape)}")
    if not (torch.isfinite(p).all() and torch.isfinite(c).all()):
        raise InputError("keypoint_heatmaps: points or confidences contain NaN or inf")
    if not (sigma > 0):
        raise InputError(f"sigma must be positive, got {sigma!r}")
    g = torch.arange(int(size), dtype=torch.float32) + 0.5
    ex = torch.exp(-((g[None, None] - p[..., 0:1]) ** 2) / (2 * sigma * sigma))  # (B, J, S) along x
    ey = torch.exp(-((g[None, None] - p[..., 1:2]) ** 2) / (2 * sigma * sigma))
    return (c.clamp(0, 1)[..., None, None] * ey[..., :, None] * ex[..., None, :]).contiguous()


def heatmap_batch(points_2d_img, confidence, box, cfg: PoseImageConfig) -> Tensor:
    """Heatmap-mode network input ``(B, J, S, S)`` (``S = cfg.heatmap_size``) from image-pixel keypoints
    ``(B, J, 2)``, their confidences ``(B, J)`` and the crop boxes ``(B, 3)``."""
    pc = to_crop(points_2d_img, box, cfg.crop)
    if pc.ndim != 3:
        raise InputError(f"heatmap_batch: expected batched points (B, J, 2), got {pc.shape}")
    return keypoint_heatmaps(pc * (cfg.heatmap_size / cfg.crop), confidence, cfg.heatmap_size, cfg.heatmap_sigma)


def detector_style_2d(ds: PoseImageSet, idx, generator: torch.Generator, cfg: PoseImageConfig):
    """Detector-style 2D keypoints of samples ``idx`` with confidences.

    The keypoints are exactly lifting's ``make_inputs(keypoints="detector", two_d="noisy")``: virtual
    markers (:func:`energy3d.data.augment.detector_keypoints_2d`) then detector noise
    (:func:`energy3d.data.lifting.detector_noise`), drawn from ``generator`` in that order. Confidence:
    ``U(0.6, 1)`` for a keypoint within ``3 sigma_px`` of its noise-free marker, scaled by
    ``3 sigma_px / distance`` beyond (outliers, swaps and dropped-then-imputed joints get low confidence),
    never below 0.05.

    Returns:
        ``points_2d (B, J, 2)`` float32 image pixels, ``confidence (B, J)`` float32 (torch).
    """
    idx = np.atleast_1d(np.asarray(idx, dtype=np.int64))
    y = torch.as_tensor(np.asarray(ds.joints_cam[idx]), dtype=torch.float32)
    K = torch.as_tensor(np.asarray(ds.K[idx]), dtype=torch.float32)
    clean = detector_keypoints_2d(y, K, cfg.markers, generator)
    noisy = detector_noise(clean, ds.layout, cfg.noise, generator)
    base = 0.6 + 0.4 * torch.rand(noisy.shape[:2], generator=generator)
    d = (noisy - clean).norm(dim=-1)
    tol = 3.0 * max(cfg.noise.sigma_px, 1e-3)
    conf = base * torch.clamp(tol / d.clamp_min(1e-6), max=1.0)
    return noisy.float(), conf.clamp(0.05, 1.0).float()


def heatmap_sample(ds: PoseImageSet, idx, generator: torch.Generator, cfg: PoseImageConfig):
    """Heatmap-mode training / evaluation sample, as on a photo: detector-style 2D with confidences
    (:func:`detector_style_2d`), the crop box from that noisy 2D (:func:`crop_box_from_points`), the maps
    (:func:`heatmap_batch`) and the labels recomputed for that box (:func:`volume_coords` of the exact
    projections).

    Returns:
        ``x (B, 17, S, S)``, ``joints_vol (B, 17, 3)``, ``z_scale (B,)``, ``box (B, 3)`` float32 tensors.
    """
    idx = np.atleast_1d(np.asarray(idx, dtype=np.int64))
    p, conf = detector_style_2d(ds, idx, generator, cfg)
    box = crop_box_from_points(p.numpy(), cfg.margin, ds.layout)
    x = heatmap_batch(p, conf, box, cfg)
    pc = to_crop(np.asarray(ds.points_2d[idx]), box, cfg.crop)
    vol, s = volume_coords(np.asarray(ds.joints_cam[idx]), pc, cfg.crop)
    return x, torch.from_numpy(vol), torch.from_numpy(s), torch.from_numpy(box)


# ----------------------------------------------------------------------------- building and cache


def _cache_key(cfg: PoseImageConfig, split: str) -> str:
    d = asdict(cfg)
    d["max_poses"] = cfg.cap(split)
    blob = json.dumps({"cfg": d, "split": split, "v": FORMAT_VERSION}, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def cache_dir(cfg: PoseImageConfig, split: str) -> Path:
    """The cache folder of a config's split: ``cache_root()/pose_images/<split>-<key>``."""
    from energy3d.paths import cache_root

    return cache_root() / "pose_images" / f"{split}-{_cache_key(cfg, split)}"


def build_info(cfg: PoseImageConfig, split: str) -> dict | None:
    """The build record of a cached split (``seconds``, ``count``, ``bytes``, ``ms_per_image``, ...), or None."""
    p = cache_dir(cfg, split) / "meta.json"
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def _split_labels(cfg: PoseImageConfig, split: str) -> dict:
    """Cameras, boxes and labels of a split (no images): deterministic for the config."""
    from energy3d.data.lifting import load_source

    motion = load_source(cfg.source, split, cfg.fps)
    joints = np.asarray(motion.joints, dtype=np.float32)
    actions = np.asarray(motion.actions()).astype(str)
    n_all = len(joints)
    if n_all == 0:
        raise InputError(f"pose images: the {split} split of {cfg.source!r} has no poses")
    sid = SPLITS.index(split) + 1
    g = torch.Generator().manual_seed(cfg.seed * 1000 + 500 + sid)
    Xc, p, K = pose_in_cameras(joints, cfg.camera, g)  # every pose of the split: caps keep their cameras
    cap = cfg.cap(split)
    keep = np.arange(n_all) if not cap or cap >= n_all else np.linspace(0, n_all - 1, cap).round().astype(np.int64)
    Xc, p, K, actions = Xc[keep], p[keep], K[keep], actions[keep]
    lay = get_layout("h36m17")
    box = crop_box_from_points(p, cfg.margin, lay)
    if split == "train" and (cfg.jitter_scale or cfg.jitter_shift):
        rng = np.random.default_rng([cfg.seed, sid, 99])
        box = jitter_boxes(box, cfg.jitter_scale, cfg.jitter_shift, rng)
    vol, s = volume_coords(Xc, to_crop(p, box, cfg.crop), cfg.crop)
    return {"joints_cam": Xc.astype(np.float32), "joints_vol": vol, "z_scale": s, "points_2d": p.astype(np.float32),
            "K": K.astype(np.float32), "box": box, "action": actions, "index": keep.astype(np.int64)}


def render_sample(joints_cam, K, box, cfg: PoseImageConfig, rng: np.random.Generator, plates: list | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """One composited crop: body (:func:`render_person`) over a random background.

    Returns ``image (crop, crop, 3)`` uint8 and ``mask (crop, crop)`` bool (body coverage >= 0.5).
    """
    body = sample_body(cfg.body, rng)
    Kc = crop_intrinsics(K, box, cfg.crop)
    rgb, alpha = render_person(joints_cam, Kc, cfg.crop, body, supersample=cfg.supersample, cfg=cfg.body)
    kind = cfg.backgrounds[int(rng.integers(len(cfg.backgrounds)))]
    bg = make_background(kind, cfg.crop, rng, plates)
    img = rgb + (1.0 - alpha[..., None]) * bg
    img = img * rng.uniform(0.85, 1.15) + rng.uniform(-0.05, 0.05)  # exposure
    img = img + rng.normal(0, rng.uniform(0, 0.02), img.shape)  # sensor noise
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8), alpha >= 0.5


def load_pose_image_split(cfg: PoseImageConfig, split: str, *, images: bool = True, cache: bool = True,
                          progress: bool = True) -> PoseImageSet:
    """The rendered pose images of a split (``train`` | ``val`` | ``test``), built once and cached.

    Same split by clip as the lifting data (:func:`energy3d.data.lifting.load_source`); ``cfg.fps``
    subsamples the motion and ``cfg.cap(split)`` keeps evenly spaced poses. Everything is drawn from
    seeds of ``cfg.seed`` and the split (each sample's body and background from its own seed), so the
    same config gives the same arrays. ``images=False`` skips rendering (heatmap mode): the labels are
    the same. The cache folder (:func:`cache_dir`) holds ``labels.npz``, ``images.npy`` (memory-mapped
    on load) and ``meta.json`` with the build time and size (:func:`build_info`); a corrupt or
    incomplete cache is rebuilt.
    """
    if split not in SPLITS:
        raise InputError(f"split must be train, val or test, got {split!r}")
    if not isinstance(cfg, PoseImageConfig):
        raise InputError(f"expected a PoseImageConfig, got {type(cfg).__name__}")
    lay = get_layout("h36m17")
    folder = cache_dir(cfg, split)
    labels = None
    if cache:
        labels = _read_labels(folder)
        if labels is not None and images:
            im = _read_images(folder, len(labels["joints_cam"]), cfg.crop)
            if im is not None:
                return _make_set(im, labels, lay)
    t0 = time.perf_counter()
    if labels is None:
        labels = _split_labels(cfg, split)
    if not images:
        if cache:
            _write_labels(folder, labels)
        return _make_set(None, labels, lay)
    n = len(labels["joints_cam"])
    if cache:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "meta.json").unlink(missing_ok=True)
        tmp = folder / "images.tmp.npy"
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, cfg.crop, cfg.crop, 3))
    else:
        out = np.empty((n, cfg.crop, cfg.crop, 3), dtype=np.uint8)
    t_plates = time.perf_counter()
    plates = object_plates(24, int(cfg.crop * 1.5), cfg.seed) if "objects" in cfg.backgrounds else []
    t_plates = time.perf_counter() - t_plates
    sid = SPLITS.index(split) + 1
    t_r = time.perf_counter()
    from energy3d.train.loop import progress_bar

    with progress_bar(progress, f"rendering {split} pose images", n, unit="images") as advance:
        for i in range(n):
            rng = np.random.default_rng([cfg.seed, sid, int(labels["index"][i])])
            out[i], _ = render_sample(labels["joints_cam"][i], labels["K"][i], labels["box"][i], cfg, rng, plates)
            advance(1)
    t_r = time.perf_counter() - t_r
    if not cache:
        return _make_set(out, labels, lay)
    out.flush()
    del out
    tmp.replace(folder / "images.npy")
    _write_labels(folder, labels)
    nbytes = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
    meta = {"split": split, "count": n, "crop": cfg.crop, "seconds": round(time.perf_counter() - t0, 3),
            "render_seconds": round(t_r, 3), "object_plates_seconds": round(t_plates, 3),
            "ms_per_image": round(1000 * t_r / max(n, 1), 3), "bytes": int(nbytes),
            "object_plates": len(plates), "objects_note": ("" if plates or "objects" not in cfg.backgrounds
                                                           else "objects_cc0 absent: object backgrounds skipped"),
            "key": folder.name, "config": asdict(cfg), "version": FORMAT_VERSION, "complete": True}
    (folder / "meta.json").write_text(json.dumps(meta, indent=1, default=str))
    im = _read_images(folder, n, cfg.crop)
    return _make_set(im, labels, lay)


_LABEL_KEYS = ("joints_cam", "joints_vol", "z_scale", "points_2d", "K", "box", "action", "index")


def _make_set(images, labels: dict, layout: Skeleton) -> PoseImageSet:
    return PoseImageSet(images, labels["joints_cam"], labels["joints_vol"], labels["z_scale"], labels["points_2d"],
                        labels["K"], labels["box"], labels["action"], layout)


def _read_labels(folder: Path) -> dict | None:
    p = folder / "labels.npz"
    if not p.is_file():
        return None
    try:
        with np.load(p, allow_pickle=False) as d:
            out = {k: d[k] for k in _LABEL_KEYS}
        n = len(out["joints_cam"])
        shapes_ok = (out["joints_cam"].shape == (n, 17, 3) and out["joints_vol"].shape == (n, 17, 3)
                     and out["z_scale"].shape == (n,) and out["points_2d"].shape == (n, 17, 2)
                     and out["K"].shape == (n, 3, 3) and out["box"].shape == (n, 3) and out["action"].shape == (n,))
        return out if shapes_ok and n > 0 else None
    except Exception:  # noqa: BLE001 - any unreadable or truncated file (zip, pickle, npy errors): rebuild
        return None


def _write_labels(folder: Path, labels: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "labels.tmp.npz"
    np.savez(tmp, **{k: labels[k] for k in _LABEL_KEYS})
    tmp.replace(folder / "labels.npz")


def _read_images(folder: Path, n: int, crop: int):
    meta = folder / "meta.json"
    try:
        if not json.loads(meta.read_text()).get("complete"):
            return None
        im = np.load(folder / "images.npy", mmap_mode="r")
    except (OSError, ValueError, EOFError):
        return None
    if im.shape != (n, crop, crop, 3) or im.dtype != np.uint8:
        return None
    return im


def clear_cache(cfg: PoseImageConfig, split: str) -> None:
    """Delete the cache folder of a config's split."""
    shutil.rmtree(cache_dir(cfg, split), ignore_errors=True)
