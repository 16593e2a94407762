"""Reader for 3D-R2N2 rendering folders (the layout of ``ShapeNetRendering/<synset>/<model>/rendering``).

Layout (as published with 3D-R2N2, Choy et al. 2016):

* ``renderings.txt``: one PNG file name per line (``00.png`` ... ``23.png``), in view order;
* ``rendering_metadata.txt``: one line per view with 5 numbers
  ``azimuth elevation in_plane_rotation distance_ratio field_of_view`` (degrees, degrees, degrees,
  fraction, degrees), e.g. ``290.98 25.82 0 0.78 25``;
* the PNGs: 137 x 137 RGBA renders on a transparent background.

Camera conventions used here (this module's, documented; ShapeNet renders cannot be shipped, so
they are not checked against the original images):

* distance from the object centre ``= distance_ratio * max_distance`` with
  ``max_distance = R2N2_MAX_CAMERA_DIST = 1.75`` (the value of 3D-R2N2's rendering script);
* the camera is :func:`energy3d.geometry.camera.orbit_camera` around the origin with Y up:
  ``azimuth + azimuth_offset`` about +Y measured from +Z, ``elevation`` above the horizontal
  plane, ``in_plane_rotation`` as roll. (R2N2 rendered in Blender's Z-up frame with the azimuth
  measured from +X; if the published voxel grids must line up with these cameras an offset such
  as 90 degrees may be needed, which is why ``azimuth_offset`` exists.)
* ``field_of_view`` is the full angle across the image width (and height: images are square);
  intrinsics ``f = (W / 2) / tan(fov / 2)``, principal point at the image centre ``(W/2, H/2)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from energy3d.errors import InputError
from energy3d.geometry.camera import intrinsics, orbit_camera

__all__ = ["R2N2_MAX_CAMERA_DIST", "R2N2_IMAGE_SIZE", "R2N2View", "read_rendering_metadata",
           "read_renderings_list", "read_r2n2_folder", "r2n2_cameras", "load_r2n2_images"]

R2N2_MAX_CAMERA_DIST = 1.75
"""Maximum camera distance of the 3D-R2N2 renders; ``distance = distance_ratio * 1.75``."""

R2N2_IMAGE_SIZE = 137
"""Side of the published 3D-R2N2 render PNGs (pixels)."""


@dataclass(frozen=True)
class R2N2View:
    """One rendered view: file and camera parameters from ``rendering_metadata.txt``."""

    index: int
    image: Path
    azimuth: float
    elevation: float
    in_plane: float
    distance_ratio: float
    fov_deg: float


def read_rendering_metadata(path) -> np.ndarray:
    """Read ``rendering_metadata.txt``.

    Returns:
        ``(V, 5)`` float64 rows ``(azimuth, elevation, in_plane, distance_ratio, fov_deg)``.

    Raises:
        InputError: missing file, a line without exactly 5 numbers, non-finite values,
            distance ratio <= 0 or field of view outside (0, 180).
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"R2N2 metadata file not found: {p}")
    rows = []
    for lineno, line in enumerate(p.read_text(errors="replace").splitlines(), 1):
        s = line.strip()
        if not s:
            continue
        parts = s.replace(",", " ").replace("[", " ").replace("]", " ").split()
        try:
            vals = [float(x) for x in parts]
        except ValueError:
            raise InputError(f"{p}:{lineno}: expected 5 numbers, got {s[:60]!r}") from None
        if len(vals) != 5:
            raise InputError(
                f"{p}:{lineno}: expected 5 numbers (azimuth elevation in-plane distance fov), got {len(vals)}"
            )
        rows.append(vals)
    if not rows:
        raise InputError(f"{p}: no views listed")
    a = np.asarray(rows, dtype=np.float64)
    if not np.isfinite(a).all():
        raise InputError(f"{p}: non-finite camera parameters")
    if (a[:, 3] <= 0).any():
        raise InputError(f"{p}: distance ratio must be positive")
    if ((a[:, 4] <= 0) | (a[:, 4] >= 180)).any():
        raise InputError(f"{p}: field of view must be in (0, 180) degrees")
    return a


