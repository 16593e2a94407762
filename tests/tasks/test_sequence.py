"""Tests for energy3d.tasks.sequence: lifting keypoint sequences with gap filling and smoothing."""

import math

import numpy as np
import pytest
import torch

from energy3d.data.keypoints import impute_missing
from energy3d.errors import InputError
from energy3d.geometry.camera import intrinsics, orbit_camera, project, to_normalized
from energy3d.metrics import acceleration_error, mpjpe
from energy3d.skeleton import H36M17
from energy3d.tasks.lift import BUNDLED_LIFTER, lift_keypoints, load_lifter
from energy3d.tasks.sequence import (
    DEFAULT_SEQUENCE, NO_SMOOTHING, OneEuroConfig, SequenceConfig, lift_sequence, prepare_keypoints, smooth_poses,
)
from helpers import TEMPLATE

pytestmark = pytest.mark.usefixtures("one_thread")
FPS = 30.0


@pytest.fixture(scope="module")
def model():
    return load_lifter(BUNDLED_LIFTER)[0]


def walking_clip(T: int = 60):
    """A person turning slowly and swinging the arms, walking across, seen by a fixed camera: camera-frame 3D and exact pixels."""
    t = np.arange(T) / FPS
    frames = []
    for k in range(T):
        a = 0.6 * t[k]
        c, s = math.cos(a), math.sin(a)
        Ry = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
        p = TEMPLATE.astype(np.float64).copy()
        p[[13, 16], 2] += 0.25 * math.sin(2 * math.pi * 1.0 * t[k]) * np.array([1, -1])
        frames.append(p @ Ry.T + np.array([0.8 * t[k], 0, 0]))
    world = np.stack(frames)
    R, tr = orbit_camera(torch.tensor([0.8, 0.9, 0.0], dtype=torch.float64), 5.0, 20.0, 12.0, 2.0)
    cam = world @ R.numpy().T + tr.numpy()
    K = intrinsics(1100.0, 1100.0, 500.0, 500.0, dtype=torch.float64)
    return cam, project(torch.as_tensor(cam), K).numpy(), K.numpy()


def noisy(points, seed=0, sigma=4.0, drop=0.03):
    rng = np.random.default_rng(seed)
    p = points + rng.normal(0, sigma, points.shape)
    conf = (rng.random(points.shape[:2]) >= drop).astype(float)
    p[conf == 0] = np.nan
    return p, conf


def test_smooth_none_is_frame_by_frame_lifting_with_tree_imputation(model):
    cam, pts, K = walking_clip(20)
    p, conf = noisy(pts)
    got = lift_sequence(model, p, conf, K, H36M17, FPS, smooth=None)
    filled, _ = impute_missing(np.nan_to_num(p), conf, H36M17)
    x = to_normalized(torch.as_tensor(filled), torch.as_tensor(K)).float()
    ref = lift_keypoints(model, x, H36M17).double().numpy()
    np.testing.assert_allclose(got, ref, atol=1e-6)


def test_default_lifting_fills_drops_in_time_and_cuts_jitter(model):
    cam, pts, K = walking_clip()
    p, conf = noisy(pts, sigma=5.0)
    p[10:14, 13] = np.nan          # a 4-frame gap of the left wrist
    conf[10:14, 13] = 0
    per_frame = lift_sequence(model, p, conf, K, H36M17, FPS, smooth=None)
    y, info = lift_sequence(model, p, conf, K, H36M17, FPS, return_info=True)
    assert y.shape == (len(pts), 17, 3) and np.isfinite(y).all()
    assert info.filled[10:14, 13].all() and not info.imputed.any()
    gt = torch.as_tensor(cam)
    acc = lambda v: acceleration_error(torch.as_tensor(v), gt).mean().item()
    err = lambda v: mpjpe(torch.as_tensor(v), gt).mean().item()
    assert acc(y) < 0.5 * acc(per_frame)
    assert err(y) <= err(per_frame) + 0.002


