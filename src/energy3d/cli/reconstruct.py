"""``energy3d reconstruct`` (image -> voxels, mesh, PNG) and the voxel parts of ``fit`` / ``evaluate``.

``reconstruct`` steps: read the image (RGB or RGBA; RGBA is composited over the training
background, white), make it square by padding with white and resize it to the model's input size
(both with a warning), predict occupancy probabilities in the camera frustum, resize them to
``--resolution`` (trilinear up, average down), extract the ``--threshold`` iso-surface by marching
cubes and map it to camera-frame metres with the frustum grid geometry the model was trained with,
then write everything at once: files are written to a temporary folder and moved into place only
when all succeeded.

Geometry (as the training data, :mod:`energy3d.data.shapes`): pinhole camera with a 30 degree field
of view and the principal point at the image centre; depth bins uniform in ``1/z`` over
``[1.5, 2.5]`` m. Units are those of the normalised training objects (bounding-box diagonal 1,
camera 2 units away), so sizes and distances are relative to that convention. Frame: camera,
x right, y down, z forward (OpenCV).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from energy3d.cli._outputs import atomic_outputs
from energy3d.errors import InputError

BUNDLED = Path(__file__).resolve().parents[1] / "assets" / "voxel-ige-32.json"
FRAME = "camera frame, x right, y down, z forward (OpenCV); origin at the camera centre; units of the normalised objects (metres)"
RESOLUTIONS = (32, 64, 128)
MESH_FORMATS = (".obj", ".ply", ".glb")
BACKGROUND = 1.0  # the training renders' background (white)


# ----------------------------------------------------------------------------- image input


def _warn(msg: str, warnings: list[str]) -> None:
    warnings.append(msg)
    print(f"energy3d reconstruct: warning: {msg}", file=sys.stderr)


def read_image(path, size: int, warnings: list[str] | None = None) -> torch.Tensor:
    """Read an RGB(A) image as a ``(3, size, size)`` float tensor in [0, 1].

    RGBA is composited over white; non-square images are padded with white to a square; images of
    another size are resized (box filter when shrinking, bilinear when enlarging). Each adjustment
    adds a warning.

    Raises:
        InputError: missing, empty or unreadable file; a mode other than RGB/RGBA; a blank image.
    """
    from PIL import Image, UnidentifiedImageError

    warnings = [] if warnings is None else warnings
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: the file is empty")
    try:
        with Image.open(p) as im:
            im.load()
            img = im.copy()
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise InputError(f"{p}: not a readable image ({type(e).__name__})") from None
    if img.width == 0 or img.height == 0:
        raise InputError(f"{p}: the image is empty ({img.width} x {img.height} pixels)")
    if img.mode not in ("RGB", "RGBA"):
        raise InputError(f"{p}: expected an RGB image, got mode {img.mode!r}; convert it to RGB first")
    a = np.asarray(img, dtype=np.float32) / 255.0
    if img.mode == "RGBA":
        alpha = a[..., 3:]
        a = a[..., :3] * alpha + BACKGROUND * (1 - alpha)
    h, w = a.shape[:2]
    if h != w:
        s = max(h, w)
        sq = np.full((s, s, 3), BACKGROUND, np.float32)
        sq[(s - h) // 2:(s - h) // 2 + h, (s - w) // 2:(s - w) // 2 + w] = a
        a = sq
        _warn(f"{p.name}: image is {w} x {h}, not square; padded with white to {s} x {s}", warnings)
    if a.shape[0] != size:
        resample = Image.Resampling.BOX if a.shape[0] > size else Image.Resampling.BILINEAR
        im8 = Image.fromarray(np.round(a * 255).astype(np.uint8)).resize((size, size), resample)
        _warn(f"{p.name}: resized from {a.shape[0]} x {a.shape[0]} to the model's {size} x {size} pixels", warnings)
        a = np.asarray(im8, dtype=np.float32) / 255.0
    if float(a.max() - a.min()) < 2.0 / 255.0:
        raise InputError(f"{p}: the image is blank (a single colour); nothing to reconstruct")
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))


# ----------------------------------------------------------------------------- mesh


def frustum_index_to_camera(idx: np.ndarray, K, image_size: int, shape, z_range) -> np.ndarray:
    """Map continuous frustum index coordinates ``(..., 3)`` = ``(d, r, c)`` to camera-frame points.

    Inverse of :func:`energy3d.geometry.voxel.frustum_coordinates`: ``1/z = 1/z_near - d/D (1/z_near -
    1/z_far)``, ``v = r S / H``, ``u = c S / W``, ``(x, y) = K^-1 (u, v, 1) z``.
    """
    K = np.asarray(K, np.float64)
    D, Hg, Wg = shape
    zn, zf = float(z_range[0]), float(z_range[1])
    w = 1.0 / zn - idx[..., 0] / D * (1.0 / zn - 1.0 / zf)
    z = 1.0 / w
    v = idx[..., 1] * (image_size / Hg)
    u = idx[..., 2] * (image_size / Wg)
    yn = (v - K[1, 2]) / K[1, 1]
    xn = (u - K[0, 2] - K[0, 1] * yn) / K[0, 0]
    return np.stack([xn * z, yn * z, z], axis=-1)


def occupancy_to_mesh(prob: np.ndarray, K, image_size: int, z_range, threshold: float = 0.5):
    """Marching-cubes surface of a frustum occupancy grid, in camera-frame metres.

    Args:
        prob: ``(D, H, W)`` occupancy probabilities (frustum layout).
        K: ``(3, 3)`` intrinsics of the ``image_size`` square image.
        z_range: ``(z_near, z_far)`` of the grid.
        threshold: iso-level.

    Returns:
        A :class:`~energy3d.geometry.mesh.Mesh` with outward-wound faces.

    Raises:
        InputError: no voxel above the threshold.
    """
    from skimage.measure import marching_cubes

    from energy3d.geometry.mesh import Mesh

    g = np.asarray(prob, np.float32)
    if not (g > threshold).any():
        raise InputError(f"the model found no object: no voxel has occupancy above {threshold:g} "
                         f"(max {float(g.max()):.3f}); try a lower --threshold")
    padded = np.pad(g, 1, constant_values=0.0)
    verts, faces, _, _ = marching_cubes(padded, level=float(threshold))
    idx = verts - 1.0 + 0.5  # voxel (d, r, c) has its centre at index coordinate (d + .5, r + .5, c + .5)
    pts = frustum_index_to_camera(idx, K, image_size, g.shape, z_range)
    faces = faces.astype(np.int64)
    tri = pts[faces]
    signed = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0
    if signed < 0:
        faces = faces[:, ::-1].copy()
    return Mesh(pts, faces)


# ----------------------------------------------------------------------------- figure


def _render_views(mesh, K, image_size: int, out_size: int = 256):
    from energy3d.geometry.render import render

    s = out_size / image_size
    Ks = np.asarray(K, np.float64).copy()
    Ks[:2] *= s
    views = []
    c = mesh.vertices.mean(axis=0)
    for ang in (0.0, 70.0):
        a = np.radians(ang)
        Ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
        t = c - Ry @ c  # rotate about the object's centre, camera unchanged
        rgb, _, _ = render(mesh, Ks, Ry, t, out_size, out_size, background=(1, 1, 1), supersample=2)
        views.append((ang, rgb))
    return views


def save_figure(path, image: np.ndarray, prob: np.ndarray, mesh, K, threshold: float, title: str = "") -> None:
    """PNG with the input, its predicted silhouette over it and the mesh from two views."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    S = image.shape[0]
    sil = (prob > threshold).any(axis=0).astype(np.float32)
    rep = S // sil.shape[0] if S >= sil.shape[0] else 1
    up = np.kron(sil, np.ones((rep, rep), np.float32)) if rep > 1 else sil
    if up.shape[0] != S:
        from PIL import Image

        up = np.asarray(Image.fromarray((up * 255).astype(np.uint8)).resize((S, S), Image.Resampling.NEAREST)) / 255.0
    over = image * 0.5 + 0.5 * np.where(up[..., None] > 0.5, np.array([0.85, 0.15, 0.1]), np.array([1.0, 1.0, 1.0]))
    views = _render_views(mesh, K, S)
    fig, ax = plt.subplots(1, 4, figsize=(12, 3.4))
    panels = [(image, "input"), (over, f"silhouette (occupancy > {threshold:g})")]
    panels += [(rgb, "mesh, input view" if ang == 0 else f"mesh, turned {ang:.0f}°") for ang, rgb in views]
    for a, (im, t) in zip(ax, panels):
        a.imshow(np.clip(im, 0, 1), interpolation="nearest" if im.shape[0] <= 128 else "antialiased")
        a.set_title(t, fontsize=9)
        a.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ----------------------------------------------------------------------------- reconstruct