def read_renderings_list(path) -> list[str]:
    """Read ``renderings.txt``: the PNG file names, one per non-empty line."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"R2N2 renderings list not found: {p}")
    names = [ln.strip() for ln in p.read_text(errors="replace").splitlines() if ln.strip()]
    if not names:
        raise InputError(f"{p}: no renderings listed")
    return names


def read_r2n2_folder(folder, check_images: bool = True) -> list[R2N2View]:
    """Read a 3D-R2N2 ``rendering`` folder (metadata + file list).

    Args:
        folder: the folder holding ``renderings.txt`` and ``rendering_metadata.txt`` (or its parent,
            when that holds a ``rendering`` subfolder).
        check_images: raise if a listed PNG is missing.

    Returns:
        One :class:`R2N2View` per listed image, in file order.
    """
    f = Path(folder)
    if not f.is_dir():
        raise InputError(f"R2N2 rendering folder not found: {f}")
    if not (f / "renderings.txt").is_file() and (f / "rendering" / "renderings.txt").is_file():
        f = f / "rendering"
    names = read_renderings_list(f / "renderings.txt")
    meta = read_rendering_metadata(f / "rendering_metadata.txt")
    if len(names) != len(meta):
        raise InputError(
            f"{f}: renderings.txt lists {len(names)} images but rendering_metadata.txt has {len(meta)} views"
        )
    views = []
    for i, (n, m) in enumerate(zip(names, meta)):
        img = f / n
        if check_images and not img.is_file():
            raise InputError(f"{f}: listed image {n} is missing")
        views.append(R2N2View(i, img, *map(float, m)))
    return views


def r2n2_cameras(
    views, image_size: int = R2N2_IMAGE_SIZE, max_distance: float = R2N2_MAX_CAMERA_DIST,
    azimuth_offset: float = 0.0, dtype=torch.float32,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pinhole cameras of R2N2 views (conventions in the module notes).

    Args:
        views: list of :class:`R2N2View` or a ``(V, 5)`` metadata array.
        image_size: image side in pixels (square images).
        max_distance: distance for ``distance_ratio = 1``.
        azimuth_offset: degrees added to every azimuth.
        dtype: torch dtype of the results.

    Returns:
        ``K (V, 3, 3)``, ``R (V, 3, 3)``, ``t (V, 3)`` (world -> camera; world Y up, object at the origin).
    """
    if isinstance(views, (list, tuple)):
        meta = np.array(
            [[v.azimuth, v.elevation, v.in_plane, v.distance_ratio, v.fov_deg] for v in views], dtype=np.float64
        )
    else:
        meta = np.asarray(views, dtype=np.float64)
    if meta.ndim != 2 or meta.shape[1] != 5 or len(meta) == 0:
        raise InputError(f"R2N2 views: expected shape (V, 5), got {meta.shape}")
    if not image_size > 0:
        raise InputError(f"image_size must be positive, got {image_size}")
    m = torch.as_tensor(meta, dtype=torch.float64)
    R, t = orbit_camera(torch.zeros(3, dtype=torch.float64), m[:, 3] * max_distance, m[:, 0] + azimuth_offset,
                        m[:, 1], m[:, 2], up_axis="y")
    f = (image_size / 2.0) / torch.tan(torch.deg2rad(m[:, 4]) / 2)
    K = intrinsics(f, f, image_size / 2.0, image_size / 2.0, dtype=torch.float64)
    return K.to(dtype), R.to(dtype), t.to(dtype)


def load_r2n2_images(views, background=(1.0, 1.0, 1.0)) -> np.ndarray:
    """Load the PNGs of R2N2 views, alpha-composited over ``background`` (needs Pillow).

    Returns:
        ``(V, H, W, 3)`` uint8 images.
    """
    try:
        from PIL import Image
    except ImportError:
        raise InputError("reading PNG images needs Pillow: pip install 'energy3d[voxel]'") from None
    bg = np.asarray(background, dtype=np.float64).reshape(3)
    out = []
    for v in views:
        path = v.image if isinstance(v, R2N2View) else Path(v)
        try:
            with Image.open(path) as im:
                a = np.asarray(im.convert("RGBA"), dtype=np.float64) / 255.0
        except (OSError, ValueError) as e:
            raise InputError(f"cannot read image {path}: {e}") from None
        rgb = a[..., :3] * a[..., 3:] + bg * (1 - a[..., 3:])
        out.append(np.round(rgb * 255).astype(np.uint8))
    if len({o.shape for o in out}) > 1:
        raise InputError("R2N2 images have different sizes")
    return np.stack(out)

