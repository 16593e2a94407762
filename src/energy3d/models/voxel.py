"""Single-view voxel reconstruction networks (IGE-Net §6, Jack et al. 2019).

Both models map an image ``(B, 3, S, S)`` in ``[0, 1]`` to **occupancy logits** ``(B, R, R, R)``.
For the frustum dataset the grid is ``(D, H, W)`` (depth bins, bin 0 nearest, uniform in ``1/z``;
image rows; image columns, see :mod:`energy3d.geometry.voxel`); the world-aligned baseline predicts
the ``[ix, iy, iz]`` object-frame grid instead. Occupancy probability = ``sigmoid(logit)``.

* :class:`Deconv3D`: the 3D deconvolution network after the generator of Wu et al. (3D-GAN) with
  one fewer layer (§6.3): image features -> ``4³ x F`` -> transposed 4 x 4 x 4 convolutions of
  stride 2 (channels halving, batch norm, ReLU) -> ``R³`` logits. The image features enter through
  a 1 x 1 bottleneck convolution and a linear layer (our choice: it works for frustum and
  world-aligned targets alike).
* :class:`VoxelBaseline`: MobileNetV2 encoder + :class:`Deconv3D` (the paper's baseline, with the
  3D features doubled to match the IGE model's parameters; set by the configs).
* :class:`VoxelIGE`: MobileNetV2 encoder, U-Net image decoder giving ``x_i`` at sizes
  ``h_c .. R``; initial estimate from a :class:`Deconv3D` at ``32³`` trilinearly upsampled to
  ``R³``; then ``T`` steps of :class:`~energy3d.optim.UnrolledGD` (learned step and clip, no
  momentum, §6.3) on :class:`~energy3d.energies.voxel.FrustumEnergy`.

**Optimisation space (our choice).** The proposal is optimised in **logit space**: the iterates are
logits ``l``, the energy sees ``sigmoid(l)`` (occupancies in ``[0, 1]``, so pooling averages
probabilities as §6.1 describes), and ``∇_l E`` comes from autograd. Compared with optimising
probabilities clipped to ``[0, 1]`` this keeps every iterate a valid occupancy without a clip
that zeroes gradients at the bounds, lets losses use the numerically stable log-sigmoid, and
makes confident voxels (``|l|`` large, ``sigmoid' ≈ 0``) move little. In training the gradient
graph is kept (``create_graph=True``, second order); in eval mode each step is one graph-free
``torch.autograd.grad`` call on the energy (features computed once, without a graph).

Level geometry: with the encoder's coarsest map of size ``h_c`` (``S / (16 * stem_stride)``) and
``2^K = R / h_c``, level ``k`` has features ``x_k`` of size ``h_k = h_c 2^k`` with ``f_k = max(F >>
k, f_min)`` channels, pools grid cells by ``R / h_k`` and depth by ``2^k`` (so ``d_k = D / 2^k`` is
proportional to ``f_k`` while the channels halve, §6.1), and ``CNN_k`` has ``energy_mult * f_k``
filters. At ``R = 32, h_c = 4, F = 128``: ``(4², 128 ch, 32 bins), (8², 64, 16), (16², 32, 8),
(32², 16, 4)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from energy3d.energies.voxel import CHUNK_BYTES, TILE_BYTES, EnergyLevel, FrustumEnergy
from energy3d.errors import InputError
from energy3d.models.encoders import MobileNetV2Encoder, UNetDecoder
from energy3d.optim.unrolled import UnrolledGD, UnrolledInfo

Tensor = torch.Tensor

__all__ = ["VoxelModelConfig", "Deconv3D", "VoxelBaseline", "VoxelIGE", "build_voxel_model", "resize_grid",
           "normalize_image", "VOXEL_MODEL_TYPES"]

VOXEL_MODEL_TYPES = ("voxel_baseline", "voxel_ige")


@dataclass(frozen=True)
class VoxelModelConfig:
    """Model settings of a voxel reconstruction network.

    Attributes:
        type: ``"ige"`` or ``"baseline"``.
        image_size: input image side ``S`` (128 paper, 64 CPU configs).
        resolution: output grid ``R`` (``R³``); a power-of-two multiple of the coarse feature size.
        width_mult: MobileNetV2 width multiplier.
        stem_stride: stride of the encoder's first convolution (2 for 128 px, 1 for 64 px images).
        head_channels: MobileNetV2's final 1 x 1 convolution (1280 originally; 0 = none).
        decoder_channels, decoder_min_channels: U-Net channels ``F`` at the coarsest level and their minimum.
        deconv_channels: 3D deconvolution channels at ``4³`` (IGE initialiser 64 in the paper,
            the baseline doubles it).
        deconv_min_channels: lower bound of the 3D channels as they halve.
        deconv_bottleneck: channels of the 1 x 1 convolution before the linear layer to ``4³``.
        init_resolution: resolution of the IGE initial estimate (32, §6.3).
        energy_mult: filters of ``CNN_k`` per feature channel.
        energy_init_scale: initial scale of the energy's output convolutions.
        steps: inner steps ``T``.
        step_lr, step_clip: initial learned step size and gradient clip.
    """

    type: str = "ige"
    image_size: int = 128
    resolution: int = 32
    width_mult: float = 1.0
    stem_stride: int = 2
    head_channels: int = 0
    decoder_channels: int = 128
    decoder_min_channels: int = 8
    deconv_channels: int = 64
    deconv_min_channels: int = 8
    deconv_bottleneck: int = 32
    init_resolution: int = 32
    energy_mult: float = 2.0
    energy_init_scale: float = 0.1
    steps: int = 4
    step_lr: float = 1.0
    step_clip: float = 1.0

    def __post_init__(self):
        if self.type not in ("ige", "baseline"):
            raise InputError(f"voxel model type must be 'ige' or 'baseline', got {self.type!r}")
        for name in ("image_size", "resolution", "init_resolution", "decoder_channels", "deconv_channels"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise InputError(f"voxel model: {name} must be a positive integer, got {v!r}")
        for name in ("resolution", "init_resolution"):
            check_resolution(getattr(self, name), f"voxel model: {name}")
        if self.image_size % (16 * self.stem_stride):
            raise InputError(f"voxel model: image_size {self.image_size} must be a multiple of 16 * stem_stride")
        if self.steps < 0:
            raise InputError(f"voxel model: steps must be >= 0, got {self.steps}")

    @property
    def coarse_size(self) -> int:
        """``h_c``: spatial size of the encoder's coarsest feature map."""
        return self.image_size // (16 * self.stem_stride)


