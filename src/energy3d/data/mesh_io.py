"""Reading and writing triangle meshes: OBJ (+MTL), PLY (ASCII / binary), GLB (through trimesh).

The :class:`Mesh` container lives in :mod:`energy3d.geometry.mesh` (geometry imports nothing else of
the package) and is re-exported here.

Format facts used (from the public format descriptions: Wavefront OBJ/MTL, Stanford PLY):

* OBJ: ``v x y z [w | r g b]`` vertex positions (extra numbers ignored); ``f`` with corners
  ``i``, ``i/t``, ``i//n`` or ``i/t/n``, 1-based, negative = relative to the vertices read so far;
  polygons are triangulated as fans ``(0, k, k+1)``; ``mtllib`` names one or more MTL files
  (relative to the OBJ's folder), ``usemtl`` selects the material of the following faces; MTL
  ``newmtl`` / ``Kd r g b`` give the diffuse colour. Faces without a known material get grey
  ``DEFAULT_COLOR``; a file with no materials at all gives ``face_colors=None``. Lines ``vt``,
  ``vn``, ``g``, ``o``, ``s``, ``l``, ``p`` are ignored.
* PLY: header ``ply``, ``format ascii|binary_little_endian|binary_big_endian 1.0``, ``element``
  and ``property`` lines (scalar or ``list <count type> <item type>``), ``end_header``. We read
  ``vertex`` (``x y z``, optional ``red green blue`` as uchar 0-255 or float 0-1) and ``face``
  (``vertex_indices`` or ``vertex_index``, optional ``red green blue``); other elements and
  properties are skipped. Vertex colours, when faces have none, become face colours by
  averaging the three corners. Polygons are triangulated as fans.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np

from energy3d.errors import InputError
from energy3d.geometry.mesh import Mesh, concatenate_meshes

__all__ = ["Mesh", "DEFAULT_COLOR", "load_mesh", "save_mesh", "read_obj", "write_obj", "read_mtl",
           "read_ply", "write_ply", "write_glb"]

DEFAULT_COLOR = (0.7, 0.7, 0.7)
"""Diffuse colour of faces whose material is missing or unknown."""


def _check_file(path) -> Path:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"mesh file not found: {p}")
    return p


def _finish(vertices, faces, colors, path) -> Mesh:
    if len(faces) == 0:
        raise InputError(f"{path}: the mesh has no faces")
    v = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    if not np.isfinite(v).all():
        raise InputError(f"{path}: {int((~np.isfinite(v)).any(axis=1).sum())} vertices are NaN or inf")
    f = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    if f.min() < 0 or f.max() >= len(v):
        raise InputError(f"{path}: face vertex indices out of range (file has {len(v)} vertices)")
    c = None if colors is None else np.clip(np.asarray(colors, dtype=np.float64).reshape(-1, 3), 0.0, 1.0)
    return Mesh(v, f, c)


# ----------------------------------------------------------------------------- OBJ / MTL


def read_mtl(path) -> dict[str, tuple[float, float, float]]:
    """Diffuse colours ``{material name: (r, g, b)}`` from an MTL file (``newmtl`` + ``Kd``)."""
    p = _check_file(path)
    out: dict[str, tuple[float, float, float]] = {}
    cur = None
    for lineno, line in enumerate(p.read_text(errors="replace").splitlines(), 1):
        s = line.strip()
        if s.startswith("newmtl"):
            cur = s[6:].strip()
            out.setdefault(cur, DEFAULT_COLOR)
        elif s.startswith("Kd ") and cur is not None:
            parts = s.split()[1:4]
            try:
                rgb = tuple(float(x) for x in parts)
            except ValueError:
                raise InputError(f"{p}:{lineno}: bad Kd line {s!r}") from None
            if len(rgb) == 1:
                rgb = rgb * 3
            if len(rgb) != 3:
                raise InputError(f"{p}:{lineno}: bad Kd line {s!r}")
            out[cur] = tuple(min(max(x, 0.0), 1.0) for x in rgb)
    return out


def _mtllib_paths(folder: Path, rest: str) -> list[Path]:
    whole = folder / rest.strip()
    if whole.is_file():
        return [whole]
    return [folder / n for n in rest.split()]


def read_obj(path) -> Mesh:
    """Read a Wavefront OBJ file (and its MTL diffuse colours) into a triangle :class:`Mesh`.

    Args:
        path: the ``.obj`` file.

    Returns:
        Mesh with ``(V, 3)`` vertices in the file's units and frame, ``(F, 3)`` faces (polygons
        fan-triangulated) and ``(F, 3)`` Kd colours (or None when the file uses no materials).

    Raises:
        InputError: missing file, no faces, unparsable numbers, NaN vertices, bad indices.
    """
    p = _check_file(path)
    verts: list[list[float]] = []
    faces: list[tuple[int, int, int]] = []
    face_mat: list[int] = []
    mat_names: list[str] = []
    mat_index: dict[str, int] = {}
    materials: dict[str, tuple[float, float, float]] = {}
    cur = -1
    used_mtl = False
    with open(p, "r", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line or line[0] == "#":
                continue
            if line.startswith("v "):
                parts = line.split()
                try:
                    verts.append([float(parts[1]), float(parts[2]), float(parts[3])])
                except (ValueError, IndexError):
                    raise InputError(f"{p}:{lineno}: bad vertex line {line.strip()!r}") from None
            elif line.startswith("f "):
                toks = line.split()[1:]
                if len(toks) < 3:
                    raise InputError(f"{p}:{lineno}: face with fewer than 3 corners")
                nv = len(verts)
                idx = []
                for tok in toks:
                    s = tok.split("/", 1)[0]
                    try:
                        i = int(s)
                    except ValueError:
                        raise InputError(f"{p}:{lineno}: bad face index {tok!r}") from None
                    if i > 0:
                        i -= 1
                    elif i < 0:
                        i += nv
                    else:
                        raise InputError(f"{p}:{lineno}: face index 0 is invalid (OBJ indices start at 1)")
                    if i < 0 or i >= nv:
                        raise InputError(
                            f"{p}:{lineno}: face index {tok!r} refers to a missing vertex ({nv} read so far)"
                        )
                    idx.append(i)
                for k in range(1, len(idx) - 1):
                    faces.append((idx[0], idx[k], idx[k + 1]))
                    face_mat.append(cur)
            elif line.startswith("usemtl"):
                name = line[6:].strip()
                used_mtl = True
                if name not in mat_index:
                    mat_index[name] = len(mat_names)
                    mat_names.append(name)
                cur = mat_index[name]
            elif line.startswith("mtllib"):
                for mp in _mtllib_paths(p.parent, line[6:]):
                    if mp.is_file():
                        materials.update(read_mtl(mp))
                    else:
                        warnings.warn(f"{p}: material library {mp.name} not found; using grey", stacklevel=2)
    colors = None
    if used_mtl:
        table = np.array([materials.get(n, DEFAULT_COLOR) for n in mat_names] + [DEFAULT_COLOR], dtype=np.float64)
        colors = table[np.asarray(face_mat, dtype=np.int64)]  # -1 -> DEFAULT_COLOR row
    return _finish(verts, faces, colors, p)


def _fmt(x: float) -> str:
    return repr(float(x))


def write_obj(mesh: Mesh, path, mtl: bool = True) -> None:
    """Write an OBJ file; with face colours and ``mtl``, also ``<stem>.mtl`` with one material per colour.

    Vertices are written with full float precision (``repr``), so reading back is exact.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# written by energy3d"]
    has_col = mesh.face_colors is not None and mtl
    if has_col:
        uniq, inv = np.unique(mesh.face_colors, axis=0, return_inverse=True)
        inv = inv.reshape(-1)
        mtl_path = p.with_suffix(".mtl")
        mlines = ["# written by energy3d"]
        for k, c in enumerate(uniq):
            mlines += [f"newmtl color_{k}", f"Kd {_fmt(c[0])} {_fmt(c[1])} {_fmt(c[2])}", ""]
        mtl_path.write_text("\n".join(mlines) + "\n")
        lines.append(f"mtllib {mtl_path.name}")
    lines += [f"v {_fmt(a)} {_fmt(b)} {_fmt(c)}" for a, b, c in mesh.vertices]
    if has_col:
        order = np.argsort(inv, kind="stable")
        cur = -1
        for fi in order:
            if inv[fi] != cur:
                cur = inv[fi]
                lines.append(f"usemtl color_{cur}")
            a, b, c = mesh.faces[fi] + 1
            lines.append(f"f {a} {b} {c}")
    else:
        lines += [f"f {a} {b} {c}" for a, b, c in mesh.faces + 1]
    p.write_text("\n".join(lines) + "\n")


