"""BVH reader: parsing, forward kinematics, units, joint mappings, errors, and the real Bandai clips."""

import itertools
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from energy3d.data.bvh import (
    detect_mapping, detect_units, forward_kinematics, load_bvh, parse_bvh, read_bvh, skeleton_span,
)
from energy3d.errors import InputError
from energy3d.skeleton.layouts import BANDAI21, H36M17, HEAD_TOP_LENGTH_M

CHAIN = """HIERARCHY
ROOT A
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT B
  {
    OFFSET 0 1 0
    CHANNELS 3 %s
    JOINT C
    {
      OFFSET 0 2 0
      CHANNELS 3 Zrotation Xrotation Yrotation
      End Site
      {
        OFFSET 0 0.5 0
      }
    }
  }
}
MOTION
Frames: %d
Frame Time: 0.04
%s
"""


def write(tmp_path, text, name="clip.bvh"):
    p = tmp_path / name
    p.write_text(text)
    return p


def chain(b_channels="Zrotation Xrotation Yrotation", rows=("0 0 0 0 0 0 0 0 0 0 0 0",)):
    return CHAIN % (b_channels, len(rows), "\n".join(rows))


def test_fk_hand_computed_chain(tmp_path):
    rows = [
        # root at (1,2,3); B rotates 90 deg about z: C's offset (0,2,0) -> (-2,0,0)
        "1 2 3 0 0 0   90 0 0   0 0 0",
        # root rotates 90 deg about y: (0,1,0) stays; B: 90 about x maps (0,2,0) -> (0,0,2), then Ry(90) -> (2,0,0)
        "0 0 0 0 0 90   0 90 0   0 0 0",
        # B listed Z X Y with z=90, x=90: R = Rz Rx; Rx maps (0,2,0) -> (0,0,2); Rz keeps it
        "0 0 0 0 0 0   90 90 0   0 0 0",
    ]
    b = read_bvh(write(tmp_path, chain(rows=rows)), units="m", include_end_sites=True)
    assert b.names == ["A", "B", "C", "C_End"]
    assert b.parents.tolist() == [-1, 0, 1, 2]
    assert b.frame_time == pytest.approx(0.04) and b.fps == pytest.approx(25.0)
    expected = np.array([
        [[1, 2, 3], [1, 3, 3], [-1, 3, 3], [-1.5, 3, 3]],
        [[0, 0, 0], [0, 1, 0], [2, 1, 0], [2.5, 1, 0]],  # End Site (0,.5,0) turned like C's offset
        [[0, 0, 0], [0, 1, 0], [0, 1, 2], [0, 1, 2.5]],
    ], dtype=float)
    np.testing.assert_allclose(b.positions, expected, atol=1e-9)
    # End Sites are dropped by default
    assert read_bvh(write(tmp_path, chain(rows=rows)), units="m").names == ["A", "B", "C"]


def test_rotation_order_follows_channel_listing(tmp_path):
    # Same angles (z=90, x=90) listed X Y Z: R = Rx Rz; Rz maps (0,2,0) -> (-2,0,0), Rx keeps it.
    b = read_bvh(write(tmp_path, chain("Xrotation Yrotation Zrotation", ["0 0 0 0 0 0   90 0 90   0 0 0"])), units="m")
    np.testing.assert_allclose(b.positions[0, 2], [-2, 1, 0], atol=1e-9)


@pytest.mark.parametrize("order", ["".join(p) for p in itertools.permutations("XYZ")])
def test_fk_random_angles_vs_scipy_intrinsic(tmp_path, order):
    rng = np.random.default_rng(0)
    names = " ".join(f"{a}rotation" for a in order)
    ang = rng.uniform(-180, 180, size=(4, 3, 3))  # frames, joints, channel (in listed order)
    root = rng.normal(size=(4, 3))
    rows = [" ".join(map(str, np.concatenate([root[t], ang[t].ravel()]))) for t in range(4)]
    text = (CHAIN.replace("Zrotation Xrotation Yrotation", names)) % (names, 4, "\n".join(rows))
    b = read_bvh(write(tmp_path, text), units="m")
    for t in range(4):
        # scipy: upper-case axes = intrinsic rotations, matrix = R_first @ R_second @ R_third
        R = [Rotation.from_euler(order, ang[t, j], degrees=True).as_matrix() for j in range(3)]
        pA = root[t]
        pB = pA + R[0] @ [0, 1, 0]
        pC = pB + R[0] @ R[1] @ [0, 2, 0]
        np.testing.assert_allclose(b.positions[t], [pA, pB, pC], atol=1e-9)


