"""Exact branch-and-bound on stars against dynamic programming (brute force) and enumeration."""

import numpy as np
import pytest

from energy3d.errors import InputError
from energy3d.structured import (
    StarSolver, all_scores, make_problem, random_problem, realistic_problem, solve_star, solve_tree_dp,
)


def _close(a, b):
    if a == b:
        return True
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def _star_instance(seed):
    rng = np.random.default_rng(seed)
    L = int(rng.integers(0, 8))
    sizes = rng.integers(1, 80, size=L + 1)
    edges = [(0, j) if rng.random() < 0.5 else (j, 0) for j in range(1, L + 1)]
    pos_scale = 10 ** rng.uniform(-3, 3)
    return random_problem(
        edges, sizes, seed, kind=("uniform", "grid", "clustered")[seed % 3], pos_scale=pos_scale,
        c_scale=10 ** rng.uniform(-3, 3) / pos_scale ** 2, unary_scale=10 ** rng.uniform(-2, 2),
        forbid=0.3 if seed % 5 == 0 else 0.0, duplicates=0.3 if seed % 4 == 0 else 0.0)


@pytest.mark.parametrize("block", range(4))
def test_bnb_equals_dp_on_random_stars(block):
    """240 random stars of varied size, scale and layout (60 per block)."""
    for seed in range(60 * block, 60 * (block + 1)):
        prob = _star_instance(seed)
        bb = solve_star(prob, root=0)
        dp = solve_tree_dp(prob, root=0, backend="numba" if seed % 2 else "torch")
        assert _close(bb.score, dp.score), (seed, bb.score, dp.score)
        assert _close(prob.score(bb.config), bb.score)


def test_bnb_equals_dp_on_realistic_stars():
    for seed in range(4):
        prob = realistic_problem("center_star", grid=7, seed=seed)
        bb = solve_star(prob)
        dp = solve_tree_dp(prob, root=7, backend="numba")
        assert _close(bb.score, dp.score)
        assert bb.info.root == 7 and bb.info.nodes_expanded > 0


def test_bnb_matches_enumeration_on_tiny_stars():
    for seed in range(20):
        prob = random_problem([(0, 1), (2, 0), (0, 3)], [5, 4, 3, 4], seed, kind="grid")
        _, scores = all_scores(prob)
        assert _close(solve_star(prob).score, float(scores.max()))


def test_star_solver_reuse_with_new_unaries():
    prob = realistic_problem("center_star", grid=5, seed=3)
    solver = StarSolver(prob)
    rng = np.random.default_rng(0)
    for _ in range(3):
        us = [rng.normal(size=n) for n in prob.sizes]
        a = solver.solve(us)
        b = solve_tree_dp(prob.with_unaries(us), root=7, backend="numba")
        assert _close(a.score, b.score)


def test_degenerate_single_candidates_and_duplicates():
    rng = np.random.default_rng(5)
    # N_i = 1 everywhere: the only configuration
    prob = make_problem([rng.normal(size=(1, 3)) for _ in range(4)], [rng.normal(size=1) for _ in range(4)],
                        [(0, 1), (0, 2), (3, 0)], 1.0, rng.normal(size=(3, 3)))
    assert _close(solve_star(prob).score, prob.score([0, 0, 0, 0]))
    # every candidate at the same position: only unaries matter
    pos = [np.ones((6, 3)) for _ in range(3)]
    un = [rng.normal(size=6) for _ in range(3)]
    prob = make_problem(pos, un, [(0, 1), (2, 0)], 3.0, np.zeros((2, 3)))
    sol = solve_star(prob)
    assert list(sol.config) == [int(np.argmax(u)) for u in un]


@pytest.mark.parametrize("c", [1e-9, 1e8])
def test_extreme_weights(c):
    for seed in range(10):
        prob = random_problem([(0, 1), (0, 2), (3, 0)], 30, seed, c_scale=c)
        bb, dp = solve_star(prob), solve_tree_dp(prob, backend="numba")
        assert _close(bb.score, dp.score)
        if c == 1e-9:  # pairwise terms negligible: the best unaries
            assert list(bb.config) == [int(np.argmax(u)) for u in prob.unaries]


def test_minus_inf_unaries():
    rng = np.random.default_rng(2)
    pos = [rng.uniform(size=(8, 3)) for _ in range(3)]
    un = [rng.normal(size=8) for _ in range(3)]
    best = [int(np.argmax(u)) for u in un]
    for p in range(3):  # forbid each part's best candidate
        un[p][best[p]] = -np.inf
    prob = make_problem(pos, un, [(0, 1), (0, 2)], 0.5, np.zeros((2, 3)))
    sol = solve_star(prob)
    assert np.isfinite(sol.score) and all(sol.config[p] != best[p] for p in range(3))
    assert _close(sol.score, solve_tree_dp(prob).score)
    # a part with every candidate forbidden: nothing is feasible
    un[2][:] = -np.inf
    assert solve_star(prob.with_unaries(un)).score == -np.inf


def test_not_a_star():
    prob = random_problem([(0, 1), (1, 2), (2, 3)], 3, seed=0)
    with pytest.raises(InputError, match="do not form a star"):
        solve_star(prob)
