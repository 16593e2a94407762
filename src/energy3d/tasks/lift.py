"""2D -> 3D pose lifting (IGE-Net §5): experiments, training task, evaluation and inference.

This module joins the pieces: :mod:`energy3d.data.lifting` (data), :mod:`energy3d.models.lifter`
(networks), :mod:`energy3d.train` (loop and checkpoints) and :mod:`energy3d.metrics`. It is what
``energy3d fit`` / ``evaluate`` / ``lift`` call for lifting models:

* :class:`LiftingTask`: the training task of :func:`energy3d.train.loop.fit`;
* :func:`evaluate_lifter` (a loaded model on a :class:`~energy3d.data.lifting.LiftingSet`),
  :func:`evaluate_motion` (a checkpoint on Bandai / BVH / npz motion seen by virtual cameras),
  :func:`evaluate_h36m_files` (a checkpoint on Human3.6M with a published 2D file);
* :func:`lift_keypoints` (arrays in, camera-frame 3D out) and :func:`lift_file` (a keypoint file
  in, ``poses.json``, ``poses.npz``, ``lift.png`` and ``viewer.html`` out).

An experiment config (JSON in ``configs/``) has four sections::

    {"name": "ige4-gt",
     "data":  {... LiftDataConfig ...},
     "model": {... LifterConfig ...},
     "train": {... TrainConfig ...},
     "init_from": "runs/b128-1-gt/best"}      # IGE: start from a trained b128-1

Unknown keys anywhere are an error that names them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from energy3d.config import from_dict, load_experiment, to_dict
from energy3d.data.gltf_export import MOTION_SUFFIXES
from energy3d.data.lifting import (
    LiftDataConfig, LiftingBatches, LiftingSet, NoiseConfig, build_lifting_set, input_points, load_lifting_split,
    to_normalized,
)
from energy3d.errors import InputError
from energy3d.losses import scaled_l2, unrolled_loss
from energy3d.metrics import mpjpe, p1a, pa_mpjpe, summarize
from energy3d.models.lifter import BaselineLifter, IGELifter, LifterConfig, build_lifter
from energy3d.skeleton import convert, get_layout
from energy3d.train.checkpoint import load_weights, read_checkpoint_meta
from energy3d.train.device import module_device, resolve_device
from energy3d.train.loop import TrainConfig, progress_bar

MODEL_TYPES = ("baseline_lifter", "ige_lifter")
BONE_LENGTH_SUM_M = 3.54
"""Sum of the 16 h36m17 bone lengths of the Bandai training rig (metres; std 6 mm over frames)."""


def rescale_to_bone_length(poses, layout, total: float = BONE_LENGTH_SUM_M):
    """Scale camera-frame poses ``(N, J, 3)`` about the camera centre so their bones sum to ``total`` m.

    Lifting models are trained scale-invariantly (IGE-Net eq. 9), so their absolute size is
    arbitrary; scaling about the camera centre leaves the projection, and so the fit to the 2D
    input, unchanged.

    Args:
        poses: ``(N, J, 3)`` numpy array or tensor (a tensor on any device, traceable: the
            TorchScript export runs this on its output).
        layout: the poses' joint layout (its ``edges`` are the bones).
        total: the bones' sum after scaling, metres.

    Returns:
        The scaled poses, of the input's type (and device).
    """
    if poses.ndim != 3 or poses.shape[-2:] != (layout.num_joints, 3):
        raise InputError(f"rescale_to_bone_length: expected poses of shape (N, {layout.num_joints}, 3) in layout "
                         f"{layout.name}, got {tuple(poses.shape)}")
    if isinstance(poses, torch.Tensor):
        L = sum(torch.linalg.vector_norm(poses[:, c] - poses[:, p], dim=-1) for p, c in layout.edges)
        return poses * (total / L.clamp_min(1e-9))[:, None, None]
    L = sum(np.linalg.norm(poses[:, c] - poses[:, p], axis=-1) for p, c in layout.edges)
    return poses * (total / np.maximum(L, 1e-9))[:, None, None]


SOURCE_LICENSES = {
    "bandai": "Bandai Namco Research Motion Dataset (CC BY-NC 4.0: non-commercial; attribute Bandai Namco Research Inc.)",
    "hdm05": "HDM05 motion capture (CC BY-SA 3.0: share alike; cite HDM05 tech report CG-2007-2, 'The data used in this "
             "project was obtained from HDM05')",
    "cmu": "CMU Graphics Lab Motion Capture Database (free for any use; 'The data used in this project was obtained from "
           "mocap.cs.cmu.edu. The database was created with funding from NSF EIA-0196217.')",
}
"""Licence and attribution of each named motion source."""


def training_motion(data: LiftDataConfig) -> dict:
    """What a lifter was trained on and under which terms: sources with weights, 2D geometry, licence text."""
    sources = data.source_weights()
    terms = [SOURCE_LICENSES.get(n, f"{n} (user data: its own terms)") for n, _ in sources]
    names = {n for n, _ in sources}
    if "bandai" in names:
        summary = "the weights inherit the Bandai data's non-commercial terms (CC BY-NC 4.0)"
        if "hdm05" in names:
            summary += " and HDM05's share-alike terms (CC BY-SA 3.0)"
    elif "hdm05" in names:
        summary = "the weights inherit HDM05's share-alike terms (CC BY-SA 3.0)"
    else:
        summary = "see the terms of each source"
    return {"sources": [{"name": n, "weight": w, "train_fps": data.train_fps.get(n, data.fps)} for n, w in sources],
            "keypoints": data.keypoints,
            "two_d": data.two_d, "license": f"Trained on: {'; '.join(terms)}. {summary[0].upper()}{summary[1:]}."}


@dataclass(frozen=True)
class LiftExperiment:
    """A named lifting experiment (see module docstring)."""

    name: str = "lift"
    data: LiftDataConfig = field(default_factory=LiftDataConfig)
    model: LifterConfig = field(default_factory=LifterConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    init_from: str = ""
    val_limit: int = 4000


def load_lift_experiment(path: str | Path, overrides: dict | None = None) -> LiftExperiment:
    """Read a lifting experiment JSON (``"kind": "lift"`` or no kind); ``init_from`` is relative to the cwd."""
    return load_experiment(path, LiftExperiment, "lift", overrides)


def model_type(model) -> str:
    return "ige_lifter" if isinstance(model, IGELifter) else "baseline_lifter"


def _baseline_of(model) -> BaselineLifter:
    return model.init if isinstance(model, IGELifter) else model


def _exact_inputs(ds: LiftingSet, data: LiftDataConfig | None) -> torch.Tensor:
    """Noise-free normalised inputs of ``ds`` in the 2D geometry the config trains on (rig or detector)."""
    if data is None or data.keypoints == "rig":
        return ds.normalized()
    p = input_points(ds, "gt", data.noise, data.seed, keypoints=data.keypoints, markers=data.markers)
    return to_normalized(p, torch.as_tensor(ds.K))


def set_normalization(model, ds: LiftingSet, data: LiftDataConfig | None = None) -> dict:
    """Fit the input/output standardisation of ``model`` on a training set (noise-free 2D of ``data``'s geometry)."""
    x = _exact_inputs(ds, data).reshape(len(ds), -1)
    y = torch.as_tensor(ds.joints_cam).reshape(len(ds), -1)
    stats = {"in_mean": x.mean(0), "in_std": x.std(0).clamp_min(1e-6),
             "out_mean": y.mean(0), "out_std": y.std(0).clamp_min(1e-6)}
    _baseline_of(model).set_normalization(**stats)
    return {k: v.tolist() for k, v in stats.items()}


def set_energy_stats(model: IGELifter, ds: LiftingSet, n: int = 20000, data: LiftDataConfig | None = None) -> None:
    """Standardise the energy networks' inputs with features of true poses (noise-free 2D) of ``ds``."""
    idx = torch.linspace(0, len(ds) - 1, min(n, len(ds))).long()
    sub = ds.subset(idx.numpy())
    model.energy.set_feature_stats(torch.as_tensor(sub.joints_cam), _exact_inputs(sub, data))


class LiftingTask:
    """The lifting model family for :func:`energy3d.train.loop.fit`."""

    def __init__(self, exp: LiftExperiment, *, train_set: LiftingSet | None = None, val_set: LiftingSet | None = None):
        self.exp = exp
        torch.manual_seed(exp.train.seed)
        self.model = build_lifter(exp.model)
        self.train_set = train_set if train_set is not None else load_lifting_split(exp.data, "train")
        self.val_set = val_set if val_set is not None else load_lifting_split(exp.data, "val")
        whole = False  # init_from a model of the config's own type and size: fine-tune all of it
        if exp.init_from:
            meta = read_checkpoint_meta(exp.init_from, ("baseline_lifter", "ige_lifter"))
            cfg = from_dict(LifterConfig, meta["config"]["model"])
            if (cfg.width, cfg.blocks) != (exp.model.width, exp.model.blocks):
                raise InputError(f"init_from {exp.init_from}: it is b{cfg.width}-{cfg.blocks}, the config asks for "
                                 f"b{exp.model.width}-{exp.model.blocks}")
            if meta["model_type"] == "ige_lifter":
                if not isinstance(self.model, IGELifter) or cfg.steps != exp.model.steps:
                    raise InputError(f"init_from {exp.init_from}: an IGE lifter with {cfg.steps} steps initialises "
                                     f"only the same model (the config asks for {exp.model.type} with "
                                     f"{exp.model.steps} steps); use a b{cfg.width}-{cfg.blocks} baseline instead")
                load_weights(exp.init_from, self.model)
                whole = True
            else:
                load_weights(exp.init_from, _baseline_of(self.model))
        else:
            set_normalization(self.model, self.train_set, exp.data)
        if isinstance(self.model, IGELifter) and not whole:
            set_energy_stats(self.model, self.train_set, data=exp.data)
        self._batches = {}
        x_val = input_points(self.val_set, exp.data.two_d, exp.data.noise, exp.data.seed, keypoints=exp.data.keypoints,
                             markers=exp.data.markers)
        n = min(len(self.val_set), exp.val_limit)
        idx = torch.linspace(0, len(self.val_set) - 1, n).long()
        self.val_x = to_normalized(x_val[idx], torch.as_tensor(self.val_set.K[idx]))
        self.val_y = torch.as_tensor(self.val_set.joints_cam[idx])

    def _b(self, rank, world):
        if (rank, world) not in self._batches:
            d = self.exp.data
            self._batches[(rank, world)] = LiftingBatches(
                self.train_set, self.exp.train.batch_size, two_d=d.two_d, noise=d.noise, seed=self.exp.train.seed,
                rank=rank, world_size=world, keypoints=d.keypoints, markers=d.markers, proportions=d.proportions)
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
        "training_motion": (motion := training_motion(exp.data)),
        "license": motion["license"],
    }


