"""2D -> 3D pose lifting: experiments, training task, evaluation and inference.

This module joins the pieces: :mod:`energy3d.data.lifting` (data), :mod:`energy3d.models.lifter`
(networks), :mod:`energy3d.train` (loop and checkpoints) and :mod:`energy3d.metrics`.

An experiment config (JSON in ``configs/``) has four sections::

    {"name": "ige4-gt",
     "data":  {... LiftDataConfig ...},
     "model": {... LifterConfig ...},
     "train": {... TrainConfig ...},
     "init_from": "runs/b128-1-gt/best"}      # IGE: start from a trained b128-1

Unknown keys anywhere are an error that names them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from energy3d.config import from_dict, load_json, to_dict
from energy3d.data.lifting import (
    LiftDataConfig, LiftingBatches, LiftingSet, input_points, load_lifting_split, to_normalized,
)
from energy3d.errors import InputError
from energy3d.losses import scaled_l2, unrolled_loss
from energy3d.metrics import mpjpe, p1a, pa_mpjpe, summarize
from energy3d.models.lifter import BaselineLifter, IGELifter, LifterConfig, build_lifter
from energy3d.skeleton import get_layout
from energy3d.train.checkpoint import load_weights, read_checkpoint_meta
from energy3d.train.loop import TrainConfig

MODEL_TYPES = ("baseline_lifter", "ige_lifter")
BONE_LENGTH_SUM_M = 3.54
"""Sum of the 16 h36m17 bone lengths of the Bandai training rig (metres; std 6 mm over frames)."""


def rescale_to_bone_length(poses: np.ndarray, layout, total: float = BONE_LENGTH_SUM_M) -> np.ndarray:
    """Scale camera-frame poses ``(N, J, 3)`` about the camera centre so their bones sum to ``total`` m.

    Lifting models are trained scale-invariantly (IGE-Net eq. 9), so their absolute size is
    arbitrary; scaling about the camera centre leaves the projection, and so the fit to the 2D
    input, unchanged.
    """
    L = sum(np.linalg.norm(poses[:, c] - poses[:, p], axis=-1) for p, c in layout.edges)
    return poses * (total / np.maximum(L, 1e-9))[:, None, None]


LICENSE_NOTE = ("Trained on the Bandai Namco Research Motion Dataset (CC BY-NC 4.0): the weights inherit its "
                "non-commercial terms; attribute Bandai Namco Research Inc.")


@dataclass(frozen=True)
class LiftExperiment:
    """A named lifting experiment (see module docstring)."""

    name: str = "lift"
    data: LiftDataConfig = field(default_factory=LiftDataConfig)
    model: LifterConfig = field(default_factory=LifterConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    init_from: str = ""
    val_limit: int = 4000


def load_experiment(path: str | Path, overrides: dict | None = None) -> LiftExperiment:
    """Read a lifting experiment JSON (``"kind": "lift"`` or no kind); ``init_from`` is relative to the cwd."""
    d = load_json(path)
    kind = d.pop("kind", "lift")
    if kind != "lift":
        raise InputError(f"{path}: experiment kind is {kind!r}, expected 'lift'")
    if overrides:
        d = _merge(d, overrides)
    return from_dict(LiftExperiment, d, where=str(path))


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def model_type(model) -> str:
    return "ige_lifter" if isinstance(model, IGELifter) else "baseline_lifter"


def _baseline_of(model) -> BaselineLifter:
    return model.init if isinstance(model, IGELifter) else model


def set_normalization(model, ds: LiftingSet) -> dict:
    """Fit the input/output standardisation of ``model`` on a training set (exact 2D)."""
    x = ds.normalized().reshape(len(ds), -1)
    y = torch.as_tensor(ds.joints_cam).reshape(len(ds), -1)
    stats = {"in_mean": x.mean(0), "in_std": x.std(0).clamp_min(1e-6),
             "out_mean": y.mean(0), "out_std": y.std(0).clamp_min(1e-6)}
    _baseline_of(model).set_normalization(**stats)
    return {k: v.tolist() for k, v in stats.items()}


def set_energy_stats(model: IGELifter, ds: LiftingSet, n: int = 20000) -> None:
    """Standardise the energy networks' inputs with features of true poses (exact 2D) of ``ds``."""
    idx = torch.linspace(0, len(ds) - 1, min(n, len(ds))).long()
    model.energy.set_feature_stats(torch.as_tensor(ds.joints_cam[idx]), ds.normalized()[idx])


