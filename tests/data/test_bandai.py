"""Bandai npz reader: fixed style splits, metadata, subsampling, layouts, errors."""

import numpy as np
import pytest

from energy3d.data.bandai import SPLIT_STYLES, bandai_split, load_bandai
from energy3d.data.motion import Motion
from energy3d.errors import InputError
from energy3d.skeleton.layouts import BANDAI21, H36M17, HEAD_TOP_LENGTH_M

TEST_STYLES = {"elderly", "masculine", "giant", "tired"}


def write_tiny(path, **override):
    """A 3-clip npz in the published layout (values encode clip, frame, joint, axis)."""
    counts = [4, 5, 3]
    n = sum(counts)
    j = np.arange(n * 21 * 3, dtype=np.int64).reshape(n, 21, 3) % 30000
    d = dict(
        joints_mm=j.astype(np.int16),
        joint_names=np.array(BANDAI21.joints),
        clip_start=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        clip_name=np.array(["dataset-2_walk_elderly_001", "dataset-1_run_normal_002", "dataset-2_bow_youthful_001"]),
        dataset=np.array(["dataset-2", "dataset-1", "dataset-2"]),
        content=np.array(["walk", "run", "bow"]),
        style=np.array(["elderly", "normal", "youthful"]),
        take=np.array([1, 2, 1]),
        fps=np.array(30),
    )
    d.update(override)
    np.savez(path, **d)
    return d


def test_tiny_file_round_trip(tmp_path):
    d = write_tiny(tmp_path / "b.npz")
    m = load_bandai(tmp_path / "b.npz", layout="bandai21")
    assert isinstance(m, Motion) and m.layout == BANDAI21 and m.fps == 30.0
    np.testing.assert_array_equal(m.joints, d["joints_mm"].astype(np.float32) / np.float32(1000))
    assert m.clip_index.tolist() == [0] * 4 + [1] * 5 + [2] * 3
    assert m.clips[1] == {"name": "dataset-1_run_normal_002", "action": "run", "style": "normal",
                          "subject": "dataset-1", "take": 2}
    assert m.actions().tolist() == ["walk"] * 4 + ["run"] * 5 + ["bow"] * 3
    # splits on the tiny file: elderly -> test, youthful -> val, normal -> train
    assert [c["name"] for c in load_bandai(tmp_path / "b.npz", split="test", layout=None).clips] == [d["clip_name"][0]]
    val = load_bandai(tmp_path / "b.npz", split="validation", layout=None)
    assert val.clips[0]["style"] == "youthful" and len(val) == 3 and val.clip_index.tolist() == [0, 0, 0]
    np.testing.assert_array_equal(val.joints, d["joints_mm"][9:].astype(np.float32) / np.float32(1000))


def test_tiny_h36m17_layout(tmp_path):
    d = write_tiny(tmp_path / "b.npz")
    m = load_bandai(tmp_path / "b.npz")
    assert m.layout == H36M17 and m.joints.shape == (12, 17, 3)
    src = d["joints_mm"].astype(np.float64) / 1000
    b = {n: src[:, i] for i, n in enumerate(BANDAI21.joints)}
    h = {n: m.joints[:, i] for i, n in enumerate(H36M17.joints)}
    for hn, bn in [("Hip", "Hips"), ("RHip", "UpperLeg_R"), ("LKnee", "LowerLeg_L"), ("Spine", "Chest"),
                   ("Thorax", "Neck"), ("Neck/Nose", "Head"), ("LShoulder", "UpperArm_L"), ("RWrist", "Hand_R")]:
        np.testing.assert_allclose(h[hn], b[bn], atol=1e-5, err_msg=hn)
    u = b["Head"] - b["Neck"]
    np.testing.assert_allclose(h["Head"], b["Head"] + HEAD_TOP_LENGTH_M * u / np.linalg.norm(u, axis=-1, keepdims=True),
                               atol=1e-5)  # float32 metres


@pytest.mark.parametrize("override, match", [
    ({"joint_names": np.array(list(BANDAI21.joints[:-1]) + ["Toe_R"])}, "joint_names"),
    ({"clip_start": np.array([0, 4, 9, 11])}, "clip_start"),
    ({"joints_mm": np.zeros((12, 20, 3), np.int16)}, r"expected shape \(N, 21, 3\)"),
    ({"style": np.array(["a", "b"])}, "style has 2 entries"),
])
def test_bad_contents(tmp_path, override, match):
    write_tiny(tmp_path / "b.npz", **override)
    with pytest.raises(InputError, match=match) as e:
        load_bandai(tmp_path / "b.npz")
    assert "b.npz" in str(e.value)


