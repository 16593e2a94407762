"""Tests for energy3d.geometry.mesh: container checks, measurements, primitives, normalisation."""

import itertools
import math

import numpy as np
import pytest

from energy3d.errors import InputError
from energy3d.geometry.mesh import (
    Mesh,
    bounds,
    box_mesh,
    canonical_rotation,
    concatenate_meshes,
    face_areas,
    face_normals,
    icosphere,
    is_watertight,
    linear_to_srgb,
    normalize_mesh,
    sample_surface,
    surface_area,
    tetrahedron,
    transform_mesh,
    volume,
    weld_vertices,
)
from energy3d.data.shapes import model_orientation, normalize_model


def test_mesh_validation_errors():
    v = np.zeros((3, 3))
    with pytest.raises(InputError, match=r"\(V, 3\)"):
        Mesh(np.zeros((3, 2)), np.array([[0, 1, 2]]))
    with pytest.raises(InputError, match="NaN"):
        Mesh(np.array([[0, 0, 0], [1, 0, 0], [np.nan, 0, 0]]), np.array([[0, 1, 2]]))
    with pytest.raises(InputError, match="indices"):
        Mesh(v, np.array([[0, 1, 3]]))
    with pytest.raises(InputError, match=r"\(F, 3\)"):
        Mesh(v, np.array([[0, 1]]))
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        Mesh(v, np.array([[0, 1, 2]]), np.array([[0.5, 1.5, 0.0]]))
    m = Mesh(v.tolist(), [[0, 1, 2]])
    assert m.faces.dtype == np.int64 and m.vertices.dtype == np.float64


def test_box_measurements():
    b = box_mesh(center=(1.0, -2.0, 0.5), size=(0.5, 2.0, 3.0))
    assert volume(b) == pytest.approx(3.0)
    assert surface_area(b) == pytest.approx(2 * (0.5 * 2 + 0.5 * 3 + 2 * 3))
    np.testing.assert_allclose(bounds(b), [[0.75, -3.0, -1.0], [1.25, -1.0, 2.0]])
    assert is_watertight(b)
    # outward normals: each points away from the centre
    n = face_normals(b)
    c = b.triangles().mean(axis=1) - np.array([1.0, -2.0, 0.5])
    assert np.all(np.einsum("ij,ij->i", n, c) > 0)


def test_tetrahedron_and_sphere_volumes():
    assert volume(tetrahedron()) == pytest.approx(1 / 6)
    flipped = tetrahedron(np.array([[0, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1.0]]))
    assert volume(flipped) == pytest.approx(1 / 6)  # winding fixed to outward
    s = icosphere(3, radius=2.0)
    assert s.num_faces == 20 * 4**3
    assert volume(s) == pytest.approx(4 / 3 * math.pi * 8, rel=0.01)
    assert volume(s) < 4 / 3 * math.pi * 8  # inscribed polyhedron
    assert surface_area(s) == pytest.approx(4 * math.pi * 4, rel=0.01)
    np.testing.assert_allclose(np.linalg.norm(s.vertices, axis=1), 2.0)
    assert is_watertight(s)


def test_transform_reflection_keeps_outward_winding():
    b = box_mesh(size=1.0)
    mirror = np.diag([-1.0, 1.0, 1.0])
    m = transform_mesh(b, mirror, t=(1, 2, 3), scale=2.0)
    assert volume(m) == pytest.approx(8.0)
    np.testing.assert_allclose(bounds(m), [[0, 1, 2], [2, 3, 4]])


def test_weld_restores_connectivity():
    b = box_mesh()
    split = Mesh(b.vertices[b.faces].reshape(-1, 3), np.arange(36).reshape(12, 3))
    assert not is_watertight(split, weld=False)
    w = weld_vertices(split)
    assert w.num_vertices == 8 and w.num_faces == 12
    assert is_watertight(split)
    open_box = Mesh(b.vertices, b.faces[:-2])
    assert not is_watertight(open_box)


def test_concatenate_fills_missing_colours():
    a = box_mesh(color=(1.0, 0.0, 0.0))
    b = tetrahedron()
    m = concatenate_meshes([a, b])
    assert m.num_faces == 16 and m.num_vertices == 12
    np.testing.assert_allclose(m.face_colors[:12], [[1, 0, 0]] * 12)
    np.testing.assert_allclose(m.face_colors[12:], [[0.7, 0.7, 0.7]] * 4)
    assert volume(m) == pytest.approx(1 + 1 / 6)


