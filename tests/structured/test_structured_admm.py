"""ADMM against dynamic programming on trees and exhaustive search on tiny loopy graphs."""

import numpy as np
import pytest

from energy3d.errors import InputError
from energy3d.structured import (
    ADMMConfig, is_forest, make_problem, polish, random_problem, realistic_problem, solve_admm, solve_exhaustive,
    solve_star, solve_tree_dp,
)
from energy3d.structured.random import random_edges


def _close(a, b, rel=1e-9):
    return a == b or abs(a - b) <= rel * max(1.0, abs(a), abs(b))


def _tree_instance(seed):
    rng = np.random.default_rng(1000 + seed)
    P = int(rng.integers(2, 10))
    edges = random_edges(P, rng, "tree")
    sizes = rng.integers(1, 25, size=P)
    pos_scale = 10 ** rng.uniform(-2, 2)
    return random_problem(
        edges, sizes, seed, kind=("uniform", "grid", "clustered")[seed % 3], pos_scale=pos_scale,
        c_scale=10 ** rng.uniform(-2, 2) / pos_scale ** 2, unary_scale=10 ** rng.uniform(-1, 1),
        forbid=0.2 if seed % 7 == 0 else 0.0, duplicates=0.2 if seed % 5 == 0 else 0.0)


@pytest.mark.parametrize("block", range(4))
def test_marginal_admm_equals_dp_on_random_trees(block):
    """220 random trees (55 per block): ADMM (default, marginal consensus) returns the DP optimum."""
    for seed in range(55 * block, 55 * (block + 1)):
        prob = _tree_instance(seed)
        dp = solve_tree_dp(prob)
        ad = solve_admm(prob)  # default settings
        assert _close(ad.score, dp.score), (seed, ad.score, dp.score, ad.info.decoded)
        assert ad.info.decoded == "certified" or ad.score == -np.inf


def test_marginal_admm_certifies_realistic_trees():
    for seed in range(3):
        prob = realistic_problem("stick_figure", grid=6, seed=seed)
        dp = solve_tree_dp(prob, backend="numba")
        ad = solve_admm(prob)
        assert ad.info.decoded == "certified"
        assert _close(ad.score, dp.score) and _close(ad.info.upper_bound, dp.score, 1e-7)


def test_admm_on_a_single_star_equals_bnb():
    for seed in range(5):
        prob = realistic_problem("center_star", grid=5, seed=seed)
        assert _close(solve_admm(prob).score, solve_star(prob).score)


def test_position_admm_on_trees_rate():
    """The paper's position consensus is approximate: never above the optimum, usually equal."""
    hits, n = 0, 80
    for seed in range(n):
        prob = _tree_instance(seed)
        opt = solve_tree_dp(prob).score
        sc = solve_admm(prob, consensus="position").score
        assert sc <= opt + 1e-9 * max(1.0, abs(opt))
        hits += _close(sc, opt)
    print(f"position-consensus ADMM exact on {hits}/{n} random trees")
    assert hits >= 0.8 * n


def _loopy_instance(seed):
    rng = np.random.default_rng(2000 + seed)
    P = int(rng.integers(3, 6))
    edges = random_edges(P, rng, "loopy")  # at least P edges on P parts: a cycle
    assert not is_forest(np.asarray(edges), P)
    return random_problem(edges, rng.integers(2, 7, size=P), seed, kind=("uniform", "grid")[seed % 2],
                          c_scale=10 ** rng.uniform(-1, 1))


@pytest.mark.parametrize("consensus", ["marginal", "position"])
def test_admm_on_tiny_loopy_graphs_gap(consensus, record_property):
    gaps, certified, n = [], 0, 60
    for seed in range(n):
        prob = _loopy_instance(seed)
        opt = solve_exhaustive(prob).score
        sol = solve_admm(prob, consensus=consensus, bound=True)
        tol = 1e-9 * max(1.0, abs(opt))
        assert sol.score <= opt + tol
        if consensus == "marginal":
            assert sol.info.upper_bound >= opt - 1e-7 * max(1.0, abs(opt))  # a valid bound
            if sol.info.decoded == "certified":
                certified += 1
                assert _close(sol.score, opt)
        gaps.append((opt - sol.score) / max(1.0, abs(opt)))
    gaps = np.asarray(gaps)
    summary = (f"{consensus} ADMM on {n} tiny loopy graphs: exact {int((gaps <= 1e-9).sum())}, certified "
               f"{certified}, mean relative gap {gaps.mean():.2e}, max {gaps.max():.2e}")
    print(summary)
    record_property("gap_summary", summary)
    if consensus == "marginal":
        assert certified >= n // 2


def test_polish_reaches_a_local_optimum():
    prob = random_problem("two_hop", 12, seed=4)
    start = np.zeros(17, dtype=np.int64)
    cfg = polish(prob, start)
    assert prob.score(cfg) >= prob.score(start)
    best = prob.score(cfg)
    for p in range(17):  # no single-part move improves
        for x in range(12):
            trial = cfg.copy()
            trial[p] = x
            assert prob.score(trial) <= best + 1e-9 * max(1.0, abs(best))


def test_admm_forbidden_and_bad_settings():
    rng = np.random.default_rng(0)
    un = [rng.normal(size=4) for _ in range(3)]
    un[1][:] = -np.inf
    prob = make_problem([rng.normal(size=(4, 3)) for _ in range(3)], un, [(0, 1), (1, 2), (2, 0)], 1.0,
                        np.zeros((3, 3)))
    assert solve_admm(prob).score == -np.inf
    with pytest.raises(InputError, match="consensus"):
        ADMMConfig(consensus="median")
    with pytest.raises(InputError, match="rho0"):
        solve_admm(prob, rho0=-1.0)
