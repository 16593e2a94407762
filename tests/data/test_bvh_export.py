"""BVH export of joint motion: round trips through the project's reader and an independent one (bvhio),
hierarchy and channels, units and frames, continuity of the angles, and bad input."""

import os
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from energy3d.data.bvh import load_bvh, read_bvh
from energy3d.data.bvh_export import TPOSE_M, bvh_joint_names, format_bvh, joints_to_bvh, write_bvh
from energy3d.errors import InputError
from energy3d.skeleton.layouts import H36M17, LAYOUTS, Skeleton, get_layout
from export_helpers import rescaled, synthetic

# Tolerances (metres). Written to 6 decimals: 1e-8 m in centimetres, 1e-6 degrees per angle.
EXACT_M = 1e-6        # project reader (float64): measured ~3e-8 m (0.00003 mm)
BVHIO_M = 1e-5        # bvhio computes in float32: measured ~5e-7 m (0.0005 mm)


def read_layout_joints(path, export, layout, units="cm"):
    """Positions (metres) of the layout's joints read back with the project's reader."""
    b = read_bvh(path, units=units)
    sk = get_layout(layout)
    idx = [b.names.index(export.joint_names[n]) for n in sk.joints]
    return b, b.positions[:, idx] * {"cm": 0.01, "m": 1.0, "mm": 0.001}[units]


@pytest.fixture(scope="module")
def bvhio():
    """The independent reader (PyPI ``bvhio``, MIT, in the ``dev`` extra)."""
    return pytest.importorskip("bvhio", reason="independent BVH reader bvhio not installed (pip install -e '.[dev]')")


def bvhio_read(bvhio, path, names):
    """bvhio's container, its joint names in file order, and world positions ``(T, len(names), 3)``
    (file units) of the named joints, by bvhio's own forward kinematics."""
    container = bvhio.readAsBvh(str(path))
    root = bvhio.readAsHierarchy(str(path))
    joints = {j.Name: j for j, _, _ in root.layout()}
    pos = np.zeros((container.FrameCount, len(names), 3))
    for t in range(container.FrameCount):
        root.loadPose(t, recursive=True)
        for k, n in enumerate(names):
            pos[t, k] = list(joints[n].PositionWorld)
    return container, [j.Name for j, _, _ in root.layout()], pos


def check_bvhio(bvhio, path, out, want, fps):
    """bvhio agrees with the rescaled input (``want``, metres), the names, frame count and frame time."""
    container, names, pos = bvhio_read(bvhio, path, [out.joint_names[n] for n in H36M17.joints])
    err = np.linalg.norm(pos * 0.01 - want, axis=-1).max()
    assert err < BVHIO_M, f"bvhio: max {err * 1000:.5f} mm from the rescaled input"
    assert names == out.names
    assert container.FrameCount == len(want)
    assert container.FrameTime == pytest.approx(1 / fps, rel=1e-6)
    return err


# ----------------------------------------------------------------------------------------------
# Round trips


def check_round_trip(tmp_path, joints, layout="h36m17", fps=10, name="clip.bvh"):
    path = tmp_path / name
    out = write_bvh(path, joints, layout, fps)
    want = rescaled(joints, layout, out.bone_lengths)
    b, got = read_layout_joints(path, out, layout)
    err = np.linalg.norm(got - want, axis=-1).max()
    assert err < EXACT_M, f"project reader: max {err * 1000:.5f} mm from the rescaled input"
    root = get_layout(layout).parents.index(-1)
    np.testing.assert_allclose(got[:, root], np.asarray(joints)[:, root], atol=1e-7)  # root positions as given
    assert b.num_frames == len(joints) and b.frame_time == pytest.approx(1 / fps, rel=1e-7)
    assert b.names == out.names
    # constant bone lengths in the file
    sk = get_layout(layout)
    for j, p in enumerate(sk.parents):
        if p >= 0:
            np.testing.assert_allclose(np.linalg.norm(got[:, j] - got[:, p], axis=-1), out.bone_lengths[j], atol=1e-7)
    return path, out, want, err


def real_clips(data_dir):
    """The Bandai clips as h36m17 at 10 fps, one array per clip (skip without the data)."""
    folder = data_dir / "motion_bandai" / "bvh"
    if not folder.is_dir():
        pytest.skip("Bandai BVH folder not present")
    from energy3d.data.sources import load_motion

    m = load_motion(folder, fps=10)
    assert m.layout.name == "h36m17" and len(m.clips) > 1
    return [m.joints[m.clip_index == c] for c in range(len(m.clips))]


