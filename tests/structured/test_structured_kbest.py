"""K-best and loss-augmented inference against enumeration of every configuration."""

import doctest
import importlib

import numpy as np
import pytest

from energy3d.errors import InputError
from energy3d.structured import (
    all_scores, kbest, loss_augmented_unaries, make_problem, most_violated, pose_loss, random_problem,
    realistic_instance,
)


def _check_kbest(prob, kb, k):
    configs, scores = all_scores(prob)
    finite = np.isfinite(scores)
    order = np.sort(scores[finite])[::-1][:k]
    assert len(kb.scores) == min(k, int(finite.sum()))
    np.testing.assert_allclose(kb.scores, order, rtol=1e-9, atol=1e-9)
    assert np.all(np.diff(kb.scores) <= 1e-12)
    assert len({tuple(c) for c in kb.configs}) == len(kb.configs)  # distinct
    np.testing.assert_allclose(prob.score(kb.configs), kb.scores, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("graph, method", [
    ([(0, 1), (2, 0), (0, 3)], "bnb"),
    ([(0, 1), (1, 2), (3, 1), (3, 4)], "dp"),
    ([(0, 1), (1, 2), (3, 1), (3, 4)], "admm"),
    ([(0, 1), (1, 2), (2, 0), (2, 3)], "exhaustive"),
    ([(0, 1), (1, 2), (2, 0), (2, 3)], "admm"),
])
def test_kbest_in_order(graph, method):
    for seed in range(4):
        prob = random_problem(graph, [3, 4, 3, 2, 3][: 1 + max(max(e) for e in graph)], seed,
                              kind=("uniform", "grid")[seed % 2])
        kb = kbest(prob, k=20, method=method)
        if method != "admm" or kb.info.exact:
            _check_kbest(prob, kb, 20)
        if method != "admm":
            assert kb.info.exact


def test_kbest_returns_all_when_fewer_and_skips_forbidden():
    rng = np.random.default_rng(1)
    un = [rng.normal(size=3), np.array([0.0, -np.inf, 1.0]), rng.normal(size=2)]
    prob = make_problem([rng.normal(size=(n, 3)) for n in (3, 3, 2)], un, [(0, 1), (0, 2)], 1.0, np.zeros((2, 3)))
    kb = kbest(prob, k=50)
    assert len(kb.scores) == 3 * 2 * 2  # candidate 1 of part 1 is forbidden
    _check_kbest(prob, kb, 50)
    assert not (kb.configs[:, 1] == 1).any()


def test_pose_loss_and_loss_augmented_unaries():
    gt = np.array([[0.0, 0, 0], [1.0, 0, 0]])
    pose = np.array([[[3.0, 4, 0], [1.0, 0, 2]]])
    assert pose_loss(gt, pose)[0] == pytest.approx((5.0 + 2.0) / 2)
    prob = random_problem([(0, 1)], 4, seed=0)
    aug = loss_augmented_unaries(prob, gt, weight=2.0)
    for p in range(2):
        for x in range(4):
            d = np.sqrt(((prob.positions[p][x] - gt[p]) ** 2).sum())
            assert aug[p][x] == pytest.approx(prob.unaries[p][x] + 2.0 * d / 2)


@pytest.mark.parametrize("graph", [[(0, 1), (0, 2), (3, 0)], [(0, 1), (1, 2), (2, 3)]])
def test_most_violated_matches_enumeration(graph):
    prob = random_problem(graph, 4, seed=7)
    gt = np.random.default_rng(0).uniform(size=(4, 3))
    mv = most_violated(prob, gt, k=20, weight=1.5)
    configs, scores = all_scores(prob)
    delta = np.array([np.mean([np.linalg.norm(prob.positions[p][c[p]] - gt[p]) for p in range(4)]) for c in configs])
    want = np.sort(scores + 1.5 * delta)[::-1][:20]
    np.testing.assert_allclose(mv.augmented, want, rtol=1e-9)
    np.testing.assert_allclose(mv.scores + 1.5 * mv.losses, mv.augmented, rtol=1e-9)
    assert mv.info.exact


def test_kbest_bad_input():
    inst = realistic_instance("center_star", grid=3, seed=0)
    with pytest.raises(InputError, match="positive integer"):
        kbest(inst.problem, k=0)
    with pytest.raises(InputError, match="gt: expected shape"):
        most_violated(inst.problem, np.zeros((16, 3)))
    with pytest.raises(InputError, match="method"):
        kbest(inst.problem, method="magic")
    with pytest.raises(InputError, match="tree or forest"):
        kbest(random_problem([(0, 1), (1, 2), (2, 0)], 2, seed=0), method="dp")


@pytest.mark.parametrize("module", ["__init__", "problem", "graphs", "bnb", "admm", "inference"])
def test_docstring_examples(module):
    name = "energy3d.structured" + ("" if module == "__init__" else "." + module)
    mod = importlib.import_module(name)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