def test_position_channels_replace_offset(tmp_path):
    text = """HIERARCHY
ROOT A
{
  OFFSET 0 0 0
  CHANNELS 3 Xposition Yposition Zposition
  JOINT B
  {
    OFFSET 0 1 0
    CHANNELS 6 Zrotation Xposition Yrotation Yposition Zposition Xrotation
    End Site
    {
      OFFSET 0 1 0
    }
  }
}
MOTION
Frames: 1
Frame Time: 0.5
1 1 1  0 0 0 3 0 0
"""
    b = read_bvh(write(tmp_path, text), units="m", include_end_sites=True)
    # B's translation is (0, 3, 0) (channels replace the offset, not add to it); no rotation
    np.testing.assert_allclose(b.positions[0], [[1, 1, 1], [1, 4, 1], [1, 5, 1]], atol=1e-12)
    assert b.channels[1] == ("Zrotation", "Xposition", "Yrotation", "Yposition", "Zposition", "Xrotation")


def test_forward_kinematics_function_matches_reader(tmp_path):
    rows = ["0.5 0 0 10 20 30   5 6 7   8 9 10", "0 1 0 -10 0 40   0 0 -90   1 2 3"]
    b = read_bvh(write(tmp_path, chain(rows=rows)), units="m", include_end_sites=True)
    h = parse_bvh(chain(rows=rows))
    np.testing.assert_allclose(forward_kinematics(h["parents"], h["offsets"], h["channels"], h["motion"]), b.positions)
    assert h["motion"].shape == (2, 12)


def test_skeleton_span_and_units():
    # root with chains of length 3 (two bones) and 4, plus a 1-long branch: span = 7
    parents = np.array([-1, 0, 1, 0, 0])
    offsets = np.array([[9, 9, 9], [0, 1, 0], [0, 2, 0], [4, 0, 0], [0, 0, 1]], float)
    chans = [("Xposition", "Yposition", "Zposition")] + [()] * 4
    motion = np.array([[5.0, 6.0, 7.0], [5.0, 6.0, 8.0]])  # root moves, root length ignored anyway
    assert skeleton_span(parents, offsets, chans, motion) == pytest.approx(7.0)
    # a joint whose position channels move over time carries global translation: no bone
    chans2 = [()] + [("Xposition", "Yposition", "Zposition")] + [()] * 3
    motion2 = np.array([[0.0, 50.0, 0.0], [0.0, 60.0, 0.0]])
    assert skeleton_span(parents, offsets, chans2, motion2) == pytest.approx(6.0)  # 2 + 4
    assert detect_units(1.9) == "m"
    assert detect_units(190.0) == "cm"
    assert detect_units(1900.0) == "mm"
    assert detect_units(75.0) == "inch"
    assert detect_units(39.3) == "cmu"  # CMU subject 131 in cgspeed units: 2.2 m (inches would be 1.0 m)
    with pytest.raises(InputError, match="units="):
        detect_units(10.0)


def test_units_option(tmp_path):
    p = write(tmp_path, chain(rows=["1 2 3 0 0 0 0 0 0 0 0 0"]))
    b = read_bvh(p, units="cm")
    assert b.units == "cm" and b.scale == 0.01
    np.testing.assert_allclose(b.positions_m()[0, 2], [0.01, 0.05, 0.03], atol=1e-7)
    assert read_bvh(p, units=0.5).scale == 0.5
    # a number as a string (the CLI passes --units 0.056444 so) and the CMU unit by name
    b = read_bvh(p, units="0.056444")
    assert b.units == "custom" and b.scale == pytest.approx(0.056444)
    assert read_bvh(p, units="cmu").scale == pytest.approx(0.0254 / 0.45)
    with pytest.raises(InputError, match="unknown units 'furlong'.*or a number"):
        read_bvh(p, units="furlong")
    for bad in ("-1", "0", "nan", 0.0):
        with pytest.raises(InputError, match="positive"):
            read_bvh(p, units=bad)
    with pytest.raises(InputError, match="cannot detect units"):
        read_bvh(p)  # a 3.5-unit chain is no human in any unit


@pytest.mark.parametrize("text, match", [
    ("", "empty BVH"),
    ("   \n\n", "empty BVH"),
    ("HIERARCHY\nROOT A\n{\n OFFSET 0 0 0\n}\n", "no MOTION"),
    ("ROOT A\n{\n OFFSET 0 0 0\n}\nMOTION\nFrames: 0\nFrame Time: 0.1\n", "HIERARCHY"),
    ("HIERARCHY\nROOT A\n{\n OFFSET 0 0 0\nMOTION\nFrames: 0\nFrame Time: 0.1\n", "missing '}'"),
    ("HIERARCHY\nROOT A\n{\n CHANNELS 1 Xrotation\n}\nMOTION\nFrames: 0\nFrame Time: 0.1\n", "no OFFSET"),
    ("HIERARCHY\nROOT A\n{\n OFFSET 0 x 0\n}\nMOTION\nFrames: 0\nFrame Time: 0.1\n", "expected a number"),
    ("HIERARCHY\nROOT A\n{\n OFFSET 0 0 0\n CHANNELS 1 Wrotation\n}\nMOTION\nFrames: 0\nFrame Time: 0.1\n",
     "unknown channel"),
    ("HIERARCHY\nROOT A\n{\n OFFSET 0 0 0\n BONE B\n}\nMOTION\nFrames: 0\nFrame Time: 0.1\n", "unexpected 'BONE'"),
    ("HIERARCHY\nROOT A\n{\n OFFSET 0 0 0\n}\nMOTION\nFrame Time: 0.1\n", "Frames:"),
    ("HIERARCHY\nROOT A\n{\n OFFSET 0 0 0\n}\nMOTION\nFrames: 0\nFrame Time: -1\n", "Frame Time"),
])
def test_malformed_files(tmp_path, text, match):
    p = write(tmp_path, text, "bad.bvh")
    with pytest.raises(InputError, match=match) as e:
        read_bvh(p, units="m")
    assert "bad.bvh" in str(e.value)