# ----------------------------------------------------------------------------- PLY

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}


def _parse_ply_header(fh, p):
    first = fh.readline()
    if first.strip() != b"ply":
        raise InputError(f"{p}: not a PLY file (first line must be 'ply')")
    fmt = None
    elements = []  # [name, count, [(prop, type, list_count_type or None)]]
    while True:
        line = fh.readline()
        if not line:
            raise InputError(f"{p}: PLY header has no end_header")
        parts = line.decode("ascii", errors="replace").split()
        if not parts or parts[0] in ("comment", "obj_info"):
            continue
        if parts[0] == "format":
            if len(parts) < 2 or parts[1] not in ("ascii", "binary_little_endian", "binary_big_endian"):
                raise InputError(f"{p}: unsupported PLY format line {line.strip()!r}")
            fmt = parts[1]
        elif parts[0] == "element":
            try:
                elements.append([parts[1], int(parts[2]), []])
            except (IndexError, ValueError):
                raise InputError(f"{p}: bad PLY element line {line.strip()!r}") from None
        elif parts[0] == "property":
            if not elements:
                raise InputError(f"{p}: PLY property before any element")
            try:
                if parts[1] == "list":
                    elements[-1][2].append((parts[4], _PLY_TYPES[parts[3]], _PLY_TYPES[parts[2]]))
                else:
                    elements[-1][2].append((parts[2], _PLY_TYPES[parts[1]], None))
            except (IndexError, KeyError):
                raise InputError(f"{p}: bad PLY property line {line.strip()!r}") from None
        elif parts[0] == "end_header":
            break
        else:
            raise InputError(f"{p}: unknown PLY header line {line.strip()!r}")
    if fmt is None:
        raise InputError(f"{p}: PLY header has no format line")
    return fmt, elements


