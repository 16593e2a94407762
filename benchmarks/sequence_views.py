"""Virtual cameras for motion clips, shared by ``bench_sequence.py`` and ``bench_gravity.py``.

World motion is metres, +Y up (Bandai). Every draw comes from a seeded ``torch.Generator``.

* :func:`moving_view`: a camera that follows one clip: it looks at the person's pelvis path
  smoothed over one second (plus a fixed horizontal offset of up to 0.2 m), from a distance that
  drifts linearly by up to ``drift_m`` within 3-7 m, while its azimuth turns linearly by up to
  ``sweep_deg`` over the clip; elevation, roll and intrinsics are fixed per clip. With fixed
  elevation and roll the world's up is constant in the camera frame (the camera pans, it does not tilt).
* :func:`static_view`: a camera that does not move: it looks at the clip's mean pelvis from
  ``1.5 x`` the pelvis path's largest horizontal excursion plus 3-7 m (walking clips span up to 10 m).
* :func:`single_views`: one random camera per pose, as the lifting data makes them
  (:func:`energy3d.data.lifting.pose_in_cameras`), with the elevation in a given band.
* :func:`detector_2d`: exact 2D through the detector-noise model, frame by frame independently
  (the jitter), with dropped joints reported as confidence 0 (their points NaN).
* :func:`keypoints_2d`: the 2D a lifter is given: the rig joints' projections (``"rig"``) or
  detector-style keypoints (``"detector"``: hips, shoulders and nose where a COCO detector puts them,
  :func:`energy3d.data.augment.detector_keypoints_2d`; the offsets are drawn once per person, so
  they are constant over a clip), before :func:`detector_2d`.
"""

from __future__ import annotations

import numpy as np
import torch

from energy3d.data.lifting import CameraConfig, NoiseConfig, detector_noise, sample_cameras
from energy3d.geometry.camera import intrinsics, orbit_camera, project


def _u(g: torch.Generator, lo: float, hi: float) -> float:
    return float(lo + (hi - lo) * torch.rand(1, generator=g, dtype=torch.float64))


def smooth_path(p: np.ndarray, half: int) -> np.ndarray:
    """Moving average of ``(T, D)`` over ``2 half + 1`` frames (edges repeated)."""
    pad = np.pad(p, ((half, half), (0, 0)), mode="edge")
    k = np.ones(2 * half + 1) / (2 * half + 1)
    return np.stack([np.convolve(pad[:, i], k, mode="valid") for i in range(p.shape[1])], -1)


def _intrinsics(g, cam: CameraConfig):
    f = _u(g, *cam.focal)
    W, H = cam.image_size
    j = cam.principal_jitter_px
    return intrinsics(f, f, W / 2 + _u(g, -j, j), H / 2 + _u(g, -j, j), dtype=torch.float64)


def _finish(X, R, t, K, el, roll, **extra):
    Xc = torch.as_tensor(X, dtype=torch.float64) @ R.transpose(-1, -2) + t[..., None, :]
    p = project(Xc, K)
    R0 = R if R.dim() == 2 else R[0]
    return dict(joints_cam=Xc.numpy(), points_2d=p.numpy(), K=K.numpy(), up_cam=R0[:, 1].numpy().copy(),
                elevation_deg=el, roll_deg=roll, **extra)


def moving_view(X: np.ndarray, g: torch.Generator, *, elevation=(-10.0, 45.0), sweep_deg: float = 30.0,
                drift_m: float = 1.0, roll_deg: float = 5.0, fps: float = 30.0, cam: CameraConfig = CameraConfig()):
    """One clip ``X (T, J, 3)`` seen by a camera that follows it (see module docstring)."""
    T = len(X)
    el = _u(g, *elevation)
    roll = _u(g, -roll_deg, roll_deg)
    K = _intrinsics(g, cam)
    d0 = _u(g, *cam.distance)
    d1 = float(np.clip(d0 + _u(g, -drift_m, drift_m), *cam.distance))
    a0 = _u(g, 0.0, 360.0)
    da = _u(g, -sweep_deg, sweep_deg)
    off = np.array([_u(g, -cam.target_jitter_m, cam.target_jitter_m), 0.0,
                    _u(g, -cam.target_jitter_m, cam.target_jitter_m)])
    s = np.linspace(0.0, 1.0, T)
    target = smooth_path(X[:, 0].astype(np.float64), max(1, int(round(fps / 2)))) + off
    R, t = orbit_camera(torch.as_tensor(target), torch.as_tensor(d0 + (d1 - d0) * s),
                        torch.as_tensor(a0 + da * s), el, roll)
    return _finish(X, R, t, K, el, roll, sweep_deg=da, distance_m=(d0, d1))


