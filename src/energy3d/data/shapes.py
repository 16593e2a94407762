"""The single-view voxel reconstruction dataset built from the CC0 object meshes (``objects_cc0``).

For every model listed in ``objects_cc0/INDEX.tsv`` the builder

1. reads the OBJ + MTL and normalises it (:func:`normalize_model`: Y up,
   front +Z, bounding-box centre at the origin, bounding-box diagonal 1, so the object lies in the
   sphere of radius 0.5);
2. voxelises it once on the **world grid** ``(R, R, R)`` over ``[-0.5, 0.5]^3`` (indexed
   ``[ix, iy, iz]``, the object's canonical frame; see :mod:`energy3d.geometry.voxel`);
3. renders ``V`` views (default 24, as 3D-R2N2 and IGE-Net §6.4): azimuth uniform in
   ``[0, 360)``, elevation uniform in ``[25, 30]`` degrees, no roll, camera distance
   ``CAMERA_DISTANCE = 2.0`` and field of view ``FOV_DEG = 30`` degrees, looking at the origin
   (:func:`energy3d.geometry.camera.orbit_camera`, Y up; azimuth 0 looks at the object's front).
   The radius-0.5 sphere subtends ``2 asin(0.25) = 28.96`` degrees, so no object ever leaves the
   frame; the object's larger image extent is 81% of the image side on median (5-95%: 56-92%;
   airplanes 61%). Images are ``S x S`` (``S`` = 128 for the paper, 64 for CPU configs),
   flat-shaded diffuse colours (Lambert + ambient, light fixed to the camera), anti-aliased by
   2 x 2 supersampling, stored as premultiplied RGBA so any background can be composited later;
4. voxelises each view's **frustum grid** ``(D, H, W) = (R, R, R)``: image rows x columns at
   ``R x R`` cells over the whole image, depth bins uniform in ``1/z`` over
   ``[z_near, z_far] = [CAMERA_DISTANCE - 0.5, CAMERA_DISTANCE + 0.5] = [1.5, 2.5]`` metres, which
   contains the object in every view.

Orientation of the source packs
-------------------------------
Every model is brought into the project's canonical object frame (Y up, front +Z, centred,
bounding-box diagonal 1; see :mod:`energy3d.geometry.mesh`) by :func:`normalize_model`, which looks
up each pack's rule below and calls :func:`energy3d.geometry.mesh.normalize_mesh`.

What the files look like (inspected over all 131 models of ``objects_cc0``: bounding boxes of
the raw OBJ vertices, and renders from the four horizontal axis directions with axis markers):

* **Kenney Furniture Pack 1.0** (INDEX ``pack == "Models"``): Y up, floor at ``y = 0``, units
  of about 10 cm (a chair is 4.7 tall), each model placed at its own offset in a shared room
  layout (``x`` up to 72, ``z`` down to -61). Fronts (seat openings, drawers, screens, the radio's
  dials) face **-Z**. Rule: rotate 180 degrees about Y, centre, scale.
* **Quaternius** packs (all other ``pack`` values): units of centimetres, mostly centred on the
  origin in x/z, floor at ``y = 0`` for furniture. Up and front per pack:

  ======================================  ======  =================================================
  pack                                    up      front (exceptions by model)
  ======================================  ======  =================================================
  Furniture Pack - March 2019             +Y      +Z
  Furniture Pack - Oct 2017               +Y      +X
  Updated Modular Dungeon - May 2019      +Y      +Z
  Airplane pack - Jan 2017                +Y      +Z (Commercial_Airplane -X, Private_plane -Z)
  Basic Car Pack - Jan 2017               +Y      +Z
  Public Transport Pack - Feb 2017        +Y      +Z (Bus, SchoolBus -X)
  Realistic Car Pack - Nov 2018           **+Z**  +Y
  Ship pack - Feb 2018                    +Y      +Z (Boat, Lifeboat -Z)
  Sci-Fi Guns - May 2018                  +Y      -Z
  Pirate Pack - Oct 2016                  +Y      +Z
  ======================================  ======  =================================================

A front is the side a user faces: a chair's seat opening, a bed's foot end, a bookcase's shelves,
a car's or plane's nose, a boat's bow (the Viking boat is nearly symmetric; its dragon head is
taken as the bow), a rifle's muzzle.

Colours: the 2018-2019 Quaternius packs (marked in ``_LINEAR_COLOR_PACKS``) were exported from
Blender with linear-light ``Kd`` (dark wood is ``Kd 0.14 0.09 0.04``, sofas 0.02); rendered as they
are they come out nearly black, so :func:`normalize_model` encodes them to sRGB. The 2016-2017
Quaternius packs carry only Blender's default grey ``Kd 0.8`` (their colours lived in textures
that the conversion dropped): they render grey. Kenney's ``Kd`` values are display colours.

Randomness: the views of a model come from ``numpy.random.default_rng([seed, crc32(name)])``, so
they do not depend on which other models are built.

Splits (fixed, independent of the build settings): within each category the model names are
ordered by the SHA-1 of the name (a fixed pseudo-random order that mixes the source packs), then
the first ``max(1, round(0.2 n))`` models are **test**, the next ``round(0.1 n)`` **val**, the
rest **train**, except that a category keeps no val model unless 3 remain for training (for the
131 models of objects_cc0: 90 train, 14 val, 27 test; every category has >= 1 test model).

Cache: ``energy3d.paths.cache_root()/shapes/<settings-hash>/`` holds ``settings.json``,
``splits.json`` and ``models/<category>/<name>.npz`` with

* ``images`` uint8 ``(V, S, S, 4)`` premultiplied RGBA (RGB = colour x coverage; A = coverage);
* ``frustum`` uint8 ``np.packbits`` of the bool ``(V, R, R, R)`` frustum grids (C order);
* ``world`` uint8 ``np.packbits`` of the bool ``(R, R, R)`` world grid;
* ``K`` ``(3, 3)``, ``R`` ``(V, 3, 3)``, ``t`` ``(V, 3)`` float32 cameras (world -> camera),
  ``azimuth``/``elevation`` ``(V,)`` degrees, ``z_range`` ``(2,)``, ``resolution``,
  ``image_size``, and ``source_sha1`` (of the OBJ + MTL bytes; a changed source is rebuilt).

Files are written atomically, so an interrupted build resumes where it stopped.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import time
import zlib
from dataclasses import asdict, dataclass
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from energy3d.errors import InputError
from energy3d.geometry.mesh import Mesh, linear_to_srgb, normalize_mesh

__all__ = [
    "FORMAT_VERSION",
    "CAMERA_DISTANCE",
    "FOV_DEG",
    "ELEVATION_RANGE",
    "model_orientation",
    "normalize_model",
    "ShapeSettings",
    "ModelEntry",
    "read_index",
    "objects_dir",
    "shape_splits",
    "shape_camera_intrinsics",
    "sample_views",
    "build_model",
    "build_shape_dataset",
    "ShapeDataset",
    "save_preview",
]

FORMAT_VERSION = 1
CAMERA_DISTANCE = 2.0
"""Camera distance from the object centre (normalised units: bounding-box diagonal = 1)."""
FOV_DEG = 30.0
"""Full field of view across the (square) image, degrees."""
ELEVATION_RANGE = (25.0, 30.0)
"""Camera elevation range in degrees (3D-R2N2 / IGE-Net §6.4)."""
SUPERSAMPLE = 2
SPLIT_FRACTIONS = (0.2, 0.1)  # test, val


# ----------------------------------------------------------------------------- pack orientation

# Source orientation of each pack (INDEX.tsv "pack" column): (up, front). Read off renders.
_KENNEY_PACK = "Models"
_KENNEY = ("+y", "-z")
_QUATERNIUS_FRONT = {
    "Furniture Pack - March 2019": ("+y", "+z"),
    "Furniture Pack - Oct 2017": ("+y", "+x"),
    "Updated Modular Dungeon - May 2019": ("+y", "+z"),
    "Airplane pack - Jan 2017": ("+y", "+z"),
    "Basic Car Pack - Jan 2017": ("+y", "+z"),
    "Public Transport Pack - Feb 2017": ("+y", "+z"),
    "Realistic Car Pack - Nov 2018": ("+z", "+y"),
    "Ship pack - Feb 2018": ("+y", "+z"),
    "Sci-Fi Guns - May 2018": ("+y", "-z"),
    "Pirate Pack - Oct 2016": ("+y", "+z"),
}
# Exceptions to the pack rule, by INDEX.tsv "name".
_MODEL_FRONT: dict[str, tuple[str, str]] = {
    "airplane_pack_jan_2017__Commercial_Airplane": ("+y", "-x"),
    "airplane_pack_jan_2017__Private_plane": ("+y", "-z"),
    "public_transport_pack_feb_2017__Bus": ("+y", "-x"),
    "public_transport_pack_feb_2017__SchoolBus": ("+y", "-x"),
    "ship_pack_feb_2018__Boat": ("+y", "-z"),
    "ship_pack_feb_2018__Lifeboat": ("+y", "-z"),
}
# Packs exported from Blender with linear-light Kd values (dark wood is Kd 0.14 0.09 0.04):
# normalize_model encodes their colours to sRGB so they display as designed. The 2016-2017
# Quaternius packs carry only Blender's default grey Kd 0.8 (their colours were textures).
_LINEAR_COLOR_PACKS = frozenset(
    {
        "Furniture Pack - March 2019",
        "Updated Modular Dungeon - May 2019",
        "Realistic Car Pack - Nov 2018",
        "Ship pack - Feb 2018",
        "Sci-Fi Guns - May 2018",
    }
)


def model_orientation(pack: str, name: str = "") -> tuple[str, str]:
    """``(up, front)`` axes of an objects_cc0 model from its INDEX.tsv ``pack`` and ``name``.

    Unknown packs are assumed Y up, front +Z (the Kenney and glTF convention).
    """
    if name in _MODEL_FRONT:
        return _MODEL_FRONT[name]
    if pack == _KENNEY_PACK:
        return _KENNEY
    return _QUATERNIUS_FRONT.get(pack, ("+y", "+z"))


def normalize_model(mesh: Mesh, pack: str, name: str = "", mode: str = "diagonal") -> Mesh:
    """Normalise an objects_cc0 model: the pack's (or model's) up/front rule, then :func:`normalize_mesh`;
    colours of packs with linear-light Kd are encoded to sRGB (see the module notes)."""
    up, front = model_orientation(pack, name)
    out = normalize_mesh(mesh, up=up, front=front, mode=mode)
    if pack in _LINEAR_COLOR_PACKS and out.face_colors is not None:
        out.face_colors = linear_to_srgb(out.face_colors)
    return out


@dataclass(frozen=True)
class ShapeSettings:
    """Everything that changes the content of a built model file (hashed into the cache folder name)."""

    image_size: int = 64
    resolution: int = 32
    views: int = 24
    seed: int = 0
    distance: float = CAMERA_DISTANCE
    fov_deg: float = FOV_DEG
    elevation: tuple[float, float] = ELEVATION_RANGE
    supersample: int = SUPERSAMPLE
    version: int = FORMAT_VERSION

    def __post_init__(self):
        if self.image_size < 8 or self.resolution < 2 or self.views < 1 or self.supersample < 1:
            raise InputError(
                f"shape settings: need image_size >= 8, resolution >= 2, views >= 1, got "
                f"{self.image_size}, {self.resolution}, {self.views}"
            )
        if self.image_size % self.resolution:
            raise InputError(f"image_size ({self.image_size}) must be a multiple of resolution ({self.resolution})")
        if not self.distance > 0.5:
            raise InputError(f"camera distance must exceed 0.5 (the object radius), got {self.distance}")

    @property
    def z_range(self) -> tuple[float, float]:
        """Frustum depth range ``(z_near, z_far)``: the radius-0.5 object sphere, in metres."""
        return (self.distance - 0.5, self.distance + 0.5)

    def digest(self) -> str:
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha1(blob).hexdigest()[:12]


@dataclass(frozen=True)
class ModelEntry:
    """One row of ``INDEX.tsv`` plus its split."""

    category: str
    name: str
    pack: str
    faces: int
    split: str

    def obj_path(self, objects: Path) -> Path:
        return objects / self.category / f"{self.name}.obj"


# ----------------------------------------------------------------------------- index and splits


def objects_dir(root=None) -> Path:
    """Locate the ``objects_cc0`` folder: ``root`` itself or ``root/objects_cc0``; default the data root's."""
    if root is None:
        from energy3d.paths import data_root

        root = data_root(required=True)
    r = Path(root)
    for cand in (r, r / "objects_cc0"):
        if (cand / "INDEX.tsv").is_file():
            return cand
    raise InputError(f"no objects_cc0/INDEX.tsv under {r} (set ENERGY3D_DATA or pass root)")


