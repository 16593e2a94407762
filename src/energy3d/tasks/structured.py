"""Structured monocular 3D pose (Kinauer et al.): experiments, training task, evaluation, ``energy3d pose``.

This module joins :mod:`energy3d.data.pose_images` (rendered people with exact 3D truth, and the
heatmap inputs), :mod:`energy3d.models.structured_pose` (the volumetric quantized-regression CNN),
:mod:`energy3d.structured.learning` (deep supervision, candidates, the structured-SVM loss) and
:mod:`energy3d.structured` (exact branch-and-bound on stars, dynamic programming on trees, ADMM on
loopy graphs):

* :class:`StructuredPoseTask`: the training task of :func:`energy3d.train.loop.fit`, for both stages:
  ``"dsn"`` (deeply supervised heads, §2.4; the pairwise precisions ``c`` are calibrated from the
  validation residuals at every validation, so the checkpoint is a complete structured model) and
  ``"ssvm"`` (structured-SVM fine-tuning with the K most violated poses, §2.5, from a DSN checkpoint);
* :func:`evaluate_structured`: PA-MPJPE per action for every topology (unary only, center star, stick
  figure, extended stick figure, 2-hop) on the same images, with the certified fraction, ADMM
  iterations and time per image split into CNN and structured inference;
* :func:`pose_file`: ``energy3d pose IMAGE|KEYPOINTS`` -> ``poses.json``, ``poses.npz``, ``pose.png``,
  ``viewer.html``.

An experiment config (``configs/pose/*.json``, ``"kind": "pose"``) has the sections ``data``
(:class:`~energy3d.data.pose_images.PoseImageConfig`), ``model``
(:class:`~energy3d.models.structured_pose.PoseNetConfig`), ``train``
(:class:`~energy3d.train.loop.TrainConfig`) and ``structured`` (:class:`StructuredConfig`), plus
``init_from`` (the DSN checkpoint an SSVM stage starts from).

Output frame of this model: the paper's label volume (§3.2): ``u, v`` crop pixels, depth relative to
the root scaled so the ratio of real-world and projected standard deviations is preserved. The pose
is therefore known up to a similarity transform; ``energy3d pose`` writes it root-centred in a
camera-aligned frame (x right, y down, z away from the camera) scaled so its 16 bones sum to
3.54 m, the training rig's adult size, and says so.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from energy3d.config import from_dict, load_experiment, to_dict
from energy3d.data.pose_images import PoseImageConfig, PoseImageSet, heatmap_sample, load_pose_image_split
from energy3d.errors import InputError
from energy3d.metrics import pa_mpjpe, summarize
from energy3d.models.structured_pose import PoseNetConfig, StructuredPoseNet
from energy3d.structured import TOPOLOGIES
from energy3d.structured.learning import calibrate_pairwise, dsn_loss, infer, pairwise_read, ssvm_loss
from energy3d.train.checkpoint import load_weights, read_checkpoint_meta
from energy3d.train.device import module_device, resolve_device
from energy3d.train.loop import TrainConfig, batch_generator, epoch_order, progress_bar

__all__ = ["ALL_TOPOLOGIES", "MODEL_TYPE", "StructuredConfig", "PoseExperiment", "load_pose_experiment",
           "StructuredPoseTask", "load_pose_model", "network_outputs", "evaluate_structured", "BUNDLED_POSE_MODELS"]

MODEL_TYPE = "structured_pose"
ALL_TOPOLOGIES = ("unary",) + tuple(TOPOLOGIES)
"""The graphs of Kinauer et al. Table 1: no pairwise terms, then the four part graphs."""
STAGES = ("dsn", "ssvm")
ASSETS = Path(__file__).resolve().parents[1] / "assets"
BUNDLED_POSE_MODELS = {"heatmaps": ASSETS / "pose-heatmaps.json", "rgb": ASSETS / "pose-rgb.json"}
"""The bundled structured-pose checkpoints by input mode (``energy3d pose`` picks one)."""


@dataclass(frozen=True)
class StructuredConfig:
    """The structured part of training and validation.

    Attributes:
        stage: ``"dsn"`` (deep supervision only, §2.4) or ``"ssvm"`` (structured-SVM fine-tuning, §2.5,
            with the deep supervision kept at ``dsn_weight``).
        candidates: top-N voxels per joint handed to the structured solver (training and validation).
        k: most violated configurations per sample (the paper's K = 20).
        margin_weight: weight of the loss ``Delta`` (mean Euclidean joint distance, crop pixels) in the
            margin ``S(Phi) + w Delta - S(Phi_gt)``.
        topologies: the SSVM stage draws one of these per batch, so one fine-tuned network and one set
            of ``c_ij`` serve every row of Table 1 (the paper fine-tunes per topology; one run per
            topology does not fit the CPU budget).
        dsn_weight: weight of the deep-supervision loss during the SSVM stage.
        ssvm_weight: weight of the structured hinge.
        val_topology: the graph whose validation PA-MPJPE is the checkpoint score.
        val_limit: validation images (evenly spaced).
    """

    stage: str = "dsn"
    candidates: int = 32
    k: int = 20
    margin_weight: float = 1.0
    topologies: tuple = ALL_TOPOLOGIES
    dsn_weight: float = 1.0
    ssvm_weight: float = 1.0
    val_topology: str = "unary"
    val_limit: int = 400

    def __post_init__(self):
        object.__setattr__(self, "topologies", tuple(self.topologies))
        if self.stage not in STAGES:
            raise InputError(f"structured.stage must be one of {', '.join(STAGES)}, got {self.stage!r}")
        for t in self.topologies + (self.val_topology,):
            check_topology(t)
        if not self.topologies:
            raise InputError("structured.topologies must name at least one topology")
        if self.candidates < 1 or self.k < 1:
            raise InputError(f"structured.candidates and structured.k must be >= 1, got {self.candidates}, {self.k}")
        if self.val_limit < 1:
            raise InputError(f"structured.val_limit must be >= 1, got {self.val_limit}")


def check_topology(name: str) -> str:
    """The canonical topology name, or an error listing the known ones."""
    key = str(name).replace("-", "_").replace(" ", "_").lower()
    if key not in ALL_TOPOLOGIES:
        raise InputError(f"unknown topology {name!r}; known: {', '.join(ALL_TOPOLOGIES)}")
    return key


@dataclass(frozen=True)
class PoseExperiment:
    """A named structured-pose experiment (see the module docstring)."""

    name: str = "pose"
    data: PoseImageConfig = field(default_factory=PoseImageConfig)
    model: PoseNetConfig = field(default_factory=PoseNetConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    structured: StructuredConfig = field(default_factory=StructuredConfig)
    init_from: str = ""

    def __post_init__(self):
        if self.data.crop != self.model.crop:
            raise InputError(f"data.crop ({self.data.crop}) and model.crop ({self.model.crop}) must be equal")
        if self.model.input == "heatmaps" and self.data.heatmap_size != self.model.heatmap_size:
            raise InputError(f"data.heatmap_size ({self.data.heatmap_size}) and model.heatmap_size "
                             f"({self.model.heatmap_size}) must be equal")
        if self.structured.stage == "ssvm" and not self.init_from:
            raise InputError("structured.stage 'ssvm' fine-tunes a trained network: set init_from to a DSN checkpoint")


def load_pose_experiment(path: str | Path, overrides: dict | None = None) -> PoseExperiment:
    """Read a structured-pose experiment JSON (``"kind": "pose"``)."""
    return load_experiment(path, PoseExperiment, "pose", overrides)


def model_inputs(ds: PoseImageSet, idx: np.ndarray, data: PoseImageConfig, mode: str,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Network inputs and volume labels of the samples ``idx``.

    RGB: the cached crops (``/ 255``) and their labels. Heatmaps: detector-style 2D drawn from
    ``generator`` (markers, noise, confidences), the crop box from that 2D as on a photo, the maps
    and the labels for that box (:func:`energy3d.data.pose_images.heatmap_sample`).
    """
    idx = np.asarray(idx, dtype=np.int64)
    if mode == "rgb":
        if ds.images is None:
            raise InputError("the RGB model needs the rendered images; the set was loaded without them")
        x = torch.from_numpy(np.ascontiguousarray(ds.images[idx])).permute(0, 3, 1, 2).float().div_(255.0)
        return x, torch.as_tensor(ds.joints_vol[idx], dtype=torch.float32)
    x, vol, _, _ = heatmap_sample(ds, idx, generator, data)
    return torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(vol, dtype=torch.float32)


class StructuredPoseTask:
    """The structured-pose model family for :func:`energy3d.train.loop.fit` (both stages)."""

    def __init__(self, exp: PoseExperiment, *, progress: bool = True, train_set: PoseImageSet | None = None,
                 val_set: PoseImageSet | None = None):
        self.exp = exp
        self.mode = exp.model.input
        torch.manual_seed(exp.train.seed)
        self.model = StructuredPoseNet(exp.model)
        rgb = self.mode == "rgb"
        self.train_set = train_set if train_set is not None else load_pose_image_split(
            exp.data, "train", images=rgb, progress=progress)
        self.val_set = val_set if val_set is not None else load_pose_image_split(
            exp.data, "val", images=rgb, progress=progress)
        if exp.init_from:
            meta = read_checkpoint_meta(exp.init_from, (MODEL_TYPE,))
            cfg = from_dict(PoseNetConfig, meta["config"]["model"], where=f"{exp.init_from} config.model")
            if cfg != exp.model:
                raise InputError(f"init_from {exp.init_from}: its network ({to_dict(cfg)}) differs from this "
                                 f"config's model section ({to_dict(exp.model)})")
            load_weights(exp.init_from, self.model)
        n = min(len(self.val_set), exp.structured.val_limit)
        self.val_idx = np.linspace(0, len(self.val_set) - 1, n).round().astype(np.int64)
        g = torch.Generator().manual_seed(exp.data.seed + 99991)
        self.val_x, self.val_vol = model_inputs(self.val_set, self.val_idx, exp.data, self.mode, g)
        self.val_gt = torch.as_tensor(self.val_set.joints_cam[self.val_idx])

    def num_batches(self, rank, world):
        return (len(self.train_set) // world) // self.exp.train.batch_size

    def batches(self, epoch, start, rank, world):
        bs, seed = self.exp.train.batch_size, self.exp.train.seed
        order = epoch_order(len(self.train_set), seed, epoch, rank, world).numpy()
        topologies = self.exp.structured.topologies
        for b in range(start, self.num_batches(rank, world)):
            g = batch_generator(seed, epoch, b, rank)
            x, vol = model_inputs(self.train_set, order[b * bs:(b + 1) * bs], self.exp.data, self.mode, g)
            topology = topologies[int(torch.randint(len(topologies), (1,), generator=g))]
            yield x, vol, topology

    def loss(self, net, batch):
        x, vol, topology = batch
        module = net.module if hasattr(net, "module") else net
        out = net(x)
        s = self.exp.structured
        total, parts = dsn_loss(out, vol, model=module)
        parts = {f"dsn_{k}": float(v) for k, v in parts.items()}
        if s.stage == "ssvm":
            hinge, sp = ssvm_loss(out, module, vol, topology, n=s.candidates, k=s.k, margin_weight=s.margin_weight)
            total = s.dsn_weight * total + s.ssvm_weight * hinge
            parts.update({f"ssvm_{k}": float(v) for k, v in sp.items()})
            parts["ssvm_hinge"] = float(hinge.detach())
        return total, parts

    @torch.no_grad()
    def validate(self, model):
        model.eval()
        outs = network_outputs(model, self.val_x)
        s = self.exp.structured
        metrics = {}
        if s.stage == "dsn":  # c from this epoch's displacement residuals (eq. 3 as a Gaussian log-density)
            model.set_c(calibrate_pairwise(*pairwise_read(outs, model, self.val_vol)))
        res = infer(outs, model, s.val_topology, s.candidates)
        e = pa_mpjpe(torch.as_tensor(res.poses, dtype=torch.float64), self.val_gt.double()).mean().item() * 1000
        metrics.update({"score": e, f"val_pa_mpjpe_mm_{s.val_topology}": e})
        if s.val_topology != "unary":
            u = infer(outs, model, "unary", s.candidates)
            metrics["val_pa_mpjpe_mm_unary"] = pa_mpjpe(torch.as_tensor(u.poses, dtype=torch.float64),
                                                        self.val_gt.double()).mean().item() * 1000
        model.train()
        return metrics

    def meta(self):
        return pose_meta(self.model, self.exp)


def pose_meta(model: StructuredPoseNet, exp: PoseExperiment) -> dict:
    from energy3d.metrics import count_macs
    from energy3d.skeleton import get_layout
    from energy3d.tasks.lift import SOURCE_LICENSES

    cfg = exp.model
    shape = (1, 3, cfg.crop, cfg.crop) if cfg.input == "rgb" else (1, 17, cfg.heatmap_size, cfg.heatmap_size)
    try:
        macs = count_macs(model, torch.zeros(shape))
    except Exception:  # MAC counting is informative only
        macs = None
    src = exp.data.source
    return {
        "model_type": MODEL_TYPE,
        "config": to_dict(exp),
        "input": cfg.input,
        "layouts": {"output": get_layout("h36m17").to_json()},
        "units": {"output": "label volume (Kinauer §3.2): u, v crop pixels, depth relative to the root in crop "
                            "pixels (ratio of real and projected standard deviations preserved); poses compared "
                            "after Procrustes"},
        "parameters": sum(p.numel() for p in model.parameters()),
        "macs": macs,
        "training_motion": {"sources": [{"name": src, "weight": 1.0}],
                            "license": f"Trained on {SOURCE_LICENSES.get(src, src + ' (user data: its own terms)')}"},
        "license": f"Trained on {SOURCE_LICENSES.get(src, src + ' (user data: its own terms)')}",
    }


def load_pose_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[StructuredPoseNet, dict]:
    """Load a structured-pose checkpoint in eval mode; another model type is an error naming it."""
    meta = read_checkpoint_meta(path, (MODEL_TYPE,))
    try:
        exp = from_dict(PoseExperiment, meta["config"], where=f"{path} config")
    except KeyError:
        raise InputError(f"{path}: checkpoint has no config") from None
    model = StructuredPoseNet(exp.model)
    load_weights(path, model)
    model.to(resolve_device(device)).eval()
    return model, meta


@torch.no_grad()
def network_outputs(model: StructuredPoseNet, x: torch.Tensor, batch_size: int = 64):
    """The network's outputs for ``x`` in batches, concatenated (on the CPU)."""
    device = module_device(model)
    chunks = [model(x[i:i + batch_size].to(device)) for i in range(0, len(x), batch_size)]
    first = chunks[0]
    return type(first)(**{k: torch.cat([getattr(c, k).cpu() for c in chunks]) if torch.is_tensor(getattr(first, k))
                          else getattr(first, k) for k in first.__dataclass_fields__})


def evaluate_structured(checkpoint: str | Path, *, split: str = "test", topologies=ALL_TOPOLOGIES,
                        candidates: int | None = None, limit: int | None = None, progress: bool = False,
                        device: str = "cpu", data_overrides: dict | None = None) -> dict:
    """PA-MPJPE (mm) per action and on average for each topology, same network, same images.

    Args:
        checkpoint: a structured-pose checkpoint.
        split: ``train`` | ``val`` | ``test`` of the checkpoint's data config (split by clip).
        topologies: rows of the table (:data:`ALL_TOPOLOGIES`).
        candidates: top-N voxels per joint (default: the checkpoint's training value).
        limit: at most this many images, evenly spaced over the split.
        data_overrides: changes to the checkpoint's data section (e.g. ``{"max_poses": ...}``).

    Returns:
        ``{"checkpoint", "input", "split", "images", "candidates", "ms_cnn_per_image",
        "topologies": {name: {"pa_mpjpe_mm", "per_action", "certified_fraction",
        "admm_iterations_mean", "ms_structured_per_image"}}}``.
    """
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be >= 1, got {limit}")
    model, meta = load_pose_model(checkpoint, device)
    exp = from_dict(PoseExperiment, meta["config"])
    data = exp.data if not data_overrides else from_dict(PoseImageConfig, {**to_dict(exp.data), **data_overrides})
    topologies = [check_topology(t) for t in (topologies or ALL_TOPOLOGIES)]
    n_cand = int(candidates if candidates is not None else exp.structured.candidates)
    check_candidates(n_cand, exp.model)
    ds = load_pose_image_split(data, split, images=exp.model.input == "rgb", progress=progress)
    idx = np.arange(len(ds)) if not limit or limit >= len(ds) else np.linspace(0, len(ds) - 1, limit).round().astype(np.int64)
    g = torch.Generator().manual_seed(data.seed + 99991 + {"train": 1, "val": 2, "test": 3}[split])
    x, _ = model_inputs(ds, idx, data, exp.model.input, g)
    gt = torch.as_tensor(ds.joints_cam[idx], dtype=torch.float64)
    actions = np.asarray(ds.action)[idx]
    t0 = time.perf_counter()
    outs = network_outputs(model, x)
    ms_cnn = (time.perf_counter() - t0) * 1000 / max(len(idx), 1)
    rows = {}
    with progress_bar(progress, "structured inference", len(topologies), unit="topologies") as advance:
        for topo in topologies:
            res = infer(outs, model, topo, n_cand)
            err = pa_mpjpe(torch.as_tensor(res.poses, dtype=torch.float64), gt).numpy() * 1000
            summ = summarize({"pa_mpjpe_mm": err}, actions)
            iters = np.asarray(res.admm_iterations, dtype=np.float64)
            rows[topo] = {
                "pa_mpjpe_mm": summ["average"]["pa_mpjpe_mm"],  # mean of the per-action means (the table number)
                "pa_mpjpe_mm_all_images": float(err.mean()),
                "per_action": {a: v["pa_mpjpe_mm"] for a, v in summ.get("per_group", {}).items()},
                "certified_fraction": float(np.mean(res.certified)),
                "admm_iterations_mean": float(iters.mean()) if iters.size else 0.0,
                "ms_structured_per_image": float(res.seconds_structured) * 1000 / max(len(idx), 1),
                "per_pose_mm": err,
            }
            advance(1)
    return {"checkpoint": str(checkpoint), "input": exp.model.input, "stage": exp.structured.stage, "split": split,
            "images": int(len(idx)), "candidates": n_cand, "ms_cnn_per_image": ms_cnn, "topologies": rows,
            "actions": actions}


def check_candidates(n: int, cfg: PoseNetConfig) -> None:
    """``1 <= n <= D * H * W`` or an error naming the bounds."""
    vol = cfg.depth_bins * (cfg.crop // cfg.stride) ** 2
    if not 1 <= int(n) <= vol:
        raise InputError(f"--candidates must be between 1 and the volume size {vol} "
                         f"({cfg.depth_bins} x {cfg.crop // cfg.stride} x {cfg.crop // cfg.stride}), got {n}")


# ----------------------------------------------------------------------------- energy3d pose

POSE_MODES = ("heatmaps", "rgb")
POSE_FRAME = ("joints_3d: metres, root (pelvis) at the origin, axes of the camera (x right, y down, z away from the "
              "camera); the model gives the pose up to a similarity transform (Kinauer §3.2: depth relative to the root, "
              "scaled like the image axes), so it is scaled here so its 16 bones sum to 3.54 m (the training rig's "
              "adult size); distance to the camera is not estimated")


@dataclass
class PoseResult:
    """What :func:`pose_file` wrote."""

    out: Path
    files: list
    people: int
    warnings: list = field(default_factory=list)
    seconds: dict = field(default_factory=dict)
    info: list = field(default_factory=list)


def _pose_inputs(source: Path, mode: str, exp: PoseExperiment, layout, image_size, warnings: list):
    """``(x, boxes, points_2d or None, confidence or None, names, image or None, image_size)`` for one input file."""
    from energy3d.data.keypoints import read_keypoints
    from energy3d.data.pose_images import crop_box_from_points, crop_image, heatmap_batch
    from energy3d.data.video import media_kind
    from energy3d.skeleton import get_layout

    h36m = get_layout("h36m17")
    kind = media_kind(source)
    if kind not in (None, "image"):
        raise InputError(f"{source}: energy3d pose takes one photo or a keypoint file; for videos use energy3d lift")
    rgb, kp = None, None
    if kind == "image":
        from energy3d.data.images import load_rgb

        if layout or image_size:
            raise InputError("--layout and --image-size apply to keypoint files; a photo gives both")
        rgb = load_rgb(source)
        try:
            from energy3d.tasks.lift import detect_media

            kp, _ = detect_media(source, thumbnails=False)
        except InputError as e:
            if mode == "heatmaps" or "energy3d[detect]" not in str(e) and "no person" not in str(e):
                raise
            warnings.append(f"note: no 2D detection ({e}); the whole image is taken as the crop of one person")
    else:
        if mode == "rgb":
            raise InputError(f"{source}: the RGB model needs an image; a keypoint file goes to the heatmap model "
                             "(--mode heatmaps)")
        kp = read_keypoints(source, layout=layout)
        if len(kp) == 0:
            raise InputError(f"{source}: no people found")
    size = (rgb.shape[1], rgb.shape[0]) if rgb is not None else (tuple(image_size) if image_size else kp.image_size)
    if kp is None:  # an RGB crop without detection: the image is the crop
        H, W = rgb.shape[:2]
        side = float(max(H, W))
        boxes = np.array([[(W - side) / 2, (H - side) / 2, side]], dtype=np.float32)
        if (H, W) != (exp.model.crop, exp.model.crop):
            warnings.append(f"note: the {W} x {H} image is resized to the model's {exp.model.crop} x {exp.model.crop} crop")
        crop = crop_image(rgb, boxes[0], exp.model.crop)
        x = torch.from_numpy(crop).permute(2, 0, 1)[None].float() / 255.0
        return x, boxes, None, None, [source.stem], rgb, size
    kp = kp.to_layout(h36m)
    if size is None:
        raise InputError(f"{source}: the file gives no image size; pass --image-size W H")
    visible = kp.confidence > 0
    if (visible.sum(axis=1) < h36m.num_joints // 2).any():
        bad = [kp.names[i] for i in np.flatnonzero(visible.sum(axis=1) < h36m.num_joints // 2)]
        raise InputError(f"{source}: fewer than half of the joints detected for {', '.join(bad)}")
    boxes = np.stack([crop_box_from_points(np.where(v[:, None], p, p[v].mean(0)), exp.data.margin, h36m)
                      for p, v in zip(kp.points, visible)]).astype(np.float32)
    if mode == "heatmaps":
        x = torch.as_tensor(heatmap_batch(kp.points, kp.confidence, boxes, exp.data), dtype=torch.float32)
    else:
        x = torch.stack([torch.from_numpy(crop_image(rgb, b, exp.model.crop)).permute(2, 0, 1).float() / 255.0
                         for b in boxes])
    return x, boxes, kp.points, kp.confidence, list(kp.names), rgb, size


def pose_file(source: str | Path, out: str | Path, *, topology: str = "two_hop", candidates: int | None = None,
              checkpoint: str | Path | None = None, mode: str | None = None, layout: str | None = None,
              image_size=None, device: str = "cpu") -> PoseResult:
    """``energy3d pose``: a photo or a keypoint file -> 3D joints by structured inference (Kinauer et al.).

    Heatmap mode (the default, for real photos): the project's 2D detector (MediaPipe,
    ``energy3d[detect]``) or the keypoint file gives COCO / OpenPose keypoints, converted to
    ``h36m17``; the crop box comes from them; Gaussian maps of the keypoints (their confidences
    as peak heights) go into the network. RGB mode (for images like the rendered training data): the
    person is cropped around the detected keypoints, or, without a detection, the whole image is
    taken as the crop (resized with a note). Then: the top-N candidates per joint and the pairwise
    terms of ``topology`` go into :mod:`energy3d.structured` (branch-and-bound on the star, dynamic
    programming on the stick figure, ADMM on loopy graphs).

    Writes ``poses.json`` (joints, layout, frame, per-person ``certified`` and ``admm_iterations``),
    ``poses.npz``, ``pose.png`` (image and 2D, 3D from the camera and from the side) and ``viewer.html``;
    every output is checked writable first and written at once.
    """
    from energy3d.skeleton import get_layout
    from energy3d.tasks.lift import rescale_to_bone_length
    from energy3d.tasks.outputs import atomic_outputs, check_output_dir
    from energy3d.viz.html import write_pose_viewer
    from energy3d.viz.skeleton import plot_lift, plot_lift_grid

    topology = check_topology(topology)
    if mode is not None and mode not in POSE_MODES:
        raise InputError(f"--mode must be one of {', '.join(POSE_MODES)}, got {mode!r}")
    source = Path(source)
    if not source.exists():
        raise InputError(f"{source}: no such file or folder")
    device = resolve_device(device)
    out = check_output_dir(out, keep=False)
    if checkpoint:
        ckpt = Path(checkpoint)
    else:
        ckpt = BUNDLED_POSE_MODELS[mode or "heatmaps"]
        if not ckpt.with_suffix(".json").is_file():
            raise InputError(f"the bundled {mode or 'heatmaps'} model is missing ({ckpt}); train it with the command in "
                             "the README (section 'Structured 3D pose') or pass --checkpoint")
    model, meta = load_pose_model(ckpt, device)
    exp = from_dict(PoseExperiment, meta["config"])
    if mode is not None and mode != exp.model.input:
        raise InputError(f"{ckpt} is a {exp.model.input} model, --mode asks for {mode}")
    mode = exp.model.input
    n_cand = int(candidates if candidates is not None else exp.structured.candidates)
    check_candidates(n_cand, exp.model)
    warnings: list[str] = []
    t0 = time.perf_counter()
    x, boxes, pts_in, conf_in, names, rgb, size = _pose_inputs(source, mode, exp, layout, image_size, warnings)
    t1 = time.perf_counter()
    outs = network_outputs(model, x)
    t2 = time.perf_counter()
    res = infer(outs, model, topology, n_cand)
    t3 = time.perf_counter()
    h36m = get_layout("h36m17")
    vol = np.asarray(res.poses, dtype=np.float64)  # (B, J, 3) crop px
    rel = vol - vol[:, :1]
    poses = rescale_to_bone_length(rel, h36m).astype(np.float32)
    # the network's own 2D (u, v of the chosen candidates) in image pixels
    scale = boxes[:, 2:3] / exp.model.crop
    pts_net = (vol[..., :2] * scale[:, None] + boxes[:, None, :2]).astype(np.float32)
    pts_draw = pts_in if mode == "heatmaps" else pts_net  # RGB: what the network saw is pixels; draw its own 2D
    with atomic_outputs(out, "pose") as tmp:
        doc = {
            "energy3d": __import__("energy3d").__version__,
            "input": str(source),
            "model": {"checkpoint": str(ckpt), "input": mode, "stage": exp.structured.stage},
            "topology": topology,
            "candidates": n_cand,
            "layout": {"name": h36m.name, "joints": list(h36m.joints), "parents": list(h36m.parents)},
            "units": "metres",
            "frame": POSE_FRAME,
            "seconds": {"inputs": round(t1 - t0, 3), "cnn": round(t2 - t1, 3), "structured": round(t3 - t2, 3)},
            "people": [],
            "warnings": warnings,
        }
        for i, name in enumerate(names):
            doc["people"].append({
                "name": name,
                "box": [round(float(v), 2) for v in boxes[i]],
                "joints_3d": np.round(poses[i], 5).tolist(),
                "joints_volume": np.round(vol[i], 3).tolist(),
                "joints_2d_network": np.round(pts_net[i], 2).tolist(),
                "certified": bool(res.certified[i]),
                "admm_iterations": int(res.admm_iterations[i]),
            })
        (tmp / "poses.json").write_text(json.dumps(doc, indent=1, allow_nan=False))
        np.savez(tmp / "poses.npz", joints_3d=poses, joints_volume=vol.astype(np.float32), points_2d=pts_draw,
                 points_2d_network=pts_net, box=boxes, names=np.array(names), layout=np.array(h36m.name))
        title = f"energy3d pose ({mode}, {topology})"
        if len(names) == 1:
            plot_lift(tmp / "pose.png", pts_draw[0], poses[0], h36m, image_size=tuple(size) if size else None,
                      title=f"{title}: {names[0]}", image=rgb,
                      confidence_2d=None if conf_in is None or mode != "heatmaps" else conf_in[0])
        else:
            plot_lift_grid(tmp / "pose.png", pts_draw[:4], poses[:4], h36m, names=names[:4], max_people=4,
                           image_size=tuple(size) if size else None, title=title)
        write_pose_viewer(tmp / "viewer.html", poses, h36m, names=names, title=f"energy3d pose: {source.name}",
                          keypoints_2d=pts_draw, image_size=tuple(size) if size else None)
        files = sorted(f.name for f in tmp.iterdir())
    return PoseResult(out=out, files=files, people=len(names), warnings=warnings,
                      seconds=doc["seconds"], info=doc["people"])
