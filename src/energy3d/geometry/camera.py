"""Pinhole cameras with OpenCV-style distortion, projection, and camera placement.

Conventions (see DESIGN.md): metres in 3D, pixels in images, camera frame x right, y down,
z forward (OpenCV). A :class:`Camera` maps world points ``X`` to the camera frame by
``X_cam = R @ X + t`` (world -> camera), then to pixels through intrinsics ``K`` and optional
distortion ``dist = (k1, k2, p1, p2, k3)`` (the Brown-Conrady model as documented by OpenCV:
radial ``1 + k1 r^2 + k2 r^4 + k3 r^6`` and tangential ``p1, p2`` terms on normalised coordinates).

Every function accepts torch tensors with any leading batch dimensions that broadcast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from energy3d.errors import InputError

Tensor = torch.Tensor

DEFAULT_FOCAL_FACTOR = 1.2
"""Default focal length in pixels is ``1.2 * max(width, height)`` (about a 45 degree field of view
across the longer side): the middle of the 900-1500 px range used for 1000 px training images."""


def _check_last(name: str, x: Tensor, shape: tuple[int, ...]) -> None:
    if x.dim() < len(shape) or tuple(x.shape[x.dim() - len(shape):]) != shape:
        want = ", ".join(map(str, shape))
        raise InputError(f"{name}: expected shape (..., {want}), got {tuple(x.shape)}")


def intrinsics(fx, fy, cx, cy, *, dtype=torch.float32) -> Tensor:
    """Build intrinsics ``K`` of shape ``(..., 3, 3)`` from broadcastable focal lengths and centres (pixels)."""
    fx, fy, cx, cy = (torch.as_tensor(v, dtype=dtype) for v in (fx, fy, cx, cy))
    fx, fy, cx, cy = torch.broadcast_tensors(fx, fy, cx, cy)
    if bool((fx <= 0).any()) or bool((fy <= 0).any()):
        raise InputError(f"focal length must be positive, got fx={fx.min().item()}, fy={fy.min().item()}")
    z, o = torch.zeros_like(fx), torch.ones_like(fx)
    return torch.stack([fx, z, cx, z, fy, cy, z, z, o], dim=-1).reshape(*fx.shape, 3, 3)


def default_intrinsics(width: float, height: float, focal: float | None = None, *, dtype=torch.float32) -> Tensor:
    """Intrinsics for an image of ``width x height`` pixels when the true ones are unknown.

    The principal point is the image centre; the focal length is ``focal`` if given, else
    ``DEFAULT_FOCAL_FACTOR * max(width, height)``.

    Example:
        >>> default_intrinsics(1000, 1000)[0, 0].item()
        1200.0
    """
    if not (width > 0 and height > 0):
        raise InputError(f"image size must be positive, got {width} x {height}")
    if focal is not None and not focal > 0:
        raise InputError(f"focal length must be positive, got {focal}")
    f = DEFAULT_FOCAL_FACTOR * max(width, height) if focal is None else focal
    return intrinsics(f, f, width / 2.0, height / 2.0, dtype=dtype)


def distort(xn: Tensor, dist: Tensor) -> Tensor:
    """Apply radial-tangential distortion to normalised coordinates.

    Args:
        xn: ``(..., N, 2)`` undistorted normalised coordinates ``(X/Z, Y/Z)``.
        dist: ``(..., 5)`` coefficients ``(k1, k2, p1, p2, k3)``.

    Returns:
        ``(..., N, 2)`` distorted normalised coordinates.
    """
    _check_last("dist", dist, (5,))
    k1, k2, p1, p2, k3 = (dist[..., i, None] for i in range(5))
    x, y = xn[..., 0], xn[..., 1]
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2 * r2 + k3 * r2 * r2 * r2
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return torch.stack([xd, yd], dim=-1)


def undistort(xd: Tensor, dist: Tensor, iters: int = 20) -> Tensor:
    """Invert :func:`distort` by fixed-point iteration (as OpenCV's ``undistortPoints`` does).

    Accurate to well below a pixel for the moderate distortion of real lenses; returns
    ``(..., N, 2)`` undistorted normalised coordinates.
    """
    _check_last("dist", dist, (5,))
    k1, k2, p1, p2, k3 = (dist[..., i, None] for i in range(5))
    x, y = xd[..., 0].clone(), xd[..., 1].clone()
    for _ in range(iters):
        r2 = x * x + y * y
        radial = 1 + k1 * r2 + k2 * r2 * r2 + k3 * r2 * r2 * r2
        dx = 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        dy = p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        x = (xd[..., 0] - dx) / radial
        y = (xd[..., 1] - dy) / radial
    return torch.stack([x, y], dim=-1)


def project(points_cam: Tensor, K: Tensor, dist: Tensor | None = None, eps: float = 1e-9) -> Tensor:
    """Project camera-frame points to pixels.

    Args:
        points_cam: ``(..., N, 3)`` points in the camera frame (metres, z forward).
        K: ``(..., 3, 3)`` intrinsics.
        dist: optional ``(..., 5)`` distortion coefficients.
        eps: lower bound on depth, so points on the camera plane do not divide by zero.

    Returns:
        ``(..., N, 2)`` pixel coordinates.

    Example:
        >>> K = intrinsics(1000., 1000., 500., 500.)
        >>> project(torch.tensor([[0.1, -0.2, 2.0]]), K)
        tensor([[550., 400.]])
    """
    _check_last("points_cam", points_cam, (3,))
    _check_last("K", K, (3, 3))
    z = points_cam[..., 2:3].clamp_min(eps)
    xn = points_cam[..., :2] / z
    return normalized_to_pixels(xn, K, dist)


def normalized_to_pixels(xn: Tensor, K: Tensor, dist: Tensor | None = None) -> Tensor:
    """Map ``(..., N, 2)`` normalised coordinates to pixels (distorting first if ``dist`` is given)."""
    _check_last("K", K, (3, 3))
    if dist is not None:
        xn = distort(xn, dist)
    fx, fy = K[..., 0, 0, None], K[..., 1, 1, None]
    cx, cy = K[..., 0, 2, None], K[..., 1, 2, None]
    s = K[..., 0, 1, None]
    u = fx * xn[..., 0] + s * xn[..., 1] + cx
    v = fy * xn[..., 1] + cy
    return torch.stack([u, v], dim=-1)


def pixels_to_normalized(p: Tensor, K: Tensor, dist: Tensor | None = None) -> Tensor:
    """Map ``(..., N, 2)`` pixels to undistorted normalised coordinates ``(p - c) / f``."""
    _check_last("pixels", p, (2,))
    _check_last("K", K, (3, 3))
    fx, fy = K[..., 0, 0, None], K[..., 1, 1, None]
    cx, cy = K[..., 0, 2, None], K[..., 1, 2, None]
    s = K[..., 0, 1, None]
    y = (p[..., 1] - cy) / fy
    x = (p[..., 0] - cx - s * y) / fx
    xn = torch.stack([x, y], dim=-1)
    if dist is not None:
        xn = undistort(xn, dist)
    return xn


def look_at(eye: Tensor, target: Tensor, up: Tensor) -> tuple[Tensor, Tensor]:
    """Extrinsics of a camera at ``eye`` looking at ``target``.

    Args:
        eye, target: ``(..., 3)`` world positions.
        up: ``(..., 3)`` world up direction (e.g. ``(0, 1, 0)`` for Y-up mocap worlds); the image
            y axis points along ``-up`` projected onto the image plane.

    Returns:
        ``R (..., 3, 3)`` and ``t (..., 3)`` with ``X_cam = R @ X + t``.
    """
    eye, target, up = torch.broadcast_tensors(eye, target, up)
    z = target - eye
    z = z / z.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    x = torch.linalg.cross(z, up)  # image right = forward x up  for y-down images
    xn = x.norm(dim=-1, keepdim=True)
    if bool((xn < 1e-9).any()):
        raise InputError("look_at: viewing direction is parallel to the up vector")
    x = x / xn
    y = torch.linalg.cross(z, x)
    R = torch.stack([x, y, z], dim=-2)
    t = -(R @ eye.unsqueeze(-1)).squeeze(-1)
    return R, t


def orbit_camera(target: Tensor, distance, azimuth_deg, elevation_deg, roll_deg=0.0, *, up_axis: str = "y"):
    """Camera on a sphere around ``target``, looking at it.

    Azimuth is measured about the world up axis from the +Z direction (Y-up) or +Y (Z-up);
    elevation is the angle above the horizontal plane; roll rotates the camera about its
    viewing axis. All angles in degrees and broadcastable.

    Returns:
        ``R (..., 3, 3)``, ``t (..., 3)`` (world -> camera).
    """
    target = torch.as_tensor(target)
    dt = target.dtype if target.is_floating_point() else torch.float32
    target = target.to(dt)
    d, az, el, ro = (torch.as_tensor(v, dtype=dt) for v in (distance, azimuth_deg, elevation_deg, roll_deg))
    d, az, el, ro = torch.broadcast_tensors(d, az, el, ro)
    az, el, ro = az * (math.pi / 180), el * (math.pi / 180), ro * (math.pi / 180)
    c = torch.cos(el)
    if up_axis == "y":
        offset = torch.stack([c * torch.sin(az), torch.sin(el), c * torch.cos(az)], dim=-1)
        up = torch.tensor([0.0, 1.0, 0.0], dtype=dt)
    elif up_axis == "z":
        offset = torch.stack([c * torch.sin(az), c * torch.cos(az), torch.sin(el)], dim=-1)
        up = torch.tensor([0.0, 0.0, 1.0], dtype=dt)
    else:
        raise InputError(f"up_axis must be 'y' or 'z', got {up_axis!r}")
    eye = target + d.unsqueeze(-1) * offset
    R, _ = look_at(eye, target.expand_as(eye), up.expand_as(eye))
    cr, sr = torch.cos(ro), torch.sin(ro)
    z, o = torch.zeros_like(cr), torch.ones_like(cr)
    Rroll = torch.stack([cr, -sr, z, sr, cr, z, z, z, o], dim=-1).reshape(*cr.shape, 3, 3)
    R = Rroll @ R
    t = -(R @ eye.unsqueeze(-1)).squeeze(-1)
    return R, t


@dataclass
class Camera:
    """A pinhole camera with optional distortion.

    Attributes:
        K: ``(..., 3, 3)`` intrinsics (pixels).
        R: ``(..., 3, 3)`` rotation world -> camera.
        t: ``(..., 3)`` translation world -> camera (metres).
        dist: optional ``(..., 5)`` distortion ``(k1, k2, p1, p2, k3)``.
    """

    K: Tensor
    R: Tensor
    t: Tensor
    dist: Tensor | None = None

    def __post_init__(self):
        _check_last("K", self.K, (3, 3))
        _check_last("R", self.R, (3, 3))
        _check_last("t", self.t, (3,))
        if self.dist is not None:
            _check_last("dist", self.dist, (5,))

    def world_to_camera(self, X: Tensor) -> Tensor:
        """``(..., N, 3)`` world points -> camera frame."""
        _check_last("points", X, (3,))
        return X @ self.R.transpose(-1, -2) + self.t.unsqueeze(-2)

    def camera_to_world(self, Xc: Tensor) -> Tensor:
        """``(..., N, 3)`` camera-frame points -> world."""
        _check_last("points", Xc, (3,))
        return (Xc - self.t.unsqueeze(-2)) @ self.R

    def project(self, X: Tensor) -> Tensor:
        """``(..., N, 3)`` world points -> ``(..., N, 2)`` pixels."""
        return project(self.world_to_camera(X), self.K, self.dist)

    def to(self, *args, **kwargs) -> "Camera":
        d = None if self.dist is None else self.dist.to(*args, **kwargs)
        return Camera(self.K.to(*args, **kwargs), self.R.to(*args, **kwargs), self.t.to(*args, **kwargs), d)


def to_normalized(p: Tensor, K: Tensor) -> Tensor:
    """Pixels ``(..., J, 2)`` -> normalised camera coordinates ``(p - c) / f`` with ``K (..., 3, 3)``.

    Skew and lens distortion are ignored (see :func:`pixels_to_normalized` for both); this is the
    lifting models' input convention.
    """
    f = torch.stack([K[..., 0, 0], K[..., 1, 1]], -1)[..., None, :]
    c = torch.stack([K[..., 0, 2], K[..., 1, 2]], -1)[..., None, :]
    return (p - c) / f


def centring_rotation(x: torch.Tensor) -> torch.Tensor:
    """Rotations ``(N, 3, 3)`` taking each person's mean viewing ray to the optical axis.

    The lifting data shows people near the image centre (cameras look at the pelvis), so a person
    at the edge of a real image is out of distribution. Rotating the camera about its centre is a
    pure homography of the image: the 2D input is mapped into the rotated (virtual) camera, lifted
    there, and the 3D result rotated back, which is exact for a pinhole camera.

    Args:
        x: ``(N, J, 2)`` normalised coordinates.

    Returns:
        ``(N, 3, 3)`` rotations ``R`` with ``R @ mean_ray = (0, 0, |mean_ray|)``, on ``x``'s device
        and in its dtype; apply them to the 2D with :func:`rotate_normalized` and undo them on
        camera-frame 3D as ``Y @ R``. Built from ``x`` by element-wise ops and stacking only, so
        a ``torch.jit.trace`` keeps ``N`` free (``N = 0`` included).
    """
    if x.dim() != 3 or x.shape[-1] != 2:
        raise InputError(f"centring_rotation: expected normalised 2D of shape (N, J, 2), got {tuple(x.shape)}")
    c = x.mean(1)
    r = torch.cat([c, torch.ones_like(c[:, :1])], -1)
    r = r / r.norm(dim=-1, keepdim=True)
    ez = x.new_tensor([0.0, 0.0, 1.0]).expand_as(r)
    axis = torch.linalg.cross(r, ez)
    s = axis.norm(dim=-1, keepdim=True)
    cos = (r * ez).sum(-1, keepdim=True)
    k = axis / s.clamp_min(1e-12)
    zero = torch.zeros_like(k[:, 0])
    Kx = torch.stack([zero, -k[:, 2], k[:, 1],
                      k[:, 2], zero, -k[:, 0],
                      -k[:, 1], k[:, 0], zero], -1).unflatten(-1, (3, 3))
    eye = torch.eye(3, dtype=x.dtype, device=x.device).expand_as(Kx)
    return eye + s[..., None] * Kx + (1 - cos)[..., None] * (Kx @ Kx)


def rotate_normalized(x: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
    """Normalised coordinates ``(N, J, 2)`` seen by the camera rotated by ``R (N, 3, 3)``.

    A pure rotation of the camera about its centre maps each ray ``(x, y, 1)`` to ``R (x, y, 1)``;
    the result is that ray divided by its third component.
    """
    h = torch.cat([x, torch.ones_like(x[..., :1])], -1) @ R.transpose(1, 2)
    return h[..., :2] / h[..., 2:]
