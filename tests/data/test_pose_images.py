"""Rendered pose images (energy3d.data.pose_images): labels, crops, rendering, cache, heatmap mode, bad input."""

import json

import numpy as np
import pytest
import torch

from energy3d.data import pose_images as P
from energy3d.data.pose_images import (BodyConfig, PoseImageConfig, crop_box_from_points, crop_image,
                                       crop_intrinsics, from_crop, heatmap_batch, heatmap_sample, keypoint_heatmaps,
                                       load_pose_image_split, render_person, sample_body, to_crop, volume_coords)
from energy3d.errors import InputError
from energy3d.geometry.camera import project
from energy3d.skeleton import get_layout

pytestmark = pytest.mark.usefixtures("one_thread")

LAY = get_layout("h36m17")


def standing_pose(z=4.0):
    """A hand-made upright h36m17 pose (camera frame, y down), pelvis at depth z."""
    j = np.array([[0, 0, 0], [-0.1, 0, 0], [-0.1, 0.45, 0], [-0.1, 0.9, 0.02], [0.1, 0, 0], [0.1, 0.45, 0],
                  [0.1, 0.9, 0.02], [0, -0.25, 0], [0, -0.5, 0], [0, -0.58, 0], [0, -0.76, 0], [0.18, -0.48, 0],
                  [0.22, -0.2, 0], [0.24, 0.05, 0], [-0.18, -0.48, 0], [-0.22, -0.2, 0], [-0.24, 0.05, 0]], float)
    j[:, 2] += z
    return j


@pytest.fixture()
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ENERGY3D_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def tiny_cfg(**kw):
    base = dict(max_poses={"train": 6, "val": 4, "test": 5}, crop=64, backgrounds=("gradient", "noise", "texture"))
    base.update(kw)
    return PoseImageConfig(**base)


# ---------------------------------------------------------------- labels and crop geometry


def test_z_scale_closed_form_for_fronto_parallel_pose():
    X = standing_pose(4.0)
    X[:, 2] = 4.0  # all joints at one depth: u = f X / Z + c, so s = f / Z * crop / size
    K = np.array([[1000.0, 0, 500], [0, 1000.0, 500], [0, 0, 1]])
    p = project(torch.as_tensor(X), torch.as_tensor(K)).numpy()
    box = crop_box_from_points(p, 1.25, LAY)
    vol, s = volume_coords(X, to_crop(p, box, 128), 128)
    assert s == pytest.approx(1000.0 / 4.0 * 128 / box[2], rel=1e-5)
    np.testing.assert_allclose(vol[:, 2], 64.0, atol=1e-4)  # no depth offsets: every w at crop / 2


def test_w_follows_depth_rule():
    X = standing_pose(4.0)
    X[3, 2] += 0.3  # right foot 30 cm further away
    K = np.array([[1200.0, 0, 480], [0, 1200.0, 510], [0, 0, 1]])
    p = project(torch.as_tensor(X), torch.as_tensor(K)).numpy()
    box = crop_box_from_points(p, 1.25, LAY)
    pc = to_crop(p, box, 128)
    vol, s = volume_coords(X, pc, 128)
    sd = np.sqrt(pc[:, 0].var() + pc[:, 1].var()) / np.sqrt(X[:, 0].var() + X[:, 1].var())
    assert s == pytest.approx(sd, rel=1e-5)
    np.testing.assert_allclose(vol[:, 2], (X[:, 2] - X[0, 2]) * sd + 64, rtol=1e-5)
    np.testing.assert_allclose(vol[:, :2], pc, atol=1e-4)


def test_crop_box_rule():
    p = np.stack([np.linspace(100, 200, 17), np.linspace(300, 500, 17)], -1)
    box = crop_box_from_points(p, 1.25, LAY)
    ext = 0.35 * np.linalg.norm(p[10] - p[8])
    h, w = 200 + ext, 100
    assert box[2] == pytest.approx(1.25 * h, rel=1e-5)
    assert box[0] + box[2] / 2 == pytest.approx(150, rel=1e-5)
    assert box[1] + box[2] / 2 == pytest.approx((300 - ext + 500) / 2, rel=1e-5)
    assert crop_box_from_points(p[None].repeat(3, 0), 1.25, LAY).shape == (3, 3)


def test_crop_round_trips_and_intrinsics():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1000, (4, 17, 2))
    box = np.array([[100, 200, 300], [0, 0, 1000], [-50, 20, 400], [500, 500, 64]], np.float32)
    np.testing.assert_allclose(from_crop(to_crop(p, box, 128), box, 128), p, atol=1e-2)
    X = standing_pose(5.0)
    K = np.array([[1100.0, 0, 510], [0, 1100.0, 490], [0, 0, 1]])
    p = project(torch.as_tensor(X), torch.as_tensor(K)).numpy()
    b = crop_box_from_points(p, 1.25, LAY)
    Kc = crop_intrinsics(K, b, 96)
    np.testing.assert_allclose(project(torch.as_tensor(X), torch.as_tensor(Kc)).numpy(), to_crop(p, b, 96), atol=1e-3)