def test_round_trip_real_motion(tmp_path, data_dir):
    """Every Bandai clip, one file per clip as a lifted video would be, read back by the project's reader."""
    clips = real_clips(data_dir)
    worst = raw = 0.0
    for c, joints in enumerate(clips):
        path, out, want, err = check_round_trip(tmp_path, joints, fps=10, name=f"clip{c}.bvh")
        worst = max(worst, err)
        raw = max(raw, np.linalg.norm(read_layout_joints(path, out, "h36m17")[1] - joints, axis=-1).max())
    print(f"real motion, {len(clips)} clips: max {worst * 1000:.5f} mm from the input rescaled to median bone "
          f"lengths, {raw * 1000:.3f} mm from the input itself (project reader)")
    assert raw < 0.02  # mocap bones are nearly rigid after the h36m17 conversion: 7 mm measured

    # units are recovered by the reader (leg length in centimetres), and load_bvh maps the names back
    assert read_bvh(path).units == "cm"
    back = load_bvh(path, joint_map=bvh_joint_names("h36m17"))
    assert back.layout.name == "h36m17" and back.fps == 10
    np.testing.assert_allclose(back.joints, want, atol=1e-5)  # float32 Motion


def test_real_motion_independent_reader(tmp_path, data_dir, bvhio):
    clips = real_clips(data_dir)
    worst = 0.0
    for c, joints in enumerate(clips):
        path = tmp_path / f"clip{c}.bvh"
        out = write_bvh(path, joints, "h36m17", fps=10)
        worst = max(worst, check_bvhio(bvhio, path, out, rescaled(joints, "h36m17", out.bone_lengths), fps=10))
    print(f"real motion, {len(clips)} clips: max {worst * 1000:.5f} mm from the rescaled input (bvhio, float32)")


def test_round_trip_synthetic_varying_lengths_and_noise(tmp_path):
    x = synthetic()
    path, out, want, err = check_round_trip(tmp_path, x, fps=25)
    # directions are the input's, lengths the medians
    lengths = np.linalg.norm(x[:, 1:] - x[:, np.array(H36M17.parents[1:])], axis=-1)
    np.testing.assert_allclose(out.bone_lengths[1:], np.median(lengths, axis=0))
    assert np.ptp(lengths, axis=0).max() > 0.02  # the bones really vary


def test_synthetic_independent_reader(tmp_path, bvhio):
    x = synthetic()
    out = write_bvh(tmp_path / "syn.bvh", x, "h36m17", fps=25)
    check_bvhio(bvhio, tmp_path / "syn.bvh", out, rescaled(x, "h36m17", out.bone_lengths), fps=25)


def constant_length_clip(tmp_path):
    x = synthetic(seed=1)
    x = rescaled(x, "h36m17", joints_to_bvh(x, "h36m17", fps=30).bone_lengths)  # constant bone lengths
    out = write_bvh(tmp_path / "const.bvh", x, "h36m17", fps=30)
    return x, out, tmp_path / "const.bvh"


def test_constant_bone_lengths_are_reproduced_exactly(tmp_path):
    x, out, path = constant_length_clip(tmp_path)
    err = np.linalg.norm(read_layout_joints(path, out, "h36m17")[1] - x, axis=-1).max()
    print(f"constant bone lengths: max position error {err * 1000:.6f} mm (project reader)")
    assert err < 1e-6  # 0.001 mm


def test_constant_bone_lengths_independent_reader(tmp_path, bvhio):
    x, out, path = constant_length_clip(tmp_path)
    err = check_bvhio(bvhio, path, out, x, fps=30)
    print(f"constant bone lengths: max position error {err * 1000:.6f} mm (bvhio, float32)")
    assert err < 1e-5  # 0.01 mm


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_other_layouts_round_trip(tmp_path, name):
    """Every built-in layout (parents not always before children: openpose25, mpii16; root on the
    nose: coco17) writes a file whose kinematics give back the rescaled input."""
    sk = LAYOUTS[name]
    rng = np.random.default_rng(3)
    x = rng.normal(scale=0.3, size=(6, sk.num_joints, 3))
    check_round_trip(tmp_path, x, name, fps=30, name=f"{name}.bvh")