def load_lifter(path: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """Load a lifting checkpoint (``NAME.json`` + ``NAME.safetensors``) in eval mode.

    The weights are read on the CPU, then the model is moved to ``device`` (see
    :func:`energy3d.train.device.resolve_device`).

    Returns:
        ``(model, meta)``: the model on ``device`` and the checkpoint's JSON description.
    """
    meta = read_checkpoint_meta(path, MODEL_TYPES)
    try:
        exp = from_dict(LiftExperiment, meta["config"], where=f"{path} config")
    except KeyError:
        raise InputError(f"{path}: checkpoint has no config") from None
    model = build_lifter(exp.model)
    if model_type(model) != meta["model_type"]:
        raise InputError(f"{path}: config describes a {model_type(model)}, the checkpoint says {meta['model_type']}")
    load_weights(path, model)
    model.to(resolve_device(device)).eval()
    return model, meta


@torch.no_grad()
def predict(model, x: torch.Tensor, *, batch_size: int = 4096, steps: int | None = None, all_iterates: bool = False,
            progress: bool = False):
    """Lift normalised 2D ``x (N, J2, 2)`` to camera-frame 3D ``(N, J, 3)`` in batches (eval mode).

    Each batch is moved to the model's device (:func:`energy3d.train.device.module_device`) and
    its result back to the CPU, so the model may sit on any device; the result is always on the
    CPU. ``N = 0`` gives an empty result. With ``all_iterates`` an IGE model returns
    ``(T+1, N, J, 3)``.
    """
    model.eval()
    dev = module_device(model)
    outs = []
    with progress_bar(progress, "lifting", total=x.shape[0]) as advance:
        for s in range(0, max(x.shape[0], 1), batch_size):  # N = 0: one empty batch gives the shape
            xb = x[s:s + batch_size]
            outs.append(_predict_batch(model, xb.to(dev), steps, all_iterates).cpu())
            advance(xb.shape[0])
    return torch.cat(outs, dim=1 if all_iterates else 0)


def _predict_batch(model, xb, steps, all_iterates):
    if isinstance(model, IGELifter):
        it = model.iterate(xb, steps=steps).iterates
        return torch.stack(it) if all_iterates else it[-1]
    y = model(xb)
    return y[None] if all_iterates else y


def evaluate_lifter(model, ds: LiftingSet, *, two_d: str = "gt", noise=None, seed: int = 0,
                    steps: int | None = None, scale_prior: bool = True, progress: bool = False,
                    keypoints: str = "rig", markers=None) -> dict:
    """MPJPE, P1a and PA-MPJPE (mm) per action and averaged (see :func:`energy3d.metrics.summarize`).

    With ``scale_prior`` (default) predictions are first rescaled about the camera centre to the
    adult size :data:`BONE_LENGTH_SUM_M`, as ``energy3d lift`` does (no ground truth is used); this
    changes MPJPE only: P1a and PA-MPJPE are scale-invariant.
    """
    p = input_points(ds, two_d, noise or NoiseConfig(), seed, keypoints=keypoints, markers=markers)
    x = to_normalized(p, torch.as_tensor(ds.K))
    pred = predict(model, x, steps=steps, progress=progress)
    if scale_prior:
        pred = torch.as_tensor(rescale_to_bone_length(pred.numpy(), ds.layout))
    gt = torch.as_tensor(ds.joints_cam)
    per_pose = {"mpjpe_mm": mpjpe(pred, gt) * 1000, "p1a_mm": p1a(pred, gt) * 1000, "pa_mpjpe_mm": pa_mpjpe(pred, gt) * 1000}
    out = summarize({k: v.numpy() for k, v in per_pose.items()}, list(ds.action))
    out["poses"] = len(ds)
    out["two_d"] = two_d
    out["keypoints"] = keypoints
    out["mpjpe_scale"] = f"adult-size prior: bones sum to {BONE_LENGTH_SUM_M} m" if scale_prior else "raw model output"
    return out


# ----------------------------------------------------------------------------- evaluation on motion sources

BANDAI_SOURCES = ("bandai", "bandai-test", "bandai-val")
"""Names of the Bandai splits (not files); ``hdm05`` and ``cmu`` name their test splits likewise."""


def evaluate_motion(checkpoint: str | Path, motion: str = "bandai", *, two_d: str = "gt", units=None,
                    fps: float = 10.0, steps: int | None = None, seed: int = 0, progress: bool = False,
                    keypoints: str | None = None, device: str | torch.device = "cpu", joint_map=None,
                    asf=None, markers=None) -> dict:
    """MPJPE / P1a / PA-MPJPE (mm) of a lifting checkpoint on motion seen by virtual cameras.

    Args:
        checkpoint: lifting checkpoint ``NAME.json``.
        motion: a named source's test split (``"bandai"``, ``"hdm05"``, ``"cmu"``, also written
            ``"bandai-test"`` ...), its validation split (``"bandai-val"``, ``"hdm05-val"``,
            ``"cmu-val"``), or any path :func:`energy3d.data.sources.load_motion` reads (Bandai /
            Human3.6M npz, BVH or AMC file or folder: every clip).
        two_d: ``"gt"`` (exact projections) or ``"noisy"`` (the checkpoint's detector-noise model).
        units: BVH/AMC units (see :func:`energy3d.data.bvh.read_bvh`); ``None`` detects them.
        joint_map: BVH/AMC joint map for rigs not recognised by name (:func:`energy3d.data.mocap.read_joint_map`).
        asf: the ASF skeleton of AMC clips (default: the one beside each clip).
        fps: frame rate the motion is subsampled to.
        steps: IGE inner steps (default: as trained).
        seed: seed of the virtual cameras and the noise.
        keypoints: 2D geometry, ``"rig"`` or ``"detector"`` (default: what the checkpoint trained on).
        device: where the model runs (``"cpu"``, ``"cuda"``, ``"cuda:N"``); metrics are computed on the CPU.
        markers: detector keypoint offsets (:class:`~energy3d.data.augment.MarkerConfig`) of the
            ``"detector"`` geometry (default: the checkpoint's), e.g. to test several models on one 2D.

    Returns:
        :func:`evaluate_lifter`'s dict with ``source``, ``checkpoint`` and ``model_type`` added, and for
        motion files ``motion_notes`` (what the reader assumed) and ``skipped`` (files left out, with why).
    """
    from energy3d.data.lifting import PERSON_SPLITS
    from energy3d.data.sources import load_motion

    if two_d not in ("gt", "noisy"):
        raise InputError(f"two_d must be 'gt' or 'noisy', got {two_d!r}")
    device = resolve_device(device)
    model, meta = load_lifter(checkpoint, device)
    data_cfg = from_dict(LiftDataConfig, meta["config"]["data"])
    name, _, split = str(motion).partition("-")
    m = None
    if name in ("bandai", *PERSON_SPLITS) and split in ("", "test", "val"):
        split = split or "test"
        ds = load_lifting_split(LiftDataConfig(source=name, fps=fps, seed=seed), split)
        source = f"{name} {split} split" + (f" (people {', '.join(PERSON_SPLITS[name][split])})" if name in PERSON_SPLITS
                                            else "") + f", {fps:g} fps"
    else:
        m = load_motion(motion, units=units, fps=fps, joint_map=joint_map, asf=asf)
        ds = build_lifting_set(m, LiftDataConfig(fps=fps, seed=seed), seed_offset=3)
        source = f"{motion} ({len(m.clips)} clips, {fps:g} fps)"
    geometry = keypoints or data_cfg.keypoints
    res = evaluate_lifter(model, ds, two_d=two_d, noise=data_cfg.noise, seed=seed, steps=steps, progress=progress,
                          keypoints=geometry, markers=data_cfg.markers if markers is None else markers)
    if m is not None:
        res.update(motion_notes=list(m.notes), skipped=[list(x) for x in m.skipped])
    res.update(source=source, checkpoint=str(checkpoint), model_type=meta["model_type"])
    return res


def evaluate_h36m(model, ev, *, steps: int | None = None, scale_prior: bool = True) -> dict:
    """MPJPE, P1a and PA-MPJPE (mm) of ``model`` on a :class:`~energy3d.data.h36m.H36MEvalSet`, per action.

    Computed by :func:`evaluate_lifter` (same conventions, same result layout) on the file's 2D
    keypoints. In the world frame (no extrinsics) ``mpjpe_mm`` and ``p1a_mm`` are ``None``
    everywhere and ``not_reported`` / ``warning`` say why.

    Returns:
        ``evaluate_lifter``'s dict with ``two_d = "file"`` and ``frame``, ``intrinsics``, ``fps``,
        ``subjects``, ``truncated``, ``reprojection_px`` added.
    """
    from energy3d.data.h36m import NOT_REPORTED_WARNING
    from energy3d.skeleton import H36M17

    ds = LiftingSet(ev.joints, ev.points_2d, ev.K, ev.action, H36M17)
    res = evaluate_lifter(model, ds, two_d="gt", steps=steps, scale_prior=scale_prior)
    res["two_d"] = "file"
    res["frame"] = ev.frame
    if ev.frame != "camera":
        for group in [*res["per_group"].values(), res["average"], res["all"]]:
            group["mpjpe_mm"] = None
            group["p1a_mm"] = None
        res["not_reported"] = ["mpjpe_mm", "p1a_mm"]
        res["warning"] = NOT_REPORTED_WARNING
    res.update({"intrinsics": ev.intrinsics, "fps": ev.fps, "subjects": list(ev.subjects),
                "truncated": ev.truncated, "reprojection_px": ev.reprojection_px})
    return res


def evaluate_h36m_files(checkpoint: str | Path, motion_3d: str | Path, two_d_file: str | Path, *, cameras=None,
                        fps: float = 10.0, steps: int | None = None,
                        device: str | torch.device = "cpu") -> tuple[dict, list[str]]:
    """Evaluate a lifting checkpoint on Human3.6M test subjects with a published 2D file.

    Pairs ``motion_3d`` (``positions_3d``) with ``two_d_file`` (``positions_2d``) by
    :func:`energy3d.data.h36m.load_h36m_eval` and scores with :func:`evaluate_h36m`; the model
    runs on ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:N"``), the metrics on the CPU.

    Returns:
        ``(result, notes)``: the result dict (``source``, ``two_d_file``, ``cameras``,
        ``checkpoint``, ``model_type`` added) and the warnings and notes for the user.
    """
    from energy3d.data.h36m import MAX_FRAME_MISMATCH, NOT_REPORTED_WARNING, load_h36m_eval

    if str(motion_3d) in BANDAI_SOURCES:
        raise InputError("--two-d-file needs --motion set to the matching Human3.6M 3D npz (key positions_3d, "
                         "e.g. data_3d_h36m.npz)")
    device = resolve_device(device)
    model, meta = load_lifter(checkpoint, device)
    in_layout = get_layout(meta["layouts"]["input"]["name"]).name
    out_layout = get_layout(meta["layouts"]["output"]["name"]).name
    if out_layout != "h36m17":
        raise InputError(f"{checkpoint}: the model outputs layout {out_layout}; Human3.6M ground truth is h36m17")
    ev = load_h36m_eval(motion_3d, two_d_file, cameras=cameras, fps=fps, subjects="test", input_layout=in_layout)
    notes = []
    if ev.frame != "camera":
        notes.append(f"warning: {NOT_REPORTED_WARNING}")
    if cameras is None:
        notes.append(f"warning: intrinsics are {ev.intrinsics}")
    if ev.truncated:
        notes.append(f"note: {len(ev.truncated)} 2D/3D pairs differed by at most {MAX_FRAME_MISMATCH} frames "
                     "and were cut to the shorter (listed under 'truncated' in the JSON)")
    res = evaluate_h36m(model, ev, steps=steps)
    res["source"] = (f"Human3.6M {Path(motion_3d).name} + {Path(two_d_file).name} "
                     f"({', '.join(ev.subjects)}; {ev.fps:g} fps)")
    res.update(two_d_file=str(two_d_file), cameras=None if cameras is None else str(cameras),
               checkpoint=str(checkpoint), model_type=meta["model_type"])
    return res, notes


# ----------------------------------------------------------------------------- inference on keypoint files

BUNDLED_LIFTER = Path(__file__).resolve().parents[1] / "assets" / "ige8-lifter.json"
"""The bundled IGE-8 lifter (trained on Bandai motion with the detector-noise model)."""
CAMERA_FRAME = "camera frame, metres: x right, y down, z forward (OpenCV); origin at the camera centre"


def lift_centred(lift: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, layout,
                 total: float = BONE_LENGTH_SUM_M) -> torch.Tensor:
    """Lift people anywhere in the image: a virtual camera turned towards each, then adult size.

    The lifting data shows people near the image centre, so each person is lifted in a virtual
    camera turned towards them (:func:`energy3d.geometry.camera.centring_rotation`, exact for a
    pinhole camera), the result rotated back, and rescaled about the camera centre to an adult's
    size (:func:`rescale_to_bone_length`; the projection is unchanged). The one definition of what
    ``energy3d lift`` returns: :func:`lift_keypoints` and the TorchScript export
    (:class:`energy3d.tasks.export.LifterExport`) both call it. Torch ops only, traceable,
    batch-size free, ``N = 0`` included.

    Args:
        lift: ``(N, J_in, 2) -> (N, J, 3)``, the raw lifter (e.g. :func:`predict` of a model); its
            result must be on ``x``'s device.
        x: ``(N, J_in, 2)`` normalised camera coordinates ``(p - c) / f``, finite.
        layout: the output layout (a :class:`~energy3d.skeleton.Skeleton`).
        total: bone-length sum of the result, metres.

    Returns:
        ``(N, J, 3)`` camera-frame metres (x right, y down, z forward).
    """
    from energy3d.geometry.camera import centring_rotation, rotate_normalized

    R = centring_rotation(x)
    return rescale_to_bone_length(lift(rotate_normalized(x, R)) @ R, layout, total)


@torch.no_grad()
def lift_keypoints(model, x: torch.Tensor, layout) -> torch.Tensor:
    """Lift normalised 2D ``x (N, J_in, 2)`` of people anywhere in the image to camera-frame 3D ``(N, J, 3)``.

    :func:`lift_centred` with :func:`predict`: the model runs on its own device, the rotations and
    the rescale on ``x``'s; the result is on ``x``'s device.

    Args:
        model: a loaded lifter (on any device).
        x: ``(N, J_in, 2)`` normalised camera coordinates ``(p - c) / f``, finite.
        layout: the model's output layout (a :class:`~energy3d.skeleton.Skeleton`).
    """
    return lift_centred(lambda xr: predict(model, xr).to(xr.device), x, layout)


REPROJECTION_WARN = 0.10
"""``energy3d lift`` warns about a person whose lifted 3D, projected with the intrinsics, lies a
median of more than this fraction of the person's 2D bounding-box diagonal from the input
keypoints (:func:`reprojection_px`). Measured with the bundled IGE-8 lifter (ratio: median / 99th
percentile / worst): 2000 Bandai test poses at 2 fps, exact 2D 0.009 / 0.031 / 0.051; with the
training detector-noise model 0.017 / 0.038 / 0.059; twice its jitter and outliers 0.025 / 0.048 /
0.081; four times its jitter 0.039 / 0.074 / 0.105 (1 pose in 2000 above 0.10);
the hand-written two-person example (now ``tests/fixtures/keypoints_two_people.json``) 0.035 and 0.017, with Gaussian noise of 5 % of the diagonal
worst 0.095 of 200. Inputs that are not a pose in the layout: joints shuffled 0.20 median (99.3 %
above 0.10), uniform random points in the person's box 0.25 (99.8 % above)."""


def reprojection_px(poses: np.ndarray, K: np.ndarray, points_2d: np.ndarray, used: np.ndarray | None = None) -> np.ndarray:
    """Per person, the median pixel distance between the projected 3D joints and the 2D keypoints.

    Args:
        poses: ``(N, J, 3)`` camera-frame joints (x right, y down, z forward), any unit.
        K: ``(N, 3, 3)`` or ``(3, 3)`` pinhole intrinsics in pixels.
        points_2d: ``(N, J, 2)`` keypoints in pixels, the same layout as ``poses``.
        used: optional ``(N, J)`` bool, the joints to compare (e.g. detected, not imputed); default all.

    Returns:
        ``(N,)`` float64 median over the used joints of ``|K X / Z - p|`` in pixels; ``inf`` for a
        person with a used joint at or behind the camera (``Z <= 0``), ``nan`` when no joint is used.

    Example:
        >>> X = np.array([[[0.0, 0.0, 2.0], [0.5, 0.0, 2.0]]])
        >>> K = np.array([[100.0, 0, 50], [0, 100.0, 50], [0, 0, 1]])
        >>> reprojection_px(X, K, np.array([[[50.0, 50.0], [75.0, 53.0]]])).tolist()
        [1.5]
    """
    poses = np.asarray(poses, dtype=np.float64)
    pts = np.asarray(points_2d, dtype=np.float64)
    K = np.broadcast_to(np.asarray(K, dtype=np.float64), (poses.shape[0], 3, 3))
    if poses.ndim != 3 or poses.shape[-1] != 3 or pts.shape != poses.shape[:2] + (2,):
        raise InputError(f"reprojection_px: expected poses (N, J, 3) and points_2d (N, J, 2), "
                         f"got {poses.shape} and {pts.shape}")
    used = np.ones(poses.shape[:2], bool) if used is None else np.asarray(used, bool)
    z = poses[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        xy = poses[..., :2] / z[..., None]
    proj = np.einsum("nij,nkj->nki", K[:, :2, :2], xy) + K[:, None, :2, 2]
    dist = np.linalg.norm(proj - pts, axis=-1)
    out = np.full(poses.shape[0], np.nan)
    for n in range(poses.shape[0]):
        if not used[n].any():
            continue
        out[n] = np.inf if (z[n][used[n]] <= 0).any() else float(np.median(dist[n][used[n]]))
    return out


def _image_sizes(kp, image_size, source) -> list[tuple[float, float]]:
    if image_size:
        w, h = image_size
        if not (np.isfinite(w) and np.isfinite(h) and w > 0 and h > 0):
            raise InputError(f"--image-size must be positive and finite, got {w} x {h}")
        return [(float(w), float(h))] * len(kp)
    if kp.image_sizes is not None:
        return [tuple(map(float, s)) for s in kp.image_sizes]
    if kp.image_size is not None:
        return [tuple(map(float, kp.image_size))] * len(kp)
    raise InputError(f"{source}: the file does not give the image size; pass --image-size W H")


def _finite_or_none(v, digits: int):
    return round(float(v), digits) if np.isfinite(v) else None


def _reprojection_check(poses, K, pts, kp_in, in_layout, out_layout, warnings: list) -> tuple[np.ndarray, np.ndarray]:
    """Per-person reprojection error and 2D size (pixels) of a lift; appends a warning above :data:`REPROJECTION_WARN`.

    ``poses (N, J_out, 3)`` are compared in the model's input layout (converted by joint names when
    the layouts differ) with ``pts (N, J_in, 2)`` on the joints detected in the input (imputed
    joints are left out). Returns ``(reprojection_px (N,), size_px (N,))``.
    """
    used = kp_in.confidence > 0
    diag = np.array([np.linalg.norm(p[u].max(0) - p[u].min(0)) for p, u in zip(pts, used)])
    try:
        poses_in = poses if out_layout.name == in_layout.name else convert(poses, out_layout, in_layout)
    except InputError:
        return np.full(len(poses), np.nan), diag  # the output layout cannot give the input's joints
    reproj = reprojection_px(poses_in, K, pts, used)
    for name, r, d in zip(kp_in.names, reproj, diag):
        if np.isnan(r) or r <= REPROJECTION_WARN * d:  # inf (a joint at or behind the camera) is warned about
            continue
        warnings.append(
            f"{name}: the lifted 3D does not fit the input: its projection lies a median {r:.1f} px from the "
            f"keypoints, {r / d:.0%} of the person's {d:.0f} px size (more than {REPROJECTION_WARN:.0%}); the "
            "2D is unlike the poses the model knows (joint order, layout, focal length?)")
    return reproj, diag


@dataclass
class LiftResult:
    """What :func:`lift_file` wrote: the output folder, the files, how many people, and warnings."""

    out: Path
    files: list
    people: int
    warnings: list = field(default_factory=list)
    seconds: dict = field(default_factory=dict)


def _start_lift(out, focal, max_plot, device, bvh, checkpoint, horizon=None):
    """The checks and loading shared by :func:`lift_file` and :func:`lift_media`, all before any work:
    option values, the output folder and BVH path writable, the device, the checkpoint."""
    from energy3d.data.gravity import horizon_up
    from energy3d.tasks.outputs import check_output_dir, check_output_file

    if focal is not None and not (np.isfinite(focal) and focal > 0):
        raise InputError(f"--focal must be a positive finite number of pixels, got {focal}")
    if horizon is not None:
        horizon_up(horizon, np.eye(3))  # two distinct finite points, checked before any work
    if max_plot < 1:
        raise InputError(f"--max-plot must be >= 1, got {max_plot}")
    device = resolve_device(device)
    out = check_output_dir(out, keep=False)  # made when the results are written
    bvh = None if bvh is None else check_output_file(bvh, suffixes=MOTION_SUFFIXES)
    ckpt = Path(checkpoint) if checkpoint else BUNDLED_LIFTER
    model, meta = load_lifter(ckpt, device)
    return out, bvh, ckpt, model, meta


def lift_file(source: str | Path, out: str | Path, *, layout: str | None = None, image_size=None,
              focal: float | None = None, checkpoint: str | Path | None = None, max_plot: int = 4,
              device: str | torch.device = "cpu", bvh: str | Path | None = None, horizon=None) -> LiftResult:
    """``energy3d lift``: keypoint file -> 3D joints (JSON + npz), a PNG and the HTML viewer.

    Steps: read the keypoints (COCO / OpenPose JSON, npz), check them against the image
    (:func:`energy3d.data.keypoints.check_keypoints_in_image`: most joints far outside the image or
    all on one pixel is an error, some joints outside a warning), convert them to the model's input
    layout (h36m17: pelvis, thorax, spine and head top are derived, see
    :mod:`energy3d.skeleton.layouts`), impute zero-confidence joints from their nearest visible
    neighbour in the kinematic tree (:func:`energy3d.data.keypoints.impute_missing`; a person with
    fewer than half of the joints detected is an error), normalise with the intrinsics, lift with
    :func:`lift_keypoints`, measure each person's reprojection error (:func:`reprojection_px`,
    ``reprojection_px`` in ``poses.json``; a warning above :data:`REPROJECTION_WARN` of the person's
    2D size), and write every output at once (:func:`energy3d.tasks.outputs.atomic_outputs`).

    Intrinsics: the principal point is the image centre; the focal length is ``focal`` or
    ``1.2 * max(W, H)`` pixels. The image size comes from the file (COCO ``images``, npz
    ``image_size``) or ``image_size``; without either, an error.

    Args:
        source: COCO keypoints JSON, OpenPose JSON file or folder, or npz of ``(N, J, 2)``.
        out: output folder (created; checked writable before the work).
        layout: joint layout of the input when the file does not say (``coco17``, ``openpose25``, ...).
        image_size: ``(W, H)`` pixels, if the file has none.
        focal: focal length in pixels.
        checkpoint: lifting checkpoint (default: :data:`BUNDLED_LIFTER`).
        max_plot: people drawn in the PNG.
        device: where the model runs (``"cpu"``, ``"cuda"``, ``"cuda:N"``); checked before anything is written.
        horizon: ``(x1, y1, x2, y2)`` pixels, two points on the image's horizon: the world frame
            (``joints_world``, the BVH) and the camera's pitch/roll then come from it
            (:func:`energy3d.data.gravity.horizon_up`) instead of from the lifted poses. The camera
            is assumed not to tilt over a sequence.
    """
    from energy3d.data.keypoints import read_keypoints

    out, bvh, ckpt, model, meta = _start_lift(out, focal, max_plot, device, bvh, checkpoint, horizon)
    kp = read_keypoints(source, layout=layout)
    if len(kp) == 0:
        raise InputError(f"{source}: no people found")
    if bvh is not None and len(kp) > 1:
        raise InputError(f"--bvh writes one person's motion; {source} holds {len(kp)} people (an OpenPose frame folder "
                         "of one person is a sequence: lift its frames as a video folder, or choose one person)")
    return _lift_set(kp, out, source=source, model=model, meta=meta, ckpt=ckpt, image_size=image_size, focal=focal,
                     max_plot=max_plot, bvh=bvh, horizon=horizon)


def _lift_set(kp, out: Path, *, source, model, meta, ckpt, image_size=None, focal=None, max_plot: int = 4,
              image=None, extra: dict | None = None, warnings: list | None = None,
              sequence: dict | None = None, bvh: Path | None = None, outside=None, horizon=None) -> LiftResult:
    """Lift a :class:`~energy3d.data.keypoints.KeypointSet` and write the outputs (see :func:`lift_file`).

    ``outside`` (``(N, J)`` bool in ``kp``'s layout, from a detector) marks keypoints placed outside
    the image: each person then gets ``unseen_2d`` in ``poses.json`` (the keypoints not used,
    outside the image or not visible) and one warning names them and the joints imputed
    (:func:`_unseen_warning`)."""
    from energy3d.data.keypoints import check_keypoints_in_image, impute_missing
    from energy3d.geometry.camera import default_intrinsics
    from energy3d.tasks.outputs import atomic_outputs
    from energy3d.viz.html import write_pose_viewer
    from energy3d.viz.skeleton import plot_lift, plot_lift_grid

    in_layout = get_layout(meta["layouts"]["input"]["name"])
    out_layout = get_layout(meta["layouts"]["output"]["name"])
    sizes = _image_sizes(kp, image_size, source)
    warnings = list(warnings or []) + check_keypoints_in_image(kp, sizes)  # far outside / degenerate: an error
    kp_in = kp.to_layout(in_layout) if kp.layout.name != in_layout.name else kp
    pts, imputed = impute_missing(kp_in.points, kp_in.confidence, in_layout, names=kp_in.names)

    t_lift = time.perf_counter()
    K = torch.stack([default_intrinsics(w, h, focal) for w, h in sizes])
    x = to_normalized(torch.as_tensor(pts, dtype=torch.float32), K)
    if not bool(torch.isfinite(x).all()):
        raise InputError(f"{source}: keypoints give non-finite coordinates")
    if sequence is None or sequence.get("lift_sequence") is None:
        poses = lift_keypoints(model, x, out_layout).numpy()
    else:  # one person over time: e.g. energy3d.tasks.sequence.lift_sequence (gaps filled in time, One Euro filter)
        poses = sequence["lift_sequence"](model, kp_in.points, kp_in.confidence, K[0].numpy(), in_layout,
                                          float(sequence["fps"]), out_layout=out_layout).astype(np.float32)
    up = None
    if horizon is not None:
        from energy3d.data.gravity import horizon_up

        up = horizon_up(horizon, K[0].double().numpy())
    world, gravity, ups = _gravity(poses, out_layout, sequence is not None, up)
    reproj, diag = _reprojection_check(poses, K.numpy(), pts, kp_in, in_layout, out_layout, warnings)
    unseen = None
    if outside is not None:
        unseen = _unseen_2d(kp, np.asarray(outside, bool))
        w = _unseen_warning(kp, unseen, imputed, in_layout, source, sequence is not None)
        if w:
            warnings.append(w)
    t_write = time.perf_counter()

    with atomic_outputs(out, "lift") as tmp:
        doc = {
            "energy3d": __import__("energy3d").__version__,
            "input": str(source),
            "input_layout": kp.layout.name,
            "layout": {"name": out_layout.name, "joints": list(out_layout.joints), "parents": list(out_layout.parents)},
            "units": "metres",
            "frame": CAMERA_FRAME,
            "note": "The model is trained scale-invariantly (IGE-Net eq. 9): its output is rescaled about the camera "
                    f"centre so the 16 bones sum to {BONE_LENGTH_SUM_M} m (the training rig's adult size); "
                    "projections are unchanged, so distance and size are estimates under that prior.",
            "checkpoint": str(ckpt),
            "model_type": meta["model_type"],
            "focal_px": float(K[0, 0, 0]) if focal is None else float(focal),
            "focal_source": "--focal" if focal is not None else "default 1.2 * max(W, H)",
            "reprojection": "reprojection_px: median over the detected joints of the pixel distance between the 3D "
                            "joints projected with K and the input keypoints (model input layout); size_px: the "
                            "diagonal of those keypoints' bounding box; a warning above "
                            f"{REPROJECTION_WARN:.0%} of it",
            "people": [],
            "warnings": warnings,
            **(extra or {}),
        }
        for i, name in enumerate(kp.names):
            doc["people"].append({
                "name": name,
                "image_size": [float(v) for v in sizes[i]],
                "K": K[i].tolist(),
                "joints_3d": np.round(poses[i], 5).tolist(),
                "imputed_joints": [in_layout.joints[j] for j in np.flatnonzero(imputed[i])],
                **({} if unseen is None else {"unseen_2d": unseen[i]}),
                "reprojection_px": _finite_or_none(reproj[i], 2),
                "size_px": _finite_or_none(diag[i], 1),
                "joints_world": np.round(world[i], 5).tolist(),
                **({} if sequence is not None else {"camera": gravity[i]}),
            })
        doc["frame_world"] = WORLD_FRAME
        if sequence is not None:
            doc["camera"] = gravity[0]
        (tmp / "poses.json").write_text(json.dumps(doc, indent=1, allow_nan=False))
        np.savez(tmp / "poses.npz", joints_3d=poses.astype(np.float32), joints_world=world.astype(np.float32),
                 points_2d=pts.astype(np.float32), imputed=imputed, reprojection_px=reproj.astype(np.float32),
                 K=K.numpy(), names=np.array(kp.names), layout=np.array(out_layout.name),
                 fps=np.float64(sequence["fps"] if sequence is not None else 0.0))
        n = min(len(kp), max_plot)
        if n == 1:
            plot_lift(tmp / "lift.png", pts[0], poses[0], out_layout, image_size=tuple(sizes[0]), title=kp.names[0],
                      image=image, up_camera=ups[0])
        else:
            plot_lift_grid(tmp / "lift.png", pts[:n], poses[:n], out_layout, names=kp.names[:n], max_people=n,
                           image_size=tuple(sizes[0]))
        if sequence is None:
            write_pose_viewer(tmp / "viewer.html", poses, out_layout, names=kp.names,
                              title=f"energy3d lift: {Path(source).name}", keypoints_2d=pts, image_size=tuple(sizes[0]))
        else:
            _write_sequence_viewer(tmp / "viewer.html", poses, pts, out_layout, sequence, tuple(sizes[0]),
                                   title=f"energy3d lift: {Path(source).name}")
        files = sorted(f.name for f in tmp.iterdir())
    if bvh is not None:
        from energy3d.data.gltf_export import write_motion

        # from the joints poses.npz stores (float32), so `energy3d export poses.npz` writes the same file
        write_motion(bvh, world.astype(np.float32), out_layout, float(sequence["fps"]) if sequence is not None else 30.0)
        files.append(str(bvh))
    seconds = {"lift": round(t_write - t_lift, 3), "write": round(time.perf_counter() - t_write, 3)}
    return LiftResult(out=out, files=files, people=len(kp), warnings=warnings, seconds=seconds)


# ----------------------------------------------------------------------------- inference on photos and videos


THUMBNAIL_PX = 320
"""Longest side of the input-frame thumbnails kept for the sequence viewer."""
MAX_THUMBNAILS = 600
"""At most this many thumbnails are kept for a video (every k-th frame), so memory stays bounded."""


def detect_media(source: str | Path, *, fps: float | None = None, progress: bool = False, detector=None,
                 thumbnails: bool = True):
    """Run the 2D detector (:mod:`energy3d.data.detect`) over a photo, a folder of frames or a video.

    Frames are streamed (:func:`energy3d.data.video.open_frames`): only keypoints are kept, so memory
    does not grow with the video's length. A photo is detected on its own; frames of a sequence are
    tracked (the detector's landmarks of one frame seed the next).

    Returns:
        ``(keypoints, info)``: a ``coco17`` :class:`~energy3d.data.keypoints.KeypointSet` with one
        entry per frame where a person was found (named after the frame), and ``info`` with
        ``kind``, ``fps``, ``frames`` (all frame names), ``found`` (bool per frame), ``image_size``,
        ``first_image`` (the first frame's RGB, for figures), ``outside`` (``(F, 17)`` bool per frame
        with a person: coco17 keypoints the detector places outside the image), ``thumbnails`` (JPEG bytes of every
        k-th frame, longest side :data:`THUMBNAIL_PX`, None for the others; at most
        :data:`MAX_THUMBNAILS`) with ``thumbnail_scale``, and ``seconds`` (decode, detection).

    Raises:
        InputError: unreadable media, frames of different sizes, no person in any frame, a missing
            optional dependency.
    """

    from energy3d.data.detect import PoseDetector
    from energy3d.data.keypoints import KeypointSet
    from energy3d.data.video import open_frames

    frames = open_frames(source, fps=fps)
    own = detector is None
    det = PoseDetector(static_image_mode=frames.kind == "image") if own else detector
    import io

    from PIL import Image

    names, pts, conf, found, thumbs, outside = [], [], [], [], [], []
    size, first, t_decode, t_detect, scale = None, None, 0.0, 0.0, 1.0
    step = max(1, -(-(frames.count or 0) // MAX_THUMBNAILS))
    try:
        with progress_bar(progress and frames.kind != "image", "frames", total=frames.count or 0,
                          unit="frames") as advance:
            it = iter(frames)
            while True:
                t0 = time.perf_counter()
                try:
                    name, rgb = next(it)
                except StopIteration:
                    break
                t1 = time.perf_counter()
                if size is None:
                    size, first = (rgb.shape[1], rgb.shape[0]), rgb
                    scale = min(1.0, THUMBNAIL_PX / max(size))
                elif (rgb.shape[1], rgb.shape[0]) != size:
                    raise InputError(f"{source}: frame {name} is {rgb.shape[1]} x {rgb.shape[0]} pixels, the first "
                                     f"frame {size[0]} x {size[1]}; all frames must have one size")
                r = det.detect(rgb) if hasattr(det, "detect") else det(rgb)
                t_decode += t1 - t0
                t_detect += time.perf_counter() - t1
                keep = thumbnails and frames.kind != "image" and len(names) % step == 0 and \
                    sum(t is not None for t in thumbs) < MAX_THUMBNAILS
                if keep:
                    im = Image.fromarray(rgb)
                    im.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
                    buf = io.BytesIO()
                    im.save(buf, "JPEG", quality=75)
                    thumbs.append(buf.getvalue())
                else:
                    thumbs.append(None)
                names.append(name)
                found.append(r is not None)
                if r is not None:
                    pts.append(r[0])
                    conf.append(r[1])
                    outside.append(r[2] if len(r) > 2 else np.zeros(len(r[1]), bool))
                advance(1)
    finally:
        if own:
            det.close()
    if not names:
        raise InputError(f"{source}: no frames")
    if not pts:
        raise InputError(f"{source}: no person found in {'the photo' if len(names) == 1 else f'any of the {len(names)} frames'}")
    kp_names = [n for n, f in zip(names, found) if f]
    kp = KeypointSet(np.stack(pts), np.stack(conf), "coco17", kp_names, image_size=size, source=str(source))
    info = {"kind": frames.kind, "fps": frames.fps, "frames": names, "found": found, "image_size": size,
            "first_image": first, "thumbnails": thumbs, "thumbnail_scale": scale, "outside": np.stack(outside),
            "seconds": {"decode": round(t_decode, 3), "detect": round(t_detect, 3)}}
    return kp, info


def _unseen_2d(kp, outside: np.ndarray) -> list[dict]:
    """Per person, the detector's keypoints not used (confidence 0): out of the frame, or hidden / unsure."""
    out = []
    for c, o in zip(kp.confidence, outside):
        miss = c <= 0
        out.append({"outside_image": [kp.layout.joints[j] for j in np.flatnonzero(miss & o)],
                    "low_visibility": [kp.layout.joints[j] for j in np.flatnonzero(miss & ~o)]})
    return out


def _unseen_warning(kp, unseen: list[dict], imputed: np.ndarray, in_layout, source, sequence: bool) -> str | None:
    """One line about keypoints the detector did not see (out of the frame or hidden) and the joints imputed.

    MediaPipe estimates every landmark, also out of the frame, but it rarely places a cut-off limb
    outside the image: in crops of a standing person it squashes the legs into the frame with low
    visibility. So the line names every unseen keypoint, "outside the image" where the detector
    says so and "not visible" otherwise (hidden, or cut off by the frame).
    """
    miss = [i for i, u in enumerate(unseen) if u["outside_image"] or u["low_visibility"]]
    if not miss:
        return None

    def what(u):
        return "; ".join(x for x in (
            f"{', '.join(u['outside_image'])} outside the image" if u["outside_image"] else "",
            f"{', '.join(u['low_visibility'])} not visible (hidden or cut off by the frame)" if u["low_visibility"]
            else "") if x)

    if not sequence:
        parts = []
        for i in miss:
            imp = [in_layout.joints[j] for j in np.flatnonzero(imputed[i])]
            parts.append(f"{kp.names[i]} is partly unseen: {what(unseen[i])}"
                         + (f"; the lifter's {', '.join(imp)} were imputed from the nearest detected joint, so "
                            "those limbs are a guess" if imp else ""))
        return "; ".join(parts) + " (poses.json: unseen_2d, imputed_joints)"
    counts: dict[str, int] = {}
    for i in miss:
        for name in unseen[i]["outside_image"] + unseen[i]["low_visibility"]:
            counts[name] = counts.get(name, 0) + 1
    listed = ", ".join(f"{n} ({c})" for n, c in sorted(counts.items(), key=lambda t: (-t[1], t[0])))
    return (f"the person is partly unseen (out of the frame or hidden) in {len(miss)} of {len(unseen)} frames with a "
            f"person; unseen keypoints (frames): {listed}; they were filled in time where neighbouring frames saw "
            "them, else imputed from the nearest detected joint (per frame in poses.json: unseen_2d, imputed_joints)")


WORLD_FRAME = ("joints_world: a gravity-aligned frame, metres: +Y up, the person facing +Z at the first frame "
               "(their left along +X), the pelvis of the first frame at the origin; up is estimated from the lifted "
               "bodies (energy3d.data.gravity: uprightness-weighted body axes over the sequence, or the one pose of a "
               "photo), within 5-18 degrees on lifted poses (benchmarks/results/gravity.json); 'camera' gives the "
               "estimated camera pitch (positive: looking down) and roll")


def _gravity(poses: np.ndarray, layout, sequence: bool, up_camera=None):
    """World-frame joints ``(N, J, 3)``, camera pitch/roll and world up in the camera frame: one for a
    sequence, one per person otherwise.

    ``up_camera`` (from ``--horizon``) is used as given; otherwise up is estimated from the poses."""
    from energy3d.data.gravity import gravity_frame

    source = "poses" if up_camera is None else "horizon"

    def one(p):
        _, w, info = gravity_frame(p, layout, up_camera=up_camera)
        return w, {"pitch_deg": round(float(info.pitch_deg), 1), "roll_deg": round(float(info.roll_deg), 1),
                   "from": source}, info.up_camera

    if sequence:
        w, cam, up = one(poses)
        return w, [cam], [up]
    outs = [one(p[None]) for p in poses]
    return np.concatenate([w for w, _, _ in outs]), [c for _, c, _ in outs], [u for _, _, u in outs]


def _write_sequence_viewer(path, poses, pts, layout, seq: dict, size, title: str) -> None:
    """The HTML player of a lifted video: every frame (NaN-free absent frames), 2D over the thumbnails."""
    import io

    from PIL import Image

    from energy3d.viz.html import write_sequence_viewer

    found = np.asarray(seq["found"], bool)
    T, J = len(found), poses.shape[1]
    all3 = np.zeros((T, J, 3), np.float32)
    all2 = np.zeros((T, J, 2), np.float32)
    all3[found], all2[found] = poses, pts
    s = float(seq.get("thumbnail_scale", 1.0))
    thumbs = seq.get("thumbnails") or [None] * T
    images = [None if b is None else Image.open(io.BytesIO(b)) for b in thumbs]
    has_images = any(im is not None for im in images)
    write_sequence_viewer(path, all3, layout, fps=float(seq["fps"]), title=title, present=found,
                          keypoints_2d=all2 * s if has_images else all2,
                          image_size=(round(size[0] * s), round(size[1] * s)) if has_images else size,
                          images=images if has_images else None)


def lift_media(source: str | Path, out: str | Path, *, focal: float | None = None, checkpoint: str | Path | None = None,
               fps: float | None = None, max_plot: int = 4, device: str | torch.device = "cpu",
               progress: bool = False, bvh: str | Path | None = None, lift_sequence=None, horizon=None) -> LiftResult:
    """``energy3d lift PHOTO|FOLDER|VIDEO``: detect 2D keypoints, then lift them as :func:`lift_file` does.

    The detector (MediaPipe Pose, ``pip install 'energy3d[detect]'``) finds one person per frame;
    frames without a person are listed in ``poses.json`` (``frames_without_person``) and skipped,
    and a photo of several people gives the person the detector scores highest (it cannot tell that
    there were others, so there is no warning; ``poses.json``'s ``detector`` line says so).
    Keypoints the detector did not see (a person partly out of the frame, or hidden limbs) are
    listed per person (``unseen_2d``: outside the image / not visible) beside the lifter joints
    imputed for them (``imputed_joints``), with one warning line.
    ``poses.json`` also records the frame names and rate and the detector. For a single photo the
    PNG shows the photo under the detected 2D keypoints. ``lift_sequence`` (the CLI passes
    :func:`energy3d.tasks.sequence.lift_sequence`) lifts a video's frames as one sequence; without it
    frames are lifted one by one. ``horizon``: as for :func:`lift_file` (a video's camera must not tilt).
    """
    from energy3d.data.detect import MEDIAPIPE_VERSION

    out, bvh, ckpt, model, meta = _start_lift(out, focal, max_plot, device, bvh, checkpoint, horizon)
    kp, info = detect_media(source, fps=fps, progress=progress)
    missing = [n for n, f in zip(info["frames"], info["found"]) if not f]
    warnings = []
    if missing:
        warnings.append(f"no person found in {len(missing)} of {len(info['frames'])} frames (listed in poses.json)")
    extra = {"media": {"kind": info["kind"], "fps": info["fps"], "frames": len(info["frames"]),
                       "frames_without_person": missing, "seconds": info["seconds"]},
             "detector": f"mediapipe {MEDIAPIPE_VERSION} pose (BlazePose full), coco17; it finds ONE person per frame "
                         "(in a photo of several people, the one it scores highest, usually the largest)"}
    seq = None if info["kind"] == "image" else {**info, "lift_sequence": lift_sequence}
    res = _lift_set(kp, out, source=source, model=model, meta=meta, ckpt=ckpt, focal=focal,
                    max_plot=max_plot if seq is None else 1,
                    image=info["first_image"] if info["kind"] == "image" else None, extra=extra, warnings=warnings,
                    sequence=seq, bvh=bvh, outside=info.get("outside"), horizon=horizon)
    res.seconds = {**info["seconds"], **res.seconds}
    return res
