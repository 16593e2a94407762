"""Tests for energy3d.geometry.pose against numpy / scipy references."""

import numpy as np
import pytest
import torch
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.distance import pdist
from scipy.spatial.transform import Rotation

from energy3d.errors import InputError
from energy3d.geometry.pose import optimal_scale, pair_indices, pairwise_sq_dists, procrustes_align, root_relative


def np_umeyama(X, Y):
    """Independent reference: Kabsch/Umeyama via H = Xc^T Yc (the transposed convention)."""
    mx, my = X.mean(0), Y.mean(0)
    Xc, Yc = X - mx, Y - my
    H = Xc.T @ Yc
    U, S, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(Vt.T @ U.T))
    Dm = np.diag([1.0, 1.0, d])
    R = Vt.T @ Dm @ U.T
    s = np.trace(np.diag(S) @ Dm) / (Xc**2).sum()
    t = my - s * R @ mx
    return s, R, t, s * X @ R.T + t


def random_similarity(rng):
    R = Rotation.random(random_state=rng.integers(1 << 30)).as_matrix()
    return rng.uniform(0.5, 2.0), R, rng.normal(size=3) * 3


# ---------------------------------------------------------------- pair_indices / pairwise


def test_pair_indices_order():
    i, j = pair_indices(5)
    expect = [(a, b) for a in range(5) for b in range(a + 1, 5)]
    assert list(zip(i.tolist(), j.tolist())) == expect
    assert i.dtype == torch.int64
    for n in (0, 1):
        assert pair_indices(n)[0].numel() == 0
    with pytest.raises(InputError):
        pair_indices(-1)


@pytest.mark.parametrize("D", [2, 3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pairwise_matches_pdist(D, dtype):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 17, D))
    got = pairwise_sq_dists(torch.tensor(x, dtype=dtype))
    assert got.shape == (2, 3, 17 * 16 // 2) and got.dtype == dtype
    ref = np.stack([[pdist(x[a, b], "sqeuclidean") for b in range(3)] for a in range(2)])
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-5 if dtype == torch.float32 else 1e-12, atol=1e-6)


def test_pairwise_exact_for_large_coordinates():
    # Points 1e4 m away from the origin, 1 cm apart: |a|^2+|b|^2-2ab would lose every digit in float32.
    rng = np.random.default_rng(1)
    x32 = (1e4 + rng.normal(size=(10, 3)) * 0.01).astype(np.float32)
    got = pairwise_sq_dists(torch.from_numpy(x32))
    ref = pdist(x32.astype(np.float64), "sqeuclidean")
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-5)


def test_pairwise_gradcheck_and_bad_shape():
    x = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(pairwise_sq_dists, (x,))
    with pytest.raises(InputError, match=r"got \(5,\)"):
        pairwise_sq_dists(torch.zeros(5))


# ---------------------------------------------------------------- optimal_scale


def test_optimal_scale_closed_form_and_brute_force():
    rng = np.random.default_rng(2)
    p, t = rng.normal(size=(4, 17, 3)), rng.normal(size=(4, 17, 3))
    t[:2] = 1.7 * p[:2] + 0.05 * rng.normal(size=(2, 17, 3))
    got = optimal_scale(torch.tensor(p), torch.tensor(t)).numpy()
    np.testing.assert_allclose(got, (p * t).sum((1, 2)) / (p * p).sum((1, 2)), rtol=1e-12)
    grid = np.linspace(-3, 3, 60001)  # step 1e-4
    for b in range(4):
        loss = ((grid[:, None, None] * p[b] - t[b]) ** 2).sum((1, 2))
        assert abs(grid[loss.argmin()] - got[b]) <= 1e-4
        lb = lambda s: ((s * p[b] - t[b]) ** 2).sum()  # noqa: E731
        assert lb(got[b]) <= min(lb(got[b] + 1e-3), lb(got[b] - 1e-3))


def test_optimal_scale_exact_and_degenerate():
    p = torch.randn(3, 6, 3)
    torch.testing.assert_close(optimal_scale(p, 0.37 * p), torch.full((3,), 0.37))
    s = optimal_scale(torch.zeros(6, 3), torch.randn(6, 3))
    assert s.item() == 0.0
    # leading dims broadcast: one target against several predictions
    t = torch.randn(6, 3)
    torch.testing.assert_close(optimal_scale(p, t), torch.stack([optimal_scale(p[k], t) for k in range(3)]))


def test_optimal_scale_gradcheck_and_shapes():
    p = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    t = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(optimal_scale, (p, t))
    with pytest.raises(InputError, match=r"\(4, 17, 3\).*\(4, 16, 3\)"):
        optimal_scale(torch.zeros(4, 17, 3), torch.zeros(4, 16, 3))