def test_degenerate_bone_frames_do_not_break_the_file(tmp_path):
    x = synthetic(T=30, noise=0.0)
    x[5, 2] = x[5, 1]           # RKnee on RHip: no thigh direction in frame 5
    x[0, 13] = x[0, 12]         # LWrist on LElbow in the first frame
    x[10:12, 9] = x[10:12, 8]   # Neck/Nose on Thorax for two frames
    path = tmp_path / "degenerate.bvh"
    out = write_bvh(path, x, "h36m17", fps=30)
    assert out.notes and "zero length" in out.notes[0]
    got = read_layout_joints(path, out, "h36m17")[1]
    assert np.isfinite(got).all()
    want = rescaled(x, "h36m17", out.bone_lengths)
    good = np.ones(len(x), bool)
    good[[0, 5, 10, 11]] = False
    assert np.linalg.norm(got[good] - want[good], axis=-1).max() < EXACT_M
    # in a degenerate frame the joint keeps its previous local rotation (the first frame: none)
    col = {n: 3 + 3 * b for b, n in enumerate(out.names)}
    thigh = out.motion[:, col["RHip"]:col["RHip"] + 3]
    np.testing.assert_array_equal(thigh[5], thigh[4])
    np.testing.assert_array_equal(out.motion[0, col["LElbow"]:col["LElbow"] + 3], 0)
    np.testing.assert_array_equal(out.motion[10:12, col["Thorax"]:col["Thorax"] + 3],
                                  out.motion[[9, 9], col["Thorax"]:col["Thorax"] + 3])


# ----------------------------------------------------------------------------------------------
# The file


def test_hierarchy_channels_rest_pose_and_text(tmp_path):
    x = synthetic(T=4)
    out = joints_to_bvh(x, "h36m17", fps=30)
    assert out.names == ["Hip", "Hip_to_RHip", "RHip", "RKnee", "RFoot", "Hip_to_LHip", "LHip", "LKnee", "LFoot",
                         "Spine", "Thorax", "Neck_Nose", "Head", "Thorax_to_LShoulder", "LShoulder", "LElbow",
                         "LWrist", "Thorax_to_RShoulder", "RShoulder", "RElbow", "RWrist"]
    assert out.helper.sum() == 4 and np.all(out.offsets[out.helper] == 0)
    assert out.joint_names["Neck/Nose"] == "Neck_Nose"
    ch = dict(zip(out.names, out.channels))
    assert ch["Hip"] == ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation")
    assert ch["RKnee"] == ("Zrotation", "Yrotation", "Xrotation")      # shin along Y
    assert ch["LElbow"] == ("Zrotation", "Xrotation", "Yrotation")     # forearm along X
    assert all(len(c) == 3 for c in out.channels[1:])
    assert out.motion.shape == (4, 6 + 3 * 20)
    # T-pose: legs down, arms out to the sides (left = +X), spine up; centimetres
    off = dict(zip(out.names, out.offsets))
    L = dict(zip(H36M17.joints, out.bone_lengths * 100))
    np.testing.assert_allclose(off["LKnee"], [0, -L["LKnee"], 0], atol=1e-9)
    np.testing.assert_allclose(off["LElbow"], [L["LElbow"], 0, 0], atol=1e-9)
    np.testing.assert_allclose(off["RElbow"], [-L["RElbow"], 0, 0], atol=1e-9)
    np.testing.assert_allclose(off["Spine"], [0, L["Spine"], 0], atol=1e-9)
    assert off["Hip"].tolist() == [0, 0, 0]
    # End Sites on the 5 leaves: feet point forward and down
    leaves = [n for n, e in zip(out.names, out.end_sites) if np.isfinite(e).all()]
    assert leaves == ["RFoot", "LFoot", "Head", "LWrist", "RWrist"]
    foot_end = out.end_sites[out.names.index("LFoot")]
    assert foot_end[2] > 0 and foot_end[1] < 0
    text = format_bvh(out)
    lines = text.splitlines()
    assert lines[0] == "HIERARCHY" and lines[1] == "ROOT Hip"
    assert "Frames: 4" in lines and "Frame Time: 0.03333333" in lines
    assert len(lines) == lines.index("MOTION") + 3 + 4
    assert text.count("End Site") == 5 and "Neck/Nose" not in text


