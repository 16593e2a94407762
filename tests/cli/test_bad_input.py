"""Every command, bad input: one clear line on stderr and exit status 2 (or a warning with numbers and
exit 0), never a traceback, never silent garbage, nothing half-written.

Unwritable destinations are simulated without permission bits (the tests may run as root): a path
whose parent is a regular file (ENOTDIR), a path under ``/proc`` (not writable even by root), a
name of 300 bytes (longer than the 255 most file systems allow).
"""

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

from energy3d import __version__
from energy3d.cli.main import main
from energy3d.tasks import lift as lift_task
from energy3d.tasks import voxel as voxel_task
from energy3d.tasks.lift import REPROJECTION_WARN, load_lifter, reprojection_px
from helpers import run_cli, synthetic_lifting_set, tiny_trained_lifter

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "tests" / "fixtures" / "keypoints_two_people.json"
CHAIR = REPO / "examples" / "chair.png"
BUNDLED = REPO / "src" / "energy3d" / "assets" / "ige8-lifter.json"
TINY_CONFIG = REPO / "configs" / "lift" / "tiny-ige2.json"
LONG = "x" * 300
"""A file or folder name of 300 bytes: longer than the 255 bytes ext4, XFS, btrfs and tmpfs allow."""

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny_lifter(tmp_path_factory):
    return tiny_trained_lifter(tmp_path_factory.mktemp("lifter"), "ige")


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*"))


def fails(args, capsys, verb: str, *expect: str, folder: Path | None = None) -> str:
    """Run ``energy3d ARGS``; assert exit 2, one ``energy3d VERB: error:`` line containing ``expect``,
    no traceback, nothing on stdout, and (with ``folder``) no file or folder added under ``folder``."""
    before = listing(folder) if folder is not None else None
    rc, out, err = run_cli(args, capsys)
    assert rc == 2, (out, err)
    assert err.startswith(f"energy3d {verb}: error: ") and err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err and out == "", (out, err)
    for e in expect:
        assert e in err, (e, err)
    if folder is not None:
        assert listing(folder) == before, "something was left behind"
    return err


def coco_example(tmp_path: Path, name: str, edit) -> Path:
    """``tests/fixtures/keypoints_two_people.json`` (hand-written, 640 x 480, two people) with ``edit(keypoints (2, 17, 3))`` applied."""
    doc = json.loads(EXAMPLE.read_text())
    kp = np.array([a["keypoints"] for a in doc["annotations"]], dtype=np.float64).reshape(-1, 17, 3)
    edit(kp)
    for a, k in zip(doc["annotations"], kp):
        a["keypoints"] = k.reshape(-1).tolist()
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


