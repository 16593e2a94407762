"""Single-view voxel reconstruction: experiments, training task, evaluation and inference.

Joins :mod:`energy3d.data.shapes` (the CC0 shape dataset: images, frustum and world grids),
:mod:`energy3d.models.voxel` (networks), :mod:`energy3d.losses` (focal / continuous IoU),
:mod:`energy3d.train` (loop, checkpoints) and :mod:`energy3d.metrics` (voxel IoU), mirroring
:mod:`energy3d.tasks.lift`. ``energy3d fit`` / ``evaluate`` / ``reconstruct`` call
:class:`VoxelTask`, :func:`evaluate_voxel_checkpoint` and :func:`reconstruct`.

An experiment config (JSON in ``configs/voxel/``, ``"kind": "voxel"``) has the sections::

    {"kind": "voxel", "name": "ige-mn-32",
     "data":  {... VoxelDataConfig ...},        # image size, resolution, target grid, selection
     "model": {... VoxelModelConfig ...},       # energy3d.models.voxel
     "loss":  {"kind": "iou"} | {"kind": "focal", "alpha": 0.7, "gamma": 0},
     "train": {... TrainConfig ...}}

Unknown keys anywhere are an error that names them.

Metrics: IoU at threshold 0.5 per category and the mean over categories (§6.5); also the
threshold that maximises the mean IoU on the evaluated set, reported separately and labelled
"best threshold" (it is chosen on the test data, so it is an oracle, not a result to compare).
A model trained at resolution ``R`` is evaluated at a higher resolution ``r`` by trilinear
interpolation of its probabilities (:func:`energy3d.models.voxel.resize_grid`) against ground truth
voxelised at ``r`` (§6.5, Table 5). Images of a dataset rendered at a multiple of the model's image
size are area-averaged down to it (so a 64 px model can be scored on 128 px / 128³ data).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from energy3d.config import from_dict, load_experiment, to_dict
from energy3d.errors import InputError
from energy3d.geometry.mesh import transform_mesh
from energy3d.losses import unrolled_loss, voxel_loss
from energy3d.metrics import count_macs, count_parameters, iou_by_category, voxel_iou, voxel_iou_thresholds
from energy3d.models.voxel import (
    VOXEL_MODEL_TYPES, VoxelIGE, VoxelModelConfig, build_voxel_model, check_resolution, resize_grid, voxel_model_type,
)
from energy3d.train.checkpoint import load_weights, read_checkpoint_meta
from energy3d.train.device import module_device, resolve_device
from energy3d.train.loop import TrainConfig, progress_bar

__all__ = ["VoxelDataConfig", "VoxelLossConfig", "VoxelExperiment", "load_voxel_experiment", "VoxelTask",
           "voxel_meta", "load_voxel_model", "predict_voxels", "evaluate_voxel", "open_shape_split",
           "frustum_geometry", "THRESHOLDS", "LICENSE_NOTE", "eval_dataset_config", "evaluate_voxel_checkpoint",
           "reconstruct", "ReconstructResult", "BUNDLED_VOXEL_MODEL", "MESH_FORMATS"]

THRESHOLDS = tuple(round(0.05 * k, 2) for k in range(1, 20))
"""Thresholds scanned for the (separately labelled) best-threshold IoU; 0.5 is among them."""
LICENSE_NOTE = ("Trained on the project's CC0 object meshes (objects_cc0, see its INDEX.tsv for the source packs); "
                "renders and voxel grids were made by energy3d.")


@dataclass(frozen=True)
class VoxelDataConfig:
    """Which shape data a voxel experiment uses (see :class:`energy3d.data.shapes.ShapeDataset`).

    Attributes:
        image_size, resolution, views, seed: dataset build settings (64 / 32 / 24 / 0 for the CPU configs).
        target: ``"frustum"`` (camera-frustum grid, the IGE setting) or ``"world"`` (world-aligned grid).
        categories: restrict to these categories (``None``: all).
        limit_per_category: use at most this many models per category (test first, then val, train).
        max_views: use only the first this many views of each model (0: all).
        background: image background (``"white"``, ``"black"``, ``"random"`` or RGB).
    """

    image_size: int = 64
    resolution: int = 32
    views: int = 24
    seed: int = 0
    target: str = "frustum"
    categories: tuple | None = None
    limit_per_category: int | None = None
    max_views: int = 0
    background: str | tuple = "white"

    def __post_init__(self):
        if self.target not in ("frustum", "world"):
            raise InputError(f"data.target must be 'frustum' or 'world', got {self.target!r}")
        if self.categories is not None:
            object.__setattr__(self, "categories", tuple(self.categories))
        if self.max_views < 0:
            raise InputError(f"data.max_views must be >= 0, got {self.max_views}")


@dataclass(frozen=True)
class VoxelLossConfig:
    """Outer loss per inner iterate (§6.2): ``"iou"`` (eq. 12) or ``"focal"`` (eq. 11; α = γ = 0 is cross-entropy)."""

    kind: str = "iou"
    alpha: float = 0.0
    gamma: float = 0.0

    def __post_init__(self):
        voxel_loss(self.kind, self.alpha, self.gamma)  # validates the kind


@dataclass(frozen=True)
class VoxelExperiment:
    """A named voxel experiment (see the module docstring).

    Attributes:
        val_limit: validation images used per epoch (evenly spaced over the val split).
        eval_resolutions: resolutions :func:`evaluate_voxel` is run at by the benchmark (empty: the model's).
    """

    name: str = "voxel"
    data: VoxelDataConfig = field(default_factory=VoxelDataConfig)
    model: VoxelModelConfig = field(default_factory=lambda: VoxelModelConfig(image_size=64, stem_stride=1))
    loss: VoxelLossConfig = field(default_factory=VoxelLossConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=20, batch_size=16))
    val_limit: int = 480
    eval_resolutions: tuple = ()

    def __post_init__(self):
        if self.model.image_size != self.data.image_size:
            raise InputError(f"{self.name}: model.image_size {self.model.image_size} != data.image_size {self.data.image_size}")
        if self.model.resolution != self.data.resolution:
            raise InputError(f"{self.name}: model.resolution {self.model.resolution} != data.resolution {self.data.resolution}")
        if self.model.type == "ige" and self.data.target != "frustum":
            raise InputError(f"{self.name}: the IGE energy pools frustum grids; use data.target 'frustum'")


def load_voxel_experiment(path: str | Path, overrides: dict | None = None) -> VoxelExperiment:
    """Read a voxel experiment JSON (``"kind": "voxel"``), with optional nested overrides."""
    return load_experiment(path, VoxelExperiment, "voxel", overrides)


# ----------------------------------------------------------------------------- data


def open_shape_split(cfg: VoxelDataConfig, split: str, *, progress: bool = True):
    """The :class:`~energy3d.data.shapes.ShapeDataset` of a split with every model file kept in memory."""
    from energy3d.data.shapes import ShapeDataset

    return ShapeDataset(split, cfg.image_size, cfg.resolution, cfg.views, cfg.seed, categories=cfg.categories,
                        limit_per_category=cfg.limit_per_category, background=cfg.background,
                        cache_models=10**6, progress=progress)


def _item_indices(ds, max_views: int) -> list[int]:
    views = getattr(getattr(ds, "settings", None), "views", None)
    if not max_views or views is None or max_views >= views:
        return list(range(len(ds)))
    return [m * views + v for m in range(len(ds) // views) for v in range(max_views)]


def _collate(items: list[dict], target: str) -> dict:
    return {
        "image": torch.stack([it["image"] for it in items]),
        "target": torch.stack([it[target] for it in items]),
        "category": [it["category_name"] for it in items],
    }


def frustum_geometry(image_size: int, distance: float | None = None, fov_deg: float | None = None) -> dict:
    """Camera and frustum-grid geometry of the shape dataset: ``K`` (list), ``z_range``, ``fov_deg``, ``distance``."""
    from energy3d.data.shapes import CAMERA_DISTANCE, FOV_DEG, shape_camera_intrinsics

    d = CAMERA_DISTANCE if distance is None else float(distance)
    fov = FOV_DEG if fov_deg is None else float(fov_deg)
    return {"K": shape_camera_intrinsics(int(image_size), fov).tolist(), "z_range": [d - 0.5, d + 0.5],
            "fov_deg": fov, "distance": d, "image_size": int(image_size)}


# ----------------------------------------------------------------------------- task


class VoxelTask:
    """The voxel model family for :func:`energy3d.train.loop.fit`.

    Args:
        exp: the experiment.
        train_set, val_set: datasets of dict items (``image``, ``frustum`` / ``world``,
            ``category_name``) replacing the shape dataset splits (tests use small synthetic ones).
    """

    def __init__(self, exp: VoxelExperiment, *, train_set=None, val_set=None, progress: bool = True):
        self.exp = exp
        torch.manual_seed(exp.train.seed)
        self.model = build_voxel_model(exp.model)
        self.train_set = train_set if train_set is not None else open_shape_split(exp.data, "train", progress=progress)
        self.val_set = val_set if val_set is not None else open_shape_split(exp.data, "val", progress=progress)
        self.train_idx = _item_indices(self.train_set, exp.data.max_views)
        val_idx = _item_indices(self.val_set, exp.data.max_views)
        if not self.train_idx:
            raise InputError(f"{exp.name}: the training split is empty (check data.categories / limit_per_category)")
        if not val_idx:
            raise InputError(f"{exp.name}: the validation split is empty (check data.categories / limit_per_category)")
        n = min(len(val_idx), exp.val_limit)
        self.val_idx = [val_idx[int(i)] for i in np.linspace(0, len(val_idx) - 1, n).round().astype(int)]
        self.loss_fn = voxel_loss(exp.loss.kind, exp.loss.alpha, exp.loss.gamma)

    def _shard(self, epoch: int, rank: int, world: int) -> list[int]:
        g = torch.Generator().manual_seed(int(self.exp.train.seed) * 1_000_003 + int(epoch))
        perm = torch.randperm(len(self.train_idx), generator=g).tolist()
        return [self.train_idx[i] for i in perm[rank::world]]

    def num_batches(self, rank: int, world: int) -> int:
        n = len(self.train_idx[rank::world])
        return max(1, math.ceil(n / self.exp.train.batch_size))

    def batches(self, epoch: int, start: int, rank: int, world: int):
        idx = self._shard(epoch, rank, world)
        bs = self.exp.train.batch_size
        for b in range(start, math.ceil(len(idx) / bs)):
            yield _collate([self.train_set[i] for i in idx[b * bs:(b + 1) * bs]], self.exp.data.target)

    def loss(self, net, batch):
        iterates = net(batch["image"], all_iterates=True)
        total, per = unrolled_loss(iterates, batch["target"], self.exp.train.step_weight_base, loss=self.loss_fn)
        return total, {"final": per[-1]}

    @torch.no_grad()
    def validate(self, model) -> dict:
        model.eval()
        ious, cats = [], []
        for s in range(0, len(self.val_idx), 32):
            b = _collate([self.val_set[i] for i in self.val_idx[s:s + 32]], self.exp.data.target)
            ious.append(voxel_iou(predict_voxels(model, b["image"]), b["target"]))
            cats += b["category"]
        res = iou_by_category(torch.cat(ious), cats)
        return {"score": 1.0 - res["mean"], "val_iou": res["mean"], "val_iou_all": res["all"]}

    def meta(self) -> dict:
        return voxel_meta(self.model, self.exp)


def voxel_meta(model, exp: VoxelExperiment) -> dict:
    """Checkpoint description of a voxel model (model type, config, geometry, size, cost, licence)."""
    cfg = exp.model
    from energy3d.data.shapes import ShapeSettings

    st = ShapeSettings(image_size=exp.data.image_size, resolution=exp.data.resolution, views=exp.data.views,
                       seed=exp.data.seed)
    return {
        "model_type": voxel_model_type(model),
        "config": {"kind": "voxel", **to_dict(exp)},
        "frustum": frustum_geometry(cfg.image_size, st.distance, st.fov_deg),
        "output": {"resolution": cfg.resolution, "target": exp.data.target,
                   "layout": "(D, H, W): depth bins (0 nearest, uniform in 1/z over z_range) x image rows x columns"
                   if exp.data.target == "frustum" else "[ix, iy, iz] over [-0.5, 0.5]^3, object frame (Y up)",
                   "values": "logits; occupancy = sigmoid"},
        "parameters": count_parameters(model),
        "macs": voxel_macs(model),
        "license": LICENSE_NOTE,
    }


def voxel_macs(model) -> int:
    """Forward multiply-adds per image (convolutions and linear layers; an IGE model's energy counted
    once per inner step, its autograd backward not counted)."""
    S = model.cfg.image_size
    return count_macs(model, torch.zeros(1, 3, S, S, device=module_device(model)))


# ----------------------------------------------------------------------------- load / predict / evaluate


def load_voxel_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """Load a voxel checkpoint (``NAME.json`` + ``NAME.safetensors``) in eval mode.

    The weights are read on the CPU, then the model is moved to ``device`` (see
    :func:`energy3d.train.device.resolve_device`).

    Returns:
        ``(model, meta)``: the model on ``device`` and the checkpoint's JSON description.
    """
    meta = read_checkpoint_meta(path, VOXEL_MODEL_TYPES)
    cfg = dict(meta.get("config") or {})
    if not cfg:
        raise InputError(f"{path}: checkpoint has no config")
    cfg.pop("kind", None)
    exp = from_dict(VoxelExperiment, cfg, where=f"{path} config")
    model = build_voxel_model(exp.model)
    if voxel_model_type(model) != meta["model_type"]:
        raise InputError(f"{path}: config describes a {voxel_model_type(model)}, the checkpoint says {meta['model_type']}")
    load_weights(path, model)
    model.to(resolve_device(device)).eval()
    return model, meta


def _fit_images(images: torch.Tensor, size: int) -> torch.Tensor:
    S = images.shape[-1]
    if S == size:
        return images
    if S % size:
        raise InputError(f"images of size {S} cannot be area-averaged to the model's {size}")
    return F.avg_pool2d(images, S // size)


@torch.no_grad()
def predict_voxels(model, images: torch.Tensor, *, steps: int | None = None, batch_size: int = 16,
                   all_iterates: bool = False, resolution: int | None = None) -> torch.Tensor:
    """Occupancy probabilities ``(N, r, r, r)`` for images ``(N, 3, S, S)`` in [0, 1] (eval mode).

    ``r`` is ``resolution`` (checked by :func:`energy3d.models.voxel.check_resolution`), or the
    model's ``R`` when ``None``; the probabilities are resized by
    :func:`energy3d.models.voxel.resize_grid` (trilinear up, average down). This is the one place
    where ``reconstruct`` and ``evaluate`` change a grid's resolution.

    The model may sit on any device: each batch of images is moved to it
    (:func:`energy3d.train.device.module_device`), predicted and resized there, and its
    probabilities come back to the CPU; the result is always on the CPU.

    With ``all_iterates`` returns ``(T + 1, N, r, r, r)`` (an IGE model's every iterate; a baseline's one).
    """
    if resolution is not None:
        check_resolution(resolution, "resolution")
    model.eval()
    dev = module_device(model)
    images = _fit_images(images, model.cfg.image_size)
    outs = []
    for s in range(0, images.shape[0], batch_size):
        x = images[s:s + batch_size].to(dev)
        if not all_iterates and isinstance(model, VoxelIGE):
            p = torch.sigmoid(model.infer(x, steps=steps))
        else:
            it = [torch.sigmoid(y.detach()) for y in model.iterate(x, steps=steps).iterates]
            p = torch.stack(it) if all_iterates else it[-1]
        if resolution is not None:
            p = torch.stack([resize_grid(q, resolution) for q in p]) if all_iterates else resize_grid(p, resolution)
        outs.append(p.cpu())
    return torch.cat(outs, dim=1 if all_iterates else 0)


def evaluate_voxel(model, ds, *, target: str = "frustum", steps: int | None = None, batch_size: int = 16,
                   limit: int | None = None, thresholds=THRESHOLDS, max_views: int = 0, progress: bool = False) -> dict:
    """IoU of a model on a dataset, per category and averaged over categories.

    The model's probabilities are resized to the dataset's resolution (trilinear when larger).

    Args:
        model: a loaded voxel model.
        ds: a :class:`~energy3d.data.shapes.ShapeDataset` (or any dataset of the same items).
        target: ``"frustum"`` or ``"world"``.
        steps: IGE inner steps (default: as trained).
        limit: evaluate at most this many images (evenly spaced).
        thresholds: thresholds for the best-threshold IoU (0.5 is always evaluated).
        max_views: only the first this many views of each model (0: all).

    Returns:
        ``{"iou@0.5": {"per_category", "mean", "all", "count"}, "best_threshold": {"threshold",
        "mean"}, "per_step_mean_iou@0.5": [...], "resolution", "model_resolution", "images"}``.
    """
    idx = _item_indices(ds, max_views)
    if limit is not None and limit < len(idx):
        idx = [idx[int(i)] for i in np.linspace(0, len(idx) - 1, limit).round().astype(int)]
    if not idx:
        raise InputError("evaluate_voxel: the dataset is empty")
    thr = sorted(set(float(t) for t in thresholds) | {0.5})
    ious, multi, steps_iou, cats = [], [], [], []
    res = None
    with progress_bar(progress, "evaluating", total=len(idx)) as advance:
        for s in range(0, len(idx), batch_size):
            b = _collate([ds[i] for i in idx[s:s + batch_size]], target)
            res = b["target"].shape[-1]
            its = predict_voxels(model, b["image"], steps=steps, batch_size=batch_size, all_iterates=True, resolution=res)
            ious.append(voxel_iou(its[-1], b["target"]))
            multi.append(voxel_iou_thresholds(its[-1], b["target"], thr))
            steps_iou.append(torch.stack([voxel_iou(p, b["target"]) for p in its], 1))
            cats += b["category"]
            advance(len(b["category"]))
    main = iou_by_category(torch.cat(ious), cats)
    multi_t = torch.cat(multi)
    means = [iou_by_category(multi_t[:, k], cats)["mean"] for k in range(len(thr))]
    k_best = int(np.argmax(means))
    st = torch.cat(steps_iou)
    per_step = [iou_by_category(st[:, k], cats)["mean"] for k in range(st.shape[1])]
    return {"iou@0.5": main,
            "best_threshold": {"threshold": thr[k_best], "mean": means[k_best],
                               "note": "threshold chosen on the evaluated set (oracle); not the reported IoU"},
            "per_step_mean_iou@0.5": per_step,
            "resolution": int(res), "model_resolution": int(model.cfg.resolution),
            "upsampled": bool(res != model.cfg.resolution), "images": len(idx),
            "steps": (model.steps if steps is None else int(steps)) if isinstance(model, VoxelIGE) else 0}


# ----------------------------------------------------------------------------- evaluation of checkpoints


def eval_dataset_config(data_cfg, resolution: int, split: str):
    """The data config to score a model trained on ``data_cfg`` at ``resolution``.

    Images stay at the training size when it is a multiple of ``resolution``; otherwise they are
    rendered at ``resolution`` pixels (and area-averaged to the model's size at evaluation). For
    the val/test splits only as many models per category are built as those splits can hold.
    """
    import dataclasses

    from energy3d.data.shapes import read_index

    check_resolution(resolution, "--resolution")
    size = data_cfg.image_size if data_cfg.image_size % resolution == 0 else max(resolution, data_cfg.image_size)
    if size % data_cfg.image_size:
        raise InputError(f"cannot evaluate a {data_cfg.image_size} px model at {resolution}^3")
    limit = data_cfg.limit_per_category
    if limit is None and split in ("test", "val"):
        entries = read_index()
        keep = ("test",) if split == "test" else ("test", "val")
        counts: dict[str, int] = {}
        for e in entries:
            if e.split in keep:
                counts[e.category] = counts.get(e.category, 0) + 1
        limit = max(counts.values()) if counts else None
    return dataclasses.replace(data_cfg, image_size=size, resolution=int(resolution), limit_per_category=limit)


def evaluate_voxel_checkpoint(checkpoint: str | Path, *, resolutions=None, split: str = "test",
                              limit: int | None = None, steps: int | None = None, progress: bool = False,
                              device: str | torch.device = "cpu") -> dict:
    """``energy3d evaluate`` of a voxel checkpoint: IoU per category at one or more resolutions.

    Args:
        checkpoint: voxel checkpoint ``NAME.json``.
        resolutions: evaluation resolutions (default: the model's); each passes
            :func:`energy3d.models.voxel.check_resolution`.
        split: shape dataset split (``train``, ``val``, ``test``).
        limit: at most this many images per resolution (evenly spaced).
        steps: IGE inner steps (default: as trained).
        device: where the model runs (``"cpu"``, ``"cuda"``, ``"cuda:N"``); IoU is computed on the CPU.

    Returns:
        ``{"checkpoint", "model_type", "split", "target", "parameters", "macs", "by_resolution":
        {"R": evaluate_voxel result + "data"}}``.
    """
    if split not in ("train", "val", "test"):
        raise InputError(f"split must be train, val or test, got {split!r}")
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be >= 1, got {limit}")
    device = resolve_device(device)
    model, meta = load_voxel_model(checkpoint, device)
    data_cfg = from_dict(VoxelDataConfig, meta["config"]["data"])
    resolutions = list(resolutions or [model.cfg.resolution])
    for r in resolutions:
        check_resolution(r, "--resolution")
    results = {"checkpoint": str(checkpoint), "model_type": meta["model_type"], "split": split,
               "target": data_cfg.target, "parameters": meta.get("parameters"), "macs": meta.get("macs"),
               "by_resolution": {}}
    for r in resolutions:
        cfg = eval_dataset_config(data_cfg, r, split)
        ds = open_shape_split(cfg, split, progress=progress)
        res = evaluate_voxel(model, ds, target=data_cfg.target, steps=steps, limit=limit,
                             max_views=data_cfg.max_views, progress=progress)
        res["data"] = f"objects_cc0 {split} split, {cfg.image_size} px images, {r}^3 {data_cfg.target} grids"
        results["by_resolution"][str(r)] = res
    return results


# ----------------------------------------------------------------------------- reconstruct

BUNDLED_VOXEL_MODEL = Path(__file__).resolve().parents[1] / "assets" / "voxel-ige-32.json"
"""The bundled voxel IGE model (32³, trained on the CC0 object renders)."""
FRAME = ("camera frame, x right, y down, z forward (OpenCV); origin at the camera centre; "
         "units of the normalised objects (metres)")
MESH_FORMATS = (".obj", ".ply", ".glb")
MESH_FRAMES = {
    "y-up": "x right, y up, z towards the viewer (the camera frame turned 180 degrees about x; "
            "what OBJ/PLY/GLB viewers assume); origin at the camera centre",
    "camera": "camera frame, x right, y down, z forward (OpenCV); origin at the camera centre",
}
CAMERA_TO_Y_UP = np.diag([1.0, -1.0, -1.0])
"""Rotation taking camera-frame points (y down, z forward) to the Y-up viewer frame (y up, z back)."""


def _check_mesh_name(name: str) -> str:
    p = Path(name)
    if p.name != name or name in ("", ".", ".."):
        raise InputError(f"--mesh takes a file name without folders, got {name!r}")
    if p.suffix.lower() not in MESH_FORMATS:
        raise InputError(f"--mesh {name!r}: unknown mesh format {p.suffix!r}; use .obj, .ply or .glb")
    return name


@dataclass
class ReconstructResult:
    """What :func:`reconstruct` wrote and measured."""

    out: Path
    files: list
    resolution: int
    seconds: dict
    warnings: list


def reconstruct(image_path: str | Path, out: str | Path, *, resolution: int | None = None,
                checkpoint: str | Path | None = None, mesh: str = "mesh.obj", threshold: float = 0.5,
                steps: int | None = None, frame: str = "y-up", device: str | torch.device = "cpu") -> ReconstructResult:
    """``energy3d reconstruct``: one image -> voxel occupancy, a mesh, a PNG and a JSON record.

    Steps: read the image (:func:`energy3d.data.images.read_image`: RGB or RGBA, made square and
    resized to the model's input with a warning), predict occupancy probabilities in the camera
    frustum at ``resolution`` (:func:`predict_voxels`), extract the ``threshold`` iso-surface
    (:func:`energy3d.geometry.voxel.occupancy_to_mesh`, camera-frame units of the normalised
    training objects), and write everything at once (:func:`energy3d.tasks.outputs.atomic_outputs`).

    Geometry (as the training data, :mod:`energy3d.data.shapes`): pinhole camera with a 30 degree
    field of view and the principal point at the image centre; depth bins uniform in ``1/z`` over
    ``[1.5, 2.5]``. Units are those of the normalised training objects (bounding-box diagonal 1,
    camera 2 units away).

    Args:
        image_path: RGB(A) image of one object, like the training renders.
        out: output folder (checked writable before the work).
        resolution: output grid resolution (default: the model's).
        checkpoint: voxel checkpoint (default: :data:`BUNDLED_VOXEL_MODEL`).
        mesh: mesh file name; ``.obj``, ``.ply`` or ``.glb``.
        threshold: occupancy iso-level in (0, 1).
        steps: IGE inner steps (default: as trained).
        frame: the mesh's frame: ``"y-up"`` (default; what OBJ/PLY/GLB viewers assume: x right,
            y up, z towards the viewer, i.e. the camera frame turned 180° about x) or
            ``"camera"`` (x right, y down, z forward, OpenCV).
        device: where the model runs (``"cpu"``, ``"cuda"``, ``"cuda:N"``); checked before anything
            is written. Marching cubes and the files are made on the CPU.
    """
    from energy3d.data.images import read_image
    from energy3d.data.mesh_io import save_mesh
    from energy3d.geometry.voxel import occupancy_to_mesh
    from energy3d.tasks.outputs import atomic_outputs, check_output_dir
    from energy3d.viz.voxel import save_reconstruction_figure

    mesh_name = _check_mesh_name(mesh)
    if resolution is not None:
        check_resolution(resolution, "--resolution")
    if not (isinstance(threshold, (int, float)) and 0.0 < threshold < 1.0):
        raise InputError(f"--threshold must lie in (0, 1), got {threshold}")
    if steps is not None and steps < 0:
        raise InputError(f"--steps must be >= 0, got {steps}")
    if frame not in MESH_FRAMES:
        raise InputError(f"--frame must be one of {', '.join(MESH_FRAMES)}, got {frame!r}")
    device = resolve_device(device)
    out = check_output_dir(out, keep=False)  # made when the results are written
    ckpt = Path(checkpoint) if checkpoint else BUNDLED_VOXEL_MODEL
    if checkpoint is None and not BUNDLED_VOXEL_MODEL.is_file():
        raise InputError("no bundled voxel model is installed; pass --checkpoint runs/NAME/best.json "
                         "(train one with: energy3d fit configs/voxel/ige-mn-32.json)")
    t_start = time.perf_counter()
    model, meta = load_voxel_model(ckpt, device)
    if meta.get("output", {}).get("target", "frustum") != "frustum":
        raise InputError(f"{ckpt}: this model predicts world-aligned grids; reconstruct needs a frustum model")
    geo = meta["frustum"]
    S = int(model.cfg.image_size)
    warnings: list[str] = []
    image = read_image(image_path, S, warnings)
    t_load = time.perf_counter()
    R = resolution or model.cfg.resolution
    prob = predict_voxels(model, image[None], steps=steps, resolution=R)[0].numpy().astype(np.float32)
    t_infer = time.perf_counter()
    surface = occupancy_to_mesh(prob, geo["K"], S, geo["z_range"], threshold)
    written_mesh = surface if frame == "camera" else transform_mesh(surface, R=CAMERA_TO_Y_UP)
    t_mesh = time.perf_counter()
    seconds = {"load_model_and_image": round(t_load - t_start, 3), "inference": round(t_infer - t_load, 3),
               "marching_cubes": round(t_mesh - t_infer, 3), "total_before_writing": round(t_mesh - t_start, 3),
               "threads": torch.get_num_threads(), "device": str(device)}

    with atomic_outputs(out, "reconstruct") as tmp:
        np.savez_compressed(tmp / "occupancy.npz", probability=prob, occupied=prob > threshold,
                            threshold=np.float32(threshold), K=np.asarray(geo["K"], np.float32),
                            z_range=np.asarray(geo["z_range"], np.float32), image_size=np.int64(S),
                            layout=np.array("(D, H, W): depth bins (0 nearest, uniform in 1/z over z_range) x image rows x columns"))
        save_mesh(written_mesh, tmp / mesh_name)
        save_reconstruction_figure(tmp / "reconstruct.png", image.numpy().transpose(1, 2, 0), prob, surface, geo["K"], threshold,
                    title=f"{Path(image_path).name}: {meta['model_type']} at {R}³")
        doc = {
            "energy3d": __import__("energy3d").__version__,
            "input": str(image_path),
            "checkpoint": str(ckpt), "model_type": meta["model_type"],
            "model_resolution": int(model.cfg.resolution), "resolution": int(R),
            "upsampled": bool(R != model.cfg.resolution), "threshold": threshold,
            "steps": getattr(model, "steps", 0) if steps is None else steps,
            "occupied_voxels": int((prob > threshold).sum()),
            "mesh": {"file": mesh_name, "vertices": surface.num_vertices, "faces": surface.num_faces,
                     "frame": MESH_FRAMES[frame]},
            "frame": FRAME, "camera": geo, "warnings": warnings, "seconds": seconds,
        }
        (tmp / "reconstruct.json").write_text(json.dumps(doc, indent=1, allow_nan=False))
        written = sorted(f.name for f in tmp.iterdir())
    return ReconstructResult(out=out, files=written, resolution=int(R), seconds=seconds, warnings=warnings)
