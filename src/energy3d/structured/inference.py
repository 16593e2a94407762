"""One entry point for MAP inference, K-best configurations and loss-augmented inference (§2.5).

K-best (Lawler 1972 / Murty 1968 partitioning): the best configuration ``z`` of a subspace (some
parts fixed, some candidates excluded) is reported, and the rest of the subspace is split into
disjoint subspaces ``{parts o_1..o_{i-1} fixed to z, part o_i != z(o_i)}`` over its free parts
``o_1, o_2, ...``; each is solved by an exact solver with the constraints written into the unaries
(``-inf`` for excluded candidates). A priority queue over the subspaces' optima yields the
configurations in order of score. The result is exact whenever every subspace solve is exact:
branch-and-bound on stars, dynamic programming on trees, exhaustive search, and marginal ADMM
whenever it certifies its answer (``KBest.info.exact`` records whether all did). Cost: at most
``K * P`` solves.

Loss-augmented inference (structured SVM, Kinauer et al. §2.5): with the mean Euclidean distance
``Delta(Phi_hat, Phi) = 1/P sum_p ||phi_p - phi_hat_p||`` the loss is a sum over parts, so
``S(Phi) + w Delta(Phi_hat, Phi)`` is the same problem with unaries
``U_p(x) + (w / P) ||x - phi_hat_p||``; the K most violated configurations are its K best.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass

import numpy as np

from energy3d.errors import InputError
from energy3d.structured._kdtree import Forest
from energy3d.structured.admm import ADMMConfig, solve_admm
from energy3d.structured.bnb import StarSolver
from energy3d.structured.graphs import is_forest, is_star
from energy3d.structured.problem import Solution, StructuredProblem, _to_numpy
from energy3d.structured.reference import solve_exhaustive, solve_tree_dp

METHODS = ("auto", "bnb", "admm", "dp", "exhaustive")


def _auto_method(problem: StructuredProblem) -> str:
    if problem.num_edges == 0 or is_star(problem.edges, problem.num_parts) is not None:
        return "bnb"
    return "admm"


class _Solver:
    """A reusable exact/approximate solver for one problem's structure and candidates."""

    def __init__(self, problem: StructuredProblem, method: str, admm: ADMMConfig | None = None):
        if method not in METHODS:
            raise InputError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
        self.problem = problem
        self.method = _auto_method(problem) if method == "auto" else method
        if self.method == "bnb":
            if problem.num_edges and is_star(problem.edges, problem.num_parts) is None:
                raise InputError("method 'bnb' needs a star-shaped graph; use 'admm', 'dp' or 'exhaustive'")
            self.star = StarSolver(problem)
        elif self.method == "dp":
            if not is_forest(problem.edges, problem.num_parts):
                raise InputError("method 'dp' needs a tree or forest; use 'admm' or 'exhaustive'")
        elif self.method == "admm":
            self.admm = admm or ADMMConfig()
            self.forest = Forest(problem.positions, self.admm.leaf_size)

    def solve(self, unaries=None) -> tuple[Solution, bool]:
        """Solve with the given unaries; returns the solution and whether it is exact."""
        prob = self.problem if unaries is None else self.problem.with_unaries(unaries)
        if self.method == "bnb":
            return self.star.solve(unaries), True
        if self.method == "dp":
            return solve_tree_dp(prob), True
        if self.method == "exhaustive":
            return solve_exhaustive(prob), True
        sol = solve_admm(prob, self.admm, forest=self.forest)
        return sol, sol.info.decoded == "certified" or sol.score == -np.inf


def solve(problem: StructuredProblem, method: str = "auto", **admm_overrides) -> Solution:
    """MAP configuration of ``problem``.

    Args:
        problem: the problem.
        method: ``"bnb"`` (exact, stars), ``"admm"`` (any graph; certified or bounded, see
            :mod:`.admm`), ``"dp"`` (exact, trees, O(N^2) per edge), ``"exhaustive"`` (exact, tiny), or
            ``"auto"``: branch-and-bound for stars (and graphs without edges), ADMM otherwise.
        **admm_overrides: :class:`~energy3d.structured.admm.ADMMConfig` fields for ADMM.

    Returns:
        :class:`~energy3d.structured.problem.Solution`.

    Example:
        >>> from energy3d.structured.random import realistic_problem
        >>> solve(realistic_problem("stick_figure", grid=5, seed=0)).info.decoded
        'certified'
    """
    cfg = ADMMConfig(**admm_overrides) if admm_overrides else None
    return _Solver(problem, method, cfg).solve()[0]