def _check_mesh_name(name: str) -> str:
    p = Path(name)
    if p.name != name or name in ("", ".", ".."):
        raise InputError(f"--mesh takes a file name without folders, got {name!r}")
    if p.suffix.lower() not in MESH_FORMATS:
        raise InputError(f"--mesh {name!r}: unknown mesh format {p.suffix!r}; use .obj, .ply or .glb")
    return name


def run_reconstruct(args) -> Path:
    from energy3d.data.mesh_io import save_mesh
    from energy3d.models.voxel import resize_grid
    from energy3d.voxels import load_voxel_model, predict_voxels

    mesh_name = _check_mesh_name(args.mesh)
    if args.resolution is not None and args.resolution not in RESOLUTIONS:
        raise InputError(f"--resolution must be one of {', '.join(map(str, RESOLUTIONS))}, got {args.resolution}")
    if not 0.0 < args.threshold < 1.0:
        raise InputError(f"--threshold must lie in (0, 1), got {args.threshold}")
    if args.steps is not None and args.steps < 0:
        raise InputError(f"--steps must be >= 0, got {args.steps}")
    ckpt = Path(args.checkpoint) if args.checkpoint else BUNDLED
    if args.checkpoint is None and not BUNDLED.is_file():
        raise InputError("no bundled voxel model is installed; pass --checkpoint runs/NAME/best.json "
                         "(train one with: energy3d fit configs/voxel/ige-mn-32.json)")
    t_start = time.perf_counter()
    model, meta = load_voxel_model(ckpt)
    if meta.get("output", {}).get("target", "frustum") != "frustum":
        raise InputError(f"{ckpt}: this model predicts world-aligned grids; reconstruct needs a frustum model")
    geo = meta["frustum"]
    S = int(model.cfg.image_size)
    warnings: list[str] = []
    image = read_image(args.image, S, warnings)
    t_load = time.perf_counter()
    prob = predict_voxels(model, image[None], steps=args.steps)
    R = args.resolution or model.cfg.resolution
    prob = resize_grid(prob, R)[0].numpy().astype(np.float32)
    t_infer = time.perf_counter()
    mesh = occupancy_to_mesh(prob, geo["K"], S, geo["z_range"], args.threshold)
    t_mesh = time.perf_counter()
    seconds = {"load_model_and_image": round(t_load - t_start, 3), "inference": round(t_infer - t_load, 3),
               "marching_cubes": round(t_mesh - t_infer, 3), "total_before_writing": round(t_mesh - t_start, 3),
               "threads": torch.get_num_threads()}

    out = Path(args.out)
    with atomic_outputs(out, "reconstruct") as tmp:
        np.savez_compressed(tmp / "occupancy.npz", probability=prob, occupied=prob > args.threshold,
                            threshold=np.float32(args.threshold), K=np.asarray(geo["K"], np.float32),
                            z_range=np.asarray(geo["z_range"], np.float32), image_size=np.int64(S),
                            layout=np.array("(D, H, W): depth bins (0 nearest, uniform in 1/z over z_range) x image rows x columns"))
        save_mesh(mesh, tmp / mesh_name)
        save_figure(tmp / "reconstruct.png", image.numpy().transpose(1, 2, 0), prob, mesh, geo["K"], args.threshold,
                    title=f"{Path(args.image).name}: {meta['model_type']} at {R}³")
        doc = {
            "energy3d": __import__("energy3d").__version__,
            "input": str(args.image),
            "checkpoint": str(ckpt), "model_type": meta["model_type"],
            "model_resolution": int(model.cfg.resolution), "resolution": int(R),
            "upsampled": bool(R != model.cfg.resolution), "threshold": args.threshold,
            "steps": getattr(model, "steps", 0) if args.steps is None else args.steps,
            "occupied_voxels": int((prob > args.threshold).sum()),
            "mesh": {"file": mesh_name, "vertices": mesh.num_vertices, "faces": mesh.num_faces},
            "frame": FRAME, "camera": geo, "warnings": warnings, "seconds": seconds,
        }
        (tmp / "reconstruct.json").write_text(json.dumps(doc, indent=1))
        written = sorted(f.name for f in tmp.iterdir())
    print(f"reconstructed {args.image} at {R}^3 in {seconds['total_before_writing']:.2f} s "
          f"(inference {seconds['inference']:.2f} s) -> {out}/ ({', '.join(written)})")
    return out