# ----------------------------------------------------------------------------- 1. --out is an existing file
@pytest.mark.parametrize("verb", ["lift", "reconstruct", "fit"])
def test_out_naming_an_existing_file(verb, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken").write_text("a file")
    src = {"lift": EXAMPLE, "reconstruct": CHAIR, "fit": TINY_CONFIG}[verb]
    fails([verb, src, "--out", tmp_path / "taken"], capsys, verb, "taken: is a file, not a folder", folder=tmp_path)
    assert (tmp_path / "taken").read_text() == "a file"


# ----------------------------------------------------------------------------- 2. unwritable output folder
@pytest.mark.parametrize("where", ["proc", "under_file"])
@pytest.mark.parametrize("verb", ["lift", "reconstruct"])
def test_unwritable_output_folder(verb, where, tmp_path, capsys):
    (tmp_path / "file").write_text("a file, not a folder")
    out = Path("/proc/energy3d-out") if where == "proc" else tmp_path / "file" / "out"
    expect = "the file system does not allow creating" if where == "proc" else "a part of the path is a file"
    fails([verb, EXAMPLE if verb == "lift" else CHAIR, "--out", out], capsys, verb, str(out), expect, folder=tmp_path)


@pytest.mark.parametrize("where", ["proc", "under_file"])
def test_export_half_to_unwritable_destination(where, tiny_lifter, tmp_path, capsys):
    (tmp_path / "file").write_text("a file, not a folder")
    out = Path("/proc/energy3d-half") if where == "proc" else tmp_path / "file" / "half"
    expect = ("/proc: cannot write there" if where == "proc" else
              "cannot create the output folder " + str(tmp_path / "file") + " (a part of the path is a file, not a folder)")
    fails(["export", tiny_lifter, "--half", "--out", out], capsys, "export", expect, folder=tmp_path)


@pytest.mark.parametrize("where", ["proc", "under_file", "long"])
def test_evaluate_json_destination_checked_before_the_evaluation(where, tiny_lifter, tmp_path, capsys, monkeypatch):
    calls = []

    def must_not_run(*a, **k):
        calls.append(a)
        raise AssertionError("the evaluation ran although its --json destination cannot be written")

    monkeypatch.setattr(lift_task, "evaluate_motion", must_not_run)
    (tmp_path / "file").write_text("a file, not a folder")
    js = {"proc": Path("/proc/energy3d.json"), "under_file": tmp_path / "file" / "r.json",
          "long": tmp_path / f"{LONG}.json"}[where]
    expect = {"proc": "/proc: cannot write there", "under_file": "a part of the path is a file",
              "long": "the name is too long for the file system"}[where]
    fails(["evaluate", tiny_lifter, "--motion", "bandai", "--json", js], capsys, "evaluate", expect, folder=tmp_path)
    assert calls == []
    # control: with a writable destination the (patched) evaluation is reached
    with pytest.raises(AssertionError, match="the evaluation ran"):
        main(["evaluate", str(tiny_lifter), "--json", str(tmp_path / "ok.json")])
    assert len(calls) == 1


# ----------------------------------------------------------------------------- 3. names too long
@pytest.mark.parametrize("verb", ["lift", "reconstruct", "export", "export_in_subfolder"])
def test_output_name_too_long(verb, tiny_lifter, tmp_path, capsys):
    work = tmp_path / "w"
    work.mkdir()
    if verb == "lift":
        args = ["lift", EXAMPLE, "--out", work / LONG]
    elif verb == "reconstruct":
        args = ["reconstruct", CHAIR, "--out", work / "sub" / LONG]
    else:
        out = work / LONG if verb == "export" else work / "sub" / LONG
        args, verb = ["export", tiny_lifter, "--out", out], "export"
    fails(args, capsys, verb, "cannot write there (the name is too long for the file system: a part of 3", "bytes, at "
          "most 255)", folder=work)  # no "sub" folder left behind either


# ----------------------------------------------------------------------------- 4. fit configs of the wrong type
@pytest.mark.parametrize("case", ["string_epochs", "set_abc", "top_level_list", "bool_for_int", "nested_not_object"])
def test_fit_config_of_wrong_type_leaves_no_run_folder(case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = json.loads(TINY_CONFIG.read_text())
    extra = []
    if case == "string_epochs":
        cfg["train"]["epochs"] = "three"
        expect = "c.json: train.epochs: expected an integer, got 'three'"
    elif case == "set_abc":
        extra = ["--set", "train.epochs=abc"]
        expect = "--set: train.epochs: expected an integer, got 'abc'"
    elif case == "top_level_list":
        cfg = [1, 2]
        expect = "c.json: an experiment config must be a JSON object, got list"
    elif case == "bool_for_int":
        cfg["model"]["width"] = True
        expect = "c.json: model.width: expected an integer, got True"
    else:
        cfg["data"]["camera"] = 3
        expect = "c.json: data.camera: expected an object"
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    fails(["fit", tmp_path / "c.json", *extra], capsys, "fit", expect, folder=tmp_path)
    fails(["fit", tmp_path / "c.json", "--out", tmp_path / "run", *extra], capsys, "fit", expect, folder=tmp_path)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------- 5. meaningless keypoints
def test_keypoints_far_outside_the_image_are_an_error(tmp_path, capsys):
    def far(kp):
        kp[..., 0] = np.where(kp[..., 2] > 0, 50000.0, 0.0)

    src = coco_example(tmp_path, "far.json", far)
    fails(["lift", src, "--out", tmp_path / "o"], capsys, "lift", "img1#0: 17 of 17 detected joints lie far outside "
          "the 640 x 480 image", "x=50000", "--image-size", folder=tmp_path)


def test_a_few_joints_outside_the_image_are_a_warning_with_numbers(tmp_path, capsys):
    def wrists_out(kp):
        kp[0, [9, 10], 0] = 700.0  # 60 px beyond the right border of the 640 px image

    src = coco_example(tmp_path, "few.json", wrists_out)
    rc, out, err = run_cli(["lift", src, "--out", tmp_path / "o"], capsys)
    assert rc == 0, err
    want = "img1#0: 2 of 17 detected joints lie outside the 640 x 480 image, up to 60 px beyond its border"
    assert err.startswith("energy3d lift: warning: ") and want in err and "Traceback" not in err
    assert any(want in w for w in json.loads((tmp_path / "o" / "poses.json").read_text())["warnings"])


def test_all_joints_on_one_pixel_is_an_error_naming_the_person(tmp_path, capsys):
    def collapse(kp):
        kp[1, :, :2] = np.where(kp[1, :, 2:] > 0, [300.0, 200.0], 0.0)

    src = coco_example(tmp_path, "one.json", collapse)
    fails(["lift", src, "--out", tmp_path / "o"], capsys, "lift", "img1#1: all 15 detected joints lie within 0 px",
          "degenerate", folder=tmp_path)


def test_npz_of_one_person_without_the_people_axis(tmp_path, capsys):
    """``(17, 2)`` is one person of 17 joints: the same 3D as ``(1, 17, 2)``, the same layout rule."""
    rng = np.random.default_rng(0)
    ds = synthetic_lifting_set(1, seed=5)
    p = ds.points_2d[0] / ds.K[0, 0, 0] * 500 + np.array([320.0, 240.0]) + rng.normal(0, 1, (17, 2))
    np.savez(tmp_path / "one.npz", keypoints=p.astype(np.float32), image_size=[640, 480])
    np.savez(tmp_path / "batch.npz", keypoints=p[None].astype(np.float32), image_size=[640, 480])
    # the layout rule of (N, 17, 2): 17 joints could be coco17 or h36m17, so it must be named
    fails(["lift", tmp_path / "one.npz", "--out", tmp_path / "o"], capsys, "lift", "17 joints could be layout coco17 or "
          "h36m17")
    for name in ("one", "batch"):
        rc, out, err = run_cli(["lift", tmp_path / f"{name}.npz", "--layout", "h36m17", "--out", tmp_path / name], capsys)
        assert rc == 0 and "lifted 1 person" in out, err
    a, b = (np.load(tmp_path / n / "poses.npz")["joints_3d"] for n in ("one", "batch"))
    assert a.shape == (1, 17, 3)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("focal", ["inf", "nan", "-500", "0"])
def test_focal_must_be_positive_and_finite(focal, tmp_path, capsys):
    fails(["lift", EXAMPLE, "--focal", focal, "--out", tmp_path / "o"], capsys, "lift",
          "--focal must be a positive finite number of pixels", folder=tmp_path)


def test_reprojection_error_is_reported_per_person(tmp_path, capsys):
    rc, out, err = run_cli(["lift", EXAMPLE, "--out", tmp_path / "o"], capsys)
    assert rc == 0 and err == "", err
    doc = json.loads((tmp_path / "o" / "poses.json").read_text())
    assert doc["warnings"] == []
    npz = np.load(tmp_path / "o" / "poses.npz")
    for i, person in enumerate(doc["people"]):
        r, size = person["reprojection_px"], person["size_px"]
        assert 0 < r < REPROJECTION_WARN * size, (r, size)
        # recompute: project the 3D with K onto the (h36m17) input of the detected joints
        y, K, p = npz["joints_3d"][i], npz["K"][i], npz["points_2d"][i]
        proj = y[:, :2] / y[:, 2:] * K[[0, 1], [0, 1]] + K[:2, 2]
        used = [j for j, name in enumerate(doc["layout"]["joints"]) if name not in person["imputed_joints"]]
        assert abs(np.median(np.linalg.norm(proj - p, axis=-1)[used]) - r) < 0.01
        assert np.isclose(npz["reprojection_px"][i], r, atol=0.01)


def test_reprojection_px_median_behind_camera_and_unused():
    K = np.array([[100.0, 0, 50], [0, 100.0, 50], [0, 0, 1]])
    X = np.array([[[0.0, 0.0, 2.0], [0.5, 0.0, 2.0], [0.0, 0.5, 2.0]]]).repeat(3, axis=0)
    p = np.array([[50.0, 50.0], [75.0, 50.0], [50.0, 75.0]])[None].repeat(3, axis=0)
    p[0, 1, 0] += 4.0                       # one joint 4 px off: the median stays 0
    p[1] += 3.0                             # every joint 3 px off (in x and y): median 3 * sqrt(2)
    X[2, 0, 2] = -1.0                       # a joint behind the camera
    r = reprojection_px(X, K, p)
    assert r[0] == 0 and np.isclose(r[1], 3 * np.sqrt(2)) and r[2] == np.inf
    used = np.array([[True, True, False], [False] * 3, [False, True, True]])
    r = reprojection_px(X, K, p, used)
    assert r[0] == 2.0 and np.isnan(r[1]) and r[2] == 0  # the joint behind the camera is not used


def test_keypoints_that_are_no_pose_get_a_reprojection_warning(tmp_path, capsys):
    def shuffle(kp):
        kp[0] = kp[0, np.random.default_rng(1).permutation(17)]

    src = coco_example(tmp_path, "shuffled.json", shuffle)
    rc, out, err = run_cli(["lift", src, "--out", tmp_path / "o"], capsys)
    assert rc == 0, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("energy3d lift: warning: img1#0: the lifted 3D does not fit the input")
    doc = json.loads((tmp_path / "o" / "poses.json").read_text())
    r, size = doc["people"][0]["reprojection_px"], doc["people"][0]["size_px"]
    assert r > REPROJECTION_WARN * size and f"{r:.1f} px" in lines[0] and f"{size:.0f} px size" in lines[0]
    assert doc["warnings"] == [lines[0].removeprefix("energy3d lift: warning: ")]
    assert doc["people"][1]["reprojection_px"] < REPROJECTION_WARN * doc["people"][1]["size_px"]


# ----------------------------------------------------------------------------- 6. voxel checkpoint with lifting flags
def test_evaluate_voxel_checkpoint_with_motion_is_an_error(tiny_voxel_ckpt, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(voxel_task, "evaluate_voxel_checkpoint",
                        lambda *a, **k: pytest.fail("the voxel evaluation ran"))
    fails(["evaluate", tiny_voxel_ckpt, "--motion", tmp_path / "x.bvh"], capsys, "evaluate",
          "is a voxel model (voxel_ige): --motion apply to lifting checkpoints only", folder=tmp_path)


# ----------------------------------------------------------------------------- 7. checkpoint file modes
@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_checkpoints_are_readable_as_the_umask_allows(umask, tiny_lifter, tmp_path):
    from energy3d.tasks.export import export_checkpoint
    from energy3d.train.checkpoint import save_checkpoint, save_train_state

    model = torch.nn.Linear(3, 2)
    old = os.umask(umask)
    try:
        save_checkpoint(tmp_path / "ck", model, {"model_type": "x", "config": {}})
        save_train_state(tmp_path / "run", model, torch.optim.Adam(model.parameters()), {"epoch": 0})
        export_checkpoint(tiny_lifter, tmp_path / "half", half=True)
    finally:
        os.umask(old)
    want = 0o666 & ~umask
    for f in ("ck.safetensors", "ck.json", "run/state.safetensors", "run/state.json", "half.safetensors", "half.json"):
        assert stat.S_IMODE((tmp_path / f).stat().st_mode) == want, (f, oct((tmp_path / f).stat().st_mode))
    assert not [p for p in listing(tmp_path) if "tmp" in p]


# ----------------------------------------------------------------------------- 8. corrupt, missing, empty inputs
def test_lift_keypoints_that_are_not_json_and_an_empty_npz(tmp_path, capsys):
    (tmp_path / "k.json").write_text('{"annotations": [')
    fails(["lift", tmp_path / "k.json", "--out", tmp_path / "o"], capsys, "lift", "k.json: malformed JSON at line 1",
          folder=tmp_path)
    np.savez(tmp_path / "e.npz")
    fails(["lift", tmp_path / "e.npz", "--out", tmp_path / "o"], capsys, "lift", "e.npz: the npz holds no arrays",
          folder=tmp_path)
    np.savez(tmp_path / "z.npz", keypoints=np.zeros((0, 17, 2)))
    fails(["lift", tmp_path / "z.npz", "--layout", "h36m17", "--out", tmp_path / "o"], capsys, "lift",
          "has shape (0, 17, 2)", folder=tmp_path)


def truncated_copy(src: Path, folder: Path, keep: int) -> Path:
    """A copy of checkpoint ``src`` whose ``.safetensors`` keeps only its first ``keep`` bytes."""
    js = folder / src.name
    js.write_text(src.read_text())
    js.with_suffix(".safetensors").write_bytes(src.with_suffix(".safetensors").read_bytes()[:keep])
    return js


@pytest.mark.parametrize("keep", [0, 40, 5000])
@pytest.mark.parametrize("verb", ["info", "evaluate"])
def test_truncated_weights(verb, keep, tmp_path, capsys):
    ck = truncated_copy(BUNDLED, tmp_path, keep)
    args = [verb, ck] if verb == "info" else [verb, ck, "--json", tmp_path / "r.json"]
    fails(args, capsys, verb, "ige8-lifter.safetensors: corrupt checkpoint weights", folder=tmp_path)


@pytest.mark.parametrize("verb", ["info", "evaluate", "export", "lift", "reconstruct"])
def test_missing_checkpoint(verb, tmp_path, capsys):
    ck = tmp_path / "nope.json"
    args = {"info": [ck], "evaluate": [ck], "export": [ck, "--out", tmp_path / "x"],
            "lift": [EXAMPLE, "--checkpoint", ck, "--out", tmp_path / "o"],
            "reconstruct": [CHAIR, "--checkpoint", ck, "--out", tmp_path / "o"]}[verb]
    fails([verb, *args], capsys, verb, "nope.json: checkpoint description not found")
    assert not list(tmp_path.rglob("*.*")), "no output file written"


@pytest.mark.parametrize("case", ["missing", "empty", "not_json"])
def test_fit_config_missing_empty_or_not_json(case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "c.json"
    if case == "empty":
        cfg.write_text("")
    elif case == "not_json":
        cfg.write_text("name: tiny")
    expect = {"missing": "c.json: no such file", "empty": "c.json: not valid JSON",
              "not_json": "c.json: not valid JSON"}[case]
    fails(["fit", cfg], capsys, "fit", expect, folder=tmp_path)


# ----------------------------------------------------------------------------- 9. --version and info
def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out == f"energy3d {__version__}\n" and out == "energy3d 0.1.0\n"


def test_info_on_the_bundled_checkpoint(capsys):
    rc, out, err = run_cli(["info", BUNDLED], capsys)
    assert rc == 0 and err == "", err
    doc = json.loads(out)
    assert doc["model_type"] == "ige_lifter"
    assert doc["layouts"] == {"input": {"name": "h36m17", "joints": 17}, "output": {"name": "h36m17", "joints": 17}}
    assert "P1a in mm" in doc["score_means"] and "lower is better" in doc["score_means"]
    model, _ = load_lifter(BUNDLED)
    assert doc["parameters"] == sum(p.numel() for p in model.parameters())
    assert doc["weights"]["tensors"] == len(model.state_dict())
    assert doc["weights"]["bytes"] == BUNDLED.with_suffix(".safetensors").stat().st_size
    assert "every tensor loaded" in doc["weights"]["verified"]


def test_info_on_a_truncated_copy_of_the_bundled_weights(tmp_path, capsys):
    size = BUNDLED.with_suffix(".safetensors").stat().st_size
    ck = truncated_copy(BUNDLED, tmp_path, size // 2)
    fails(["info", ck], capsys, "info", "corrupt checkpoint weights", folder=tmp_path)
