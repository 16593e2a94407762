"""Image encoders and decoders for single-view reconstruction (IGE-Net §6.3).

* :class:`MobileNetV2Encoder` after Sandler et al. (2018): a stride-``s`` 3 x 3 stem, then inverted
  residual blocks (1 x 1 expansion, 3 x 3 depthwise, linear 1 x 1 projection, residual when the
  shape is kept) in the stages ``(t, c, n, s)`` = (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2)
  (6,96,3,1) (6,160,3,2) (6,320,1,1), channels scaled by a width multiplier and rounded to
  multiples of 8; optionally the final 1 x 1 "head" convolution (1280 channels in the original).
  Written for this project from the published architecture table; no torchvision.
* :class:`UNetDecoder`: a U-Net style image decoder giving feature maps at every resolution from
  the encoder's coarsest (``h_c``) up to the voxel grid's ``R``, doubling each level, with skip
  connections from the encoder where the sizes match; channels halve as the resolution doubles.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from energy3d.errors import InputError

Tensor = torch.Tensor

__all__ = ["make_divisible", "ConvBNAct", "InvertedResidual", "MobileNetV2Encoder", "UNetDecoder", "MOBILENET_V2_STAGES"]

MOBILENET_V2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                       (6, 320, 1, 1))
"""MobileNetV2 stages ``(expansion t, channels c, blocks n, first stride s)`` (Sandler et al. 2018, Table 2)."""

# stages whose output is a skip feature (after them the next stage changes resolution)
_SKIP_AFTER = (0, 1, 2, 4, 6)


def make_divisible(v: float, divisor: int = 8) -> int:
    """Round a channel count to the nearest multiple of ``divisor`` without losing more than 10%."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new < 0.9 * v:
        new += divisor
    return int(new)


class ConvBNAct(nn.Sequential):
    """``Conv2d (same padding, no bias) -> BatchNorm2d -> ReLU6``."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1, act: bool = True):
        layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
        if act:
            layers.append(nn.ReLU6(inplace=True))
        super().__init__(*layers)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1 x 1 expand (unless ``expand == 1``), 3 x 3 depthwise, linear 1 x 1 project.

    Shapes:
        ``(B, cin, h, w) -> (B, cout, h / stride, w / stride)``; residual when ``stride == 1`` and ``cin == cout``.
    """

    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = [] if expand == 1 else [ConvBNAct(cin, hidden, 1)]
        layers += [ConvBNAct(hidden, hidden, 3, stride, groups=hidden), ConvBNAct(hidden, cout, 1, act=False)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x) if self.residual else self.block(x)


class MobileNetV2Encoder(nn.Module):
    """MobileNetV2 feature extractor returning the features at five strides.

    Args:
        width_mult: width multiplier ``α`` (1.0 = the original 3.4M-parameter network's widths).
        stem_stride: stride of the first convolution (2 in the original; 1 gives 64 x 64 images the
            same feature sizes as 128 x 128 images with stride 2).
        head_channels: channels of the final 1 x 1 convolution (1280 in the original, scaled up for
            ``α > 1``); 0 leaves it out (the IGE model uses the 320-channel features, §6.3 Table 2).

    Shapes:
        ``(B, 3, S, S)`` -> list of 5 maps ``(B, channels[j], S / strides[j], S / strides[j])`` with
        ``strides = stem_stride * (1, 2, 4, 8, 16)``.

    Example:
        >>> enc = MobileNetV2Encoder(0.35, stem_stride=1)
        >>> [tuple(f.shape[1:]) for f in enc(torch.zeros(1, 3, 64, 64))][-1]
        (112, 4, 4)
    """

    def __init__(self, width_mult: float = 1.0, stem_stride: int = 2, head_channels: int = 0):
        super().__init__()
        if not width_mult > 0:
            raise InputError(f"width_mult must be positive, got {width_mult}")
        if stem_stride not in (1, 2):
            raise InputError(f"stem_stride must be 1 or 2, got {stem_stride}")
        self.stem_stride = int(stem_stride)
        cin = make_divisible(32 * width_mult)
        self.stem = ConvBNAct(3, cin, 3, stem_stride)
        self.stages = nn.ModuleList()
        channels = []
        for i, (t, c, n, s) in enumerate(MOBILENET_V2_STAGES):
            cout = make_divisible(c * width_mult)
            blocks = [InvertedResidual(cin if j == 0 else cout, cout, s if j == 0 else 1, t) for j in range(n)]
            self.stages.append(nn.Sequential(*blocks))
            cin = cout
            if i in _SKIP_AFTER:
                channels.append(cout)
        self.head = None
        if head_channels:
            hc = make_divisible(head_channels * max(1.0, width_mult))
            self.head = ConvBNAct(cin, hc, 1)
            channels[-1] = hc
        self.channels = channels
        self.strides = [self.stem_stride * 2**j for j in range(5)]

    @property
    def out_channels(self) -> int:
        return self.channels[-1]

    def forward(self, image: Tensor) -> list[Tensor]:
        if image.dim() != 4 or image.shape[1] != 3:
            raise InputError(f"encoder: expected images (B, 3, S, S), got {tuple(image.shape)}")
        h = self.stem(image)
        feats = []
        for i, stage in enumerate(self.stages):
            h = stage(h)
            if i in _SKIP_AFTER:
                feats.append(h)
        if self.head is not None:
            feats[-1] = self.head(feats[-1])
        return feats


