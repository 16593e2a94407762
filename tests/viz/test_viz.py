"""Tests for energy3d.viz: PNG skeleton plots and the self-contained HTML pose viewer."""

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from energy3d.errors import InputError
from energy3d.skeleton import H36M17
from energy3d.viz.html import read_viewer_data, write_pose_viewer
from energy3d.viz.skeleton import level_rotation, plot_lift, plot_lift_grid

# a standing person, h36m17, camera frame (x right, y down, z forward), metres
_STAND = {
    "Hip": (0, 0, 0), "RHip": (-0.13, 0, 0), "RKnee": (-0.15, 0.43, 0.05), "RFoot": (-0.15, 0.85, 0.1),
    "LHip": (0.13, 0, 0), "LKnee": (0.15, 0.43, -0.05), "LFoot": (0.16, 0.86, 0.05),
    "Spine": (0, -0.23, 0), "Thorax": (0, -0.48, 0), "Neck/Nose": (0, -0.6, -0.08), "Head": (0, -0.72, 0),
    "LShoulder": (0.17, -0.46, 0), "LElbow": (0.3, -0.25, -0.1), "LWrist": (0.35, -0.05, -0.25),
    "RShoulder": (-0.17, -0.46, 0), "RElbow": (-0.42, -0.47, 0), "RWrist": (-0.67, -0.5, 0.05),
}


def _pose(arm_up=False):
    p = np.array([_STAND[n] for n in H36M17.joints], dtype=float) + [0.2, 0.0, 4.0]
    if arm_up:  # raise the left arm above the head
        i = H36M17.index
        p[i("LElbow")] = p[i("LShoulder")] + [0.05, -0.28, 0.0]
        p[i("LWrist")] = p[i("LElbow")] + [0.02, -0.26, 0.0]
    return p


def _project(p, f=1000.0, c=(500.0, 500.0)):
    return p[:, :2] / p[:, 2:] * f + np.asarray(c)


def _img(path):
    a = imread(str(path))
    return a[..., :3]


# ----------------------------------------------------------------------------------- PNG plots


def test_plot_lift_png(tmp_path):
    pose = _pose()
    kp = _project(pose)
    out = plot_lift(tmp_path / "sub" / "a.png", kp, torch.tensor(pose), H36M17, (1000, 1000),
                    title="lift", gt_3d=pose + 0.02)
    assert out == tmp_path / "sub" / "a.png" and out.is_file()
    img = _img(out)
    assert img.shape[:2] == (500, 1500)  # 3:1, one row of three panels
    assert img.var() > 1e-3
    # side colours are actually drawn: some pixels are the left blue and the right red
    blue = (img[..., 2] > 0.6) & (img[..., 0] < 0.3)
    red = (img[..., 0] > 0.7) & (img[..., 1] < 0.3) & (img[..., 2] < 0.3)
    assert blue.sum() > 50 and red.sum() > 50

    # a different 3D pose with the same 2D input: panel (a) identical, 3D panels differ
    other = plot_lift(tmp_path / "b.png", kp, _pose(arm_up=True), H36M17, (1000, 1000),
                      title="lift", gt_3d=pose + 0.02)
    img2 = _img(other)
    third = img.shape[1] // 3
    np.testing.assert_array_equal(img[:, :third], img2[:, :third])
    assert np.abs(img[:, third:] - img2[:, third:]).sum() > 100


@pytest.mark.parametrize("pitch, roll", [(0.0, 0.0), (17.0, -6.8), (-12.0, 4.0), (60.0, 30.0)])
def test_level_rotation_maps_world_up_to_camera_up_without_turning_the_heading(pitch, roll):
    from energy3d.data.gravity import camera_pitch_roll

    p, r = np.radians(pitch), np.radians(roll)
    # up of a camera pitched down by `pitch` and rolled by `roll` (camera_pitch_roll's conventions)
    up = np.array([np.cos(p) * np.sin(r), -np.cos(p) * np.cos(r), -np.sin(p)])
    assert camera_pitch_roll(up) == pytest.approx((pitch, roll), abs=1e-9)
    R = level_rotation(up)
    assert np.allclose(R @ R.T, np.eye(3), atol=1e-12) and np.linalg.det(R) == pytest.approx(1.0)
    assert np.allclose(R @ up, [0, -1, 0], atol=1e-12)
    # the smallest rotation: its axis is horizontal in the camera (no turn about the up direction itself)
    axis = np.cross(up, [0, -1, 0])
    if np.linalg.norm(axis) > 1e-9:
        assert np.allclose(R @ axis, axis, atol=1e-12)
    assert np.allclose(level_rotation(-np.array([0, -1.0, 0])) @ [0, 1.0, 0], [0, -1, 0])
    with pytest.raises(InputError, match="non-zero"):
        level_rotation([0, 0, 0])


def test_plot_lift_level_view_changes_only_panel_c(tmp_path):
    pose = _pose()
    kp = _project(pose)
    a = _img(plot_lift(tmp_path / "a.png", kp, pose, H36M17, (1000, 1000)))
    up = np.array([0.0, -np.cos(np.radians(25)), -np.sin(np.radians(25))])
    b = _img(plot_lift(tmp_path / "b.png", kp, pose, H36M17, (1000, 1000), up_camera=up))
    third = a.shape[1] // 3
    np.testing.assert_array_equal(a[:, :2 * third], b[:, :2 * third])
    assert np.abs(a[:, 2 * third:] - b[:, 2 * third:]).sum() > 100
    # the level view of a camera with this up is the camera-frame plot of the pose rotated by level_rotation
    c = _img(plot_lift(tmp_path / "c.png", kp, pose @ level_rotation(up).T, H36M17, (1000, 1000)))
    assert np.abs(b[:, 2 * third:] - c[:, 2 * third:]).mean() < 0.012  # (the wrong way round: 0.026)


