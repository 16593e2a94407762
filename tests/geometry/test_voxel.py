"""Tests for energy3d.geometry.voxel against independent references (LP feasibility, brute-force
point-in-mesh, analytic shapes, rendered silhouettes)."""

import math

import numpy as np
import pytest
import torch

from energy3d.errors import InputError
from energy3d.geometry.camera import intrinsics, orbit_camera, project
from energy3d.geometry.mesh import Mesh, box_mesh, icosphere, sample_surface, tetrahedron
from energy3d.geometry.render import render
from energy3d.geometry.voxel import (
    frustum_coordinates,
    frustum_grid_centers,
    frustum_silhouette,
    parity_inside,
    triangle_box_overlap,
    voxelize,
    voxelize_frustum,
    voxelize_triangles,
    world_grid_centers,
    world_to_frustum,
)


def _lp_overlap(tri, lo, hi):
    """Reference: is there a convex combination of the corners inside [lo, hi]? (linear feasibility)"""
    from scipy.optimize import linprog

    A_ub = np.concatenate([tri.T, -tri.T])
    b_ub = np.concatenate([hi, -lo])
    res = linprog(np.zeros(3), A_ub=A_ub, b_ub=b_ub, A_eq=np.ones((1, 3)), b_eq=[1.0], bounds=[(0, None)] * 3, method="highs")
    return res.status == 0


def test_triangle_box_overlap_matches_lp_reference():
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(300):
        tri = rng.normal(size=(3, 3)) * rng.uniform(0.2, 1.5)
        c = rng.normal(size=3) * 0.8
        h = rng.uniform(0.1, 0.6)
        got = triangle_box_overlap(tri, c, h)
        # decide only cases that are not within 1e-6 of touching
        inside_shrunk = _lp_overlap(tri, c - h + 1e-6, c + h - 1e-6)
        outside_grown = not _lp_overlap(tri, c - h - 1e-6, c + h + 1e-6)
        if inside_shrunk:
            assert got, (tri, c, h)
            checked += 1
        elif outside_grown:
            assert not got, (tri, c, h)
            checked += 1
    assert checked > 280
    # touching counts (closed test): a triangle whose corner touches the box's face
    assert triangle_box_overlap([[1.0, 0, 0], [2, 0, 0], [2, 1, 0]], [0, 0, 0], 1.0)
    assert not triangle_box_overlap([[1.001, 0, 0], [2, 0, 0], [2, 1, 0]], [0, 0, 0], 1.0)


def test_axis_aligned_box_fills_exact_voxel_count():
    R = 32
    # box [-0.23, 0.31] x [-0.4, 0.1] x [-0.05, 0.45] in the unit cube: index intervals [a, b]
    lo = np.array([-0.23, -0.4, -0.05])
    hi = np.array([0.31, 0.1, 0.45])
    b = box_mesh(center=(lo + hi) / 2, size=hi - lo)
    g = voxelize(b, R)
    ia, ib = np.floor((lo + 0.5) * R).astype(int), np.floor((hi + 0.5) * R).astype(int)
    expect = np.zeros((R, R, R), bool)
    expect[ia[0]:ib[0] + 1, ia[1]:ib[1] + 1, ia[2]:ib[2] + 1] = True
    np.testing.assert_array_equal(g, expect)
    shell = voxelize(b, R, fill="none")
    inner = expect.copy()
    inner[ia[0]:ib[0] + 1, ia[1]:ib[1] + 1, ia[2]:ib[2] + 1] = False
    inner[ia[0] + 1:ib[0], ia[1] + 1:ib[1], ia[2] + 1:ib[2]] = True  # interior (not touched by faces)
    np.testing.assert_array_equal(shell, expect & ~inner)


def test_faces_on_voxel_boundaries_fill_one_layer():
    # cube [-0.25, 0.25]^3 at R = 8: faces on the planes 2 and 6 in index units; cells are half-open
    g = voxelize(box_mesh(size=0.5), 8)
    assert g.sum() == 5**3 and g[2:7, 2:7, 2:7].all()


def test_sphere_volume_converges_and_is_sandwiched():
    r = 0.4
    s = icosphere(4, radius=r)
    errs = []
    for R in (32, 64, 128):
        g = voxelize(s, R)
        c = world_grid_centers(R)
        h = 1.0 / R
        dist = np.linalg.norm(c, axis=-1)
        r_in = r * math.cos(math.radians(3.0))  # the icosphere(4) lies between r_in and r
        # every voxel fully inside the inscribed sphere is filled; none that lies outside the sphere is
        assert g[dist + math.sqrt(3) / 2 * h < r_in].all()
        assert not g[dist - math.sqrt(3) / 2 * h > r].any()
        errs.append(g.sum() * h**3 / (4 / 3 * math.pi * r**3) - 1)
    assert errs[0] > errs[1] > errs[2] > 0  # the surface rule overestimates, less at higher resolution
    assert errs[1] < 0.12 and errs[2] < 0.06