def test_motion_data_errors(tmp_path):
    ok = "0 0 0 0 0 0 0 0 0 0 0 0"
    with pytest.raises(InputError, match="Frames: 3 but the file has 2 data rows"):
        read_bvh(write(tmp_path, CHAIN % ("Zrotation Xrotation Yrotation", 3, ok + "\n" + ok)), units="m")
    text = chain(rows=[ok, "0 " * 11])
    bad_line = text.splitlines().index("0 " * 11) + 1
    with pytest.raises(InputError, match="11 values in a frame row, expected 12") as e:
        read_bvh(write(tmp_path, text), units="m")
    assert f"line {bad_line}:" in str(e.value)  # the second data row
    with pytest.raises(InputError, match="non-numeric value 'abc'"):
        read_bvh(write(tmp_path, chain(rows=[ok, "0 0 0 0 abc 0 0 0 0 0 0 0"])), units="m")
    with pytest.raises(InputError, match="non-finite"):
        read_bvh(write(tmp_path, chain(rows=["0 0 0 0 nan 0 0 0 0 0 0 0"])), units="m")
    with pytest.raises(InputError, match="not found"):
        read_bvh(tmp_path / "nope.bvh")


CMU_NAMES = ["Hips", "LHipJoint", "LeftUpLeg", "LeftLeg", "LeftFoot", "RHipJoint", "RightUpLeg", "RightLeg",
             "RightFoot", "LowerBack", "Spine", "Spine1", "Neck", "Neck1", "Head", "LeftShoulder", "LeftArm",
             "LeftForeArm", "LeftHand", "RightShoulder", "RightArm", "RightForeArm", "RightHand"]
MAX_NAMES = ["Hips", "LeftHip", "LeftKnee", "LeftAnkle", "RightHip", "RightKnee", "RightAnkle", "Chest", "Neck",
             "Head", "LeftCollar", "LeftShoulder", "LeftElbow", "LeftWrist", "RightCollar", "RightShoulder",
             "RightElbow", "RightWrist"]


def test_detect_mapping():
    m = detect_mapping(["joint_Root"] + list(BANDAI21.joints))
    assert m.rig == "bandai" and m.layout == BANDAI21
    m = detect_mapping(CMU_NAMES + ["Head_End"])
    assert m.rig == "cmu"
    assert m.index("l_knee") == CMU_NAMES.index("LeftLeg") and m.index("spine") == CMU_NAMES.index("Spine")
    assert m.index("thorax") == CMU_NAMES.index("Neck1") and m.index("r_shoulder") == CMU_NAMES.index("RightArm")
    assert m.index("head_top") == len(CMU_NAMES)  # the End Site of Head
    # Hip is the midpoint of the two hip joints, not the root
    pelvis = m.sources[m.layout.canonical.index("pelvis")]
    assert sorted(pelvis.tolist()) == sorted([CMU_NAMES.index("LeftUpLeg"), CMU_NAMES.index("RightUpLeg")])
    m = detect_mapping(MAX_NAMES)
    assert m.rig == "3dsmax" and m.index("l_shoulder") == MAX_NAMES.index("LeftShoulder")
    assert "head_top" not in m.layout.canonical  # no End Site: extrapolated later
    # MotionBuilder names without Neck1 (Mixamo): thorax = Neck, the namespace is ignored
    mix = ["mixamorig:" + n for n in CMU_NAMES if n not in ("Neck1", "LHipJoint", "RHipJoint", "LowerBack")]
    m = detect_mapping(mix)
    assert m.rig == "mixamo" and m.index("thorax") == mix.index("mixamorig:Neck")
    assert m.layout.joints[m.layout.canonical.index("thorax")] == "mixamorig:Neck"


