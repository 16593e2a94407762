"""One training loop for every model: checkpoints, resume, schedule, progress, DDP.

A *task* supplies the model-specific parts (see :class:`Task`); :func:`fit` does the rest:

* Adam with a per-epoch exponential learning-rate decay and optional gradient-norm clipping;
* deterministic batches (the task draws them from ``(seed, epoch, batch)``) and a saved torch RNG
  state, so an interrupted run resumed from its last state reproduces the uninterrupted run;
* training state saved every ``checkpoint_every`` batches and at each epoch end
  (``RUN/state.safetensors`` + ``RUN/state.json``), resumed automatically when present;
* validation after each epoch; the best model by the task's validation score is exported as
  ``RUN/best.{safetensors,json}``, the last as ``RUN/last.{safetensors,json}``;
* any device (``device``, see :mod:`energy3d.train.device`): the model is moved there, every
  batch follows it, checkpoints and training state are saved as CPU tensors (they load anywhere);
* a rich progress bar; ``torchrun --nproc_per_node N -m energy3d fit ...`` trains with
  DistributedDataParallel (gloo on the CPU; nccl on CUDA, each rank on ``cuda:LOCAL_RANK``):
  each rank takes a disjoint share of every epoch.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Protocol

import torch
from torch import nn

Tensor = torch.Tensor

from energy3d.train.checkpoint import load_train_state, save_checkpoint, save_train_state
from energy3d.train.device import process_group_backend, to_device, training_device


@dataclass(frozen=True)
class TrainConfig:
    """Outer-optimisation settings.

    Attributes:
        epochs: passes over the training set.
        batch_size: examples per batch (per rank under DDP).
        lr: Adam learning rate; ``lr_decay`` multiplies it after every epoch.
        grad_clip: maximum global gradient norm (0 disables).
        seed: seeds weights, batch order, noise and dropout.
        checkpoint_every: save the resumable state every this many batches (and at epoch ends).
        step_weight_base: ``k_t = base^(T-t)`` weighting of inner iterates (IGE-Net eq. 4).
        threads: torch CPU threads (0 keeps torch's default).
        scalar_lr_mult: learning-rate multiplier for scalar (0-dim) parameters, i.e. the inner
            optimiser's learned step ``η``, clip ``c`` and momentum ``m``. Adam moves a parameter by
            about ``lr`` per update whatever its scale, so at the IGE phase's ``lr = 1e-4`` these
            stay within ~10% of their initial values over a few epochs (measured: ``η`` 1.00 -> 1.10
            in three IGE-8 epochs) and the steps cannot grow to the size the energy asks for.
        log_every: every this many batches, the mean loss and the task's logged parts since the
            last record are appended to the training curve (``history.json`` ``"curve"``).
    """

    epochs: int = 20
    batch_size: int = 256
    lr: float = 1e-3
    lr_decay: float = 0.9
    weight_decay: float = 0.0
    grad_clip: float = 5.0
    seed: int = 0
    checkpoint_every: int = 500
    step_weight_base: float = 0.9
    threads: int = 0
    scalar_lr_mult: float = 1.0
    log_every: int = 50


class Task(Protocol):
    """What :func:`fit` needs from a model family."""

    model: nn.Module

    def num_batches(self, rank: int, world: int) -> int: ...

    def batches(self, epoch: int, start: int, rank: int, world: int) -> Iterator: ...

    def loss(self, model: nn.Module, batch) -> tuple[torch.Tensor, dict]: ...

    def validate(self, model: nn.Module) -> dict:
        """Validation metrics; must include ``"score"`` (lower is better)."""

    def meta(self) -> dict:
        """Checkpoint description (model_type, config, layouts, ...)."""


def epoch_order(n: int, seed: int, epoch: int, rank: int = 0, world: int = 1, shuffle: bool = True) -> Tensor:
    """This rank's share of epoch ``epoch``'s sample order: a permutation of ``range(n)`` drawn from
    ``(seed, epoch)`` (or ``range(n)`` unshuffled), cut into ``world`` equal disjoint shares."""
    if shuffle:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100003 + epoch))
    else:
        order = torch.arange(n)
    per_rank = n // world
    return order[rank * per_rank:(rank + 1) * per_rank]


def batch_generator(seed: int, epoch: int, batch: int, rank: int = 0) -> torch.Generator:
    """The generator of every random draw of one batch (augmentation, noise), seeded by
    ``(seed, epoch, batch, rank)``: a resumed run draws exactly what an uninterrupted one would."""
    return torch.Generator().manual_seed(seed * 7919 + epoch * 100003 + batch * 31 + rank)


@contextmanager
def progress_bar(enabled: bool, description: str, total: int, unit: str = "items"):
    """A rich progress bar on stderr for long evaluation work; yields ``advance(n)``.

    Shows done / total (or done alone when ``total`` is 0: unknown), the rate in ``unit`` per second
    and the time left. Disabled (a no-op ``advance``) when ``enabled`` is false or stderr is not a
    terminal, so logs and tests see no control characters.
    """
    import sys

    if not enabled or not sys.stderr.isatty():
        yield lambda n=1: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task):
            return Text(f"{task.speed:.1f} {unit}/s" if task.speed else "")

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), Rate(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        tid = bar.add_task(description, total=total or None)
        yield lambda n=1: bar.advance(tid, n)


def _param_groups(model: nn.Module, cfg: TrainConfig) -> list[dict]:
    """Adam parameter groups: tensors at ``lr``, scalars at ``lr * scalar_lr_mult`` (one group when 1)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.scalar_lr_mult == 1.0:
        return [{"params": params, "lr_mult": 1.0}]
    tensors = [p for p in params if p.dim() > 0]
    scalars = [p for p in params if p.dim() == 0]
    groups = [{"params": tensors, "lr_mult": 1.0}]
    if scalars:
        groups.append({"params": scalars, "lr_mult": float(cfg.scalar_lr_mult), "lr": cfg.lr * cfg.scalar_lr_mult})
    return groups


def _dist_info() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    return rank, world


def fit(task: Task, cfg: TrainConfig, run_dir: str | Path, *, resume: bool = True, progress: bool = True,
        stop_after_batches: int | None = None, device: str | torch.device = "cpu") -> dict:
    """Train ``task.model`` and export checkpoints into ``run_dir``.

    The task builds its model and batches on the CPU; ``fit`` moves the model to ``device``
    (``task.model`` itself, so the task's ``validate`` and ``meta`` see it there) and every batch
    after it (:func:`energy3d.train.device.to_device`). Under DDP the process group uses
    :func:`~energy3d.train.device.process_group_backend` and each rank
    :func:`~energy3d.train.device.training_device`.

    Args:
        task: the model family's task object (``validate`` must accept a model on ``device``).
        cfg: outer-optimisation settings.
        run_dir: output folder (created); holds state, checkpoints and ``history.json``.
        resume: continue from ``run_dir/state.*`` when present.
        progress: show a progress bar.
        stop_after_batches: stop (after saving state) once this many batches have run in this
            call — used to test interruption and resumption.
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (see :func:`energy3d.train.device.resolve_device`).

    Returns:
        A summary dict (best validation metrics, epochs, seconds).
    """
    run_dir = Path(run_dir)
    rank, world = _dist_info()
    dev = training_device(device, world)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group(process_group_backend(dev))
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    model = task.model.to(dev)
    opt = torch.optim.Adam(_param_groups(model, cfg), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start_epoch, start_batch, history, best, curve = 0, 0, [], None, []
    elapsed_before = 0.0
    if resume:
        st = load_train_state(run_dir, model, opt, device=dev)
        if st is not None:
            start_epoch, start_batch = st["epoch"], st["batch"]
            history, best, curve = st.get("history", []), st.get("best"), st.get("curve", [])
            elapsed_before = st.get("seconds", 0.0)
    else:
        torch.manual_seed(cfg.seed + rank)
    net = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    nb = task.num_batches(rank, world)
    t0 = time.perf_counter()
    done_here = 0
    is_main = rank == 0

    def save_state(epoch, batch):
        if is_main:
            save_train_state(run_dir, model, opt, {"epoch": epoch, "batch": batch, "history": history, "best": best,
                                                   "curve": curve, "seconds": elapsed_before + time.perf_counter() - t0},
                             device=dev)

    bar = None
    if progress and is_main:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                       TextColumn("{task.fields[info]}"), transient=False)
        bar.start()
    try:
        for epoch in range(start_epoch, cfg.epochs):
            for g in opt.param_groups:
                g["lr"] = cfg.lr * g["lr_mult"] * cfg.lr_decay ** epoch
            model.train()
            first = start_batch if epoch == start_epoch else 0
            tid = bar.add_task(f"epoch {epoch + 1}/{cfg.epochs}", total=nb, completed=first, info="") if bar else None
            run_loss, n_loss = 0.0, 0
            window: dict[str, float] = {}
            n_window = 0
            for b, batch in enumerate(task.batches(epoch, first, rank, world), start=first):
                loss, logs = task.loss(net, to_device(batch, dev))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip > 0:
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                opt.step()
                if not math.isfinite(float(loss.detach())):
                    raise FloatingPointError(f"training diverged: loss {float(loss)} at epoch {epoch}, batch {b}")
                run_loss += float(loss.detach())
                n_loss += 1
                n_window += 1
                for k, v in {"loss": float(loss.detach()), **(logs or {})}.items():
                    if isinstance(v, (int, float)) or (torch.is_tensor(v) and v.numel() == 1):
                        window[k] = window.get(k, 0.0) + float(v)
                if cfg.log_every > 0 and n_window >= cfg.log_every:
                    curve.append({"epoch": epoch, "batch": b + 1, "step": epoch * nb + b + 1,
                                  "seconds": round(elapsed_before + time.perf_counter() - t0, 1),
                                  **{k: v / n_window for k, v in window.items()}})
                    window, n_window = {}, 0
                done_here += 1
                if bar:
                    bar.update(tid, advance=1, info=f"loss {run_loss / n_loss:.5f}")
                if (b + 1) % cfg.checkpoint_every == 0 and b + 1 < nb:
                    save_state(epoch, b + 1)
                if stop_after_batches is not None and done_here >= stop_after_batches:
                    save_state(epoch, b + 1)
                    return {"stopped": True, "epoch": epoch, "batch": b + 1}
            val = task.validate(model) if is_main else {"score": float("nan")}
            rec = {"epoch": epoch + 1, "train_loss": run_loss / max(n_loss, 1), **val}
            history.append(rec)
            if is_main:
                if bar:
                    bar.console.print(f"epoch {epoch + 1}: " + ", ".join(
                        f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in rec.items()))
                meta = task.meta()
                meta["metrics"] = {"validation": val, "epoch": epoch + 1}
                save_checkpoint(run_dir / "last", model, meta)
                if best is None or val["score"] < best["score"]:
                    best = {**val, "epoch": epoch + 1}
                    save_checkpoint(run_dir / "best", model, meta)
            save_state(epoch + 1, 0)
            start_batch = 0
    finally:
        if bar:
            bar.stop()
    seconds = elapsed_before + time.perf_counter() - t0
    summary = {"best": best, "epochs": cfg.epochs, "seconds": seconds, "history": history, "curve": curve}
    if is_main:
        (run_dir / "history.json").write_text(json.dumps(summary, indent=2))
    if world > 1:
        torch.distributed.barrier()
    return summary