def test_sample_surface_points_lie_on_their_faces():
    s = icosphere(1)
    p, fi = sample_surface(s, 2000, seed=1)
    tri = s.triangles()[fi]
    n = face_normals(s)[fi]
    dist = np.einsum("ij,ij->i", p - tri[:, 0], n)
    np.testing.assert_allclose(dist, 0.0, atol=1e-12)
    # area-proportional: faces hit in proportion to area (coarse check on the two halves)
    a = face_areas(s)
    big = a > np.median(a)
    assert abs(np.mean(big[fi]) - a[big].sum() / a.sum()) < 0.05


@pytest.mark.parametrize("up,front", [(u, f) for u, f in itertools.product(["+x", "-x", "+y", "-y", "+z", "-z"], repeat=2) if u[1] != f[1]])
def test_canonical_rotation_is_proper_and_maps_axes(up, front):
    R = canonical_rotation(up, front)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    sign = lambda a: (1.0 if a[0] == "+" else -1.0) * np.eye(3)["xyz".index(a[1])]  # noqa: E731
    np.testing.assert_allclose(R @ sign(up), [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(R @ sign(front), [0, 0, 1], atol=1e-12)


def test_canonical_rotation_rejects_parallel_axes():
    with pytest.raises(InputError, match="perpendicular"):
        canonical_rotation("+y", "-y")
    with pytest.raises(InputError, match="axis"):
        canonical_rotation("up", "+z")


def _marker_mesh():
    """A flat slab (2 x 0.2 x 1) with a tall spike at the source +Z end: spike = 'up' marker."""
    slab = box_mesh(size=(2.0, 0.2, 1.0))
    spike = box_mesh(center=(0.0, 0.0, 1.5), size=(0.1, 0.1, 2.0))
    return concatenate_meshes([slab, spike])


def test_normalize_mesh_centre_scale_and_axes():
    m = normalize_mesh(_marker_mesh(), up="+z", front="-y")
    b = bounds(m)
    np.testing.assert_allclose((b[0] + b[1]) / 2, 0.0, atol=1e-12)
    assert np.linalg.norm(b[1] - b[0]) == pytest.approx(1.0)
    ext = b[1] - b[0]
    assert np.argmax(ext) == 1  # the spike now points up (+Y)
    top = m.vertices[np.argmax(m.vertices[:, 1])]
    assert abs(top[0]) < 0.05 and abs(top[2]) < 0.05
    m2 = normalize_mesh(_marker_mesh(), mode="longest")
    assert (bounds(m2)[1] - bounds(m2)[0]).max() == pytest.approx(1.0)
    with pytest.raises(InputError, match="mode"):
        normalize_mesh(_marker_mesh(), mode="volume")


def test_pack_rules():
    assert model_orientation("Models", "models__chair") == ("+y", "-z")
    assert model_orientation("Realistic Car Pack - Nov 2018")[0] == "+z"
    assert model_orientation("Public Transport Pack - Feb 2017", "public_transport_pack_feb_2017__Bus") == ("+y", "-x")
    assert model_orientation("Unknown pack") == ("+y", "+z")
    # Kenney fronts face -Z: a marker at source -Z must end up at +Z
    m = concatenate_meshes([box_mesh(size=1.0), box_mesh(center=(0, 0, -1.0), size=0.2)])
    n = normalize_model(m, "Models")
    assert n.vertices[8:, 2].mean() > 0.25  # the marker's 8 vertices


def test_linear_to_srgb():
    out = linear_to_srgb(np.array([0.0, 0.0031308, 0.5, 1.0]))
    np.testing.assert_allclose(out, [0.0, 0.0404499, 0.7353570, 1.0], atol=1e-6)
    # colour encoding applies only to packs with linear Kd
    m = box_mesh(color=(0.2, 0.2, 0.2))
    assert normalize_model(m, "Furniture Pack - March 2019").face_colors[0, 0] == pytest.approx(linear_to_srgb(0.2))
    assert normalize_model(m, "Models").face_colors[0, 0] == pytest.approx(0.2)


def test_real_models_normalised_upright_and_facing_front(data_dir):
    from energy3d.data.mesh_io import read_obj

    base = data_dir / "objects_cc0"
    # Kenney chair: the backrest (the highest part) must be behind the seat (front = +Z)
    chair = normalize_model(read_obj(base / "chair" / "models__chair.obj"), "Models", "models__chair")
    top = chair.vertices[chair.vertices[:, 1] > chair.vertices[:, 1].max() - 0.05]
    assert top[:, 2].mean() < -0.1
    # Z-up realistic car: after normalisation length along Z, width along X, height along Y
    name = "realistic_car_pack_nov_2018__Taxi"
    car = normalize_model(read_obj(base / "car" / f"{name}.obj"), "Realistic Car Pack - Nov 2018", name)
    ext = bounds(car)[1] - bounds(car)[0]
    assert ext[2] > ext[0] > ext[1]
    assert np.linalg.norm(ext) == pytest.approx(1.0)
