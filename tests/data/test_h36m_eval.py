"""Human3.6M evaluation with published 2D files: pairing, normalisation, metrics, bad input, CLI.

The fixtures are written in the published layouts (as in ``test_h36m.py``): a 3D npz with
``positions_3d[subject][key]`` ``(T, 32, 3)`` metres in a +Z-up world, and a 2D npz with
``positions_2d[subject][key]`` = per-camera ``(T, 17, 2)`` pixels made by projecting the 3D through
known cameras (``X_cam = R (X - C)``, pinhole). Every reference below is computed here with numpy.
"""

import json

import numpy as np
import pytest
import torch

from energy3d.errors import InputError
from energy3d.data.h36m import load_h36m_eval, read_h36m_cameras
from energy3d.tasks.lift import evaluate_h36m
from helpers import random_poses, tiny_trained_lifter, run_cli

IDX = [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]  # the published 32 -> 17 list
EDGES = [(0, 1), (1, 2), (2, 3), (0, 4), (4, 5), (5, 6), (0, 7), (7, 8), (8, 9), (9, 10), (8, 11), (11, 12),
         (12, 13), (8, 14), (14, 15), (15, 16)]  # h36m17 bones (parent, child)
BONES_M = 3.54  # the adult size of the scale prior: with it, MPJPE of an exact pose is 0
# (subject, key, frames); "Walking 1" and "Walking" are one action, as are "Eating 2" and "Eating 1"
CLIPS = [("S9", "Walking 1", 40), ("S9", "Eating 2", 31), ("S11", "Walking", 36), ("S11", "Eating 1", 27)]
EXTRA_2D = {("S11", "Eating 1", 1): 2}  # this camera's 2D sequence has 2 frames more than the 3D


def world_poses(T, seed):
    """``(T, 17, 3)`` h36m17 poses, metres, +Z-up world, bones summing to 3.54 m, walking along x."""
    y_up = random_poses(T, seed).astype(np.float64)
    y_up -= y_up[:, :1] * np.array([1.0, 0.0, 1.0])  # pelvis above the origin
    bones = sum(np.linalg.norm(y_up[:, c] - y_up[:, p], axis=-1) for p, c in EDGES)
    y_up = y_up * (BONES_M / bones)[:, None, None]
    z_up = np.stack([y_up[..., 0], -y_up[..., 2], y_up[..., 1]], axis=-1)  # inverse of (x, y, z) -> (x, z, -y)
    return z_up + np.stack([0.02 * np.arange(T), 0.3 * np.ones(T), np.zeros(T)], -1)[:, None]


def look_at(centre, target=(0.0, 0.0, 1.0)):
    """World -> camera rotation (rows: x right, y down, z forward) of a camera at ``centre``, +Z up."""
    z = np.asarray(target) - centre
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z])


def make_cameras():
    cams = {}
    for s, subject in enumerate(["S9", "S11"]):
        cams[subject] = []
        for i, az in enumerate([30.0 + 20 * s, 150.0 - 10 * s]):
            a = np.deg2rad(az)
            C = np.array([4.5 * np.cos(a), 4.5 * np.sin(a), 1.4 + 0.2 * i])
            cams[subject].append({"f": [1145.0 + 3 * i + s, 1144.0 - i], "c": [512.0 + 3 * i, 515.0 - 2 * s],
                                  "R": look_at(C), "C": C})
    return cams


def project(X, cam):
    Xc = (X - cam["C"]) @ cam["R"].T
    return Xc[..., :2] / Xc[..., 2:] * np.array(cam["f"]) + np.array(cam["c"]), Xc


def cameras_json(cams, *, extrinsics=True):
    """The JSON of :mod:`energy3d.data.h36m`: S9 as a dict keyed by index, S11 as a list."""
    def entry(c):
        e = {"f": list(c["f"]), "c": list(c["c"])}
        if extrinsics:
            e.update(R=c["R"].tolist(), t=c["C"].tolist())
        return e

    return {"S9": {str(i): entry(c) for i, c in enumerate(cams["S9"])}, "S11": [entry(c) for c in cams["S11"]]}


