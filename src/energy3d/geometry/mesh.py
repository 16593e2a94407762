"""Triangle meshes: the :class:`Mesh` container, measurements, primitives and model normalisation.

A mesh is a plain numpy triangle soup with shared vertices:

* ``vertices`` ``(V, 3)`` float64, metres (or the file's units before normalisation);
* ``faces`` ``(F, 3)`` int64 indices into ``vertices``, counter-clockwise seen from outside
  (right-hand rule gives the outward normal) where the source respects it;
* ``face_colors`` ``(F, 3)`` float64 diffuse (Kd) colour per face in ``[0, 1]``, or ``None``.

Canonical object frame
----------------------
The canonical object frame used by the whole project is **Y up, front facing +Z, centred,
bounding-box diagonal 1** (ShapeNetCore's scale convention; the bounding box centre is at the
origin, so the object lies inside the sphere of radius 0.5 and inside the cube ``[-0.5, 0.5]^3``).
With :func:`energy3d.geometry.camera.orbit_camera` (``up_axis="y"``), azimuth 0 looks at the
object's front.

We chose the unit *diagonal* over a unit longest side because every rotation of the object then
stays inside the radius-0.5 sphere: one fixed camera distance, field of view and frustum depth
range ``[d - 0.5, d + 0.5]`` hold for every model and view, and the world grid over the unit cube
never clips.

Use :func:`normalize_mesh` for any mesh whose up and front axes you know;
:func:`energy3d.data.shapes.normalize_model` applies the objects_cc0 packs' rules.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from energy3d.errors import InputError

__all__ = [
    "Mesh",
    "as_numpy",
    "face_normals",
    "face_areas",
    "surface_area",
    "volume",
    "bounds",
    "transform_mesh",
    "concatenate_meshes",
    "weld_vertices",
    "is_watertight",
    "sample_surface",
    "box_mesh",
    "icosphere",
    "tetrahedron",
    "axis_vector",
    "canonical_rotation",
    "normalize_mesh",
    "linear_to_srgb",
]


def as_numpy(x, dtype=np.float64) -> np.ndarray:
    """Convert a numpy array, torch tensor or nested sequence to a numpy array of ``dtype``."""
    if hasattr(x, "detach"):  # torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


@dataclass
class Mesh:
    """A triangle mesh with optional per-face diffuse colours.

    Attributes:
        vertices: ``(V, 3)`` float64 positions (metres after normalisation).
        faces: ``(F, 3)`` int64 vertex indices; winding counter-clockwise seen from outside.
        face_colors: ``(F, 3)`` float64 RGB in ``[0, 1]``, or ``None`` (renderers use grey).

    Raises:
        InputError: wrong shapes, NaN/inf vertices, indices out of range, colours outside [0, 1].

    Example:
        >>> m = Mesh(np.eye(3), np.array([[0, 1, 2]]))
        >>> m.num_faces
        1
    """

    vertices: np.ndarray
    faces: np.ndarray
    face_colors: np.ndarray | None = None

    def __post_init__(self):
        v = as_numpy(self.vertices, np.float64)
        if v.ndim != 2 or v.shape[1] != 3:
            raise InputError(f"mesh vertices: expected shape (V, 3), got {v.shape}")
        if not np.isfinite(v).all():
            raise InputError(f"mesh vertices: {int((~np.isfinite(v)).any(axis=1).sum())} vertices are NaN or inf")
        f = np.asarray(self.faces.detach().cpu().numpy() if hasattr(self.faces, "detach") else self.faces)
        if f.size == 0:
            f = f.reshape(0, 3)
        if f.ndim != 2 or f.shape[1] != 3:
            raise InputError(f"mesh faces: expected shape (F, 3), got {f.shape}")
        if f.dtype.kind not in "iu":
            if f.dtype.kind == "f" and np.all(f == np.round(f)):
                f = f.astype(np.int64)
            else:
                raise InputError(f"mesh faces: expected integer indices, got dtype {f.dtype}")
        f = f.astype(np.int64, copy=False)
        if f.size and (f.min() < 0 or f.max() >= len(v)):
            raise InputError(f"mesh faces: indices must lie in [0, {len(v) - 1}], got range [{f.min()}, {f.max()}]")
        c = self.face_colors
        if c is not None:
            c = as_numpy(c, np.float64)
            if c.shape != (len(f), 3):
                raise InputError(f"mesh face_colors: expected shape ({len(f)}, 3), got {c.shape}")
            if not np.isfinite(c).all() or c.min() < 0 or c.max() > 1:
                raise InputError("mesh face_colors: values must be finite and in [0, 1]")
        self.vertices, self.faces, self.face_colors = v, f, c

    @property
    def num_vertices(self) -> int:
        return len(self.vertices)

    @property
    def num_faces(self) -> int:
        return len(self.faces)

    def triangles(self) -> np.ndarray:
        """``(F, 3, 3)`` corner positions of every face."""
        return self.vertices[self.faces]

    def copy(self) -> "Mesh":
        cols = None if self.face_colors is None else self.face_colors.copy()
        return Mesh(self.vertices.copy(), self.faces.copy(), cols)

    def __repr__(self) -> str:
        col = "with" if self.face_colors is not None else "without"
        return f"Mesh(V={self.num_vertices}, F={self.num_faces}, {col} face colours)"


# ----------------------------------------------------------------------------- measurements


def face_normals(mesh: Mesh) -> np.ndarray:
    """``(F, 3)`` unit face normals (right-hand rule over the face's corner order); zero for degenerate faces."""
    tri = mesh.triangles()
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    ln = np.linalg.norm(n, axis=1, keepdims=True)
    return np.divide(n, ln, out=np.zeros_like(n), where=ln > 0)


def face_areas(mesh: Mesh) -> np.ndarray:
    """``(F,)`` triangle areas (square units)."""
    tri = mesh.triangles()
    return 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)