def normalize_image(image: Tensor, size: int) -> Tensor:
    """Check ``(B, 3, size, size)`` images in ``[0, 1]`` and centre them: ``(image - 0.5) / 0.25``."""
    if image.dim() != 4 or image.shape[1] != 3 or image.shape[2] != size or image.shape[3] != size:
        raise InputError(f"images: expected shape (B, 3, {size}, {size}), got {tuple(image.shape)}")
    return (image - 0.5) / 0.25


RESOLUTION_RANGE = (8, 512)
"""Voxel grid resolutions (``R`` of ``R³``) accepted everywhere: powers of two in this range."""


def check_resolution(r, what: str = "resolution") -> int:
    """The one voxel-resolution rule: a power of two in :data:`RESOLUTION_RANGE`; returns ``int(r)``.

    Used by the model configs, ``energy3d reconstruct --resolution`` and ``energy3d evaluate
    --resolution`` alike.

    Raises:
        InputError: anything else, naming ``what``.
    """
    lo, hi = RESOLUTION_RANGE
    ok = isinstance(r, (int, np.integer)) and not isinstance(r, bool) and lo <= r <= hi and not (int(r) & (int(r) - 1))
    if not ok:
        raise InputError(f"{what} must be a power of two from {lo} to {hi} (e.g. 32, 64, 128), got {r!r}")
    return int(r)


def resize_grid(grid: Tensor, resolution: int) -> Tensor:
    """Resize ``(B, R, R, R)`` occupancies to ``(B, r, r, r)``.

    Upsampling is trilinear (``align_corners=False``: voxel centres at ``(i + 0.5) R``), as used to
    evaluate models at higher resolutions than they were trained at (§6.5); downsampling averages.

    Args:
        grid: ``(B, R, R, R)`` probabilities (or logits when upsampling an initial estimate).
        resolution: target ``r``.
    """
    if grid.dim() != 4:
        raise InputError(f"grid: expected shape (B, R, R, R), got {tuple(grid.shape)}")
    r = int(resolution)
    if tuple(grid.shape[1:]) == (r, r, r):
        return grid
    if r >= max(grid.shape[1:]):
        return F.interpolate(grid[:, None], size=(r, r, r), mode="trilinear", align_corners=False)[:, 0]
    return F.adaptive_avg_pool3d(grid[:, None], (r, r, r))[:, 0]


def resize_grid_into(grid: Tensor, out: Tensor, *, chunk: int = 4) -> Tensor:
    """Trilinear upsampling of ``grid`` ``(B, S, S, S)`` into ``out`` ``(B, R, R, R)``, ``R >= S``, by depth chunks.

    The same map as :func:`resize_grid` (``align_corners=False``; trilinear interpolation is separable):
    the depth first, on the small source (``(B, R, S, S)``, in ``grid``'s dtype), then rows and columns
    ``chunk`` output depth bins at a time, written into ``out`` in its own dtype. So a float16 ``out``
    never has a float32 copy of its size beside it.
    """
    if grid.dim() != 4 or out.dim() != 4 or out.shape[0] != grid.shape[0]:
        raise InputError(f"resize_grid_into: expected (B, S, S, S) and (B, R, R, R), got {tuple(grid.shape)} "
                         f"and {tuple(out.shape)}")
    S, R = grid.shape[1], out.shape[1]
    if R < S:
        raise InputError(f"resize_grid_into upsamples only: {S}³ -> {R}³")
    o = torch.arange(R, dtype=torch.float64)  # index tables on the CPU (float64), then moved to the grid's device
    src = ((o + 0.5) * (S / R) - 0.5).clamp(min=0.0)  # PyTorch's align_corners=False source coordinate
    i0 = src.floor().long()
    i1 = (i0 + 1).clamp(max=S - 1)
    w = (src - i0).to(device=grid.device, dtype=grid.dtype)[None, :, None, None]
    i0, i1 = i0.to(grid.device), i1.to(grid.device)
    depth = grid[:, i0] * (1 - w) + grid[:, i1] * w  # (B, R, S, S)
    for o0 in range(0, R, chunk):
        out[:, o0:o0 + chunk] = F.interpolate(depth[:, o0:o0 + chunk], size=tuple(out.shape[2:]), mode="bilinear",
                                              align_corners=False)
    return out


