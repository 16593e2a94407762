"""Pose geometry: pairwise squared distances, optimal scale, batched Procrustes, root alignment.

Pure tensor functions with no learned state. Every function accepts any number of leading batch
dimensions, works in float32 and float64 and is differentiable with autograd.

* :func:`pairwise_sq_dists` is the ``Delta^2`` feature of IGE-Net (Jack et al. 2019, eq. 6), taken
  over the pairs ``j > i`` in the order of :func:`pair_indices`.
* :func:`optimal_scale` is the factor ``k`` of the IGE-Net outer loss (eq. 9) and of Protocol 1a.
* :func:`procrustes_align` is the optimal similarity transform of Protocol 2 (Umeyama 1991).
* :func:`root_relative` subtracts one joint, as Protocol 1 does.
"""

from __future__ import annotations

import torch

from energy3d.errors import InputError

Tensor = torch.Tensor

__all__ = ["pair_indices", "pairwise_sq_dists", "optimal_scale", "procrustes_align", "root_relative"]


def _check_points(name: str, x, min_dim: int = 2) -> None:
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{name}: expected a torch.Tensor of shape (..., N, D), got {type(x).__name__}")
    if x.dim() < min_dim:
        raise InputError(f"{name}: expected shape (..., N, D), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise InputError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}")


def check_pair(name_a: str, a, name_b: str, b) -> None:
    """Both ``(..., J, D)`` with equal ``(J, D)`` and broadcastable leading dimensions."""
    _check_points(name_a, a)
    _check_points(name_b, b)
    ok = a.shape[-2:] == b.shape[-2:] and a.shape[-2] > 0 and a.shape[-1] > 0
    if ok:
        try:
            torch.broadcast_shapes(a.shape, b.shape)
        except RuntimeError:
            ok = False
    if not ok:
        raise InputError(
            f"{name_a} and {name_b} must have the same non-empty shape (..., J, D) (leading dims may broadcast), "
            f"got {name_a} {tuple(a.shape)} and {name_b} {tuple(b.shape)}"
        )


