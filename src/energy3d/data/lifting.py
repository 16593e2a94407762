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
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

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
        source: ``"bandai"`` (the Bandai npz under the data folder) or a path :func:`~energy3d.data.sources.load_motion` reads.
        fps: subsample the 30 fps motion to this rate (10 for CPU configs).
        views: cameras per pose in the training split (evaluation uses one).
        two_d: ``"gt"`` (exact projections) or ``"noisy"`` (through :class:`NoiseConfig`).
        seed: seed of the cameras (and of the evaluation noise).
        max_poses: if > 0, keep at most this many poses per split (evenly spaced; smoke configs).
    """

    source: str = "bandai"
    fps: float = 10.0
    views: int = 1
    two_d: str = "gt"
    seed: int = 0
    max_poses: int = 0
    camera: CameraConfig = field(default_factory=CameraConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)


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


def _cache_key(cfg: LiftDataConfig, split: str, extra: str) -> str:
    blob = json.dumps({"cfg": asdict(cfg), "split": split, "extra": extra, "v": 1}, sort_keys=True, default=str)
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


def load_lifting_split(cfg: LiftDataConfig, split: str, *, cache: bool = True) -> LiftingSet:
    """The lifting set for a Bandai split (``train`` | ``val`` | ``test``), cached on disk.

    The training split uses ``cfg.views`` cameras per pose; validation and test use one. Each split
    draws its cameras from its own seed, so the same config always gives the same data.
    """
    from energy3d.paths import cache_root

    if split not in ("train", "val", "test"):
        raise InputError(f"split must be train, val or test, got {split!r}")
    views = cfg.views if split == "train" else 1
    key = _cache_key(cfg, split, f"views={views}")
    path = cache_root() / "lifting" / f"{split}-{key}.npz"
    layout = get_layout("h36m17")
    if cache and path.is_file():
        try:
            d = np.load(path, allow_pickle=False)
            return LiftingSet(d["joints_cam"], d["points_2d"], d["K"], d["action"], layout)
        except (OSError, ValueError, KeyError):
            pass  # corrupt cache: rebuild
    motion = _load_source(cfg, split)
    offset = {"train": 1, "val": 2, "test": 3}[split]
    ds = build_lifting_set(motion, cfg, views=views, seed_offset=offset)
    if cfg.max_poses and len(ds) > cfg.max_poses:
        idx = np.linspace(0, len(ds) - 1, cfg.max_poses).round().astype(np.int64)
        ds = LiftingSet(ds.joints_cam[idx], ds.points_2d[idx], ds.K[idx], ds.action[idx], ds.layout)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, joints_cam=ds.joints_cam, points_2d=ds.points_2d, K=ds.K, action=ds.action.astype(str))
        tmp.replace(path)
    return ds


def _load_source(cfg: LiftDataConfig, split: str):
    if cfg.source == "bandai":
        from energy3d.data.bandai import load_bandai

        return load_bandai(split=split, fps=cfg.fps, layout="h36m17")
    from energy3d.data.sources import load_motion

    m = load_motion(cfg.source, fps=cfg.fps)
    return m


class LiftingBatches:
    """Deterministic mini-batches over a :class:`LiftingSet` for training.

    The order of epoch ``e`` and the detector noise of each batch are drawn from generators
    seeded by ``(seed, e)`` and ``(seed, e, batch)``, so a resumed run sees exactly the batches an
    uninterrupted run would have seen.

    Yields ``(x (B, J, 2) normalised coordinates, y (B, J, 3) camera-frame metres)``.
    """

    def __init__(self, ds: LiftingSet, batch_size: int, *, two_d: str = "gt", noise: NoiseConfig | None = None,
                 seed: int = 0, shuffle: bool = True, drop_last: bool = True, rank: int = 0, world_size: int = 1):
        if two_d not in ("gt", "noisy"):
            raise InputError(f"two_d must be 'gt' or 'noisy', got {two_d!r}")
        self.ds, self.bs, self.two_d = ds, int(batch_size), two_d
        self.noise = noise or NoiseConfig()
        self.seed, self.shuffle, self.drop_last = seed, shuffle, drop_last
        self.rank, self.world = rank, world_size
        self.p = torch.as_tensor(ds.points_2d)
        self.K = torch.as_tensor(ds.K)
        self.y = torch.as_tensor(ds.joints_cam)

    def num_batches(self) -> int:
        n = len(self.ds) // self.world
        return n // self.bs if self.drop_last else math.ceil(n / self.bs)

    def epoch(self, e: int, start: int = 0):
        n = len(self.ds)
        if self.shuffle:
            order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed * 100003 + e))
        else:
            order = torch.arange(n)
        per_rank = n // self.world
        order = order[self.rank * per_rank:(self.rank + 1) * per_rank]
        for b in range(start, self.num_batches()):
            idx = order[b * self.bs:(b + 1) * self.bs]
            p = self.p[idx]
            if self.two_d == "noisy":
                g = torch.Generator().manual_seed(self.seed * 7919 + e * 100003 + b * 31 + self.rank)
                p = detector_noise(p, self.ds.layout, self.noise, g)
            yield to_normalized(p, self.K[idx]), self.y[idx]


def input_points(ds: LiftingSet, two_d: str, noise: NoiseConfig, seed: int) -> Tensor:
    """Evaluation 2D inputs (pixels): exact, or with detector noise from a fixed seed."""
    p = torch.as_tensor(ds.points_2d)
    if two_d == "gt":
        return p
    if two_d == "noisy":
        return detector_noise(p, ds.layout, noise, torch.Generator().manual_seed(seed + 99991))
    raise InputError(f"two_d must be 'gt' or 'noisy', got {two_d!r}")
