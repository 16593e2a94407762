"""The volumetric quantized-regression network of Kinauer et al. (§2.1, §2.4, §3.1), small for CPU.

A fully convolutional residual backbone (written here; no pretrained weights) maps an input to a
``H x W`` feature map (``H = W = crop // stride``). As in the paper (§3.1: "both 3D and 2D branches
are single-level convolution layers branching from the last layer"), every head is one 1x1
convolution of the last features:

* ``logits``   ``(B, J, D, H, W)``: voxel classification scores (§2.1, §2.4), the unary score;
* ``residual`` ``(B, J, 3, D, H, W)``: offset of the joint from the voxel centre, in crop pixels
  ``(u, v, w)`` (quantized regression, §2.1: candidate position = voxel centre + residual);
* ``pair``     ``(B, E, 3, H, W)``: regressed displacements ``mu_ij = phi_i - phi_j`` (§2.2) for the
  union of the edges of every topology of :mod:`energy3d.structured.graphs`, read at the child ``j``;
* ``heat2d``   ``(B, J, H, W)``: 2D heatmap logits (§2.4), used to locate the child for ``pair``.

``c_ij = softplus(c_raw)`` ``(E, 3)`` are the per-edge, per-axis pairwise weights (§2.2, eq. 3).

Two input modes share everything after the stem: ``"rgb"`` ``(B, 3, crop, crop)`` in ``[0, 1]``
(normalised inside), and ``"heatmaps"`` ``(B, 17, S, S)`` 2D joint heatmaps (detector keypoints).

Example:
    >>> import torch
    >>> net = StructuredPoseNet(PoseNetConfig())
    >>> out = net(torch.rand(2, 3, 128, 128))
    >>> tuple(out.logits.shape), tuple(out.residual.shape), tuple(out.heat2d.shape)
    ((2, 17, 16, 16, 16), (2, 17, 3, 16, 16, 16), (2, 17, 16, 16))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from energy3d.errors import InputError
from energy3d.skeleton import get_layout
from energy3d.structured.graphs import TOPOLOGIES, part_graph

LAYOUT = "h36m17"
INPUTS = ("rgb", "heatmaps")


def union_edges(layout: str = LAYOUT) -> np.ndarray:
    """The union of the edges of all :data:`~energy3d.structured.graphs.TOPOLOGIES`, ``(E, 2)``.

    Each unordered pair appears once, oriented as in the first topology (in ``TOPOLOGIES`` order) that
    has it, so ``mu_ij = phi_i - phi_j`` is regressed at the child ``j`` of that orientation.
    """
    seen: dict[frozenset, tuple[int, int]] = {}
    for name in TOPOLOGIES:
        for i, j in part_graph(name, layout).edges:
            key = frozenset((int(i), int(j)))
            if key not in seen:
                seen[key] = (int(i), int(j))
    return np.asarray(list(seen.values()), dtype=np.int64).reshape(-1, 2)


@dataclass(frozen=True)
class PoseNetConfig:
    """Configuration of :class:`StructuredPoseNet`.

    Attributes:
        input: ``"rgb"`` (3 x crop x crop in [0, 1]) or ``"heatmaps"`` (17 x heatmap_size^2).
        crop: crop side in pixels; the label volume spans ``[0, crop)^3`` crop pixels.
        heatmap_size: side of the heatmap-mode input maps.
        stride: crop pixels per head cell; ``H = W = crop // stride``.
        depth_bins: ``D``, the number of depth classes (cells of ``crop / D`` crop px).
        width: base channel count of the backbone (stages use ``w, 2w, 2w, 3w``).
        blocks: residual blocks per stage (4 stages).
        edges: which pairwise heads: ``"union"`` (all topologies' edges).
    """

    input: str = "rgb"
    crop: int = 128
    heatmap_size: int = 64
    stride: int = 8
    depth_bins: int = 16
    width: int = 32
    blocks: tuple = (1, 2, 2, 2)
    edges: str = "union"

    def __post_init__(self):
        if self.input not in INPUTS:
            raise InputError(f"PoseNetConfig.input must be one of {', '.join(INPUTS)}; got {self.input!r}")
        for name in ("crop", "heatmap_size", "stride", "depth_bins", "width"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise InputError(f"PoseNetConfig.{name} must be a positive integer; got {v!r}")
        if self.width < 4:
            raise InputError(f"PoseNetConfig.width must be >= 4; got {self.width}")
        if self.crop % self.stride:
            raise InputError(f"PoseNetConfig.crop ({self.crop}) must be a multiple of stride ({self.stride})")
        h = self.crop // self.stride
        if h < 2:
            raise InputError(f"PoseNetConfig: crop // stride = {h} head cells; need at least 2")
        size = self.input_size
        if size % (2 * h) or not _is_pow2(size // (2 * h)):
            raise InputError(f"PoseNetConfig: the {self.input} input side ({size}) must be 2 * (crop // stride) "
                             f"= {2 * h} times a power of two (the backbone halves it to reach the "
                             f"{h}x{h} heads)")
        b = tuple(self.blocks) if isinstance(self.blocks, (list, tuple)) else None
        if b is None or len(b) != 4 or any(isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 1
                                           for x in b):
            raise InputError(f"PoseNetConfig.blocks must be 4 positive integers; got {self.blocks!r}")
        object.__setattr__(self, "blocks", tuple(int(x) for x in b))
        if self.edges != "union":
            raise InputError(f"PoseNetConfig.edges must be 'union'; got {self.edges!r}")

    @property
    def input_size(self) -> int:
        return self.crop if self.input == "rgb" else self.heatmap_size

    @property
    def in_channels(self) -> int:
        return 3 if self.input == "rgb" else get_layout(LAYOUT).num_joints


def _is_pow2(n: int) -> bool:
    return n >= 1 and (n & (n - 1)) == 0


@dataclass
class PoseNetOutput:
    """Outputs of :class:`StructuredPoseNet` (float32).

    Attributes:
        logits: ``(B, J, D, H, W)`` voxel scores.
        residual: ``(B, J, 3, D, H, W)`` offsets from voxel centres, crop px ``(u, v, w)``.
        pair: ``(B, E, 3, H, W)`` displacement maps ``mu_ij`` (crop px), edges as the model's ``edges``.
        heat2d: ``(B, J, H, W)`` 2D heatmap logits.
        crop: crop side in pixels (with the shapes it fixes the voxel geometry: cell ``crop / W`` in
            ``u, v`` and ``crop / D`` in ``w``).
    """

    logits: torch.Tensor
    residual: torch.Tensor
    pair: torch.Tensor
    heat2d: torch.Tensor
    crop: int


def _conv_bn(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class _Block(nn.Module):
    """Basic residual block (two 3x3 convolutions), projection shortcut when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int = 1, dilation: int = 1):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, padding=1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, padding=dilation, dilation=dilation, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)), inplace=True)
        y = self.b2(self.c2(y))
        return F.relu(y + (x if self.short is None else self.short(x)), inplace=True)


