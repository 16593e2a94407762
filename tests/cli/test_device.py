"""``--device`` end to end without a GPU: ``cuda`` without CUDA is one line and exit 2 with nothing
written; the requested device reaches the model; inputs follow the model's device and results come
back to the CPU (a model on the ``meta`` device stands in for a GPU). Runs on CUDA are in
tests/cli/test_cuda.py."""

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from energy3d.models.lifter import IGELifter
from energy3d.models.voxel import VoxelIGE
from energy3d.optim.unrolled import UnrolledInfo
from energy3d.skeleton import H36M17
from energy3d.tasks.lift import BUNDLED_LIFTER, evaluate_lifter, lift_keypoints, predict
from energy3d.tasks.voxel import BUNDLED_VOXEL_MODEL, evaluate_voxel, predict_voxels
from helpers import TEMPLATE, run_cli, synthetic_lifting_set

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "tests" / "fixtures" / "keypoints_two_people.json"
CHAIR = REPO / "examples" / "chair.png"
TINY_CONFIG = REPO / "configs" / "lift" / "tiny-ige2.json"

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("verb", ["fit", "evaluate", "lift", "reconstruct"])
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_without_cuda_is_one_line_exit_2_nothing_written(verb, device, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "out"
    args = {"fit": ["fit", TINY_CONFIG, "--out", out],
            "evaluate": ["evaluate", BUNDLED_LIFTER, "--json", out / "r.json"],
            "lift": ["lift", EXAMPLE, "--out", out],
            "reconstruct": ["reconstruct", CHAIR, "--out", out]}[verb]
    rc, stdout, err = run_cli(args + ["--device", device], capsys)
    assert rc == 2 and stdout == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"energy3d {verb}: error: --device {device}: no CUDA device is available (torch ")
    assert err.rstrip().endswith("use --device cpu")
    assert not out.exists()


@pytest.mark.parametrize("verb", ["lift", "reconstruct"])
def test_unknown_device_is_one_line_exit_2(verb, tmp_path, capsys):
    src = EXAMPLE if verb == "lift" else CHAIR
    rc, _, err = run_cli([verb, src, "--out", tmp_path / "o", "--device", "tpu"], capsys)
    assert rc == 2 and err.count("\n") == 1
    assert "--device must be cpu, cuda or cuda:N, got 'tpu'" in err and not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- the requested device reaches the model
@pytest.fixture
def spy(monkeypatch):
    """Records every ``.to()`` of a lifter or voxel model, and the devices of their inputs and of the model."""
    rec = {"to": [], "inputs": []}
    models = (IGELifter, VoxelIGE)
    real_to = nn.Module.to

    def to(self, *args, **kwargs):
        if isinstance(self, models):
            rec["to"].append((type(self).__name__, torch.device(args[0] if args else kwargs["device"])))
        return real_to(self, *args, **kwargs)

    monkeypatch.setattr(nn.Module, "to", to)
    for cls, name in ((IGELifter, "iterate"), (VoxelIGE, "infer")):
        real = getattr(cls, name)

        def wrapped(self, x, *a, _real=real, **k):
            rec["inputs"].append((type(self).__name__, x.device, next(self.parameters()).device))
            return _real(self, x, *a, **k)

        monkeypatch.setattr(cls, name, wrapped)
    return rec


def test_lift_runs_on_the_requested_device(spy, tmp_path, capsys):
    rc, _, err = run_cli(["lift", EXAMPLE, "--out", tmp_path / "o", "--device", "cpu"], capsys)
    assert rc == 0, err
    assert spy["to"] == [("IGELifter", torch.device("cpu"))]
    cpu = torch.device("cpu")
    assert spy["inputs"] and set(spy["inputs"]) == {("IGELifter", cpu, cpu)}
    assert len(json.loads((tmp_path / "o" / "poses.json").read_text())["people"]) == 2


@pytest.mark.skipif(not BUNDLED_VOXEL_MODEL.is_file(), reason="bundled voxel model not installed")
def test_reconstruct_runs_on_the_requested_device_and_records_it(spy, tmp_path, capsys):
    rc, _, err = run_cli(["reconstruct", CHAIR, "--out", tmp_path / "o", "--device", "cpu"], capsys)
    assert rc == 0, err
    cpu = torch.device("cpu")
    assert spy["to"] == [("VoxelIGE", cpu)] and set(spy["inputs"]) == {("VoxelIGE", cpu, cpu)}
    assert json.loads((tmp_path / "o" / "reconstruct.json").read_text())["seconds"]["device"] == "cpu"


# ----------------------------------------------------------------------------- inputs follow the model, results come back
class _MetaLifter(nn.Module):
    """A lifter whose weights live on the ``meta`` device (no data): it records its inputs' device and
    returns a CPU result, as a GPU model's would be after ``predict``'s copy back."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1, device="meta"))
        self.seen = []

    def forward(self, x):
        self.seen.append((x.device, tuple(x.shape)))
        return torch.as_tensor(TEMPLATE).expand(x.shape[0], 17, 3) + torch.tensor([0.0, 0.0, 4.0])


def test_lift_inputs_follow_the_model_and_results_come_back_to_the_cpu():
    model = _MetaLifter()
    x = 0.1 * torch.randn(10, 17, 2)
    y = predict(model, x, batch_size=4)
    assert y.device.type == "cpu" and y.shape == (10, 17, 3)
    assert model.seen == [(torch.device("meta"), (4, 17, 2)), (torch.device("meta"), (4, 17, 2)),
                          (torch.device("meta"), (2, 17, 2))]
    model.seen.clear()
    poses = lift_keypoints(model, x + torch.tensor([0.4, -0.3]), H36M17)
    assert poses.device.type == "cpu" and model.seen == [(torch.device("meta"), (10, 17, 2))]
    res = evaluate_lifter(model, synthetic_lifting_set(8))  # metrics on the CPU
    assert res["poses"] == 8 and res["all"]["mpjpe_mm"] > 0


class _Cfg:
    image_size, resolution = 64, 16


class _MetaVoxels(nn.Module):
    """A voxel model on the ``meta`` device: records its inputs' device, returns CPU logits."""

    cfg = _Cfg()
    steps = 0

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1, device="meta"))
        self.seen = []

    def iterate(self, image, *, steps=None, mode=None):
        self.seen.append(image.device)
        logits = torch.full((image.shape[0], 16, 16, 16), -3.0)
        logits[:, 4:12, 4:12, 4:12] = 3.0
        return UnrolledInfo(iterates=[logits])


class _Shapes(torch.utils.data.Dataset):
    def __init__(self, n=6):
        self.images = torch.rand(n, 3, 64, 64)
        self.t = torch.zeros(32, 32, 32)
        self.t[8:24, 8:24, 8:24] = 1

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return {"image": self.images[i], "frustum": self.t, "category_name": "chair"}


def test_voxel_inputs_follow_the_model_and_results_come_back_to_the_cpu():
    model = _MetaVoxels()
    p = predict_voxels(model, torch.rand(5, 3, 64, 64), batch_size=2, resolution=32)
    assert p.device.type == "cpu" and p.shape == (5, 32, 32, 32)
    assert model.seen == [torch.device("meta")] * 3
    model.seen.clear()
    res = evaluate_voxel(model, _Shapes(), batch_size=4)  # IoU on the CPU, at the data's 32³
    assert model.seen == [torch.device("meta")] * 2
    assert res["resolution"] == 32 and res["iou@0.5"]["mean"] > 0.99