def test_unknown_rig_lists_missing_joints_per_rig():
    names = [n for n in MAX_NAMES if n not in ("RightElbow", "Chest")] + ["Tail"]
    with pytest.raises(InputError) as e:
        detect_mapping(names, source="x.bvh")
    msg = str(e.value)
    assert msg.startswith("x.bvh: joint names match no known rig")
    # closest rig first, with its missing count and names; every rig is listed, briefly
    assert "Missing per rig: 3dsmax 2 of 15 (RightElbow, Chest)" in msg
    for rig in ("bandai 18 of 21 (Spine, Chest, Shoulder_L, ...)", "cmu ", "mixamo ", "daz ", "asf ", "cc "):
        assert rig in msg
    assert "daz 15 of 15 (lThigh/lThighBend, rThigh/rThighBend, lShin, ...)" in msg  # at most 3 names per rig
    assert "joint_map=" in msg and len(msg) < 1500


def _cmu_bvh(tmp_path):
    """A CMU-named rig in metres, all rotations zero: positions are sums of offsets."""
    off = {
        "Hips": (0, 1, 0), "LHipJoint": (0, 0, 0), "LeftUpLeg": (0.1, -0.05, 0), "LeftLeg": (0, -0.45, 0),
        "LeftFoot": (0, -0.45, 0), "RHipJoint": (0, 0, 0), "RightUpLeg": (-0.1, -0.05, 0),
        "RightLeg": (0, -0.45, 0), "RightFoot": (0, -0.45, 0), "LowerBack": (0, 0, 0), "Spine": (0, 0.12, 0),
        "Spine1": (0, 0.13, 0), "Neck": (0, 0.25, 0.01), "Neck1": (0, 0.05, 0), "Head": (0, 0.06, 0.02),
        "LeftShoulder": (0.05, 0.2, 0), "LeftArm": (0.12, 0, 0), "LeftForeArm": (0.28, 0, 0),
        "LeftHand": (0.25, 0, 0), "RightShoulder": (-0.05, 0.2, 0), "RightArm": (-0.12, 0, 0),
        "RightForeArm": (-0.28, 0, 0), "RightHand": (-0.25, 0, 0),
    }
    tree = {"Hips": ["LHipJoint", "RHipJoint", "LowerBack"], "LHipJoint": ["LeftUpLeg"], "LeftUpLeg": ["LeftLeg"],
            "LeftLeg": ["LeftFoot"], "RHipJoint": ["RightUpLeg"], "RightUpLeg": ["RightLeg"],
            "RightLeg": ["RightFoot"], "LowerBack": ["Spine"], "Spine": ["Spine1"],
            "Spine1": ["Neck", "LeftShoulder", "RightShoulder"], "Neck": ["Neck1"], "Neck1": ["Head"],
            "LeftShoulder": ["LeftArm"], "LeftArm": ["LeftForeArm"], "LeftForeArm": ["LeftHand"],
            "RightShoulder": ["RightArm"], "RightArm": ["RightForeArm"], "RightForeArm": ["RightHand"]}
    world, lines, nch = {}, [], []

    def emit(name, parent, kw):
        world[name] = np.add(world.get(parent, (0, 0, 0)), off[name]) if parent else np.array(off[name], float)
        lines.append(f"{kw} {name}\n{{\nOFFSET {' '.join(map(str, off[name]))}")
        lines.append("CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation" if parent is None
                     else "CHANNELS 3 Zrotation Yrotation Xrotation")
        nch.append(6 if parent is None else 3)
        for k in tree.get(name, []):
            emit(k, name, "JOINT")
        if name not in tree:
            lines.append("End Site\n{\nOFFSET 0 0.05 0\n}")
        lines.append("}")

    emit("Hips", None, "ROOT")
    row = " ".join(map(str, [0, 1, 0] + [0] * (sum(nch) - 3)))
    text = "HIERARCHY\n" + "\n".join(lines) + f"\nMOTION\nFrames: 2\nFrame Time: 0.0083333\n{row}\n{row}\n"
    return write(tmp_path, text, "cmu_rig.bvh"), world


def test_cmu_rig_to_h36m17(tmp_path):
    p, world = _cmu_bvh(tmp_path)
    m = load_bvh(p, units="m")
    assert m.layout == H36M17 and m.joints.shape == (2, 17, 3) and m.fps == 120.0
    got = {n: m.joints[0, i] for i, n in enumerate(H36M17.joints)}
    pairs = {"LHip": "LeftUpLeg", "LKnee": "LeftLeg", "LFoot": "LeftFoot", "RFoot": "RightFoot",
             "Spine": "Spine", "Thorax": "Neck1", "Neck/Nose": "Head", "LShoulder": "LeftArm",
             "RElbow": "RightForeArm", "LWrist": "LeftHand"}
    for h, c in pairs.items():
        np.testing.assert_allclose(got[h], world[c], atol=1e-6, err_msg=h)
    np.testing.assert_allclose(got["Hip"], 0.5 * (world["LeftUpLeg"] + world["RightUpLeg"]), atol=1e-6)
    np.testing.assert_allclose(got["Head"], world["Head"] + [0, 0.05, 0], atol=1e-6)  # End Site of Head
    assert m.notes == [] and m.clips[0]["rig"] == "cmu"
    # fps subsampling 120 -> 60 keeps frame 0 only of 2 frames
    assert len(load_bvh(p, units="m", fps=60)) == 1
    # the rig's own joints (no conversion)
    native = load_bvh(p, units="m", layout=None)
    assert native.layout.joints[0] == "mid(LeftUpLeg,RightUpLeg)" and native.joints.shape == (2, 17, 3)
    assert native.layout.canonical == H36M17.canonical and native.layout.parents == H36M17.parents
    assert native.layout.joints[H36M17.index("Head")] == "Head_End"


