"""``energy3d export poses.npz --out F.bvh``: BVH from an existing lift result.

The file equals what ``energy3d lift ... --bvh`` writes for the same input, and the project's BVH
reader reproduces the stored gravity-aligned joints (``joints_world``) within the tolerance of
tests/data/test_bvh_export.py. Bad input: one line, exit 2, nothing written.
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from energy3d.data.bvh import read_bvh
from energy3d.data.bvh_export import bvh_joint_names
from energy3d.skeleton import get_layout
from export_helpers import animated_world
from helpers import TEMPLATE, run_cli, write_video

REPO = Path(__file__).resolve().parents[2]
KEYPOINTS = REPO / "examples" / "keypoints_coco.json"          # one person (detected on the NASA photo)
TWO_PEOPLE = REPO / "tests" / "fixtures" / "keypoints_two_people.json"
PHOTO = REPO / "examples" / "nasa_AS11-40-5903_aldrin.jpg"
EXACT_M = 1e-6  # as tests/data/test_bvh_export.py: the project's reader, 6 decimals in centimetres

pytestmark = pytest.mark.usefixtures("one_thread")


def bvh_joints(path, layout="h36m17"):
    """Layout joints (metres) read back with the project's reader, and the frame time."""
    b = read_bvh(path, units="cm")
    names = bvh_joint_names(layout)
    idx = [b.names.index(names[n]) for n in get_layout(layout).joints]
    return b.positions[:, idx] * 0.01, b


def median_bones(joints, layout="h36m17"):
    """``joints`` with every bone at its median length over the frames (what a BVH can hold)."""
    sk = get_layout(layout)
    x = np.asarray(joints, np.float64)
    out = x.copy()
    for j in range(sk.num_joints):  # parents come before children in the layouts
        p = sk.parents[j]
        if p >= 0:
            d = x[:, j] - x[:, p]
            n = np.linalg.norm(d, axis=-1, keepdims=True)
            out[:, j] = out[:, p] + np.median(n) * d / n
    return out


def lift_with_bvh(capsys, src, out, bvh, *extra):
    rc, so, err = run_cli(["lift", src, "--out", out, "--bvh", bvh, *extra], capsys)
    assert rc == 0, err


def test_export_equals_lift_bvh_for_a_keypoint_file(tmp_path, capsys):
    lift_with_bvh(capsys, KEYPOINTS, tmp_path / "o", tmp_path / "lift.bvh")
    rc, out, err = run_cli(["export", tmp_path / "o" / "poses.npz", "--out", tmp_path / "exp.bvh"], capsys)
    assert rc == 0 and err == "", err
    assert "wrote BVH" in out and "1 frame at 30 fps" in out
    assert (tmp_path / "exp.bvh").read_text() == (tmp_path / "lift.bvh").read_text()
    world = np.load(tmp_path / "o" / "poses.npz")["joints_world"]
    got, b = bvh_joints(tmp_path / "exp.bvh")
    assert got.shape == (1, 17, 3) and b.frame_time == pytest.approx(1 / 30)
    assert np.abs(got - world).max() < EXACT_M  # one frame: its bones are the median bones
    # poses.json gives the same motion up to its 0.01 mm rounding
    rc, out, err = run_cli(["export", tmp_path / "o" / "poses.json", "--out", tmp_path / "json.bvh"], capsys)
    assert rc == 0, err
    assert np.abs(bvh_joints(tmp_path / "json.bvh")[0] - world).max() < 2e-5


def test_several_people_choose_one_and_say_so(tmp_path, capsys):
    rc, _, err = run_cli(["lift", TWO_PEOPLE, "--out", tmp_path / "o"], capsys)
    assert rc == 0, err
    world = np.load(tmp_path / "o" / "poses.npz")["joints_world"]
    rc, out, err = run_cli(["export", tmp_path / "o" / "poses.npz", "--out", tmp_path / "p1.bvh", "--person", "1",
                            "--fps", "24"], capsys)
    assert rc == 0, err
    assert "holds 2 people; wrote person 1 (img1#1)" in err and "--person" in err and err.count("\n") == 1
    got, b = bvh_joints(tmp_path / "p1.bvh")
    assert np.abs(got[0] - world[1]).max() < EXACT_M and b.frame_time == pytest.approx(1 / 24)
    rc, out, err = run_cli(["export", tmp_path / "o" / "poses.npz", "--out", tmp_path / "p0.bvh"], capsys)
    assert rc == 0 and "wrote person 0 (img1#0)" in err
    assert np.abs(bvh_joints(tmp_path / "p0.bvh")[0][0] - world[0]).max() < EXACT_M