# ---------------------------------------------------------------- procrustes


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-9), (torch.float32, 1e-4)])
def test_procrustes_matches_numpy_svd(dtype, tol):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(5, 17, 3))
    Y = rng.normal(size=(5, 17, 3))
    Y[:3] = X[:3] @ Rotation.random(3, random_state=4).as_matrix().transpose(0, 2, 1) + 0.1 * Y[:3]
    aligned, (s, R, t) = procrustes_align(torch.tensor(X, dtype=dtype), torch.tensor(Y, dtype=dtype), return_transform=True)
    for b in range(5):
        rs, rR, rt, ra = np_umeyama(X[b], Y[b])
        np.testing.assert_allclose(aligned[b].double().numpy(), ra, atol=tol)
        np.testing.assert_allclose(s[b].item(), rs, atol=tol)
        np.testing.assert_allclose(R[b].double().numpy(), rR, atol=tol * 10)
        np.testing.assert_allclose(t[b].double().numpy(), rt, atol=tol * 10)
    # the returned transform reproduces the aligned points
    again = s[..., None, None] * torch.tensor(X, dtype=dtype) @ R.transpose(-1, -2) + t[..., None, :]
    torch.testing.assert_close(again, aligned, atol=tol * 10, rtol=0)


def test_procrustes_matches_scipy():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(17, 3))
    s0, R0, t0 = random_similarity(rng)
    Y = s0 * X @ R0.T + t0 + 0.05 * rng.normal(size=(17, 3))
    _, (s, R, t) = procrustes_align(torch.tensor(X), torch.tensor(Y), return_transform=True)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    # scipy: Omega minimising ||Xc Omega - Yc|| (here a proper rotation), scale = sum of singular values
    Om, sv_sum = orthogonal_procrustes(Xc, Yc)
    assert np.linalg.det(Om) > 0
    np.testing.assert_allclose(R.numpy(), Om.T, atol=1e-10)
    np.testing.assert_allclose(s.item(), sv_sum / (Xc**2).sum(), rtol=1e-10)
    # scipy.spatial.transform: rotation minimising sum ||Yc_i - R Xc_i||^2
    rot, _ = Rotation.align_vectors(Yc, Xc)
    np.testing.assert_allclose(R.numpy(), rot.as_matrix(), atol=1e-10)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-5), (torch.float32, 2e-4)])
def test_procrustes_recovers_known_similarity(dtype, tol):
    rng = np.random.default_rng(6)
    for _ in range(5):
        X = rng.normal(size=(17, 3))
        s0, R0, t0 = random_similarity(rng)
        assert abs(np.linalg.det(R0) - 1) < 1e-12
        Y = s0 * X @ R0.T + t0
        aligned, (s, R, t) = procrustes_align(torch.tensor(X, dtype=dtype), torch.tensor(Y, dtype=dtype), return_transform=True)
        np.testing.assert_allclose(s.double().item(), s0, atol=tol)
        np.testing.assert_allclose(R.double().numpy(), R0, atol=tol)
        np.testing.assert_allclose(t.double().numpy(), t0, atol=tol * 10)
        np.testing.assert_allclose(aligned.double().numpy(), Y, atol=tol * 10)


def test_procrustes_large_offset_float32():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(17, 3)) * 0.5
    s0, R0, _ = random_similarity(rng)
    Y = s0 * X @ R0.T + np.array([300.0, -200.0, 500.0])
    aligned = procrustes_align(torch.tensor(X + 1000.0, dtype=torch.float32), torch.tensor(Y, dtype=torch.float32))
    np.testing.assert_allclose(aligned.double().numpy(), Y, atol=2e-3)  # a few float32 ulps at 500


def test_procrustes_never_reflects():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(4, 17, 3))
    mirror = np.diag([-1.0, 1.0, 1.0])
    Y = X @ mirror + 0.01 * rng.normal(size=X.shape)  # the best orthogonal map is a reflection
    aligned, (s, R, t) = procrustes_align(torch.tensor(X), torch.tensor(Y), return_transform=True)
    np.testing.assert_allclose(torch.linalg.det(R).numpy(), 1.0, atol=1e-10)
    for b in range(4):
        Xc, Yc = X[b] - X[b].mean(0), Y[b] - Y[b].mean(0)
        Om, _ = orthogonal_procrustes(Xc, Yc)
        assert np.linalg.det(Om) < 0  # an unconstrained solver would reflect
        rot, _ = Rotation.align_vectors(Yc, Xc)  # best proper rotation
        np.testing.assert_allclose(R[b].numpy(), rot.as_matrix(), atol=1e-8)
        np.testing.assert_allclose(aligned[b].numpy(), np_umeyama(X[b], Y[b])[3], atol=1e-9)
    assert (aligned - torch.tensor(Y)).norm(dim=-1).mean() > 0.1  # a mirrored pose cannot be matched