def test_unknown_rig(tmp_path):
    text = chain(rows=["0 0 0 0 0 0 0 0 0 0 0 0"])
    with pytest.raises(InputError, match="clip.bvh: joint names match no known rig.*The file's joints: A, B, C"):
        load_bvh(write(tmp_path, text), units="m")


# ---------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def bandai(data_dir):
    d = np.load(data_dir / "motion_bandai" / "bandai_joints21_30fps_mm.npz", allow_pickle=False)
    return {k: d[k] for k in ("joints_mm", "clip_name", "clip_start", "joint_names")}


def test_real_bvh_fk_matches_bandai_npz(data_dir, bandai):
    files = sorted((data_dir / "motion_bandai" / "bvh").glob("*.bvh"))
    assert len(files) == 9
    names = list(bandai["clip_name"])
    starts = bandai["clip_start"]
    worst = 0.0
    for f in files:
        b = read_bvh(f)
        assert b.units == "cm" and b.fps == 30.0  # auto-detected from the skeleton span
        c = names.index(f.stem)
        ref_mm = bandai["joints_mm"][starts[c]:starts[c + 1]].astype(np.float64)
        assert b.num_frames == len(ref_mm), f.stem
        idx = [b.names.index(n) for n in bandai["joint_names"]]
        err = np.linalg.norm(b.positions[:, idx] * b.scale * 1000.0 - ref_mm, axis=-1)
        worst = max(worst, float(err.max()))
    # the npz stores whole millimetres: rounding alone allows up to sqrt(3)/2 mm
    assert worst < 1.0


def test_real_bvh_folder_as_motion(data_dir, bandai):
    folder = data_dir / "motion_bandai" / "bvh"
    m = load_bvh(folder, layout="bandai21")
    assert m.num_clips == 9 and m.fps == 30.0 and m.layout == BANDAI21
    clip = m.clips[m.clip_index[0]]
    assert clip["subject"].startswith("dataset-") and clip["action"] and clip["style"]
    c = list(bandai["clip_name"]).index(clip["name"])
    s = bandai["clip_start"]
    ref = bandai["joints_mm"][s[c]:s[c + 1]] / 1000.0
    assert np.abs(m.clip(0) - ref).max() < 0.6e-3


# ---------------------------------------------------------------------------- rigs by joint name

from mocap_helpers import EXPECTED, RIGS, bvh_text, expected_h36m, world_positions  # noqa: E402


@pytest.mark.parametrize("rig", sorted(RIGS))
def test_each_rig_maps_to_h36m17_where_documented(tmp_path, rig):
    """Synthetic rigs (cm, zero joint rotations; the root moves and turns) land where mocap.py says."""
    joints = RIGS[rig]
    root = joints[0][2]
    frames = [(None, 0.0), ((5.0, root[1] + 2.0, -3.0), 90.0)]
    m = load_bvh(write(tmp_path, bvh_text(joints, frames), f"{rig}.bvh"))  # units detected: cm
    assert m.clips[0]["rig"] == rig and m.joints.shape == (2, 17, 3) and m.fps == 30.0
    for t, (pos, yaw) in enumerate(frames):
        world = world_positions(joints, pos, yaw)
        exp = expected_h36m(rig, world)
        got = {n: m.joints[t, i].astype(np.float64) * 100.0 for i, n in enumerate(H36M17.joints)}
        for h, p in exp.items():
            if p is not None:
                np.testing.assert_allclose(got[h], p, atol=1e-3, err_msg=f"{rig} {h} frame {t}")
        if exp["Head"] is None:  # no head top on the rig: extrapolated along thorax -> skull base
            d = got["Neck/Nose"] - got["Thorax"]
            np.testing.assert_allclose(got["Head"], got["Neck/Nose"] + 100 * HEAD_TOP_LENGTH_M * d / np.linalg.norm(d),
                                       atol=1e-3)
    assert bool(EXPECTED[rig]["Head"] is None) == any("head-top" in n for n in m.notes)
    # spine and thorax are distinct joints on every rig
    assert np.linalg.norm(m.joints[:, H36M17.index("Spine")] - m.joints[:, H36M17.index("Thorax")], axis=-1).min() > 0.1