@dataclass(frozen=True)
class KBestInfo:
    """Statistics of :func:`kbest`.

    Attributes:
        method: solver used for the subspaces.
        exact: every subspace solve was exact (so the list is exactly the K best, in order).
        solves: subspace solves.
        time_s: wall time.
    """

    method: str
    exact: bool
    solves: int
    time_s: float


@dataclass(frozen=True)
class KBest:
    """The K best configurations, best first.

    Attributes:
        configs: ``(K, P)`` candidate indices.
        scores: ``(K,)`` scores ``S``, non-increasing.
        poses: ``(K, P, 3)`` positions.
        info: :class:`KBestInfo`.
    """

    configs: np.ndarray
    scores: np.ndarray
    poses: np.ndarray
    info: KBestInfo


def _constrained(problem: StructuredProblem, fixed: np.ndarray, excluded: dict) -> list[np.ndarray] | None:
    us = []
    for p in range(problem.num_parts):
        u = problem.unaries[p]
        if fixed[p] >= 0:
            v = np.full_like(u, -np.inf)
            v[fixed[p]] = u[fixed[p]]
            u = v
        elif p in excluded:
            u = u.copy()
            u[list(excluded[p])] = -np.inf
        if not np.isfinite(u).any():
            return None
        us.append(u)
    return us


def kbest(problem: StructuredProblem, k: int = 20, method: str = "auto", **admm_overrides) -> KBest:
    """The ``k`` highest-scoring configurations, in order (Lawler/Murty partitioning).

    Args:
        problem: the problem.
        k: how many (fewer are returned if fewer configurations have a finite score).
        method: subspace solver, as in :func:`solve`. Exact with ``bnb``, ``dp``, ``exhaustive``, and
            with ``admm`` when every subspace solve is certified (see ``info.exact``).
        **admm_overrides: ADMM settings.

    Returns:
        :class:`KBest`.

    Raises:
        InputError: ``k < 1`` or an unusable method.

    Example:
        >>> from energy3d.structured.random import realistic_problem
        >>> kb = kbest(realistic_problem("center_star", grid=4, seed=0), k=5)
        >>> bool((kb.scores[:-1] >= kb.scores[1:]).all())
        True
    """
    if int(k) != k or k < 1:
        raise InputError(f"k must be a positive integer, got {k}")
    t0 = time.perf_counter()
    cfg = ADMMConfig(**admm_overrides) if admm_overrides else None
    solver = _Solver(problem, method, cfg)
    P = problem.num_parts
    exact = True
    solves = 0
    heap: list = []
    tie = 0

    def push(fixed, excluded):
        nonlocal exact, solves, tie
        us = _constrained(problem, fixed, excluded)
        if us is None:
            return
        sol, ok = solver.solve(us)
        solves += 1
        exact &= ok
        if sol.score == -np.inf:
            return
        tie += 1
        heapq.heappush(heap, (-sol.score, tie, sol.config, fixed, excluded))

    push(np.full(P, -1, dtype=np.int64), {})
    out_cfg, out_score = [], []
    while heap and len(out_cfg) < k:
        neg, _, z, fixed, excluded = heapq.heappop(heap)
        out_cfg.append(z)
        out_score.append(-neg)
        if len(out_cfg) == k:
            break
        free = [p for p in range(P) if fixed[p] < 0]
        f2 = fixed.copy()
        for p in free:
            ex = dict(excluded)
            ex[p] = set(excluded.get(p, ())) | {int(z[p])}
            for q in list(ex):
                if f2[q] >= 0:
                    del ex[q]
            push(f2.copy(), ex)
            f2[p] = z[p]
    configs = np.asarray(out_cfg, dtype=np.int64).reshape(-1, P)
    scores = np.asarray(out_score, dtype=np.float64)
    poses = problem.pose(configs) if len(configs) else np.zeros((0, P, 3))
    return KBest(configs, scores, poses, KBestInfo(solver.method, bool(exact), solves, time.perf_counter() - t0))


