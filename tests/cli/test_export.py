"""``energy3d export``: float16 checkpoint copies that load with the unchanged loaders, TorchScript
lifters that run without energy3d, and bad input (one line, exit 2, nothing half-written)."""

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from energy3d.cli.main import main
from energy3d.errors import InputError
from energy3d.tasks.export import (
    TORCHSCRIPT_META, LifterExport, _check_trace, export_checkpoint, export_torchscript, half_state_dict,
)
from energy3d.tasks.lift import BONE_LENGTH_SUM_M, LiftExperiment, lift_centred, lift_keypoints, lifter_meta, load_lifter
from energy3d.models.lifter import BaselineLifter, LifterConfig, build_lifter
from energy3d.skeleton import H36M17
from energy3d.models.voxel import VoxelModelConfig, build_voxel_model
from energy3d.train.checkpoint import save_checkpoint
from energy3d.tasks.voxel import VoxelDataConfig, VoxelExperiment, load_voxel_model, voxel_meta
from helpers import synthetic_lifting_set, run_cli

REPO = Path(__file__).resolve().parents[2]
BUNDLED = REPO / "src" / "energy3d" / "assets" / "ige8-lifter.json"
U16 = 2.0 ** -11
"""float16 unit roundoff: round-to-nearest changes a stored value by at most this fraction of it."""
HALF_RTOL_TYPICAL = 4 * U16
HALF_RTOL = 32 * U16
"""Allowed output change after storing weights as float16, relative to the output's magnitude:
typical (median over poses) and worst pose.

Every stored value moves by at most ``U16`` of itself. To first order the output error is a sum of
such relative perturbations carried through each layer (input/output standardisation, 2 to 5 dense
layers, batch norm, the inner steps); they are independent and partly cancel. Measured: the bundled
IGE-8 lifter median 0.6 ``U16``, worst pose 0.8 ``U16`` (an earlier bundled checkpoint reached 11 for a
few poses: learned inner steps with momentum near 1 over 8 steps can amplify small changes); tiny lifters 0.1 to 0.2 ``U16``; tiny voxel
models 0.4 ``U16``. Both bounds (2e-3 and 1.6e-2) still fail if any tensor were loaded wrongly (a
lost normalisation or a zeroed layer changes outputs by O(1))."""


pytestmark = pytest.mark.usefixtures("one_thread")


def _lifter_ckpt(folder: Path, kind: str) -> Path:
    """A tiny lifting checkpoint with non-trivial weights (random init, people ~4 m in front)."""
    torch.manual_seed(0 if kind == "baseline" else 1)
    exp = LiftExperiment(name=f"tiny-{kind}", model=LifterConfig(type=kind, width=16, blocks=1, steps=3,
                                                                 energy_hidden=24, energy_init_scale=0.5))
    model = build_lifter(exp.model)
    base = model.init if kind == "ige" else model
    with torch.no_grad():
        base.out_mean.view(17, 3)[:, 2] = 4.0
        for bn in (m for m in base.modules() if isinstance(m, torch.nn.BatchNorm1d)):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
    return save_checkpoint(folder / f"tiny-{kind}", model, lifter_meta(model, exp))


def _voxel_ckpt(folder: Path, kind: str = "ige") -> Path:
    cfg = VoxelModelConfig(type=kind, image_size=64, resolution=16, stem_stride=1, width_mult=0.25,
                           decoder_channels=16, deconv_channels=8, deconv_bottleneck=8, init_resolution=8, steps=2)
    exp = VoxelExperiment(name="tiny-voxel", data=VoxelDataConfig(resolution=16), model=cfg)
    torch.manual_seed(0)
    model = build_voxel_model(cfg).eval()
    return save_checkpoint(folder / f"vox-{kind}", model, voxel_meta(model, exp))


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    d = tmp_path_factory.mktemp("src")
    return {"baseline": _lifter_ckpt(d, "baseline"), "ige": _lifter_ckpt(d, "ige"), "bundled": BUNDLED,
            "voxel": _voxel_ckpt(d)}


@pytest.fixture(scope="module")
def poses_2d():
    """``(40, 17, 2)`` normalised h36m17 keypoints of synthetic people (realistic lifter input)."""
    return synthetic_lifting_set(40, seed=3).normalized()


