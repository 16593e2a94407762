"""Tests for energy3d.geometry.camera against independent numpy references."""

import numpy as np
import pytest
import torch

from energy3d.errors import InputError
from energy3d.geometry.camera import (
    Camera,
    default_intrinsics,
    distort,
    intrinsics,
    look_at,
    normalized_to_pixels,
    orbit_camera,
    pixels_to_normalized,
    project,
    undistort,
)

DIST = np.array([-0.25, 0.08, 1.2e-3, -8e-4, -0.01])  # moderate lens: k1, k2, p1, p2, k3


def np_distort(xn, d):
    """OpenCV's model written out directly (docs of cv::projectPoints)."""
    k1, k2, p1, p2, k3 = d
    x, y = xn[..., 0], xn[..., 1]
    r2 = x**2 + y**2
    rad = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
    xd = x * rad + 2 * p1 * x * y + p2 * (r2 + 2 * x**2)
    yd = y * rad + p1 * (r2 + 2 * y**2) + 2 * p2 * x * y
    return np.stack([xd, yd], -1)


def np_pinhole(Xc, fx, fy, cx, cy, skew=0.0, d=None):
    xn = Xc[..., :2] / Xc[..., 2:3]
    if d is not None:
        xn = np_distort(xn, d)
    u = fx * xn[..., 0] + skew * xn[..., 1] + cx
    v = fy * xn[..., 1] + cy
    return np.stack([u, v], -1)


def random_points(rng, n, batch=()):
    xy = rng.uniform(-1.0, 1.0, size=batch + (n, 2))
    z = rng.uniform(2.0, 6.0, size=batch + (n, 1))
    return np.concatenate([xy, z], -1)


def test_intrinsics_layout_and_default():
    K = intrinsics(800.0, 820.0, 320.0, 240.0, dtype=torch.float64)
    ref = np.array([[800.0, 0, 320], [0, 820, 240], [0, 0, 1]])
    np.testing.assert_array_equal(K.numpy(), ref)
    Kd = default_intrinsics(640, 480)
    np.testing.assert_allclose(Kd.numpy(), [[768, 0, 320], [0, 768, 240], [0, 0, 1]])
    K2 = intrinsics(torch.tensor([500.0, 600.0]), 500.0, 10.0, 20.0)
    assert K2.shape == (2, 3, 3) and K2[1, 0, 0] == 600.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_project_matches_numpy_pinhole(dtype):
    rng = np.random.default_rng(0)
    X = random_points(rng, 7, (3,))
    fx, fy, cx, cy = np.array([900.0, 1000, 1100]), np.array([950.0, 1000, 1050]), 500.0, 480.0
    K = intrinsics(torch.tensor(fx), torch.tensor(fy), cx, cy, dtype=dtype)
    K[:, 0, 1] = 3.0  # skew
    got = project(torch.tensor(X, dtype=dtype), K)
    ref = np_pinhole(X, fx[:, None], fy[:, None], cx, cy, skew=3.0)
    tol = 1e-3 if dtype == torch.float32 else 1e-9
    np.testing.assert_allclose(got.numpy(), ref, atol=tol)
    assert got.dtype == dtype and got.shape == (3, 7, 2)


def test_project_with_distortion_matches_numpy():
    rng = np.random.default_rng(1)
    X = random_points(rng, 9)
    K = intrinsics(1000.0, 1000.0, 512.0, 500.0, dtype=torch.float64)
    got = project(torch.tensor(X), K, torch.tensor(DIST))
    np.testing.assert_allclose(got.numpy(), np_pinhole(X, 1000.0, 1000.0, 512.0, 500.0, d=DIST), atol=1e-9)


def test_distort_matches_opencv_formula_batched():
    rng = np.random.default_rng(2)
    xn = rng.uniform(-0.6, 0.6, size=(4, 10, 2))
    d = DIST[None] * rng.uniform(0.5, 1.5, size=(4, 1))  # one coefficient set per batch element
    got = distort(torch.tensor(xn), torch.tensor(d))
    ref = np.stack([np_distort(xn[b], d[b]) for b in range(4)])
    np.testing.assert_allclose(got.numpy(), ref, atol=1e-12)


def test_undistort_inverts_distort():
    rng = np.random.default_rng(3)
    xn = torch.tensor(rng.uniform(-0.5, 0.5, size=(50, 2)))
    back = undistort(distort(xn, torch.tensor(DIST)), torch.tensor(DIST))
    # 1e-7 in normalised coordinates is 1e-4 px at f = 1000 px.
    np.testing.assert_allclose(back.numpy(), xn.numpy(), atol=1e-7)


