"""Lifting dataset: real 3D motion posed in front of random virtual cameras.

Each 3D pose (metres, Y-up world) is seen by a camera placed on a sphere around the person
(:func:`sample_cameras`): distance 3-7 m, azimuth all round, elevation -10 to +35 degrees, a small
roll, focal 900-1500 px, a 1000x1000 image and a jittered principal point, all drawn from a seeded
generator. The dataset holds camera-frame 3D joints (the targets, metres, not root-centred) and
exact 2D projections (pixels); :func:`detector_noise` turns exact 2D into what a 2D detector gives
(per-joint Gaussian jitter, occasional outliers and left/right swaps, dropped joints).

Dropped joints are imputed exactly as ``energy3d lift`` imputes zero-confidence joints (the
position of the nearest visible joint in the kinematic tree, see
:func:`energy3d.data.keypoints.impute_missing`), so a model trained on noisy 2D has
seen what inference will feed it.

Model inputs are normalised camera coordinates ``(p - c) / f``.

Sources and splits. ``LiftDataConfig.sources`` mixes motion sources with weights (``"hdm05:4"``: four
cameras per training pose); every source has fixed train / val / test splits, by clip style for
Bandai (:mod:`energy3d.data.bandai`) and **by person** for the others (:data:`PERSON_SPLITS`), so
test people are never seen in training.

2D geometry. ``keypoints="rig"`` feeds the projections of the rig's joints; ``"detector"`` feeds
what ``energy3d lift`` builds from a detector's COCO keypoints (virtual markers, see
:mod:`energy3d.data.augment`), and ``proportions`` scales bone groups per sample. Both are drawn
per batch from seeded generators (training) or once from a fixed seed (validation, evaluation).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import torch

from energy3d.data.augment import MarkerConfig, ProportionConfig, detector_keypoints_2d, scale_bones
from energy3d.errors import InputError
from energy3d.geometry.camera import intrinsics, orbit_camera, project, to_normalized
from energy3d.skeleton import Skeleton, get_layout

Tensor = torch.Tensor


@dataclass(frozen=True)
class NoiseConfig:
    """Detector-noise model for 2D keypoints (pixels, for a 1000 px image).

    Attributes:
        sigma_px: standard deviation of per-joint Gaussian jitter.
        outlier_prob: probability that a joint is an outlier, displaced by N(0, outlier_sigma_px).
        swap_prob: probability per left/right pair that the two detections are swapped.
        drop_prob: probability that a joint is not detected (then imputed, see module docstring).
    """

    sigma_px: float = 4.0
    outlier_prob: float = 0.02
    outlier_sigma_px: float = 40.0
    swap_prob: float = 0.01
    drop_prob: float = 0.02


@dataclass(frozen=True)
class CameraConfig:
    """Ranges of the virtual cameras (uniform draws unless noted)."""

    distance: tuple[float, float] = (3.0, 7.0)
    elevation_deg: tuple[float, float] = (-10.0, 35.0)
    roll_deg: float = 5.0            # roll ~ U(-roll, roll)
    focal: tuple[float, float] = (900.0, 1500.0)
    image_size: tuple[int, int] = (1000, 1000)
    principal_jitter_px: float = 20.0
    target_jitter_m: float = 0.2     # look-at point jittered around the pelvis (horizontal)


@dataclass(frozen=True)
class LiftDataConfig:
    """What the lifting data is made of.

    Attributes:
        source: ``"bandai"``, ``"hdm05"``, ``"cmu"`` (the data folder's sources, split by
            :func:`select_split`) or a path :func:`~energy3d.data.sources.load_motion` reads (all of
            it in every split); used when ``sources`` is empty.
        sources: a mix of sources, ``"name"`` or ``"name:weight"`` (e.g. ``["bandai", "hdm05:4",
            "cmu:3"]``): a source of weight ``w`` gets ``round(w * views)`` cameras per training pose.
        fps: subsample the 30 fps motion to this rate (10 for CPU configs).
        train_fps: ``{source: fps}``, a denser (or sparser) frame rate for one source's training split
            only (e.g. ``{"hdm05": 30}``: more distinct poses from a small source); validation and test
            keep ``fps``.
        views: cameras per pose in the training split (evaluation uses one).
        two_d: ``"gt"`` (exact projections) or ``"noisy"`` (through :class:`NoiseConfig`).
        keypoints: ``"rig"`` (the rig joints' projections) or ``"detector"`` (detector-style keypoints
            converted as ``energy3d lift`` converts them, :mod:`energy3d.data.augment`).
        seed: seed of the cameras (and of the evaluation noise).
        max_poses: if > 0, keep at most this many poses per split (evenly spaced; smoke configs).
        markers: detector keypoint offsets (``keypoints="detector"``).
        proportions: per-sample bone scaling in training batches (off by default).
    """

    source: str = "bandai"
    sources: tuple = ()
    fps: float = 10.0
    train_fps: dict = field(default_factory=dict)
    views: int = 1
    two_d: str = "gt"
    keypoints: str = "rig"
    seed: int = 0
    max_poses: int = 0
    camera: CameraConfig = field(default_factory=CameraConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    markers: MarkerConfig = field(default_factory=MarkerConfig)
    proportions: ProportionConfig = field(default_factory=ProportionConfig)

    def __post_init__(self):
        object.__setattr__(self, "sources", tuple(self.sources))
        if self.keypoints not in KEYPOINT_GEOMETRIES:
            raise InputError(f"data.keypoints must be one of {', '.join(KEYPOINT_GEOMETRIES)}, got {self.keypoints!r}")
        if self.two_d not in ("gt", "noisy"):
            raise InputError(f"data.two_d must be 'gt' or 'noisy', got {self.two_d!r}")
        names = [n for n, _ in self.source_weights()]  # validates the specs
        object.__setattr__(self, "train_fps", dict(self.train_fps))
        for name, rate in self.train_fps.items():
            if name not in names:
                raise InputError(f"data.train_fps: {name!r} is not one of the sources ({', '.join(names)})")
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not (rate > 0 and math.isfinite(rate)):
                raise InputError(f"data.train_fps: {name!r}: the frame rate must be a positive number, got {rate!r}")

    def source_weights(self) -> list[tuple[str, float]]:
        """``[(source, weight)]`` of :attr:`sources` (or ``[(source, 1.0)]``)."""
        out = []
        for spec in self.sources or (self.source,):
            name, _, w = str(spec).partition(":")
            try:
                weight = float(w) if w else 1.0
            except ValueError:
                raise InputError(f"data.sources: {spec!r}: expected NAME or NAME:WEIGHT (a number)") from None
            if not (weight > 0 and math.isfinite(weight)):
                raise InputError(f"data.sources: {spec!r}: the weight must be positive")
            out.append((name, weight))
        return out


KEYPOINT_GEOMETRIES = ("rig", "detector")
PERSON_SPLITS: dict[str, dict[str, tuple[str, ...]]] = {
    "hdm05": {"train": ("bd", "bk"), "val": ("mm",), "test": ("dg", "tr")},
    "cmu": {"train": ("10", "14"), "val": ("12",), "test": ("13", "131")},
}
"""Fixed splits by person of the named sources: HDM05 actors (``HDM_<actor>_...`` files), CMU
subjects (``<subject>_<take>`` files). At 10 fps HDM05 has 2.6k / 1.0k / 2.3k train / val / test
poses, CMU 3.8k / 0.15k / 3.5k (CMU subject 131 is the 3ds Max rig, only in test)."""


@dataclass
class LiftingSet:
    """Camera-frame 3D poses with their 2D projections.

    Attributes:
        joints_cam: ``(N, J, 3)`` float32 metres, camera frame (x right, y down, z forward).
        points_2d: ``(N, J, 2)`` float32 exact projections, pixels.
        K: ``(N, 3, 3)`` float32 intrinsics.
        action: ``(N,)`` action label per pose.
        layout: joint layout of both.
    """

    joints_cam: np.ndarray
    points_2d: np.ndarray
    K: np.ndarray
    action: np.ndarray
    layout: Skeleton

    def __len__(self) -> int:
        return len(self.joints_cam)

    def subset(self, idx) -> "LiftingSet":
        """The poses selected by ``idx`` (index array or bool mask)."""
        return LiftingSet(self.joints_cam[idx], self.points_2d[idx], self.K[idx], self.action[idx], self.layout)

    def normalized(self, points_2d: np.ndarray | Tensor | None = None) -> Tensor:
        """Normalised coordinates ``(p - c) / f`` ``(N, J, 2)`` of ``points_2d`` (default: exact 2D)."""
        p = torch.as_tensor(self.points_2d if points_2d is None else points_2d, dtype=torch.float32)
        K = torch.as_tensor(self.K)
        return to_normalized(p, K)


def sample_cameras(n: int, cfg: CameraConfig, generator: torch.Generator):
    """Draw ``n`` virtual cameras. Returns ``(K (n,3,3), distance, azimuth, elevation, roll, target_offset (n,3))``."""
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(n, generator=generator, dtype=torch.float64)
    dist = u(*cfg.distance)
    az = u(0.0, 360.0)
    el = u(*cfg.elevation_deg)
    roll = u(-cfg.roll_deg, cfg.roll_deg)
    f = u(*cfg.focal)
    W, H = cfg.image_size
    cx = W / 2 + u(-cfg.principal_jitter_px, cfg.principal_jitter_px)
    cy = H / 2 + u(-cfg.principal_jitter_px, cfg.principal_jitter_px)
    K = intrinsics(f, f, cx, cy, dtype=torch.float64)
    off = torch.zeros(n, 3, dtype=torch.float64)
    off[:, 0] = u(-cfg.target_jitter_m, cfg.target_jitter_m)
    off[:, 2] = u(-cfg.target_jitter_m, cfg.target_jitter_m)
    return K, dist, az, el, roll, off


def pose_in_cameras(joints_world: np.ndarray, cfg: CameraConfig, generator: torch.Generator, root: int = 0):
    """Place each pose ``(N, J, 3)`` (metres, Y up) in front of its own random camera.

    Returns:
        ``joints_cam (N, J, 3)``, ``points_2d (N, J, 2)`` pixels and ``K (N, 3, 3)``, float32 numpy.
    """
    X = torch.as_tensor(joints_world, dtype=torch.float64)
    n = X.shape[0]
    K, dist, az, el, roll, off = sample_cameras(n, cfg, generator)
    target = X[:, root] + off
    R, t = orbit_camera(target, dist, az, el, roll, up_axis="y")
    Xc = X @ R.transpose(1, 2) + t[:, None, :]
    p = project(Xc, K)
    return Xc.float().numpy(), p.float().numpy(), K.float().numpy()


def search_orders(layout: Skeleton) -> list[list[int]]:
    """For each joint, every joint in breadth-first order over the (undirected) kinematic tree,
    parent before children. The first visible joint in a joint's order is its imputation source,
    the rule of :func:`energy3d.data.keypoints.impute_missing`."""
    from collections import deque

    from energy3d.data.keypoints import _neighbour_order

    nbrs = _neighbour_order(layout)
    orders = []
    for j in range(layout.num_joints):
        seen, q, order = {j}, deque([j]), []
        while q:
            u = q.popleft()
            order.append(u)
            for w in nbrs[u]:
                if w not in seen:
                    seen.add(w)
                    q.append(w)
        orders.append(order)
    return orders


def impute_from_tree(points: Tensor, visible: Tensor, layout: Skeleton) -> Tensor:
    """Vectorised :func:`energy3d.data.keypoints.impute_missing` (same rule, no minimum check).

    Args:
        points: ``(N, J, D)``; visible: ``(N, J)`` bool.
    """
    out = points.clone()
    for j, order in enumerate(search_orders(layout)):
        need = ~visible[:, j]
        if not bool(need.any()):
            continue
        filled = torch.zeros_like(need)
        for cand in order[1:]:
            take = need & ~filled & visible[:, cand]
            out[take, j] = points[take, cand]
            filled |= take
    return out


def detector_noise(points_2d: Tensor, layout: Skeleton, cfg: NoiseConfig, generator: torch.Generator) -> Tensor:
    """Corrupt exact 2D keypoints ``(N, J, 2)`` (pixels) like a 2D detector would (see :class:`NoiseConfig`)."""
    p = points_2d.clone()
    N, J, _ = p.shape
    g = generator
    p = p + cfg.sigma_px * torch.randn(p.shape, generator=g, dtype=p.dtype)
    out = torch.rand(N, J, generator=g) < cfg.outlier_prob
    p = p + out[..., None] * cfg.outlier_sigma_px * torch.randn(p.shape, generator=g, dtype=p.dtype)
    if layout.left:
        L, Rr = torch.tensor(layout.left), torch.tensor(layout.right)
        swap = torch.rand(N, len(L), generator=g) < cfg.swap_prob
        pl, pr = p[:, L].clone(), p[:, Rr].clone()
        p[:, L] = torch.where(swap[..., None], pr, pl)
        p[:, Rr] = torch.where(swap[..., None], pl, pr)
    drop = torch.rand(N, J, generator=g) < cfg.drop_prob
    if bool(drop.any()):
        p = impute_from_tree(p, ~drop, layout)
    return p


def _cache_key(cfg, split: str, extra: str) -> str:
    blob = json.dumps({"cfg": cfg if isinstance(cfg, dict) else asdict(cfg), "split": split, "extra": extra, "v": 2},
                      sort_keys=True, default=lambda o: asdict(o) if hasattr(o, "__dataclass_fields__") else str(o))
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def build_lifting_set(motion, cfg: LiftDataConfig, *, views: int = 1, seed_offset: int = 0) -> LiftingSet:
    """Pose every frame of ``motion`` (a :class:`~energy3d.data.motion.Motion` in h36m17, metres,
    Y up) in front of ``views`` random cameras each."""
    g = torch.Generator().manual_seed(cfg.seed * 1000 + seed_offset)
    joints = np.asarray(motion.joints, dtype=np.float32)
    actions = np.asarray(motion.actions())
    if views > 1:
        joints = np.concatenate([joints] * views)
        actions = np.concatenate([actions] * views)
    Xc, p, K = pose_in_cameras(joints, cfg.camera, g)
    return LiftingSet(Xc, p, K, actions, motion.layout)


def person_of(clip: dict, source: str) -> str:
    """The person a clip shows: its ``subject``, or for HDM05 / CMU file names the actor / subject id."""
    subj = str(clip.get("subject", "") or "")
    if subj:
        return subj
    name = str(clip.get("name", ""))
    if source == "hdm05":
        parts = name.split("_")
        return parts[1] if len(parts) > 2 and parts[0] == "HDM" else ""
    return name.split("_")[0] if "_" in name else ""


def action_of(clip: dict, source: str) -> str:
    """A clip's action label: its ``action``, or for HDM05 names the motion class (``HDM_bd_kickRSide2Reps_...``)."""
    a = str(clip.get("action", "") or "")
    if a:
        return a
    name = str(clip.get("name", ""))
    if source == "hdm05" and name.startswith("HDM_"):
        return name.split("_")[2]
    return name


