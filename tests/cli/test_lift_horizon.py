"""``energy3d lift ... --horizon X1 Y1 X2 Y2``: the world frame and camera pitch/roll from a horizon line.

Reference: a horizon made by projecting level points 1 km away through a camera of known pitch and
roll with lift's own intrinsics; lift must report that camera and rotate ``joints_world`` with it.
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from helpers import run_cli

REPO = Path(__file__).resolve().parents[2]
KEYPOINTS = REPO / "examples" / "keypoints_coco.json"

pytestmark = pytest.mark.usefixtures("one_thread")


def horizon_of(K, pitch_deg, roll_deg):
    """Two image points on the horizon of a camera pitched down by ``pitch_deg`` and rolled by ``roll_deg``."""
    p, r = math.radians(pitch_deg), math.radians(roll_deg)
    # world (x right, y up, z forward) -> camera (x right, y down, z forward): pitch about x, then roll about z
    Rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    Rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    flip = np.diag([1.0, -1.0, 1.0])
    R = Rz @ Rx @ flip
    pts = []
    for a in (-0.2, 0.3):
        cam = R @ (1000.0 * np.array([math.sin(a), 0.0, math.cos(a)]))
        pts.append((K @ cam)[:2] / (K @ cam)[2])
    return np.concatenate(pts), R @ np.array([0.0, 1.0, 0.0])


def test_horizon_sets_the_camera_and_the_world_frame(tmp_path, capsys):
    rc, _, err = run_cli(["lift", KEYPOINTS, "--out", tmp_path / "a"], capsys)
    assert rc == 0, err
    doc = json.loads((tmp_path / "a" / "poses.json").read_text())
    K = np.array(doc["people"][0]["K"])
    line, up = horizon_of(K, 18.0, 5.0)
    rc, _, err = run_cli(["lift", KEYPOINTS, "--out", tmp_path / "b", "--horizon", *[f"{v:.6f}" for v in line]], capsys)
    assert rc == 0, err
    cam = json.loads((tmp_path / "b" / "poses.json").read_text())["people"][0]["camera"]
    assert cam["from"] == "horizon" and doc["people"][0]["camera"]["from"] == "poses"
    assert cam["pitch_deg"] == pytest.approx(18.0, abs=0.05) and cam["roll_deg"] == pytest.approx(5.0, abs=0.05)
    z = np.load(tmp_path / "b" / "poses.npz")
    p = z["joints_3d"][0].astype(np.float64)
    height = (p - p[0]) @ up  # the joints' height above the pelvis along the horizon's up
    assert np.abs(z["joints_world"][0][:, 1] - height).max() < 1e-4
    # the same lifted joints; only the world frame changed
    assert np.array_equal(z["joints_3d"], np.load(tmp_path / "a" / "poses.npz")["joints_3d"])


@pytest.mark.parametrize("line, msg", [(["100", "50", "100.2", "50"], "less than a pixel apart"),
                                       (["0", "nan", "10", "20"], "finite")])
def test_a_bad_horizon_is_one_error_before_any_work(tmp_path, capsys, line, msg):
    rc, out, err = run_cli(["lift", KEYPOINTS, "--out", tmp_path / "o", "--horizon", *line], capsys)
    assert rc == 2 and msg in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()