def test_per_frame_intrinsics_and_2d_smoothing_and_no_smoothing(model):
    cam, pts, K = walking_clip(12)
    Ks = np.repeat(K[None], 12, 0)
    a = lift_sequence(model, pts, None, K, H36M17, FPS, NO_SMOOTHING)
    b = lift_sequence(model, torch.as_tensor(pts), None, torch.as_tensor(Ks), H36M17, FPS, NO_SMOOTHING)
    np.testing.assert_allclose(a, b, atol=1e-9)
    cfg = SequenceConfig(smooth_2d=OneEuroConfig(1.0, 10.0, two_sided=True), smooth_3d=None, smooth_root=None)
    c = lift_sequence(model, pts, None, K, H36M17, FPS, cfg)
    assert c.shape == a.shape and np.isfinite(c).all()


def test_prepare_keypoints_drops_a_jump_and_refills_it_from_its_neighbours():
    _, pts, _ = walking_clip(30)
    p = pts.copy()
    p[15, 3] += 80.0   # an outlier on the right ankle
    out, info = prepare_keypoints(p, np.ones(p.shape[:2]), H36M17)
    assert info.outliers[15, 3] and info.outliers.sum() == 1
    assert info.filled[15, 3]
    np.testing.assert_allclose(out[15, 3], 0.5 * (pts[14, 3] + pts[16, 3]), atol=1e-9)


def test_joints_time_cannot_fill_are_imputed_from_the_tree():
    _, pts, _ = walking_clip(40)
    conf = np.ones(pts.shape[:2])
    conf[5:30, 16] = 0     # 25 frames: longer than max_gap
    out, info = prepare_keypoints(pts, conf, H36M17, DEFAULT_SEQUENCE)
    assert info.imputed[5:30, 16].all() and not info.filled[:, 16].any()
    np.testing.assert_allclose(out[5:30, 16], pts[5:30, 15])   # RWrist takes RElbow


def test_smooth_poses_leaves_a_uniformly_moving_pose_unchanged_two_sided():
    T = 30
    base = TEMPLATE.astype(np.float64)[None] + np.array([0, 0, 4.0])
    y = base + (np.arange(T) * 0.01)[:, None, None] * np.array([1.0, 0, 0])
    out = smooth_poses(y, FPS, H36M17, SequenceConfig())
    # root-relative joints are constant (unchanged); the linear root path keeps its mean but lags at the ends
    np.testing.assert_allclose(out - out[:, :1], y - y[:, :1], atol=1e-12)
    assert np.abs(out[:, 0] - y[:, 0]).max() < 0.02


@pytest.mark.parametrize("kwargs, match", [
    (dict(points=np.zeros((5, 16, 2))), r"\(T, 17, 2\)"),
    (dict(points=np.zeros((0, 17, 2))), r"T >= 1"),
    (dict(confidence=np.ones((5, 16))), "confidence"),
    (dict(K=np.eye(4)), "K"),
    (dict(K=np.zeros((3, 3))), "focal"),
    (dict(fps=0.0), "fps"),
    (dict(fps=-30.0), "fps"),
    (dict(fps=float("nan")), "fps"),
    (dict(smooth="yes"), "SequenceConfig"),
])
def test_bad_input_is_an_input_error(model, kwargs, match):
    _, pts, K = walking_clip(5)
    args = dict(points=pts, confidence=np.ones((5, 17)), K=K, fps=FPS, smooth=DEFAULT_SEQUENCE)
    args.update(kwargs)
    with pytest.raises(InputError, match=match):
        lift_sequence(model, args["points"], args["confidence"], args["K"], H36M17, args["fps"], args["smooth"])


def test_nan_in_a_detected_joint_and_an_empty_frame_are_named(model):
    _, pts, K = walking_clip(30)
    p = pts.copy()
    p[3, 5] = np.nan
    with pytest.raises(InputError, match="frame 3, LKnee"):
        lift_sequence(model, p, np.ones((30, 17)), K, H36M17, FPS)
    conf = np.ones((30, 17))
    conf[:, :10] = 0          # most joints never seen: time cannot fill them
    with pytest.raises(InputError, match="frame 0: only 7 of 17"):
        lift_sequence(model, pts, conf, K, H36M17, FPS)
    with pytest.raises(InputError, match="max_gap"):
        SequenceConfig(max_gap=-1)
