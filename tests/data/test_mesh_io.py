"""Tests for energy3d.data.mesh_io: OBJ/MTL, PLY (ASCII, binary LE/BE), GLB, errors, real files."""

import struct

import numpy as np
import pytest

from energy3d.data.mesh_io import (
    DEFAULT_COLOR,
    load_mesh,
    read_mtl,
    read_obj,
    read_ply,
    save_mesh,
    write_obj,
    write_ply,
)
from energy3d.errors import InputError
from energy3d.geometry.mesh import Mesh, box_mesh, face_areas, icosphere

OBJ_TEXT = """# test file
mtllib mats.mtl
v 0 0 0
v 1 0 0
v 1 1 0
v 0 1 0
vt 0 0
vt 1 0
vn 0 0 1
f 1 2 3
usemtl red
f 1/1 3/2 4/1
f -4//1 -3//1 -2//1 -1//1
usemtl blue
v 2 0 0 0.5 0.5 0.5
v 2 1 0
v 1.5 2 0
f 2/1/1 5/2/1 6/1/1 7/1/1 3/2/1
usemtl nosuch
f 1 2 4
"""

MTL_TEXT = """newmtl red
Ka 0 0 0
Kd 1.0 0.0 0.0
newmtl blue
Kd 0 0 0.5
"""


def _write_fixture(tmp_path):
    (tmp_path / "mats.mtl").write_text(MTL_TEXT)
    p = tmp_path / "m.obj"
    p.write_text(OBJ_TEXT)
    return p


def test_read_obj_all_face_forms_and_materials(tmp_path):
    m = read_obj(_write_fixture(tmp_path))
    assert m.num_vertices == 7
    expect = [
        [0, 1, 2],  # f 1 2 3 (no material yet -> default grey)
        [0, 2, 3],  # f 1/1 3/2 4/1
        [0, 1, 2], [0, 2, 3],  # quad with negative indices, fan-triangulated
        [1, 4, 5], [1, 5, 6], [1, 6, 2],  # pentagon -> 3 triangles
        [0, 1, 3],  # unknown material -> default grey
    ]
    np.testing.assert_array_equal(m.faces, expect)
    red, blue, grey = [1.0, 0, 0], [0, 0, 0.5], list(DEFAULT_COLOR)
    np.testing.assert_allclose(m.face_colors, [grey, red, red, red, blue, blue, blue, grey])
    np.testing.assert_allclose(m.vertices[4], [2, 0, 0])  # extra vertex-colour numbers ignored


def test_read_mtl(tmp_path):
    p = tmp_path / "a.mtl"
    p.write_text(MTL_TEXT + "newmtl grey1\nKd 0.25\n")
    mats = read_mtl(p)
    assert mats == {"red": (1.0, 0.0, 0.0), "blue": (0.0, 0.0, 0.5), "grey1": (0.25, 0.25, 0.25)}


