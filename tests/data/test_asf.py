"""ASF/AMC reader: parsing, the Acclaim kinematics on hand-computed poses, units, errors, and the real HDM05 clips."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from energy3d.data.asf import amc_forward_kinematics, find_asf, load_amc, parse_amc, parse_asf, read_amc
from energy3d.data.bvh import read_bvh
from energy3d.data.sources import load_motion
from energy3d.errors import InputError
from energy3d.skeleton.layouts import H36M17, HEAD_TOP_LENGTH_M

S = 1 / np.sqrt(2)
# (name, direction, length, axis, dof): a CMU-style skeleton in ASF units (0.45 units per inch)
BONES = [
    ("lhipjoint", (S, -S, 0), 1.5, "0 0 0", ""), ("lfemur", (0, -1, 0), 7.5, "0 0 20", "rx ry rz"),
    ("ltibia", (0, -1, 0), 7.2, "0 0 0", "rx"), ("lfoot", (0, 0, 1), 2.0, "0 0 0", "rx rz"),
    ("rhipjoint", (-S, -S, 0), 1.5, "0 0 0", ""), ("rfemur", (0, -1, 0), 7.5, "0 0 0", "rx ry rz"),
    ("rtibia", (0, -1, 0), 7.2, "0 0 0", "rx"), ("rfoot", (0, 0, 1), 2.0, "0 0 0", "rx rz"),
    ("lowerback", (0, 1, 0), 2.2, "0 0 0", "rx ry rz"), ("upperback", (0, 1, 0), 2.2, "0 0 0", "rx ry rz"),
    ("thorax", (0, 1, 0), 2.2, "0 0 0", "rx ry rz"), ("lowerneck", (0, 1, 0), 1.4, "0 0 0", "rx ry rz"),
    ("upperneck", (0, 1, 0), 1.4, "0 0 0", "rx ry rz"), ("head", (0, 1, 0), 1.5, "0 0 0", "rx ry rz"),
    ("lclavicle", (1, 0, 0), 3.0, "0 0 0", "ry rz"), ("lhumerus", (1, 0, 0), 5.0, "0 0 90", "rx ry rz"),
    ("lradius", (1, 0, 0), 4.5, "0 0 0", "rx"), ("lwrist", (1, 0, 0), 1.0, "0 0 0", "ry"),
    ("rclavicle", (-1, 0, 0), 3.0, "0 0 0", "ry rz"), ("rhumerus", (-1, 0, 0), 5.0, "0 0 0", "rx ry rz"),
    ("rradius", (-1, 0, 0), 4.5, "0 0 0", "rx"), ("rwrist", (-1, 0, 0), 1.0, "0 0 0", "ry"),
]
HIERARCHY = """root lhipjoint rhipjoint lowerback
lhipjoint lfemur
lfemur ltibia
ltibia lfoot
rhipjoint rfemur
rfemur rtibia
rtibia rfoot
lowerback upperback
upperback thorax
thorax lowerneck lclavicle rclavicle
lowerneck upperneck
upperneck head
lclavicle lhumerus
lhumerus lradius
lradius lwrist
rclavicle rhumerus
rhumerus rradius
rradius rwrist"""


def asf_text(length="0.45", angle="deg", bones=BONES, hierarchy=HIERARCHY, root_order="TX TY TZ RX RY RZ"):
    blocks = []
    for i, (name, d, ln, axis, dof) in enumerate(bones, start=1):
        lim = "\n    limits " + " ".join("(-180.0 180.0)" for _ in dof.split()) if dof else ""
        blocks.append(f"  begin\n    id {i}\n    name {name}\n    direction {d[0]} {d[1]} {d[2]}\n    length {ln}\n"
                      f"    axis {axis} XYZ" + (f"\n    dof {dof}" if dof else "") + lim + "\n  end")
    return (f"# synthetic skeleton\n:version 1.10\n:name test\n:units\n  mass 1.0\n  length {length}\n  angle {angle}\n"
            f":documentation\n  made by the test\n:root\n  order {root_order}\n  axis XYZ\n  position 0 0 0\n"
            f"  orientation 0 0 0\n:bonedata\n" + "\n".join(blocks) + f"\n:hierarchy\n  begin\n{hierarchy}\n  end\n")


def amc_text(frames, header=":FULLY-SPECIFIED\n:DEGREES\n"):
    """frames: list of {bone: values}; bones with dofs not given are written as zeros."""
    out = ["#!OML:ASF test.asf", header.rstrip("\n")]
    for k, f in enumerate(frames, start=1):
        out.append(str(k))
        out.append("root " + " ".join(map(str, f.get("root", [0, 17, 0, 0, 0, 0]))))
        for name, _, _, _, dof in BONES:
            if dof:
                out.append(name + " " + " ".join(map(str, f.get(name, [0] * len(dof.split())))))
    return "\n".join(out) + "\n"


def rest(root=(0.0, 17.0, 0.0)):
    """Bone start positions and leaf ends of the rest pose, by hand from BONES (ASF units)."""
    d = {n: np.array(v, float) * ln for n, v, ln, _, _ in BONES}
    p = {"root": np.array(root, float)}
    p["lhipjoint"] = p["rhipjoint"] = p["lowerback"] = p["root"]
    p["lfemur"] = p["root"] + d["lhipjoint"]
    p["ltibia"] = p["lfemur"] + d["lfemur"]
    p["lfoot"] = p["ltibia"] + d["ltibia"]
    p["lfoot_End"] = p["lfoot"] + d["lfoot"]
    p["rfemur"] = p["root"] + d["rhipjoint"]
    p["rtibia"] = p["rfemur"] + d["rfemur"]
    p["rfoot"] = p["rtibia"] + d["rtibia"]
    p["upperback"] = p["root"] + d["lowerback"]
    p["thorax"] = p["upperback"] + d["upperback"]
    p["lowerneck"] = p["lclavicle"] = p["rclavicle"] = p["thorax"] + d["thorax"]
    p["upperneck"] = p["lowerneck"] + d["lowerneck"]
    p["head"] = p["upperneck"] + d["upperneck"]
    p["head_End"] = p["head"] + d["head"]
    p["lhumerus"] = p["lclavicle"] + d["lclavicle"]
    p["lradius"] = p["lhumerus"] + d["lhumerus"]
    p["lwrist"] = p["lradius"] + d["lradius"]
    p["rhumerus"] = p["rclavicle"] + d["rclavicle"]
    return p


def write(folder, name, text):
    p = Path(folder) / name
    p.write_text(text)
    return p


def test_parse_asf():
    s = parse_asf(asf_text(), source="t.asf")
    assert s.bones[:4] == ["lhipjoint", "rhipjoint", "lowerback", "lfemur"]  # hierarchy order, parents first
    assert s.parents[s.bones.index("ltibia")] == s.bones.index("lfemur") and s.parents[0] == -1
    assert s.dofs[s.bones.index("lfoot")] == ("rx", "rz") and s.dofs[0] == ()
    assert s.length == 0.45 and s.angle == "deg" and s.scale == pytest.approx(0.0254 / 0.45)
    np.testing.assert_allclose(s.directions[0], [S, -S, 0])
    np.testing.assert_allclose(s.axes[s.bones.index("lhumerus")] @ [1, 0, 0], [0, 1, 0], atol=1e-12)  # C = Rz(90)
    names = s.point_names()
    assert names[0] == "root" and names[1] == "lhipjoint" and "head_End" in names and "lfoot_End" in names
    assert s.point_parents()[names.index("head_End")] == names.index("head")


def test_rest_pose_and_hand_computed_rotations(tmp_path):
    """Kinematics A_b = A_parent C M C^-1 on poses worked out by hand (ASF units)."""
    s = parse_asf(asf_text())
    frames = [
        {},
        {"ltibia": [90]},                    # knee bends: tibia (0,-1,0) -> Rx(90) -> (0,0,-1); foot (0,0,1) -> (0,-1,0)
        {"lhumerus": [90, 0, 0]},            # axis C = Rz(90): rx turns about C's x = world y: (1,0,0) -> (0,0,-1)
        {"rfemur": [90, 0, 90]},             # dof rx ry rz applied in order: M = Rz Ry Rx: (0,-1,0) -> (0,0,-1)
        {"root": [1, 17, 2, 90, 0, 90]},     # root order RX..RZ about fixed axes: Rz Rx: lowerback (0,1,0) -> (0,0,1)
    ]
    vals = parse_amc(amc_text(frames), s)
    pos = amc_forward_kinematics(s, vals)
    names = s.point_names()
    at = {n: pos[:, i] for i, n in enumerate(names)}
    r = rest()
    for n, p in r.items():
        np.testing.assert_allclose(at[n][0], p, atol=1e-9, err_msg=n)
    np.testing.assert_allclose(at["lfoot"][1], r["ltibia"] + [0, 0, -7.2], atol=1e-9)
    np.testing.assert_allclose(at["lfoot_End"][1], r["ltibia"] + [0, 0, -7.2] + [0, -2.0, 0], atol=1e-9)
    np.testing.assert_allclose(at["lradius"][2], r["lhumerus"] + [0, 0, -5.0], atol=1e-9)
    np.testing.assert_allclose(at["lwrist"][2], r["lhumerus"] + [0, 0, -9.5], atol=1e-9)
    np.testing.assert_allclose(at["rtibia"][3], r["rfemur"] + [0, 0, -7.5], atol=1e-9)
    np.testing.assert_allclose(at["upperback"][4], [1, 17, 2] + np.array([0, 0, 2.2]), atol=1e-9)
    np.testing.assert_allclose(at["root"][4], [1, 17, 2], atol=1e-12)
    # bone lengths never change
    for b in ("ltibia", "lradius", "rtibia"):
        child = {"ltibia": "lfoot", "lradius": "lwrist", "rtibia": "rfoot"}[b]
        np.testing.assert_allclose(np.linalg.norm(at[child] - at[b], axis=-1), dict((n, ln) for n, _, ln, _, _ in BONES)[b])


def test_radians(tmp_path):
    s = parse_asf(asf_text(angle="rad").replace("axis 0 0 90 XYZ", f"axis 0 0 {np.pi / 2} XYZ"))
    deg = parse_asf(asf_text())
    k = deg.bones.index("lhumerus")
    np.testing.assert_allclose(s.axes[k], deg.axes[k], atol=1e-12)
    v = parse_amc(amc_text([{"ltibia": [np.pi / 2]}], header=":FULLY-SPECIFIED\n:RADIANS\n"), deg)
    assert v["ltibia"][0, 0] == pytest.approx(90.0)
    v = parse_amc(amc_text([{"ltibia": [np.pi / 2], "root": [1, 2, 3, np.pi, 0, 0]}], header=""), s)  # ASF says rad
    assert v["ltibia"][0, 0] == pytest.approx(90.0) and v["root"][0].tolist()[:4] == [1, 2, 3, pytest.approx(180.0)]


def test_read_and_load_amc(tmp_path):
    write(tmp_path, "07.asf", asf_text())
    amc = write(tmp_path, "07_03.amc", amc_text([{}, {"ltibia": [90]}, {}, {}]))
    assert find_asf(amc) == tmp_path / "07.asf"
    a = read_amc(amc)
    assert a.units == "asf" and a.fps == 120.0 and a.positions.shape == (4, len(a.names), 3)
    assert any("assumed 120 fps" in n for n in a.notes)
    assert read_amc(amc, amc_fps=60).notes == []  # leg 14.7 units = 0.83 m: nothing else to note
    m = load_motion(amc, fps=60)
    assert m.fps == 60.0 and len(m) == 2 and m.layout == H36M17
    assert m.clips[0]["subject"] == "07" and m.clips[0]["take"] == 3 and m.clips[0]["rig"] == "asf"
    k = 0.0254 / 0.45
    r = rest()
    got = {n: m.joints[0, i].astype(np.float64) / k for i, n in enumerate(H36M17.joints)}
    pairs = {"LHip": "lfemur", "LKnee": "ltibia", "LFoot": "lfoot", "Spine": "thorax", "Thorax": "upperneck",
             "Neck/Nose": "head", "Head": "head_End", "LShoulder": "lhumerus", "LElbow": "lradius", "LWrist": "lwrist"}
    for h, b in pairs.items():
        np.testing.assert_allclose(got[h], r[b], atol=1e-4, err_msg=h)
    np.testing.assert_allclose(got["Hip"], 0.5 * (r["lfemur"] + r["rfemur"]), atol=1e-4)
    # a folder of AMC files, each finding its ASF
    (tmp_path / "more").mkdir()
    write(tmp_path / "more", "HDM_xy.asf", asf_text())
    write(tmp_path / "more", "HDM_xy_kick_001_120.amc", amc_text([{}]))
    both = load_motion(tmp_path)
    assert [c["name"] for c in both.clips] == ["07_03", "HDM_xy_kick_001_120"]
    assert both.clips[1]["subject"] == "xy" and both.clips[1]["action"] == "kick"


def test_units(tmp_path):
    write(tmp_path, "1.asf", asf_text(length="1.0"))
    amc = write(tmp_path, "1_01.amc", amc_text([{}]))
    a = read_amc(amc, amc_fps=120)
    # length 1.0: local units are inches, leg 14.7 in = 0.37 m: kept but noted
    assert a.scale == pytest.approx(0.0254) and len(a.notes) == 1 and "0.37 m, outside the adult" in a.notes[0]
    b = read_amc(amc, units="0.056444", amc_fps=120)
    assert b.units == "custom" and b.scale == pytest.approx(0.056444) and b.notes == []
    m = load_amc(amc, units="cmu", amc_fps=120, layout=None)
    assert m.layout.canonical == H36M17.canonical  # the ASF rig has every h36m17 joint, head top included
    with pytest.raises(InputError, match="unknown units 'yards'"):
        read_amc(amc, units="yards")


def test_amc_without_asf_and_asf_argument(tmp_path):
    amc = write(tmp_path, "walk.amc", amc_text([{}]))
    with pytest.raises(InputError, match="walk.amc: no ASF skeleton beside it.*pass asf=PATH"):
        load_motion(amc)
    other = tmp_path / "skel"
    other.mkdir()
    write(other, "body.asf", asf_text())
    m = load_motion(amc, asf=other / "body.asf")
    assert len(m) == 1
    with pytest.raises(InputError, match="an ASF file holds a skeleton, no motion"):
        load_motion(other / "body.asf")
    with pytest.raises(InputError, match="ASF skeleton file not found"):
        load_motion(amc, asf=other / "none.asf")


def _bad_asf(old, new):
    text = asf_text()
    assert old in text
    return text.replace(old, new)


@pytest.mark.parametrize("text, match", [
    ("", "empty ASF"),
    (":version 1.10\n:units\n  length 1\n", "no :bonedata"),
    (_bad_asf("length 0.45", "length -2"), "length must be a positive"),
    (_bad_asf("angle deg", "angle grad"), "'deg' or 'rad'"),
    (_bad_asf("    length 7.2\n", ""), "bone block lacks length"),
    (_bad_asf("dof rx rz", "dof rx tz"), "dof 'tz' is not supported"),
    (_bad_asf("direction 0 0 1\n    length 2.0\n    axis 0 0 0 XYZ\n    dof rx rz",
              "direction 0 0 x\n    length 2.0\n    axis 0 0 0 XYZ\n    dof rx rz"), "direction: expected a number"),
    (_bad_asf("axis 0 0 20 XYZ", "axis 0 0 20 XXZ"), "permutation of XYZ"),
    (_bad_asf("ltibia lfoot", "ltibia lfoot lknee"), "unknown bone 'lknee'"),
    (_bad_asf("rradius rwrist", "rradius"), "not reachable from root.*rwrist"),
    (_bad_asf("lowerneck upperneck", "lowerneck upperneck\nhead upperneck"), "two parents"),
    (_bad_asf("order TX TY TZ RX RY RZ", "order TX TY TZ RX RY RW"), "order must list distinct channels"),
    (_bad_asf("name rwrist", "name rradius"), "duplicate bone names"),
    (_bad_asf("    id 2\n", "    id 2\n    colour red\n"), "unknown bone keyword 'colour'"),
])
def test_bad_asf(text, match):
    with pytest.raises(InputError, match=match):
        parse_asf(text, source="bad.asf")


@pytest.mark.parametrize("edit, match", [
    (lambda t: t.replace("ltibia 0\n", "ltibia 0 0\n", 1), r"bone 'ltibia' has 2 values, expected 1 \(rx\)"),
    (lambda t: t.replace("ltibia 0\n", "ltibia abc\n", 1), "non-numeric value 'abc'"),
    (lambda t: t.replace("ltibia 0\n", "ltibia nan\n", 1), "non-finite value"),
    (lambda t: t.replace("ltibia 0\n", "ltail 0\n", 1), "bone 'ltail' is not in the ASF"),
    (lambda t: t.replace("ltibia 0\n", "", 1), "frame 1 lacks bone\\(s\\) ltibia"),
    (lambda t: t.replace("\n2\n", "\n3\n"), "frame 3 follows frame 1"),
    (lambda t: t.replace("ltibia 0\n", "ltibia 0\nltibia 0\n", 1), "appears twice in frame 1"),
    (lambda t: "#!OML\n:DEGREES\n", "holds no frames"),
    (lambda t: "root 0 0 0 0 0 0\n1\n", "before the first frame number"),
])
def test_bad_amc(tmp_path, edit, match):
    write(tmp_path, "3.asf", asf_text())
    amc = write(tmp_path, "3_01.amc", edit(amc_text([{}, {}])))
    with pytest.raises(InputError, match=match) as e:
        read_amc(amc)
    assert "3_01.amc" in str(e.value)


def test_folder_skips_bad_amc(tmp_path):
    write(tmp_path, "3.asf", asf_text())
    write(tmp_path, "3_01.amc", amc_text([{}]))
    write(tmp_path, "3_02.amc", amc_text([{}]).replace("ltibia 0\n", "ltibia\n"))
    write(tmp_path, "9_01.amc", amc_text([{}]))  # no 9.asf
    m = load_motion(tmp_path)
    assert [c["name"] for c in m.clips] == ["3_01"]
    reasons = {Path(p).name: r for p, r in m.skipped}
    assert "has 0 values, expected 1" in reasons["3_02.amc"] and "no ASF skeleton beside it" in reasons["9_01.amc"]


# ---------------------------------------------------------------------------- real HDM05 clips

CLIPS = ["HDM_mm_depositFloorR_019_120", "HDM_tr_squat1Reps_041_120"]


@pytest.mark.parametrize("clip", CLIPS)
def test_real_amc_matches_hdm05_bvh(data_dir, clip):
    """Our ASF/AMC kinematics reproduce the HDM05 BVH conversion (120 -> 30 fps: every 4th AMC frame).

    Measured: at most 0.0003 mm apart on both clips (the BVH text keeps 6 decimals of cm).
    """
    folder = data_dir / "motion_hdm05"
    a = read_amc(folder / "asf_amc" / f"{clip}.amc")
    b = read_bvh(folder / "bvh" / f"{clip}.bvh", include_end_sites=True)
    assert b.units == "cm" and a.scale == pytest.approx(0.0254 / 0.45)
    assert set(a.names) == set(b.names)  # one point per bone start, End Sites at leaf ends
    idx = [a.names.index(n) for n in b.names]
    pa = a.positions[::4][:, idx] * a.scale
    pb = b.positions * b.scale
    assert len(pa) == len(pb)
    # bone lengths (parent-child distances) agree in every frame
    for j, p in enumerate(b.parents):
        if p >= 0:
            la = np.linalg.norm(pa[:, j] - pa[:, p], axis=-1)
            lb = np.linalg.norm(pb[:, j] - pb[:, p], axis=-1)
            assert np.abs(la - lb).max() < 1e-5, b.names[j]
    # positions agree after aligning the roots (and before: same world frame)
    aligned = (pa - pa[:, :1]) - (pb - pb[:, :1])
    assert np.linalg.norm(aligned, axis=-1).max() < 1e-5  # 0.01 mm
    assert np.linalg.norm(pa - pb, axis=-1).max() < 1e-5


def test_real_amc_through_load_motion(data_dir):
    folder = data_dir / "motion_hdm05"
    amc = load_motion(folder / "asf_amc", fps=30)
    assert [c["subject"] for c in amc.clips] == ["mm", "tr"] and amc.fps == 30.0
    bvh = load_motion(folder / "bvh").select_clips(CLIPS)
    np.testing.assert_array_equal(amc.clip_index, bvh.clip_index)
    assert np.abs(amc.joints - bvh.joints).max() < 1e-4
    head = amc.joints[:, H36M17.index("Head")] - amc.joints[:, H36M17.index("Neck/Nose")]
    # the rig's own head top (the head bone's end), not the 0.18 m extrapolation
    assert np.abs(np.linalg.norm(head, axis=-1) - HEAD_TOP_LENGTH_M).min() > 0.05


def test_real_amc_without_its_asf(data_dir, tmp_path):
    src = data_dir / "motion_hdm05" / "asf_amc" / f"{CLIPS[1]}.amc"
    shutil.copy(src, tmp_path / src.name)
    with pytest.raises(InputError, match="no ASF skeleton beside it"):
        load_motion(tmp_path / src.name)
    m = load_motion(tmp_path / src.name, asf=src.parent / "HDM_tr.asf", fps=30)
    assert m.clips[0]["subject"] == "tr" and len(m) == 48