def select_split(motion, source: str, split: str):
    """The clips of ``motion`` (from the named ``source``) in ``split``, by person (:data:`PERSON_SPLITS`).

    Clips get action labels (:func:`action_of`) so per-action tables group them.
    """
    from dataclasses import replace

    if source not in PERSON_SPLITS:
        raise InputError(f"no person split for source {source!r} (known: {', '.join(PERSON_SPLITS)})")
    people = PERSON_SPLITS[source][split]
    clips = [dict(c, action=action_of(c, source), subject=person_of(c, source)) for c in motion.clips]
    keep = np.array([c["subject"] in people for c in clips], dtype=bool)
    return replace(motion, clips=clips).select_clips(keep)


def load_lifting_split(cfg: LiftDataConfig, split: str, *, cache: bool = True) -> LiftingSet:
    """The lifting set of a split (``train`` | ``val`` | ``test``) of every source in ``cfg``, cached on disk.

    The training split uses ``round(weight * cfg.views)`` cameras per pose of each source;
    validation and test use one. Each split and source draws its cameras from its own seed, so the
    same config always gives the same data.
    """
    if split not in ("train", "val", "test"):
        raise InputError(f"split must be train, val or test, got {split!r}")
    parts = []
    for k, (name, weight) in enumerate(cfg.source_weights()):
        views = max(1, round(weight * cfg.views)) if split == "train" else 1
        parts.append(_load_source_split(cfg, name, split, views, k, cache))
    ds = parts[0] if len(parts) == 1 else concat_lifting_sets(parts)
    if cfg.max_poses and len(ds) > cfg.max_poses:
        idx = np.linspace(0, len(ds) - 1, cfg.max_poses).round().astype(np.int64)
        ds = ds.subset(idx)
    return ds