def pair_indices(n: int, device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
    """Indices ``(i, j)`` of all unordered pairs ``j > i`` of ``n`` items, in row-major order.

    The order is ``(0, 1), (0, 2), ..., (0, n-1), (1, 2), ...``, the same as
    ``torch.triu_indices(n, n, 1)``.

    Args:
        n: number of items (``n >= 0``).
        device: device of the returned tensors.

    Returns:
        Two ``(n (n - 1) / 2,)`` int64 tensors ``i`` and ``j``.

    Example:
        >>> i, j = pair_indices(3)
        >>> i.tolist(), j.tolist()
        ([0, 0, 1], [1, 2, 2])
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise InputError(f"pair_indices: n must be a non-negative int, got {n!r}")
    ij = torch.triu_indices(n, n, 1, device=device)
    return ij[0], ij[1]


def pairwise_sq_dists(x: Tensor) -> Tensor:
    """Squared Euclidean distances between all pairs of points (IGE-Net eq. 6).

    Computed from coordinate differences, so it stays exact for large coordinates (no
    ``|a|^2 + |b|^2 - 2 a.b`` cancellation), and its gradient is finite everywhere.

    Args:
        x: ``(..., N, D)`` points.

    Returns:
        ``(..., N (N - 1) / 2)`` values ``||x_i - x_j||^2`` for ``j > i`` in the order of
        :func:`pair_indices`.

    Example:
        >>> x = torch.tensor([[0., 0.], [3., 4.], [0., 1.]])
        >>> pairwise_sq_dists(x)
        tensor([25.,  1., 18.])
    """
    _check_points("points", x)
    i, j = pair_indices(x.shape[-2], device=x.device)
    d = x[..., i, :] - x[..., j, :]
    return (d * d).sum(dim=-1)


def optimal_scale(pred: Tensor, target: Tensor, eps: float = 1e-12) -> Tensor:
    """Scale ``s*`` minimising ``||s * pred - target||^2`` (IGE-Net eq. 9, Protocol 1a).

    ``s* = <target, pred> / <pred, pred>``, summed over joints and coordinates, with no
    translation: the scaling is about the origin of the frame the points are given in.

    Args:
        pred: ``(..., J, D)`` predicted points.
        target: ``(..., J, D)`` target points (leading dims broadcast with ``pred``).
        eps: lower bound on ``<pred, pred>``; an all-zero ``pred`` gives ``s* = 0``.

    Returns:
        ``(...,)`` optimal scales.

    Example:
        >>> pred = torch.tensor([[1., 0., 0.], [0., 1., 0.]])
        >>> optimal_scale(pred, 2 * pred)
        tensor(2.)
    """
    check_pair("pred", pred, "target", target)
    num = (target * pred).sum(dim=(-2, -1))
    den = (pred * pred).sum(dim=(-2, -1))
    return num / den.clamp_min(eps)


def procrustes_align(pred: Tensor, target: Tensor, return_transform: bool = False):
    """Align ``pred`` to ``target`` with the least-squares similarity transform (Umeyama 1991).

    Finds the rotation ``R`` (``det R = +1``: reflections are never used), isotropic scale ``s``
    and translation ``t`` minimising ``sum_j ||s R pred_j + t - target_j||^2`` and returns the
    aligned prediction ``s R pred_j + t``. This is the alignment of Protocol 2 (PA-MPJPE).

    Degenerate inputs give finite values: if all ``pred`` points coincide (or ``J == 1``) the result
    is translation only (``s = 1``, ``R = I``, every point moved to the target centroid); if all
    ``target`` points coincide, ``R = I`` and ``s = 0``. Gradients are those of the SVD, so they are
    well defined when the cross-covariance has distinct singular values (any non-degenerate 3D
    pose); they are zero, not NaN, in the coincident cases above.

    Args:
        pred: ``(..., J, D)`` points to move (``D = 3`` for poses; any ``D >= 1`` works).
        target: ``(..., J, D)`` reference points (leading dims broadcast with ``pred``).
        return_transform: also return ``(s, R, t)``.

    Returns:
        ``aligned (..., J, D)``, and if ``return_transform``, a tuple
        ``(s (...,), R (..., D, D), t (..., D))`` with ``aligned = s * pred @ R.T + t``.

    Example:
        >>> pred = torch.tensor([[0., 0., 0.], [1., 0., 0.], [0., 2., 0.], [0., 0., 3.]])
        >>> target = 2 * pred + torch.tensor([1., 2., 3.])
        >>> aligned, (s, R, t) = procrustes_align(pred, target, return_transform=True)
        >>> torch.allclose(aligned, target, atol=1e-5), round(s.item(), 4)
        (True, 2.0)
    """
    check_pair("pred", pred, "target", target)
    pred, target = torch.broadcast_tensors(pred, target)
    dtype = pred.dtype
    D = pred.shape[-1]
    eye = torch.eye(D, dtype=dtype, device=pred.device)

    mu_x = pred.mean(dim=-2, keepdim=True)
    mu_y = target.mean(dim=-2, keepdim=True)
    xc = pred - mu_x
    yc = target - mu_y
    var_x = (xc * xc).sum(dim=(-2, -1))  # (...,)
    var_y = (yc * yc).sum(dim=(-2, -1))

    # Coincident points: spread below rounding noise relative to the coordinates' magnitude.
    tol = 64 * torch.finfo(dtype).eps
    J = pred.shape[-2]
    mag_x = pred.detach().abs().amax(dim=(-2, -1))
    mag_y = target.detach().abs().amax(dim=(-2, -1))
    deg_x = var_x.detach() <= (tol * mag_x) ** 2 * J
    deg_y = var_y.detach() <= (tol * mag_y) ** 2 * J
    deg = deg_x | deg_y

    # Cross-covariance Sigma = Yc^T Xc  (..., D, D). Where degenerate, decompose a fixed matrix with
    # distinct singular values instead (its SVD gives R = I), so neither the forward nor the SVD
    # backward sees a zero matrix.
    sigma = yc.transpose(-1, -2) @ xc
    safe = torch.diag(torch.arange(D, 0, -1, dtype=dtype, device=pred.device))
    sigma_svd = torch.where(deg[..., None, None], safe, sigma)
    U, _, Vh = torch.linalg.svd(sigma_svd)
    # Reflection correction: flip the last singular direction if det(U V^T) < 0.
    d = torch.sign(torch.linalg.det(U.detach()) * torch.linalg.det(Vh.detach()))
    d = torch.where(d == 0, torch.ones_like(d), d)
    flip = torch.ones(*d.shape, D, dtype=dtype, device=pred.device)
    flip = torch.cat([flip[..., :-1], d[..., None]], dim=-1)
    R = (U * flip[..., None, :]) @ Vh
    R = torch.where(deg[..., None, None], eye, R)

    # s = trace(D S) / var_x = <R, Sigma>_F / var_x (uses the true Sigma, so s = 0 when y collapses).
    var_safe = torch.where(deg_x, torch.ones_like(var_x), var_x)
    s = (R * sigma).sum(dim=(-2, -1)) / var_safe
    s = torch.where(deg_x, torch.ones_like(s), s)

    aligned = s[..., None, None] * (xc @ R.transpose(-1, -2)) + mu_y
    if not return_transform:
        return aligned
    t = mu_y.squeeze(-2) - s[..., None] * (R @ mu_x.squeeze(-2).unsqueeze(-1)).squeeze(-1)
    return aligned, (s, R, t)


def root_relative(x: Tensor, root: int = 0) -> Tensor:
    """Subtract joint ``root`` from every joint.

    Args:
        x: ``(..., J, D)`` joints.
        root: index of the root joint (negative indices count from the end).

    Returns:
        ``(..., J, D)`` joints with joint ``root`` at the origin.

    Example:
        >>> root_relative(torch.tensor([[1., 2., 3.], [2., 2., 2.]]))
        tensor([[ 0.,  0.,  0.],
                [ 1.,  0., -1.]])
    """
    _check_points("joints", x)
    J = x.shape[-2]
    if isinstance(root, bool) or not isinstance(root, int) or not -J <= root < J:
        raise InputError(f"root must be a joint index in [{-J}, {J}) for shape {tuple(x.shape)}, got {root!r}")
    return x - x.narrow(-2, root % J, 1)
