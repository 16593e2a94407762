"""The ``--device`` rule and the training loop's device plumbing (runs without a GPU: CUDA's
presence is simulated where the rule depends on it; real CUDA runs are in tests/cli/test_cuda.py)."""

from collections import namedtuple

import pytest
import torch
from torch import nn

from energy3d.errors import InputError
from energy3d.train import loop
from energy3d.train.device import (
    module_device, process_group_backend, resolve_device, to_device, training_device,
)
from energy3d.train.loop import TrainConfig, fit


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def two_gpus(monkeypatch):
    """Pretend two GPUs are visible (only the rule is exercised; nothing runs on them)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)


def test_cpu_values():
    for spec in ("cpu", " CPU ", None, torch.device("cpu")):
        assert resolve_device(spec) == torch.device("cpu")
    assert training_device("cpu", world_size=4) == torch.device("cpu")


@pytest.mark.parametrize("spec", ["gpu", "cuda:", "cuda:x", "cuda:-1", "mps", "meta", "", "cpu:0"])
def test_other_values_are_refused_naming_the_choices(spec, two_gpus):
    with pytest.raises(InputError, match=r"--device must be cpu, cuda or cuda:N, got") as e:
        resolve_device(spec)
    assert repr(spec) in str(e.value)


@pytest.mark.parametrize("spec", ["cuda", "cuda:0", torch.device("cuda", 1)])
def test_cuda_without_cuda_is_one_clear_error(spec, no_cuda):
    with pytest.raises(InputError) as e:
        resolve_device(spec)
    msg = str(e.value)
    assert msg.startswith(f"--device {str(spec)}: no CUDA device is available (torch {torch.__version__} ")
    assert msg.endswith("; use --device cpu") and "\n" not in msg
    why = "is built without CUDA" if torch.version.cuda is None else "sees no GPU"
    assert why in msg


def test_cuda_indices_are_checked_against_the_visible_gpus(two_gpus):
    assert resolve_device("cuda") == torch.device("cuda")  # no index: the current GPU
    assert resolve_device("CUDA:1") == torch.device("cuda", 1)
    with pytest.raises(InputError, match=r"--device cuda:2: only 2 CUDA devices visible \(cuda:0 to cuda:1\)"):
        resolve_device("cuda:2")


def test_training_device_takes_local_rank_under_ddp(two_gpus, monkeypatch):
    assert training_device("cuda", 1) == torch.device("cuda", 0)
    assert training_device("cuda:1", 1) == torch.device("cuda", 1)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert training_device("cuda", 2) == torch.device("cuda", 1)
    with pytest.raises(InputError, match="under torchrun give --device cuda"):
        training_device("cuda:0", 2)
    monkeypatch.setenv("LOCAL_RANK", "2")
    with pytest.raises(InputError, match="LOCAL_RANK 2: only 2 CUDA devices"):
        training_device("cuda", 2)


def test_process_group_backend():
    assert process_group_backend(torch.device("cpu")) == "gloo"
    assert process_group_backend(torch.device("cuda", 3)) == "nccl"


def test_to_device_moves_every_tensor_and_keeps_the_rest():
    Pair = namedtuple("Pair", "x y")
    batch = {"image": torch.zeros(2, 3), "target": [torch.ones(1), (torch.ones(2), "s")], "category": ["a", "b"],
             "pair": Pair(torch.zeros(1), 3)}
    out = to_device(batch, torch.device("meta"))
    assert out["image"].device.type == "meta" and out["image"].shape == (2, 3)
    assert out["target"][0].is_meta and out["target"][1][0].is_meta and out["target"][1][1] == "s"
    assert isinstance(out["target"], list) and isinstance(out["target"][1], tuple)
    assert out["category"] == ["a", "b"] and isinstance(out["pair"], Pair) and out["pair"].x.is_meta
    assert out["pair"].y == 3 and batch["image"].device.type == "cpu"  # the input is untouched


def test_module_device():
    assert module_device(nn.Linear(2, 2)) == torch.device("cpu")
    assert module_device(nn.Linear(2, 2, device="meta")).type == "meta"
    bn = nn.BatchNorm1d(3, affine=False, device="meta")  # buffers only
    assert module_device(bn).type == "meta"
    assert module_device(nn.ReLU()) == torch.device("cpu")


# ----------------------------------------------------------------------------- the training loop
class _Task:
    """A minimal task: a linear model, four batches of (x, y); records what its loss sees."""

    def __init__(self):
        torch.manual_seed(0)
        self.model = nn.Linear(3, 2)
        g = torch.Generator().manual_seed(1)
        self.data = [(torch.randn(5, 3, generator=g), torch.randn(5, 2, generator=g)) for _ in range(4)]
        self.seen = []

    def num_batches(self, rank, world):
        return len(self.data)

    def batches(self, epoch, start, rank, world):
        yield from self.data[start:]

    def loss(self, net, batch):
        x, y = batch
        self.seen.append((x.device, y.device, next(net.parameters()).device))
        return ((net(x) - y) ** 2).mean(), {}

    @torch.no_grad()
    def validate(self, model):
        return {"score": float(((model(self.data[0][0]) - self.data[0][1]) ** 2).mean())}

    def meta(self):
        return {"model_type": "test", "config": {}}


def test_fit_moves_the_model_and_every_batch_to_the_device(tmp_path, monkeypatch):
    moved, to_calls = [], []
    real_to, real_move = nn.Module.to, loop.to_device

    def spy_to(self, *args, **kwargs):
        moved.append((type(self).__name__, args, kwargs))
        return real_to(self, *args, **kwargs)

    def spy_move(batch, device):
        to_calls.append(device)
        return real_move(batch, device)

    monkeypatch.setattr(nn.Module, "to", spy_to)
    monkeypatch.setattr(loop, "to_device", spy_move)
    task = _Task()
    fit(task, TrainConfig(epochs=2, batch_size=5), tmp_path, resume=False, progress=False, device=torch.device("cpu"))
    assert ("Linear", (torch.device("cpu"),), {}) in moved
    assert to_calls == [torch.device("cpu")] * 8  # every batch of both epochs
    assert task.seen == [(torch.device("cpu"),) * 3] * 8


def test_fit_refuses_cuda_without_cuda_before_training(tmp_path, no_cuda):
    task = _Task()
    with pytest.raises(InputError, match="no CUDA device is available"):
        fit(task, TrainConfig(epochs=1), tmp_path / "run", resume=False, progress=False, device="cuda")
    assert task.seen == [] and not (tmp_path / "run").exists()


class _Started(Exception):
    pass


@pytest.mark.parametrize("device,backend", [("cpu", "gloo"), ("cuda", "nccl")])
def test_ddp_backend_and_gpu_follow_the_device(device, backend, tmp_path, monkeypatch):
    """Under torchrun (WORLD_SIZE > 1) the process group is gloo on the CPU, nccl on CUDA, and a
    CUDA rank first selects cuda:LOCAL_RANK (CUDA simulated: the loop stops at the process group)."""
    calls = []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: False)

    def init(backend, *a, **k):
        calls.append(("init", backend))
        raise _Started

    monkeypatch.setattr(torch.distributed, "init_process_group", init)
    if device == "cuda":
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
        monkeypatch.setattr(torch.cuda, "set_device", lambda d: calls.append(("set_device", torch.device(d))))
    with pytest.raises(_Started):
        fit(_Task(), TrainConfig(epochs=1), tmp_path, resume=False, progress=False, device=device)
    want = [("init", backend)] if device == "cpu" else [("set_device", torch.device("cuda", 1)), ("init", "nccl")]
    assert calls == want