def concat_lifting_sets(sets: list[LiftingSet]) -> LiftingSet:
    """One :class:`LiftingSet` of several in the same layout (actions are prefixed by nothing)."""
    if len({s.layout.name for s in sets}) != 1:
        raise InputError("concat_lifting_sets: the sets have different layouts")
    return LiftingSet(np.concatenate([s.joints_cam for s in sets]), np.concatenate([s.points_2d for s in sets]),
                      np.concatenate([s.K for s in sets]), np.concatenate([s.action.astype(str) for s in sets]),
                      sets[0].layout)


def _load_source_split(cfg: LiftDataConfig, name: str, split: str, views: int, k: int, cache: bool) -> LiftingSet:
    from energy3d.paths import cache_root

    base = {f.name: getattr(cfg, f.name) for f in fields(cfg) if f.name in ("fps", "seed", "camera")}
    if split == "train" and name in cfg.train_fps:
        base["fps"] = float(cfg.train_fps[name])
    key = _cache_key(base, f"{name}/{split}", f"views={views}/k={k}")
    path = cache_root() / "lifting" / f"{split}-{key}.npz"
    layout = get_layout("h36m17")
    if cache and path.is_file():
        try:
            d = np.load(path, allow_pickle=False)
            return LiftingSet(d["joints_cam"], d["points_2d"], d["K"], d["action"], layout)
        except (OSError, ValueError, KeyError):
            pass  # corrupt cache: rebuild
    motion = load_source(name, split, base["fps"])
    offset = {"train": 1, "val": 2, "test": 3}[split] + 10 * k
    ds = build_lifting_set(motion, cfg, views=views, seed_offset=offset)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, joints_cam=ds.joints_cam, points_2d=ds.points_2d, K=ds.K, action=ds.action.astype(str))
        tmp.replace(path)
    return ds


