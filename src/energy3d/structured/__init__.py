"""Structured 3D pose inference on part graphs (Kinauer et al., §2.2-2.3 and §2.5).

The problem
-----------
Parts ``i = 1..P`` (the 17 ``h36m17`` joints) each have ``N_i`` candidate 3D positions
``positions[i]`` ``(N_i, 3)`` (metres) with unary scores ``unaries[i]`` ``(N_i,)``. Edges ``(i, j)`` of a
part graph carry ``c_ij > 0`` and ``mu_ij`` ``(3,)``, the expected displacement ``phi_i - phi_j``.
Inference maximises over one candidate per part

    S(Phi) = sum_i U_i(phi_i) - sum_(i,j) sum_d c_ij,d (phi_i,d - phi_j,d - mu_ij,d)^2 .

``-inf`` unaries forbid candidates. Bad input (non-positive ``c``, shape mismatches, NaN, an edge
naming a missing part, an empty candidate set) raises :class:`energy3d.errors.InputError`.

API
---
Problems and graphs
    :func:`make_problem` -> :class:`StructuredProblem` (``.score(config)``, ``.pose(config)``,
    ``.with_unaries(u)``); :func:`score_torch` (differentiable score of fixed configurations).
    :func:`center_star`, :func:`stick_figure`, :func:`extended_stick_figure`, :func:`two_hop`,
    :func:`part_graph` (by name) build :class:`PartGraph` s on a skeleton layout (``h36m17``);
    :func:`star_decomposition` splits any graph into :class:`Star` s.
Solvers (all return a :class:`Solution`: ``config (P,)``, ``score``, ``pose (P, 3)``, ``info``)
    :func:`solve` (``method="auto"|"bnb"|"admm"|"dp"|"exhaustive"``);
    :func:`solve_star` / :class:`StarSolver`: exact branch-and-bound on stars (KD-trees, interval
    bounds; :class:`BnBInfo`); :func:`solve_admm`: ADMM over star slaves for any graph
    (:class:`ADMMConfig`, :class:`ADMMInfo`; the default marginal consensus certifies optimality
    when its dual bound is met, which happens on trees); :func:`polish`: exact block coordinate
    ascent. References: :func:`solve_tree_dp` (dynamic programming on trees, O(N^2) per edge,
    torch or numba) and :func:`solve_exhaustive` (tiny graphs).
Structured-SVM training
    :func:`kbest` (K best configurations in order, Lawler/Murty partitioning over an exact solver;
    :class:`KBest`), :func:`loss_augmented_unaries`, :func:`most_violated` (K best of
    ``S + w * Delta`` with ``Delta`` the mean Euclidean distance to the ground truth;
    :class:`LossAugmented`), :func:`pose_loss`.
Learning (the network side, :mod:`energy3d.structured.learning`; §2.1, §2.4, §2.5)
    :func:`dsn_loss` (:class:`DSNLossConfig`), :func:`candidates` (:class:`Candidates`),
    :func:`edge_terms`, :func:`build_problem`, :func:`infer` (:class:`InferResult`),
    :func:`ssvm_loss`, :func:`pairwise_read`, :func:`calibrate_pairwise`.
Instances
    :func:`realistic_instance` / :func:`realistic_problem` (model-like: a shared ``grid^3`` volume
    around an h36m17 pose, peaked noisy unaries, regressed displacements) and :func:`random_problem`
    (generic random instances for tests); the benchmark ``benchmarks/bench_structured.py`` uses them.

Example
-------
>>> import numpy as np
>>> from energy3d.structured import realistic_instance, solve_star, solve_admm, kbest, most_violated
>>> inst = realistic_instance("two_hop", grid=6, seed=0)            # 17 parts, 216 candidates each
>>> sol = solve_admm(inst.problem)                                  # loopy graph: ADMM
>>> sol.pose.shape, sol.info.decoded
((17, 3), 'certified')
>>> star = realistic_instance("center_star", grid=6, seed=0).problem
>>> solve_star(star).config.shape                                   # exact branch-and-bound
(17,)
>>> kb = kbest(star, k=20)                                          # 20 best, best first
>>> bool(np.all(np.diff(kb.scores) <= 0)), kb.info.exact
(True, True)
>>> mv = most_violated(star, inst.gt, k=20)                         # for structured-SVM training
>>> mv.losses.shape
(20,)

Numba kernels are compiled on first use and cached on disk (``cache=True``); the first call in a
fresh environment takes several seconds.
"""

from energy3d.structured.admm import ADMMConfig, ADMMInfo, polish, solve_admm
from energy3d.structured.bnb import BnBInfo, StarSolver, solve_star
from energy3d.structured.graphs import (
    TOPOLOGIES, PartGraph, Star, center_star, extended_stick_figure, is_forest, part_graph, star_decomposition,
    stick_figure, two_hop,
)
from energy3d.structured.inference import (
    KBest, KBestInfo, LossAugmented, kbest, loss_augmented_unaries, most_violated, pose_loss, solve,
)
from energy3d.structured.learning import (
    Candidates, DSNLossConfig, InferResult, build_problem, calibrate_pairwise, candidates, dsn_loss, edge_terms, infer,
    pairwise_read, ssvm_loss,
)
from energy3d.structured.problem import Solution, StructuredProblem, make_problem, score_torch
from energy3d.structured.random import Instance, random_problem, realistic_instance, realistic_problem
from energy3d.structured.reference import ReferenceInfo, all_scores, solve_exhaustive, solve_tree_dp

__all__ = [
    "Candidates", "DSNLossConfig", "InferResult", "build_problem", "calibrate_pairwise", "candidates", "dsn_loss",
    "edge_terms", "infer", "pairwise_read", "ssvm_loss",
    "ADMMConfig", "ADMMInfo", "BnBInfo", "Instance", "KBest", "KBestInfo", "LossAugmented", "PartGraph",
    "ReferenceInfo", "Solution", "Star", "StarSolver", "StructuredProblem", "TOPOLOGIES", "all_scores",
    "center_star", "extended_stick_figure", "is_forest", "kbest", "loss_augmented_unaries", "make_problem",
    "most_violated", "part_graph", "polish", "pose_loss", "random_problem", "realistic_instance",
    "realistic_problem", "score_torch", "solve", "solve_admm", "solve_exhaustive", "solve_star",
    "solve_tree_dp", "star_decomposition", "stick_figure", "two_hop",
]