def surface_area(mesh: Mesh) -> float:
    """Total surface area (square units)."""
    return float(face_areas(mesh).sum())


def volume(mesh: Mesh) -> float:
    """Signed enclosed volume by the divergence theorem (cubic units).

    Exact for a closed, consistently outward-oriented mesh; meaningless for open meshes.
    """
    tri = mesh.triangles()
    return float(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0)


def bounds(mesh: Mesh) -> np.ndarray:
    """``(2, 3)`` axis-aligned bounding box ``[min, max]`` of the vertices used by faces."""
    used = mesh.vertices[np.unique(mesh.faces)] if mesh.num_faces else mesh.vertices
    if len(used) == 0:
        raise InputError("mesh has no vertices")
    return np.stack([used.min(axis=0), used.max(axis=0)])


def transform_mesh(mesh: Mesh, R=None, t=None, scale: float = 1.0) -> Mesh:
    """Return a copy with vertices ``scale * (R @ v) + t``.

    Args:
        mesh: input mesh.
        R: ``(3, 3)`` rotation (or any linear map); identity when None. A map with negative
            determinant flips the face winding so normals stay outward.
        t: ``(3,)`` translation; zero when None.
        scale: uniform scale factor (> 0).
    """
    v = mesh.vertices
    f = mesh.faces
    if R is not None:
        R = as_numpy(R)
        if R.shape != (3, 3):
            raise InputError(f"R: expected shape (3, 3), got {R.shape}")
        v = v @ R.T
        if np.linalg.det(R) < 0:
            f = f[:, ::-1]
    v = v * float(scale)
    if t is not None:
        t = as_numpy(t)
        if t.shape != (3,):
            raise InputError(f"t: expected shape (3,), got {t.shape}")
        v = v + t
    return Mesh(v, np.ascontiguousarray(f), None if mesh.face_colors is None else mesh.face_colors.copy())


def concatenate_meshes(meshes) -> Mesh:
    """Join meshes into one (face colours kept; grey 0.7 fills meshes without colours if any has them)."""
    meshes = list(meshes)
    if not meshes:
        raise InputError("concatenate_meshes: no meshes given")
    verts, faces, cols, off = [], [], [], 0
    any_col = any(m.face_colors is not None for m in meshes)
    for m in meshes:
        verts.append(m.vertices)
        faces.append(m.faces + off)
        off += m.num_vertices
        if any_col:
            cols.append(m.face_colors if m.face_colors is not None else np.full((m.num_faces, 3), 0.7))
    return Mesh(np.concatenate(verts), np.concatenate(faces), np.concatenate(cols) if any_col else None)


