"""Instance generators shared by the tests and the benchmark (seeded, reproducible).

* :func:`random_problem`: generic random instances on any graph (uniform, grid or clustered
  candidates; arbitrary scales), for exactness tests against the reference solvers.
* :func:`realistic_instance`: what the structured pose model produces (Kinauer et al. §2.1-2.2):
  one shared ``grid^3`` voxel volume (2 m cube) around an ``h36m17`` pose; each joint's candidates
  are the voxel centres moved by a regressed residual (towards the joint near it, small noise
  elsewhere); unaries peak near the true joint with noise, sometimes a left/right confusion peak and
  a spurious peak; ``mu_ij`` is the true displacement plus regression noise; ``c`` corresponds to
  displacement standard deviations of a few centimetres (less certain in depth).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from energy3d.errors import InputError
from energy3d.skeleton.layouts import H36M17
from energy3d.structured.graphs import PartGraph, part_graph
from energy3d.structured.problem import StructuredProblem, make_problem

# Bone offsets from the parent joint of a standing h36m17 pose, metres, camera-like frame (y down).
_REST_OFFSETS = {
    "Hip": (0.0, 0.0, 0.0),
    "RHip": (-0.13, 0.0, 0.0), "RKnee": (0.0, 0.44, 0.0), "RFoot": (0.0, 0.44, 0.0),
    "LHip": (0.13, 0.0, 0.0), "LKnee": (0.0, 0.44, 0.0), "LFoot": (0.0, 0.44, 0.0),
    "Spine": (0.0, -0.23, 0.0), "Thorax": (0.0, -0.25, 0.0), "Neck/Nose": (0.0, -0.11, -0.06),
    "Head": (0.0, -0.12, 0.03),
    "LShoulder": (0.16, 0.0, 0.0), "LElbow": (0.0, 0.28, 0.0), "LWrist": (0.0, 0.25, 0.0),
    "RShoulder": (-0.16, 0.0, 0.0), "RElbow": (0.0, 0.28, 0.0), "RWrist": (0.0, 0.25, 0.0),
}


def _rng(seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _graph(graph, num_parts: int | None = None) -> PartGraph | np.ndarray:
    if isinstance(graph, str):
        return part_graph(graph)
    return graph


def random_pose(seed=0, bend: float = 0.5) -> np.ndarray:
    """A random but plausible ``h36m17`` pose ``(17, 3)`` in metres, pelvis at the origin.

    Each bone of a standing rest pose is turned by a random perturbation of its direction (size
    ``bend``), lengths vary by 3 %, and the body is turned about the vertical axis.
    """
    rng = _rng(seed)
    sk = H36M17
    pose = np.zeros((sk.num_joints, 3))
    yaw = rng.uniform(-np.pi, np.pi)
    rot = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    for j, name in enumerate(sk.joints):
        p = sk.parents[j]
        if p < 0:
            continue
        off = np.asarray(_REST_OFFSETS[name])
        length = np.linalg.norm(off)
        d = off / length + bend * rng.normal(size=3)
        d /= np.linalg.norm(d)
        pose[j] = pose[p] + rot @ (d * length * (1 + 0.03 * rng.normal()))
    return pose - pose[0]


@dataclass(frozen=True)
class Instance:
    """A generated problem with its ground truth.

    Attributes:
        problem: the :class:`StructuredProblem`.
        gt: ``(P, 3)`` ground-truth pose (metres).
        graph: the part graph used.
        seed: the seed it was generated from.
    """

    problem: StructuredProblem
    gt: np.ndarray
    graph: PartGraph
    seed: int | None


def realistic_instance(graph: PartGraph | str = "two_hop", grid: int = 20, seed: int = 0, *,
                       cube: float = 2.0, peak: float = 4.0, noise: float = 0.3,
                       confusion: float = 0.3, spurious: float = 0.3,
                       mu_noise: tuple[float, float, float] = (0.02, 0.02, 0.04),
                       sigma: tuple[float, float, float] = (0.05, 0.05, 0.08)) -> Instance:
    """A model-like instance on ``h36m17`` with ``N = grid^3`` candidates per joint.

    Args:
        graph: part graph (or topology name) on the 17 h36m joints.
        grid: voxels per side of the shared volume (the paper uses 20).
        seed: random seed.
        cube: side of the volume in metres (centred on the pose).
        peak: height of the unary peak at the true joint.
        noise: standard deviation of the unary noise.
        confusion: probability that a left/right joint gets a second peak at its mirror joint.
        spurious: probability of one extra false peak at a random place.
        mu_noise: per-axis standard deviation (m) of the regressed displacement ``mu_ij``.
        sigma: per-axis displacement tolerance (m); ``c = 1 / (2 sigma^2)``.

    Returns:
        :class:`Instance` (problem, ground truth, graph, seed).
    """
    if grid < 1:
        raise InputError(f"grid must be >= 1, got {grid}")
    g = _graph(graph)
    if not isinstance(g, PartGraph) or g.num_parts != H36M17.num_joints:
        raise InputError("realistic_instance needs a part graph on the 17 h36m17 joints")
    rng = _rng(seed)
    gt = random_pose(rng)
    center = 0.5 * (gt.min(0) + gt.max(0))
    vox = cube / grid
    ax = (np.arange(grid) + 0.5) * vox - cube / 2
    cells = np.stack(np.meshgrid(ax, ax, ax, indexing="ij"), -1).reshape(-1, 3) + center
    mirror = {}
    for a, b in zip(H36M17.left, H36M17.right):
        mirror[a], mirror[b] = b, a
    positions, unaries = [], []
    for j in range(H36M17.num_joints):
        d2 = ((cells - gt[j]) ** 2).sum(1)
        near = d2 < (1.5 * vox) ** 2
        resid = rng.normal(scale=0.25 * vox, size=cells.shape)
        resid[near] = (gt[j] - cells[near]) + rng.normal(scale=0.2 * vox, size=(int(near.sum()), 3))
        positions.append(cells + resid)
        width2 = 2 * max(vox, 0.06) ** 2
        u = peak * np.exp(-d2 / width2)
        if j in mirror and rng.random() < confusion:
            dm = ((cells - gt[mirror[j]]) ** 2).sum(1)
            u = np.maximum(u, rng.uniform(0.6, 0.95) * peak * np.exp(-dm / width2))
        if rng.random() < spurious:
            fake = center + rng.uniform(-0.4, 0.4, size=3) * cube
            df = ((cells - fake) ** 2).sum(1)
            u = np.maximum(u, rng.uniform(0.5, 0.9) * peak * np.exp(-df / width2))
        unaries.append(u + noise * rng.normal(size=u.shape))
    e = g.as_array()
    mu = gt[e[:, 0]] - gt[e[:, 1]] + rng.normal(size=(e.shape[0], 3)) * np.asarray(mu_noise)
    c = np.broadcast_to(1.0 / (2.0 * np.asarray(sigma) ** 2), (e.shape[0], 3)) * rng.uniform(0.7, 1.3, (e.shape[0], 1))
    prob = make_problem(positions, unaries, e, c, mu, names=H36M17.joints)
    return Instance(prob, gt, g, seed if isinstance(seed, int) else None)


def realistic_problem(graph: PartGraph | str = "two_hop", grid: int = 20, seed: int = 0, **kw) -> StructuredProblem:
    """Shorthand for ``realistic_instance(...).problem``."""
    return realistic_instance(graph, grid, seed, **kw).problem


def random_problem(edges, sizes, seed=0, *, kind: str = "uniform", pos_scale: float = 1.0,
                   c_scale: float = 1.0, unary_scale: float = 1.0, mu_scale: float | None = None,
                   forbid: float = 0.0, duplicates: float = 0.0) -> StructuredProblem:
    """A random problem on any graph, for tests.

    Args:
        edges: ``(E, 2)`` pairs, a :class:`PartGraph` or a topology name.
        sizes: candidates per part: an int (all parts) or a sequence ``(P,)``.
        seed: random seed or ``numpy.random.Generator``.
        kind: ``"uniform"`` (positions uniform in a cube), ``"grid"`` (an integer lattice, many exact
            ties in distances) or ``"clustered"`` (a few tight clusters).
        pos_scale: side of the cube holding the candidates.
        c_scale: median of the log-uniform weights ``c`` (spanning a factor 10 either way).
        unary_scale: standard deviation of the Gaussian unaries.
        mu_scale: standard deviation of ``mu`` (default ``pos_scale / 3``).
        forbid: fraction of candidates whose unary is ``-inf`` (at least one stays allowed per part).
        duplicates: fraction of candidates that copy another candidate's position.

    Returns:
        :class:`StructuredProblem`.
    """
    rng = _rng(seed)
    if isinstance(edges, str):
        edges = part_graph(edges)
    if isinstance(edges, PartGraph):
        num_parts, e = edges.num_parts, edges.as_array()
    else:
        e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
        num_parts = None
    if np.isscalar(sizes):
        if num_parts is None:
            num_parts = int(e.max()) + 1 if e.size else 1
        sizes = [int(sizes)] * num_parts
    sizes = [int(s) for s in sizes]
    num_parts = len(sizes)
    positions, unaries = [], []
    for n in sizes:
        if kind == "uniform":
            p = rng.uniform(0, pos_scale, size=(n, 3))
        elif kind == "grid":
            side = max(2, int(round(n ** (1 / 3))) + 1)
            p = rng.integers(0, side, size=(n, 3)).astype(np.float64) * (pos_scale / side)
        elif kind == "clustered":
            centers = rng.uniform(0, pos_scale, size=(3, 3))
            p = centers[rng.integers(0, 3, size=n)] + rng.normal(scale=0.02 * pos_scale, size=(n, 3))
        else:
            raise InputError(f"kind must be 'uniform', 'grid' or 'clustered', got {kind!r}")
        if duplicates > 0 and n > 1:
            dup = rng.random(n) < duplicates
            p[dup] = p[rng.integers(0, n, size=int(dup.sum()))]
        u = rng.normal(scale=unary_scale, size=n)
        if forbid > 0:
            bad = rng.random(n) < forbid
            bad[rng.integers(0, n)] = False
            u[bad] = -np.inf
        positions.append(p)
        unaries.append(u)
    c = c_scale * np.exp(rng.uniform(-np.log(10), np.log(10), size=(e.shape[0], 3)))
    mu = rng.normal(scale=pos_scale / 3 if mu_scale is None else mu_scale, size=(e.shape[0], 3))
    return make_problem(positions, unaries, e, c, mu)


def random_edges(num_parts: int, seed=0, kind: str = "tree") -> list[tuple[int, int]]:
    """Random edges on ``num_parts`` parts, with random orientation.

    Args:
        num_parts: number of parts (``>= 2``).
        seed: random seed or generator.
        kind: ``"tree"`` (a random spanning tree) or ``"loopy"`` (at least ``num_parts`` distinct
            edges, so at least one cycle; needs ``num_parts >= 3``).

    Returns:
        list of ``(i, j)`` pairs.
    """
    rng = _rng(seed)
    if kind == "tree":
        if num_parts < 2:
            raise InputError(f"a tree needs at least 2 parts, got {num_parts}")
        out = []
        for j in range(1, num_parts):
            i = int(rng.integers(0, j))
            out.append((i, j) if rng.random() < 0.5 else (j, i))
        return out
    if kind == "loopy":
        if num_parts < 3:
            raise InputError(f"a loopy graph needs at least 3 parts, got {num_parts}")
        pairs = [(i, j) for i in range(num_parts) for j in range(i + 1, num_parts)]
        k = int(rng.integers(num_parts, len(pairs) + 1))
        idx = rng.choice(len(pairs), size=k, replace=False)
        return [pairs[i] if rng.random() < 0.5 else pairs[i][::-1] for i in sorted(idx)]
    raise InputError(f"kind must be 'tree' or 'loopy', got {kind!r}")