def test_obj_without_materials_and_missing_mtllib(tmp_path):
    p = tmp_path / "plain.obj"
    p.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    assert read_obj(p).face_colors is None
    q = tmp_path / "lost.obj"
    q.write_text("mtllib gone.mtl\nusemtl wood\nv 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    with pytest.warns(UserWarning, match="gone.mtl"):
        m = read_obj(q)
    np.testing.assert_allclose(m.face_colors, [DEFAULT_COLOR])


@pytest.mark.parametrize(
    "text,match",
    [
        ("v 0 0 0\nv 1 0 0\n", "no faces"),
        ("v 0 0 0\nv 1 0 0\nv nan 1 0\nf 1 2 3\n", "NaN"),
        ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 4\n", "missing vertex"),
        ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 0 1 2\n", "start at 1"),
        ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 x\n", "bad face index"),
        ("v 0 zero 0\nf 1 2 3\n", "bad vertex"),
        ("v 0 0 0\nv 1 0 0\nf 1 2\n", "fewer than 3"),
    ],
)
def test_obj_errors(tmp_path, text, match):
    p = tmp_path / "bad.obj"
    p.write_text(text)
    with pytest.raises(InputError, match=match):
        read_obj(p)


def test_missing_file_errors(tmp_path):
    for fn in (read_obj, read_ply, load_mesh):
        with pytest.raises(InputError, match="not found"):
            fn(tmp_path / "nothing.obj")


def _colored_sphere():
    s = icosphere(1, radius=0.7)
    rng = np.random.default_rng(0)
    cols = np.round(rng.random((s.num_faces, 3)) * 255) / 255  # exactly representable in uchar
    return Mesh(s.vertices, s.faces, cols)


def test_obj_round_trip_is_exact(tmp_path):
    m = _colored_sphere()
    write_obj(m, tmp_path / "s.obj")
    back = read_obj(tmp_path / "s.obj")
    # faces are grouped by material on writing: compare face sets with their colours
    key = lambda mm: sorted(zip(map(tuple, mm.faces), map(tuple, mm.face_colors)))  # noqa: E731
    np.testing.assert_array_equal(back.vertices, m.vertices)
    assert key(back) == key(m)


@pytest.mark.parametrize("binary", [True, False])
def test_ply_round_trip(tmp_path, binary):
    m = _colored_sphere()
    write_ply(m, tmp_path / "s.ply", binary=binary)
    back = read_ply(tmp_path / "s.ply")
    np.testing.assert_allclose(back.vertices, m.vertices, atol=1e-6)  # stored as float32
    np.testing.assert_array_equal(back.faces, m.faces)
    np.testing.assert_allclose(back.face_colors, m.face_colors, atol=1e-9)
    plain = box_mesh()
    write_ply(plain, tmp_path / "b.ply", binary=binary)
    assert read_ply(tmp_path / "b.ply").face_colors is None


def test_ply_hand_written_ascii_polygon_and_vertex_colours(tmp_path):
    text = """ply
format ascii 1.0
comment a quad with vertex colours and an extra property
element vertex 4
property float x
property float y
property float z
property uchar red
property uchar green
property uchar blue
property float confidence
element face 1
property list uchar int vertex_indices
end_header
0 0 0 255 0 0 1
1 0 0 255 0 0 1
1 1 0 0 0 255 1
0 1 0 0 0 255 1
4 0 1 2 3
"""
    p = tmp_path / "q.ply"
    p.write_text(text)
    m = read_ply(p)
    np.testing.assert_array_equal(m.faces, [[0, 1, 2], [0, 2, 3]])
    np.testing.assert_allclose(m.face_colors, [[2 / 3, 0, 1 / 3], [1 / 3, 0, 2 / 3]])


def test_ply_hand_written_big_endian_binary(tmp_path):
    header = (
        "ply\nformat binary_big_endian 1.0\nelement vertex 3\nproperty double x\nproperty double y\n"
        "property double z\nelement face 1\nproperty list uchar uint vertex_index\nend_header\n"
    ).encode()
    body = b"".join(struct.pack(">ddd", *v) for v in [(0, 0, 0), (2, 0, 0), (0, 3, 0)])
    body += struct.pack(">BIII", 3, 0, 1, 2)
    p = tmp_path / "be.ply"
    p.write_bytes(header + body)
    m = read_ply(p)
    np.testing.assert_allclose(m.vertices, [[0, 0, 0], [2, 0, 0], [0, 3, 0]])
    assert face_areas(m)[0] == pytest.approx(3.0)


def test_ply_errors(tmp_path):
    write_ply(box_mesh(), tmp_path / "b.ply", binary=True)
    raw = (tmp_path / "b.ply").read_bytes()
    (tmp_path / "t.ply").write_bytes(raw[:-10])
    with pytest.raises(InputError, match="truncated"):
        read_ply(tmp_path / "t.ply")
    (tmp_path / "x.ply").write_bytes(b"plx\n" + raw[4:])
    with pytest.raises(InputError, match="not a PLY"):
        read_ply(tmp_path / "x.ply")
    (tmp_path / "h.ply").write_bytes(b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\n")
    with pytest.raises(InputError, match="end_header"):
        read_ply(tmp_path / "h.ply")
    (tmp_path / "nf.ply").write_text("ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\n"
                                     "property float z\nend_header\n0 0 0\n")
    with pytest.raises(InputError, match="no faces"):
        read_ply(tmp_path / "nf.ply")
    (tmp_path / "bi.ply").write_text("ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\n"
                                     "property float z\nelement face 1\nproperty list uchar int vertex_indices\n"
                                     "end_header\n0 0 0\n3 0 1 2\n")
    with pytest.raises(InputError, match="out of range"):
        read_ply(tmp_path / "bi.ply")


def test_glb_export_round_trip_through_trimesh(tmp_path):
    pytest.importorskip("trimesh")
    m = _colored_sphere()
    save_mesh(m, tmp_path / "s.glb")
    back = load_mesh(tmp_path / "s.glb")
    assert back.num_faces == m.num_faces

    def canon(mesh):  # order-free: each face as its sorted corners, plus its colour
        t = np.round(mesh.triangles(), 5)
        corners = np.sort(t.view([("", t.dtype)] * 3).reshape(-1, 3), axis=1).view(t.dtype).reshape(-1, 9)
        return sorted(map(tuple, np.concatenate([corners, np.round(mesh.face_colors, 3)], axis=1)))

    assert canon(back) == canon(m)
    with pytest.raises(InputError, match="cannot write"):
        save_mesh(m, tmp_path / "s.xyz")


def test_real_obj_matches_index_and_trimesh(data_dir):
    trimesh = pytest.importorskip("trimesh")
    import csv

    base = data_dir / "objects_cc0"
    rows = {r["name"]: r for r in csv.DictReader(open(base / "INDEX.tsv"), delimiter="\t")}
    name = "models__chairDesk"
    m = read_obj(base / "chair" / f"{name}.obj")
    assert m.num_faces == int(rows[name]["faces"])
    assert m.face_colors is not None and len(np.unique(m.face_colors, axis=0)) >= 2
    ref = trimesh.load(base / "chair" / f"{name}.obj", force="mesh", process=False)
    assert face_areas(m).sum() == pytest.approx(float(ref.area), rel=1e-6)
    np.testing.assert_allclose([m.vertices.min(0), m.vertices.max(0)], ref.bounds, rtol=1e-6)