def _read_ply_binary_element(buf, pos, count, props, endian, p):
    """Return ({prop: array or list-of-arrays}, new_pos) for one element in a binary PLY."""
    has_list = any(lt is not None for _, _, lt in props)
    if not has_list:
        dt = np.dtype([(n, endian + t) for n, t, _ in props])
        need = dt.itemsize * count
        if pos + need > len(buf):
            raise InputError(f"{p}: PLY file is truncated")
        arr = np.frombuffer(buf, dtype=dt, count=count, offset=pos)
        return {n: arr[n] for n, _, _ in props}, pos + need
    # Fast path: every list has 3 items (triangles). Verify, else parse row by row.
    fields = []
    for n, t, lt in props:
        if lt is None:
            fields.append((n, endian + t))
        else:
            fields += [(n + "__count", endian + lt), (n, endian + t, (3,))]
    dt = np.dtype(fields)
    if pos + dt.itemsize * count <= len(buf) and count > 0:
        arr = np.frombuffer(buf, dtype=dt, count=count, offset=pos)
        if all(np.all(arr[n + "__count"] == 3) for n, _, lt in props if lt is not None):
            return {n: arr[n] for n, _, _ in props}, pos + dt.itemsize * count
    out = {n: [] for n, _, _ in props}
    for _ in range(count):
        for n, t, lt in props:
            if lt is None:
                d = np.dtype(endian + t)
                if pos + d.itemsize > len(buf):
                    raise InputError(f"{p}: PLY file is truncated")
                out[n].append(np.frombuffer(buf, d, 1, pos)[0])
                pos += d.itemsize
            else:
                dl, d = np.dtype(endian + lt), np.dtype(endian + t)
                if pos + dl.itemsize > len(buf):
                    raise InputError(f"{p}: PLY file is truncated")
                k = int(np.frombuffer(buf, dl, 1, pos)[0])
                pos += dl.itemsize
                if pos + k * d.itemsize > len(buf):
                    raise InputError(f"{p}: PLY file is truncated")
                out[n].append(np.frombuffer(buf, d, k, pos))
                pos += k * d.itemsize
    return {n: (v if lt is not None else np.asarray(v)) for (n, _, lt), v in zip(props, out.values())}, pos


def _read_ply_ascii_element(lines, li, count, props, p):
    out = {n: [] for n, _, _ in props}
    for _ in range(count):
        if li >= len(lines):
            raise InputError(f"{p}: PLY file is truncated")
        toks = lines[li].split()
        li += 1
        k = 0
        try:
            for n, t, lt in props:
                if lt is None:
                    out[n].append(float(toks[k]))
                    k += 1
                else:
                    c = int(toks[k])
                    out[n].append(np.array([float(x) for x in toks[k + 1:k + 1 + c]]))
                    if len(out[n][-1]) != c:
                        raise IndexError
                    k += 1 + c
        except (ValueError, IndexError):
            raise InputError(f"{p}: bad PLY data line {li}: {lines[li - 1][:60]!r}") from None
    return {n: (v if lt is not None else np.asarray(v)) for (n, _, lt), v in zip(props, out.values())}, li