def test_units_and_camera_frame(tmp_path):
    x = synthetic(T=8, noise=0.0)
    ref = write_bvh(tmp_path / "cm.bvh", x, "h36m17", fps=30)
    want = rescaled(x, "h36m17", ref.bone_lengths)
    for units in ("m", "mm"):
        out = write_bvh(tmp_path / f"{units}.bvh", x, "h36m17", fps=30, units=units)
        _, got = read_layout_joints(tmp_path / f"{units}.bvh", out, "h36m17", units=units)
        assert np.linalg.norm(got - want, axis=-1).max() < EXACT_M
        assert read_bvh(tmp_path / f"{units}.bvh").units == units  # detected from the leg length
    # millimetres passed as metres make a giant: written, with a note
    assert not ref.notes
    assert any("are the joints in metres" in n for n in joints_to_bvh(x * 1000, "h36m17", fps=30).notes)
    # OpenCV camera frame (y down, z forward) is turned 180 degrees about X into Y-up
    cam = x * np.array([1, -1, -1])
    out = write_bvh(tmp_path / "cam.bvh", cam, "h36m17", fps=30, frame="camera")
    np.testing.assert_allclose(out.motion, ref.motion, atol=1e-9)


def test_angles_are_continuous_for_spins_and_deep_knee_bends(tmp_path):
    """A body turning round three times while its legs kick forward and its knees bend to 150
    degrees: the Euler channels move about as fast as the rotations themselves (no wraps by 360, no
    flips between the two equivalent triples), and the knees' middle angle stays far from gimbal lock."""
    T = 240
    x = synthetic(T=T, noise=0.0, vary=0.0, spin_turns=3.0, wobble=0.1)
    t = np.linspace(0, 1, T)
    yaw = Rotation.from_rotvec(np.outer(2 * np.pi * 3.0 * t, [0, 1, 0]))
    hip_flex, knee_flex = np.deg2rad(80) * np.sin(2 * np.pi * t), np.deg2rad(150) * np.sin(np.pi * t) ** 2
    down = np.array([0.0, -1.0, 0.0])
    for hip, knee, ankle in ((1, 2, 3), (4, 5, 6)):
        thigh = (yaw * Rotation.from_rotvec(np.outer(hip_flex, [-1, 0, 0]))).apply(down)
        shin = (yaw * Rotation.from_rotvec(np.outer(hip_flex - knee_flex, [-1, 0, 0]))).apply(down)
        x[:, knee] = x[:, hip] + 0.45 * thigh
        x[:, ankle] = x[:, knee] + 0.43 * shin
    out = write_bvh(tmp_path / "spin.bvh", x, "h36m17", fps=60)
    for b, chans in enumerate(out.channels):
        angles = out.motion[:, 3 + 3 * b:6 + 3 * b]
        R = Rotation.from_euler("".join(c[0] for c in chans[-3:]), angles, degrees=True)
        turn = np.rad2deg((R[1:] * R[:-1].inv()).magnitude())  # how far the joint really turns per frame
        jump = np.abs(np.diff(angles, axis=0)).max(axis=1)
        assert turn.max() < 10 and jump.max() < 20, (out.names[b], jump.max(), turn.max())  # a flip is >= 90
    yaw_channel = out.motion[:, 5]  # root Yrotation (Z X Y order)
    assert abs(yaw_channel[-1] - yaw_channel[0]) > 900  # three turns, not wrapped back into +-180
    for knee in ("RKnee", "LKnee"):
        b = out.names.index(knee)
        assert out.channels[b] == ("Zrotation", "Yrotation", "Xrotation")
        bend = out.motion[:, 3 + 3 * b + 2]
        assert np.abs(bend).max() > 140  # the bend is the X angle
        assert np.abs(out.motion[:, 3 + 3 * b + 1]).max() < 45  # middle (Y) angle: far from 90
    got = read_layout_joints(tmp_path / "spin.bvh", out, "h36m17")[1]
    assert np.linalg.norm(got - x, axis=-1).max() < EXACT_M


def test_tensor_input_and_custom_layout(tmp_path):
    torch = pytest.importorskip("torch")
    x = synthetic(T=5)
    a = joints_to_bvh(torch.tensor(x, requires_grad=True), "h36m17", fps=30)
    b = joints_to_bvh(x, H36M17, fps=30)
    np.testing.assert_array_equal(a.motion, b.motion)
    # a layout with names BVH cannot hold and canonical names without a T-pose: the first frame's directions
    sk = Skeleton("custom", ("root joint", "a/b", "a b", "tip"), (-1, 0, 0, 1), ("x0", "x1", "x2", "x3"))
    y = np.random.default_rng(0).normal(size=(3, 4, 3))
    out = write_bvh(tmp_path / "custom.bvh", y, sk, fps=5)
    assert out.names[0] == "root_joint" and set(out.joint_names.values()) == {"root_joint", "a_b", "a_b_2", "tip"}
    got = read_layout_joints(tmp_path / "custom.bvh", out, sk, units="cm")[1]
    assert np.linalg.norm(got - rescaled(y, sk, out.bone_lengths), axis=-1).max() < EXACT_M


