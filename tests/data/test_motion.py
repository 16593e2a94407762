"""Motion container and the load_motion dispatcher."""

import numpy as np
import pytest

from energy3d.data.motion import Motion, concat_motions
from energy3d.data.sources import load_motion
from energy3d.errors import InputError
from energy3d.skeleton.layouts import BANDAI21, H36M17


def make(counts=(5, 4), fps=30.0, actions=("walk", "run")):
    """Frame values encode (clip, frame-in-clip): joints[..., 0] = clip, joints[..., 1] = frame."""
    rows, idx = [], []
    for c, n in enumerate(counts):
        for t in range(n):
            rows.append(np.tile([c, t, 0.0], (17, 1)))
            idx.append(c)
    clips = [{"name": f"clip{c}", "action": a} for c, a in enumerate(actions)]
    return Motion(np.array(rows, np.float32).reshape(-1, 17, 3), "h36m17", np.array(idx), clips, fps)


def test_basics():
    m = make()
    assert len(m) == 9 and m.num_clips == 2 and m.layout == H36M17
    assert m.clips[0] == {"name": "clip0", "action": "walk", "style": "", "subject": ""}
    assert m.actions().tolist() == ["walk"] * 5 + ["run"] * 4
    assert m.clip_starts.tolist() == [0, 5, 9]
    assert m.frame_in_clip().tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3]
    np.testing.assert_array_equal(m.clip("clip1")[:, 0, 1], [0, 1, 2, 3])


def test_subsample_per_clip():
    s = make().subsample(10)
    assert s.fps == 10.0
    got = [(int(j[0, 0]), int(j[0, 1])) for j in s.joints]
    assert got == [(0, 0), (0, 3), (1, 0), (1, 3)]
    assert s.clip_index.tolist() == [0, 0, 1, 1]
    s15 = make().subsample(15)
    assert [int(j[0, 1]) for j in s15.joints] == [0, 2, 4, 0, 2]
    with pytest.raises(InputError, match="cannot subsample 30 fps to 7 fps"):
        make().subsample(7)
    with pytest.raises(InputError, match="positive"):
        make().subsample(0)


def test_select_clips():
    m = make(counts=(2, 3, 4), actions=("a", "b", "c"))
    by_mask = m.select_clips(np.array([True, False, True]))
    by_name = m.select_clips(["clip2", "clip0"])
    by_index = m.select_clips([0, 2])
    for s in (by_mask, by_name, by_index):
        assert [c["name"] for c in s.clips] == ["clip0", "clip2"]
        assert s.clip_index.tolist() == [0, 0, 1, 1, 1, 1]
        assert s.joints[:, 0, 0].tolist() == [0, 0, 2, 2, 2, 2]
    assert len(m.select_clips(np.zeros(3, bool))) == 0
    with pytest.raises(InputError, match="unknown clip name"):
        m.select_clips(["nope"])
    with pytest.raises(InputError, match=r"shape \(3,\)"):
        m.select_clips(np.array([True, False]))


def test_validation():
    with pytest.raises(InputError, match=r"expected shape \(\.\.\., 17, 3\)"):
        Motion(np.zeros((3, 16, 3)), H36M17, np.zeros(3), [{"name": "x"}], 30)
    with pytest.raises(InputError, match="non-decreasing"):
        Motion(np.zeros((3, 17, 3)), H36M17, [1, 0, 1], [{"name": "x"}, {"name": "y"}], 30)
    with pytest.raises(InputError, match=r"\[0, 1\)"):
        Motion(np.zeros((2, 17, 3)), H36M17, [0, 1], [{"name": "x"}], 30)
    with pytest.raises(InputError, match="fps"):
        Motion(np.zeros((2, 17, 3)), H36M17, [0, 0], [{"name": "x"}], -1)


def test_concat():
    a, b = make(), make(counts=(2,), actions=("jump",))
    c = concat_motions([a, b])
    assert c.num_clips == 3 and c.clip_index.tolist()[-3:] == [1, 2, 2]
    with pytest.raises(InputError, match="fps"):
        concat_motions([a, make(fps=50.0)])


BVH = """HIERARCHY
ROOT Hips
{{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
{body}
}}
MOTION
Frames: 3
Frame Time: 0.0333333
{rows}
"""
LIMBS = [("Spine1", "Hips", (0, 30, 0)), ("Neck", "Spine1", (0, 25, 0)), ("Head", "Neck", (0, 10, 0)),
         ("LeftUpLeg", "Hips", (10, -5, 0)), ("LeftLeg", "LeftUpLeg", (0, -45, 0)), ("LeftFoot", "LeftLeg", (0, -45, 0)),
         ("RightUpLeg", "Hips", (-10, -5, 0)), ("RightLeg", "RightUpLeg", (0, -45, 0)),
         ("RightFoot", "RightLeg", (0, -45, 0)), ("LeftArm", "Spine1", (18, 20, 0)), ("LeftForeArm", "LeftArm", (28, 0, 0)),
         ("LeftHand", "LeftForeArm", (25, 0, 0)), ("RightArm", "Spine1", (-18, 20, 0)),
         ("RightForeArm", "RightArm", (-28, 0, 0)), ("RightHand", "RightForeArm", (-25, 0, 0))]