def test_zero_length_head_end_site_is_not_a_head_top(tmp_path):
    joints = [(n, p, (0.0, 0.0, 0.0) if n == "Head_End" else o) for n, p, o in RIGS["3dsmax"]]
    m = load_bvh(write(tmp_path, bvh_text(joints), "flat_head.bvh"), layout=None)
    assert "head_top" not in m.layout.canonical and m.layout.num_joints == 16


def test_bandai_rig_synthetic(tmp_path):
    """The Bandai names give the bandai21 layout (Hip = Hips, Spine = Chest, Thorax = Neck)."""
    joints = [("joint_Root", None, (0.0, 0.0, 0.0))]
    offs = {"Hips": (0, 95, 0), "Spine": (0, 10, 0), "Chest": (0, 12, 0), "Neck": (0, 20, 0), "Head": (0, 8, 0),
            "Shoulder_L": (3, 16, 0), "UpperArm_L": (14, 0, 0), "LowerArm_L": (27, 0, 0), "Hand_L": (25, 0, 0),
            "Shoulder_R": (-3, 16, 0), "UpperArm_R": (-14, 0, 0), "LowerArm_R": (-27, 0, 0), "Hand_R": (-25, 0, 0),
            "UpperLeg_L": (10, -5, 0), "LowerLeg_L": (0, -40, 0), "Foot_L": (0, -42, 0), "Toes_L": (0, -5, 10),
            "UpperLeg_R": (-10, -5, 0), "LowerLeg_R": (0, -40, 0), "Foot_R": (0, -42, 0), "Toes_R": (0, -5, 10)}
    for name, parent in zip(BANDAI21.joints, BANDAI21.parents):
        joints.append((name, "joint_Root" if parent < 0 else BANDAI21.joints[parent], tuple(map(float, offs[name]))))
    m = load_bvh(write(tmp_path, bvh_text(joints), "dataset-1_walk_normal_001.bvh"))
    world = world_positions(joints)
    got = {n: m.joints[0, i] * 100.0 for i, n in enumerate(H36M17.joints)}
    for h, b in {"Hip": "Hips", "Spine": "Chest", "Thorax": "Neck", "Neck/Nose": "Head", "LShoulder": "UpperArm_L",
                 "RKnee": "LowerLeg_R"}.items():
        np.testing.assert_allclose(got[h], world[b], atol=1e-3, err_msg=h)
    assert m.clips[0]["rig"] == "bandai" and m.clips[0]["subject"] == "dataset-1"


# ---------------------------------------------------------------------------- units


def _scaled(joints, k):
    return [(n, p, tuple(k * v for v in o)) for n, p, o in joints]


def test_units_cmu_scale_is_recognised_not_read_as_inches(tmp_path):
    # the CMU conversions: 1 unit = 1/0.45 inch; the synthetic leg (82 cm) is 14.5 units
    k = 0.01 / (0.0254 / 0.45)
    joints = _scaled(RIGS["3dsmax"], k)
    p = write(tmp_path, bvh_text(joints), "131_01.bvh")
    b = read_bvh(p)
    assert b.units == "cmu" and b.scale == pytest.approx(0.0254 / 0.45) and b.notes == []
    m = load_bvh(p)
    leg = np.linalg.norm(m.joints[0, H36M17.index("LHip")] - m.joints[0, H36M17.index("LKnee")]) + \
        np.linalg.norm(m.joints[0, H36M17.index("LKnee")] - m.joints[0, H36M17.index("LFoot")])
    assert leg == pytest.approx(0.8210, abs=1e-3)  # metres, as built (40.05 + 42.05 cm; not 0.45x)
    assert m.clips[0]["subject"] == "131" and m.clips[0]["take"] == 1
    # same answer from the string the CLI passes
    m2 = load_bvh(p, units="0.056444")
    np.testing.assert_allclose(m2.joints, m.joints, atol=1e-4)  # 0.056444 vs 0.0254/0.45 = 0.0564444...


def test_units_unsure_are_noted_and_impossible_sizes_refused(tmp_path):
    # leg 20 units: cmu -> 1.13 m (a tall adult at best), inch -> 0.51 m: assumed cmu, with a note
    joints = _scaled(RIGS["3dsmax"], 20.0 / 82.10)
    m = load_bvh(write(tmp_path, bvh_text(joints), "tall.bvh"))
    assert len(m.notes) == 1 and "units assumed 'cmu'" in m.notes[0] and "tall.bvh" in m.notes[0]
    assert "inch 0.508 m, cmu 1.13 m" in m.notes[0] and "pass units=" in m.notes[0]
    with pytest.raises(InputError, match="cannot detect units: leg length.*no human size"):
        load_bvh(write(tmp_path, bvh_text(_scaled(RIGS["3dsmax"], 2.0 / 82.10)), "tiny.bvh"))
    # given units are used as they are, without a note
    assert load_bvh(tmp_path / "tall.bvh", units="cm").notes == []


# ---------------------------------------------------------------------------- joint maps


