"""Tests for energy3d.geometry.render: coverage, depth, occlusion, shading, clipping."""

import math

import numpy as np
import pytest
import torch

from energy3d.errors import InputError
from energy3d.geometry.camera import intrinsics, orbit_camera, project
from energy3d.geometry.mesh import Mesh, box_mesh, icosphere
from energy3d.geometry.render import clip_near, rasterize, render

W = H = 64
K = np.array([[100.0, 0.0, 32.0], [0.0, 100.0, 32.0], [0.0, 0.0, 1.0]])
I3, Z3 = np.eye(3), np.zeros(3)


def square(z=2.0, half=0.205, color=(0.2, 0.6, 0.4), flip=False):
    """Two triangles at depth z facing the camera (counter-clockwise towards -Z, i.e. towards the camera)."""
    v = np.array([[-half, -half, z], [half, -half, z], [half, half, z], [-half, half, z]])
    f = np.array([[0, 2, 1], [0, 3, 2]])
    if flip:
        f = f[:, ::-1].copy()
    return Mesh(v, f, np.tile(color, (2, 1)))


def test_square_coverage_and_depth_are_exact():
    rgb, mask, depth = render(square(), K, I3, Z3, W, H)
    # projected half size 0.205 * 100 / 2 = 10.25 px -> pixel centres j + 0.5 in [21.75, 42.25]: j = 22..41
    expect = np.zeros((H, W), bool)
    expect[22:42, 22:42] = True
    np.testing.assert_array_equal(mask, expect)
    np.testing.assert_allclose(depth[mask], 2.0, rtol=1e-6)
    assert np.all(np.isinf(depth[~mask]))
    np.testing.assert_allclose(rgb[~mask], 1.0)  # white background


def test_tilted_plane_depth_matches_ray_intersection():
    # plane z = 2 + 0.5 x (in camera frame), a big quad
    xs = np.array([-0.5, 0.5])
    v = np.array([[x, y, 2 + 0.5 * x] for x in xs for y in (-0.5, 0.5)])
    m = Mesh(v, np.array([[0, 1, 3], [0, 3, 2]]))
    _, mask, depth = render(m, K, I3, Z3, W, H)
    jj, ii = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
    xn = (jj - 32) / 100
    z_ref = 2 / (1 - 0.5 * xn)  # z = 2 + 0.5 x, x = xn z
    np.testing.assert_allclose(depth[mask], z_ref[mask], rtol=1e-5)
    assert mask.mean() > 0.5


def test_sphere_silhouette_area_matches_analytic():
    r, d = 0.5, 3.0
    s = icosphere(4, radius=r, center=(0, 0, d))
    _, mask, _ = render(s, K, I3, Z3, W, H)
    # a centred sphere's silhouette is a disc of radius f * r / sqrt(d^2 - r^2)
    rad = 100 * r / math.sqrt(d * d - r * r)
    assert mask.sum() == pytest.approx(math.pi * rad * rad, rel=0.03)


def test_occlusion_is_independent_of_face_order():
    near = square(z=2.0, half=0.1, color=(1.0, 0.0, 0.0))
    far = square(z=3.0, half=0.3, color=(0.0, 0.0, 1.0))
    for order in ((near, far), (far, near)):
        v = np.concatenate([order[0].vertices, order[1].vertices])
        f = np.concatenate([order[0].faces, order[1].faces + 4])
        c = np.concatenate([order[0].face_colors, order[1].face_colors])
        rgb, mask, depth = render(Mesh(v, f, c), K, I3, Z3, W, H, light_dir=(0, 0, -1))
        assert rgb[32, 32, 0] > 0.99 and rgb[32, 32, 2] < 0.01
        assert depth[32, 32] == pytest.approx(2.0)
        assert rgb[32, 24, 2] > 0.99 and depth[32, 24] == pytest.approx(3.0)