def test_crop_image_samples_the_box():
    img = np.zeros((100, 200, 3), np.uint8)
    img[40:60, 120:140] = 255  # a white square
    out = crop_image(img, np.array([110.0, 30.0, 40.0]), 40)  # 1:1, square at crop [10:30, 10:30]
    assert out.shape == (40, 40, 3) and out.dtype == np.uint8
    assert out[20, 20].min() == 255 and out[5, 5].max() == 0
    grey = crop_image(img, np.array([-100.0, -100.0, 50.0]), 10, pad="grey")
    assert np.all(grey == 128)
    edge = crop_image(img.astype(np.float32) / 255, np.array([150.0, -40.0, 100.0]), 20)  # partly outside
    assert edge.shape == (20, 20, 3)


# ---------------------------------------------------------------- rendering


def test_body_mask_covers_projected_joints():
    X = standing_pose(4.0)
    K = np.array([[1000.0, 0, 500], [0, 1000.0, 500], [0, 0, 1]])
    p = project(torch.as_tensor(X), torch.as_tensor(K)).numpy()
    box = crop_box_from_points(p, 1.25, LAY)
    Kc = crop_intrinsics(K, box, 128)
    body = sample_body(BodyConfig(), np.random.default_rng(1))
    rgb, alpha = render_person(X, Kc, 128, body)
    assert rgb.shape == (128, 128, 3) and alpha.shape == (128, 128)
    pc = to_crop(p, box, 128).astype(int)
    inside = alpha[pc[:, 1].clip(0, 127), pc[:, 0].clip(0, 127)] >= 0.5
    assert inside.mean() >= 0.9
    assert alpha[2, 2] == 0 and 0.05 < (alpha >= 0.5).mean() < 0.6


def test_rendered_split_masks_cover_joints(data_dir):
    cfg = tiny_cfg()
    lab = P._split_labels(cfg, "test")
    fr = []
    for i in range(len(lab["K"])):
        _, mask = P.render_sample(lab["joints_cam"][i], lab["K"][i], lab["box"][i], cfg, np.random.default_rng(i))
        u = lab["joints_vol"][i, :, :2].astype(int).clip(0, cfg.crop - 1)
        fr.append(mask[u[:, 1], u[:, 0]].mean())
        assert (u >= 0).all()
    assert np.mean(fr) > 0.85


# ---------------------------------------------------------------- splits, determinism, cache