def test_surface_samples_fall_in_filled_voxels():
    meshes = [icosphere(2, radius=0.35), tetrahedron(np.array([[-0.4, -0.3, -0.2], [0.4, -0.4, 0.0], [0.0, 0.45, 0.1], [0.1, 0.0, 0.48]]))]
    for m in meshes:
        for R in (16, 37):
            g = voxelize(m, R, fill="none")
            p, _ = sample_surface(m, 5000, seed=3)
            idx = np.floor((p + 0.5) * R).astype(int)
            assert g[idx[:, 0], idx[:, 1], idx[:, 2]].all()


def _point_in_mesh(points, tris, direction=(0.5773, 0.5774, 0.5775)):
    """Brute-force reference: odd number of ray-triangle hits (Moller-Trumbore) along a generic direction."""
    d = np.asarray(direction) / np.linalg.norm(direction)
    v0, e1, e2 = tris[:, 0], tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0]
    pvec = np.cross(d, e2)
    det = np.einsum("ij,ij->i", e1, pvec)
    out = np.zeros(len(points), bool)
    for k, o in enumerate(points):
        tvec = o - v0
        u = np.einsum("ij,ij->i", tvec, pvec) / det
        qvec = np.cross(tvec, e1)
        v = (qvec @ d) / det
        t = np.einsum("ij,ij->i", e2, qvec) / det
        hits = (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
        out[k] = hits.sum() % 2 == 1
    return out


def test_parity_matches_brute_force_point_in_mesh():
    rng = np.random.default_rng(1)
    s = icosphere(2, radius=1.0)
    radius = 0.25 + 0.15 * rng.random(s.num_vertices)  # a closed, non-convex blob
    blob = Mesh(s.vertices * radius[:, None], s.faces)
    R = 20
    tris_idx = (blob.triangles() + 0.5) * R
    got = parity_inside(tris_idx, R)
    ref = _point_in_mesh(world_grid_centers(R).reshape(-1, 3), blob.triangles()).reshape(R, R, R)
    assert ref.sum() > 200
    assert (got != ref).sum() <= 2  # grazing rays may differ on a voxel or two
    # the flood-filled solid contains every voxel whose centre is inside
    assert voxelize(blob, R, fill="flood")[ref].all()


def test_open_mesh_flood_leaks_but_parity_fills():
    b = box_mesh(center=(0.01, 0.02, 0.03), size=0.6)
    open_top = Mesh(b.vertices, b.faces[[0, 1, 2, 3, 4, 5, 8, 9, 10, 11]])  # y+ faces removed
    closed = voxelize(b, 24)
    flood = voxelize(open_top, 24, fill="flood")
    parity = voxelize(open_top, 24, fill="parity")
    auto = voxelize(open_top, 24)
    assert flood.sum() < 0.6 * closed.sum()  # only the shell
    # the top face lies at index 19.68: its voxel layer (centres at 19.5) is inside the box, so the
    # majority-vote parity fill recovers the closed box exactly
    np.testing.assert_array_equal(parity, closed)
    np.testing.assert_array_equal(auto, parity)


def test_world_grid_axis_order():
    b = box_mesh(center=(0.3, -0.3, 0.0), size=0.1)
    g = voxelize(b, 10)
    ix, iy, iz = np.nonzero(g)
    assert ix.min() >= 7 and iy.max() <= 2 and 4 <= iz.min() and iz.max() <= 5


def test_frustum_coordinates_match_camera_projection():
    Kt = intrinsics(70.0, 75.0, 31.0, 33.0)
    pts = torch.tensor([[0.1, -0.2, 1.7], [-0.3, 0.25, 2.4], [0.0, 0.0, 2.0]])
    uv = project(pts, Kt).numpy()
    dc = frustum_coordinates(pts.numpy(), Kt.numpy(), 64, 64, (10, 16, 32), 1.5, 2.5)
    np.testing.assert_allclose(dc[:, 2], uv[:, 0] * 32 / 64, rtol=1e-5)
    np.testing.assert_allclose(dc[:, 1], uv[:, 1] * 16 / 64, rtol=1e-5)
    inv = 1 / pts[:, 2].numpy()
    np.testing.assert_allclose(dc[:, 0], 10 * (1 / 1.5 - inv) / (1 / 1.5 - 1 / 2.5), rtol=1e-5)


def test_frustum_centers_round_trip_and_inverse_depth_bins():
    K = np.array([[80.0, 1.5, 30.0], [0.0, 82.0, 34.0], [0, 0, 1]])  # with skew
    shape = (6, 8, 12)
    C = frustum_grid_centers(K, 48, 64, shape, 1.2, 3.0)
    assert C.shape == (6, 8, 12, 3)
    idx = frustum_coordinates(C, K, 48, 64, shape, 1.2, 3.0)
    grid = np.stack(np.meshgrid(*[np.arange(n) + 0.5 for n in shape], indexing="ij"), axis=-1)
    np.testing.assert_allclose(idx, grid, atol=1e-9)
    w = 1 / C[:, 0, 0, 2]
    np.testing.assert_allclose(np.diff(w), np.diff(w)[0])  # uniform in 1/z
    assert C[0, 0, 0, 2] < C[-1, 0, 0, 2] and 1.2 < C[..., 2].min() and C[..., 2].max() < 3.0


def test_frustum_map_keeps_planes_planar():
    rng = np.random.default_rng(2)
    n = np.array([0.3, -0.5, 0.8])
    a, b = np.linalg.svd(n[None])[2][1:]  # two directions in the plane
    P = np.array([0.1, 0.0, 2.0]) + rng.normal(size=(50, 1)) * a * 0.3 + rng.normal(size=(50, 1)) * b * 0.3
    K = np.array([[90.0, 0, 32], [0, 90.0, 32], [0, 0, 1]])
    Q = frustum_coordinates(P, K, 64, 64, 32, 1.2, 3.0)
    sv = np.linalg.svd(Q - Q.mean(axis=0), compute_uv=False)
    assert sv[2] < 1e-9 * sv[0]


def _sphere_camera(S):
    K = intrinsics(S / 2 / math.tan(math.radians(15)), S / 2 / math.tan(math.radians(15)), S / 2, S / 2, dtype=torch.float64).numpy()
    R, t = orbit_camera(torch.zeros(3, dtype=torch.float64), 2.0, 37.0, 27.0)
    return K, R.numpy(), t.numpy()


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_frustum_silhouette_matches_rendered_silhouette():
    S = 64
    K, R, t = _sphere_camera(S)
    s = icosphere(4, radius=0.45)
    g = voxelize_frustum(s, K, R, t, S, S, 64, 1.5, 2.5)
    sil = frustum_silhouette(g)
    _, mask, _ = render(s, K, R, t, S, S)
    assert not (mask & ~sil).any()  # every covered pixel centre lies in a filled column
    assert _iou(sil, mask) > 0.95
    # against the area-coverage silhouette (any of 4x4 sub-pixels covered), agreement is tighter
    K4 = K.copy()
    K4[:2] *= 4
    _, m4, _ = render(s, K4, R, t, 4 * S, 4 * S)
    assert _iou(sil, m4.reshape(S, 4, S, 4).any(axis=(1, 3))) > 0.98


def test_frustum_depth_bins_bracket_the_object():
    S, D = 32, 16
    K = np.array([[40.0, 0, 16], [0, 40.0, 16], [0, 0, 1]])
    b = box_mesh(center=(0, 0, 2.0), size=0.4)  # camera = identity: z from 1.8 to 2.2
    g = voxelize_frustum(b, K, np.eye(3), np.zeros(3), S, S, (D, S, S), 1.5, 2.5)
    bins = np.nonzero(g.any(axis=(1, 2)))[0]
    d = lambda z: D * (1 / 1.5 - 1 / z) / (1 / 1.5 - 1 / 2.5)  # noqa: E731
    assert bins.min() == math.floor(d(1.8)) and bins.max() == math.floor(d(2.2))
    # solid: the centre ray is filled from the front to the back face
    assert g[bins.min():bins.max() + 1, 16, 16].all()


def test_world_to_frustum_agrees_with_direct_frustum_voxelisation():
    S = 32
    K, R, t = _sphere_camera(S)
    s = icosphere(3, radius=0.4)
    direct = voxelize_frustum(s, K, R, t, S, S, 32, 1.5, 2.5)
    world = voxelize(s, 96)
    resampled = world_to_frustum(world, K, R, t, S, S, 32, 1.5, 2.5, samples=2)
    assert resampled.dtype == np.float32 and resampled.min() >= 0 and resampled.max() <= 1
    assert _iou(resampled > 0.5, direct) > 0.8
    assert not ((resampled > 0.5) & ~direct).any()  # conservative direct grid contains the resampled one


def test_real_mesh_frustum_silhouette(data_dir):
    from energy3d.data.mesh_io import read_obj
    from energy3d.data.shapes import normalize_model

    m = normalize_model(read_obj(data_dir / "objects_cc0" / "sofa" / "models__loungeSofa.obj"), "Models", "models__loungeSofa")
    S = 64
    K, R, t = _sphere_camera(S)
    sil = frustum_silhouette(voxelize_frustum(m, K, R, t, S, S, 64, 1.5, 2.5))
    K4 = K.copy()
    K4[:2] *= 4
    _, mask, _ = render(m, K, R, t, S, S)
    _, m4, _ = render(m, K4, R, t, 4 * S, 4 * S)
    assert not (mask & ~sil).any()
    assert _iou(sil, m4.reshape(S, 4, S, 4).any(axis=(1, 3))) > 0.95


def test_bad_inputs():
    with pytest.raises(InputError, match="fill"):
        voxelize(box_mesh(), 8, fill="solid")
    with pytest.raises(InputError, match="z_near"):
        voxelize_frustum(box_mesh(), np.eye(3), np.eye(3), np.zeros(3), 8, 8, 8, 2.0, 1.0)
    with pytest.raises(InputError, match=r"\(F, 3, 3\)"):
        voxelize_triangles(np.zeros((4, 3)), 8)
    with pytest.raises(InputError, match="grid shape"):
        voxelize_triangles(np.zeros((1, 3, 3)), (8, 8))
    with pytest.raises(InputError, match="bounds"):
        voxelize(box_mesh(), 8, bounds=(1, 0))