def write_files(tmp_path, *, extra_2d=None, mutate_2d=None, name="h36m"):
    """Write the 3D and 2D npz files; returns their paths and the reference data."""
    cams = make_cameras()
    pos3d, pos2d, ref = {}, {}, {}
    for n, (subject, key, T) in enumerate(CLIPS):
        Tmax = T + max([v for (s, k, _), v in (extra_2d or EXTRA_2D).items() if (s, k) == (subject, key)] + [0])
        X = world_poses(Tmax, seed=n)
        a32 = np.repeat(X[:, :1], 32, axis=1)  # joints outside the 17 are ignored by the readers
        a32[:, IDX] = X
        pos3d.setdefault(subject, {})[key] = a32[:T].astype(np.float32)
        seqs = []
        for i, cam in enumerate(cams[subject]):
            extra = (extra_2d or EXTRA_2D).get((subject, key, i), 0)
            p, Xc = project(X[:T + extra], cam)
            seqs.append(p.astype(np.float32))
            ref[(subject, key, i)] = {"p": p, "Xc": Xc[:T], "X": X[:T], "cam": cam}
        pos2d.setdefault(subject, {})[key] = seqs
    if mutate_2d:
        mutate_2d(pos2d)
    p3, p2 = tmp_path / f"{name}_3d.npz", tmp_path / f"{name}_2d.npz"
    np.savez_compressed(p3, positions_3d=pos3d)  # pickled dicts, as published
    np.savez_compressed(p2, positions_2d=pos2d, metadata={"layout_name": "h36m", "num_joints": 17})
    return p3, p2, cams, ref


@pytest.fixture
def files(tmp_path):
    return write_files(tmp_path)


def reference(ref, step, *, default_K=False):
    """Rows in file order (subject, action, camera), every ``step``-th frame of the common length."""
    out = {"x": [], "Xc": [], "X": [], "p": [], "action": [], "clip": []}
    for (subject, key, i), r in ref.items():
        T = len(r["Xc"])
        keep = np.arange(0, T, step)
        f, c = (np.array([1200.0, 1200.0]), np.array([500.0, 500.0])) if default_K else (
            np.array(r["cam"]["f"]), np.array(r["cam"]["c"]))
        p = r["p"][:T][keep]
        out["p"].append(p)
        out["x"].append((p - c) / f)
        out["Xc"].append(r["Xc"][keep])
        out["X"].append(r["X"][keep])
        out["action"] += [key.split(" ")[0]] * len(keep)
        out["clip"] += [f"{subject}/{key}/cam{i}"] * len(keep)
    return {k: np.concatenate(v) if k not in ("action", "clip") else v for k, v in out.items()}


class Oracle(torch.nn.Module):
    """Returns the stored pose of the nearest stored input: the ground truth if the inputs are right."""

    def __init__(self, x, y):
        super().__init__()
        self.register_buffer("keys", torch.as_tensor(x, dtype=torch.float32).reshape(len(x), -1))
        self.register_buffer("values", torch.as_tensor(y, dtype=torch.float32))
        self.worst = 0.0

    def forward(self, x):
        d = torch.cdist(x.reshape(len(x), -1).float(), self.keys, compute_mode="donot_use_mm_for_euclid_dist")
        best, idx = d.min(1)
        self.worst = max(self.worst, best.max().item())
        return self.values[idx]


# ----------------------------------------------------------------------------- pairing and normalisation