def load_source(name: str, split: str | None, fps: float):
    """Motion (``h36m17``, metres, Y up) of a named source's split, or of a path (every clip, any split)."""
    if name == "bandai":
        from energy3d.data.bandai import load_bandai

        return load_bandai(split=split, fps=fps, layout="h36m17")
    from energy3d.data.sources import load_motion

    if name in PERSON_SPLITS:
        m = load_motion(name, fps=fps)
        return m if split is None else select_split(m, name, split)
    return load_motion(name, fps=fps)


def make_inputs(y: Tensor, K: Tensor, layout: Skeleton, *, two_d: str, keypoints: str, noise: NoiseConfig,
                markers: MarkerConfig, generator: torch.Generator, exact: Tensor | None = None) -> Tensor:
    """2D model inputs (pixels, ``(B, J, 2)``) for camera-frame poses ``y (B, J, 3)`` seen with ``K (B, 3, 3)``.

    ``keypoints="rig"`` projects the joints (or uses ``exact``, their stored projections);
    ``"detector"`` builds detector-style keypoints (:func:`energy3d.data.augment.detector_keypoints_2d`).
    ``two_d="noisy"`` then applies :func:`detector_noise`. Every draw comes from ``generator``.
    """
    if keypoints == "detector":
        p = detector_keypoints_2d(y, K, markers, generator)
    elif keypoints == "rig":
        p = exact if exact is not None else project(y.to(torch.float64), K.to(torch.float64)).to(y.dtype)
    else:
        raise InputError(f"keypoints must be one of {', '.join(KEYPOINT_GEOMETRIES)}, got {keypoints!r}")
    if two_d == "noisy":
        p = detector_noise(p, layout, noise, generator)
    elif two_d != "gt":
        raise InputError(f"two_d must be 'gt' or 'noisy', got {two_d!r}")
    return p