# ----------------------------------------------------------------------------------------------
# Bad input: one clear InputError each, nothing written


def listing(folder: Path):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("joints, fps, match", [
    (np.zeros((5, 16, 3)), 30, r"expected shape \(T, 17, 3\) for layout h36m17.*got \(5, 16, 3\)"),
    (np.zeros((5, 17, 2)), 30, r"expected shape \(T, 17, 3\).*got \(5, 17, 2\)"),
    (np.zeros((17, 3)), 30, r"expected shape \(T, 17, 3\).*got \(17, 3\)"),
    (np.zeros((0, 17, 3)), 30, r"expected at least 1 frame, got shape \(0, 17, 3\)"),
    ("not numbers", 30, r"expected .*shape \(T, 17, 3\)"),
    ("nan", 30, r"expected finite positions, got 1 non-finite .* frame 2, joint LKnee"),
    ("ok", 0, r"fps: expected a positive number .*got 0"),
    ("ok", -25, r"fps: expected a positive number .*got -25"),
    ("ok", float("nan"), r"fps: expected a positive number .*got nan"),
    ("ok", "30", r"fps: expected a positive number .*got '30'"),
    ("ok", True, r"fps: expected a positive number .*got True"),
    ("flat", 30, r"every bone .* has zero length"),
])
def test_bad_arrays_and_fps(tmp_path, joints, fps, match):
    if isinstance(joints, str) and joints in ("ok", "nan", "flat"):
        kind, joints = joints, synthetic(T=4)
        if kind == "nan":
            joints[2, 5, 1] = np.nan
        if kind == "flat":
            joints = np.ones((4, 17, 3))
    with pytest.raises(InputError, match=match):
        write_bvh(tmp_path / "out" / "x.bvh", joints, "h36m17", fps)
    assert listing(tmp_path) == []


def test_bad_options_and_layouts(tmp_path):
    x = synthetic(T=3)
    with pytest.raises(InputError, match="frame: expected 'y-up'"):
        write_bvh(tmp_path / "x.bvh", x, "h36m17", 30, frame="z-up")
    with pytest.raises(InputError, match="units: expected one of cm, m, mm"):
        write_bvh(tmp_path / "x.bvh", x, "h36m17", 30, units="inch")
    with pytest.raises(InputError, match="unknown joint layout 'h36m'"):
        write_bvh(tmp_path / "x.bvh", x, "h36m", 30)
    two_roots = Skeleton("two", ("a", "b", "c"), (-1, -1, 0), ("a", "b", "c"))
    with pytest.raises(InputError, match="one root; the layout has 2 root joints"):
        write_bvh(tmp_path / "x.bvh", np.zeros((2, 3, 3)), two_roots, 30)
    assert listing(tmp_path) == []


def test_paths_that_cannot_be_written(tmp_path):
    x = synthetic(T=3)
    (tmp_path / "a_file").write_text("keep")
    (tmp_path / "folder.bvh").mkdir()
    before = listing(tmp_path)
    cases = [
        (tmp_path / "out.txt", r"expected a \.bvh file name"),
        (tmp_path / "folder.bvh", "is a folder"),
        (tmp_path / "a_file" / "x.bvh", r"cannot write there \(a part of the path is a file, not a folder\)"),
        (tmp_path / "a_file" / "deeper" / "x.bvh", r"cannot write there \(a part of the path is a file"),
        (tmp_path / "new" / ("n" * 300) / "x.bvh", r"cannot write there \(the name is too long"),
        (tmp_path / ("n" * 300 + ".bvh"), r"cannot write there \(the name is too long"),
    ]
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        before = listing(tmp_path)
        cases.append((locked / "x.bvh", r"cannot write there \(permission denied\)"))
    for path, match in cases:
        with pytest.raises(InputError, match=match):
            write_bvh(path, x, "h36m17", 30)
        assert listing(tmp_path) == before, path  # no partial file, temporary file or new folder


def test_existing_file_is_replaced_whole_and_readable(tmp_path):
    path = tmp_path / "sub" / "clip.bvh"
    write_bvh(path, synthetic(T=3), "h36m17", 30)
    write_bvh(path, synthetic(T=7), "h36m17", 30)
    assert read_bvh(path, units="cm").num_frames == 7
    assert listing(tmp_path) == ["sub", "sub/clip.bvh"]
    assert (path.stat().st_mode & 0o777) == (0o666 & ~_umask())


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