def _off_centre(x: torch.Tensor, centre=(0.4, -0.3)) -> torch.Tensor:
    """The same people moved in the image so that each one's mean normalised position is ``centre``."""
    return x - x.mean(1, keepdim=True) + torch.tensor(centre)


def _pose_rel_err(a: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per-pose max coordinate difference over the pose's largest coordinate magnitude."""
    return (a - ref).abs().amax(dim=(1, 2)) / ref.abs().amax(dim=(1, 2))


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# ----------------------------------------------------------------------------- --format checkpoint
@pytest.mark.parametrize("which", ["baseline", "ige", "bundled"])
def test_half_lifter_checkpoint_loads_and_stays_close(which, ckpts, poses_2d, tmp_path, capsys):
    src = ckpts[which]
    rc, out, err = run_cli(["export", src, "--half", "--out", tmp_path / "half"], capsys)
    assert rc == 0, err
    js, st = tmp_path / "half.json", tmp_path / "half.safetensors"
    size = js.stat().st_size + st.stat().st_size
    assert out.count("\n") == 1 and f"({size} bytes, {size / 1e6:.2f} MB)" in out and str(st) in out
    # the file: every float tensor is float16 (none needed float32 here), integer counters untouched
    src_t, half_t = load_file(str(src.with_suffix(".safetensors"))), load_file(str(st))
    assert set(half_t) == set(src_t)
    for k, v in half_t.items():
        assert v.dtype == (torch.float16 if src_t[k].is_floating_point() else src_t[k].dtype), k
    def nbytes(ts, floating):
        return sum(v.numel() * v.element_size() for k, v in ts.items() if src_t[k].is_floating_point() == floating)

    assert nbytes(half_t, True) * 2 == nbytes(src_t, True) and nbytes(half_t, False) == nbytes(src_t, False)
    if which == "bundled":  # a real model: the file halves (tiny models: the header weighs as much)
        assert st.stat().st_size < 0.52 * src.with_suffix(".safetensors").stat().st_size
    # the description: all source entries kept, the dtype recorded
    src_meta, meta = json.loads(src.read_text()), json.loads(js.read_text())
    assert meta.pop("weights_dtype") == "float16" and meta.pop("float32_tensors") == []
    assert src_meta.pop("weights_dtype", "float32") == "float32"  # a source made by export says so
    assert meta == src_meta
    # the unchanged loader reads it into the float32 model; outputs move by float16 rounding only
    ref_model, _ = load_lifter(src)
    model, loaded_meta = load_lifter(js)
    assert loaded_meta["weights_dtype"] == "float16"
    assert all(p.dtype == torch.float32 for p in model.parameters())
    with torch.no_grad():
        ref, got = ref_model(poses_2d), model(poses_2d)
    err = _pose_rel_err(got, ref)
    assert err.median() < HALF_RTOL_TYPICAL and err.max() < HALF_RTOL, (err.median(), err.max())
    assert err.max() > 0  # the weights really were rounded


@pytest.mark.parametrize("kind", ["ige", "baseline"])
def test_half_voxel_checkpoint_loads_and_stays_close(kind, ckpts, tmp_path):
    src = ckpts["voxel"] if kind == "ige" else _voxel_ckpt(tmp_path, "baseline")
    js = export_checkpoint(src, tmp_path / "out" / "vox-half.json", half=True)
    assert js == tmp_path / "out" / "vox-half.json"
    assert json.loads(js.read_text())["weights_dtype"] == "float16"
    ref_model, _ = load_voxel_model(src)
    model, meta = load_voxel_model(js)
    assert meta["model_type"] == f"voxel_{kind}" and meta["frustum"] == json.loads(src.read_text())["frustum"]
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref, got = ref_model(x), model(x)  # logits (B, R, R, R)
    d = (got - ref).abs().max()
    assert 0 < d < HALF_RTOL_TYPICAL * ref.abs().max(), (d, ref.abs().max())


def test_float32_copy_is_exact(ckpts, tmp_path, capsys):
    src = ckpts["ige"]
    rc, out, err = run_cli(["export", src, "--out", tmp_path / "copy.json"], capsys)  # PATH.json form
    assert rc == 0, err
    a, b = load_file(str(src.with_suffix(".safetensors"))), load_file(str(tmp_path / "copy.safetensors"))
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)
    meta = json.loads((tmp_path / "copy.json").read_text())
    assert meta.pop("weights_dtype") == "float32" and meta == json.loads(src.read_text())
    # a float16 export exported again without --half is float32 and says so
    half = export_checkpoint(src, tmp_path / "h", half=True)
    again = export_checkpoint(half, tmp_path / "again")
    meta = json.loads(again.read_text())
    assert meta["weights_dtype"] == "float32" and "float32_tensors" not in meta
    assert load_file(str(tmp_path / "again.safetensors"))["init.out.weight"].dtype == torch.float32