def test_split_labels_consistent_and_deterministic(data_dir, tmp_cache):
    cfg = tiny_cfg()
    a = load_pose_image_split(cfg, "val", progress=False)
    assert a.images.shape == (4, 64, 64, 3) and a.images.dtype == np.uint8
    assert a.joints_vol.shape == (4, 17, 3) and a.z_scale.shape == (4,) and a.box.shape == (4, 3)
    p = project(torch.as_tensor(a.joints_cam, dtype=torch.float64), torch.as_tensor(a.K, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(p, a.points_2d, atol=1e-2)
    np.testing.assert_allclose(to_crop(a.points_2d, a.box, 64), a.joints_vol[..., :2], atol=1e-3)
    b = load_pose_image_split(cfg, "val", cache=False, progress=False)
    np.testing.assert_array_equal(np.asarray(a.images), b.images)
    np.testing.assert_array_equal(a.joints_vol, b.joints_vol)
    c = load_pose_image_split(cfg, "val", progress=False)  # cache hit
    assert isinstance(c.images, np.memmap)
    np.testing.assert_array_equal(np.asarray(c.images), b.images)
    info = P.build_info(cfg, "val")
    assert info["count"] == 4 and info["bytes"] > 4 * 64 * 64 * 3 and info["seconds"] > 0
    lab = load_pose_image_split(cfg, "val", images=False, progress=False)
    assert lab.images is None
    np.testing.assert_array_equal(lab.box, a.box)


def test_corrupt_cache_is_rebuilt(data_dir, tmp_cache):
    cfg = tiny_cfg()
    a = load_pose_image_split(cfg, "test", progress=False)
    ref = np.array(a.images)
    folder = P.cache_dir(cfg, "test")
    (folder / "images.npy").write_bytes((folder / "images.npy").read_bytes()[:500])  # truncated
    b = load_pose_image_split(cfg, "test", progress=False)
    np.testing.assert_array_equal(np.asarray(b.images), ref)
    (folder / "labels.npz").write_bytes(b"not a zip")
    c = load_pose_image_split(cfg, "test", progress=False)
    np.testing.assert_array_equal(c.joints_vol, a.joints_vol)
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["complete"]


def test_train_box_jitter_and_split_disjointness(data_dir, tmp_cache):
    from energy3d.data.lifting import load_source

    cfg = tiny_cfg()
    tr = load_pose_image_split(cfg, "train", images=False, progress=False)
    exact = crop_box_from_points(tr.points_2d, cfg.margin, LAY)
    ratio = tr.box[:, 2] / exact[:, 2]
    assert np.all((ratio > 0.89) & (ratio < 1.11)) and not np.allclose(ratio, 1)
    names = {s: {c["name"] for c in load_source("bandai", s, 2.0).clips} for s in ("train", "val", "test")}
    assert not (names["train"] & names["val"]) and not (names["train"] & names["test"])
    assert not (names["val"] & names["test"])


# ---------------------------------------------------------------- heatmap mode


def test_heatmap_peaks_at_keypoints_with_confidence():
    pts = torch.tensor([[[10.5, 20.5], [40.5, 5.5], [30.5, 30.5]]])
    conf = torch.tensor([[0.8, 1.0, 0.0]])
    h = keypoint_heatmaps(pts, conf, 64, 1.5)
    assert h.shape == (1, 3, 64, 64) and h.dtype == torch.float32
    assert h[0, 0].max() == pytest.approx(0.8) and h[0, 0, 20, 10] == pytest.approx(0.8)
    assert h[0, 1, 5, 40] == pytest.approx(1.0)
    assert h[0, 2].abs().max() == 0


def test_heatmap_batch_maps_through_box():
    cfg = PoseImageConfig(crop=128, heatmap_size=64)
    box = np.array([[100.0, 200.0, 256.0]])
    # image point (100 + 4 * (10.5), 200 + 4 * (20.5)) -> crop (21, 41) -> heatmap (10.5, 20.5)
    pts = np.zeros((1, 17, 2)) + np.array([100 + 4 * 10.5, 200 + 4 * 20.5])
    h = heatmap_batch(pts, np.ones((1, 17)), box, cfg)
    assert h.shape == (1, 17, 64, 64)
    assert np.unravel_index(int(h[0, 0].argmax()), (64, 64)) == (20, 10)


def test_heatmap_sample(data_dir, tmp_cache):
    cfg = tiny_cfg()
    ds = load_pose_image_split(cfg, "test", images=False, progress=False)
    x, vol, s, box = heatmap_sample(ds, [0, 1, 2], torch.Generator().manual_seed(3), cfg)
    x2, vol2, _, _ = heatmap_sample(ds, [0, 1, 2], torch.Generator().manual_seed(3), cfg)
    assert torch.equal(x, x2) and torch.equal(vol, vol2)
    assert x.shape == (3, 17, cfg.heatmap_size, cfg.heatmap_size) and vol.shape == (3, 17, 3) and s.shape == (3,)
    assert float(x.max()) <= 1.0 and float(x.amax(dim=(2, 3)).min()) > 0.0
    np.testing.assert_allclose(vol[..., :2].numpy(), to_crop(ds.points_2d[:3], box.numpy(), cfg.crop), atol=1e-3)
    p, conf = P.detector_style_2d(ds, [0, 1, 2], torch.Generator().manual_seed(3), cfg)
    assert conf.shape == (3, 17) and float(conf.min()) >= 0.05 and float(conf.max()) <= 1.0
    # the same draws as lifting's make_inputs(keypoints="detector", two_d="noisy")
    from energy3d.data.lifting import make_inputs

    ref = make_inputs(torch.as_tensor(ds.joints_cam[:3]), torch.as_tensor(ds.K[:3]), ds.layout, two_d="noisy",
                      keypoints="detector", noise=cfg.noise, markers=cfg.markers,
                      generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(p, ref.float())


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("kw, msg", [
    (dict(backgrounds=("gradient", "plasma")), "unknown background kind 'plasma'"),
    (dict(crop=3), "crop must be"),
    (dict(max_poses={"tran": 3}), "unknown split 'tran'"),
    (dict(max_poses=-1), "max_poses"),
    (dict(margin=0.5), "margin"),
])
def test_bad_config(kw, msg):
    with pytest.raises(InputError, match=msg):
        PoseImageConfig(**kw)


def test_bad_body_config():
    with pytest.raises(InputError, match="thigh_radius"):
        BodyConfig(thigh_radius=(0.1, 0.05))


def test_bad_inputs():
    with pytest.raises(InputError, match="expected shape"):
        crop_box_from_points(np.zeros((17, 3)), 1.25, LAY)
    with pytest.raises(InputError, match="NaN"):
        volume_coords(np.full((17, 3), np.nan), np.zeros((17, 2)), 128)
    with pytest.raises(InputError, match="17 joints"):
        crop_box_from_points(np.zeros((16, 2)), 1.25, LAY)
    with pytest.raises(InputError, match="expected shape"):
        render_person(np.ones((16, 3)), np.eye(3), 32, sample_body(BodyConfig(), np.random.default_rng(0)))
    with pytest.raises(InputError, match="in front of the camera"):
        render_person(standing_pose(-1.0), np.eye(3), 32, sample_body(BodyConfig(), np.random.default_rng(0)))
    with pytest.raises(InputError, match=r"\(H, W, 3\)"):
        crop_image(np.zeros((10, 10)), np.array([0, 0, 5.0]), 8)
    with pytest.raises(InputError, match="unknown background kind"):
        P.make_background("plasma", 16, np.random.default_rng(0))
    with pytest.raises(InputError, match="confidence"):
        keypoint_heatmaps(torch.zeros(1, 17, 2), torch.zeros(1, 16), 8, 1.0)
    with pytest.raises(InputError, match="split must be"):
        load_pose_image_split(tiny_cfg(), "training")
