"""Unrolled inner optimisation (IGE-Net, Jack et al. 2019, §4 eqs. 2-4 and §5.2).

``y(t) = f(y(t-1), ∇E)`` for ``t = 1..T`` with gradient descent, learned step size ``η``, learned
element-wise gradient clip ``c`` and learned momentum ``m``:

    g = clip(∇E(y), -c, c);   s <- |m| s + g;   y <- y - η s

initialised ``η, c, m = 1, 1, 0.1`` (§5.2; ``|m|`` keeps momentum non-negative early on). Every
iterate ``y(0..T)`` is returned so a loss can weight them (eq. 4).

How gradients flow is an explicit choice (theseus style):

* ``"unrolled"``: differentiate through every step, second order included (``create_graph``).
  This is how IGE-Net is trained.
* ``"truncated"``: each step's gradient is treated as a constant (first order only), cheaper.
* ``"none"``: inference; no graph is built and a closed-form ``grad_fn`` may be used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from energy3d.errors import InputError

Tensor = torch.Tensor


@dataclass
class UnrolledInfo:
    """What the inner optimiser did.

    Attributes:
        iterates: list of ``T + 1`` tensors ``y(0) .. y(T)``.
        energies: list of ``(B,)`` energies at ``y(0) .. y(T-1)`` (empty when not computed).
        grad_norms: list of mean gradient norms per step.
        steps: number of steps taken.
    """

    iterates: list[Tensor]
    energies: list[Tensor] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)
    steps: int = 0


class UnrolledGD(nn.Module):
    """Gradient descent with learned step, clip and momentum, unrolled for ``steps`` iterations.

    Args:
        steps: ``T`` (0 returns the initial estimate).
        lr, clip, momentum: initial values of the learned ``η``, ``c``, ``m``.
        learn_momentum: False removes momentum (the voxel model of §6 uses none).
        clip_enabled: False disables clipping.

    Example:
        >>> opt = UnrolledGD(steps=3)
        >>> energy = lambda y: (y ** 2).sum(-1)
        >>> info = opt(torch.ones(2, 4), energy)
        >>> len(info.iterates)
        4
    """

    def __init__(self, steps: int, lr: float = 1.0, clip: float = 1.0, momentum: float = 0.1,
                 learn_momentum: bool = True, clip_enabled: bool = True):
        super().__init__()
        if steps < 0:
            raise InputError(f"steps must be >= 0, got {steps}")
        self.steps = int(steps)
        self.lr = nn.Parameter(torch.tensor(float(lr)))
        self.clip = nn.Parameter(torch.tensor(float(clip))) if clip_enabled else None
        if learn_momentum:
            self.momentum = nn.Parameter(torch.tensor(float(momentum)))
        else:
            self.register_parameter("momentum", None)

    def step(self, y: Tensor, g: Tensor, s: Tensor | None) -> tuple[Tensor, Tensor]:
        """One update from gradient ``g``; returns ``(y_new, s_new)``."""
        if self.clip is not None:
            c = self.clip.abs()
            g = torch.maximum(torch.minimum(g, c), -c)
        s = g if (s is None or self.momentum is None) else self.momentum.abs() * s + g
        return y - self.lr * s, s

    def forward(self, y0: Tensor, energy: Callable[[Tensor], Tensor] | None = None, *,
                grad_fn: Callable[[Tensor], Tensor] | None = None, mode: str | None = None,
                steps: int | None = None, record_energy: bool = False,
                record_grad_norms: bool = True) -> UnrolledInfo:
        """Run the inner optimisation from ``y0``.

        Args:
            y0: initial estimate, any shape ``(B, ...)``.
            energy: ``y -> (B,)`` energy, differentiated with autograd (needed for training).
            grad_fn: ``y -> dE/dy`` closed form, used in ``"none"`` mode when given.
            mode: ``"unrolled"`` | ``"truncated"`` | ``"none"``; default ``"unrolled"`` when
                gradients are enabled and the module is training, else ``"none"``.
            steps: override ``T``.
            record_energy: also record energies (costs an extra evaluation per step in "none" mode).
            record_grad_norms: record each step's mean gradient norm (a Python float: a host sync
                per step on a GPU, a constant in a trace); False leaves ``grad_norms`` empty.

        Returns:
            :class:`UnrolledInfo` with all iterates.
        """
        T = self.steps if steps is None else int(steps)
        if mode is None:
            mode = "unrolled" if (self.training and torch.is_grad_enabled()) else "none"
        if mode not in ("unrolled", "truncated", "none"):
            raise InputError(f"mode must be 'unrolled', 'truncated' or 'none', got {mode!r}")
        if energy is None and grad_fn is None:
            raise InputError("UnrolledGD needs an energy or a grad_fn")
        info = UnrolledInfo(iterates=[y0])
        y, s = y0, None
        for _ in range(T):
            if mode == "none":
                with torch.no_grad():
                    if grad_fn is not None:
                        g = grad_fn(y)
                        if record_energy and energy is not None:
                            info.energies.append(energy(y))
                    else:
                        with torch.enable_grad():
                            yr = y.detach().requires_grad_(True)
                            e = energy(yr)
                            (g,) = torch.autograd.grad(e.sum(), yr)
                        if record_energy:
                            info.energies.append(e.detach())
                    y, s = self.step(y, g, s)
            else:
                yr = y if y.requires_grad else y.detach().requires_grad_(True)
                e = energy(yr)
                (g,) = torch.autograd.grad(e.sum(), yr, create_graph=(mode == "unrolled"))
                if record_energy:
                    info.energies.append(e.detach())
                y, s = self.step(yr, g, s)
            if record_grad_norms:
                info.grad_norms.append(float(g.detach().flatten(1).norm(dim=1).mean()))
            info.iterates.append(y)
        info.steps = T
        return info