class StructuredPoseNet(nn.Module):
    """Backbone + single-level 1x1 heads (Kinauer et al. §3.1); see the module docstring.

    Attributes:
        cfg: the :class:`PoseNetConfig`.
        edges: ``(E, 2)`` long buffer, the union edge list ``(i, j)`` (``mu_ij = phi_i - phi_j``).
        c_raw: ``(E, 3)`` parameter, ``c = softplus(c_raw)``.
    """

    def __init__(self, cfg: PoseNetConfig | None = None):
        super().__init__()
        cfg = cfg or PoseNetConfig()
        if not isinstance(cfg, PoseNetConfig):
            raise InputError(f"StructuredPoseNet expects a PoseNetConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        J = get_layout(LAYOUT).num_joints
        self.num_joints = J
        D, w = cfg.depth_bins, cfg.width
        h = cfg.crop // cfg.stride
        n_down = int(round(math.log2(cfg.input_size // (2 * h))))  # stem halvings; stage 2 halves once more
        layers = [_conv_bn(cfg.in_channels, max(w // 2, 4), 2 if n_down > 0 else 1),
                  _conv_bn(max(w // 2, 4), w, 2 if n_down > 1 else 1)]
        layers += [_conv_bn(w, w, 2) for _ in range(n_down - 2)]
        self.stem = nn.Sequential(*layers)
        widths = (w, 2 * w, 2 * w, 3 * w)
        strides = (1, 2, 1, 1)
        dilations = (1, 1, 1, 2)  # wider receptive field at the 16x16 head resolution
        stages, cin = [], w
        for cout, s, d, n in zip(widths, strides, dilations, cfg.blocks):
            blocks = [_Block(cin, cout, s, d)] + [_Block(cout, cout, 1, d) for _ in range(n - 1)]
            stages.append(nn.Sequential(*blocks))
            cin = cout
        self.stages = nn.Sequential(*stages)
        e = union_edges(LAYOUT)
        self.register_buffer("edges", torch.as_tensor(e, dtype=torch.long), persistent=False)
        E = e.shape[0]
        self.head_logits = nn.Conv2d(cin, J * D, 1)
        self.head_residual = nn.Conv2d(cin, J * 3 * D, 1)
        self.head_pair = nn.Conv2d(cin, E * 3, 1)
        self.head_heat2d = nn.Conv2d(cin, J, 1)
        # c = softplus(c_raw); start at c = 1e-3 per crop px^2 (a loose coupling; sigma ~ 22 px).
        self.c_raw = nn.Parameter(torch.full((E, 3), math.log(math.expm1(1e-3))))
        self.register_buffer("rgb_mean", torch.tensor([0.45, 0.45, 0.45]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("rgb_std", torch.tensor([0.25, 0.25, 0.25]).view(1, 3, 1, 1), persistent=False)
        self._init_heads()

    def _init_heads(self):
        """Regression heads start near zero; voxel logits start at the positive rate (BCE starts sane)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for head in (self.head_residual, self.head_pair):
            nn.init.normal_(head.weight, std=1e-3)
            nn.init.zeros_(head.bias)
        nn.init.normal_(self.head_logits.weight, std=1e-2)
        nn.init.constant_(self.head_logits.bias, -math.log(self.cfg.depth_bins * (self.cfg.crop // self.cfg.stride) ** 2 / 4.0))
        nn.init.normal_(self.head_heat2d.weight, std=1e-2)
        nn.init.zeros_(self.head_heat2d.bias)
        # the residual head scale: outputs are in crop px; a unit feature moves ~1 px
        self.register_buffer("pair_scale", torch.tensor(float(self.cfg.crop) / 4.0), persistent=False)

    @property
    def c(self) -> torch.Tensor:
        """``(E, 3)`` positive pairwise weights ``softplus(c_raw)`` (eq. 3)."""
        return F.softplus(self.c_raw)

    def set_c(self, c) -> None:
        """Set ``c = softplus(c_raw)`` to ``c`` ``(E, 3)`` (positive; clamped at 1e-6), e.g. calibrated weights."""
        c = torch.as_tensor(c, dtype=self.c_raw.dtype, device=self.c_raw.device).clamp_min(1e-6)
        if c.shape != self.c_raw.shape:
            raise InputError(f"set_c: expected shape {tuple(self.c_raw.shape)}, got {tuple(c.shape)}")
        with torch.no_grad():
            self.c_raw.copy_(c + torch.log(-torch.expm1(-c)))  # softplus^-1, stable for small and large c

    def edge_ids(self, topology: str) -> torch.Tensor:
        """Indices into :attr:`edges` of a topology's edges, in the topology's edge order.

        ``"unary"`` (no pairwise terms) gives an empty tensor. A topology edge ``(i, j)`` may be the
        union's ``(j, i)``; then its ``mu`` is minus the union's (see :meth:`edge_signs`).
        """
        return self.edge_signs(topology)[0]

    def edge_signs(self, topology: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(ids (E_t,) long, sign (E_t,) float)``: ``mu_topology = sign * mu_union[ids]``."""
        if topology == "unary":
            return torch.zeros(0, dtype=torch.long), torch.zeros(0)
        g = part_graph(topology, LAYOUT)
        index = {(int(i), int(j)): k for k, (i, j) in enumerate(self.edges.tolist())}
        ids, sign = [], []
        for i, j in g.edges:
            i, j = int(i), int(j)
            if (i, j) in index:
                ids.append(index[(i, j)]); sign.append(1.0)
            else:
                ids.append(index[(j, i)]); sign.append(-1.0)
        return torch.tensor(ids, dtype=torch.long), torch.tensor(sign)

    def forward(self, x: torch.Tensor) -> PoseNetOutput:
        cfg = self.cfg
        want = (cfg.in_channels, cfg.input_size, cfg.input_size)
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != want:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise InputError(f"StructuredPoseNet ({cfg.input} mode): expected input (B, {want[0]}, {want[1]}, "
                             f"{want[2]}), got {got}")
        x = x.float()
        if cfg.input == "rgb":
            x = (x - self.rgb_mean) / self.rgb_std
        f = self.stages(self.stem(x))
        B, _, H, W = f.shape
        J, D, E = self.num_joints, cfg.depth_bins, self.edges.shape[0]
        cell = float(cfg.crop) / W
        return PoseNetOutput(
            logits=self.head_logits(f).view(B, J, D, H, W),
            residual=(self.head_residual(f) * cell).view(B, J, 3, D, H, W),
            pair=(self.head_pair(f) * self.pair_scale).view(B, E, 3, H, W),
            heat2d=self.head_heat2d(f),
            crop=cfg.crop,
        )