class Deconv3D(nn.Module):
    """3D deconvolution decoder: image features ``(B, C, h, h)`` -> logits ``(B, R, R, R)``.

    ``1x1 conv (C -> bottleneck) -> linear (bottleneck h² -> 64 F) -> (F, 4, 4, 4)`` then
    ``log2(R / 4)`` transposed convolutions (kernel 4, stride 2, padding 1) with channels
    ``max(F >> k, min_channels)``, batch norm and ReLU between them; the last has one output channel.

    Args:
        in_channels, in_size: encoder feature channels ``C`` and size ``h``.
        channels: ``F``.
        resolution: ``R`` (power of two >= 8).
        bottleneck, min_channels: see above.
    """

    def __init__(self, in_channels: int, in_size: int, channels: int = 64, resolution: int = 32, bottleneck: int = 32,
                 min_channels: int = 8):
        super().__init__()
        check_resolution(resolution, "Deconv3D: resolution")
        self.resolution = int(resolution)
        self.channels = int(channels)
        self.reduce = nn.Sequential(nn.Conv2d(in_channels, bottleneck, 1, bias=False), nn.BatchNorm2d(bottleneck),
                                    nn.ReLU(inplace=True))
        self.fc = nn.Linear(bottleneck * in_size * in_size, 64 * self.channels)
        self.bn0 = nn.BatchNorm3d(self.channels)
        n = int(math.log2(resolution // 4))
        ch = [max(self.channels >> k, int(min_channels)) for k in range(n)] + [1]
        layers: list[nn.Module] = []
        for k in range(n):
            layers.append(nn.ConvTranspose3d(ch[k], ch[k + 1], 4, 2, 1, bias=(k == n - 1)))
            if k < n - 1:
                layers += [nn.BatchNorm3d(ch[k + 1]), nn.ReLU(inplace=True)]
        self.up = nn.Sequential(*layers)

    def forward(self, feat: Tensor) -> Tensor:
        h = self.reduce(feat).flatten(1)
        h = F.relu(self.bn0(self.fc(h).view(-1, self.channels, 4, 4, 4)))
        return self.up(h)[:, 0]


class VoxelBaseline(nn.Module):
    """MobileNetV2 encoder + :class:`Deconv3D` to ``R³`` (the paper's baseline, §6.3).

    Shapes:
        ``(B, 3, S, S)`` images in [0, 1] -> ``(B, R, R, R)`` logits.
    """

    def __init__(self, cfg: VoxelModelConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = MobileNetV2Encoder(cfg.width_mult, cfg.stem_stride, cfg.head_channels)
        self.decoder3d = Deconv3D(self.encoder.out_channels, cfg.coarse_size, cfg.deconv_channels, cfg.resolution,
                                  cfg.deconv_bottleneck, cfg.deconv_min_channels)

    @property
    def steps(self) -> int:
        return 0

    def iterate(self, image: Tensor, *, steps: int | None = None, mode: str | None = None) -> UnrolledInfo:
        """One "iterate": the prediction (for a common interface with :class:`VoxelIGE`)."""
        return UnrolledInfo(iterates=[self(image)])

    def forward(self, image: Tensor, all_iterates: bool = False):
        y = self.decoder3d(self.encoder(normalize_image(image, self.cfg.image_size))[-1])
        return [y] if all_iterates else y


class VoxelIGE(nn.Module):
    """IGE-Net voxel model (§6.1-6.3): initial estimate refined by unrolled descent on eq. 10.

    Args:
        cfg: a :class:`VoxelModelConfig` with ``type == "ige"``.

    Shapes:
        ``(B, 3, S, S)`` images in [0, 1] -> ``(B, R, R, R)`` frustum logits (the last iterate);
        :meth:`iterate` returns all ``T + 1``.

    Example:
        >>> cfg = VoxelModelConfig(image_size=64, resolution=16, stem_stride=1, width_mult=0.35,
        ...                        decoder_channels=16, deconv_channels=8, init_resolution=8, steps=2)
        >>> m = VoxelIGE(cfg).eval()
        >>> [tuple(y.shape) for y in m.iterate(torch.rand(1, 3, 64, 64)).iterates]
        [(1, 16, 16, 16), (1, 16, 16, 16), (1, 16, 16, 16)]
    """

    def __init__(self, cfg: VoxelModelConfig):
        super().__init__()
        self.cfg = cfg
        hc, R = cfg.coarse_size, cfg.resolution
        if hc < 4 or R % hc or (R // hc) & (R // hc - 1):
            raise InputError(f"voxel IGE: the coarse feature size {hc} (image {cfg.image_size} / 16 / stem stride "
                             f"{cfg.stem_stride}) must be >= 4 and divide the resolution {R} by a power of two")
        K = int(math.log2(R // hc))
        self.encoder = MobileNetV2Encoder(cfg.width_mult, cfg.stem_stride, cfg.head_channels)
        sizes = {cfg.image_size // s: c for s, c in zip(self.encoder.strides, self.encoder.channels)}
        self.decoder = UNetDecoder(sizes, hc, K + 1, cfg.decoder_channels, cfg.decoder_min_channels)
        self.init = Deconv3D(self.encoder.out_channels, hc, cfg.deconv_channels, cfg.init_resolution,
                             cfg.deconv_bottleneck, cfg.deconv_min_channels)
        levels = [EnergyLevel(features=f, size=s, pixel_pool=R // s, depth_pool=2**k,
                              hidden=max(1, int(round(cfg.energy_mult * f))), coarsest=(k == 0))
                  for k, (f, s) in enumerate(zip(self.decoder.channels, self.decoder.sizes))]
        self.energy = FrustumEnergy(levels, depth=R, out_init_scale=cfg.energy_init_scale)
        self.optimizer = UnrolledGD(cfg.steps, lr=cfg.step_lr, clip=cfg.step_clip, learn_momentum=False)

    @property
    def steps(self) -> int:
        return self.optimizer.steps

    def features(self, image: Tensor, *, resize: bool = True) -> tuple[list[Tensor], Tensor]:
        """Image features ``[x_k]`` (coarsest first) and the initial logits ``(B, R, R, R)``
        (with ``resize=False``: at the initialiser's own resolution)."""
        enc = self.encoder(normalize_image(image, self.cfg.image_size))
        y0 = self.init(enc[-1])
        return self.decoder(enc), resize_grid(y0, self.cfg.resolution) if resize else y0

    def energy_of_logits(self, logits: Tensor, feats: list[Tensor]) -> Tensor:
        """``E(sigmoid(logits); x)``, ``(B,)``."""
        return self.energy(torch.sigmoid(logits), feats)

    def iterate(self, image: Tensor, *, steps: int | None = None, mode: str | None = None,
                record_energy: bool = False) -> UnrolledInfo:
        """All logit iterates ``y(0..T)`` for images ``(B, 3, S, S)``.

        Training mode with gradients enabled differentiates through every step (second order);
        otherwise features are computed without a graph and each step is one graph-free autograd call.
        """
        if mode is None:
            mode = "unrolled" if (self.training and torch.is_grad_enabled()) else "none"
        if mode == "none":
            with torch.no_grad():
                feats, y0 = self.features(image)
            return self.optimizer(y0, lambda y: self.energy_of_logits(y, feats), mode="none", steps=steps,
                                  record_energy=record_energy)
        feats, y0 = self.features(image)
        return self.optimizer(y0, lambda y: self.energy_of_logits(y, feats), mode=mode, steps=steps,
                              record_energy=record_energy)

    @torch.no_grad()
    def infer(self, image: Tensor, *, steps: int | None = None, grid_dtype: torch.dtype | None = None,
              chunk_bytes: int = CHUNK_BYTES, tile_bytes: int = TILE_BYTES) -> Tensor:
        """Memory-lean inference: the last logit iterate ``(B, R, R, R)`` only.

        ``grid_dtype=torch.float16`` keeps the logit grid in half precision (half the memory of the
        largest tensor; every step computes in float32 chunk by chunk, :meth:`FrustumEnergy.logit_step_`):
        logits then carry float16 rounding (relative 2⁻¹¹ per step). ``chunk_bytes`` and ``tile_bytes``
        size the step's working set (see :meth:`FrustumEnergy.logit_step_`): smaller uses less memory
        and more time (at 128³, 64 KiB / 32 KiB take the step's own extra from about 3 to 1.4 MiB and
        its time about 1.5x).

        The same update as :meth:`iterate` in ``"none"`` mode (``g = clip(∇_l E, ±c)``,
        ``l <- l - η g``), done in place on the logit grid by :meth:`FrustumEnergy.logit_step_`, which
        visits the grid in depth chunks: besides the output grid, memory holds only the pooled grids, one
        row tile of the 2D energy's activations and two chunks; the initial estimate is upsampled into
        the grid by depth chunks too (:func:`resize_grid_into`). This is what lets inference scale to 128³ and 256³
        (benchmarks/bench_voxel_scaling.py).
        """
        feats, y0 = self.features(image, resize=False)
        R = self.cfg.resolution
        y = resize_grid_into(y0, y0.new_empty((y0.shape[0], R, R, R), dtype=grid_dtype or y0.dtype))
        T = self.steps if steps is None else int(steps)
        lr = float(self.optimizer.lr)
        c = None if self.optimizer.clip is None else float(self.optimizer.clip.abs())
        for _ in range(T):
            self.energy.logit_step_(y, feats, lr, c, chunk_bytes=chunk_bytes, tile_bytes=tile_bytes)
        return y

    def forward(self, image: Tensor, all_iterates: bool = False):
        """Last logit iterate ``(B, R, R, R)``, or the list of all ``T + 1`` with ``all_iterates``.

        Outside training (eval mode or no gradients) the last iterate comes from :meth:`infer`.
        """
        if not all_iterates and not (self.training and torch.is_grad_enabled()):
            return self.infer(image)
        it = self.iterate(image).iterates
        return it if all_iterates else it[-1]


def build_voxel_model(cfg: VoxelModelConfig) -> nn.Module:
    """Build the model a :class:`VoxelModelConfig` describes."""
    return VoxelIGE(cfg) if cfg.type == "ige" else VoxelBaseline(cfg)


def voxel_model_type(model: nn.Module) -> str:
    """``"voxel_ige"`` or ``"voxel_baseline"`` (the checkpoint's ``model_type``)."""
    return "voxel_ige" if isinstance(model, VoxelIGE) else "voxel_baseline"
