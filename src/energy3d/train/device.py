"""Which device work runs on: the ``--device`` rule, and moving models and batches there.

Models are always built and loaded on the CPU (checkpoints are CPU safetensors and load
anywhere), then moved with ``model.to(device)``; inputs follow the model
(:func:`module_device`, :func:`to_device`) and results come back to the CPU for metrics and
writing. Every application's ``fit`` / ``evaluate`` / ``lift`` / ``reconstruct`` takes a
``device`` resolved by :func:`resolve_device`; under ``torchrun`` :func:`training_device` gives
each rank its own GPU (``cuda:LOCAL_RANK``) and :func:`process_group_backend` the matching
collective backend.
"""

from __future__ import annotations

import os
import re

import torch
from torch import nn

from energy3d.errors import InputError

__all__ = ["DEVICE_CHOICES", "resolve_device", "training_device", "process_group_backend", "module_device",
           "to_device"]

DEVICE_CHOICES = "cpu, cuda or cuda:N"
"""The accepted ``--device`` values, as error messages name them."""
_SPEC = re.compile(r"cpu|cuda(?::(\d+))?")


def _why_no_cuda() -> str:
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is built without CUDA"
    return f"torch {torch.__version__} is built with CUDA {torch.version.cuda} but sees no GPU"


def resolve_device(spec: str | torch.device | None = "cpu") -> torch.device:
    """Check a ``--device`` value and return it as a :class:`torch.device`.

    Args:
        spec: ``"cpu"``, ``"cuda"`` (the current GPU), ``"cuda:N"``, a :class:`torch.device` of
            those types, or ``None`` (the CPU).

    Returns:
        ``torch.device("cpu")``, ``torch.device("cuda")`` (no index: the current GPU; see
        :func:`training_device` for DDP) or ``torch.device("cuda", N)``.

    Raises:
        InputError: another value; ``cuda`` when ``torch.cuda.is_available()`` is false (one
            line that says why and to use ``--device cpu``); ``cuda:N`` beyond the visible GPUs.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if spec is None:
        return torch.device("cpu")
    text = str(spec).strip().lower()
    m = _SPEC.fullmatch(text)
    if m is None:
        raise InputError(f"--device must be {DEVICE_CHOICES}, got {str(spec)!r}")
    if text == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise InputError(f"--device {text}: no CUDA device is available ({_why_no_cuda()}); use --device cpu")
    if m.group(1) is None:
        return torch.device("cuda")
    index, count = int(m.group(1)), torch.cuda.device_count()
    if index >= count:
        raise InputError(f"--device {text}: only {count} CUDA device{'s' if count != 1 else ''} visible "
                         f"(cuda:0 to cuda:{count - 1})")
    return torch.device("cuda", index)


def training_device(spec: str | torch.device | None, world_size: int = 1) -> torch.device:
    """The device one training process uses: :func:`resolve_device`, with the GPU index made explicit.

    Single process: ``cuda`` is the current GPU (``cuda:torch.cuda.current_device()``). Under
    DDP (``world_size > 1``, e.g. ``torchrun --nproc_per_node N``) each rank takes
    ``cuda:LOCAL_RANK``; an explicit ``cuda:N`` is refused there (every rank would share one GPU).

    Raises:
        InputError: as :func:`resolve_device`; ``cuda:N`` under DDP; ``LOCAL_RANK`` beyond the GPUs.
    """
    dev = resolve_device(spec)
    if dev.type != "cuda":
        return dev
    if world_size > 1:
        if dev.index is not None:
            raise InputError(f"--device {dev}: under torchrun give --device cuda (each rank uses cuda:LOCAL_RANK)")
        local, count = int(os.environ.get("LOCAL_RANK", "0")), torch.cuda.device_count()
        if local >= count:
            raise InputError(f"LOCAL_RANK {local}: only {count} CUDA device{'s' if count != 1 else ''} visible; "
                             f"start at most {count} processes per node")
        return torch.device("cuda", local)
    return dev if dev.index is not None else torch.device("cuda", torch.cuda.current_device())


def process_group_backend(device: torch.device) -> str:
    """The ``torch.distributed`` backend for a training device: ``"nccl"`` on CUDA, ``"gloo"`` on the CPU."""
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def module_device(module: nn.Module) -> torch.device:
    """The device of a module's first parameter (or buffer); the CPU for a module without tensors."""
    for t in module.parameters():
        return t.device
    for t in module.buffers():
        return t.device
    return torch.device("cpu")


def to_device(batch, device: torch.device):
    """``batch`` with every tensor moved to ``device``, inside tuples, lists and dicts (other values kept).

    Example:
        >>> to_device({"x": torch.zeros(2), "names": ["a", "b"]}, torch.device("cpu"))["names"]
        ['a', 'b']
    """
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # a named tuple
        return type(batch)(*(to_device(v, device) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch
