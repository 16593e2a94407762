"""Reader and writer for ``.binvox`` voxel files.

Format facts (from the public binvox format description by Patrick Min):

* An ASCII header: ``#binvox 1`` (version; ``2`` allows set voxels with values 1-255),
  ``dim D W H`` (the three sizes, which should be equal), optionally ``translate tx ty tz`` and
  ``scale s``, and a final line ``data``.
* Binary run-length encoded data: pairs of bytes ``(value, count)``, ``count`` in 1..255,
  repeated until ``dim^3`` voxels are described.
* **Voxel order: y runs fastest, then z, then x**: the voxel at ``(x, y, z)`` is number
  ``x * W*H + z * W + y`` in the stream, i.e. the stream is a C-order array indexed ``[x, z, y]``.
* Voxel ``(i, j, k)`` has normalised centre ``((i, j, k) + 0.5) / dim`` and world centre
  ``scale * normalised + translate``: the grid covers the cube ``[translate, translate + scale]``.

This module converts to and from the project's world-grid layout ``grid[ix, iy, iz]``
(:mod:`energy3d.geometry.voxel`): a grid over ``[lo, hi]^3`` is written with
``translate = (lo, lo, lo)`` and ``scale = hi - lo``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from energy3d.errors import InputError

__all__ = ["Binvox", "read_binvox", "write_binvox", "rle_encode", "rle_decode"]


@dataclass
class Binvox:
    """A binvox grid in the project's layout.

    Attributes:
        grid: ``(N, N, N)`` bool occupancy indexed ``[ix, iy, iz]``.
        translate: ``(3,)`` world position of the grid's minimum corner.
        scale: edge length of the whole grid cube (world units).
    """

    grid: np.ndarray
    translate: np.ndarray
    scale: float

    @property
    def bounds(self) -> np.ndarray:
        """``(2, 3)`` world extent ``[min corner, max corner]``."""
        return np.stack([self.translate, self.translate + self.scale])

    def centers(self) -> np.ndarray:
        """``(N, N, N, 3)`` world coordinates of voxel centres."""
        n = self.grid.shape[0]
        c = (np.arange(n) + 0.5) / n * self.scale
        g = np.stack(np.meshgrid(c, c, c, indexing="ij"), axis=-1)
        return g + self.translate


def rle_encode(flat: np.ndarray) -> bytes:
    """Run-length encode a 1D uint8 array as binvox ``(value, count)`` byte pairs (count <= 255)."""
    a = np.asarray(flat, dtype=np.uint8).ravel()
    if a.size == 0:
        return b""
    starts = np.concatenate([[0], np.nonzero(np.diff(a))[0] + 1])
    lengths = np.diff(np.concatenate([starts, [a.size]]))
    values = a[starts]
    full, rem = np.divmod(lengths, 255)
    reps = full + (rem > 0)  # byte pairs per run
    vals = np.repeat(values, reps)
    counts = np.full(vals.size, 255, dtype=np.int64)
    last = np.cumsum(reps) - 1
    counts[last[rem > 0]] = rem[rem > 0]
    return np.stack([vals, counts.astype(np.uint8)], axis=1).tobytes()


def rle_decode(data: bytes, n: int, where: str = "binvox data") -> np.ndarray:
    """Decode binvox ``(value, count)`` pairs into exactly ``n`` uint8 values.

    Raises:
        InputError: odd byte count, zero counts, or a total other than ``n``.
    """
    b = np.frombuffer(data, dtype=np.uint8)
    if b.size % 2:
        raise InputError(f"{where}: run-length data has an odd number of bytes ({b.size})")
    values, counts = b[0::2], b[1::2].astype(np.int64)
    if (counts == 0).any():
        raise InputError(f"{where}: run-length data has a zero-length run")
    total = int(counts.sum())
    if total != n:
        kind = "truncated" if total < n else "too long"
        raise InputError(f"{where}: data is {kind}: runs describe {total} voxels, header says {n}")
    return np.repeat(values, counts)


def read_binvox(path) -> Binvox:
    """Read a ``.binvox`` file.

    Returns:
        :class:`Binvox` with the grid in ``[ix, iy, iz]`` layout (set voxels of version-2 files,
        any value > 0, become True), ``translate`` (zeros if absent) and ``scale`` (1 if absent).

    Raises:
        InputError: missing file, bad header, non-cubic grid, or corrupt run-length data.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"binvox file not found: {p}")
    raw = p.read_bytes()
    pos = 0

    def line():
        nonlocal pos
        end = raw.find(b"\n", pos)
        if end < 0:
            raise InputError(f"{p}: binvox header ends before the 'data' line")
        s = raw[pos:end].decode("ascii", errors="replace").strip()
        pos = end + 1
        return s

    first = line()
    if not first.startswith("#binvox"):
        raise InputError(f"{p}: not a binvox file (first line must be '#binvox 1', got {first[:40]!r})")
    dims = None
    translate = np.zeros(3)
    scale = 1.0
    while True:
        s = line()
        if not s:
            continue
        parts = s.split()
        try:
            if parts[0] == "dim":
                dims = tuple(int(x) for x in parts[1:4])
                if len(dims) != 3:
                    raise ValueError
            elif parts[0] == "translate":
                translate = np.array([float(x) for x in parts[1:4]])
                if translate.shape != (3,):
                    raise ValueError
            elif parts[0] == "scale":
                scale = float(parts[1])
            elif parts[0] == "data":
                break
            else:
                parts = None
        except (ValueError, IndexError):
            raise InputError(f"{p}: bad binvox header line {s[:60]!r}") from None
        if parts is None:
            raise InputError(f"{p}: unknown binvox header line {s[:60]!r}")
    if dims is None:
        raise InputError(f"{p}: binvox header has no 'dim' line")
    if len(set(dims)) != 1 or dims[0] <= 0:
        raise InputError(f"{p}: binvox grid must be cubic and non-empty, got dim {dims}")
    n = dims[0]
    flat = rle_decode(raw[pos:], n**3, where=str(p))
    grid = flat.reshape(n, n, n).transpose(0, 2, 1) > 0  # file order [x, z, y] -> [x, y, z]
    return Binvox(np.ascontiguousarray(grid), translate, scale)