def test_a_stored_sequence_round_trips_at_its_frame_rate(tmp_path, capsys):
    """A video's result: frames of one person at the stored rate, bones at their median lengths."""
    rng = np.random.default_rng(0)
    T = 12
    t = np.arange(T)[:, None, None]
    world = TEMPLATE[None] + 0.02 * np.sin(0.5 * t + np.arange(17)[None, :, None]) + rng.normal(0, 0.003, (T, 17, 3))
    np.savez(tmp_path / "poses.npz", joints_world=world.astype(np.float32), layout=np.array("h36m17"),
             names=np.array([f"frame_{i:06d}" for i in range(T)]), fps=np.float64(25.0))
    rc, out, err = run_cli(["export", tmp_path / "poses.npz", "--out", tmp_path / "m.bvh"], capsys)
    assert rc == 0 and err == "", err
    assert "12 frames at 25 fps" in out
    got, b = bvh_joints(tmp_path / "m.bvh")
    assert b.frame_time == pytest.approx(1 / 25) and got.shape == (T, 17, 3)
    want = median_bones(world.astype(np.float32))
    assert np.abs(got - want).max() < EXACT_M
    assert np.abs(got - world).max() > 1e-4  # the bones did change length: the test can tell them apart
    # --person does not apply to one person's motion
    rc, _, err = run_cli(["export", tmp_path / "poses.npz", "--out", tmp_path / "x.bvh", "--person", "1"], capsys)
    assert rc == 2 and "one person's motion (12 frames" in err and not (tmp_path / "x.bvh").exists()


def test_glb_from_a_stored_sequence_and_from_lift(tmp_path, capsys):
    """``--out F.glb``: the same skeleton and rotations as glTF; its animated nodes reproduce the joints."""
    pygltflib = pytest.importorskip("pygltflib", reason="glTF reader pygltflib not installed (pip install -e '.[dev]')")
    T = 8
    t = np.arange(T)[:, None, None]
    world = (TEMPLATE[None] + 0.03 * np.sin(0.7 * t + np.arange(17)[None, :, None])).astype(np.float32)
    np.savez(tmp_path / "poses.npz", joints_world=world, layout=np.array("h36m17"),
             names=np.array([f"frame_{i:06d}" for i in range(T)]), fps=np.float64(20.0))
    rc, out, err = run_cli(["export", tmp_path / "poses.npz", "--out", tmp_path / "m.glb"], capsys)
    assert rc == 0 and err == "", err
    assert out.startswith("wrote glTF binary") and "8 frames at 20 fps" in out
    gltf = pygltflib.GLTF2().load(str(tmp_path / "m.glb"))
    times, w = animated_world(gltf, gltf.binary_blob())
    names = [n.name for n in gltf.nodes]
    idx = [names.index(bvh_joint_names("h36m17")[j]) for j in get_layout("h36m17").joints]
    np.testing.assert_allclose(times, np.arange(T) / 20, atol=1e-6)
    assert np.abs(w[:, idx][..., :3, 3] - median_bones(world)).max() < 2e-5
    # lift --bvh F.glb writes the file export writes from the stored joints
    lift_with_bvh(capsys, KEYPOINTS, tmp_path / "o", tmp_path / "lift.glb")
    rc, out, err = run_cli(["export", tmp_path / "o" / "poses.npz", "--out", tmp_path / "exp.glb"], capsys)
    assert rc == 0, err
    assert (tmp_path / "exp.glb").read_bytes() == (tmp_path / "lift.glb").read_bytes()


@pytest.mark.skipif(importlib.util.find_spec("mediapipe") is None or importlib.util.find_spec("av") is None,
                    reason="MediaPipe / PyAV not installed (pip install 'energy3d[detect]')")