def cmu_bvh_text():
    """A CMU-named rig in centimetres (span ~1.9 m, so units auto-detect as cm)."""
    def body(parent, depth):
        out = []
        for name, par, off in LIMBS:
            if par == parent:
                inner = body(name, depth + 1) or "End Site { OFFSET 0 5 0 }"
                out.append(f"JOINT {name}\n{{\nOFFSET {off[0]} {off[1]} {off[2]}\n"
                           f"CHANNELS 3 Zrotation Xrotation Yrotation\n{inner}\n}}")
        return "\n".join(out)

    nval = 6 + 3 * len(LIMBS)
    rows = "\n".join(" ".join(["0", str(90 + t), "0"] + ["0"] * (nval - 3)) for t in range(3))
    return BVH.format(body=body("Hips", 1), rows=rows)


def test_load_motion_bvh_file_and_folder(tmp_path):
    (tmp_path / "clips").mkdir()
    for name in ("a_walk", "b_run"):
        (tmp_path / "clips" / f"{name}.bvh").write_text(cmu_bvh_text())
    one = load_motion(tmp_path / "clips" / "a_walk.bvh")
    assert one.layout == H36M17 and one.joints.shape == (3, 17, 3) and one.fps == 30.0
    # MotionBuilder names without Neck1: the mixamo rig; Hip is the midpoint of the hips (5 cm below Hips)
    assert one.clips[0]["rig"] == "mixamo"
    np.testing.assert_allclose(one.joints[:, 0], [[0, 0.85, 0], [0, 0.86, 0], [0, 0.87, 0]], atol=1e-6)
    np.testing.assert_allclose(one.joints[0, H36M17.index("LKnee")], [0.10, 0.40, 0], atol=1e-6)
    np.testing.assert_allclose(one.joints[0, H36M17.index("Head")], [0, 1.60, 0], atol=1e-6)  # End Site of Head
    both = load_motion(tmp_path / "clips", fps=10)
    assert [c["name"] for c in both.clips] == ["a_walk", "b_run"] and len(both) == 2
    assert load_motion(tmp_path / "clips" / "a_walk.bvh", units="m").joints[0, 0, 1] == pytest.approx(85.0)
    assert load_motion(tmp_path / "clips" / "a_walk.bvh", units="0.01").joints[0, 0, 1] == pytest.approx(0.85)


def test_load_motion_npz_dispatch(tmp_path):
    from energy3d.skeleton.layouts import BANDAI21 as B

    n = 4
    np.savez(tmp_path / "bandai.npz", joints_mm=np.full((n, 21, 3), 1000, np.int16), joint_names=np.array(B.joints),
             clip_start=np.array([0, n]), clip_name=np.array(["dataset-2_walk_normal_001"]),
             dataset=np.array(["dataset-2"]), content=np.array(["walk"]), style=np.array(["normal"]),
             take=np.array([1]), fps=np.array(30))
    m = load_motion(tmp_path / "bandai.npz", layout="bandai21")
    assert m.layout == BANDAI21 and np.all(m.joints == 1.0) and m.clips[0]["action"] == "walk"
    a = np.random.default_rng(0).normal(size=(4, 32, 3))
    np.savez(tmp_path / "h36m.npz", positions_3d={"S1": {"Walking 1": a}})
    h = load_motion(tmp_path / "h36m.npz", fps=25)
    assert h.layout == H36M17 and len(h) == 2 and h.clips[0]["subject"] == "S1"
    np.testing.assert_allclose(h.joints[1, 0], [a[2, 0, 0], a[2, 0, 2], -a[2, 0, 1]], atol=1e-6)