def test_plot_lift_grid(tmp_path):
    poses = np.stack([_pose(), _pose(arm_up=True), _pose()])
    kps = np.stack([_project(p) for p in poses])
    out = plot_lift_grid(tmp_path / "g.png", kps, poses, "h36m17", ["f0#0", "f1#0", "f2#0"], max_people=2,
                         confidence_2d=np.ones((3, 17)))
    img = _img(out)
    assert img.shape[:2] == (1000, 1500)  # two rows: max_people applied
    top, bottom = img[:500], img[500:]
    assert np.abs(top - bottom).sum() > 100  # rows show different people
    with pytest.raises(InputError, match="names: expected 3 names"):
        plot_lift_grid(tmp_path / "x.png", kps, poses, "h36m17", ["a"])


def test_plot_bad_input(tmp_path):
    pose = _pose()
    with pytest.raises(InputError, match=r"keypoints_2d: expected shape \(17, 2\) for layout h36m17"):
        plot_lift(tmp_path / "x.png", np.zeros((16, 2)), pose, "h36m17")
    with pytest.raises(InputError, match=r"pose_3d: expected shape \(17, 3\)"):
        plot_lift(tmp_path / "x.png", _project(pose), pose[None], "h36m17")
    bad = pose.copy()
    bad[3, 1] = np.nan
    with pytest.raises(InputError, match="pose_3d: 1 non-finite"):
        plot_lift(tmp_path / "x.png", _project(pose), bad, "h36m17")
    with pytest.raises(InputError, match=r"image_size: expected \(W, H\)"):
        plot_lift(tmp_path / "x.png", _project(pose), pose, "h36m17", image_size=(0, 10))
    with pytest.raises(InputError, match=r"poses_3d: expected shape \(2, 17, 3\)"):
        plot_lift_grid(tmp_path / "x.png", np.zeros((2, 17, 2)), np.zeros((3, 17, 3)), "h36m17")
    assert not (tmp_path / "x.png").exists()


# ---------------------------------------------------------------------------------- HTML viewer


def _scripts(text):
    return re.findall(r"<script[^>]*>(.*?)</script>", text, flags=re.S)


def test_viewer_self_contained_and_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    poses = np.stack([_pose(), _pose(arm_up=True), _pose()]) + rng.normal(0, 1e-3, (3, 17, 3))
    names = ["frame_000001#0", "frame_000002#0", "a </script><script src=x> http://evil/ & <b>"]
    out = write_pose_viewer(tmp_path / "v.html", torch.tensor(poses), "h36m17", names=names,
                            title="demo https://x </title>", keypoints_2d=np.stack([_project(p) for p in poses]),
                            image_size=(1000, 1000))
    text = out.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text
    assert "<script src" not in text.lower() and "<link" not in text.lower() and "@import" not in text
    assert text.count("</script>") == 2  # the data element and the code: user strings cannot close them
    assert "<canvas" in text and "pointermove" in text and "wheel" in text
    data = read_viewer_data(out)
    got = np.asarray(data["poses"])
    assert got.shape == (3, 17, 3)
    assert np.abs(got - poses).max() <= 5e-5 + 1e-9  # rounded to 1e-4 m
    assert data["names"] == names and data["layout"]["joints"] == list(H36M17.joints)
    assert data["layout"]["left"] == list(H36M17.left) and data["image_size"] == [1000.0, 1000.0]
    assert np.abs(np.asarray(data["keypoints_2d"]) - np.stack([_project(p) for p in poses])).max() <= 0.005 + 1e-9
    # the same data parse from the raw element text with plain json
    raw = _scripts(text)[0]
    assert json.loads(raw)["names"][2] == names[2]


def test_viewer_single_pose_and_errors(tmp_path):
    out = write_pose_viewer(tmp_path / "one.html", _pose(), H36M17)
    data = read_viewer_data(out)
    assert len(data["poses"]) == 1 and data["names"] == ["#0"] and data["keypoints_2d"] is None
    with pytest.raises(InputError, match=r"poses: expected shape \(N, 17, 3\)"):
        write_pose_viewer(tmp_path / "bad.html", np.zeros((2, 16, 3)), "h36m17")
    with pytest.raises(InputError, match="names: expected 2 names"):
        write_pose_viewer(tmp_path / "bad.html", np.zeros((2, 17, 3)), "h36m17", names=["a"])
    with pytest.raises(InputError, match=r"keypoints_2d: expected shape \(2, 17, 2\)"):
        write_pose_viewer(tmp_path / "bad.html", np.zeros((2, 17, 3)), "h36m17", keypoints_2d=np.zeros((1, 17, 2)))
    with pytest.raises(InputError, match="non-finite"):
        write_pose_viewer(tmp_path / "bad.html", np.full((1, 17, 3), np.inf), "h36m17")
    assert not (tmp_path / "bad.html").exists()


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
def test_viewer_javascript_parses(tmp_path):
    out = write_pose_viewer(tmp_path / "v.html", np.stack([_pose(), _pose()]), H36M17)
    code = _scripts(out.read_text(encoding="utf-8"))[1]
    js = tmp_path / "viewer.js"
    js.write_text(code)
    res = subprocess.run(["node", "--check", str(js)], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
