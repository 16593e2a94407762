"""The structured-pose application: training both stages, evaluation by topology, ``energy3d pose`` and its bad input."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from energy3d.cli.main import main
from energy3d.config import load_json
from energy3d.errors import InputError
from energy3d.skeleton import get_layout
from energy3d.tasks.fit import fit_experiment
from energy3d.tasks.structured import (
    ALL_TOPOLOGIES, evaluate_structured, load_pose_experiment, load_pose_model,
)

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "configs" / "pose" / "pose-tiny-dsn.json"
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny_dsn(tmp_path_factory, data_dir):
    run = tmp_path_factory.mktemp("pose") / "dsn"
    fit_experiment(TINY, out=run, progress=False)
    return run


def test_every_shipped_pose_config_loads():
    for p in sorted((REPO / "configs" / "pose").glob("*.json")):
        exp = load_pose_experiment(p)
        assert exp.data.crop == exp.model.crop, p


def test_dsn_stage_writes_a_complete_structured_model(tiny_dsn):
    model, meta = load_pose_model(tiny_dsn / "best.json")
    assert meta["model_type"] == "structured_pose"
    init_c = torch.nn.functional.softplus(torch.full((1,), -6.9))  # the untrained c (about 1e-3)
    c = model.c.detach()
    # validation calibrates c from the displacement residuals: no longer the initial value
    assert not torch.allclose(c, init_c.expand_as(c), rtol=0.05)
    assert bool((c > 0).all())
    hist = json.loads((tiny_dsn / "history.json").read_text())
    assert hist["curve"] and "dsn_voxel" in hist["curve"][0] or any(k.startswith("dsn_") for k in hist["curve"][0])


def test_ssvm_stage_fine_tunes_from_the_dsn_checkpoint(tiny_dsn, tmp_path):
    over = {"init_from": str(tiny_dsn / "best"), "name": "pose-tiny-ssvm",
            "structured": {"stage": "ssvm", "topologies": ["stick_figure", "unary"], "k": 3, "candidates": 6},
            "train": {"lr": 1e-4}}
    res = fit_experiment(TINY, overrides=over, out=tmp_path / "ssvm", progress=False)
    curve = json.loads((res.run / "history.json").read_text())["curve"]
    hinges = [c["ssvm_hinge"] for c in curve]
    assert hinges and all(h >= 0 for h in hinges)
    a, _ = load_pose_model(tiny_dsn / "best.json")
    b, _ = load_pose_model(res.run / "last.json")
    assert any(not torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))  # it trained


def test_ssvm_without_a_dsn_checkpoint_is_an_error():
    with pytest.raises(InputError, match="init_from"):
        load_pose_experiment(TINY, {"structured": {"stage": "ssvm"}})


def test_evaluation_scores_every_topology_on_the_same_images(tiny_dsn):
    res = evaluate_structured(tiny_dsn / "best.json", split="test", limit=12)
    assert list(res["topologies"]) == list(ALL_TOPOLOGIES)
    for t, r in res["topologies"].items():
        assert np.isfinite(r["pa_mpjpe_mm"]) and r["pa_mpjpe_mm"] > 0, t
        assert set(r["per_action"]) == set(res["actions"]), t
        assert 0.0 <= r["certified_fraction"] <= 1.0
        # the table number is the mean of the per-action means
        assert r["pa_mpjpe_mm"] == pytest.approx(np.mean(list(r["per_action"].values())))
    assert res["topologies"]["unary"]["certified_fraction"] == 1.0  # argmax per joint is exact


def test_pose_cli_on_keypoints_writes_a_posed_skeleton(tiny_dsn, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["pose", str(REPO / "examples" / "keypoints_coco.json"), "--out", str(out), "--checkpoint",
               str(tiny_dsn / "best.json"), "--topology", "stick_figure", "--candidates", "4"])
    assert rc == 0, capsys.readouterr().err
    assert {"poses.json", "poses.npz", "pose.png", "viewer.html"} <= {p.name for p in out.iterdir()}
    doc = json.loads((out / "poses.json").read_text())
    lay = get_layout("h36m17")
    p = np.asarray(doc["people"][0]["joints_3d"])
    assert p.shape == (17, 3) and np.allclose(p[0], 0, atol=1e-4)  # root-centred
    bones = sum(np.linalg.norm(p[c] - p[a]) for a, c in lay.edges)
    assert bones == pytest.approx(3.54, rel=1e-3)
    assert doc["topology"] == "stick_figure" and doc["candidates"] == 4


@pytest.mark.parametrize("extra, message", [
    (["--topology", "loopy"], "unknown topology"),
    (["--candidates", "0"], "between 1 and the volume size"),
    (["--candidates", "100000"], "between 1 and the volume size"),
    (["--mode", "rgb"], "is a heatmaps model"),
])
def test_pose_bad_options_fail_cleanly(tiny_dsn, tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    rc = main(["pose", str(REPO / "examples" / "keypoints_coco.json"), "--out", str(out), "--checkpoint",
               str(tiny_dsn / "best.json"), *extra])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_pose_with_a_lifting_checkpoint_names_the_model_type(tmp_path, capsys):
    from energy3d.tasks.lift import BUNDLED_LIFTER

    rc = main(["pose", str(REPO / "examples" / "keypoints_coco.json"), "--out", str(tmp_path / "o"),
               "--checkpoint", str(BUNDLED_LIFTER)])
    err = capsys.readouterr().err
    assert rc == 2 and "ige_lifter" in err, err
    assert not (tmp_path / "o").exists()


def test_pose_on_an_unreadable_image_fails_cleanly(tiny_dsn, tmp_path, capsys):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    rc = main(["pose", str(bad), "--out", str(tmp_path / "o"), "--checkpoint", str(tiny_dsn / "best.json")])
    err = capsys.readouterr().err
    assert rc == 2 and "broken.png" in err, err
    assert not (tmp_path / "o").exists()


def test_evaluate_rejects_lifting_flags_for_a_structured_model(tiny_dsn, capsys):
    rc = main(["evaluate", str(tiny_dsn / "best.json"), "--motion", "hdm05"])
    assert rc == 2 and "structured-pose model" in capsys.readouterr().err


@pytest.mark.parametrize("mode_name", ["L", "RGBA", "P"])
def test_pose_rgb_mode_converts_grey_rgba_palette_and_resizes_with_a_note(tmp_path, capsys, mode_name):
    """The bundled RGB model on the rendered example saved as grey / RGBA / palette at another size:
    converted to RGB, resized to the crop with a note, and posed (a 3D skeleton of adult size)."""
    pytest.importorskip("PIL")
    from PIL import Image

    img = Image.open(REPO / "examples" / "rendered_person_wave.png").convert("RGB").resize((150, 150))
    src = tmp_path / f"person_{mode_name}.png"
    img.convert(mode_name).save(src)
    out = tmp_path / "o"
    rc = main(["pose", str(src), "--mode", "rgb", "--out", str(out), "--topology", "stick_figure"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    doc = json.loads((out / "poses.json").read_text())
    assert doc["model"]["input"] == "rgb" and len(doc["people"]) == 1
    if not any("no 2D detection" in w for w in doc["warnings"]):  # a detected person is cropped from the image
        assert 50 < doc["people"][0]["box"][2] < 300  # about the person (the image is 150 px)
    else:
        assert any("resized to the model's 128 x 128 crop" in w for w in doc["warnings"]), doc["warnings"]
    joints = np.asarray(doc["people"][0]["joints_3d"])
    h36m = get_layout("h36m17")
    bones = sum(np.linalg.norm(joints[j] - joints[p]) for j, p in enumerate(h36m.parents) if p >= 0)
    assert bones == pytest.approx(3.54, rel=1e-3) and np.isfinite(joints).all()