def test_procrustes_is_locally_optimal():
    """Perturbing s, R (by a small rotation) or t never lowers the squared error."""
    rng = np.random.default_rng(9)
    X, Y = rng.normal(size=(12, 3)), rng.normal(size=(12, 3))
    _, (s, R, t) = procrustes_align(torch.tensor(X), torch.tensor(Y), return_transform=True)
    s, R, t = s.item(), R.numpy(), t.numpy()

    def loss(s_, R_, t_):
        return ((s_ * X @ R_.T + t_ - Y) ** 2).sum()

    best = loss(s, R, t)
    for _ in range(30):
        dR = Rotation.from_rotvec(rng.normal(size=3) * 1e-2).as_matrix()
        assert loss(s, dR @ R, t) >= best
        assert loss(s + rng.normal() * 1e-2, R, t) >= best
        assert loss(s, R, t + rng.normal(size=3) * 1e-2) >= best


def test_procrustes_degenerate_inputs_are_finite():
    Y = torch.randn(2, 6, 3, dtype=torch.float64)
    # all predicted joints equal -> translation only (s = 1, R = I), everything at the target centroid
    X = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64).expand(2, 6, 3).clone().requires_grad_(True)
    aligned, (s, R, t) = procrustes_align(X, Y, return_transform=True)
    torch.testing.assert_close(aligned, Y.mean(-2, keepdim=True).expand_as(Y))
    torch.testing.assert_close(s, torch.ones(2, dtype=torch.float64))
    torch.testing.assert_close(R, torch.eye(3, dtype=torch.float64).expand(2, 3, 3))
    torch.testing.assert_close(t, Y.mean(-2) - X[:, 0].detach())
    aligned.sum().backward()
    assert torch.isfinite(X.grad).all()
    # also at large float32 coordinates, where the centroid is not exact
    X32 = torch.full((6, 3), 1234.567, dtype=torch.float32)
    a32 = procrustes_align(X32, Y[0].float())
    torch.testing.assert_close(a32, Y[0].float().mean(0).expand(6, 3))
    # all target joints equal -> s = 0, every point at the target
    Xn = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    Yc = torch.full((6, 3), -0.5, dtype=torch.float64)
    a, (s0, _, _) = procrustes_align(Xn, Yc, return_transform=True)
    torch.testing.assert_close(a, Yc)
    assert abs(s0.item()) < 1e-12
    a.pow(2).sum().backward()
    assert torch.isfinite(Xn.grad).all()
    # a single joint
    one = procrustes_align(torch.randn(3, 1, 3), torch.ones(3, 1, 3))
    torch.testing.assert_close(one, torch.ones(3, 1, 3))


def test_procrustes_gradcheck():
    rng = np.random.default_rng(10)
    X = rng.normal(size=(2, 6, 3))
    s0, R0, t0 = random_similarity(rng)
    Y = s0 * X @ R0.T + t0 + 0.3 * rng.normal(size=X.shape)
    Xt = torch.tensor(X, requires_grad=True)
    Yt = torch.tensor(Y, requires_grad=True)
    assert torch.autograd.gradcheck(procrustes_align, (Xt, Yt))


def test_procrustes_batched_equals_loop_and_broadcast():
    X = torch.randn(3, 8, 3, dtype=torch.float64)
    Y = torch.randn(8, 3, dtype=torch.float64)
    batched = procrustes_align(X, Y)
    loop = torch.stack([procrustes_align(X[k], Y) for k in range(3)])
    torch.testing.assert_close(batched, loop)
    with pytest.raises(InputError, match=r"\(3, 8, 3\).*\(8, 2\)"):
        procrustes_align(X, torch.zeros(8, 2, dtype=torch.float64))


# ---------------------------------------------------------------- root_relative


def test_root_relative():
    x = torch.randn(2, 5, 3)
    r = root_relative(x, root=2)
    torch.testing.assert_close(r, x - x[:, 2:3])
    assert (r[:, 2] == 0).all()
    torch.testing.assert_close(root_relative(x, -1), x - x[:, 4:5])
    torch.testing.assert_close(root_relative(x, -2), x - x[:, 3:4])
    with pytest.raises(InputError, match="root"):
        root_relative(x, 5)