def test_half_keeps_float32_where_float16_cannot_hold_values():
    state = {"big": torch.tensor([1.0, 7e4]), "tiny": torch.full((3,), 1e-6), "ok": torch.tensor([1e-6, 0.5]),
             "zero": torch.zeros(2), "count": torch.tensor(5)}
    out, kept = half_state_dict(state)
    assert kept == ["big", "tiny"]
    assert out["big"].dtype == out["tiny"].dtype == torch.float32 and torch.equal(out["tiny"], state["tiny"])
    assert out["ok"].dtype == out["zero"].dtype == torch.float16 and out["count"].dtype == torch.int64


# ----------------------------------------------------------------------------- --format torchscript
_STANDALONE = textwrap.dedent("""
    import json, sys

    class NoEnergy3d:  # any attempt to import energy3d fails loudly
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "energy3d":
                raise ImportError("energy3d must not be imported here")
            return None

    sys.meta_path.insert(0, NoEnergy3d())
    import torch
    torch.set_num_threads(1)
    pt, x_file, out_file = sys.argv[1:]
    extra = {"meta.json": ""}
    m = torch.jit.load(pt, _extra_files=extra)
    xs = torch.load(x_file)
    with torch.no_grad():
        ys = [m(x) for x in xs]
    torch.save(ys, out_file)
    assert not any(k.split(".")[0] == "energy3d" for k in sys.modules)
    print(json.loads(extra["meta.json"])["format"])
""")


def test_torchscript_bundled_ige_runs_without_energy3d(ckpts, poses_2d, tmp_path, capsys):
    pt = tmp_path / "ts" / "ige8.pt"
    rc, out, err = run_cli(["export", ckpts["bundled"], "--format", "torchscript", "--out", pt], capsys)
    assert rc == 0, err
    assert out.count("\n") == 1 and f"({pt.stat().st_size} bytes" in out
    # traced at batch 2: other batch sizes must work, the empty batch and people off the image centre too
    xs = [poses_2d[:7], poses_2d[7:8], poses_2d, _off_centre(poses_2d[:9]), poses_2d[:0]]
    torch.save(xs, tmp_path / "x.pt")
    (tmp_path / "run.py").write_text(_STANDALONE)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-I", str(tmp_path / "run.py"), str(pt), str(tmp_path / "x.pt"),
                        str(tmp_path / "y.pt")], capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "energy3d-torchscript"
    ys = torch.load(tmp_path / "y.pt")
    model, _ = load_lifter(ckpts["bundled"])
    eager = LifterExport(model, H36M17)
    with torch.no_grad():
        for x, y in zip(xs, ys):
            assert y.shape == (x.shape[0], 17, 3) and y.dtype == torch.float32
            if x.shape[0] == 0:
                continue
            # the same ops as the eager closed-form module ...
            assert torch.allclose(y, eager(x), atol=1e-5, rtol=0)
            # ... and energy3d lift (CPU: the fused numba descent); float32 rounding of 8 steps
            # differs by about 4e-7 of the pose's size, so 1e-5 of it is a tight bound
            assert _pose_rel_err(y, lift_keypoints(model, x, H36M17)).max() < 1e-5
    # the file describes itself
    extra = {TORCHSCRIPT_META: ""}
    torch.jit.load(str(pt), _extra_files=extra)
    meta = json.loads(extra[TORCHSCRIPT_META])
    assert meta["model_type"] == "ige_lifter" and meta["input"]["shape"] == ["B", 17, 2]
    assert meta["output"]["shape"] == ["B", 17, 3] and meta["output"]["layout"] == "h36m17"
    assert "(p - c) / f" in meta["input"]["units"] and meta["output"]["units"].startswith("metres, camera frame")
    assert meta["layouts"]["input"]["joints"][0] == "Hip" and len(meta["layouts"]["output"]["parents"]) == 17
    assert "8 unrolled steps" in meta["computation"] and "virtual camera" in meta["computation"]
    assert f"bones sum to {BONE_LENGTH_SUM_M} m" in meta["output"]["scale"] and "B >= 0" in meta["batch"]