def test_lambert_ambient_shading_and_double_sided_faces():
    col = (0.2, 0.6, 0.4)
    rgb, mask, _ = render(square(color=col), K, I3, Z3, W, H, light_dir=(0, 0, -1), ambient=0.3)
    np.testing.assert_allclose(rgb[32, 32], col, atol=1e-6)  # light along the normal: full colour
    rgb, _, _ = render(square(color=col), K, I3, Z3, W, H, light_dir=(1, 0, -1), ambient=0.3)
    np.testing.assert_allclose(rgb[32, 32], np.array(col) * (0.3 + 0.7 / math.sqrt(2)), atol=1e-6)
    rgb, _, _ = render(square(color=col), K, I3, Z3, W, H, light_dir=(0, 0, 1), ambient=0.3)
    np.testing.assert_allclose(rgb[32, 32], np.array(col) * 0.3, atol=1e-6)  # light behind: ambient only
    # a face wound the other way is drawn alike (double sided) unless back faces are culled
    rgb2, mask2, _ = render(square(color=col, flip=True), K, I3, Z3, W, H, light_dir=(0, 0, -1))
    np.testing.assert_array_equal(mask2, mask)
    np.testing.assert_allclose(rgb2[32, 32], col, atol=1e-6)
    _, mask3, _ = render(square(color=col, flip=True), K, I3, Z3, W, H, cull_backfaces=True)
    assert not mask3.any()
    _, mask4, _ = render(square(color=col), K, I3, Z3, W, H, cull_backfaces=True)
    np.testing.assert_array_equal(mask4, mask)


def test_camera_from_torch_and_projection_agree():
    Kt = intrinsics(120.0, 120.0, 32.0, 32.0)
    R, t = orbit_camera(torch.zeros(3), 3.0, 30.0, 20.0)
    b = box_mesh(size=0.6, color=(0.5, 0.5, 0.5))
    _, mask, depth = render(b, Kt, R, t, W, H)
    uv = project(torch.as_tensor(b.vertices, dtype=torch.float32) @ R.T + t, Kt).numpy()
    # the silhouette's bounding box equals the projected corners' bounding box (to a pixel)
    rows, cols = np.nonzero(mask)
    assert abs(cols.min() + 0.5 - uv[:, 0].min()) <= 1.0 and abs(cols.max() + 0.5 - uv[:, 0].max()) <= 1.0
    assert abs(rows.min() + 0.5 - uv[:, 1].min()) <= 1.0 and abs(rows.max() + 0.5 - uv[:, 1].max()) <= 1.0
    # the box centre is 3 m away; the visible surface is in front of it
    assert 3.0 - 0.6 * math.sqrt(3) / 2 - 1e-6 <= depth[mask].min() < 3.0


def test_clip_near_keeps_the_front_part():
    tri = np.array([[[0.0, 0.0, 0.5], [1.0, 0.0, 2.0], [0.0, 1.0, 2.0]]])  # one corner in front of z = 1
    out, idx = clip_near(tri, 1.0)
    assert len(out) == 2 and np.all(idx == 0) and np.all(out[..., 2] >= 1.0 - 1e-12)

    def area(t):
        return 0.5 * np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), axis=1).sum()

    # the cut-off part is the similar triangle scaled by (1 - 0.5) / (2 - 0.5) = 1/3
    assert area(out) == pytest.approx(area(tri) * (1 - (1 / 3) ** 2))
    out2, _ = clip_near(tri, 3.0)
    assert len(out2) == 0
    # rendering a triangle that crosses the near plane does not fail and draws only z >= near
    m = Mesh(np.array([[-1.0, -1.0, 0.001], [1.0, -1.0, 3.0], [0.0, 1.0, 3.0]]), np.array([[0, 1, 2]]))
    _, mask, depth = render(m, K, I3, Z3, W, H, near=0.5)
    assert mask.any() and depth[mask].min() >= 0.5 - 1e-6


def test_supersampling_keeps_the_silhouette():
    s = icosphere(3, radius=0.5, center=(0, 0, 3.0))
    _, m1, _ = render(s, K, I3, Z3, W, H)
    rgb, m2, d2 = render(s, K, I3, Z3, W, H, supersample=3)
    assert abs(int(m1.sum()) - int(m2.sum())) < 0.03 * m1.sum()
    assert rgb.shape == (H, W, 3) and np.all(np.isinf(d2[~m2]))


def test_rasterize_face_ids():
    a = square(z=2.0, half=0.1)
    fid, depth = rasterize(a.triangles(), K, W, H)
    assert set(np.unique(fid)) == {-1, 0, 1}
    assert np.isinf(depth[fid < 0]).all()


def test_bad_inputs():
    with pytest.raises(InputError, match="K"):
        render(square(), np.eye(2), I3, Z3, W, H)
    with pytest.raises(InputError, match="supersample"):
        render(square(), K, I3, Z3, W, H, supersample=0)
    with pytest.raises(InputError, match="image size"):
        render(square(), K, I3, Z3, 0, H)
    with pytest.raises(InputError, match="Mesh"):
        render(np.zeros((3, 3)), K, I3, Z3, W, H)