ODD = [("Root", None, (0.0, 95.0, 0.0)), ("Thigh.L", "Root", (10.0, -5.0, 0.0)), ("Shin.L", "Thigh.L", (0.0, -40.0, 0.0)),
       ("Ankle.L", "Shin.L", (0.0, -42.0, 0.0)), ("Thigh.R", "Root", (-10.0, -5.0, 0.0)),
       ("Shin.R", "Thigh.R", (0.0, -40.0, 0.0)), ("Ankle.R", "Shin.R", (0.0, -42.0, 0.0)),
       ("Back", "Root", (0.0, 25.0, 0.0)), ("NeckBase", "Back", (0.0, 25.0, 0.0)), ("Skull", "NeckBase", (0.0, 10.0, 0.0)),
       ("Arm.L", "NeckBase", (18.0, -2.0, 0.0)), ("Fore.L", "Arm.L", (27.0, 0.0, 0.0)), ("Hand.L", "Fore.L", (25.0, 0.0, 0.0)),
       ("Arm.R", "NeckBase", (-18.0, -2.0, 0.0)), ("Fore.R", "Arm.R", (-27.0, 0.0, 0.0)),
       ("Hand.R", "Fore.R", (-25.0, 0.0, 0.0)), ("Hand.R_End", "Hand.R", (-5.0, 0.0, 0.0))]
ODD_MAP = {"LHip": "Thigh.L", "LKnee": "Shin.L", "LFoot": "Ankle.L", "r_hip": "Thigh.R", "r_knee": "Shin.R",
           "r_ankle": "Ankle.R", "Thorax": "NeckBase", "Neck/Nose": "Skull", "LShoulder": "Arm.L", "LElbow": "Fore.L",
           "LWrist": "Hand.L", "RShoulder": "Arm.R", "RElbow": "Fore.R", "RWrist": "Hand.R"}


def test_joint_map_dict_and_json_file(tmp_path):
    import json

    p = write(tmp_path, bvh_text(ODD), "odd.bvh")
    with pytest.raises(InputError, match="match no known rig"):
        load_bvh(p)
    world = world_positions(ODD)
    for jm in (ODD_MAP, tmp_path / "map.json"):
        (tmp_path / "map.json").write_text(json.dumps(ODD_MAP))
        m = load_bvh(p, joint_map=jm)  # units detected from the mapped legs (82 cm)
        assert m.clips[0]["rig"] == "joint_map"
        got = {n: m.joints[0, i] * 100.0 for i, n in enumerate(H36M17.joints)}
        np.testing.assert_allclose(got["Hip"], 0.5 * (world["Thigh.L"] + world["Thigh.R"]), atol=1e-3)
        np.testing.assert_allclose(got["Spine"], 0.5 * (got["Hip"] + world["NeckBase"]), atol=1e-3)  # derived
        np.testing.assert_allclose(got["RKnee"], world["Shin.R"], atol=1e-3)
        np.testing.assert_allclose(got["Neck/Nose"], world["Skull"], atol=1e-3)
    # the map can also name a head top (any joint or End Site)
    m = load_bvh(p, joint_map={**ODD_MAP, "Head": "Hand.R_End"}, layout=None)
    assert m.layout.joints[m.layout.index("head_top")] == "Hand.R_End"