@pytest.mark.parametrize("which", ["baseline", "ige"])
def test_torchscript_tiny_lifters_match_model(which, ckpts, poses_2d, tmp_path):
    pt = export_torchscript(ckpts[which], tmp_path / f"{which}.pt")
    m = torch.jit.load(str(pt))
    model, _ = load_lifter(ckpts[which])
    with torch.no_grad():
        for x in (poses_2d[:3], poses_2d):
            y, ref = m(x), lift_keypoints(model, x, H36M17)
            assert not y.requires_grad
            assert _pose_rel_err(y, ref).max() < 1e-5
            if which == "ige":  # the inner steps matter: the traced output is not the initial estimate
                # (relative: the rescale to an adult's bone lengths shrinks these tiny random models)
                assert _pose_rel_err(y, lift_centred(model.init, x, H36M17)).max() > 1e-4
    assert {n for n, _ in m.named_parameters()} >= ({"optimizer.lr", "optimizer.clip", "optimizer.momentum"}
                                                     if which == "ige" else {"init.out.weight"})


@pytest.mark.parametrize("which", ["baseline", "ige"])
def test_torchscript_equals_lift_for_people_off_the_image_centre(which, ckpts, poses_2d, tmp_path):
    """The export turns a virtual camera towards each person and rescales, as ``energy3d lift`` does.

    People whose mean normalised position is (0.4, -0.3) (about a third of the image off centre);
    traced at batch 2, run at 9 and 40. The raw model output, which the export gave before, is
    far from ``lift`` there: the centring and the rescale are really in the trace.
    """
    pt = export_torchscript(ckpts[which], tmp_path / f"{which}.pt")
    m = torch.jit.load(str(pt))
    model, _ = load_lifter(ckpts[which])
    with torch.no_grad():
        for x in (_off_centre(poses_2d[:9]), _off_centre(poses_2d, (-0.35, 0.25))):
            y, ref = m(x), lift_keypoints(model, x, H36M17)
            assert y.shape == ref.shape == (x.shape[0], 17, 3)
            assert _pose_rel_err(y, ref).max() < 1e-5
            bones = sum((y[:, c] - y[:, p]).norm(dim=-1) for p, c in H36M17.edges)
            assert torch.allclose(bones, torch.full_like(bones, BONE_LENGTH_SUM_M), rtol=1e-5)
            raw = torch.as_tensor(model(x))
            raw = raw * (BONE_LENGTH_SUM_M / sum((raw[:, c] - raw[:, p]).norm(dim=-1) for p, c in H36M17.edges))[:, None, None]
            assert (y - raw).abs().max() > 0.05  # metres: the uncentred lift is another pose


@pytest.mark.parametrize("which", ["baseline", "ige"])
def test_torchscript_accepts_an_empty_batch(which, ckpts, tmp_path):
    pt = export_torchscript(ckpts[which], tmp_path / f"{which}.pt")
    m = torch.jit.load(str(pt))
    model, _ = load_lifter(ckpts[which])
    with torch.no_grad():
        y = m(torch.zeros(0, 17, 2))
        ref = lift_keypoints(model, torch.zeros(0, 17, 2), H36M17)
    assert y.shape == ref.shape == (0, 17, 3) and y.dtype == torch.float32


def test_lifter_export_checks_its_layout():
    with pytest.raises(InputError, match="outputs 17 joints, layout mpii16 has 16"):
        LifterExport(BaselineLifter(17, 17, width=8, blocks=1), "mpii16")
    with pytest.raises(InputError, match="expected a BaselineLifter or IGELifter"):
        LifterExport(torch.nn.Linear(2, 2), H36M17)


