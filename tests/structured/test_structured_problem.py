"""Problem construction, validation (bad input) and scoring."""

import numpy as np
import pytest
import torch

from energy3d.errors import InputError
from energy3d.structured import make_problem, random_problem, score_torch


def _valid():
    rng = np.random.default_rng(0)
    pos = [rng.normal(size=(4, 3)), rng.normal(size=(3, 3)), rng.normal(size=(5, 3))]
    un = [rng.normal(size=4), rng.normal(size=3), rng.normal(size=5)]
    edges = [(0, 1), (2, 1)]
    c = np.full((2, 3), 2.0)
    mu = rng.normal(size=(2, 3))
    return pos, un, edges, c, mu


def test_input_error_is_value_error():
    assert issubclass(InputError, ValueError)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda a: a[3].__setitem__(0, np.array([0.0, 1.0, 2.0])), "must be finite and positive"),
        (lambda a: a[3].__setitem__((1, 2), -1.0), "must be finite and positive"),
        (lambda a: a[3].__setitem__((1, 2), np.nan), "must be finite and positive"),
        (lambda a: a[1].__setitem__(1, np.zeros(4)), "unaries[1]: expected shape (3,)"),
        (lambda a: a[1][2].__setitem__(0, np.nan), "unaries[2]: 1 NaN"),
        (lambda a: a[1][0].__setitem__(1, np.inf), "+inf"),
        (lambda a: a[0][1].__setitem__((0, 0), np.nan), "positions[1]: 1 non-finite"),
        (lambda a: a[0].__setitem__(2, np.zeros((5, 2))), "positions[2]: expected shape (N, 3)"),
        (lambda a: a[2].__setitem__(1, (2, 3)), "names a missing part"),
        (lambda a: a[2].__setitem__(1, (1, 1)), "joins a part to itself"),
        (lambda a: a[2].__setitem__(1, (1, 0)), "appears more than once"),
        (lambda a: (a[0].__setitem__(1, np.zeros((0, 3))), a[1].__setitem__(1, np.zeros(0))),
         "empty candidate set"),
        (lambda a: a.__setitem__(4, np.zeros((3, 3))), "mu: expected shape (2, 3)"),
        (lambda a: a.__setitem__(3, np.ones((2, 2))), "c: expected shape"),
    ],
)
def test_bad_input_one_clear_error(mutate, message):
    args = list(_valid())
    args[0] = [p.copy() for p in args[0]]
    args[1] = [u.copy() for u in args[1]]
    args[2] = list(args[2])
    args[3] = args[3].copy()
    mutate(args)
    with pytest.raises(InputError) as e:
        make_problem(*args)
    assert message in str(e.value)


def test_unary_count_mismatch():
    pos, un, edges, c, mu = _valid()
    with pytest.raises(InputError, match="expected 3 parts"):
        make_problem(pos, un[:2], edges, c, mu)


def test_score_matches_hand_computation():
    pos, un, edges, c, mu = _valid()
    prob = make_problem(pos, un, edges, c, mu)
    cfg = np.array([2, 1, 4])
    expect = un[0][2] + un[1][1] + un[2][4]
    expect -= np.sum(c[0] * (pos[0][2] - pos[1][1] - mu[0]) ** 2)
    expect -= np.sum(c[1] * (pos[2][4] - pos[1][1] - mu[1]) ** 2)
    assert prob.score(cfg) == pytest.approx(expect, rel=1e-12)
    batch = prob.score(np.array([cfg, [0, 0, 0]]))
    assert batch.shape == (2,) and batch[0] == pytest.approx(expect, rel=1e-12)
    np.testing.assert_allclose(prob.pose(cfg), np.stack([pos[0][2], pos[1][1], pos[2][4]]))


def test_broadcast_c_and_torch_inputs():
    pos, un, edges, c, mu = _valid()
    a = make_problem(pos, un, edges, 2.0, mu)
    b = make_problem([torch.as_tensor(p) for p in pos], [torch.as_tensor(u) for u in un], edges,
                     torch.full((2, 3), 2.0), torch.as_tensor(mu))
    cfg = np.array([1, 2, 3])
    assert a.score(cfg) == pytest.approx(b.score(cfg), rel=1e-12)


def test_config_out_of_range_and_with_unaries():
    prob = make_problem(*_valid())
    with pytest.raises(InputError, match="out of range"):
        prob.score([0, 3, 0])
    with pytest.raises(InputError, match="unaries"):
        prob.with_unaries([np.zeros(4), np.zeros(3), np.zeros(4)])
    p2 = prob.with_unaries([np.zeros(4), np.zeros(3), np.zeros(5)])
    assert p2.score([0, 0, 0]) == pytest.approx(prob.score([0, 0, 0]) - sum(u[0] for u in prob.unaries))


def test_score_torch_matches_and_differentiates():
    prob = random_problem([(0, 1), (1, 2), (0, 2)], 4, seed=3)
    pos = torch.tensor(np.stack(prob.positions), requires_grad=True)
    un = torch.tensor(np.stack(prob.unaries), requires_grad=True)
    c = torch.tensor(prob.c, requires_grad=True)
    mu = torch.tensor(prob.mu, requires_grad=True)
    cfg = np.array([[0, 1, 2], [3, 3, 0]])
    s = score_torch(pos, un, prob.edges, c, mu, cfg)
    np.testing.assert_allclose(s.detach().numpy(), prob.score(cfg), rtol=1e-12)
    assert torch.autograd.gradcheck(lambda m, cc: score_torch(pos.detach(), un.detach(), prob.edges, cc, m, cfg),
                                    (mu, c))
    s.sum().backward()
    # unary gradient: how many of the configurations use each candidate
    expect = np.zeros((3, 4))
    for row in cfg:
        for p, x in enumerate(row):
            expect[p, x] += 1
    np.testing.assert_allclose(un.grad.numpy(), expect)
