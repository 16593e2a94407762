"""Runs on a CUDA GPU: lift, reconstruct and evaluate there match the CPU, training steps run there,
and what a CUDA run saves loads on the CPU. Skipped without CUDA; ``benchmarks/gpu_check.sh`` runs
these on a machine with a GPU.

Tolerances: lifting on the GPU takes the torch closed-form gradient, on the CPU the fused numba
descent; both are float32 and agree to about 4e-7 of the pose's size on the CPU (tests/cli/test_export.py),
so 1e-4 leaves room for the GPU's own summation order. Voxel convolutions run with TF32 switched
off here (cuDNN would otherwise round products to 10 mantissa bits).
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from energy3d.skeleton import H36M17
from energy3d.tasks.lift import BUNDLED_LIFTER, LiftExperiment, LiftingTask, lift_keypoints, load_lifter, predict
from energy3d.tasks.voxel import BUNDLED_VOXEL_MODEL, load_voxel_model, predict_voxels
from energy3d.models.lifter import LifterConfig
from energy3d.train.loop import TrainConfig, fit
from helpers import run_cli, synthetic_lifting_set

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "tests" / "fixtures" / "keypoints_two_people.json"
CHAIR = REPO / "examples" / "chair.png"

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA GPU (torch.cuda.is_available() is false)")


@pytest.fixture(autouse=True)
def no_tf32():
    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


def _rel(a: torch.Tensor, ref: torch.Tensor) -> float:
    return float(((a - ref).abs().amax(dim=(1, 2)) / ref.abs().amax(dim=(1, 2))).max())


def test_lift_on_cuda_matches_cpu():
    cpu, _ = load_lifter(BUNDLED_LIFTER)
    gpu, _ = load_lifter(BUNDLED_LIFTER, "cuda")
    assert next(gpu.parameters()).is_cuda
    x = synthetic_lifting_set(300, seed=4).normalized()
    x = torch.cat([x, x[:50] - x[:50].mean(1, keepdim=True) + torch.tensor([0.4, -0.3])])
    y_cpu, y_gpu = lift_keypoints(cpu, x, H36M17), lift_keypoints(gpu, x, H36M17)
    assert y_gpu.device.type == "cpu"
    assert _rel(y_gpu, y_cpu) < 1e-4
    # the GPU path is the closed form: its iterates move, and all of them come back to the CPU
    its = predict(gpu, x[:8], all_iterates=True)
    assert its.device.type == "cpu" and its.shape == (9, 8, 17, 3) and (its[-1] - its[0]).abs().max() > 1e-3
    assert predict(gpu, x[:0]).shape == (0, 17, 3)


def test_lift_cli_on_cuda_writes_what_cpu_writes(tmp_path, capsys):
    for dev in ("cpu", "cuda"):
        rc, _, err = run_cli(["lift", EXAMPLE, "--out", tmp_path / dev, "--device", dev], capsys)
        assert rc == 0, err
    a, b = (np.load(tmp_path / d / "poses.npz")["joints_3d"] for d in ("cpu", "cuda"))
    assert _rel(torch.as_tensor(b), torch.as_tensor(a)) < 1e-4


@pytest.mark.skipif(not BUNDLED_VOXEL_MODEL.is_file(), reason="bundled voxel model not installed")
def test_reconstruct_on_cuda_matches_cpu(tmp_path, capsys):
    cpu, _ = load_voxel_model(BUNDLED_VOXEL_MODEL)
    gpu, _ = load_voxel_model(BUNDLED_VOXEL_MODEL, "cuda:0")
    img = torch.rand(3, 3, cpu.cfg.image_size, cpu.cfg.image_size, generator=torch.Generator().manual_seed(0))
    for res in (None, 64):  # the model's 32³, and upsampled on the device
        p_cpu, p_gpu = predict_voxels(cpu, img, resolution=res), predict_voxels(gpu, img, resolution=res)
        assert p_gpu.device.type == "cpu" and p_gpu.shape == p_cpu.shape
        assert float((p_gpu - p_cpu).abs().max()) < 1e-3
        assert float(((p_gpu > 0.5) != (p_cpu > 0.5)).float().mean()) < 1e-3
    for dev in ("cpu", "cuda"):
        rc, _, err = run_cli(["reconstruct", CHAIR, "--out", tmp_path / dev, "--device", dev], capsys)
        assert rc == 0, err
    doc = json.loads((tmp_path / "cuda" / "reconstruct.json").read_text())
    assert doc["seconds"]["device"] == "cuda"
    a, b = (np.load(tmp_path / d / "occupancy.npz")["probability"] for d in ("cpu", "cuda"))
    assert np.abs(a - b).max() < 1e-3


def _exp():
    return LiftExperiment(name="cuda", model=LifterConfig(type="ige", width=16, blocks=1, steps=2, energy_hidden=16),
                          train=TrainConfig(epochs=2, batch_size=32, checkpoint_every=3, seed=3), val_limit=64)


@pytest.fixture(scope="module")
def sets():
    return synthetic_lifting_set(256, seed=0), synthetic_lifting_set(64, seed=1)


def test_fit_on_cuda_trains_saves_cpu_tensors_and_resumes(sets, tmp_path):
    a = LiftingTask(_exp(), train_set=sets[0], val_set=sets[1])
    before = a.model.init.out.weight.detach().clone()
    summary = fit(a, a.exp.train, tmp_path / "full", resume=False, progress=False, device="cuda")
    assert next(a.model.parameters()).is_cuda
    assert np.isfinite(summary["history"][-1]["val_p1a_mm"])
    assert not torch.allclose(a.model.init.out.weight.detach().cpu(), before)  # the steps ran
    # what a CUDA run saved loads on the CPU and predicts what the trained model predicts
    cpu_model, _ = load_lifter(tmp_path / "full" / "best.json")
    assert all(p.device.type == "cpu" for p in cpu_model.parameters())
    x = sets[1].normalized()[:16]
    assert _rel(predict(cpu_model, x), predict(a.model, x)) < 1e-4
    # interrupted and resumed on the GPU (its RNG state saved with the state): the same weights
    b = LiftingTask(_exp(), train_set=sets[0], val_set=sets[1])
    r = fit(b, b.exp.train, tmp_path / "cut", resume=False, progress=False, stop_after_batches=5, device="cuda")
    assert r["stopped"]
    c = LiftingTask(_exp(), train_set=sets[0], val_set=sets[1])
    fit(c, c.exp.train, tmp_path / "cut", resume=True, progress=False, device="cuda")
    for (k, p), q in zip(a.model.state_dict().items(), c.model.state_dict().values()):
        assert torch.allclose(p.float(), q.float(), rtol=1e-4, atol=1e-6), k


def test_voxel_fit_step_on_cuda(tmp_path):
    from energy3d.models.voxel import VoxelModelConfig
    from energy3d.tasks.voxel import VoxelDataConfig, VoxelExperiment, VoxelTask

    class Blob(torch.utils.data.Dataset):
        def __init__(self, n):
            self.images = torch.rand(n, 3, 64, 64, generator=torch.Generator().manual_seed(n))
            self.t = torch.zeros(16, 16, 16)
            self.t[4:12, 4:12, 4:12] = 1

        def __len__(self):
            return len(self.images)

        def __getitem__(self, i):
            return {"image": self.images[i], "frustum": self.t, "category_name": "chair"}

    cfg = VoxelModelConfig(type="ige", image_size=64, resolution=16, stem_stride=1, width_mult=0.25,
                           decoder_channels=16, deconv_channels=8, deconv_bottleneck=8, init_resolution=8, steps=2)
    exp = VoxelExperiment(name="cuda", data=VoxelDataConfig(resolution=16), model=cfg,
                          train=TrainConfig(epochs=1, batch_size=4, lr=5e-3), val_limit=4)
    task = VoxelTask(exp, train_set=Blob(8), val_set=Blob(4))
    summary = fit(task, exp.train, tmp_path, resume=False, progress=False, device="cuda")
    assert next(task.model.parameters()).is_cuda and 0.0 <= summary["history"][0]["val_iou"] <= 1.0
    model, meta = load_voxel_model(tmp_path / "best.json")  # loads on the CPU
    assert meta["macs"] > 0 and all(p.device.type == "cpu" for p in model.parameters())