class LiftingBatches:
    """Deterministic mini-batches over a :class:`LiftingSet` for training.

    The order of epoch ``e`` and every per-batch draw (body proportions, detector keypoint offsets,
    detector noise) come from generators seeded by ``(seed, e)`` and ``(seed, e, batch)``, so a
    resumed run sees exactly the batches an uninterrupted run would have seen.

    Yields ``(x (B, J, 2) normalised coordinates, y (B, J, 3) camera-frame metres)``.
    """

    def __init__(self, ds: LiftingSet, batch_size: int, *, two_d: str = "gt", noise: NoiseConfig | None = None,
                 seed: int = 0, shuffle: bool = True, drop_last: bool = True, rank: int = 0, world_size: int = 1,
                 keypoints: str = "rig", markers: MarkerConfig | None = None,
                 proportions: ProportionConfig | None = None):
        if two_d not in ("gt", "noisy"):
            raise InputError(f"two_d must be 'gt' or 'noisy', got {two_d!r}")
        if keypoints not in KEYPOINT_GEOMETRIES:
            raise InputError(f"keypoints must be one of {', '.join(KEYPOINT_GEOMETRIES)}, got {keypoints!r}")
        self.ds, self.bs, self.two_d = ds, int(batch_size), two_d
        self.noise = noise or NoiseConfig()
        self.keypoints, self.markers = keypoints, markers or MarkerConfig()
        self.proportions = proportions or ProportionConfig()
        self.seed, self.shuffle, self.drop_last = seed, shuffle, drop_last
        self.rank, self.world = rank, world_size
        self.p = torch.as_tensor(ds.points_2d)
        self.K = torch.as_tensor(ds.K)
        self.y = torch.as_tensor(ds.joints_cam)

    def num_batches(self) -> int:
        n = len(self.ds) // self.world
        return n // self.bs if self.drop_last else math.ceil(n / self.bs)

    def epoch(self, e: int, start: int = 0):
        from energy3d.train.loop import batch_generator, epoch_order

        order = epoch_order(len(self.ds), self.seed, e, self.rank, self.world, self.shuffle)
        plain = self.keypoints == "rig" and not self.proportions.enabled
        for b in range(start, self.num_batches()):
            idx = order[b * self.bs:(b + 1) * self.bs]
            g = batch_generator(self.seed, e, b, self.rank)
            y, K = self.y[idx], self.K[idx]
            if self.proportions.enabled:
                y = scale_bones(y, self.proportions, g)
            p = make_inputs(y, K, self.ds.layout, two_d=self.two_d, keypoints=self.keypoints, noise=self.noise,
                            markers=self.markers, generator=g, exact=self.p[idx] if plain else None)
            yield to_normalized(p, K), y


def input_points(ds: LiftingSet, two_d: str, noise: NoiseConfig, seed: int, *, keypoints: str = "rig",
                 markers: MarkerConfig | None = None) -> Tensor:
    """Evaluation 2D inputs (pixels) from a fixed seed: exact or noisy, of the rig joints or detector-style."""
    y, K = torch.as_tensor(ds.joints_cam), torch.as_tensor(ds.K)
    return make_inputs(y, K, ds.layout, two_d=two_d, keypoints=keypoints, noise=noise, markers=markers or MarkerConfig(),
                       generator=torch.Generator().manual_seed(seed + 99991), exact=torch.as_tensor(ds.points_2d))
