"""Tests for energy3d.data.gravity: the gravity-aligned world frame of camera-frame poses."""

import math

import numpy as np
import pytest
import torch

from energy3d.data.gravity import (
    FORWARD_LEAN_DEG, camera_pitch_roll, estimate_up, gravity_frame, horizon_up, uprightness,
)
from energy3d.errors import InputError
from energy3d.geometry.camera import orbit_camera
from energy3d.skeleton import COCO17, H36M17
from helpers import TEMPLATE

P, LH, RH, LS, RS, NOSE, TH = 0, 4, 1, 11, 14, 9, 8


def rot(axis: str, deg: float) -> np.ndarray:
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    return {"x": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
            "y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
            "z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])}[axis]


def upright_sequence(T: int = 6, seed: int = 0) -> np.ndarray:
    """``(T, 17, 3)`` Y-up world poses facing +Z (left along +X): the template with its spine and legs
    exactly vertical, arms moving, the person walking along a curve."""
    rng = np.random.default_rng(seed)
    base = TEMPLATE.astype(np.float64)
    out = []
    for t in range(T):
        p = base.copy()
        p[[12, 13, 15, 16]] += rng.normal(0, 0.05, (4, 3))  # elbows and wrists move
        p += np.array([0.3 * t, 0.0, 0.1 * t * t])
        out.append(p)
    return np.stack(out)


def to_camera(world: np.ndarray, elevation: float, roll: float, azimuth: float = 35.0):
    R, t = orbit_camera(torch.tensor([0.0, 0.9, 0.0], dtype=torch.float64), 5.0, azimuth, elevation, roll)
    R, t = R.numpy(), t.numpy()
    return world @ R.T + t, R


@pytest.mark.parametrize("elevation, roll, azimuth", [(20.0, 4.0, 35.0), (-8.0, -3.0, 200.0), (44.0, 0.0, 0.0)])
def test_gravity_frame_recovers_a_known_camera_rotation_exactly(elevation, roll, azimuth):
    world = upright_sequence()
    cam, R_wc = to_camera(world, elevation, roll, azimuth)
    R, out, info = gravity_frame(cam, H36M17, lean_deg=0.0)
    np.testing.assert_allclose(info.up_camera, R_wc[:, 1], atol=1e-12)       # world up seen by the camera
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0, abs=1e-12)
    assert info.pitch_deg == pytest.approx(elevation, abs=1e-9)
    assert info.roll_deg == pytest.approx(roll, abs=1e-9)
    # the template faces +Z with its left along +X, so the result is the world motion, root 0 at the origin
    np.testing.assert_allclose(out, world - world[0, P], atol=1e-12)
    np.testing.assert_allclose(R, R_wc.T, atol=1e-12)
    assert info.frames_used == len(world)


def test_facing_at_frame_0_is_plus_z_whatever_the_person_faces():
    world = upright_sequence() @ rot("y", 123.0).T    # turned about the vertical
    cam, _ = to_camera(world, 15.0, 2.0)
    R, out, info = gravity_frame(cam, H36M17, lean_deg=0.0)
    left = out[0, LH] - out[0, RH]
    assert abs(left[1]) < 1e-12 and abs(left[2]) < 1e-12 and left[0] > 0
    assert out[0, NOSE, 2] - out[0, TH, 2] > 0            # the nose is in front: facing +Z
    np.testing.assert_allclose(out[0, P], 0.0, atol=1e-12)
    np.testing.assert_allclose(out[:, :, 1], (world - world[0, P])[:, :, 1], atol=1e-12)  # heights kept
    np.testing.assert_allclose(R @ info.facing_camera, [0, 0, 1], atol=1e-12)


def test_the_default_lean_correction_is_exact_for_a_body_leaning_forward_by_it():
    world = upright_sequence()
    pel = world[:, P:P + 1]
    lean = (world - pel) @ rot("x", FORWARD_LEAN_DEG).T + pel   # top of the body towards +Z (forward)
    assert (lean[:, TH, 2] - lean[:, P, 2] > 0).all()
    cam, R_wc = to_camera(lean, 25.0, -4.0)
    _, _, info = gravity_frame(cam, H36M17)
    np.testing.assert_allclose(info.up_camera, R_wc[:, 1], atol=1e-9)
    _, _, info0 = gravity_frame(cam, H36M17, lean_deg=0.0)
    angle = math.degrees(math.acos(np.clip(info0.up_camera @ R_wc[:, 1], -1, 1)))
    assert angle == pytest.approx(FORWARD_LEAN_DEG, abs=1e-6)


def test_a_known_up_is_used_as_given_and_torch_input_works():
    world = upright_sequence()
    cam, R_wc = to_camera(world, 10.0, 0.0)
    R, out, info = gravity_frame(torch.as_tensor(cam), H36M17, up_camera=3 * R_wc[:, 1])
    np.testing.assert_allclose(info.up_camera, R_wc[:, 1], atol=1e-12)
    np.testing.assert_allclose(out, world - world[0, P], atol=1e-9)


def test_bent_and_outlying_frames_count_less():
    world = upright_sequence(8)
    crouch = world[3].copy()
    crouch[[2, 5]] += np.array([0.0, 0.1, 0.45])    # knees forward: bent
    world[3] = crouch
    lying = world[5] @ rot("x", 80.0).T             # a frame lying nearly flat
    world[5] = lying
    w_up = uprightness(world, H36M17)
    assert w_up[0] == pytest.approx(1.0, abs=0.05) and w_up[3] < 0.5
    cam, R_wc = to_camera(world, 30.0, 3.0)
    up, w = estimate_up(cam, H36M17, lean_deg=0.0)
    assert w[5] == 0.0 and w[3] < w[0]
    angle = math.degrees(math.acos(np.clip(up @ R_wc[:, 1], -1, 1)))
    assert angle < 0.5