def weld_vertices(mesh: Mesh, tol: float | None = None) -> Mesh:
    """Merge vertices closer than ``tol`` (default: 1e-6 of the bounding-box diagonal) and drop faces
    that become degenerate (two equal corners). Exporters often split vertices per normal/UV; welding
    recovers the connectivity needed by :func:`is_watertight`."""
    if mesh.num_faces == 0:
        return mesh.copy()
    b = bounds(mesh)
    diag = float(np.linalg.norm(b[1] - b[0])) or 1.0
    tol = 1e-6 * diag if tol is None else float(tol)
    key = np.round((mesh.vertices - b[0]) / tol).astype(np.int64)
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    f = inverse[mesh.faces]
    keep = (f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])
    cols = None if mesh.face_colors is None else mesh.face_colors[keep]
    return Mesh(mesh.vertices[first], f[keep], cols)


def is_watertight(mesh: Mesh, weld: bool = True) -> bool:
    """True if every undirected edge is shared by exactly two faces (after welding, if ``weld``)."""
    m = weld_vertices(mesh) if weld else mesh
    if m.num_faces == 0:
        return False
    e = np.sort(m.faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    _, counts = np.unique(e, axis=0, return_counts=True)
    return bool(np.all(counts == 2))


def sample_surface(mesh: Mesh, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``n`` points uniformly by area on the surface.

    Returns:
        ``points (n, 3)`` and ``face_index (n,)`` (the face each point lies on).
    """
    rng = np.random.default_rng(seed)
    a = face_areas(mesh)
    if a.sum() <= 0:
        raise InputError("sample_surface: mesh has zero surface area")
    fi = rng.choice(mesh.num_faces, size=n, p=a / a.sum())
    r1, r2 = rng.random(n), rng.random(n)
    s = np.sqrt(r1)
    w = np.stack([1 - s, s * (1 - r2), s * r2], axis=1)
    tri = mesh.triangles()[fi]
    return np.einsum("ni,nij->nj", w, tri), fi


# ----------------------------------------------------------------------------- primitives


def box_mesh(center=(0.0, 0.0, 0.0), size=(1.0, 1.0, 1.0), color=None) -> Mesh:
    """Closed axis-aligned box of 12 outward-wound triangles.

    Args:
        center: ``(3,)`` box centre.
        size: ``(3,)`` edge lengths (or a scalar for a cube).
        color: optional RGB in [0, 1] for all faces.
    """
    c = as_numpy(center)
    s = np.broadcast_to(as_numpy(size), (3,))
    corners = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
    v = c + corners * s
    # corner index = 4*ix + 2*iy + iz
    f = np.array(
        [
            [0, 1, 3], [0, 3, 2],  # x = -
            [4, 6, 7], [4, 7, 5],  # x = +
            [0, 4, 5], [0, 5, 1],  # y = -
            [2, 3, 7], [2, 7, 6],  # y = +
            [0, 2, 6], [0, 6, 4],  # z = -
            [1, 5, 7], [1, 7, 3],  # z = +
        ]
    )
    cols = None if color is None else np.tile(as_numpy(color), (12, 1))
    return Mesh(v, f, cols)


def icosphere(subdivisions: int = 2, radius: float = 1.0, center=(0.0, 0.0, 0.0)) -> Mesh:
    """Closed sphere approximation: an icosahedron subdivided ``subdivisions`` times, projected to the sphere.

    ``20 * 4**subdivisions`` outward-wound faces. The inscribed polyhedron's volume approaches
    ``4/3 pi r^3`` from below (0.4% short at 3 subdivisions).
    """
    p = (1 + 5**0.5) / 2
    v = np.array(
        [[-1, p, 0], [1, p, 0], [-1, -p, 0], [1, -p, 0], [0, -1, p], [0, 1, p],
         [0, -1, -p], [0, 1, -p], [p, 0, -1], [p, 0, 1], [-p, 0, -1], [-p, 0, 1]], dtype=np.float64
    )
    f = np.array(
        [[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4], [11, 10, 2],
         [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9], [4, 9, 5],
         [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]]
    )
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    for _ in range(int(subdivisions)):
        edges = np.sort(f[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
        uniq, inv = np.unique(edges, axis=0, return_inverse=True)
        inv = inv.reshape(-1, 3) + len(v)
        mid = v[uniq[:, 0]] + v[uniq[:, 1]]
        v = np.concatenate([v, mid / np.linalg.norm(mid, axis=1, keepdims=True)])
        a, b, c = f[:, 0], f[:, 1], f[:, 2]
        ab, bc, ca = inv[:, 0], inv[:, 1], inv[:, 2]
        f = np.concatenate([np.stack(x, 1) for x in ([a, ab, ca], [b, bc, ab], [c, ca, bc], [ab, bc, ca])])
    return Mesh(v * radius + as_numpy(center), f)


def tetrahedron(vertices=None) -> Mesh:
    """Tetrahedron with outward winding (default: corners at the origin and the three unit axes, volume 1/6)."""
    v = np.eye(3, dtype=np.float64)
    v = np.concatenate([np.zeros((1, 3)), v]) if vertices is None else as_numpy(vertices)
    if v.shape != (4, 3):
        raise InputError(f"tetrahedron: expected (4, 3) vertices, got {v.shape}")
    f = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    if np.dot(np.cross(v[1] - v[0], v[2] - v[0]), v[3] - v[0]) < 0:
        f = f[:, ::-1].copy()
    return Mesh(v, f)


# ----------------------------------------------------------------------------- normalisation

_AXES = {"+x": 0, "-x": 0, "+y": 1, "-y": 1, "+z": 2, "-z": 2}


def axis_vector(axis: str) -> np.ndarray:
    """``(3,)`` unit vector of a signed axis name such as ``"+y"`` or ``"-z"``."""
    a = axis.strip().lower()
    if a in ("x", "y", "z"):
        a = "+" + a
    if a not in _AXES:
        raise InputError(f"axis must be one of +x, -x, +y, -y, +z, -z, got {axis!r}")
    v = np.zeros(3)
    v[_AXES[a]] = 1.0 if a[0] == "+" else -1.0
    return v


def canonical_rotation(up: str, front: str) -> np.ndarray:
    """``(3, 3)`` proper rotation taking the source ``up`` axis to +Y and ``front`` axis to +Z.

    Args:
        up, front: signed axis names of the source file (e.g. ``"+z"``, ``"-x"``); must be perpendicular.
    """
    u, f = axis_vector(up), axis_vector(front)
    if abs(float(u @ f)) > 0.5:
        raise InputError(f"up {up!r} and front {front!r} must be perpendicular axes")
    x = np.cross(u, f)  # source right vector -> +X  (Y x Z = X)
    return np.stack([x, u, f])  # rows: images of the target axes, R @ src = canonical


def normalize_mesh(mesh: Mesh, up: str = "+y", front: str = "+z", mode: str = "diagonal") -> Mesh:
    """Rotate to the canonical frame (Y up, front +Z), centre the bounding box and scale it.

    Args:
        mesh: input mesh.
        up: the source's up axis (signed name).
        front: the source's front axis (signed name).
        mode: ``"diagonal"`` (bounding-box diagonal 1; default, ShapeNetCore's convention) or
            ``"longest"`` (longest bounding-box side 1).

    Returns:
        A new mesh with its bounding box centred at the origin.
    """
    if mesh.num_faces == 0:
        raise InputError("normalize_mesh: mesh has no faces")
    R = canonical_rotation(up, front)
    m = transform_mesh(mesh, R)
    b = bounds(m)
    ext = b[1] - b[0]
    if mode == "diagonal":
        size = float(np.linalg.norm(ext))
    elif mode == "longest":
        size = float(ext.max())
    else:
        raise InputError(f"normalize_mesh: mode must be 'diagonal' or 'longest', got {mode!r}")
    if size <= 0:
        raise InputError("normalize_mesh: mesh has zero extent")
    center = 0.5 * (b[0] + b[1])
    return transform_mesh(m, None, -center / size, 1.0 / size)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    """Encode linear-light RGB in [0, 1] with the sRGB transfer function (IEC 61966-2-1)."""
    c = np.clip(np.asarray(c, dtype=np.float64), 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(c, 1 / 2.4) - 0.055)