def static_view(X: np.ndarray, g: torch.Generator, *, elevation=(-10.0, 45.0), roll_deg: float = 5.0,
                cam: CameraConfig = CameraConfig()):
    """One clip ``X (T, J, 3)`` seen by a camera that does not move (see module docstring)."""
    el = _u(g, *elevation)
    roll = _u(g, -roll_deg, roll_deg)
    K = _intrinsics(g, cam)
    pel = X[:, 0].astype(np.float64)
    c = pel.mean(0)
    reach = float(np.linalg.norm(pel[:, [0, 2]] - c[[0, 2]], axis=1).max())
    d = 1.5 * reach + _u(g, *cam.distance)
    R, t = orbit_camera(torch.as_tensor(c), d, _u(g, 0.0, 360.0), el, roll)
    return _finish(X, R, t, K, el, roll, distance_m=d)


def single_views(X: np.ndarray, g: torch.Generator, *, elevation=(-10.0, 35.0), roll_deg: float = 5.0):
    """Poses ``X (N, J, 3)`` each before its own camera (the lifting data's, elevation in ``elevation``).

    Returns ``joints_cam (N, J, 3)``, ``points_2d (N, J, 2)``, ``K (N, 3, 3)`` and ``up_cam (N, 3)``
    (world up in each camera frame).
    """
    cfg = CameraConfig(elevation_deg=tuple(elevation), roll_deg=roll_deg)
    Xt = torch.as_tensor(X, dtype=torch.float64)
    K, dist, az, el, roll, off = sample_cameras(len(X), cfg, g)
    R, t = orbit_camera(Xt[:, 0] + off, dist, az, el, roll, up_axis="y")
    Xc = Xt @ R.transpose(1, 2) + t[:, None, :]
    return dict(joints_cam=Xc.numpy(), points_2d=project(Xc, K).numpy(), K=K.numpy(), up_cam=R[:, :, 1].numpy().copy(),
                elevation_deg=el.numpy())


def keypoints_2d(view: dict, geometry: str, g: torch.Generator, *, per_clip: bool) -> np.ndarray:
    """Exact 2D ``(T, J, 2)`` of a view (:func:`moving_view` etc.) in the keypoint ``geometry`` ("rig" or "detector").

    ``per_clip``: one person (marker offsets drawn once for all frames) rather than one per frame.
    """
    if geometry == "rig":
        return view["points_2d"]
    if geometry != "detector":
        raise ValueError(f"keypoint geometry must be 'rig' or 'detector', got {geometry!r}")
    from energy3d.data.augment import MarkerConfig, detector_keypoints_2d

    y = torch.as_tensor(view["joints_cam"], dtype=torch.float64)
    K = torch.as_tensor(view["K"], dtype=torch.float64).expand(len(y), 3, 3)
    return detector_keypoints_2d(y, K, MarkerConfig(), g, one_person=per_clip).numpy()


def detector_2d(points_2d: np.ndarray, layout, g: torch.Generator, noise: NoiseConfig = NoiseConfig()):
    """Exact 2D ``(T, J, 2)`` -> ``(noisy points with NaN where dropped, confidence (T, J))``.

    Jitter, outliers and left/right swaps follow :func:`energy3d.data.lifting.detector_noise` (each
    frame independently); joints are dropped with ``noise.drop_prob`` and reported with confidence 0
    (the training pipeline imputes them silently instead).
    """
    from dataclasses import replace

    p = detector_noise(torch.as_tensor(points_2d, dtype=torch.float64), layout, replace(noise, drop_prob=0.0), g)
    drop = (torch.rand(p.shape[:2], generator=g) < noise.drop_prob).numpy()
    p = p.numpy().copy()
    p[drop] = np.nan
    return p, (~drop).astype(np.float64)