def test_pairing_reproduces_normalised_inputs_and_camera_frame(files):
    p3, p2, cams, ref = files
    ev = load_h36m_eval(p3, p2, cameras=cameras_json(cams), fps=25)
    want = reference(ref, step=2)
    assert ev.frame == "camera" and ev.fps == 25.0 and ev.subjects == ["S9", "S11"]
    assert len(ev) == sum(-(-T // 2) for _, _, T in CLIPS) * 2 == len(want["x"])
    assert list(ev.clip) == want["clip"] and list(ev.action) == want["action"]
    assert set(ev.action) == {"Walking", "Eating"}  # take numbers stripped
    np.testing.assert_allclose(ev.points_2d, want["p"], atol=1e-3)
    np.testing.assert_allclose(ev.normalized().numpy(), want["x"], atol=1e-6)
    np.testing.assert_allclose(ev.joints, want["Xc"], atol=1e-5)  # X_cam = R (X_world - t)
    assert ev.truncated == [{"clip": "S11/Eating 1/cam1", "frames_2d": 29, "frames_3d": 27, "kept": 27}]
    assert ev.reprojection_px < 1e-2  # the 2D file is the exact projection of the 3D through these cameras
    # the frame counts of the 50 fps files are kept at fps=50
    assert len(load_h36m_eval(p3, p2, cameras=cameras_json(cams), fps=50)) == sum(T for _, _, T in CLIPS) * 2


def test_pairing_without_cameras_uses_lift_default_intrinsics_and_world_frame(files):
    p3, p2, _, ref = files
    ev = load_h36m_eval(p3, p2, fps=10)
    want = reference(ref, step=5, default_K=True)
    assert ev.frame == "world" and ev.reprojection_px is None
    assert "focal 1200 px" in ev.intrinsics and "(500, 500)" in ev.intrinsics
    np.testing.assert_allclose(ev.normalized().numpy(), want["x"], atol=1e-6)
    np.testing.assert_allclose(ev.joints, want["X"], atol=1e-5)  # the file's +Z-up world, as stored


def test_intrinsics_only_cameras_and_subject_selection(files):
    p3, p2, cams, ref = files
    ev = load_h36m_eval(p3, p2, cameras=cameras_json(cams, extrinsics=False), fps=25, subjects=["S11"])
    want = reference({k: v for k, v in ref.items() if k[0] == "S11"}, step=2)
    assert ev.frame == "world" and ev.subjects == ["S11"] and ev.intrinsics.startswith("from ")
    np.testing.assert_allclose(ev.normalized().numpy(), want["x"], atol=1e-6)


def test_cameras_json_forms(tmp_path):
    d = {"S9": {"54138969": {"focal": 1000, "image_size": [1000, 1002]}}}
    (tmp_path / "c.json").write_text(json.dumps(d))
    cam = read_h36m_cameras(tmp_path / "c.json")["S9"]["54138969"]
    np.testing.assert_allclose(cam.K, [[1000, 0, 500], [0, 1000, 501], [0, 0, 1]])
    assert cam.R is None and cam.image_size == (1000.0, 1002.0)


# ----------------------------------------------------------------------------- metrics with an oracle


def test_oracle_has_zero_error_with_cameras(files):
    p3, p2, cams, ref = files
    ev = load_h36m_eval(p3, p2, cameras=cameras_json(cams), fps=25)
    want = reference(ref, step=2)
    oracle = Oracle(want["x"], want["Xc"])
    res = evaluate_h36m(oracle, ev)
    assert oracle.worst < 1e-5  # every input was found: the pairing gives the reference inputs
    assert res["two_d"] == "file" and res["frame"] == "camera" and "not_reported" not in res
    assert set(res["per_group"]) == {"Walking", "Eating"} and res["poses"] == len(ev)
    assert res["per_group"]["Walking"]["count"] == 2 * (20 + 18)
    for m in ("mpjpe_mm", "p1a_mm", "pa_mpjpe_mm"):
        assert res["average"][m] < 0.05, (m, res["average"])
    # twice the size: MPJPE uses the adult-size prior (bones rescaled to 3.54 m), P1a and PA are scale-free
    res2 = evaluate_h36m(Oracle(want["x"], 2 * want["Xc"]), ev)
    assert max(res2["average"][m] for m in ("mpjpe_mm", "p1a_mm", "pa_mpjpe_mm")) < 0.05
    # a right wrist 0.17 m off in every pose: exactly 10 mm MPJPE without the scale prior
    off = want["Xc"].copy()
    off[:, 16, 0] += 0.17
    res3 = evaluate_h36m(Oracle(want["x"], off), ev, scale_prior=False)
    assert res3["average"]["mpjpe_mm"] == pytest.approx(10.0, abs=0.01)
    assert res3["average"]["pa_mpjpe_mm"] > 1.0


def test_oracle_without_cameras_reports_only_pa_mpjpe(files):
    p3, p2, _, ref = files
    ev = load_h36m_eval(p3, p2, fps=25)
    want = reference(ref, step=2, default_K=True)
    res = evaluate_h36m(Oracle(want["x"], want["Xc"]), ev)  # camera-frame output vs world ground truth
    assert res["frame"] == "world" and res["not_reported"] == ["mpjpe_mm", "p1a_mm"] and "P1a" in res["warning"]
    assert res["average"]["pa_mpjpe_mm"] < 0.05 and res["per_group"]["Eating"]["pa_mpjpe_mm"] < 0.05
    assert res["average"]["mpjpe_mm"] is None and res["per_group"]["Walking"]["p1a_mm"] is None
    # a wrong pose is not hidden by the alignment
    bad = want["Xc"].copy()
    bad[:, 13] = bad[:, 10]  # left wrist on the head
    assert evaluate_h36m(Oracle(want["x"], bad), ev)["average"]["pa_mpjpe_mm"] > 5.0


# ----------------------------------------------------------------------------- bad input


def _drop(pos2d):
    pos2d["S9"]["Sitting 1"] = pos2d["S9"]["Eating 2"]


def _nan(pos2d):
    pos2d["S11"]["Walking"][1][7, 4, 0] = np.nan


def _joints(pos2d):
    pos2d["S9"]["Eating 2"][0] = pos2d["S9"]["Eating 2"][0][:, :15]


def _subject(pos2d):
    pos2d["S5"] = {"Walking": pos2d["S9"]["Walking 1"]}


@pytest.mark.parametrize("case, match", [
    ("no_positions_2d", r"no key 'positions_2d'"),
    ("action_not_in_3d", r"\['S9'\]\['Sitting 1'\] has no 3D ground truth"),
    ("subject_not_in_3d", r"no subject S5"),
    ("frames_far_apart", r"has 47 frames, the 3D ground truth .* has 27: more than 5 apart"),
    ("joint_count", r"17 joints\), got \(31, 15, 2\)"),
    ("nan", r"\['S11'\]\['Walking'\]\[1\]: NaN or infinite keypoints in 1 of 36 frames \(first: frame 7\)"),
    ("camera_subject", r"no cameras for subject S11"),
    ("camera_index", r"subject S9 has no camera 1"),
    ("focal", r"S9 camera 0: focal length must be positive"),
    ("rotation", r"S11 camera 1: R must be a 3x3 rotation"),
    ("t_convention", r"lands \d+ px \(median\) from the 2D file's keypoints.*X_cam = R \(X_world - t\)"),
    ("behind", r"S9/Walking 1/cam0: the ground-truth pelvis is behind the camera"),
    ("fps", r"cannot subsample 50 fps to 7 fps"),
])
def test_bad_input(case, match, tmp_path):
    mutate = {"action_not_in_3d": _drop, "nan": _nan, "joint_count": _joints, "subject_not_in_3d": _subject}.get(case)
    extra = {("S11", "Eating 1", 1): 20} if case == "frames_far_apart" else None
    p3, p2, cams, _ = write_files(tmp_path, mutate_2d=mutate, extra_2d=extra)
    cj = cameras_json(cams)
    kw = {"cameras": cj, "fps": 25}
    if case == "no_positions_2d":
        np.savez(p2, keypoints=np.zeros((3, 17, 2)))
    elif case == "camera_subject":
        del cj["S11"]
    elif case == "camera_index":
        del cj["S9"]["1"]
    elif case == "focal":
        cj["S9"]["0"]["f"] = [0.0, 1100.0]
    elif case == "rotation":
        cj["S11"][1]["R"] = (2 * np.eye(3)).tolist()
    elif case == "t_convention":  # t given as in X_cam = R X + t instead of the centre
        for subject, lst in cams.items():
            for i, c in enumerate(lst):
                entry = cj[subject][str(i)] if subject == "S9" else cj[subject][i]
                entry["t"] = (-c["R"] @ c["C"]).tolist()
    elif case == "behind":  # the camera turned around
        cj["S9"]["0"]["R"] = (np.diag([-1.0, 1.0, -1.0]) @ cams["S9"][0]["R"]).tolist()
    elif case == "fps":
        kw["fps"] = 7
    with pytest.raises(InputError, match=match):
        load_h36m_eval(p3, p2, **kw)


# ----------------------------------------------------------------------------- command line


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    return tiny_trained_lifter(tmp_path_factory.mktemp("ckpt"), "baseline")


def test_cli_end_to_end(tiny_ckpt, tmp_path, capsys):
    def add_s1(pos2d):  # a training subject without 3D here: the command keeps to the test subjects S9, S11
        pos2d["S1"] = {"Walking": pos2d["S9"]["Walking 1"]}

    p3, p2, cams, _ = write_files(tmp_path, mutate_2d=add_s1)
    (tmp_path / "cams.json").write_text(json.dumps(cameras_json(cams)))
    rc, out, err = run_cli(["evaluate", tiny_ckpt, "--motion", p3, "--two-d-file", p2, "--cameras", tmp_path / "cams.json",
                         "--fps", 25, "--json", tmp_path / "r" / "res.json"], capsys)
    assert rc == 0, err
    res = json.loads((tmp_path / "r" / "res.json").read_text())
    assert set(res["per_group"]) == {"Walking", "Eating"} and res["two_d"] == "file" and res["frame"] == "camera"
    assert res["subjects"] == ["S9", "S11"] and res["poses"] == sum(-(-T // 2) for _, _, T in CLIPS) * 2
    assert "h36m_2d.npz" in res["source"] and res["two_d_file"] == str(p2) and res["fps"] == 25.0
    assert len(res["truncated"]) == 1 and "truncated" in err
    a = res["average"]
    assert 0 < a["pa_mpjpe_mm"] <= a["p1a_mm"] + 1e-6 and a["mpjpe_mm"] > 0  # Procrustes only lowers the error
    assert "Walking" in out and "file 2D" in out

    rc, out, err = run_cli(["evaluate", tiny_ckpt, "--motion", p3, "--two-d-file", p2, "--json", tmp_path / "w.json"], capsys)
    assert rc == 0, err
    res = json.loads((tmp_path / "w.json").read_text())
    assert res["average"]["mpjpe_mm"] is None and res["average"]["p1a_mm"] is None
    assert res["average"]["pa_mpjpe_mm"] > 0 and res["not_reported"] == ["mpjpe_mm", "p1a_mm"]
    assert "warning" in err and "not reported" in err and "focal 1200 px" in err
    assert "n/a" in out  # the table shows the metrics it cannot report as n/a


@pytest.mark.parametrize("case", ["bandai", "cameras_missing", "nan"])
def test_cli_bad_input(case, tiny_ckpt, tmp_path, capsys):
    p3, p2, cams, _ = write_files(tmp_path, mutate_2d=_nan if case == "nan" else None)
    args = ["evaluate", tiny_ckpt, "--motion", p3, "--two-d-file", p2]
    if case == "bandai":
        args[3] = "bandai"
    elif case == "cameras_missing":
        args += ["--cameras", tmp_path / "none.json"]
    rc, out, err = run_cli(args + ["--json", tmp_path / "r.json"], capsys)
    assert rc == 2 and err.startswith("energy3d evaluate: error:") and err.count("\n") == 1, err
    assert {"bandai": "--two-d-file needs --motion", "cameras_missing": "none.json: no such file",
            "nan": "NaN"}[case] in err
    assert not (tmp_path / "r.json").exists()
