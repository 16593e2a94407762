"""``energy3d fit``: train any experiment config, resumably, into a run folder.

The experiment's ``"kind"`` picks its application (:data:`KINDS`): ``"lift"`` (the default when the
file names none) is :mod:`energy3d.tasks.lift`, ``"voxel"`` is :mod:`energy3d.tasks.voxel`, ``"pose"`` is :mod:`energy3d.tasks.structured`. The run
folder holds ``experiment.json`` (the config as run, overrides included), the training state
(resumed automatically) and the ``best`` / ``last`` checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from energy3d.config import experiment_kind, parse_overrides, to_dict
from energy3d.errors import InputError
from energy3d.tasks.lift import LiftingTask, load_lift_experiment
from energy3d.tasks.outputs import check_output_dir, write_json
from energy3d.tasks.structured import StructuredPoseTask, load_pose_experiment
from energy3d.tasks.voxel import VoxelTask, load_voxel_experiment
from energy3d.train.device import resolve_device
from energy3d.train.loop import fit

__all__ = ["KINDS", "FitResult", "load_any_experiment", "fit_experiment"]

KINDS = {
    "lift": (load_lift_experiment, lambda exp, progress: LiftingTask(exp)),
    "voxel": (load_voxel_experiment, lambda exp, progress: VoxelTask(exp, progress=progress)),
    "pose": (load_pose_experiment, lambda exp, progress: StructuredPoseTask(exp, progress=progress)),
}
"""Experiment kind -> (loader ``(path, overrides) -> experiment``, task factory ``(experiment, progress) -> Task``)."""


@dataclass
class FitResult:
    """How a :func:`fit_experiment` call ended."""

    run: Path
    kind: str
    stopped: bool
    best: dict | None
    seconds: float


def load_any_experiment(path: str | Path, overrides=None):
    """``(kind, experiment)`` of an experiment JSON; ``overrides`` is a nested dict or ``--set`` items."""
    kind = experiment_kind(path)
    if kind not in KINDS:
        raise InputError(f"{path}: unknown experiment kind {kind!r} (known: {', '.join(KINDS)})")
    if isinstance(overrides, (list, tuple)):
        overrides = parse_overrides(overrides)
    return kind, KINDS[kind][0](path, overrides)


def fit_experiment(config: str | Path, *, overrides=None, out: str | Path | None = None, restart: bool = False,
                   progress: bool = True, stop_after: int | None = None, device: str = "cpu") -> FitResult:
    """Train the experiment ``config`` describes (resuming a run folder's saved state unless ``restart``).

    The config is fully validated (keys and value types) before the run folder is created, so a
    bad config leaves nothing behind.

    Args:
        config: experiment JSON.
        overrides: nested dict or ``["train.epochs=3", ...]`` laid over the file's values.
        out: run folder (default ``runs/<name>``).
        restart: ignore saved state.
        progress: show a progress bar.
        stop_after: stop after this many batches (tests of resume).
        device: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``, checked before the run folder is made; the task
            builds its model and data on the CPU and :func:`energy3d.train.loop.fit` moves the
            model and each batch there (under ``torchrun``, ``cuda`` means ``cuda:LOCAL_RANK``).
    """
    kind, exp = load_any_experiment(config, overrides)
    resolve_device(device)
    run = check_output_dir(Path(out) if out else Path("runs") / exp.name)
    write_json(run / "experiment.json", {"kind": kind, **to_dict(exp)})
    task = KINDS[kind][1](exp, progress)
    summary = fit(task, exp.train, run, resume=not restart, progress=progress, stop_after_batches=stop_after,
                  device=device)
    return FitResult(run=run, kind=kind, stopped=bool(summary.get("stopped")), best=summary.get("best"),
                     seconds=float(summary.get("seconds", 0.0)))