def _check_gt(problem: StructuredProblem, gt) -> np.ndarray:
    g = _to_numpy(gt, "gt")
    if g.shape != (problem.num_parts, 3):
        raise InputError(f"gt: expected shape ({problem.num_parts}, 3), got {g.shape}")
    if not np.isfinite(g).all():
        raise InputError(f"gt: {int((~np.isfinite(g)).sum())} non-finite values (NaN or inf)")
    return g


def pose_loss(gt, pose) -> np.ndarray:
    """Mean Euclidean distance ``Delta = 1/P sum_p ||pose_p - gt_p||`` (Kinauer et al. §2.5).

    Args:
        gt: ``(P, 3)`` ground truth.
        pose: ``(..., P, 3)`` poses.

    Returns:
        ``(...)`` losses (same units as the positions).
    """
    g = np.asarray(gt, dtype=np.float64)
    x = np.asarray(pose, dtype=np.float64)
    if x.shape[-2:] != g.shape or g.ndim != 2 or g.shape[-1] != 3:
        raise InputError(f"pose_loss: expected gt (P, 3) and pose (..., P, 3), got {g.shape} and {x.shape}")
    return np.linalg.norm(x - g, axis=-1).mean(axis=-1)


def loss_augmented_unaries(problem: StructuredProblem, gt, weight: float = 1.0) -> list[np.ndarray]:
    """Unaries ``U_p(x) + (weight / P) ||x - gt_p||`` whose problem scores ``S + weight * Delta``.

    Args:
        problem: the problem.
        gt: ``(P, 3)`` ground-truth pose.
        weight: loss weight (``>= 0``).

    Returns:
        list of ``P`` arrays ``(N_p,)``.
    """
    g = _check_gt(problem, gt)
    if not weight >= 0:
        raise InputError(f"weight must be >= 0, got {weight}")
    P = problem.num_parts
    return [u + (weight / P) * np.linalg.norm(x - g[p], axis=1)
            for p, (u, x) in enumerate(zip(problem.unaries, problem.positions))]


@dataclass(frozen=True)
class LossAugmented:
    """Most violated configurations, by decreasing ``S + weight * Delta``.

    Attributes:
        configs: ``(K, P)`` candidate indices.
        scores: ``(K,)`` model scores ``S``.
        losses: ``(K,)`` losses ``Delta`` to the ground truth.
        augmented: ``(K,)`` ``S + weight * Delta``.
        poses: ``(K, P, 3)``.
        info: :class:`KBestInfo`.
    """

    configs: np.ndarray
    scores: np.ndarray
    losses: np.ndarray
    augmented: np.ndarray
    poses: np.ndarray
    info: KBestInfo


def most_violated(problem: StructuredProblem, gt, k: int = 20, weight: float = 1.0, method: str = "auto",
                  **admm_overrides) -> LossAugmented:
    """The ``k`` configurations maximising ``S(Phi) + weight * Delta(gt, Phi)`` (loss-augmented inference).

    Args:
        problem: the problem.
        gt: ``(P, 3)`` ground-truth pose.
        k: how many (the paper uses 20).
        weight: loss weight.
        method: as in :func:`kbest`.

    Returns:
        :class:`LossAugmented`.

    Example:
        >>> from energy3d.structured.random import realistic_instance
        >>> inst = realistic_instance("center_star", grid=4, seed=0)
        >>> mv = most_violated(inst.problem, inst.gt, k=3)
        >>> mv.configs.shape
        (3, 17)
    """
    aug = problem.with_unaries(loss_augmented_unaries(problem, gt, weight))
    kb = kbest(aug, k, method, **admm_overrides)
    g = _check_gt(problem, gt)
    scores = problem.score(kb.configs) if len(kb.configs) else np.zeros(0)
    losses = pose_loss(g, kb.poses) if len(kb.configs) else np.zeros(0)
    return LossAugmented(kb.configs, np.asarray(scores), losses, kb.scores, kb.poses, kb.info)