class LiftingTask:
    """The lifting model family for :func:`energy3d.train.loop.fit`."""

    def __init__(self, exp: LiftExperiment, *, train_set: LiftingSet | None = None, val_set: LiftingSet | None = None):
        self.exp = exp
        torch.manual_seed(exp.train.seed)
        self.model = build_lifter(exp.model)
        self.train_set = train_set if train_set is not None else load_lifting_split(exp.data, "train")
        self.val_set = val_set if val_set is not None else load_lifting_split(exp.data, "val")
        if exp.init_from:
            meta = read_checkpoint_meta(exp.init_from, ("baseline_lifter",))
            cfg = from_dict(LifterConfig, meta["config"]["model"])
            if (cfg.width, cfg.blocks) != (exp.model.width, exp.model.blocks):
                raise InputError(f"init_from {exp.init_from}: it is b{cfg.width}-{cfg.blocks}, the config asks for "
                                 f"b{exp.model.width}-{exp.model.blocks}")
            load_weights(exp.init_from, _baseline_of(self.model))
        else:
            set_normalization(self.model, self.train_set)
        if isinstance(self.model, IGELifter):
            set_energy_stats(self.model, self.train_set)
        self._batches = {}
        x_val = input_points(self.val_set, exp.data.two_d, exp.data.noise, exp.data.seed)
        n = min(len(self.val_set), exp.val_limit)
        idx = torch.linspace(0, len(self.val_set) - 1, n).long()
        self.val_x = to_normalized(x_val[idx], torch.as_tensor(self.val_set.K[idx]))
        self.val_y = torch.as_tensor(self.val_set.joints_cam[idx])

    def _b(self, rank, world):
        if (rank, world) not in self._batches:
            self._batches[(rank, world)] = LiftingBatches(
                self.train_set, self.exp.train.batch_size, two_d=self.exp.data.two_d, noise=self.exp.data.noise,
                seed=self.exp.train.seed, rank=rank, world_size=world)
        return self._batches[(rank, world)]

    def num_batches(self, rank, world):
        return self._b(rank, world).num_batches()

    def batches(self, epoch, start, rank, world):
        return self._b(rank, world).epoch(epoch, start)

    def loss(self, net, batch):
        x, y = batch
        module = net.module if hasattr(net, "module") else net
        if isinstance(module, IGELifter):
            iterates = net(x, all_iterates=True)
            total, per = unrolled_loss(iterates, y, self.exp.train.step_weight_base)
            return total, {"final": per[-1]}
        pred = net(x)
        return scaled_l2(pred, y), {}

    @torch.no_grad()
    def validate(self, model):
        model.eval()
        pred = predict(model, self.val_x)
        e = p1a(pred, self.val_y).mean().item() * 1000
        return {"score": e, "val_p1a_mm": e,
                "val_pa_mpjpe_mm": pa_mpjpe(pred, self.val_y).mean().item() * 1000}

    def meta(self):
        return lifter_meta(self.model, self.exp)


def lifter_meta(model, exp: LiftExperiment) -> dict:
    lin, lout = get_layout(exp.model.input_layout), get_layout(exp.model.output_layout)
    return {
        "model_type": model_type(model),
        "config": to_dict(exp),
        "layouts": {"input": lin.to_json(), "output": lout.to_json()},
        "units": {"input": "normalised camera coordinates (p - c) / f", "output": "metres, camera frame (x right, y down, z forward)"},
        "parameters": sum(p.numel() for p in model.parameters()),
        "macs": model.macs(),
        "license": LICENSE_NOTE,
    }


def load_lifter(path: str | Path) -> tuple[torch.nn.Module, dict]:
    """Load a lifting checkpoint (``NAME.json`` + ``NAME.safetensors``) in eval mode on CPU."""
    meta = read_checkpoint_meta(path, MODEL_TYPES)
    try:
        exp = from_dict(LiftExperiment, meta["config"], where=f"{path} config")
    except KeyError:
        raise InputError(f"{path}: checkpoint has no config") from None
    model = build_lifter(exp.model)
    if model_type(model) != meta["model_type"]:
        raise InputError(f"{path}: config describes a {model_type(model)}, the checkpoint says {meta['model_type']}")
    load_weights(path, model)
    model.eval()
    return model, meta


@torch.no_grad()
def predict(model, x: torch.Tensor, *, batch_size: int = 4096, steps: int | None = None, all_iterates: bool = False):
    """Lift normalised 2D ``x (N, J2, 2)`` to camera-frame 3D ``(N, J, 3)`` in batches (eval mode).

    With ``all_iterates`` an IGE model returns ``(T+1, N, J, 3)``.
    """
    model.eval()
    outs = []
    for s in range(0, x.shape[0], batch_size):
        xb = x[s:s + batch_size]
        if isinstance(model, IGELifter):
            it = model.iterate(xb, steps=steps).iterates
            outs.append(torch.stack(it) if all_iterates else it[-1])
        else:
            y = model(xb)
            outs.append(y[None] if all_iterates else y)
    return torch.cat(outs, dim=1 if all_iterates else 0)


def evaluate_lifter(model, ds: LiftingSet, *, two_d: str = "gt", noise=None, seed: int = 0,
                    steps: int | None = None, scale_prior: bool = True) -> dict:
    """MPJPE, P1a and PA-MPJPE (mm) per action and averaged (see :func:`energy3d.metrics.summarize`).

    With ``scale_prior`` (default) predictions are first rescaled about the camera centre to the
    adult size :data:`BONE_LENGTH_SUM_M`, as ``energy3d lift`` does (no ground truth is used); this
    changes MPJPE only: P1a and PA-MPJPE are scale-invariant.
    """
    from energy3d.data.lifting import NoiseConfig

    p = input_points(ds, two_d, noise or NoiseConfig(), seed)
    x = to_normalized(p, torch.as_tensor(ds.K))
    pred = predict(model, x, steps=steps)
    if scale_prior:
        pred = torch.as_tensor(rescale_to_bone_length(pred.numpy(), ds.layout))
    gt = torch.as_tensor(ds.joints_cam)
    per_pose = {"mpjpe_mm": mpjpe(pred, gt) * 1000, "p1a_mm": p1a(pred, gt) * 1000, "pa_mpjpe_mm": pa_mpjpe(pred, gt) * 1000}
    out = summarize({k: v.numpy() for k, v in per_pose.items()}, list(ds.action))
    out["poses"] = len(ds)
    out["two_d"] = two_d
    out["mpjpe_scale"] = f"adult-size prior: bones sum to {BONE_LENGTH_SUM_M} m" if scale_prior else "raw model output"
    return out