def _split_order_key(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()


def shape_splits(names_by_category: dict[str, list[str]]) -> dict[str, str]:
    """Fixed split of model names within each category (see the module notes).

    Returns:
        ``{name: "train" | "val" | "test"}``.
    """
    out = {}
    for cat in sorted(names_by_category):
        names = sorted(names_by_category[cat], key=_split_order_key)
        n = len(names)
        n_test = max(1, int(SPLIT_FRACTIONS[0] * n + 0.5)) if n >= 2 else 0
        n_val = int(SPLIT_FRACTIONS[1] * n + 0.5) if n - n_test >= 3 else 0
        for i, nm in enumerate(names):
            out[nm] = "test" if i < n_test else ("val" if i < n_test + n_val else "train")
    return out


def read_index(root=None) -> list[ModelEntry]:
    """Read ``INDEX.tsv`` (columns category, name, pack, source_path, faces) with splits, sorted by (category, name)."""
    objects = objects_dir(root)
    p = objects / "INDEX.tsv"
    rows = []
    with open(p, newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t")
        need = {"category", "name", "pack"}
        if not need.issubset(reader.fieldnames or []):
            raise InputError(f"{p}: expected columns {sorted(need)}, got {reader.fieldnames}")
        for r in reader:
            rows.append(r)
    if not rows:
        raise InputError(f"{p}: no models listed")
    by_cat: dict[str, list[str]] = {}
    for r in rows:
        by_cat.setdefault(r["category"], []).append(r["name"])
    splits = shape_splits(by_cat)
    out = [ModelEntry(r["category"], r["name"], r["pack"], int(r.get("faces") or 0), splits[r["name"]]) for r in rows]
    return sorted(out, key=lambda e: (e.category, e.name))


# ----------------------------------------------------------------------------- cameras


def shape_camera_intrinsics(image_size: int, fov_deg: float = FOV_DEG) -> np.ndarray:
    """``(3, 3)`` intrinsics: ``f = (S/2) / tan(fov/2)``, principal point at the image centre ``(S/2, S/2)``."""
    f = (image_size / 2.0) / np.tan(np.radians(fov_deg) / 2.0)
    return np.array([[f, 0.0, image_size / 2.0], [0.0, f, image_size / 2.0], [0.0, 0.0, 1.0]])


def sample_views(settings: ShapeSettings, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Seeded view angles of one model: ``azimuth (V,)`` uniform in [0, 360), ``elevation (V,)`` uniform
    in ``settings.elevation`` (degrees)."""
    rng = np.random.default_rng([settings.seed, zlib.crc32(name.encode())])
    az = rng.uniform(0.0, 360.0, settings.views)
    el = rng.uniform(settings.elevation[0], settings.elevation[1], settings.views)
    return az, el


def _cameras(settings: ShapeSettings, az: np.ndarray, el: np.ndarray):
    from energy3d.geometry.camera import orbit_camera

    target = torch.zeros(3, dtype=torch.float64)
    R, t = orbit_camera(target, settings.distance, torch.as_tensor(az), torch.as_tensor(el))
    return R.numpy(), t.numpy()


# ----------------------------------------------------------------------------- building


def _source_sha1(obj: Path) -> str:
    h = hashlib.sha1(obj.read_bytes())
    mtl = obj.with_suffix(".mtl")
    if mtl.is_file():
        h.update(mtl.read_bytes())
    return h.hexdigest()


def _render_rgba(mesh, K, R, t, size: int, ss: int) -> np.ndarray:
    """Premultiplied RGBA uint8 ``(S, S, 4)`` with ``ss x ss`` supersampling."""
    from energy3d.geometry.render import render

    Ks = K.copy()
    Ks[:2] *= ss
    rgb, mask, _ = render(mesh, Ks, R, t, size * ss, size * ss, background=(0.0, 0.0, 0.0))
    rgba = np.concatenate([rgb, mask[..., None].astype(np.float32)], axis=-1)
    rgba = rgba.reshape(size, ss, size, ss, 4).mean(axis=(1, 3))
    return np.round(rgba * 255).astype(np.uint8)


def build_model(obj_path, pack: str, name: str, settings: ShapeSettings) -> dict[str, np.ndarray]:
    """Render and voxelise one model (steps 1-4 of the module notes).

    Returns:
        The arrays stored in the model's npz (see the module notes).
    """
    from energy3d.data.mesh_io import read_obj
    from energy3d.geometry.mesh import is_watertight
    from energy3d.geometry.voxel import voxelize, voxelize_frustum

    obj_path = Path(obj_path)
    mesh = normalize_model(read_obj(obj_path), pack, name)
    fill = "flood" if is_watertight(mesh) else "parity"
    S, Rv, V = settings.image_size, settings.resolution, settings.views
    z_near, z_far = settings.z_range
    K = shape_camera_intrinsics(S, settings.fov_deg)
    az, el = sample_views(settings, name)
    Rs, ts = _cameras(settings, az, el)
    images = np.empty((V, S, S, 4), np.uint8)
    frustum = np.empty((V, Rv, Rv, Rv), bool)
    for v in range(V):
        images[v] = _render_rgba(mesh, K, Rs[v], ts[v], S, settings.supersample)
        frustum[v] = voxelize_frustum(mesh, K, Rs[v], ts[v], S, S, Rv, z_near, z_far, fill=fill)
    world = voxelize(mesh, Rv, fill=fill)
    return {
        "images": images,
        "frustum": np.packbits(frustum.reshape(V, -1), axis=1),
        "world": np.packbits(world.reshape(-1)),
        "K": K.astype(np.float32),
        "R": Rs.astype(np.float32),
        "t": ts.astype(np.float32),
        "azimuth": az.astype(np.float32),
        "elevation": el.astype(np.float32),
        "z_range": np.array([z_near, z_far], np.float32),
        "resolution": np.array(Rv),
        "image_size": np.array(S),
        "source_sha1": np.array(_source_sha1(obj_path)),
        "fill": np.array(fill),
    }


def _model_file(cache: Path, e: ModelEntry) -> Path:
    return cache / "models" / e.category / f"{e.name}.npz"


def _is_current(path: Path, sha1: str) -> bool:
    if not path.is_file():
        return False
    try:
        with np.load(path) as z:
            return str(z["source_sha1"]) == sha1
    except Exception:  # unreadable (e.g. interrupted write): rebuild
        return False


def _build_one(args) -> tuple[str, float]:
    obj, pack, name, out, settings = args
    t0 = time.perf_counter()
    arrays = build_model(obj, pack, name, settings)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + f".tmp{os.getpid()}.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, out)
    return name, time.perf_counter() - t0


def _select(entries: list[ModelEntry], categories, limit_per_category) -> list[ModelEntry]:
    if categories is not None:
        cats = [categories] if isinstance(categories, str) else list(categories)
        known = {e.category for e in entries}
        bad = [c for c in cats if c not in known]
        if bad:
            raise InputError(f"unknown categories {bad}; known: {sorted(known)}")
        entries = [e for e in entries if e.category in cats]
    if limit_per_category is not None:
        if int(limit_per_category) < 1:
            raise InputError(f"limit_per_category must be >= 1, got {limit_per_category}")
        # keep the split balance: take models in split-order (test first, then val, then train)
        order = {"test": 0, "val": 1, "train": 2}
        out, count = [], {}
        for e in sorted(entries, key=lambda e: (e.category, order[e.split], _split_order_key(e.name))):
            if count.get(e.category, 0) < int(limit_per_category):
                out.append(e)
                count[e.category] = count.get(e.category, 0) + 1
        entries = sorted(out, key=lambda e: (e.category, e.name))
    return entries


def build_shape_dataset(
    root=None,
    image_size: int = 64,
    resolution: int = 32,
    views: int = 24,
    seed: int = 0,
    workers: int = 1,
    categories=None,
    limit_per_category: int | None = None,
    progress: bool = True,
) -> Path:
    """Build (or reuse) the cached shape dataset; returns its cache folder.

    Args:
        root: data folder holding ``objects_cc0/`` (or that folder itself); default
            :func:`energy3d.paths.data_root`.
        image_size: image side ``S`` in pixels (128 paper, 64 CPU configs).
        resolution: grid resolution ``R`` (32/64/128) for world and frustum grids; must divide ``S``.
        views: views per model.
        seed: seed of the view angles.
        workers: processes (1 = in this process).
        categories: restrict to these categories (names as in INDEX.tsv).
        limit_per_category: build at most this many models per category (test first, then val, train).
        progress: show a rich progress bar.

    Returns:
        ``cache_root()/shapes/<settings-hash>``; models already built with the same source are skipped.
    """
    from energy3d.paths import cache_root

    settings = ShapeSettings(image_size=int(image_size), resolution=int(resolution), views=int(views), seed=int(seed))
    objects = objects_dir(root)
    entries = _select(read_index(objects), categories, limit_per_category)
    cache = cache_root() / "shapes" / settings.digest()
    cache.mkdir(parents=True, exist_ok=True)
    meta = {"settings": asdict(settings), "z_range": settings.z_range, "format": "see energy3d.data.shapes"}
    (cache / "settings.json").write_text(json.dumps(meta, indent=1))
    all_entries = read_index(objects)
    (cache / "splits.json").write_text(
        json.dumps({e.name: {"category": e.category, "split": e.split} for e in all_entries}, indent=1)
    )
    todo = []
    for e in entries:
        obj = e.obj_path(objects)
        if not obj.is_file():
            raise InputError(f"model file missing: {obj}")
        if not _is_current(_model_file(cache, e), _source_sha1(obj)):
            todo.append((str(obj), e.pack, e.name, str(_model_file(cache, e)), settings))
    if not todo:
        return cache
    bar = _progress(progress)
    with bar:
        task = bar.add_task(f"shapes {settings.image_size}px/{settings.resolution}^3", total=len(todo))
        if int(workers) <= 1:
            for a in todo:
                _build_one(a)
                bar.advance(task)
        else:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor, as_completed

            with ProcessPoolExecutor(int(workers), mp_context=mp.get_context("spawn")) as ex:
                for fut in as_completed([ex.submit(_build_one, a) for a in todo]):
                    fut.result()
                    bar.advance(task)
    return cache


class _NoProgress:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False

    def add_task(self, *a, **k):
        return 0

    def advance(self, *a, **k):
        pass


def _progress(enabled: bool):
    if not enabled:
        return _NoProgress()
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), transient=False)


# ----------------------------------------------------------------------------- dataset


class ShapeDataset(torch.utils.data.Dataset):
    """Views of the cached shape dataset, one item per (model, view).

    Builds the cache first if needed (:func:`build_shape_dataset`). Each item is a dict:

    * ``image`` float32 ``(3, S, S)`` in [0, 1], composited over ``background``;
    * ``mask`` float32 ``(S, S)``: pixel coverage in [0, 1] (anti-aliased silhouette);
    * ``frustum`` float32 ``(D, H, W) = (R, R, R)`` occupancy in the camera frustum (0/1);
    * ``world`` float32 ``(R, R, R)`` occupancy in the canonical object frame, ``[ix, iy, iz]``;
    * ``K`` ``(3, 3)``, ``R`` ``(3, 3)``, ``t`` ``(3,)`` float32 camera (world -> camera);
    * ``z_range`` ``(2,)`` float32 frustum depth range in metres;
    * ``category`` int (index into ``self.categories``), ``category_name`` str, ``model`` str, ``view`` int.

    Args:
        split: ``"train"``, ``"val"``, ``"test"`` or ``"all"``.
        image_size, resolution, views, seed: build settings (see :func:`build_shape_dataset`).
        root: data folder (default: :func:`energy3d.paths.data_root`).
        categories, limit_per_category: model selection (as in :func:`build_shape_dataset`).
        background: ``"white"``, ``"black"``, ``"random"`` (a uniform random colour per item,
            drawn from torch's RNG) or an RGB triple in [0, 1].
        workers: build processes when the cache is missing.
        cache_models: how many model files to keep unpacked in memory (LRU).
    """

    def __init__(
        self,
        split: str = "train",
        image_size: int = 64,
        resolution: int = 32,
        views: int = 24,
        seed: int = 0,
        root=None,
        categories=None,
        limit_per_category: int | None = None,
        background="white",
        workers: int = 1,
        cache_models: int = 16,
        progress: bool = True,
    ):
        if split not in ("train", "val", "test", "all"):
            raise InputError(f"split must be train, val, test or all, got {split!r}")
        if isinstance(background, str):
            if background not in ("white", "black", "random"):
                raise InputError(f"background must be 'white', 'black', 'random' or an RGB triple, got {background!r}")
        else:
            bg = np.asarray(background, dtype=np.float32).reshape(-1)
            if bg.shape != (3,) or bg.min() < 0 or bg.max() > 1:
                raise InputError(f"background colour must be 3 values in [0, 1], got {background!r}")
        self.background = background
        self.settings = ShapeSettings(
            image_size=int(image_size), resolution=int(resolution), views=int(views), seed=int(seed)
        )
        self.cache = build_shape_dataset(root, image_size, resolution, views, seed, workers, categories,
                                         limit_per_category, progress=progress)
        entries = _select(read_index(root), categories, limit_per_category)
        self.categories = sorted({e.category for e in read_index(root)})
        self.entries = [e for e in entries if split == "all" or e.split == split]
        self.split = split
        self._cache_models = max(1, int(cache_models))
        self._models: OrderedDict[int, dict] = OrderedDict()

    def __getstate__(self):  # DataLoader workers get an empty model cache
        d = dict(self.__dict__)
        d["_models"] = OrderedDict()
        return d

    def __len__(self) -> int:
        return len(self.entries) * self.settings.views

    def _load(self, i: int) -> dict:
        if i in self._models:
            self._models.move_to_end(i)
            return self._models[i]
        path = _model_file(self.cache, self.entries[i])
        try:
            with np.load(path) as z:
                m = {k: z[k] for k in ("images", "frustum", "world", "K", "R", "t", "z_range")}
        except (OSError, KeyError, ValueError) as err:
            raise InputError(f"cached model file {path} is unreadable ({err}); delete it and rebuild") from None
        self._models[i] = m
        if len(self._models) > self._cache_models:
            self._models.popitem(last=False)
        return m

    def _background(self) -> np.ndarray:
        if isinstance(self.background, str):
            if self.background == "random":
                return torch.rand(3).numpy().astype(np.float32)
            return np.full(3, 1.0 if self.background == "white" else 0.0, np.float32)
        return np.asarray(self.background, np.float32).reshape(3)

    def __getitem__(self, idx: int) -> dict:
        if not -len(self) <= idx < len(self):
            raise IndexError(f"index {idx} out of range for {len(self)} items")
        idx = idx % len(self)
        mi, v = divmod(idx, self.settings.views)
        e = self.entries[mi]
        m = self._load(mi)
        Rv = self.settings.resolution
        rgba = m["images"][v].astype(np.float32) / 255.0
        alpha = rgba[..., 3]
        img = rgba[..., :3] + (1.0 - alpha[..., None]) * self._background()
        fr = np.unpackbits(m["frustum"][v], count=Rv**3).reshape(Rv, Rv, Rv)
        wo = np.unpackbits(m["world"], count=Rv**3).reshape(Rv, Rv, Rv)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).clamp_(0, 1),
            "mask": torch.from_numpy(alpha),
            "frustum": torch.from_numpy(fr.astype(np.float32)),
            "world": torch.from_numpy(wo.astype(np.float32)),
            "K": torch.from_numpy(m["K"].copy()),
            "R": torch.from_numpy(m["R"][v].copy()),
            "t": torch.from_numpy(m["t"][v].copy()),
            "z_range": torch.from_numpy(m["z_range"].copy()),
            "category": self.categories.index(e.category),
            "category_name": e.category,
            "model": e.name,
            "view": v,
        }


# ----------------------------------------------------------------------------- preview


def save_preview(
    dataset: ShapeDataset, path="/tmp/shapes_preview.png", n: int = 8, scale: int = 2, step: int | None = None
) -> Path:
    """Save a contact sheet: renders (top row) and their frustum-voxel silhouettes over the image (bottom row).

    Args:
        dataset: a :class:`ShapeDataset`.
        path: output PNG.
        n: number of items shown.
        scale: nearest-neighbour magnification.
        step: take every ``step``-th item (default: spread ``n`` items over the dataset).

    Returns:
        The path written.
    """
    from PIL import Image

    step = step or max(1, len(dataset) // n)
    tiles_top, tiles_bot = [], []
    for i in range(0, min(len(dataset), n * step), step)[:n]:
        it = dataset[i]
        img = it["image"].numpy().transpose(1, 2, 0)
        S = img.shape[0]
        sil = it["frustum"].numpy().max(axis=0)  # (H, W) cells
        up = np.kron(sil, np.ones((S // sil.shape[0], S // sil.shape[1])))
        over = img * 0.45 + 0.55 * np.where(up[..., None] > 0, np.array([0.9, 0.1, 0.1]), np.array([1.0, 1.0, 1.0]))
        tiles_top.append(img)
        tiles_bot.append(over)
    pad = lambda a: np.pad(a, ((2, 2), (2, 2), (0, 0)), constant_values=0.6)  # noqa: E731
    top = np.concatenate([pad(t) for t in tiles_top], 1)
    bottom = np.concatenate([pad(t) for t in tiles_bot], 1)
    sheet = np.concatenate([top, bottom], 0)
    sheet = np.kron(sheet, np.ones((scale, scale, 1)))
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.round(np.clip(sheet, 0, 1) * 255).astype(np.uint8)).save(p)
    return p