# ----------------------------------------------------------------------------- fit / evaluate


def fit_voxel(args, raw: dict) -> int:
    """``energy3d fit`` for a ``"kind": "voxel"`` config (called by :func:`energy3d.cli.main.cmd_fit`)."""
    from energy3d.cli.main import _parse_set, run_fit
    from energy3d.config import from_dict
    from energy3d.lifting import _merge
    from energy3d.voxels import VoxelExperiment, VoxelTask

    raw = dict(raw)
    raw.pop("kind", None)
    exp = from_dict(VoxelExperiment, _merge(raw, _parse_set(args.set)), where=str(args.config))
    return run_fit(args, "voxel", exp, lambda e: VoxelTask(e, progress=not args.quiet))


def eval_dataset_config(data_cfg, resolution: int, split: str):
    """The data config to score a model trained on ``data_cfg`` at ``resolution``.

    Images stay at the training size when it is a multiple of ``resolution``; otherwise they are
    rendered at ``resolution`` pixels (and area-averaged to the model's size at evaluation). For
    the val/test splits only as many models per category are built as those splits can hold.
    """
    import dataclasses

    from energy3d.data.shapes import read_index

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


def evaluate_voxel_cli(args) -> int:
    """``energy3d evaluate`` of a voxel checkpoint: IoU per category at one or more resolutions."""
    from energy3d.config import from_dict
    from energy3d.voxels import VoxelDataConfig, evaluate_voxel, load_voxel_model, open_shape_split

    model, meta = load_voxel_model(args.checkpoint)
    data_cfg = from_dict(VoxelDataConfig, meta["config"]["data"])
    resolutions = args.resolution or [model.cfg.resolution]
    for r in resolutions:
        if r < 4 or r & (r - 1):
            raise InputError(f"--resolution values must be powers of two, got {r}")
    results = {"checkpoint": str(args.checkpoint), "model_type": meta["model_type"], "split": args.split,
               "target": data_cfg.target, "parameters": meta.get("parameters"), "macs": meta.get("macs"),
               "by_resolution": {}}
    for r in resolutions:
        cfg = eval_dataset_config(data_cfg, r, args.split)
        ds = open_shape_split(cfg, args.split)
        res = evaluate_voxel(model, ds, target=data_cfg.target, steps=args.steps, limit=args.limit,
                             max_views=data_cfg.max_views)
        res["data"] = f"objects_cc0 {args.split} split, {cfg.image_size} px images, {r}^3 {data_cfg.target} grids"
        results["by_resolution"][str(r)] = res
    print_voxel_table(results)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


def print_voxel_table(results: dict, title: str | None = None) -> None:
    """Rich table: IoU@0.5 (%) per category and resolution, the mean over categories, the best threshold."""
    from rich.console import Console
    from rich.table import Table

    by = results["by_resolution"]
    t = Table(title=title or f"{results['model_type']} ({results['target']} grids, {results['split']} split): IoU @ 0.5, %")
    t.add_column("category")
    for r in by:
        t.add_column(f"{r}³", justify="right")
    cats = sorted({c for v in by.values() for c in v["iou@0.5"]["per_category"]})
    for c in cats:
        t.add_row(c, *[f"{100 * v['iou@0.5']['per_category'][c]['iou']:.1f}" if c in v["iou@0.5"]["per_category"] else "-"
                       for v in by.values()])
    t.add_row("mean (of categories)", *[f"{100 * v['iou@0.5']['mean']:.1f}" for v in by.values()], style="bold")
    t.add_row("best threshold (oracle)", *[f"{100 * v['best_threshold']['mean']:.1f} @ {v['best_threshold']['threshold']:.2f}"
                                           for v in by.values()])
    Console().print(t)
