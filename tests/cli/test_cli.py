"""End-to-end tests of the command line: outputs, bad input (one line, exit 2, nothing half-written), DDP."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import tiny_trained_lifter, run_cli

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "tests" / "fixtures" / "keypoints_two_people.json"


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    return tiny_trained_lifter(tmp_path_factory.mktemp("ckpt"), "ige")


def test_lift_example_with_bundled_checkpoint(tmp_path, capsys):
    rc, out, err = run_cli(["lift", EXAMPLE, "--out", tmp_path / "o"], capsys)
    assert rc == 0, err
    doc = json.loads((tmp_path / "o" / "poses.json").read_text())
    assert doc["layout"]["name"] == "h36m17" and doc["units"] == "metres" and "z forward" in doc["frame"]
    assert [p["name"] for p in doc["people"]] == ["img1#0", "img1#1"]
    assert doc["people"][0]["imputed_joints"] == [] and "LWrist" in doc["people"][1]["imputed_joints"]
    for f in ("lift.png", "viewer.html", "poses.npz"):
        assert (tmp_path / "o" / f).stat().st_size > 1000
    # the 3D result reprojects onto the (converted) 2D input: the trained model is consistent
    npz = np.load(tmp_path / "o" / "poses.npz")
    y, K, p = npz["joints_3d"], npz["K"], npz["points_2d"]
    assert (y[..., 2] > 0.5).all()
    proj = y[..., :2] / y[..., 2:] * K[:, None, [0, 1], [0, 1]] + K[:, None, :2, 2]
    err_px = np.linalg.norm(proj - p, axis=-1).mean(axis=1)
    scale_px = np.linalg.norm(p.max(1) - p.min(1), axis=-1)
    assert (err_px < 0.1 * scale_px).all(), (err_px, scale_px)
    # metric-scale prior: the 16 bones sum to the training rig's 3.54 m; a person stands 2-12 m away
    from energy3d.skeleton import H36M17
    total = sum(np.linalg.norm(y[:, c] - y[:, p], axis=-1) for p, c in H36M17.edges)
    assert np.allclose(total, 3.54, rtol=1e-4)
    assert ((y[:, 0, 2] > 2) & (y[:, 0, 2] < 12)).all()
    thigh = np.linalg.norm(y[:, 2] - y[:, 1], axis=-1) / np.linalg.norm(y[:, 8] - y[:, 0], axis=-1)
    assert ((thigh > 0.5) & (thigh < 1.6)).all()


def test_lift_npz_and_image_size_flag(tiny_ckpt, tmp_path, capsys):
    pts = np.random.default_rng(0).uniform(100, 400, (3, 17, 2)).astype(np.float32)
    np.savez(tmp_path / "k.npz", keypoints=pts)
    rc, _, err = run_cli(["lift", tmp_path / "k.npz", "--layout", "h36m17", "--checkpoint", tiny_ckpt, "--out", tmp_path / "o"], capsys)
    assert rc == 2 and "--image-size" in err and err.count("\n") == 1
    assert not (tmp_path / "o" / "poses.json").exists()
    rc, _, err = run_cli(["lift", tmp_path / "k.npz", "--layout", "h36m17", "--image-size", 500, 500, "--focal", 600,
                       "--checkpoint", tiny_ckpt, "--out", tmp_path / "o"], capsys)
    assert rc == 0, err
    doc = json.loads((tmp_path / "o" / "poses.json").read_text())
    assert doc["focal_px"] == 600 and np.allclose(doc["people"][0]["K"][0], [600, 0, 250])


@pytest.mark.parametrize("case", ["missing", "layout", "focal", "nan", "empty", "checkpoint", "size"])
def test_lift_bad_input(case, tiny_ckpt, tmp_path, capsys):
    args = ["lift", EXAMPLE, "--checkpoint", tiny_ckpt, "--out", tmp_path / "o"]
    if case == "missing":
        args[1] = tmp_path / "nope.json"
    elif case == "layout":
        args += ["--layout", "openpose25"]
    elif case == "focal":
        args += ["--focal", "0"]
    elif case == "nan":
        pts = np.full((1, 17, 2), 200.0, np.float32)
        pts[0, 3] = np.nan
        np.savez(tmp_path / "n.npz", keypoints=pts, confidence=np.ones((1, 17), np.float32), layout="coco17", image_size=[640, 480])
        args[1] = tmp_path / "n.npz"
    elif case == "empty":
        (tmp_path / "e.json").write_text("")
        args[1] = tmp_path / "e.json"
    elif case == "checkpoint":
        args[3] = tmp_path / "nope.json"
    elif case == "size":
        args += ["--image-size", "0", "480"]
    rc, out, err = run_cli(args, capsys)
    assert rc == 2
    assert err.startswith("energy3d lift: error:") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_fit_unknown_key_and_bad_file(tmp_path, capsys):
    cfg = json.loads((REPO / "configs" / "lift" / "tiny-ige2.json").read_text())
    cfg["train"]["epochz"] = 3
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    rc, _, err = run_cli(["fit", tmp_path / "c.json"], capsys)
    assert rc == 2 and "'epochz'" in err and "valid keys" in err
    (tmp_path / "d.json").write_text("{oops")
    rc, _, err = run_cli(["fit", tmp_path / "d.json"], capsys)
    assert rc == 2 and "not valid JSON" in err


def test_evaluate_on_bvh_folder(tiny_ckpt, tmp_path, capsys, data_dir):
    bvh = tmp_path / "bvh"
    bvh.mkdir()
    for f in sorted((data_dir / "motion_bandai" / "bvh").glob("*.bvh"))[:2]:
        shutil.copy(f, bvh / f.name)
    rc, out, err = run_cli(["evaluate", tiny_ckpt, "--motion", bvh, "--json", tmp_path / "r.json"], capsys)
    assert rc == 0, err
    res = json.loads((tmp_path / "r.json").read_text())
    assert set(res["average"]) >= {"mpjpe_mm", "p1a_mm", "pa_mpjpe_mm"}
    assert len(res["per_group"]) == 2 and res["poses"] > 50
    a = res["average"]
    assert 0 < a["pa_mpjpe_mm"] <= a["p1a_mm"] + 1e-6  # Procrustes can only lower the scaled error
    # a BVH whose frame count disagrees with its data
    text = (bvh / sorted(os.listdir(bvh))[0]).read_text().replace("Frames:", "Frames: 9", 1)
    (bvh / "broken.bvh").write_text(text)
    rc, _, err = run_cli(["evaluate", tiny_ckpt, "--motion", bvh / "broken.bvh"], capsys)
    assert rc == 2 and "broken.bvh" in err and err.count("\n") == 1
    # in a folder the broken file is skipped with a warning; units as the CLI passes them (a numeric string)
    rc, _, err = run_cli(["evaluate", tiny_ckpt, "--motion", bvh, "--units", "0.01", "--json", tmp_path / "s.json"], capsys)
    assert rc == 0, err
    assert "skipped" in err and "broken.bvh" in err and "head-top" in err
    res = json.loads((tmp_path / "s.json").read_text())
    assert [p.endswith("broken.bvh") for p, _ in res["skipped"]] == [True] and res["motion_notes"]


def test_ddp_training_with_torchrun(tmp_path, data_dir):
    """`torchrun --nproc_per_node 2 -m energy3d fit` (gloo on CPU) trains and writes one checkpoint."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ENERGY3D_DATA": str(data_dir)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
           "-m", "energy3d", "fit", str(REPO / "configs" / "lift" / "tiny-ige2.json"), "--quiet",
           "--out", str(tmp_path / "ddp"), "--set", "train.epochs=1"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    hist = json.loads((tmp_path / "ddp" / "history.json").read_text())
    assert len(hist["history"]) == 1 and np.isfinite(hist["history"][0]["val_p1a_mm"])
    assert (tmp_path / "ddp" / "best.safetensors").exists()


def test_centring_rotation_is_an_exact_camera_rotation():
    from energy3d.geometry.camera import centring_rotation, rotate_normalized

    g = torch.Generator().manual_seed(0)
    X = torch.randn(5, 17, 3, generator=g, dtype=torch.float64) * 0.3
    X[..., 0] += torch.linspace(-2, 2, 5, dtype=torch.float64)[:, None]
    X[..., 2] += 4
    x = X[..., :2] / X[..., 2:]
    R = centring_rotation(x)
    assert torch.allclose(R @ R.transpose(1, 2), torch.eye(3, dtype=torch.float64).expand(5, 3, 3), atol=1e-12)
    assert torch.allclose(torch.linalg.det(R), torch.ones(5, dtype=torch.float64))
    xr = rotate_normalized(x, R)
    assert xr.mean(1).abs().max() < 0.05 * x.mean(1).abs().max()  # people now near the optical axis
    Xr = X @ R.transpose(1, 2)                                     # the same points in the rotated camera
    assert torch.allclose(Xr[..., :2] / Xr[..., 2:], xr, atol=1e-12)