@pytest.mark.parametrize("with_dist", [False, True])
def test_pixels_normalized_roundtrip(with_dist):
    rng = np.random.default_rng(4)
    xn = torch.tensor(rng.uniform(-0.5, 0.5, size=(2, 20, 2)))
    K = intrinsics(torch.tensor([900.0, 1200.0]), torch.tensor([910.0, 1190.0]), 400.0, 300.0, dtype=torch.float64)
    K[:, 0, 1] = -2.5
    d = torch.tensor(DIST) if with_dist else None
    p = normalized_to_pixels(xn, K, d)
    back = pixels_to_normalized(p, K, d)
    np.testing.assert_allclose(back.numpy(), xn.numpy(), atol=1e-7 if with_dist else 1e-12)
    # pixels_to_normalized of the projection recovers X/Z.
    X = torch.tensor(random_points(rng, 5))
    K1 = K[0]
    np.testing.assert_allclose(pixels_to_normalized(project(X, K1), K1).numpy(), (X[:, :2] / X[:, 2:]).numpy(), atol=1e-12)


def test_camera_world_frame_roundtrip_and_projection():
    rng = np.random.default_rng(5)
    from scipy.spatial.transform import Rotation

    R = Rotation.random(random_state=6).as_matrix()
    t = np.array([0.1, -0.2, 4.0])
    Xw = rng.normal(size=(8, 3)) * 0.5
    cam = Camera(intrinsics(1000.0, 1000.0, 500.0, 500.0, dtype=torch.float64), torch.tensor(R), torch.tensor(t), torch.tensor(DIST))
    Xc = cam.world_to_camera(torch.tensor(Xw))
    np.testing.assert_allclose(Xc.numpy(), Xw @ R.T + t, atol=1e-12)
    np.testing.assert_allclose(cam.camera_to_world(Xc).numpy(), Xw, atol=1e-12)
    ref = np_pinhole(Xw @ R.T + t, 1000.0, 1000.0, 500.0, 500.0, d=DIST)
    np.testing.assert_allclose(cam.project(torch.tensor(Xw)).numpy(), ref, atol=1e-9)


def _assert_rotation(R, atol=1e-6):
    R = R.double()
    eye = torch.eye(3, dtype=R.dtype).expand_as(R)
    torch.testing.assert_close(R @ R.transpose(-1, -2), eye, atol=atol, rtol=0)
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(R.shape[:-2], dtype=R.dtype), atol=atol, rtol=0)


@pytest.mark.parametrize("up", [(0.0, 1.0, 0.0), (0.0, 0.0, 1.0)])
def test_look_at_is_proper_and_points_at_target(up):
    dt = torch.float64
    eye = torch.tensor([[3.0, 1.5, -2.0], [-1.0, 2.0, 4.0]], dtype=dt)
    target = torch.tensor([0.2, 0.9, 0.1], dtype=dt)
    upv = torch.tensor(up, dtype=dt)
    R, t = look_at(eye, target, upv)
    _assert_rotation(R)
    K = intrinsics(1000.0, 1000.0, 640.0, 360.0, dtype=dt)
    for b in range(2):
        cam = Camera(K, R[b], t[b])
        # the eye is the camera centre, the target lies straight ahead
        np.testing.assert_allclose(cam.world_to_camera(eye[b : b + 1]).numpy(), 0.0, atol=1e-12)
        tc = cam.world_to_camera(target[None])[0]
        assert tc[2] > 0
        np.testing.assert_allclose(tc[2].item(), (target - eye[b]).norm().item(), rtol=1e-12)
        px = cam.project(target[None])[0]
        np.testing.assert_allclose(px.numpy(), [640.0, 360.0], atol=1e-9)
        # world up points to negative image y: a point above the target is above it in the image
        above = cam.project((target + 0.3 * upv)[None])[0]
        assert above[1] < 360.0 - 1.0
        assert abs(above[0] - 640.0) < 1e-6
        # and the camera y axis (image down) has negative component along world up
        assert float(R[b, 1] @ upv) < 0


def test_look_at_parallel_up_raises():
    with pytest.raises(InputError):
        look_at(torch.tensor([0.0, 5.0, 0.0]), torch.zeros(3), torch.tensor([0.0, 1.0, 0.0]))


@pytest.mark.parametrize("up_axis", ["y", "z"])
def test_orbit_camera_keeps_target_centred_at_distance(up_axis):
    dt = torch.float64
    target = torch.tensor([0.3, -0.2, 1.1], dtype=dt)
    K = default_intrinsics(800, 600, dtype=dt)
    upv = torch.tensor([0.0, 1.0, 0.0] if up_axis == "y" else [0.0, 0.0, 1.0], dtype=dt)
    for az in (0.0, 45.0, 137.0, 200.0, -90.0):
        for el, roll in ((0.0, 0.0), (30.0, 0.0), (-20.0, 15.0)):
            R, t = orbit_camera(target, 3.5, az, el, roll, up_axis=up_axis)
            _assert_rotation(R)
            centre = -(R.transpose(-1, -2) @ t)
            np.testing.assert_allclose((centre - target).norm().item(), 3.5, rtol=1e-12)
            # elevation: height of the camera above the target along the up axis
            np.testing.assert_allclose(float((centre - target) @ upv), 3.5 * np.sin(np.radians(el)), atol=1e-12)
            px = Camera(K, R, t).project(target[None])[0]
            np.testing.assert_allclose(px.numpy(), [400.0, 300.0], atol=1e-9)
            if roll == 0.0 and el == 0.0:  # up points to image -y
                above = Camera(K, R, t).project((target + 0.2 * upv)[None])[0]
                assert above[1] < 300.0 - 1.0 and abs(above[0] - 400.0) < 1e-6


