"""glTF (.glb) export of joint motion: read back with an independent reader (pygltflib) and with the
container check, forward kinematics of the animated nodes against the input, the skinned mesh follows
the bones, and bad input."""

from pathlib import Path

import numpy as np
import pytest

from energy3d.data.gltf_export import BONE_HALF_WIDTH_M, read_glb, write_glb
from energy3d.errors import InputError
from energy3d.skeleton.layouts import H36M17
from export_helpers import accessor, animated_world, rescaled, synthetic

FLOAT32_M = 2e-5  # positions through float32 quaternions and offsets: measured ~2e-6 m


@pytest.fixture(scope="module")
def pygltflib():
    return pytest.importorskip("pygltflib", reason="independent glTF reader pygltflib not installed "
                                                   "(pip install -e '.[dev]')")


def load(pygltflib, path):
    gltf = pygltflib.GLTF2().load(str(path))
    return gltf, gltf.binary_blob()


def check_motion(pygltflib, path, out, joints, fps):
    gltf, blob = load(pygltflib, path)
    times, world = animated_world(gltf, blob)
    np.testing.assert_allclose(times, np.arange(len(joints)) / fps, atol=1e-6)
    names = [n.name for n in gltf.nodes]
    idx = [names.index(out.joint_names[j]) for j in H36M17.joints]
    want = rescaled(joints, "h36m17", out.bone_lengths)
    err = np.linalg.norm(world[:, idx][..., :3, 3] - want, axis=-1).max()
    assert err < FLOAT32_M, f"glb forward kinematics: max {err * 1000:.4f} mm from the rescaled input"
    return gltf, blob, world, err


def test_synthetic_motion_read_back_independently(tmp_path, pygltflib):
    x = synthetic(T=90)
    path = tmp_path / "motion.glb"
    out = write_glb(path, x, "h36m17", fps=25)
    gltf, blob, world, err = check_motion(pygltflib, path, out, x, 25)
    print(f"glb: max {err * 1000:.5f} mm from the rescaled input (pygltflib + glTF node rules)")
    # every BVH joint is a node with the same name; leaves have an end node; a skin over all of them
    names = [n.name for n in gltf.nodes]
    assert names[:len(out.names)] == out.names
    assert sum(n.endswith("_end") for n in names) == 5  # h36m17 leaves: feet, wrists, head top
    skin = gltf.skins[0]
    assert len(skin.joints) == len(names) - 1  # all but the mesh node
    assert gltf.asset.version == "2.0" and gltf.animations[0].samplers[0].interpolation == "LINEAR"


def test_skinned_mesh_follows_the_bones(tmp_path, pygltflib):
    """Linear-blend skinning of the mesh with the file's inverse bind matrices puts every box on its bone."""
    x = synthetic(T=30, seed=3)
    path = tmp_path / "m.glb"
    write_glb(path, x, "h36m17", fps=30)
    gltf, blob = load(pygltflib, path)
    _, world = animated_world(gltf, blob)
    prim = gltf.meshes[0].primitives[0]
    pos = accessor(gltf, blob, prim.attributes.POSITION).astype(np.float64)
    jnt = accessor(gltf, blob, prim.attributes.JOINTS_0)
    wgt = accessor(gltf, blob, prim.attributes.WEIGHTS_0)
    assert np.allclose(wgt[:, 0], 1) and np.allclose(wgt[:, 1:], 0)
    skin = gltf.skins[0]
    ibm = accessor(gltf, blob, skin.inverseBindMatrices).reshape(-1, 4, 4).transpose(0, 2, 1)  # column-major
    node = np.asarray(skin.joints)[jnt[:, 0]]
    parent = {c: i for i, n in enumerate(gltf.nodes) for c in (n.children or [])}
    child_of_box = {}
    for t in (0, 17, 29):
        hom = np.concatenate([pos, np.ones((len(pos), 1))], 1)
        skinned = np.einsum("vab,vbc,vc->va", world[t][node], ibm[jnt[:, 0]], hom)[:, :3]
        for b in range(len(pos) // 8):  # 8 vertices per box, bound to the joint at the box's start
            v = skinned[8 * b:8 * b + 8]
            a = world[t, node[8 * b], :3, 3]
            if b not in child_of_box:  # which child: the one whose rest segment matches the box
                kids = [c for c, p in parent.items() if p == node[8 * b]]
                child_of_box[b] = min(kids, key=lambda c: np.abs(np.linalg.norm(pos[8 * b + 4] - pos[8 * b])
                                                                  - np.linalg.norm(gltf.nodes[c].translation)))
            c = world[t, child_of_box[b], :3, 3]
            seg = c - a
            s = np.clip(((v - a) @ seg) / (seg @ seg), 0, 1)
            dist = np.linalg.norm(v - (a + s[:, None] * seg), axis=-1)
            assert np.allclose(dist, BONE_HALF_WIDTH_M * np.sqrt(2), atol=1e-4)


def test_real_motion_and_container(tmp_path, pygltflib, data_dir):
    folder = data_dir / "motion_bandai" / "bvh"
    if not folder.is_dir():
        pytest.skip("Bandai BVH folder not present")
    from energy3d.data.sources import load_motion

    m = load_motion(folder, fps=10)
    joints = m.joints[m.clip_index == 0]
    path = tmp_path / "clip.glb"
    out = write_glb(path, joints, "h36m17", fps=10)
    check_motion(pygltflib, path, out, joints, 10)
    doc, blob = read_glb(path)
    assert doc["extras"]["frames"] == len(joints) and doc["extras"]["fps"] == pytest.approx(10)
    assert len(blob) == doc["buffers"][0]["byteLength"] and len(blob) % 4 == 0
    # the trimesh loader (used by the voxel side) opens it as a scene with the stick-figure mesh
    trimesh = pytest.importorskip("trimesh")
    scene = trimesh.load(path)
    assert len(scene.geometry) == 1 and next(iter(scene.geometry.values())).faces.shape[1] == 3


def test_bad_input_leaves_nothing(tmp_path):
    with pytest.raises(InputError, match="expected a .glb"):
        write_glb(tmp_path / "a.bvh", synthetic(T=3), "h36m17", fps=10)
    bad = synthetic(T=3)
    bad[1, 4, 0] = np.nan
    with pytest.raises(InputError):
        write_glb(tmp_path / "n.glb", bad, "h36m17", fps=10)
    with pytest.raises(InputError):
        write_glb(tmp_path / "f.glb", synthetic(T=3), "h36m17", fps=0)
    (tmp_path / "blocker").write_text("x")
    with pytest.raises(InputError, match="cannot write"):
        write_glb(tmp_path / "blocker" / "x.glb", synthetic(T=3), "h36m17", fps=10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]
    with pytest.raises(InputError, match="not a binary glTF"):
        read_glb(tmp_path / "blocker")