def _colors01(cols: list[np.ndarray], dtype_name: str) -> np.ndarray:
    c = np.stack([np.asarray(x, dtype=np.float64) for x in cols], axis=1)
    return c / 255.0 if dtype_name in ("u1", "uchar") or c.max(initial=0) > 1.0 else c


def read_ply(path) -> Mesh:
    """Read a PLY mesh (ASCII, binary little- or big-endian).

    Returns:
        Mesh with ``(V, 3)`` vertices, ``(F, 3)`` faces (polygons fan-triangulated) and face colours
        (from face ``red green blue``, else the average of vertex colours, else None).

    Raises:
        InputError: missing or truncated file, malformed header, no faces, NaN vertices, bad indices.
    """
    p = _check_file(path)
    raw = p.read_bytes()
    fh = io.BytesIO(raw)
    fmt, elements = _parse_ply_header(fh, p)
    pos = fh.tell()
    data = {}
    if fmt == "ascii":
        lines = [ln for ln in raw[pos:].decode("ascii", errors="replace").splitlines() if ln.strip()]
        li = 0
        for name, count, props in elements:
            data[name], li = _read_ply_ascii_element(lines, li, count, props, p)
    else:
        endian = "<" if fmt == "binary_little_endian" else ">"
        for name, count, props in elements:
            data[name], pos = _read_ply_binary_element(raw, pos, count, props, endian, p)
    ptypes = {name: {n: t for n, t, _ in props} for name, _, props in elements}
    if "vertex" not in data or not all(k in data["vertex"] for k in "xyz"):
        raise InputError(f"{p}: PLY has no vertex element with x, y, z")
    vd = data["vertex"]
    verts = np.stack([np.asarray(vd[k], dtype=np.float64) for k in "xyz"], axis=1)
    fd = data.get("face", {})
    key = "vertex_indices" if "vertex_indices" in fd else ("vertex_index" if "vertex_index" in fd else None)
    if key is None or len(fd[key]) == 0:
        raise InputError(f"{p}: the mesh has no faces")
    lists = fd[key]
    if isinstance(lists, np.ndarray) and lists.ndim == 2:
        tris = lists.astype(np.int64)
        owner = np.arange(len(tris))
    else:
        tris_l, owner_l = [], []
        for fi, poly in enumerate(lists):
            poly = np.asarray(poly, dtype=np.int64)
            if len(poly) < 3:
                raise InputError(f"{p}: face {fi} has fewer than 3 corners")
            for k in range(1, len(poly) - 1):
                tris_l.append((poly[0], poly[k], poly[k + 1]))
                owner_l.append(fi)
        tris, owner = np.asarray(tris_l, dtype=np.int64), np.asarray(owner_l)
    colors = None
    if all(c in fd for c in ("red", "green", "blue")):
        colors = _colors01([fd["red"], fd["green"], fd["blue"]], ptypes["face"]["red"])[owner]
    elif all(c in vd for c in ("red", "green", "blue")):
        vc = _colors01([vd["red"], vd["green"], vd["blue"]], ptypes["vertex"]["red"])
        if tris.size and tris.min() >= 0 and tris.max() < len(verts):
            colors = vc[tris].mean(axis=1)
    return _finish(verts, tris, colors, p)