def test_orbit_camera_azimuth_convention():
    # Y-up: azimuth 0 sits on +Z, azimuth 90 on +X (measured about +Y).
    R, t = orbit_camera(torch.zeros(3, dtype=torch.float64), 2.0, torch.tensor([0.0, 90.0]), torch.tensor([0.0, 0.0]))
    centres = -(R.transpose(-1, -2) @ t.unsqueeze(-1)).squeeze(-1)
    np.testing.assert_allclose(centres.numpy(), [[0, 0, 2.0], [2.0, 0, 0]], atol=1e-12)


def test_orbit_camera_broadcasts_scalar_with_vector_angles():
    # The docstring promises broadcastable angles; a vector of azimuths with scalar distance and
    # elevation used to fail inside torch.stack (bug fixed by broadcasting the angles first).
    az = torch.tensor([0.0, 60.0, 120.0], dtype=torch.float64)
    R, t = orbit_camera(torch.zeros(3, dtype=torch.float64), 2.0, az, 20.0)
    assert R.shape == (3, 3, 3) and t.shape == (3, 3)
    for k in range(3):
        Rk, tk = orbit_camera(torch.zeros(3, dtype=torch.float64), 2.0, az[k].item(), 20.0)
        torch.testing.assert_close(R[k], Rk)
        torch.testing.assert_close(t[k], tk)


def test_project_gradcheck_float64():
    rng = np.random.default_rng(7)
    X = torch.tensor(random_points(rng, 4), requires_grad=True)
    K = intrinsics(900.0, 950.0, 300.0, 200.0, dtype=torch.float64).requires_grad_(True)
    d = torch.tensor(DIST, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b, c: project(a, b, c), (X, K, d))
    assert torch.autograd.gradcheck(lambda a, c: undistort(a, c), (torch.tensor(rng.uniform(-0.3, 0.3, (3, 2)), requires_grad=True), d))


def test_bad_shapes_and_focal_raise():
    K = intrinsics(1000.0, 1000.0, 500.0, 500.0)
    with pytest.raises(InputError, match=r"expected shape \(\.\.\., 3\), got \(5, 2\)"):
        project(torch.zeros(5, 2), K)
    with pytest.raises(InputError, match=r"K: expected shape"):
        project(torch.ones(5, 3), torch.eye(2))
    with pytest.raises(InputError, match="dist"):
        project(torch.ones(5, 3), K, torch.zeros(4))
    with pytest.raises(InputError):
        pixels_to_normalized(torch.zeros(5, 3), K)
    with pytest.raises(InputError, match="R"):
        Camera(K, torch.eye(4), torch.zeros(3))
    with pytest.raises(InputError, match="t"):
        Camera(K, torch.eye(3), torch.zeros(2))
    for fx, fy in ((0.0, 100.0), (100.0, -1.0)):
        with pytest.raises(InputError, match="focal"):
            intrinsics(fx, fy, 0.0, 0.0)
    with pytest.raises(InputError, match="focal"):
        default_intrinsics(640, 480, focal=0.0)
    with pytest.raises(InputError, match="size"):
        default_intrinsics(0, 480)
    with pytest.raises(InputError, match="up_axis"):
        orbit_camera(torch.zeros(3), 1.0, 0.0, 0.0, up_axis="x")
    assert issubclass(InputError, ValueError)


def test_centring_rotation_follows_the_device_and_traces_batch_free():
    """Built from ``x`` alone: on ``x``'s device, and a trace at one batch size runs at others (0 too)."""
    import warnings

    from energy3d.geometry.camera import centring_rotation, rotate_normalized

    x = torch.randn(2, 17, 2) * 0.1 + torch.tensor([0.4, -0.3])
    assert centring_rotation(x.to("meta")).is_meta
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(lambda v: rotate_normalized(v, centring_rotation(v)), x)
    for n in (5, 0):
        v = torch.randn(n, 17, 2) * 0.1 + torch.tensor([0.4, -0.3])
        got, want = traced(v), rotate_normalized(v, centring_rotation(v))
        assert got.shape == (n, 17, 2) and torch.allclose(got, want, atol=1e-6)
    assert centring_rotation(torch.zeros(0, 17, 2)).shape == (0, 3, 3)
