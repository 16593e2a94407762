"""Lifting keypoint sequences (videos) to smooth 3D motion, and a gravity-aligned frame for it.

:func:`lift_sequence` turns one person's 2D keypoints over time into camera-frame 3D joints:

1. joints seen (confidence above ``min_confidence``) but far from their own position in the
   neighbouring frames are dropped (:func:`energy3d.data.temporal.temporal_outliers`: a detector's
   outliers and left/right swaps);
2. missing and dropped joints are filled in time, by linear interpolation between the nearest frames
   that saw them, within ``max_gap`` frames (:func:`energy3d.data.temporal.fill_gaps`); what time
   cannot fill is imputed from the kinematic tree as ``energy3d lift`` does
   (:func:`energy3d.data.keypoints.impute_missing`);
3. optionally the 2D is smoothed (One Euro filter on normalised coordinates ``(p - c) / f``);
4. every frame is lifted (:func:`energy3d.tasks.lift.lift_keypoints`: centring rotation, adult size);
5. the 3D is smoothed with the One Euro filter (Casiez et al., CHI 2012, see
   :func:`energy3d.data.temporal.one_euro`): the root-relative joints and the root trajectory, each
   run forwards and backwards and averaged (``two_sided``), so fast motion is not delayed.

The default parameters (:data:`DEFAULT_SEQUENCE`) were chosen on the Bandai validation split seen by
moving virtual cameras with the detector-noise model (``benchmarks/bench_sequence.py``, which reports
the grid and the test numbers; a rerun with detector-style 2D preferred a smoother root filter, kept
out of the defaults because its cameras follow the person).

:func:`gravity_frame` (from :mod:`energy3d.data.gravity`) rotates the result into a world frame
with +Y up and the person facing +Z at frame 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from energy3d.data.gravity import GravityInfo, camera_pitch_roll, estimate_up, gravity_frame
from energy3d.data.keypoints import impute_missing
from energy3d.data.temporal import OneEuroConfig, fill_gaps, one_euro, temporal_outliers
from energy3d.errors import InputError
from energy3d.geometry.camera import to_normalized
from energy3d.skeleton import Skeleton, get_layout

__all__ = ["SequenceConfig", "SequenceInfo", "DEFAULT_SEQUENCE", "CAUSAL_SEQUENCE", "NO_SMOOTHING", "lift_sequence", "prepare_keypoints",
           "smooth_poses", "gravity_frame", "GravityInfo", "estimate_up", "camera_pitch_roll", "OneEuroConfig", "one_euro", "fill_gaps",
           "temporal_outliers"]


@dataclass(frozen=True)
class SequenceConfig:
    """How :func:`lift_sequence` treats time.

    Attributes:
        max_gap: longest run of frames a missing joint is interpolated over (0: none, tree imputation only).
        min_confidence: joints at or below this confidence are missing.
        outlier_window: frames on each side of the median of :func:`temporal_outliers` (0: no outlier test).
        outlier_threshold: distance from that median, as a fraction of the person's 2D size, that
            makes a joint an outlier.
        smooth_2d: One Euro filter of the normalised 2D ``(p - c) / f`` before lifting (``None``: off);
            ``beta`` per (normalised unit / s).
        smooth_3d: One Euro filter of the root-relative 3D joints (metres; ``beta`` per m/s), ``None``: off.
        smooth_root: One Euro filter of the root's camera-frame trajectory (metres), ``None``: off.
    """

    max_gap: int = 10
    min_confidence: float = 0.0
    outlier_window: int = 2
    outlier_threshold: float = 0.05
    smooth_2d: OneEuroConfig | None = None
    smooth_3d: OneEuroConfig | None = field(default_factory=lambda: OneEuroConfig(0.5, 3.0, 1.0, two_sided=True))
    smooth_root: OneEuroConfig | None = field(default_factory=lambda: OneEuroConfig(0.5, 0.0, 1.0, two_sided=True))

    def __post_init__(self):
        if isinstance(self.max_gap, bool) or not float(self.max_gap).is_integer() or self.max_gap < 0:
            raise InputError(f"SequenceConfig.max_gap must be an integer >= 0, got {self.max_gap!r}")
        if isinstance(self.outlier_window, bool) or not float(self.outlier_window).is_integer() or self.outlier_window < 0:
            raise InputError(f"SequenceConfig.outlier_window must be an integer >= 0, got {self.outlier_window!r}")
        if not (np.isfinite(self.outlier_threshold) and self.outlier_threshold > 0):
            raise InputError(f"SequenceConfig.outlier_threshold must be > 0, got {self.outlier_threshold!r}")
        for name in ("smooth_2d", "smooth_3d", "smooth_root"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, OneEuroConfig):
                raise InputError(f"SequenceConfig.{name} must be a OneEuroConfig or None, got {type(v).__name__}")


DEFAULT_SEQUENCE = SequenceConfig()
"""The defaults of :func:`lift_sequence`: offline (two-sided) filters chosen on validation (module docstring)."""
CAUSAL_SEQUENCE = SequenceConfig(smooth_3d=OneEuroConfig(4.0, 10.0, 1.0), smooth_root=OneEuroConfig(1.0, 0.0, 1.0))
"""Causal filters (each frame uses only the past: for live use; the gap filling and the outlier test
still look ``max_gap`` / ``outlier_window`` frames ahead), chosen on validation like the defaults."""
NO_SMOOTHING = SequenceConfig(smooth_2d=None, smooth_3d=None, smooth_root=None)
"""Gap filling and outlier refill, no filtering."""


@dataclass
class SequenceInfo:
    """What :func:`lift_sequence` did to the keypoints, per frame and joint (``(T, J)`` bool each).

    Attributes:
        outliers: seen joints dropped as temporal outliers.
        filled: joints filled by interpolation in time.
        imputed: joints imputed from the kinematic tree (time could not fill them).
        points_2d: ``(T, J, 2)`` the keypoints that were lifted (pixels; before any 2D smoothing).
    """

    outliers: np.ndarray
    filled: np.ndarray
    imputed: np.ndarray
    points_2d: np.ndarray


def _to_numpy(x, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"lift_sequence: {name}: expected a numeric array, got {type(x).__name__}") from None


def _check_fps(fps) -> float:
    try:
        f = float(fps)
    except (TypeError, ValueError):
        raise InputError(f"fps must be a positive number, got {fps!r}") from None
    if not (np.isfinite(f) and f > 0):
        raise InputError(f"fps must be positive and finite, got {fps!r}")
    return f


def _intrinsics(K, T: int) -> np.ndarray:
    K = _to_numpy(K, "K")
    if K.shape == (3, 3):
        K = np.broadcast_to(K, (T, 3, 3))
    if K.shape != (T, 3, 3):
        raise InputError(f"lift_sequence: K: expected shape (3, 3) or ({T}, 3, 3), got {K.shape}")
    if not np.isfinite(K).all() or (K[:, 0, 0] <= 0).any() or (K[:, 1, 1] <= 0).any():
        raise InputError("lift_sequence: K: intrinsics must be finite with positive focal lengths")
    return np.ascontiguousarray(K)


def prepare_keypoints(points, confidence, layout: Skeleton | str, cfg: SequenceConfig = DEFAULT_SEQUENCE):
    """Steps 1-2 of :func:`lift_sequence`: temporal outliers dropped, gaps filled in time, the rest imputed.

    Args:
        points: ``(T, J, 2)`` keypoints in pixels (missing joints may hold anything, NaN included).
        confidence: ``(T, J)`` or ``None`` (every joint seen).
        layout: the keypoints' layout.
        cfg: the settings used (``max_gap``, ``min_confidence``, ``outlier_window``, ``outlier_threshold``).

    Returns:
        ``(points (T, J, 2) float64, SequenceInfo)``.

    Raises:
        InputError: bad shapes, a seen joint that is not finite, or a frame with fewer than half of the
            joints seen or filled (the message names the frame).
    """
    layout = get_layout(layout)
    pts = _to_numpy(points, "points")
    if pts.ndim != 3 or pts.shape[1:] != (layout.num_joints, 2) or pts.shape[0] == 0:
        raise InputError(f"lift_sequence: points: expected shape (T, {layout.num_joints}, 2) with T >= 1 for layout "
                         f"{layout.name}, got {pts.shape}")
    conf = np.ones(pts.shape[:2]) if confidence is None else _to_numpy(confidence, "confidence")
    if conf.shape != pts.shape[:2]:
        raise InputError(f"lift_sequence: confidence: expected shape {pts.shape[:2]} (T, J), got {conf.shape}")
    if not np.isfinite(conf).all():
        raise InputError("lift_sequence: confidence: non-finite values (NaN or inf)")
    seen = conf > cfg.min_confidence
    bad = seen & ~np.isfinite(pts).all(-1)
    if bad.any():
        t, j = np.argwhere(bad)[0]
        raise InputError(f"lift_sequence: points: {int(bad.sum())} detected joints are not finite (first: frame {t}, "
                         f"{layout.joints[j]}); give missing joints confidence 0")
    if cfg.outlier_window > 0 and len(pts) > 2:
        outliers = temporal_outliers(pts, conf, cfg.outlier_window, cfg.outlier_threshold,
                                     min_confidence=cfg.min_confidence)
    else:
        outliers = np.zeros(seen.shape, dtype=bool)
    seen = seen & ~outliers
    filled_pts, filled = fill_gaps(pts, seen.astype(np.float64), cfg.max_gap, min_confidence=0.0)
    have = seen | filled
    imputed = np.zeros(seen.shape, dtype=bool)
    out = filled_pts
    rows = np.flatnonzero(~have.all(1))
    if len(rows):
        sub, imp = impute_missing(np.nan_to_num(filled_pts[rows]), have[rows].astype(np.float64), layout,
                                  names=[f"frame {t}" for t in rows])
        out = filled_pts.copy()
        out[rows] = sub
        imputed[rows] = imp
    return out, SequenceInfo(outliers=outliers, filled=filled & ~seen, imputed=imputed, points_2d=out)


def smooth_poses(poses, fps: float, layout: Skeleton | str, cfg: SequenceConfig = DEFAULT_SEQUENCE) -> np.ndarray:
    """Step 5 of :func:`lift_sequence`: One Euro filters on the root-relative joints and the root trajectory.

    Args:
        poses: ``(T, J, 3)`` camera-frame joints, metres.
        fps: frame rate, Hz.
        layout: their layout (the root is the pelvis, or the layout's root joint).
        cfg: ``smooth_3d`` (root-relative joints) and ``smooth_root`` (the root); ``None`` leaves that part.

    Returns:
        ``(T, J, 3)`` float64 numpy.
    """
    layout = get_layout(layout)
    fps = _check_fps(fps)
    y = _to_numpy(poses, "poses")
    if y.ndim != 3 or y.shape[1:] != (layout.num_joints, 3):
        raise InputError(f"smooth_poses: poses: expected shape (T, {layout.num_joints}, 3), got {y.shape}")
    try:
        r = layout.index("pelvis")
    except InputError:
        r = layout.parents.index(-1)
    root = y[:, r:r + 1]
    rel = y - root
    if cfg.smooth_3d is not None:
        c = cfg.smooth_3d
        rel = one_euro(rel, fps, c.min_cutoff, c.beta, c.d_cutoff, two_sided=c.two_sided)
        rel[:, r] = 0.0
    if cfg.smooth_root is not None:
        c = cfg.smooth_root
        root = one_euro(root, fps, c.min_cutoff, c.beta, c.d_cutoff, two_sided=c.two_sided)
    return rel + root


def lift_sequence(model, points, confidence, K, layout: Skeleton | str, fps: float,
                  smooth: SequenceConfig | None = DEFAULT_SEQUENCE, *, out_layout: Skeleton | str | None = None,
                  return_info: bool = False):
    """Lift one person's keypoint sequence to camera-frame 3D joints, filled and smoothed in time.

    See the module docstring for the steps. Frames are lifted independently by the model; time enters
    through the gap filling, the outlier test and the filters.

    Args:
        model: a loaded lifter (:func:`energy3d.tasks.lift.load_lifter`), on any device.
        points: ``(T, J, 2)`` keypoints in pixels, in the model's input layout ``layout``.
        confidence: ``(T, J)`` detection confidence (0: not detected) or ``None`` (all detected).
        K: ``(3, 3)`` or ``(T, 3, 3)`` pinhole intrinsics, pixels.
        layout: the keypoints' layout (the model's input layout).
        fps: frame rate, Hz (> 0).
        smooth: a :class:`SequenceConfig` (default :data:`DEFAULT_SEQUENCE`); :data:`NO_SMOOTHING` fills
            gaps without filtering; ``None`` is plain frame-by-frame lifting (tree imputation only, no
            outlier test, no filters), what ``energy3d lift`` does per frame.
        out_layout: the model's output layout (default ``layout``).
        return_info: also return a :class:`SequenceInfo`.

    Returns:
        ``(T, J_out, 3)`` float64 numpy camera-frame joints, metres (x right, y down, z forward), scaled
        to the adult size of :func:`energy3d.tasks.lift.rescale_to_bone_length`; with ``return_info``,
        ``(poses, info)``.

    Raises:
        InputError: bad shapes or values (NaN in detected joints, ``fps <= 0``, a bad ``K``), or a frame
            with fewer than half of its joints detected or filled.
    """
    from energy3d.tasks.lift import lift_keypoints

    layout = get_layout(layout)
    out_layout = layout if out_layout is None else get_layout(out_layout)
    fps = _check_fps(fps)
    if smooth is not None and not isinstance(smooth, SequenceConfig):
        raise InputError(f"lift_sequence: smooth must be a SequenceConfig or None, got {type(smooth).__name__}")
    cfg = SequenceConfig(max_gap=0, outlier_window=0, smooth_3d=None, smooth_root=None) if smooth is None else smooth
    pts, info = prepare_keypoints(points, confidence, layout, cfg)
    Ks = _intrinsics(K, len(pts))
    x = to_normalized(torch.as_tensor(pts), torch.as_tensor(Ks))
    if cfg.smooth_2d is not None:
        c = cfg.smooth_2d
        x = one_euro(x, fps, c.min_cutoff, c.beta, c.d_cutoff, two_sided=c.two_sided)
    poses = lift_keypoints(model, x.float(), out_layout).double().numpy()
    poses = smooth_poses(poses, fps, out_layout, cfg)
    return (poses, info) if return_info else poses