def test_layouts_without_pelvis_or_thorax_use_the_mid_hips_and_mid_shoulders():
    world = upright_sequence()
    coco = np.stack([world[:, H36M17.index(c)] if c in H36M17.canonical else world[:, NOSE] + 0.03
                     for c in COCO17.canonical], 1)      # eyes and ears: near the nose
    cam, R_wc = to_camera(coco, 12.0, 1.0)
    R, out, info = gravity_frame(cam, COCO17, lean_deg=0.0)
    assert math.degrees(math.acos(np.clip(info.up_camera @ R_wc[:, 1], -1, 1))) < 2.0
    mid_hip = 0.5 * (out[0, COCO17.index("l_hip")] + out[0, COCO17.index("r_hip")])
    np.testing.assert_allclose(mid_hip, 0.0, atol=1e-12)


def test_camera_pitch_roll_matches_orbit_camera():
    for el, ro in [(0.0, 0.0), (33.0, 4.5), (-10.0, -5.0)]:
        R, _ = orbit_camera(torch.zeros(3, dtype=torch.float64), 4.0, 77.0, el, ro)
        p, r = camera_pitch_roll(R[:, 1].numpy())
        assert p == pytest.approx(el, abs=1e-9) and r == pytest.approx(ro, abs=1e-9)


@pytest.mark.parametrize("elevation, roll", [(0.0, 0.0), (21.0, 6.5), (-12.0, -3.0), (40.0, 0.0)])
def test_horizon_up_recovers_the_camera_from_projected_far_level_points(elevation, roll):
    """Points far away on the camera's horizontal plane project onto the horizon: their line gives pitch and roll."""
    R, t = orbit_camera(torch.zeros(3, dtype=torch.float64), 4.0, 30.0, elevation, roll)
    R, t = R.numpy(), t.numpy()
    eye = -R.T @ t
    K = np.array([[900.0, 0, 470], [0, 900.0, 350], [0, 0, 1]])
    forward = -eye / np.linalg.norm(eye)
    base = math.atan2(forward[0], forward[2])
    pts = []
    for da in (-0.3, 0.25):  # two azimuths in view, 1 km away at the camera's height
        a = base + da
        cam = R @ (eye + 1000.0 * np.array([math.sin(a), 0.0, math.cos(a)])) + t
        pts.append((K @ cam)[:2] / (K @ cam)[2])
    up = horizon_up(pts, K)
    assert np.allclose(up, R[:, 1], atol=1e-9)
    p, r = camera_pitch_roll(up)
    assert p == pytest.approx(elevation, abs=1e-6) and r == pytest.approx(roll, abs=1e-6)
    assert np.allclose(horizon_up(pts[::-1], K), up)  # the order of the points does not matter


def test_horizon_up_rejects_what_is_not_a_line():
    K = np.diag([800.0, 800.0, 1.0])
    for bad, msg in [([[10, 20], [10.2, 20]], "less than a pixel"), ([[0, 1], [2, float("nan")]], "finite"),
                     ([1, 2, 3], "two finite image points")]:
        with pytest.raises(InputError, match=msg):
            horizon_up(bad, K)
    with pytest.raises(InputError, match="invertible"):
        horizon_up([[0, 0], [100, 0]], np.zeros((3, 3)))


def test_bad_input_is_an_input_error():
    good = to_camera(upright_sequence(), 10.0, 0.0)[0]
    with pytest.raises(InputError, match=r"\(T, 17, 3\)"):
        gravity_frame(good[:, :16], H36M17)
    with pytest.raises(InputError, match=r"\(T, 17, 3\)"):
        gravity_frame(good[0], H36M17)
    with pytest.raises(InputError, match=r"T >= 1"):
        gravity_frame(good[:0], H36M17)
    nan = good.copy()
    nan[2, 5, 1] = np.nan
    with pytest.raises(InputError, match="non-finite"):
        gravity_frame(nan, H36M17)
    with pytest.raises(InputError, match="up_camera"):
        gravity_frame(good, H36M17, up_camera=[0, 0, 0])
    with pytest.raises(InputError, match="unknown joint layout"):
        gravity_frame(good, "nope")
    flat = good.copy()
    flat[0, [LH, RH, LS, RS]] = flat[0, P]
    with pytest.raises(InputError, match="facing"):
        gravity_frame(flat, H36M17)


def test_on_bandai_ground_truth_the_estimate_is_within_a_few_degrees(data_dir):
    """Reference check on real motion: true 3D poses of validation clips before cameras of known tilt."""
    from energy3d.data.bandai import load_bandai

    m = load_bandai(split="val", fps=10)
    g = np.random.default_rng(0)
    errs = []
    for c in range(0, m.num_clips, 20):
        cam, R_wc = to_camera(m.clip(c).astype(np.float64), g.uniform(-10, 45), g.uniform(-5, 5), g.uniform(0, 360))
        up, _ = estimate_up(cam, H36M17)
        errs.append(math.degrees(math.acos(np.clip(up @ R_wc[:, 1], -1, 1))))
    assert np.mean(errs) < 5.0, errs
