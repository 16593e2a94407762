"""Reading images for the models: one checked reader, one clear error per bad file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from energy3d.errors import InputError

__all__ = ["read_image", "open_image", "load_rgb", "WHITE"]

WHITE = 1.0
"""Background of the voxel training renders (white); used to composite RGBA and pad to a square."""


def open_image(path):
    """Open an image file with Pillow, fully loaded: a ``PIL.Image`` in its own mode.

    Raises:
        InputError: missing, empty or unreadable file, an image of 0 pixels, Pillow missing.
    """
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise InputError("reading images needs Pillow: pip install 'energy3d[voxel]'") from None
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: the file is empty")
    try:
        with Image.open(p) as im:
            im.load()
            img = im.copy()
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise InputError(f"{p}: not a readable image ({type(e).__name__})") from None
    if img.width == 0 or img.height == 0:
        raise InputError(f"{p}: the image is empty ({img.width} x {img.height} pixels)")
    return img


def load_rgb(path) -> np.ndarray:
    """An image file as ``(H, W, 3)`` uint8 RGB (grey, palette and RGBA converted; alpha dropped).

    Raises:
        InputError: as :func:`open_image`.
    """
    return np.asarray(open_image(path).convert("RGB"), dtype=np.uint8)


def read_image(path, size: int, warnings: list[str] | None = None, *, background: float = WHITE) -> torch.Tensor:
    """Read an RGB(A) image as a ``(3, size, size)`` float tensor in [0, 1].

    RGBA is composited over ``background`` (white); non-square images are padded with it to a
    square; images of another size are resized (box filter when shrinking, bilinear when
    enlarging). Each adjustment appends a warning to ``warnings`` (the caller shows them).

    Raises:
        InputError: missing, empty or unreadable file; a mode other than RGB/RGBA; a blank image.
    """
    from PIL import Image

    warnings = [] if warnings is None else warnings
    p = Path(path)
    img = open_image(p)
    if img.mode not in ("RGB", "RGBA"):
        raise InputError(f"{p}: expected an RGB image, got mode {img.mode!r}; convert it to RGB first")
    a = np.asarray(img, dtype=np.float32) / 255.0
    if img.mode == "RGBA":
        alpha = a[..., 3:]
        a = a[..., :3] * alpha + background * (1 - alpha)
    h, w = a.shape[:2]
    if h != w:
        s = max(h, w)
        sq = np.full((s, s, 3), background, np.float32)
        sq[(s - h) // 2:(s - h) // 2 + h, (s - w) // 2:(s - w) // 2 + w] = a
        a = sq
        warnings.append(f"{p.name}: image is {w} x {h}, not square; padded with white to {s} x {s}")
    if a.shape[0] != size:
        resample = Image.Resampling.BOX if a.shape[0] > size else Image.Resampling.BILINEAR
        im8 = Image.fromarray(np.round(a * 255).astype(np.uint8)).resize((size, size), resample)
        warnings.append(f"{p.name}: resized from {a.shape[0]} x {a.shape[0]} to the model's {size} x {size} pixels")
        a = np.asarray(im8, dtype=np.float32) / 255.0
    if float(a.max() - a.min()) < 2.0 / 255.0:
        raise InputError(f"{p}: the image is blank (a single colour); nothing to reconstruct")
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))