def test_load_motion_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_motion(tmp_path / "missing.bvh")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(InputError, match="unknown motion source type '.txt'"):
        load_motion(tmp_path / "x.txt")
    (tmp_path / "broken.npz").write_bytes(b"\x00\x01garbage")
    with pytest.raises(InputError, match="broken.npz: not a readable .npz"):
        load_motion(tmp_path / "broken.npz")
    np.savez(tmp_path / "other.npz", poses=np.zeros(3))
    with pytest.raises(InputError, match=r"other.npz: unknown npz motion file: keys \['poses'\]"):
        load_motion(tmp_path / "other.npz")
    np.savez(tmp_path / "d2.npz", positions_2d={"S1": {}})
    with pytest.raises(InputError, match="load_h36m_2d"):
        load_motion(tmp_path / "d2.npz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"no \.bvh, \.amc or \.h5"):
        load_motion(tmp_path / "empty")


def test_real_bvh_and_npz_agree(data_dir):
    bvh = load_motion(data_dir / "motion_bandai" / "bvh", fps=10)
    assert bvh.num_clips == 9 and bvh.layout == H36M17 and bvh.fps == 10.0
    ref = load_motion(data_dir / "motion_bandai" / "bandai_joints21_30fps_mm.npz", fps=10, layout="bandai21")
    ref = ref.select_clips([c["name"] for c in bvh.clips]).to_layout("h36m17")
    assert [c["name"] for c in ref.clips] == sorted(c["name"] for c in bvh.clips)
    # same clip order (both sorted by name), same frames; npz rounding to whole mm allows < 1 mm
    np.testing.assert_array_equal(ref.clip_index, bvh.clip_index)
    err = np.linalg.norm(ref.joints - bvh.joints, axis=-1)
    head = H36M17.index("Head")
    assert np.delete(err, head, axis=1).max() < 1e-3
    # the derived head top extends the ~6.5 cm Neck->Head bone to 18 cm: rounding errors grow ~4x
    assert err[:, head].max() < 5e-3
    assert [c["action"] for c in ref.clips] == [c["action"] for c in bvh.clips]


def test_notes_and_skipped_survive_operations():
    m = make()
    m.notes, m.skipped = ["units assumed"], [("x.bvh", "bad")]
    for s in (m.subsample(10), m.select_clips([1]), m.to_layout("mpii16"), concat_motions([m, m])):
        assert s.notes == ["units assumed"]
    assert concat_motions([m, m]).skipped == [("x.bvh", "bad")] * 2


# ---------------------------------------------------------------------------- named sources


def _fake_data_folder(root):
    from mocap_helpers import RIGS, bvh_text

    k = 0.01 / (0.0254 / 0.45)  # cm -> CMU units
    files = {"motion_hdm05/bvh/HDM_bd_kickLFront1Reps_001_120.bvh": RIGS["asf"],
             "motion_hdm05/bvh/HDM_tr_squat1Reps_003_120.bvh": RIGS["asf"],
             "motion_cmu/daz_10-14/13_07.bvh": RIGS["daz"],
             "motion_cmu/max_131/131_02.bvh": [(n, p, tuple(k * v for v in o)) for n, p, o in RIGS["3dsmax"]]}
    for rel, joints in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(bvh_text(joints))


def test_named_sources_keep_the_person(tmp_path, monkeypatch):
    _fake_data_folder(tmp_path / "data")
    monkeypatch.setenv("ENERGY3D_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    h = load_motion("hdm05")
    assert [(c["subject"], c["action"], c["take"], c["rig"]) for c in h.clips] == [
        ("bd", "kickLFront1Reps", 1, "asf"), ("tr", "squat1Reps", 3, "asf")]
    c = load_motion("cmu")
    assert [(c_["name"], c_["subject"], c_["take"], c_["rig"]) for c_ in c.clips] == [
        ("13_07", "13", 7, "daz"), ("131_02", "131", 2, "3dsmax")]
    # CMU units recognised: both rigs come out the same size (leg 0.82 m as built)
    legs = np.linalg.norm(c.joints[:, H36M17.index("LHip")] - c.joints[:, H36M17.index("LKnee")], axis=-1)
    np.testing.assert_allclose(legs, 0.4005, atol=1e-3)
    # a folder of that name in the current directory wins over the named source
    (tmp_path / "cmu").mkdir()
    with pytest.raises(InputError, match="folder holds no"):
        load_motion("cmu")
    monkeypatch.setenv("ENERGY3D_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(InputError, match="data folder not found"):
        load_motion("hdm05")
    (tmp_path / "nowhere").mkdir()
    with pytest.raises(InputError, match="named motion source 'hdm05'.*not found"):
        load_motion("hdm05")


def test_real_named_sources(data_dir):
    h = load_motion("hdm05", fps=10)
    assert h.num_clips == 287 and {c["subject"] for c in h.clips} == {"bd", "bk", "dg", "mm", "tr"}
    assert h.skipped == [] and {c["rig"] for c in h.clips} == {"asf"} and h.notes == []
    c = load_motion("cmu", fps=10)
    assert c.num_clips == 60 and {x["subject"] for x in c.clips} == {"10", "12", "13", "14", "131"}
    assert {x["rig"] for x in c.clips} == {"daz", "3dsmax"} and c.skipped == []
    assert len(c.notes) == 1 and "daz rig has no head-top joint" in c.notes[0]
