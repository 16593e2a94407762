import numpy as np
import pytest
import torch

from energy3d.data.keypoints import impute_missing
from energy3d.data.lifting import (
    CameraConfig, LiftDataConfig, LiftingBatches, NoiseConfig, detector_noise, impute_from_tree, load_lifting_split,
    pose_in_cameras, to_normalized,
)
from energy3d.errors import InputError
from energy3d.skeleton import H36M17
from helpers import random_poses, synthetic_lifting_set


def test_virtual_cameras_respect_ranges_and_project_consistently():
    cfg = CameraConfig()
    X = random_poses(400, seed=1)
    Xc, p, K = pose_in_cameras(X, cfg, torch.Generator().manual_seed(0))
    # bones keep their lengths: rigid motion only
    bone = lambda P: np.linalg.norm(P[:, 12] - P[:, 11], axis=-1)
    assert np.allclose(bone(Xc), bone(X), atol=1e-5)
    # projection: p = f * X/Z + c (numpy reference)
    ref = K[:, None, :2, :2].diagonal(axis1=-2, axis2=-1) * Xc[..., :2] / Xc[..., 2:] + K[:, None, :2, 2]
    assert np.allclose(p, ref, atol=1e-3)
    # distance of the pelvis, focal and principal point within the configured ranges (+ target jitter)
    d = np.linalg.norm(Xc[:, 0], axis=-1)
    assert d.min() > cfg.distance[0] - 0.3 and d.max() < cfg.distance[1] + 0.3
    assert K[:, 0, 0].min() >= 900 and K[:, 0, 0].max() <= 1500
    assert np.abs(K[:, 0, 2] - 500).max() <= 20 and np.abs(K[:, 1, 2] - 500).max() <= 20
    # elevation: the camera's height above the pelvis, seen in the world (Y up), within [-10, 35] deg
    # (up to the target jitter); world up is -y in the camera frame for small roll
    up_cam = Xc[:, 8] - Xc[:, 0]           # pelvis -> thorax, roughly world up
    assert (up_cam[:, 1] < 0).mean() > 0.95  # image y points down
    # azimuth covers all round: the person's facing direction in camera frame spans all quadrants
    face = np.cross(Xc[:, 4] - Xc[:, 1], up_cam)
    quad = np.unique(np.sign(face[:, 0]) * 2 + np.sign(face[:, 2]))
    assert len(quad) == 4


def test_normalised_coordinates():
    K = torch.tensor([[1000.0, 0, 480], [0, 1100.0, 520], [0, 0, 1]])
    p = torch.tensor([[1480.0, 520.0], [480.0, -580.0]])
    assert torch.allclose(to_normalized(p, K), torch.tensor([[1.0, 0.0], [0.0, -1.0]]))


def test_noise_free_config_is_identity_and_noise_is_seeded():
    ds = synthetic_lifting_set(64)
    p = torch.as_tensor(ds.points_2d)
    zero = NoiseConfig(sigma_px=0, outlier_prob=0, swap_prob=0, drop_prob=0)
    assert torch.equal(detector_noise(p, H36M17, zero, torch.Generator().manual_seed(0)), p)
    cfg = NoiseConfig()
    a = detector_noise(p, H36M17, cfg, torch.Generator().manual_seed(3))
    b = detector_noise(p, H36M17, cfg, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    jitter = NoiseConfig(sigma_px=4.0, outlier_prob=0, swap_prob=0, drop_prob=0)
    big = torch.as_tensor(np.repeat(ds.points_2d, 40, 0))
    d = detector_noise(big, H36M17, jitter, torch.Generator().manual_seed(1)) - big
    assert abs(float(d.std()) - 4.0) < 0.1


def test_swaps_exchange_left_and_right():
    ds = synthetic_lifting_set(200)
    p = torch.as_tensor(ds.points_2d)
    cfg = NoiseConfig(sigma_px=0, outlier_prob=0, swap_prob=1.0, drop_prob=0)
    q = detector_noise(p, H36M17, cfg, torch.Generator().manual_seed(0))
    assert torch.equal(q[:, list(H36M17.left)], p[:, list(H36M17.right)])
    assert torch.equal(q[:, 0], p[:, 0])


def test_vectorised_imputation_equals_the_lift_rule():
    """Training-time dropped joints are filled exactly as `energy3d lift` fills missing ones."""
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(300, 17, 2)).astype(np.float32)
    vis = rng.random((300, 17)) > 0.3
    vis[:, :9] |= ~vis[:, 9:].any(1, keepdims=True)  # keep enough joints visible
    ours = impute_from_tree(torch.as_tensor(pts), torch.as_tensor(vis), H36M17).numpy()
    for n in range(300):
        if vis[n].sum() < 9:
            continue
        ref, _ = impute_missing(pts[n], vis[n].astype(np.float32), H36M17)
        assert np.allclose(ours[n], ref), n


def test_batches_are_deterministic_and_resumable():
    ds = synthetic_lifting_set(300)
    b = LiftingBatches(ds, 32, two_d="noisy", seed=5)
    full = list(b.epoch(2))
    tail = list(LiftingBatches(ds, 32, two_d="noisy", seed=5).epoch(2, start=4))
    assert len(full) == b.num_batches() == 9
    for (x1, y1), (x2, y2) in zip(full[4:], tail):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
    other = list(b.epoch(3))
    assert not torch.equal(full[0][1], other[0][1])  # a new order each epoch
    # DDP ranks take disjoint shares
    r0 = torch.cat([y for _, y in LiftingBatches(ds, 10, seed=1, rank=0, world_size=2).epoch(0)])
    r1 = torch.cat([y for _, y in LiftingBatches(ds, 10, seed=1, rank=1, world_size=2).epoch(0)])
    flat = lambda t: {tuple(v) for v in t.reshape(len(t), -1)[:, :3].tolist()}
    assert not flat(r0) & flat(r1)
    with pytest.raises(InputError):
        LiftingBatches(ds, 8, two_d="perfect")


def test_train_fps_must_name_a_source_and_be_a_positive_rate():
    cfg = LiftDataConfig(sources=("bandai", "hdm05:4"), train_fps={"hdm05": 30})
    assert cfg.train_fps == {"hdm05": 30}
    for bad, msg in [({"cmu": 30}, "not one of the sources"), ({"hdm05": 0}, "positive"),
                     ({"hdm05": "30"}, "positive"), ({"hdm05": float("nan")}, "positive")]:
        with pytest.raises(InputError, match=msg):
            LiftDataConfig(sources=("bandai", "hdm05:4"), train_fps=bad)


def test_train_fps_densifies_only_that_sources_training_split(data_dir):
    """30 fps training poses of HDM05 are about 3x the 10 fps ones (the same clips); validation keeps ``fps``."""
    dense = LiftDataConfig(sources=("hdm05",), train_fps={"hdm05": 30})
    plain = LiftDataConfig(sources=("hdm05",))
    n_dense = len(load_lifting_split(dense, "train", cache=False))
    n_plain = len(load_lifting_split(plain, "train", cache=False))
    assert 2.7 < n_dense / n_plain < 3.1
    assert len(load_lifting_split(dense, "val", cache=False)) == len(load_lifting_split(plain, "val", cache=False))
