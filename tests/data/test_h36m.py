"""Human3.6M readers on small fixture files written in the published layouts."""

import sys

import numpy as np
import pytest

from energy3d.data.h36m import (
    H36M_32_TO_17, ZUP_TO_YUP, load_h36m_2d, load_h36m_3d, load_h36m_h5, parse_action, zup_to_yup,
)
from energy3d.errors import InputError
from energy3d.skeleton.layouts import COCO17, H36M17

IDX = [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]  # the published 32 -> 17 list


def seq(T, J=32, seed=0, D=3):
    return np.random.default_rng(seed).normal(size=(T, J, D)).astype(np.float32)


def expected_yup(a32):
    """Independent reference: pick the 17 joints, then (x, y, z) -> (x, z, -y)."""
    a = a32[:, IDX]
    return np.stack([a[..., 0], a[..., 2], -a[..., 1]], axis=-1)


@pytest.fixture
def npz3d(tmp_path):
    data = {"S1": {"Walking 1": seq(6, seed=1), "Directions.54138969": seq(4, seed=2)},
            "S9": {"Sitting": seq(3, seed=3)}}
    p = tmp_path / "data_3d_h36m.npz"
    np.savez_compressed(p, positions_3d=data)  # a pickled dict, as published
    return p, data


def test_constants():
    assert list(H36M_32_TO_17) == IDX
    assert np.isclose(np.linalg.det(ZUP_TO_YUP), 1.0)
    np.testing.assert_allclose(ZUP_TO_YUP @ [0, 0, 1], [0, 1, 0])
    pts = np.random.default_rng(0).normal(size=(5, 3))
    np.testing.assert_allclose(zup_to_yup(pts), pts @ ZUP_TO_YUP.T)


@pytest.mark.parametrize("key, want", [
    ("Walking 1", ("Walking", 1, "")),
    ("Walking", ("Walking", 0, "")),
    ("Directions.54138969", ("Directions", 0, "54138969")),
    ("Sitting 1.55011271", ("Sitting", 1, "55011271")),
    ("WalkDog 2", ("WalkDog", 2, "")),
])
def test_parse_action(key, want):
    assert parse_action(key) == want


def test_load_3d(npz3d):
    p, data = npz3d
    m = load_h36m_3d(p)
    assert m.layout == H36M17 and m.fps == 50.0 and m.num_clips == 3 and len(m) == 13
    np.testing.assert_allclose(m.clip(0), expected_yup(data["S1"]["Walking 1"]), atol=1e-6)
    np.testing.assert_allclose(m.clip("S1/Directions.54138969"), expected_yup(data["S1"]["Directions.54138969"]),
                               atol=1e-6)
    assert m.clips[0] == {"name": "S1/Walking 1", "action": "Walking", "style": "", "subject": "S1", "take": 1}
    assert m.clips[1]["action"] == "Directions" and m.clips[1]["camera_id"] == "54138969"
    assert m.actions().tolist() == ["Walking"] * 6 + ["Directions"] * 4 + ["Sitting"] * 3
    s9 = load_h36m_3d(p, subjects=["S9"], fps=25)
    assert [c["subject"] for c in s9.clips] == ["S9"] and s9.fps == 25.0
    np.testing.assert_allclose(s9.joints, expected_yup(data["S9"]["Sitting"])[::2], atol=1e-6)
    with pytest.raises(InputError, match="no subject S7; available: S1, S9"):
        load_h36m_3d(p, subjects="S7")


