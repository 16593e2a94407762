"""2D -> 3D pose lifting networks: the baseline of Martinez et al. and the IGE-Net lifter.

Inputs are observed 2D joints in normalised camera coordinates ``(p - c) / f`` of shape
``(B, J2, 2)``; outputs are camera-frame 3D joints in metres ``(B, J, 3)`` (x right, y down,
z forward), *not* root-centred: IGE-Net's reprojection energy needs the absolute position. Both
models standardise inputs and outputs with training-set statistics held as buffers (saved with
the weights).

* :class:`BaselineLifter` (Martinez et al. 2017, as used by IGE-Net §5.1): linear -> ``blocks``
  residual blocks of 2 x (linear, batch norm, ReLU, dropout) -> linear. ``b1024-2`` is the full
  baseline, ``b128-1`` the IGE initialiser (~44k parameters). Weight clipping is removed as in the
  paper (the losses are scale-agnostic).
* :class:`IGELifter`: ``y0`` from a baseline, then ``T`` steps of :class:`~energy3d.optim.UnrolledGD`
  on :class:`~energy3d.energies.pose.PoseEnergy`; every iterate is returned.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from energy3d.energies.pose import PoseEnergy
from energy3d.errors import InputError
from energy3d.optim.unrolled import UnrolledGD, UnrolledInfo

Tensor = torch.Tensor


@dataclass(frozen=True)
class LifterConfig:
    """Model settings of a lifting network.

    Attributes:
        type: ``"baseline"`` or ``"ige"``.
        width, blocks, dropout: baseline (or IGE initialiser) size; ``b128-1`` is width 128, 1 block.
        steps: IGE inner steps ``T``.
        energy_hidden, energy_out: energy network sizes (256 and 8 in the paper).
        energy_init_scale: scale of the energy output layers' initial weights (1e-3, §5.2).
        momentum: learn momentum in the inner optimiser.
        init_train_mode: run the IGE initialiser in train mode (dropout, batch statistics) while
            training the IGE model. Default False: the initialiser's weights still learn, but in
            eval mode. With dropout 0.5 at width 128, train-mode initial estimates are far noisier
            than at test time (val P1a 144 vs 102 mm); the energy then learns corrections that
            overshoot and the unrolled training diverges at T = 8 (measured: training loss
            0.019 -> 0.054 over three epochs), while eval mode trains stably.
        step_unit: the inner optimiser works on the pose in units of ``step_unit`` metres
            (centimetres by default), so the paper's initial step ``η = 1`` and clip ``c = 1`` bound
            the first updates to about 1 cm per coordinate. In metres the same initial values allow
            1 m moves, and unrolled training diverged (see ``init_train_mode``).
        input_layout, output_layout: joint layouts of the 2D input and 3D output.
    """

    type: str = "baseline"
    width: int = 1024
    blocks: int = 2
    dropout: float = 0.5
    steps: int = 4
    energy_hidden: int = 256
    energy_out: int = 8
    energy_init_scale: float = 1e-3
    momentum: bool = True
    init_train_mode: bool = False
    step_unit: float = 0.01
    input_layout: str = "h36m17"
    output_layout: str = "h36m17"


class _Block(nn.Module):
    def __init__(self, width: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(width, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(width, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Dropout(dropout),
        )

    def forward(self, h):
        return h + self.net(h)


class BaselineLifter(nn.Module):
    """Residual MLP lifter (Martinez et al. 2017).

    Args:
        num_in, num_out: input 2D joints ``J2`` and output 3D joints ``J``.
        width, blocks, dropout: see :class:`LifterConfig`.

    Shapes:
        ``(B, J2, 2)`` normalised coordinates -> ``(B, J, 3)`` camera-frame metres.

    Example:
        >>> net = BaselineLifter(17, 17, width=128, blocks=1).eval()
        >>> net(torch.zeros(4, 17, 2)).shape
        torch.Size([4, 17, 3])
    """

    def __init__(self, num_in: int, num_out: int, width: int = 1024, blocks: int = 2, dropout: float = 0.5):
        super().__init__()
        self.num_in, self.num_out = num_in, num_out
        self.inp = nn.Sequential(nn.Linear(2 * num_in, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Dropout(dropout))
        self.blocks = nn.Sequential(*[_Block(width, dropout) for _ in range(blocks)])
        self.out = nn.Linear(width, 3 * num_out)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
        self.register_buffer("in_mean", torch.zeros(2 * num_in))
        self.register_buffer("in_std", torch.ones(2 * num_in))
        self.register_buffer("out_mean", torch.zeros(3 * num_out))
        self.register_buffer("out_std", torch.ones(3 * num_out))

    def set_normalization(self, in_mean, in_std, out_mean, out_std) -> None:
        """Set the standardisation statistics (flattened ``2*J2`` and ``3*J`` vectors)."""
        for name, v in (("in_mean", in_mean), ("in_std", in_std), ("out_mean", out_mean), ("out_std", out_std)):
            getattr(self, name).copy_(torch.as_tensor(v, dtype=torch.float32).reshape(-1))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3 or x.shape[1:] != (self.num_in, 2):
            raise InputError(f"2D input: expected shape (B, {self.num_in}, 2), got {tuple(x.shape)}")
        h = (x.flatten(1) - self.in_mean) / self.in_std  # flatten, not reshape(B, -1): B = 0 works
        out = self.out(self.blocks(self.inp(h)))
        return (out * self.out_std + self.out_mean).reshape(x.shape[0], self.num_out, 3)

    def macs(self) -> int:
        """Multiply-adds of the dense layers per pose."""
        return sum(m.in_features * m.out_features for m in self.modules() if isinstance(m, nn.Linear))


class IGELifter(nn.Module):
    """IGE-Net lifter: baseline initial estimate refined by unrolled descent on a learned energy.

    Args:
        init: the initial-estimate network (a :class:`BaselineLifter`, ``b128-1`` in the paper).
        hips: ``(left, right)`` hip indices in the output layout.
        steps: inner steps ``T``.

    Shapes:
        ``(B, J2, 2)`` -> ``(B, J, 3)`` (the last iterate); :meth:`iterate` returns all of them.
    """

    def __init__(self, init: BaselineLifter, hips: tuple[int, int], steps: int = 4, energy_hidden: int = 256,
                 energy_out: int = 8, energy_init_scale: float = 1e-3, momentum: bool = True,
                 init_train_mode: bool = False, step_unit: float = 1.0):
        super().__init__()
        self.init = init
        self.init_train_mode = init_train_mode
        self.step_unit = float(step_unit)
        self.energy = PoseEnergy(init.num_out, init.num_in, hips, energy_hidden, energy_out, energy_init_scale)
        self.optimizer = UnrolledGD(steps, learn_momentum=momentum)

    @property
    def steps(self) -> int:
        return self.optimizer.steps

    def train(self, mode: bool = True):
        """Train mode; the initialiser stays in eval mode unless ``init_train_mode`` (see :class:`LifterConfig`)."""
        super().train(mode)
        if mode and not self.init_train_mode:
            self.init.eval()
        return self

    def iterate(self, x: Tensor, *, steps: int | None = None, mode: str | None = None) -> UnrolledInfo:
        """All iterates ``y(0..T)`` for observations ``x (B, J2, 2)``.

        In training mode gradients flow through every step (second order); in eval mode, or under
        ``torch.no_grad()``, no graph is built: on CPU the fused descent of
        :meth:`~energy3d.energies.pose.PoseEnergy.descend` runs the steps (numba kernels around
        four dense products per step), elsewhere the torch closed-form gradient
        :meth:`~energy3d.energies.pose.PoseEnergy.grad` drives :class:`UnrolledGD`. Both give the
        iterates of the differentiable path (tests compare them).
        """
        if mode is None:
            mode = "unrolled" if (self.training and torch.is_grad_enabled()) else "none"
        if mode == "none":
            with torch.no_grad():
                return self._iterate_inference(x, steps)
        s = self.step_unit  # the optimiser works on u = y / s (see LifterConfig.step_unit)
        info = self.optimizer(self.init(x) / s, lambda u: self.energy(u * s, x), mode=mode, steps=steps)
        info.iterates = [u * s for u in info.iterates]
        return info

    def _iterate_inference(self, x: Tensor, steps: int | None) -> UnrolledInfo:
        """Graph-free iterates (called under ``torch.no_grad()``): the fused descent where
        :meth:`PoseEnergy.can_descend <energy3d.energies.pose.PoseEnergy.can_descend>` allows
        (CPU tensors, numba), else :meth:`closed_form_iterate`. The choice follows ``x``'s device."""
        opt = self.optimizer
        T = opt.steps if steps is None else int(steps)
        if T < 0:
            raise InputError(f"steps must be >= 0, got {T}")
        if x.dim() != 3 or x.shape[1:] != (self.init.num_in, 2):
            raise InputError(f"2D input: expected shape (B, {self.init.num_in}, 2), got {tuple(x.shape)}")
        if self.energy.can_descend(None, x):
            # the initialiser runs on the whole batch with all of torch's threads: measured faster
            # than chunk by chunk in the descent's single-threaded workers (its small products
            # there run below MKL's rate and pay the module's overhead per chunk)
            y0 = self.init(x)
            iterates, norms = self.energy.descend(
                y0, x, T, lr=float(opt.lr), clip=None if opt.clip is None else float(opt.clip),
                momentum=None if opt.momentum is None else float(opt.momentum), unit=self.step_unit)
            return UnrolledInfo(iterates=iterates, grad_norms=norms, steps=T)
        return self.closed_form_iterate(x, T)

    def closed_form_iterate(self, x: Tensor, steps: int | None = None, *, weights=None,
                            record_grad_norms: bool = True) -> UnrolledInfo:
        """Graph-free iterates by the torch closed-form gradient, on any device (torch ops only).

        ``y0 = init(x)``, then ``T`` steps of :class:`~energy3d.optim.UnrolledGD` in ``"none"``
        mode on ``u = y / step_unit`` with ``dE/du = step_unit * PoseEnergy.grad(y)``
        (:meth:`~energy3d.energies.pose.PoseEnergy.prepare` once per batch). What
        :meth:`iterate` runs off the CPU, and what the TorchScript export traces
        (:class:`energy3d.tasks.export.LifterExport`, with its own weight buffers).

        Args:
            x: ``(B, J2, 2)`` normalised 2D (``B = 0`` gives empty iterates).
            steps: ``T`` (default: as trained).
            weights: :class:`~energy3d.energies.pose.InferenceWeights` to use instead of
                :meth:`~energy3d.energies.pose.PoseEnergy.inference_weights` (must be on ``x``'s
                device and dtype).
            record_grad_norms: record the mean gradient norm per step (a host sync per step;
                False inside a trace).

        Returns:
            :class:`UnrolledInfo` with ``T + 1`` iterates ``(B, J, 3)``.
        """
        s = self.step_unit  # as in the differentiable path, the optimiser works on u = y / s
        consts = self.energy.prepare(x, weights)
        with torch.no_grad():
            info = self.optimizer(self.init(x) / s, lambda u: self.energy(u * s, x),
                                  grad_fn=lambda u: self.energy.grad(u * s, consts) * s, mode="none", steps=steps,
                                  record_grad_norms=record_grad_norms)
        info.iterates = [u * s for u in info.iterates]
        return info

    def forward(self, x: Tensor, all_iterates: bool = False):
        """Last iterate ``(B, J, 3)``, or the list of all ``T + 1`` iterates with ``all_iterates``."""
        it = self.iterate(x).iterates
        return it if all_iterates else it[-1]

    def macs(self, steps: int | None = None) -> int:
        """Multiply-adds per pose of inference with the closed-form gradient (dense layers only)."""
        T = self.steps if steps is None else steps
        return self.init.macs() + self.energy.macs_prepare() + T * self.energy.macs_per_step()


def build_lifter(cfg: LifterConfig) -> nn.Module:
    """Build the model a :class:`LifterConfig` describes."""
    from energy3d.skeleton import get_layout

    lin, lout = get_layout(cfg.input_layout), get_layout(cfg.output_layout)
    base = BaselineLifter(lin.num_joints, lout.num_joints, cfg.width, cfg.blocks, cfg.dropout)
    if cfg.type == "baseline":
        return base
    if cfg.type == "ige":
        hips = (lout.index("l_hip"), lout.index("r_hip"))
        return IGELifter(base, hips, cfg.steps, cfg.energy_hidden, cfg.energy_out, cfg.energy_init_scale, cfg.momentum,
                         cfg.init_train_mode, cfg.step_unit)
    raise InputError(f"model type must be 'baseline' or 'ige', got {cfg.type!r}")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
