"""A small software z-buffer rasteriser (numpy + numba): no GPU, no display.

Conventions:

* Cameras follow :mod:`energy3d.geometry.camera`: ``X_cam = R @ X + t``, camera frame x right,
  y down, z forward (OpenCV), intrinsics ``K`` in pixels (skew supported, no distortion).
* Pixel ``(row i, column j)`` covers the continuous pixel square ``[j, j+1) x [i, i+1)`` and is
  sampled at its centre ``(u, v) = (j + 0.5, i + 0.5)``; so ``K`` with ``cx = W/2`` puts the
  principal point at the image centre, and scaling an image by ``s`` scales ``fx, fy, cx, cy`` by ``s``.
* A pixel is covered when its centre lies inside or on the edge of a projected triangle.
  Depth is interpolated as ``1/z`` (linear in screen space, hence exact for planar triangles).
* Triangles are clipped against the near plane ``z = near``; nothing beyond ``far`` is drawn.

Shading is flat per face: ``colour * (ambient + (1 - ambient) * max(0, n . l))``, where ``l`` is the
unit direction *towards* the light in the camera frame (a light fixed to the camera, so every view
is lit alike) and ``n`` is the face normal turned to face the camera. Faces are drawn double sided
by default (many real meshes are open or inconsistently wound): a face seen from behind is lit
with its flipped normal. ``cull_backfaces=True`` skips faces whose counter-clockwise side looks
away from the camera (for closed, consistently wound meshes).
"""

from __future__ import annotations

import numba
import numpy as np

from energy3d.errors import InputError
from energy3d.geometry.mesh import Mesh, as_numpy

__all__ = ["DEFAULT_LIGHT_DIR", "DEFAULT_COLOR", "clip_near", "rasterize", "render"]

DEFAULT_LIGHT_DIR = (-0.35, -0.6, -0.72)
"""Default direction towards the light, camera frame: from the upper left, behind the viewer."""

DEFAULT_COLOR = (0.7, 0.7, 0.7)
"""Face colour used for meshes without colours."""


def _camera_arrays(K, R, t):
    K, R, t = as_numpy(K), as_numpy(R), as_numpy(t)
    if K.shape != (3, 3):
        raise InputError(f"K: expected shape (3, 3), got {K.shape}")
    if R.shape != (3, 3):
        raise InputError(f"R: expected shape (3, 3), got {R.shape}")
    if t.shape != (3,):
        raise InputError(f"t: expected shape (3,), got {t.shape}")
    for n, a in (("K", K), ("R", R), ("t", t)):
        if not np.isfinite(a).all():
            raise InputError(f"{n}: contains NaN or inf")
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise InputError(f"K: focal lengths must be positive, got fx={K[0, 0]}, fy={K[1, 1]}")
    return K, R, t


def clip_near(tri: np.ndarray, z_min: float) -> tuple[np.ndarray, np.ndarray]:
    """Clip camera-frame triangles against the plane ``z = z_min`` (keep ``z >= z_min``).

    Args:
        tri: ``(F, 3, 3)`` triangle corners in the camera frame.
        z_min: clipping depth (> 0).

    Returns:
        ``(F', 3, 3)`` triangles (a clipped triangle becomes one or two, winding kept) and
        ``(F',)`` index of the source triangle of each.
    """
    tri = np.asarray(tri, dtype=np.float64)
    behind = tri[..., 2] < z_min
    nb = behind.sum(axis=1)
    outs = [tri[nb == 0]]
    idx = [np.nonzero(nb == 0)[0]]
    for case, flag in ((1, behind), (2, ~behind)):
        sel = np.nonzero(nb == case)[0]
        if len(sel) == 0:
            continue
        k = np.argmax(flag[sel], axis=1)  # the odd vertex goes first; a cyclic rotation keeps winding
        order = (k[:, None] + np.arange(3)) % 3
        tt = np.take_along_axis(tri[sel], order[:, :, None], axis=1)
        A, B, C = tt[:, 0], tt[:, 1], tt[:, 2]
        P = A + ((z_min - A[:, 2]) / (B[:, 2] - A[:, 2]))[:, None] * (B - A)
        Q = A + ((z_min - A[:, 2]) / (C[:, 2] - A[:, 2]))[:, None] * (C - A)
        if case == 1:  # A behind: the quad P B C Q remains
            outs += [np.stack([P, B, C], 1), np.stack([P, C, Q], 1)]
            idx += [sel, sel]
        else:  # only A in front
            outs.append(np.stack([A, P, Q], 1))
            idx.append(sel)
    return np.concatenate(outs).reshape(-1, 3, 3), np.concatenate(idx).astype(np.int64)