def test_export_equals_lift_bvh_for_a_video(tmp_path, capsys):
    from PIL import Image

    photo = np.asarray(Image.open(PHOTO).convert("RGB").resize((320, 336)))
    frames = [np.roll(photo, 4 * i, axis=1) for i in range(5)]
    write_video(tmp_path / "v.mp4", frames, fps=10)
    lift_with_bvh(capsys, tmp_path / "v.mp4", tmp_path / "o", tmp_path / "lift.bvh", "--quiet")
    rc, out, err = run_cli(["export", tmp_path / "o" / "poses.npz", "--out", tmp_path / "exp.bvh"], capsys)
    assert rc == 0, err
    assert (tmp_path / "exp.bvh").read_text() == (tmp_path / "lift.bvh").read_text()
    z = np.load(tmp_path / "o" / "poses.npz")
    got, b = bvh_joints(tmp_path / "exp.bvh")
    assert b.frame_time == pytest.approx(1 / 10) and len(got) == len(z["joints_world"]) >= 4
    assert np.abs(got - median_bones(z["joints_world"])).max() < EXACT_M


def fails(capsys, args, *expect, folder):
    before = sorted(folder.rglob("*"))
    rc, out, err = run_cli(args, capsys)
    assert rc == 2 and out == "" and err.startswith("energy3d export: error: ") and err.count("\n") == 1, (out, err)
    for e in expect:
        assert e in err, (e, err)
    assert sorted(folder.rglob("*")) == before, "something was written"


def test_bad_sources_and_destinations(tmp_path, capsys):
    np.savez(tmp_path / "other.npz", joints_3d=np.zeros((1, 17, 3), np.float32))
    fails(capsys, ["export", tmp_path / "other.npz", "--out", tmp_path / "m.bvh"],
          "other.npz: not an energy3d lift result: no joints_world or layout array (it holds joints_3d)",
          "energy3d lift", folder=tmp_path)
    (tmp_path / "junk.npz").write_bytes(b"not a zip file at all")
    fails(capsys, ["export", tmp_path / "junk.npz", "--out", tmp_path / "m.bvh"], "junk.npz: not a readable npz",
          folder=tmp_path)
    fails(capsys, ["export", tmp_path / "missing.npz", "--out", tmp_path / "m.bvh"], "missing.npz: no such file",
          folder=tmp_path)
    world = TEMPLATE[None].repeat(2, 0)
    np.savez(tmp_path / "poses.npz", joints_world=world, layout=np.array("h36m17"), names=np.array(["a", "b"]),
             fps=np.float64(0))
    (tmp_path / "file").write_text("x")
    fails(capsys, ["export", tmp_path / "poses.npz", "--out", tmp_path / "file" / "m.bvh"],
          "m.bvh: cannot write there (a part of the path is a file, not a folder)", folder=tmp_path)
    fails(capsys, ["export", tmp_path / "poses.npz", "--out", "/proc/energy3d-test.bvh"], "cannot write there",
          folder=tmp_path)
    fails(capsys, ["export", tmp_path / "poses.npz", "--out", tmp_path / "m.txt"], "expected a .bvh or .glb file name",
          folder=tmp_path)
    fails(capsys, ["export", tmp_path / "poses.npz", "--out", tmp_path / "m.bvh", "--person", "2"],
          "--person 2", "holds 2 people (0 to 1)", folder=tmp_path)
    fails(capsys, ["export", tmp_path / "poses.npz", "--out", tmp_path / "m.bvh", "--fps", "0"], "--fps", folder=tmp_path)
    fails(capsys, ["export", tmp_path / "poses.npz", "--out", tmp_path / "m.bvh", "--half"], "--half", folder=tmp_path)
    fails(capsys, ["export", tmp_path / "poses.npz", "--out", tmp_path / "m", "--format", "checkpoint"],
          "is a lift result, not a checkpoint", folder=tmp_path)
    bundled = REPO / "src" / "energy3d" / "assets" / "ige8-lifter.json"
    fails(capsys, ["export", bundled, "--out", tmp_path / "m.bvh", "--format", "bvh"],
          "not an energy3d lift result", folder=tmp_path)
    fails(capsys, ["export", bundled, "--out", tmp_path / "m", "--fps", "10"], "--fps and --person apply to --format bvh",
          folder=tmp_path)