def test_trace_check_catches_a_baked_in_batch_size():
    class Baked(torch.nn.Module):
        def forward(self, x):
            return x + torch.arange(int(x.shape[0]))[:, None, None]  # int(): a constant in a trace

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(Baked(), torch.zeros(2, 17, 2))
    _check_trace(traced, Baked(), torch.zeros(2, 17, 2))  # the traced batch size passes
    with pytest.raises(RuntimeError, match="batch size 5"):
        _check_trace(traced, Baked(), torch.zeros(5, 17, 2))


def test_torchscript_of_voxel_checkpoint_is_refused(ckpts, tmp_path, capsys):
    rc, out, err = run_cli(["export", ckpts["voxel"], "--format", "torchscript", "--out", tmp_path / "v.pt"], capsys)
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("energy3d export: error:") and "autograd" in err and "--format checkpoint" in err
    assert _listing(tmp_path) == []


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("case", ["missing", "no_weights", "corrupt_json", "corrupt_weights", "not_checkpoint",
                                  "parent_is_file", "out_is_folder", "half_torchscript"])
def test_bad_input_one_line_exit_2_nothing_written(case, ckpts, tmp_path, capsys):
    work = tmp_path / "w"
    work.mkdir()
    src, out, extra = ckpts["ige"], work / "out" / "x", []
    bad = work / "bad.json"
    if case == "missing":
        src, expect = work / "nope.json", "not found"
    elif case == "no_weights":
        bad.write_text(src.read_text())
        src, expect = bad, "weights not found"
    elif case == "corrupt_json":
        bad.write_text("{oops")
        bad.with_suffix(".safetensors").write_bytes(b"x")
        src, expect = bad, "corrupt checkpoint description"
    elif case == "corrupt_weights":
        bad.write_text(src.read_text())
        bad.with_suffix(".safetensors").write_bytes(src.with_suffix(".safetensors").read_bytes()[:200])
        src, expect = bad, "corrupt checkpoint weights"
    elif case == "not_checkpoint":
        bad.write_text('{"hello": 1}')
        bad.with_suffix(".safetensors").write_bytes(b"x")
        src, expect = bad, "not an energy3d checkpoint"
    elif case == "parent_is_file":
        (work / "file").write_text("a file, not a folder")
        out, expect = work / "file" / "sub" / "x", "cannot create the output folder"
    elif case == "out_is_folder":
        (work / "out").mkdir()
        out, expect, extra = work / "out", "is a folder", ["--format", "torchscript"]
    else:
        expect, extra = "--half applies to --format checkpoint only", ["--format", "torchscript", "--half"]
    before = _listing(work)
    rc, stdout, err = run_cli(["export", src, "--out", out, *extra], capsys)
    assert rc == 2, (stdout, err)
    assert err.startswith("energy3d export: error:") and err.count("\n") == 1 and "Traceback" not in err
    assert expect in err, err
    assert stdout == "" and _listing(work) == before


def test_unknown_format_is_an_argparse_error(ckpts, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["export", str(ckpts["ige"]), "--format", "onnx", "--out", str(tmp_path / "x")])
    assert e.value.code == 2 and "invalid choice: 'onnx'" in capsys.readouterr().err
    assert _listing(tmp_path) == []


def test_failed_write_leaves_previous_export_untouched(ckpts, tmp_path, monkeypatch):
    """A write that fails half-way (disk full) leaves neither partial files nor a clobbered export."""
    import safetensors.torch

    js = export_checkpoint(ckpts["ige"], tmp_path / "e")
    pt = export_torchscript(ckpts["baseline"], tmp_path / "e.pt")
    before = {p: p.read_bytes() for p in (js, js.with_suffix(".safetensors"), pt)}

    def full_disk(obj, path, *a, **k):
        Path(path).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", full_disk)
    monkeypatch.setattr(torch.jit, "save", full_disk)
    for call in (lambda: export_checkpoint(ckpts["ige"], tmp_path / "e", half=True),
                 lambda: export_torchscript(ckpts["ige"], tmp_path / "e.pt")):
        with pytest.raises(InputError, match="No space left on device"):
            call()
    assert {p: p.read_bytes() for p in before} == before
    assert _listing(tmp_path) == sorted(p.name for p in before)