@numba.njit(cache=True, nogil=True)
def _raster_kernel(uv, iz, width, height, inv_far, face_id, zbuf):
    """uv (F,3,2) pixel coords, iz (F,3) inverse depths; fills face_id (H,W) and zbuf (H,W) of 1/z."""
    for f in range(uv.shape[0]):
        x0, y0 = uv[f, 0, 0], uv[f, 0, 1]
        x1, y1 = uv[f, 1, 0], uv[f, 1, 1]
        x2, y2 = uv[f, 2, 0], uv[f, 2, 1]
        area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
        if area == 0.0 or not np.isfinite(area):
            continue
        inv_area = 1.0 / area
        xmin = min(x0, min(x1, x2))
        xmax = max(x0, max(x1, x2))
        ymin = min(y0, min(y1, y2))
        ymax = max(y0, max(y1, y2))
        # pixel j is sampled at j + 0.5: need xmin <= j + 0.5 <= xmax
        j0 = max(int(np.ceil(xmin - 0.5)), 0)
        j1 = min(int(np.floor(xmax - 0.5)), width - 1)
        i0 = max(int(np.ceil(ymin - 0.5)), 0)
        i1 = min(int(np.floor(ymax - 0.5)), height - 1)
        if j0 > j1 or i0 > i1:
            continue
        a0, a1, a2 = iz[f, 0], iz[f, 1], iz[f, 2]
        for i in range(i0, i1 + 1):
            py = i + 0.5
            for j in range(j0, j1 + 1):
                px = j + 0.5
                w0 = ((x2 - x1) * (py - y1) - (y2 - y1) * (px - x1)) * inv_area
                w1 = ((x0 - x2) * (py - y2) - (y0 - y2) * (px - x2)) * inv_area
                w2 = 1.0 - w0 - w1
                if w0 < 0.0 or w1 < 0.0 or w2 < -1e-12:
                    continue
                z = w0 * a0 + w1 * a1 + w2 * a2
                if z > zbuf[i, j] and z >= inv_far:
                    zbuf[i, j] = z
                    face_id[i, j] = f


def rasterize(
    tri_cam: np.ndarray, K, width: int, height: int, near: float = 1e-2, far: float = np.inf
) -> tuple[np.ndarray, np.ndarray]:
    """Visibility of camera-frame triangles: which triangle each pixel centre sees, and its depth.

    Args:
        tri_cam: ``(F, 3, 3)`` triangle corners in the camera frame (metres).
        K: ``(3, 3)`` intrinsics (pixels).
        width, height: image size (pixels).
        near, far: depth range drawn (metres, ``0 < near < far``).

    Returns:
        ``face_id (H, W)`` int64 index into ``tri_cam`` (-1 for background) and
        ``depth (H, W)`` float64 camera-frame z (metres; ``inf`` for background).
    """
    width, height = int(width), int(height)
    if width <= 0 or height <= 0:
        raise InputError(f"image size must be positive, got {width} x {height}")
    if not 0 < near < far:
        raise InputError(f"need 0 < near < far, got near={near}, far={far}")
    K = as_numpy(K)
    tri_cam = np.asarray(tri_cam, dtype=np.float64).reshape(-1, 3, 3)
    tri, src = clip_near(tri_cam, near)
    z = tri[..., 2]
    xn = tri[..., 0] / z
    yn = tri[..., 1] / z
    uv = np.stack([K[0, 0] * xn + K[0, 1] * yn + K[0, 2], K[1, 1] * yn + K[1, 2]], axis=-1)
    face_id = np.full((height, width), -1, dtype=np.int64)
    zbuf = np.zeros((height, width), dtype=np.float64)
    _raster_kernel(np.ascontiguousarray(uv), np.ascontiguousarray(1.0 / z), width, height,
                   0.0 if not np.isfinite(far) else 1.0 / far, face_id, zbuf)
    hit = face_id >= 0
    face_id[hit] = src[face_id[hit]]
    depth = np.full((height, width), np.inf)
    depth[hit] = 1.0 / zbuf[hit]
    return face_id, depth