class UNetDecoder(nn.Module):
    """U-Net image decoder: feature maps ``x_i`` at sizes ``h_c, 2 h_c, ..., h_c 2^K``.

    Level 0 maps the encoder's coarsest features (size ``h_c``) to ``channels[0]`` channels; each
    further level upsamples the previous one (nearest, x2), concatenates the encoder feature of
    that size when there is one, and applies two 3 x 3 conv-BN-ReLU6 layers.

    Args:
        skip_channels: ``{size: channels}`` of the encoder features available as skips (the
            coarsest must be present: it is the decoder's input).
        coarse_size: ``h_c``.
        levels: ``K + 1``, the number of output maps.
        base_channels: channels of the coarsest map; level ``k`` has ``max(base >> k, min_channels)``.
        min_channels: lower bound of the channels.

    Shapes:
        encoder features (list, as returned by :class:`MobileNetV2Encoder`) -> list of ``K + 1``
        maps ``(B, channels[k], h_c 2^k, h_c 2^k)``, coarsest first.
    """

    def __init__(self, skip_channels: dict[int, int], coarse_size: int, levels: int, base_channels: int = 128,
                 min_channels: int = 8):
        super().__init__()
        if coarse_size not in skip_channels:
            raise InputError(f"decoder: no encoder feature of the coarse size {coarse_size} (have {sorted(skip_channels)})")
        if levels < 1:
            raise InputError(f"decoder: levels must be >= 1, got {levels}")
        self.coarse_size = int(coarse_size)
        self.skip_sizes = dict(skip_channels)
        self.channels = [max(int(base_channels) >> k, int(min_channels)) for k in range(levels)]
        self.sizes = [self.coarse_size * 2**k for k in range(levels)]
        self.blocks = nn.ModuleList()
        for k, (c, s) in enumerate(zip(self.channels, self.sizes)):
            if k == 0:
                cin = skip_channels[s]
            else:
                cin = self.channels[k - 1] + (skip_channels[s] if s in skip_channels else 0)
            first = ConvBNAct(cin, c, 1 if k == 0 else 3)
            self.blocks.append(nn.Sequential(first, ConvBNAct(c, c, 3)))

    def forward(self, enc_feats: list[Tensor]) -> list[Tensor]:
        by_size = {f.shape[-1]: f for f in enc_feats}
        if self.coarse_size not in by_size:
            raise InputError(f"decoder: expected an encoder feature of size {self.coarse_size}, got sizes {sorted(by_size)}")
        out = []
        h = None
        for k, (blk, s) in enumerate(zip(self.blocks, self.sizes)):
            if k == 0:
                h = blk(by_size[s])
            else:
                h = F.interpolate(h, scale_factor=2, mode="nearest")
                if s in self.skip_sizes:
                    h = torch.cat([h, by_size[s]], dim=1)
                h = blk(h)
            out.append(h)
        return out