def write_ply(mesh: Mesh, path, binary: bool = True) -> None:
    """Write a PLY file: float32 ``x y z`` vertices and ``uchar``-counted ``int`` triangle faces,
    plus face ``red green blue`` (uchar, colour x 255 rounded) when the mesh has face colours.

    Args:
        mesh: the mesh.
        path: output path.
        binary: binary little-endian (default) or ASCII. Vertices are stored as float32.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    nv, nf = mesh.num_vertices, mesh.num_faces
    has_col = mesh.face_colors is not None
    head = ["ply", f"format {'binary_little_endian' if binary else 'ascii'} 1.0", "comment written by energy3d",
            f"element vertex {nv}", "property float x", "property float y", "property float z",
            f"element face {nf}", "property list uchar int vertex_indices"]
    if has_col:
        head += ["property uchar red", "property uchar green", "property uchar blue"]
    head.append("end_header")
    header = ("\n".join(head) + "\n").encode("ascii")
    col8 = np.round(mesh.face_colors * 255).astype(np.uint8) if has_col else None
    if binary:
        v = mesh.vertices.astype("<f4")
        fields = [("n", "u1"), ("i", "<i4", (3,))] + ([("r", "u1"), ("g", "u1"), ("b", "u1")] if has_col else [])
        f = np.zeros(nf, dtype=np.dtype(fields))
        f["n"] = 3
        f["i"] = mesh.faces
        if has_col:
            f["r"], f["g"], f["b"] = col8[:, 0], col8[:, 1], col8[:, 2]
        p.write_bytes(header + v.tobytes() + f.tobytes())
    else:
        v = mesh.vertices.astype(np.float32)
        lines = [f"{a!r} {b!r} {c!r}" for a, b, c in v.tolist()]
        if has_col:
            rows = zip(mesh.faces.tolist(), col8.tolist())
            lines += [f"3 {a} {b} {c} {r} {g} {bb}" for (a, b, c), (r, g, bb) in rows]
        else:
            lines += [f"3 {a} {b} {c}" for a, b, c in mesh.faces.tolist()]
        p.write_bytes(header + ("\n".join(lines) + "\n").encode("ascii"))


# ----------------------------------------------------------------------------- GLB / dispatch


def _trimesh():
    try:
        import trimesh  # noqa: PLC0415
    except ImportError:
        raise InputError("this mesh format needs trimesh: pip install 'energy3d[voxel]'") from None
    return trimesh


def write_glb(mesh: Mesh, path) -> None:
    """Write a binary glTF (``.glb``) through trimesh (needs the ``energy3d[voxel]`` extra).

    Face colours are kept exactly by giving every face its own three vertices with that colour
    (glTF stores colours per vertex).
    """
    trimesh = _trimesh()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if mesh.face_colors is not None:
        v = mesh.vertices[mesh.faces].reshape(-1, 3)
        f = np.arange(len(v)).reshape(-1, 3)
        col = np.repeat(np.round(mesh.face_colors * 255).astype(np.uint8), 3, axis=0)
        col = np.concatenate([col, np.full((len(col), 1), 255, np.uint8)], axis=1)
        tm = trimesh.Trimesh(v, f, vertex_colors=col, process=False)
    else:
        tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    tm.export(str(p), file_type="glb")


def _load_with_trimesh(p: Path) -> Mesh:
    trimesh = _trimesh()
    try:
        obj = trimesh.load(str(p), process=False)
    except Exception as e:  # trimesh raises many kinds
        raise InputError(f"{p}: could not read mesh ({type(e).__name__}: {e})") from None
    geoms = list(obj.dump()) if hasattr(obj, "dump") and not hasattr(obj, "faces") else [obj]
    parts = []
    for g in geoms:
        if not hasattr(g, "faces") or len(g.faces) == 0:
            continue
        cols = None
        vis = getattr(g, "visual", None)
        if vis is not None and getattr(vis, "kind", None) in ("face", "vertex"):
            fc = np.asarray(vis.face_colors, dtype=np.float64)[:, :3] / 255.0
            cols = fc
        parts.append(Mesh(np.asarray(g.vertices, np.float64), np.asarray(g.faces, np.int64), cols))
    if not parts:
        raise InputError(f"{p}: the mesh has no faces")
    return concatenate_meshes(parts)


def load_mesh(path) -> Mesh:
    """Read a mesh by extension: ``.obj`` and ``.ply`` with our readers, others (``.glb``, ``.gltf``,
    ``.stl``, ``.off``) through trimesh (``energy3d[voxel]`` extra)."""
    p = _check_file(path)
    ext = p.suffix.lower()
    if ext == ".obj":
        return read_obj(p)
    if ext == ".ply":
        return read_ply(p)
    return _load_with_trimesh(p)


def save_mesh(mesh: Mesh, path) -> None:
    """Write a mesh by extension: ``.obj`` (+ ``.mtl``), ``.ply`` (binary), ``.glb`` (trimesh)."""
    ext = Path(path).suffix.lower()
    if ext == ".obj":
        write_obj(mesh, path)
    elif ext == ".ply":
        write_ply(mesh, path)
    elif ext == ".glb":
        write_glb(mesh, path)
    else:
        raise InputError(f"cannot write mesh format {ext!r}; use .obj, .ply or .glb")
