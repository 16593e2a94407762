"""BVH reader: parsing, forward kinematics, units, joint mappings, errors, and the real Bandai clips."""

import itertools

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
    with pytest.raises(InputError, match="units="):
        detect_units(30.0)


def test_units_option(tmp_path):
    p = write(tmp_path, chain(rows=["1 2 3 0 0 0 0 0 0 0 0 0"]))
    b = read_bvh(p, units="cm")
    assert b.units == "cm" and b.scale == 0.01
    np.testing.assert_allclose(b.positions_m()[0, 2], [0.01, 0.05, 0.03], atol=1e-7)
    assert read_bvh(p, units=0.5).scale == 0.5
    with pytest.raises(InputError, match="unknown units"):
        read_bvh(p, units="furlong")
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
    assert detect_mapping(["joint_Root"] + list(BANDAI21.joints))[0] == "bandai"
    name, found = detect_mapping(CMU_NAMES)
    assert name == "cmu"
    assert found["l_knee"] == CMU_NAMES.index("LeftLeg") and found["spine"] == CMU_NAMES.index("Spine1")
    assert found["r_shoulder"] == CMU_NAMES.index("RightArm")
    name, found = detect_mapping(MAX_NAMES)
    assert name == "3dsmax" and found["l_shoulder"] == MAX_NAMES.index("LeftShoulder")
    assert detect_mapping(["mixamorig:" + n for n in CMU_NAMES])[0] == "cmu"
    with pytest.raises(InputError, match="missing joints: .*RightForeArm") as e:
        detect_mapping([n for n in CMU_NAMES if n != "RightForeArm"], source="x.bvh")
    assert "x.bvh" in str(e.value)


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
    pairs = {"Hip": "Hips", "LHip": "LeftUpLeg", "LKnee": "LeftLeg", "LFoot": "LeftFoot", "RFoot": "RightFoot",
             "Spine": "Spine1", "Thorax": "Neck", "Neck/Nose": "Head", "LShoulder": "LeftArm",
             "RElbow": "RightForeArm", "LWrist": "LeftHand"}
    for h, c in pairs.items():
        np.testing.assert_allclose(got[h], world[c], atol=1e-6, err_msg=h)
    d = world["Head"] - world["Neck"]
    np.testing.assert_allclose(got["Head"], world["Head"] + HEAD_TOP_LENGTH_M * d / np.linalg.norm(d), atol=1e-6)
    # fps subsampling 120 -> 60 keeps frame 0 only of 2 frames
    assert len(load_bvh(p, units="m", fps=60)) == 1
    # the rig's own joints (no conversion)
    native = load_bvh(p, units="m", layout=None)
    assert native.layout.joints[0] == "Hips" and native.joints.shape == (2, 16, 3)  # mapped joints, no head top
    assert native.layout.canonical[0] == "pelvis"


def test_unknown_rig(tmp_path):
    text = chain(rows=["0 0 0 0 0 0 0 0 0 0 0 0"])
    with pytest.raises(InputError, match="match no known BVH rig"):
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
