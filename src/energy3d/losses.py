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
