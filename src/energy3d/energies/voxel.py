"""The frustum voxel energy of IGE-Net §6.1 (Jack et al. 2019, eq. 10).

A proposal is a voxel grid in the camera frustum, layout ``(B, D, H, W)`` (depth bins x image rows
x image columns, bin 0 nearest; see :mod:`energy3d.geometry.voxel`). For each image feature map
``x_i`` of shape ``(B, f_i, h_i, w_i)`` the proposal is **average pooled anisotropically** to
``ȳ_i`` of shape ``(B, d_i, h_i, w_i)``: image cells are pooled by the feature stride
``H / h_i`` and depth bins by a factor chosen so that ``d_i`` is proportional to ``f_i``
(§6.1: "setting the depth of the averaged frustum voxel grid d_i ... proportional to the number of
image features f_i"). Depth then *is* the channel axis, so ``ȳ_i`` is a ``d_i``-channel 2D image and
the energy

    E(y; x) = sum_i CNN_i(x_i ⊕ ȳ_i)

uses only 2D convolutions: ``CNN_i`` is two unpadded 3 x 3 convolutions (the coarsest level: 3 x 3
then 2 x 2, §6.3), softplus after the first and softabs after the second (``softabs(o) =
sqrt(o² + 1) - 1``, as in :mod:`energy3d.energies.pose`), summed over channels and positions to one
scalar per example. No 3D convolution is involved, which is what lets the model scale to 128³ and
beyond: with features doubling as resolution halves, every level costs the same.

The energy takes **probabilities** (occupancies in ``[0, 1]``); the model that owns it decides the
space in which the proposal is optimised (:class:`energy3d.models.voxel.VoxelIGE` optimises logits
and passes ``sigmoid(logits)`` here). Its gradient with respect to the grid comes from autograd.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from energy3d.energies.pose import softabs
from energy3d.errors import InputError

Tensor = torch.Tensor

__all__ = ["pool_frustum", "EnergyLevel", "FrustumEnergy", "CHUNK_BYTES", "TILE_BYTES"]

CHUNK_BYTES = 1 << 18
"""Default working set of one depth chunk of :meth:`FrustumEnergy.logit_step_` (bytes of the grid)."""
TILE_BYTES = 1 << 17
"""Default hidden-activation size of one row tile of :meth:`FrustumEnergy.pooled_grads`."""


def pool_frustum(grid: Tensor, depth_pool: int, pixel_pool: int) -> Tensor:
    """Average pool a frustum grid anisotropically: depth by ``depth_pool``, rows and columns by ``pixel_pool``.

    Args:
        grid: ``(B, D, H, W)`` occupancies (any float dtype).
        depth_pool: depth pooling factor; must divide ``D``.
        pixel_pool: image-cell pooling factor (the feature stride in grid cells); must divide ``H`` and ``W``.

    Returns:
        ``(B, D / depth_pool, H / pixel_pool, W / pixel_pool)``: the mean of each
        ``depth_pool x pixel_pool x pixel_pool`` block.

    Raises:
        InputError: wrong rank or sizes not divisible by the factors.

    Example:
        >>> pool_frustum(torch.ones(1, 8, 4, 4), 2, 4).shape
        torch.Size([1, 4, 1, 1])
    """
    if grid.dim() != 4:
        raise InputError(f"frustum grid: expected shape (B, D, H, W), got {tuple(grid.shape)}")
    B, D, H, W = grid.shape
    dp, pp = int(depth_pool), int(pixel_pool)
    if dp < 1 or pp < 1 or D % dp or H % pp or W % pp:
        raise InputError(f"pool_frustum: factors (depth {dp}, pixels {pp}) must divide the grid (D, H, W) = {(D, H, W)}")
    if dp == 1 and pp == 1:
        return grid
    return F.avg_pool3d(grid[:, None], kernel_size=(dp, pp, pp), stride=(dp, pp, pp))[:, 0]


@dataclass(frozen=True)
class EnergyLevel:
    """Geometry of one energy level.

    Attributes:
        features: ``f_i``, channels of the image feature map ``x_i``.
        size: ``h_i = w_i``, its spatial size.
        pixel_pool: grid cells per feature pixel (``H / h_i``).
        depth_pool: depth bins averaged into one channel of ``ȳ_i``.
        hidden: filters of both convolutions of ``CNN_i``.
        coarsest: True for the lowest resolution (second convolution 2 x 2 instead of 3 x 3).
    """

    features: int
    size: int
    pixel_pool: int
    depth_pool: int
    hidden: int
    coarsest: bool = False


class FrustumEnergy(nn.Module):
    """``E(y; x) = sum_i CNN_i(x_i ⊕ pool_i(y))`` (IGE-Net eq. 10) over several feature resolutions.

    Args:
        levels: one :class:`EnergyLevel` per image feature map, in the order the features are passed.
        depth: ``D``, depth bins of the proposal grid.
        out_init_scale: the second convolutions' initial weights are scaled by this, so the inner
            optimiser starts with little effect (as §5.2 does for the pose energy).

    Shapes:
        y: ``(B, D, H, W)`` occupancy probabilities with ``H = W = size_i * pixel_pool_i``.
        features: list of ``(B, f_i, h_i, h_i)``.
        output: ``(B,)`` energies.

    Example:
        >>> lv = [EnergyLevel(8, 4, 2, 1, 16, coarsest=True), EnergyLevel(4, 8, 1, 2, 8)]
        >>> e = FrustumEnergy(lv, depth=8)
        >>> e(torch.rand(2, 8, 8, 8), [torch.randn(2, 8, 4, 4), torch.randn(2, 4, 8, 8)]).shape
        torch.Size([2])
    """

    def __init__(self, levels: list[EnergyLevel], depth: int, out_init_scale: float = 0.1):
        super().__init__()
        if not levels:
            raise InputError("FrustumEnergy needs at least one level")
        self.levels = list(levels)
        self.depth = int(depth)
        self.conv1 = nn.ModuleList()
        self.conv2 = nn.ModuleList()
        for lv in self.levels:
            if self.depth % lv.depth_pool:
                raise InputError(f"depth pool {lv.depth_pool} does not divide the depth {self.depth}")
            k2 = 2 if lv.coarsest else 3
            if lv.size < 3 + k2 - 1:
                raise InputError(f"energy level of size {lv.size} is too small for unpadded 3x3 and {k2}x{k2} convolutions")
            cin = lv.features + self.depth // lv.depth_pool
            c1 = nn.Conv2d(cin, lv.hidden, 3)
            c2 = nn.Conv2d(lv.hidden, lv.hidden, k2)
            nn.init.xavier_uniform_(c1.weight)
            nn.init.zeros_(c1.bias)
            nn.init.xavier_uniform_(c2.weight)
            with torch.no_grad():
                c2.weight.mul_(out_init_scale)
            nn.init.zeros_(c2.bias)
            self.conv1.append(c1)
            self.conv2.append(c2)

    def pooled(self, y: Tensor) -> list[Tensor]:
        """``[ȳ_i]``: the proposal pooled to each level, ``(B, D / depth_pool_i, h_i, h_i)``."""
        return [pool_frustum(y, lv.depth_pool, lv.pixel_pool) for lv in self.levels]

    def level_energies(self, y: Tensor, features: list[Tensor]) -> list[Tensor]:
        """Per-level energies ``[CNN_i(x_i ⊕ ȳ_i)]``, each ``(B,)``."""
        if y.dim() != 4 or y.shape[1] != self.depth:
            raise InputError(f"energy: expected a grid of shape (B, {self.depth}, H, W), got {tuple(y.shape)}")
        return self.pooled_level_energies(self.pooled(y), features)

    def _checked_levels(self, pooled: list[Tensor], features: list[Tensor]):
        """``(level, conv1, conv2, x_i, ȳ_i)`` per level, after checking counts and shapes."""
        if len(features) != len(self.levels) or len(pooled) != len(self.levels):
            raise InputError(f"energy: expected {len(self.levels)} feature maps and pooled grids, "
                             f"got {len(features)} and {len(pooled)}")
        for lv, c1, c2, x, yb in zip(self.levels, self.conv1, self.conv2, features, pooled):
            if x.shape[1:] != (lv.features, lv.size, lv.size) or yb.shape[-2:] != x.shape[-2:]:
                raise InputError(
                    f"energy level {lv.size}x{lv.size}: features {tuple(x.shape)} / pooled grid {tuple(yb.shape)} "
                    f"do not match (B, {lv.features}, {lv.size}, {lv.size})"
                )
            yield lv, c1, c2, x, yb

    def pooled_level_energies(self, pooled: list[Tensor], features: list[Tensor]) -> list[Tensor]:
        """Per-level energies from already pooled grids ``[ȳ_i]`` (see :meth:`pooled`), each ``(B,)``."""
        out = []
        for lv, c1, c2, x, yb in self._checked_levels(pooled, features):
            h = c2(F.softplus(c1(torch.cat([x, yb.to(x.dtype)], dim=1))))
            out.append(softabs(h).sum(dim=(1, 2, 3)))
        return out

    def forward(self, y: Tensor, features: list[Tensor]) -> Tensor:
        """Energy ``(B,)`` of proposals ``y (B, D, H, W)`` given image features."""
        return torch.stack(self.level_energies(y, features)).sum(0)

    def _depth_chunk(self, y: Tensor, chunk_bytes: int) -> int:
        """Depth bins per chunk: a power of two of about ``chunk_bytes`` of ``y`` (at least one bin).

        Depth pools are powers of two dividing the depth, so a chunk either holds whole pooling blocks
        of a level or lies inside one block (then its share is accumulated): chunks need not span
        the coarsest depth pool (at 256³ that alone would be 16 MiB).
        """
        per_bin = max(1, y[:, :1].numel() * y.element_size())
        n = 1 << max(0, (max(1, chunk_bytes // per_bin)).bit_length() - 1)
        return min(n, y.shape[1])

    def pooled_grads(self, pooled: list[Tensor], features: list[Tensor], tile_bytes: int = TILE_BYTES) -> list[Tensor]:
        """``[∂E/∂ȳ_i]`` for pooled grids ``[ȳ_i]``, each level's 2D energy visited in row tiles.

        ``CNN_i`` is two unpadded convolutions and its energy a sum over output pixels, so the energy
        of output rows ``[r0, r1)`` needs only input rows ``[r0, r1 + k1 + k2 - 2)``: each tile runs
        forward and backward on its own, and the tiles' gradients add up to the whole level's
        exactly. ``tile_bytes`` bounds one tile's hidden activation (``B x hidden x rows x width``
        floats); autograd then holds a few such tensors instead of the full map's (6.5 MiB for the
        128² level of the MobileNetV2 model, measured).
        """
        grads = []
        for lv, c1, c2, x, yb in self._checked_levels(pooled, features):
            yb = yb.detach().requires_grad_(True)
            k2 = c2.kernel_size[0]
            halo = 2 + k2 - 1  # input rows beyond the last output row of a tile
            out_rows = lv.size - halo
            per_row = max(1, x.shape[0] * lv.hidden * lv.size * x.element_size())
            n = max(1, min(out_rows, tile_bytes // per_row))
            g = torch.zeros_like(yb)
            with torch.enable_grad():
                for r0 in range(0, out_rows, n):
                    r1 = min(out_rows, r0 + n)
                    inp = torch.cat([x[:, :, r0:r1 + halo], yb[:, :, r0:r1 + halo].to(x.dtype)], dim=1)
                    e = softabs(c2(F.softplus(c1(inp)))).sum()
                    g.add_(torch.autograd.grad(e, yb)[0])
            grads.append(g)
        return grads

    def logit_step_(self, logits: Tensor, features: list[Tensor], lr: float, clip: float | None = None, *,
                    chunk_bytes: int = CHUNK_BYTES, tile_bytes: int = TILE_BYTES) -> Tensor:
        """One inference step on logits, in place, with no grid-sized temporary.

        Computes ``l <- l - lr * clip(σ'(l) ⊙ ∂E/∂y |_{y = σ(l)}, ±clip)`` for ``logits`` ``(B, D, H, W)``,
        the same update as autograd through ``E(sigmoid(l))`` followed by an element-wise clip. The grid
        is visited in depth chunks of about ``chunk_bytes``: a first pass pools ``σ(l)`` to every level
        (``ȳ_i``), autograd runs only from the energy to those small pooled grids, and a second pass
        spreads each pooled gradient over its block (the pooling's adjoint), multiplies by
        ``σ'(l) = σ(1 - σ)``, clips and updates the chunk. Peak memory beyond ``logits`` is the pooled
        grids, one row tile of the 2D energy's activations (:meth:`pooled_grads`) and two chunks, so a
        128³ or 256³ proposal costs one grid.

        Args:
            logits: ``(B, D, H, W)`` contiguous logits, updated in place; a float16 grid (half the
                memory) is read and written chunk by chunk, all arithmetic in float32.
            features: the image feature maps.
            lr: step size ``η``.
            clip: element-wise gradient clip ``c`` (``None``: no clip).
            chunk_bytes: working-set size of one chunk.
            tile_bytes: hidden-activation size of one row tile of the 2D energy.

        Returns:
            ``logits``.
        """
        if logits.dim() != 4 or logits.shape[1] != self.depth:
            raise InputError(f"energy: expected a grid of shape (B, {self.depth}, H, W), got {tuple(logits.shape)}")
        B, D, H, W = logits.shape
        cdt = torch.promote_types(logits.dtype, torch.float32)  # float16 grids are computed on in float32
        n = self._depth_chunk(logits, chunk_bytes)
        pooled = [logits.new_zeros(B, D // lv.depth_pool, H // lv.pixel_pool, W // lv.pixel_pool, dtype=cdt)
                  for lv in self.levels]
        with torch.no_grad():
            for d0 in range(0, D, n):
                p = torch.sigmoid(logits[:, d0:d0 + n].to(cdt))
                m = p.shape[1]
                for lv, pb in zip(self.levels, pooled):
                    dp = lv.depth_pool
                    if dp <= m:  # whole blocks
                        pb[:, d0 // dp:(d0 + m) // dp] = pool_frustum(p, dp, lv.pixel_pool)
                    else:  # m of the block's dp bins
                        pb[:, d0 // dp].add_(pool_frustum(p, m, lv.pixel_pool)[:, 0], alpha=m / dp)
        grads = self.pooled_grads(pooled, features, tile_bytes)
        with torch.no_grad():
            for d0 in range(0, D, n):
                yc = logits[:, d0:d0 + n]
                yf = yc.to(cdt)  # yc itself unless the grid is stored in a narrower type
                m = yc.shape[1]
                g = torch.zeros_like(yf)
                for lv, gi in zip(self.levels, grads):
                    dp, pp = lv.depth_pool, lv.pixel_pool
                    nb, inner = (m // dp, dp) if dp <= m else (1, m)  # blocks in the chunk, bins per block in it
                    part = gi[:, d0 // dp:d0 // dp + nb]
                    h, w = part.shape[-2:]
                    g.view(B, nb, inner, h, pp, w, pp).add_(part[:, :, None, :, None, :, None],
                                                            alpha=1.0 / (dp * pp * pp))
                p = torch.sigmoid(yf)
                g.mul_(p).mul_(p.neg_().add_(1.0))
                if clip is not None:
                    g.clamp_(-clip, clip)
                yf.add_(g, alpha=-lr)
                if yf.data_ptr() != yc.data_ptr():
                    yc.copy_(yf)
        return logits

    def macs(self) -> int:
        """Convolution multiply-adds of one energy evaluation per example (pooling not counted)."""
        total = 0
        for lv, c1, c2 in zip(self.levels, self.conv1, self.conv2):
            s1 = lv.size - 2
            k2 = c2.kernel_size[0]
            s2 = s1 - k2 + 1
            total += s1 * s1 * c1.in_channels * c1.out_channels * 9 + s2 * s2 * c2.in_channels * c2.out_channels * k2 * k2
        return int(total)