def test_joint_map_errors(tmp_path):
    p = write(tmp_path, bvh_text(ODD), "odd.bvh")
    with pytest.raises(InputError) as e:
        load_bvh(p, joint_map={**ODD_MAP, "LHip": "HipL", "RWrist": "WristR"})
    msg = str(e.value)
    assert "odd.bvh: joint map names 2 joint(s) absent from the file: l_hip -> 'HipL', r_wrist -> 'WristR'" in msg
    assert "the file's joints are: Root, Thigh.L" in msg
    with pytest.raises(InputError, match=r"unknown joint key\(s\) 'LeftHip'.*expected h36m17 names"):
        load_bvh(p, joint_map={"LeftHip": "Thigh.L"})
    with pytest.raises(InputError, match="'pelvis' is mapped twice"):
        load_bvh(p, joint_map={"Hip": "Root", "pelvis": "Root"})
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InputError, match="bad.json: not readable JSON"):
        load_bvh(p, joint_map=tmp_path / "bad.json")
    with pytest.raises(InputError, match="file not found"):
        load_bvh(p, joint_map=tmp_path / "none.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="expected a non-empty JSON object"):
        load_bvh(p, joint_map=tmp_path / "list.json")
    with pytest.raises(InputError, match="cannot build joint 'l_knee'"):
        load_bvh(p, joint_map={k: v for k, v in ODD_MAP.items() if k != "LKnee"}, units="cm")
    with pytest.raises(InputError, match="unknown rig 'blender'"):
        load_bvh(p, mapping="blender")
    with pytest.raises(InputError, match="rig 'cmu' needs 15 joint"):
        load_bvh(p, mapping="cmu", units="cm")


# ---------------------------------------------------------------------------- folders


def test_folder_reads_what_it_can_and_lists_the_rest(tmp_path):
    good = bvh_text(RIGS["cmu"], [(None, 0.0), (None, 10.0)])
    (tmp_path / "sub").mkdir()
    write(tmp_path, good, "a_good.bvh")
    write(tmp_path / "sub", good, "b_good.bvh")
    write(tmp_path, good.replace("Frames: 2", "Frames: 3"), "c_frames.bvh")
    lines = good.splitlines()
    lines[-1] = lines[-1].replace("0.0", "nan", 1)
    write(tmp_path, "\n".join(lines) + "\n", "d_nan.bvh")
    write(tmp_path, chain(rows=["0 0 0 0 0 0 0 0 0 0 0 0"]), "e_rig.bvh")
    write(tmp_path, "", "f_empty.bvh")
    m = load_bvh(tmp_path)
    assert [c["name"] for c in m.clips] == ["a_good", "b_good"] and len(m) == 4
    reasons = {Path(p).name: r for p, r in m.skipped}
    assert sorted(reasons) == ["c_frames.bvh", "d_nan.bvh", "e_rig.bvh", "f_empty.bvh"]
    assert "Frames: 3 but the file has 2 data rows" in reasons["c_frames.bvh"]
    assert "non-finite value" in reasons["d_nan.bvh"]
    assert "match no known rig" in reasons["e_rig.bvh"] or "cannot detect units" in reasons["e_rig.bvh"]
    assert "empty BVH" in reasons["f_empty.bvh"]
    # skipped files survive later steps
    assert m.subsample(15).skipped == m.skipped and m.select_clips([0]).skipped == m.skipped
    # a single bad file is its own clear error
    with pytest.raises(InputError, match="c_frames.bvh: header says Frames: 3"):
        load_bvh(tmp_path / "c_frames.bvh")


def test_all_bad_folder_is_one_error_with_every_reason(tmp_path):
    write(tmp_path, "", "x.bvh")
    write(tmp_path, chain(rows=["0 0 0 0 0 0 0 0 0 0 0 0"]), "y.bvh")
    with pytest.raises(InputError) as e:
        load_bvh(tmp_path)
    msg = str(e.value)
    assert "none of its 2 motion file(s) could be read" in msg
    assert "x.bvh: " in msg and "empty BVH" in msg and "y.bvh: " in msg


def test_folder_mixed_rates_and_rigs(tmp_path):
    write(tmp_path, bvh_text(RIGS["cmu"], frame_time=1 / 30), "a.bvh")
    write(tmp_path, bvh_text(RIGS["daz"], [(None, 0.0)] * 4, frame_time=1 / 60), "b.bvh")
    with pytest.raises(InputError, match=r"different frame rates \(30, 60 fps\); pass fps="):
        load_bvh(tmp_path)
    m = load_bvh(tmp_path, fps=30)
    assert [c["rig"] for c in m.clips] == ["cmu", "daz"] and len(m) == 3
    with pytest.raises(InputError, match=r"different rigs \(rig-cmu, rig-daz\)"):
        load_bvh(tmp_path, fps=30, layout=None)


# ---------------------------------------------------------------------------- real CMU and HDM05 files


def _sizes(m):
    j = {n: m.joints[:, i].astype(np.float64) for i, n in enumerate(H36M17.joints)}
    leg = np.mean([np.linalg.norm(j[f"{s}Hip"] - j[f"{s}Knee"], axis=-1) + np.linalg.norm(j[f"{s}Knee"] - j[f"{s}Foot"], axis=-1)
                   for s in "LR"], axis=0)
    height = np.percentile(j["Head"][:, 1] - np.minimum(j["LFoot"][:, 1], j["RFoot"][:, 1]), 95)
    return float(np.median(leg)), float(height), np.linalg.norm(j["Spine"] - j["Thorax"], axis=-1)


@pytest.mark.parametrize("folder, rig", [("motion_cmu/daz_10-14", "daz"), ("motion_cmu/max_131", "3dsmax"),
                                         ("motion_hdm05/bvh", "asf")])
def test_real_rigs_have_adult_sizes_and_distinct_spine_thorax(data_dir, folder, rig):
    m = load_bvh(data_dir / folder, fps=10)
    assert {c["rig"] for c in m.clips} == {rig} and m.skipped == [] and m.fps == 10.0
    leg, height, spine_thorax = _sizes(m)
    # leg (hip-knee-ankle) of an adult; ankle-to-head-top height (the rig's own head top or 0.18 m above the
    # skull base); measured: daz 0.82 / 1.56 m, max_131 0.80 / 1.36 m (a short ASF head bone), HDM05 0.82 / 1.69 m
    assert 0.7 < leg < 0.95, leg
    assert 1.25 < height < 2.0, height
    assert spine_thorax.min() > 0.1
    assert all(c["subject"] for c in m.clips)