def write_binvox(path, grid, translate=(-0.5, -0.5, -0.5), scale: float = 1.0) -> None:
    """Write a cubic occupancy grid as a version-1 ``.binvox`` file.

    Args:
        path: output file.
        grid: ``(N, N, N)`` bool (or 0/1) occupancy indexed ``[ix, iy, iz]``.
        translate: world position of the grid's minimum corner (default: the unit cube around the origin).
        scale: world edge length of the whole grid.
    """
    g = np.asarray(grid.detach().cpu().numpy() if hasattr(grid, "detach") else grid)
    if g.ndim != 3 or len(set(g.shape)) != 1 or g.shape[0] == 0:
        raise InputError(f"binvox grid: expected a cubic (N, N, N) array, got shape {g.shape}")
    t = np.asarray(translate, dtype=np.float64).reshape(-1)
    if t.shape != (3,) or not np.isfinite(t).all() or not (np.isfinite(scale) and scale > 0):
        raise InputError(f"binvox: need a finite translate (3,) and scale > 0, got {translate}, {scale}")
    n = g.shape[0]
    tx, ty, tz = (float(x) for x in t)
    header = f"#binvox 1\ndim {n} {n} {n}\ntranslate {tx!r} {ty!r} {tz!r}\nscale {float(scale)!r}\ndata\n"
    header = header.encode("ascii")
    flat = (g > 0).transpose(0, 2, 1).astype(np.uint8).ravel()  # [x, y, z] -> file order [x, z, y]
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(header + rle_encode(flat))
