"""Training losses.

* :func:`scaled_l2` — IGE-Net's per-step outer loss (eq. 9): ``||k y~ - y||²`` with ``k`` the
  optimal scale, here averaged over joints.
* :func:`step_weights` / :func:`unrolled_loss` — the weighted sum over every inner iterate
  ``sum_t k_t loss(y(t))`` with ``k_t = 0.9^(T - t)`` (eq. 4), normalised by ``sum_t k_t`` so losses
  of different ``T`` are comparable.
"""

from __future__ import annotations

import torch

from energy3d.geometry.pose import optimal_scale

Tensor = torch.Tensor


def scaled_l2(pred: Tensor, target: Tensor) -> Tensor:
    """Mean over the batch of ``mean_j ||k pred_j - target_j||²`` with ``k = optimal_scale(pred, target)``.

    Args:
        pred, target: ``(B, J, 3)``.
    """
    k = optimal_scale(pred, target)
    return ((k[:, None, None] * pred - target) ** 2).sum(-1).mean()


def step_weights(T: int, base: float = 0.9) -> list[float]:
    """Normalised per-step weights ``base^(T-t) / sum`` for ``t = 0..T``."""
    w = [base ** (T - t) for t in range(T + 1)]
    s = sum(w)
    return [v / s for v in w]


def unrolled_loss(iterates: list[Tensor], target: Tensor, base: float = 0.9, loss=scaled_l2) -> tuple[Tensor, list[float]]:
    """Weighted loss over all iterates; returns the total and the per-step (unweighted) values."""
    w = step_weights(len(iterates) - 1, base)
    per = [loss(y, target) for y in iterates]
    total = sum(wi * li for wi, li in zip(w, per))
    return total, [float(p.detach()) for p in per]


# ----------------------------------------------------------------------------- voxel occupancy losses (IGE-Net §6.2)


def _check_voxel_pair(name: str, pred: Tensor, target: Tensor) -> None:
    from energy3d.errors import InputError

    if pred.shape != target.shape or pred.dim() < 2:
        raise InputError(f"{name}: expected prediction and target of the same shape (B, ...), got "
                         f"{tuple(pred.shape)} and {tuple(target.shape)}")


def focal_loss(logits: Tensor, target: Tensor, alpha: float = 0.0, gamma: float = 0.0) -> Tensor:
    """α-balanced focal loss on occupancy logits (IGE-Net eq. 11, after Lin et al.).

    Per voxel, with ``p = sigmoid(logit)``::

        -[ y (1 - p)^γ (1 + α) log p + (1 - y) p^γ (1 - α) log(1 - p) ]

    ``α = γ = 0`` is binary cross-entropy; ``α ∈ (0, 1)`` weights positives more, ``γ > 0`` down-weights
    easy voxels. The paper sums over voxels; here the sum is divided by the number of voxels and
    averaged over the batch (a constant factor per resolution), so values are comparable across
    resolutions. ``log p`` is computed as ``logsigmoid(logit)`` for stability.

    Args:
        logits: ``(B, ...)`` occupancy logits.
        target: ``(B, ...)`` occupancies in ``[0, 1]`` (soft targets allowed).
        alpha, gamma: the balance ``α`` (``|α| < 1``) and focusing ``γ >= 0``.

    Returns:
        Scalar loss.

    Example:
        >>> l, y = torch.tensor([[2.0, -1.0]]), torch.tensor([[1.0, 0.0]])
        >>> bool(torch.isclose(focal_loss(l, y), torch.nn.functional.binary_cross_entropy_with_logits(l, y)))
        True
    """
    _check_voxel_pair("focal_loss", logits, target)
    if not (-1.0 < alpha < 1.0) or gamma < 0:
        from energy3d.errors import InputError

        raise InputError(f"focal_loss: need -1 < alpha < 1 and gamma >= 0, got alpha={alpha}, gamma={gamma}")
    y = target.to(logits.dtype)
    log_p = torch.nn.functional.logsigmoid(logits)
    log_q = torch.nn.functional.logsigmoid(-logits)
    if gamma == 0:
        pos, neg = y * log_p, (1 - y) * log_q
    else:
        p = torch.sigmoid(logits)
        pos = y * (1 - p).pow(gamma) * log_p
        neg = (1 - y) * p.pow(gamma) * log_q
    per = -((1 + alpha) * pos + (1 - alpha) * neg)
    return per.flatten(1).mean(1).mean()


def continuous_iou_loss(prob: Tensor, target: Tensor, eps: float = 1e-6) -> Tensor:
    """Continuous IoU loss (IGE-Net eq. 12, after Richter and Roth): ``1 - ŷ·y / (||ŷ + y||_1 - ŷ·y)``.

    Computed per example and averaged over the batch. On binary inputs it equals ``1 - IoU``.
    The denominator is clamped at ``eps`` (an empty prediction of an empty target gives 1 - 0 = 1;
    use :func:`energy3d.metrics.voxel_iou` for the metric, which defines that case as IoU 1).

    Args:
        prob: ``(B, ...)`` predicted occupancies in ``[0, 1]``.
        target: ``(B, ...)`` occupancies in ``[0, 1]``.

    Returns:
        Scalar loss.

    Example:
        >>> y = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
        >>> float(continuous_iou_loss(torch.tensor([[1.0, 0.0, 1.0, 0.0]]), y))  # IoU 1/3
        0.6666666...
    """
    _check_voxel_pair("continuous_iou_loss", prob, target)
    p, y = prob.flatten(1), target.to(prob.dtype).flatten(1)
    inter = (p * y).sum(1)
    union = (p + y).sum(1) - inter
    return (1 - inter / union.clamp_min(eps)).mean()


def voxel_loss(kind: str, alpha: float = 0.0, gamma: float = 0.0):
    """A loss ``(logits, target) -> scalar`` for :func:`unrolled_loss`: ``"iou"`` (continuous IoU of
    ``sigmoid(logits)``) or ``"focal"`` (:func:`focal_loss` with ``alpha``, ``gamma``; 0, 0 = cross-entropy)."""
    if kind == "iou":
        return lambda logits, target: continuous_iou_loss(torch.sigmoid(logits), target)
    if kind == "focal":
        return lambda logits, target: focal_loss(logits, target, alpha, gamma)
    from energy3d.errors import InputError

    raise InputError(f"voxel loss must be 'iou' or 'focal', got {kind!r}")