def test_3d_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_h36m_3d(tmp_path / "none.npz")
    np.savez(tmp_path / "a.npz", positions_3d={"S1": {"Walking": np.zeros((5, 20, 3))}})
    with pytest.raises(InputError, match=r"positions_3d\['S1'\]\['Walking'\].*\(5, 20, 3\)"):
        load_h36m_3d(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", positions_3d={"S1": [1, 2]})
    with pytest.raises(InputError, match="must be a dict"):
        load_h36m_3d(tmp_path / "b.npz")
    np.savez(tmp_path / "c.npz", other=np.zeros(3))
    with pytest.raises(InputError, match="no key 'positions_3d'"):
        load_h36m_3d(tmp_path / "c.npz")
    (tmp_path / "d.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(InputError, match="d.npz: corrupt"):
        load_h36m_3d(tmp_path / "d.npz")
    np.savez(tmp_path / "e.npz", positions_3d=np.zeros((2, 32, 3)))
    with pytest.raises(InputError, match="must be a dict"):
        load_h36m_3d(tmp_path / "e.npz")


def test_load_2d(tmp_path):
    cams = [seq(5, 17, seed=c, D=2) * 500 for c in range(4)]
    data = {"S1": {"Walking 1": cams}, "S5": {"Eating": [seq(3, 17, seed=9, D=2)]}}
    meta = {"layout_name": "coco", "num_joints": 17, "keypoints_symmetry": [[1, 3], [2, 4]]}
    np.savez_compressed(tmp_path / "d2.npz", positions_2d=data, metadata=meta)
    k = load_h36m_2d(tmp_path / "d2.npz")
    assert k.layout == COCO17 and k.keypoints.shape == (23, 17, 2) and len(k) == 23
    assert k.metadata["layout_name"] == "coco"
    assert [c["camera"] for c in k.clips] == [0, 1, 2, 3, 0]
    assert [c.get("camera_id") for c in k.clips] == ["54138969", "55011271", "58860488", "60457274", None]
    assert k.clips[2]["name"] == "S1/Walking 1/cam2" and k.clips[2]["action"] == "Walking"
    np.testing.assert_array_equal(k.keypoints[k.clip_index == 2], cams[2])
    assert k.clip_index.tolist() == [0] * 5 + [1] * 5 + [2] * 5 + [3] * 5 + [4] * 3
    assert load_h36m_2d(tmp_path / "d2.npz", subjects="S5").keypoints.shape == (3, 17, 2)

    # no metadata, 32 joints: reduced to h36m17 (pixels unchanged)
    a32 = seq(4, 32, seed=5, D=2)
    np.savez(tmp_path / "d32.npz", positions_2d={"S11": {"Posing 1": [a32]}})
    k = load_h36m_2d(tmp_path / "d32.npz")
    assert k.layout == H36M17
    np.testing.assert_array_equal(k.keypoints, a32[:, IDX])
    np.savez(tmp_path / "bad.npz", positions_2d={"S1": {"Walking": [np.zeros((4, 15, 2))]}})
    with pytest.raises(InputError, match="expected shape .*17, 2.* got \\(4, 15, 2\\)"):
        load_h36m_2d(tmp_path / "bad.npz")


def test_load_h5_folder(tmp_path):
    h5py = pytest.importorskip("h5py")
    root = tmp_path / "h36m"
    d1 = root / "S9" / "MyPoses" / "3D_positions"
    d1.mkdir(parents=True)
    a = seq(5, seed=7) * 1000  # millimetres
    with h5py.File(d1 / "Walking 1.h5", "w") as f:
        f["3d_poses"] = a.reshape(5, 96)
    b = seq(4, seed=8) * 1000
    with h5py.File(d1 / "Eating.h5", "w") as f:  # the original release's (96, T) dataset
        f["3D_positions"] = b.reshape(4, 96).T
    with h5py.File(root / "cameras.h5", "w") as f:  # not a pose file: skipped
        f["subject1/camera1/R"] = np.eye(3)
    m = load_h36m_h5(root)
    assert m.num_clips == 2 and m.layout == H36M17 and m.fps == 50.0
    assert [c["name"] for c in m.clips] == ["S9/Eating", "S9/Walking 1"]  # sorted by path
    assert m.clips[1]["subject"] == "S9" and m.clips[1]["action"] == "Walking" and m.clips[1]["take"] == 1
    np.testing.assert_allclose(m.clip("S9/Walking 1"), expected_yup(a) / 1000, atol=1e-6)
    np.testing.assert_allclose(m.clip("S9/Eating"), expected_yup(b) / 1000, atol=1e-6)
    one = load_h36m_h5(d1 / "Walking 1.h5", fps=25)
    assert len(one) == 3 and one.clips[0]["subject"] == "S9"
    with pytest.raises(InputError, match="no Human3.6M pose h5"):
        load_h36m_h5(root, subjects=["S1"])
    with h5py.File(tmp_path / "wrong.h5", "w") as f:
        f["3d_poses"] = np.zeros((5, 90))
    with pytest.raises(InputError, match=r"wrong.h5: dataset 3d_poses: expected shape \(T, 96\)"):
        load_h36m_h5(tmp_path / "wrong.h5")


def test_h5_without_h5py(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)  # makes `import h5py` raise ImportError
    with pytest.raises(InputError, match=r"install energy3d\[h5\]"):
        load_h36m_h5(tmp_path / "x.h5")