def test_bad_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_bandai(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"this is not a zip file")
    with pytest.raises(InputError, match="junk.npz: corrupt"):
        load_bandai(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", joints_mm=np.zeros((1, 21, 3), np.int16))
    with pytest.raises(InputError, match="missing key"):
        load_bandai(tmp_path / "other.npz")
    write_tiny(tmp_path / "b.npz")
    with pytest.raises(InputError, match="unknown Bandai split"):
        load_bandai(tmp_path / "b.npz", split="holdout")
    with pytest.raises(InputError, match="cannot subsample"):
        load_bandai(tmp_path / "b.npz", fps=7)


def test_bandai_split_on_metadata():
    meta = [{"style": s} for s in ["elderly", "youthful", "masculinity", "masculine", "tired", "normal"]]
    assert bandai_split(meta, "test").tolist() == [True, False, False, True, True, False]
    assert bandai_split(meta, "val").tolist() == [False, True, False, False, False, False]
    assert bandai_split([m["style"] for m in meta], "train").tolist() == [False, False, True, False, False, True]
    assert SPLIT_STYLES["test"] == TEST_STYLES


# ---------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def raw(data_dir):
    with np.load(data_dir / "motion_bandai" / "bandai_joints21_30fps_mm.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def full(data_dir):
    return load_bandai(layout="bandai21")  # default path under data_root()


def test_real_splits(raw, full):
    styles = raw["style"]
    masks = {s: bandai_split(full.clips, s) for s in ("train", "val", "test")}
    total = masks["train"].astype(int) + masks["val"] + masks["test"]
    assert np.all(total == 1)  # disjoint and covering every clip
    assert set(styles[masks["test"]]) == TEST_STYLES
    np.testing.assert_array_equal(masks["test"], np.isin(styles, list(TEST_STYLES)))
    assert set(styles[masks["val"]]) == {"youthful"}
    assert not set(styles[masks["train"]]) & (TEST_STYLES | {"youthful"})
    # the test styles come from the documented datasets
    assert set(raw["dataset"][np.isin(styles, ["elderly", "masculine"])]) == {"dataset-2"}
    assert set(raw["dataset"][np.isin(styles, ["giant", "tired"])]) == {"dataset-1"}
    # split motions hold exactly the frames of their clips
    counts = np.diff(raw["clip_start"])
    test = bandai_split(full, "test")
    assert len(test) == counts[masks["test"]].sum() and test.num_clips == masks["test"].sum()
    assert {c["style"] for c in test.clips} == TEST_STYLES


def test_real_full_load_and_subsample(raw, full):
    n = raw["joints_mm"].shape[0]
    assert full.joints.shape == (n, 21, 3) and full.joints.dtype == np.float32
    assert full.num_clips == len(raw["clip_name"]) and full.fps == 30.0
    np.testing.assert_array_equal(full.clip_starts, raw["clip_start"])
    # Y is up: the mean hip height is about a metre, far above the feet
    hips, foot = full.joints[::97, 0], full.joints[::97, BANDAI21.index("Foot_L")]
    assert 0.7 < np.median(hips[:, 1]) < 1.2 and np.median(hips[:, 1] - foot[:, 1]) > 0.6
    sub = full.subsample(10)
    s = raw["clip_start"]
    idx = np.concatenate([np.arange(s[c], s[c + 1], 3) for c in range(len(s) - 1)])
    assert sub.fps == 10.0 and len(sub) == len(idx)
    np.testing.assert_array_equal(sub.joints, raw["joints_mm"][idx].astype(np.float32) / np.float32(1000))
    np.testing.assert_array_equal(np.diff(sub.clip_starts), (np.diff(s) + 2) // 3)


def test_real_split_fps_layout(raw):
    m = load_bandai(split="val", fps=15)
    assert m.layout == H36M17 and m.fps == 15.0
    keep = raw["style"] == "youthful"
    assert [c["name"] for c in m.clips] == raw["clip_name"][keep].tolist()
    assert len(m) == ((np.diff(raw["clip_start"])[keep] + 1) // 2).sum()