def render(
    mesh: Mesh,
    K,
    R,
    t,
    width: int,
    height: int,
    background=(1.0, 1.0, 1.0),
    light_dir=DEFAULT_LIGHT_DIR,
    ambient: float = 0.4,
    cull_backfaces: bool = False,
    supersample: int = 1,
    near: float = 1e-2,
    far: float = np.inf,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render a mesh with flat Lambert + ambient shading of its diffuse face colours.

    Args:
        mesh: the mesh (world frame). Faces without colours are drawn in ``DEFAULT_COLOR``.
        K: ``(3, 3)`` intrinsics in pixels (numpy or torch).
        R, t: ``(3, 3)``, ``(3,)`` world -> camera extrinsics.
        width, height: image size in pixels.
        background: RGB in [0, 1] for uncovered pixels.
        light_dir: ``(3,)`` direction towards the light in the camera frame (normalised here).
        ambient: ambient fraction in [0, 1].
        cull_backfaces: skip faces whose counter-clockwise side faces away from the camera.
        supersample: render at ``supersample`` times the size and average down (anti-aliasing);
            the mask is then "at least half the sub-samples covered" and depth the nearest sub-sample.
        near, far: depth range drawn (metres).

    Returns:
        ``rgb (H, W, 3)`` float32 in [0, 1], ``mask (H, W)`` bool (covered pixels) and
        ``depth (H, W)`` float32 camera-frame z in metres (``inf`` where not covered).

    Example:
        >>> from energy3d.geometry.mesh import box_mesh
        >>> K = np.array([[100., 0, 32], [0, 100., 32], [0, 0, 1]])
        >>> rgb, mask, depth = render(box_mesh(size=0.5), K, np.eye(3), np.array([0, 0, 3.]), 64, 64)
        >>> rgb.shape, bool(mask[32, 32]), round(float(depth[32, 32]), 3)
        ((64, 64, 3), True, 2.75)
    """
    if not isinstance(mesh, Mesh):
        raise InputError(f"render: expected a Mesh, got {type(mesh).__name__}")
    K, R, t = _camera_arrays(K, R, t)
    s = int(supersample)
    if s < 1:
        raise InputError(f"supersample must be >= 1, got {supersample}")
    bg = np.broadcast_to(as_numpy(background), (3,)).astype(np.float64)
    if not (0.0 <= ambient <= 1.0):
        raise InputError(f"ambient must be in [0, 1], got {ambient}")
    light = as_numpy(light_dir).reshape(3)
    ln = np.linalg.norm(light)
    if not ln > 0:
        raise InputError("light_dir must be a non-zero vector")
    light = light / ln
    H, W = int(height) * s, int(width) * s
    Ks = K.copy()
    Ks[:2] *= s
    tri = mesh.triangles() @ R.T + t  # (F, 3, 3) camera frame
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    facing = np.einsum("ij,ij->i", n, tri.mean(axis=1)) < 0  # ccw side towards the camera
    keep = facing if cull_backfaces else np.ones(len(tri), bool)
    kidx = np.nonzero(keep)[0]
    face_id, depth = rasterize(tri[kidx], Ks, W, H, near=near, far=far)
    nn = np.linalg.norm(n, axis=1, keepdims=True)
    n = np.divide(n, nn, out=np.zeros_like(n), where=nn > 0)
    n = np.where(facing[:, None], n, -n)
    shade = ambient + (1.0 - ambient) * np.clip(n @ light, 0.0, None)
    base = np.broadcast_to(np.asarray(DEFAULT_COLOR), (len(tri), 3)) if mesh.face_colors is None else mesh.face_colors
    col = np.clip(base * shade[:, None], 0.0, 1.0)
    hit = face_id >= 0
    rgb = np.empty((H, W, 3))
    rgb[:] = bg
    rgb[hit] = col[kidx[face_id[hit]]]
    if s > 1:
        h, w = int(height), int(width)
        rgb = rgb.reshape(h, s, w, s, 3).mean(axis=(1, 3))
        cover = hit.reshape(h, s, w, s).mean(axis=(1, 3))
        depth = depth.reshape(h, s, w, s).min(axis=(1, 3))
        hit = cover >= 0.5
        depth = np.where(hit, depth, np.inf)
    return rgb.astype(np.float32), hit, depth.astype(np.float32)
