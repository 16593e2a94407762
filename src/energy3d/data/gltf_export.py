"""Writing 3D joint motion as a binary glTF 2.0 file (``.glb``): an animated skeleton any glTF viewer plays.

:func:`write_glb` takes the skeleton and the per-frame joint rotations that
:func:`energy3d.data.bvh_export.joints_to_bvh` computes (same hierarchy, helper joints, T-pose rest,
median bone lengths and twist rule; see :mod:`energy3d.data.bvh_export`), so a ``.glb`` and a
``.bvh`` of the same motion have the same forward kinematics. What the file holds (glTF 2.0,
Khronos; the facts used here are the specification's):

* **Units and axes.** Metres, +Y up, the figure facing +Z: glTF's own conventions, so no conversion
  on import (Blender's glTF importer, three.js, model-viewer, Windows 3D Viewer).
* **Nodes.** One node per BVH joint (same names), ``translation`` = the joint's rest offset from its
  parent, plus one ``<Joint>_end`` node per leaf (the BVH End Site) so the last bones have a length.
  The root node's ``translation`` is animated (its world position per frame), every joint node's
  ``rotation`` is animated (unit quaternions ``x, y, z, w``, the sign of each chosen nearest the
  previous frame's so linear interpolation takes the short way).
* **Skin and mesh.** A skin over all nodes (inverse bind matrices of the T-pose) and a small mesh:
  one thin box per bone, rigidly bound to the joint that drives it. Viewers that show only meshes
  see a stick figure move; Blender's importer makes an armature from the skin.
* **Animation.** One animation (``"motion"``), one keyframe per input frame at ``t / fps`` seconds,
  ``LINEAR`` interpolation.

The binary layout (12-byte header ``glTF``, version 2, length; a JSON chunk padded with spaces; a
BIN chunk padded with zeros; every chunk and buffer view 4-byte aligned) is written here with numpy
and :mod:`struct`; no glTF library is needed to write (the tests read files back with ``pygltflib``).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from energy3d.data.bvh_export import BVHExport, joints_to_bvh, write_atomic, write_bvh
from energy3d.errors import InputError
from energy3d.skeleton import Skeleton

__all__ = ["BONE_HALF_WIDTH_M", "MOTION_SUFFIXES", "glb_bytes", "write_glb", "write_motion", "read_glb"]

BONE_HALF_WIDTH_M = 0.015
"""Half the width of each bone's box in the mesh (metres)."""

_FLOAT, _USHORT, _UINT = 5126, 5123, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963


def _quats(mats: np.ndarray) -> np.ndarray:
    """``(T, B, 3, 3)`` rotations -> ``(T, B, 4)`` quaternions ``x y z w``, sign-continuous in time."""
    T, B = mats.shape[:2]
    q = Rotation.from_matrix(mats.reshape(-1, 3, 3)).as_quat().reshape(T, B, 4)
    for t in range(1, T):
        flip = (q[t] * q[t - 1]).sum(-1) < 0
        q[t, flip] *= -1
    return q


def _box(a: np.ndarray, b: np.ndarray, half: float) -> tuple[np.ndarray, np.ndarray]:
    """Vertices ``(8, 3)`` and triangles ``(12, 3)`` of a square box from ``a`` to ``b``."""
    d = b - a
    n = np.linalg.norm(d)
    d = d / n if n > 1e-9 else np.array([0.0, 1.0, 0.0])
    helper = np.array([1.0, 0.0, 0.0]) if abs(d[0]) < 0.9 else np.array([0.0, 0.0, 1.0])
    u = np.cross(d, helper)
    u /= np.linalg.norm(u)
    v = np.cross(d, u)
    corners = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
    verts = [p + half * (i * u + j * v) for p in (a, b) for i, j in corners]
    quads = [(0, 1, 2, 3), (7, 6, 5, 4), (0, 4, 5, 1), (1, 5, 6, 2), (2, 6, 7, 3), (3, 7, 4, 0)]
    tris = [t for q in quads for t in ((q[0], q[1], q[2]), (q[0], q[2], q[3]))]
    return np.asarray(verts), np.asarray(tris)


class _Bin:
    """The BIN chunk under construction: 4-byte aligned buffer views and their accessors."""

    def __init__(self):
        self.data = bytearray()
        self.views, self.accessors = [], []

    def add(self, arr: np.ndarray, ctype: int, atype: str, target: int | None = None, minmax: bool = False) -> int:
        arr = np.ascontiguousarray(arr)
        while len(self.data) % 4:
            self.data.append(0)
        view = {"buffer": 0, "byteOffset": len(self.data), "byteLength": arr.nbytes}
        if target is not None:
            view["target"] = target
        self.data += arr.tobytes()
        self.views.append(view)
        acc = {"bufferView": len(self.views) - 1, "componentType": ctype, "count": int(arr.shape[0]), "type": atype}
        if minmax:
            flat = arr.reshape(arr.shape[0], -1)
            acc["min"] = [float(x) for x in flat.min(0)]
            acc["max"] = [float(x) for x in flat.max(0)]
        self.accessors.append(acc)
        return len(self.accessors) - 1


def glb_bytes(export: BVHExport) -> bytes:
    """The ``.glb`` file of an export made by :func:`~energy3d.data.bvh_export.joints_to_bvh` with ``units="m"``."""
    if export.units != "m" or export.local_rotations is None:
        raise InputError("glb_bytes needs joints_to_bvh(..., units='m') output (with its local rotations)")
    B, T = len(export.names), export.num_frames
    kids = [[c for c in range(B) if export.parents[c] == b] for b in range(B)]
    nodes = []
    for b in range(B):
        nodes.append({"name": export.names[b], "translation": [float(x) for x in export.offsets[b]]})
    ends = {}
    for b in range(B):
        if not kids[b] and np.all(np.isfinite(export.end_sites[b])):
            ends[b] = len(nodes)
            nodes.append({"name": f"{export.names[b]}_end",
                          "translation": [float(x) for x in export.end_sites[b]]})
    for b in range(B):
        ch = kids[b] + ([ends[b]] if b in ends else [])
        if ch:
            nodes[b]["children"] = ch
    joint_nodes = list(range(len(nodes)))
    parent_of = {c: b for b in range(B) for c in nodes[b].get("children", [])}
    rest = np.zeros((len(nodes), 3))  # T-pose world positions (rest rotations are the identity)
    for n in joint_nodes:  # parents come first: BVH order, then the end nodes
        rest[n] = np.asarray(nodes[n]["translation"]) + (rest[parent_of[n]] if n in parent_of else 0.0)
    rest[0] = 0.0
    nodes[0]["translation"] = [float(x) for x in export.motion[0, :3]]

    # mesh: one box per bone (node -> each child), bound to the node that drives that bone
    verts, tris, joints_attr = [], [], []
    for n in joint_nodes:
        for c in nodes[n].get("children", []):
            if np.linalg.norm(rest[c] - rest[n]) < 1e-6:
                continue
            v, f = _box(rest[n], rest[c], BONE_HALF_WIDTH_M)
            tris.append(f + sum(len(x) for x in verts))
            verts.append(v)
            joints_attr.append(np.full(len(v), n))
    buf = _Bin()
    pos = np.concatenate(verts).astype(np.float32)
    jnt = np.zeros((len(pos), 4), np.uint16)
    jnt[:, 0] = np.concatenate(joints_attr)
    wgt = np.zeros((len(pos), 4), np.float32)
    wgt[:, 0] = 1.0
    idx = np.concatenate(tris).reshape(-1).astype(np.uint32)
    a_pos = buf.add(pos, _FLOAT, "VEC3", _ARRAY_BUFFER, minmax=True)
    a_jnt = buf.add(jnt, _USHORT, "VEC4", _ARRAY_BUFFER)
    a_wgt = buf.add(wgt, _FLOAT, "VEC4", _ARRAY_BUFFER)
    a_idx = buf.add(idx, _UINT, "SCALAR", _ELEMENT_ARRAY_BUFFER)
    ibm = np.tile(np.eye(4, dtype=np.float32), (len(joint_nodes), 1, 1))
    ibm[:, :3, 3] = -rest[joint_nodes]
    a_ibm = buf.add(np.swapaxes(ibm, 1, 2).reshape(len(joint_nodes), 16), _FLOAT, "MAT4")  # column-major

    # animation: root translation + every joint's rotation, one key per frame
    times = (np.arange(T, dtype=np.float64) * export.frame_time).astype(np.float32)
    a_time = buf.add(times, _FLOAT, "SCALAR", minmax=True)
    q = _quats(export.local_rotations).astype(np.float32)
    samplers = [{"input": a_time, "output": buf.add(export.motion[:, :3].astype(np.float32), _FLOAT, "VEC3"),
                 "interpolation": "LINEAR"}]
    channels = [{"sampler": 0, "target": {"node": 0, "path": "translation"}}]
    for b in range(B):
        nodes[b]["rotation"] = [float(x) for x in q[0, b]]
        samplers.append({"input": a_time, "output": buf.add(q[:, b], _FLOAT, "VEC4"), "interpolation": "LINEAR"})
        channels.append({"sampler": len(samplers) - 1, "target": {"node": b, "path": "rotation"}})

    mesh_node = len(nodes)
    nodes.append({"name": "body", "mesh": 0, "skin": 0})
    doc = {
        "asset": {"version": "2.0", "generator": "energy3d (gltf_export.py)"},
        "scene": 0,
        "scenes": [{"name": "energy3d motion", "nodes": [0, mesh_node]}],
        "nodes": nodes,
        "skins": [{"name": "skeleton", "joints": joint_nodes, "skeleton": 0, "inverseBindMatrices": a_ibm}],
        "meshes": [{"name": "bones", "primitives": [{"attributes": {"POSITION": a_pos, "JOINTS_0": a_jnt,
                                                                    "WEIGHTS_0": a_wgt},
                                                     "indices": a_idx, "material": 0}]}],
        "materials": [{"name": "bone", "pbrMetallicRoughness": {"baseColorFactor": [0.85, 0.45, 0.2, 1.0],
                                                                 "metallicFactor": 0.0, "roughnessFactor": 0.8}}],
        "animations": [{"name": "motion", "samplers": samplers, "channels": channels}],
        "buffers": [{"byteLength": 0}],
        "bufferViews": buf.views,
        "accessors": buf.accessors,
        "extras": {"fps": 1.0 / export.frame_time, "frames": T, "notes": list(export.notes),
                   "joint_names": dict(export.joint_names)},
    }
    while len(buf.data) % 4:
        buf.data.append(0)
    doc["buffers"][0]["byteLength"] = len(buf.data)
    js = json.dumps(doc, separators=(",", ":")).encode("utf-8")
    js += b" " * (-len(js) % 4)
    total = 12 + 8 + len(js) + 8 + len(buf.data)
    return b"".join([struct.pack("<4sII", b"glTF", 2, total), struct.pack("<I4s", len(js), b"JSON"), js,
                     struct.pack("<I4s", len(buf.data), b"BIN\x00"), bytes(buf.data)])


def write_glb(path: str | Path, joints, layout: str | Skeleton, fps: float, *, frame: str = "y-up") -> BVHExport:
    """Write joint motion as an animated glTF skeleton (``.glb``), metres, +Y up, facing +Z.

    Same inputs, rules and errors as :func:`energy3d.data.bvh_export.write_bvh` (the file is made
    completely in memory, then written beside ``path`` and renamed: an error leaves no partial file).

    Returns:
        the :class:`~energy3d.data.bvh_export.BVHExport` (``units="m"``) whose skeleton and rotations were written.
    """
    p = Path(path)
    if p.suffix.lower() != ".glb":
        raise InputError(f"{p}: expected a .glb file name")
    export = joints_to_bvh(joints, layout, fps, frame=frame, units="m")
    write_atomic(p, glb_bytes(export))
    return export


MOTION_SUFFIXES = (".bvh", ".glb")
"""Animation files :func:`write_motion` writes, by suffix."""


def write_motion(path: str | Path, joints, layout: str | Skeleton, fps: float) -> BVHExport:
    """Write a Y-up joint motion as BVH (centimetres) or glTF binary (metres), by the file's suffix."""
    p = Path(path)
    if p.suffix.lower() == ".glb":
        return write_glb(p, joints, layout, fps)
    if p.suffix.lower() == ".bvh":
        return write_bvh(p, joints, layout, fps)
    raise InputError(f"{p}: expected a {' or '.join(MOTION_SUFFIXES)} file name")


def read_glb(path: str | Path) -> tuple[dict, bytes]:
    """``(json document, BIN chunk)`` of a ``.glb`` file (a check of the container, not a full glTF reader).

    Raises:
        InputError: a missing file, or one that is not a glTF 2.0 binary.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise InputError(f"{p}: cannot read ({e.strerror or e})") from None
    if len(data) < 20 or data[:4] != b"glTF":
        raise InputError(f"{p}: not a binary glTF file (no 'glTF' header)")
    _, version, total = struct.unpack_from("<4sII", data, 0)
    if version != 2 or total != len(data):
        raise InputError(f"{p}: glTF version {version}, declared length {total} for {len(data)} bytes")
    n, kind = struct.unpack_from("<I4s", data, 12)
    if kind != b"JSON":
        raise InputError(f"{p}: first chunk is {kind!r}, not JSON")
    doc = json.loads(data[20:20 + n])
    rest = data[20 + n:]
    binary = b""
    if len(rest) >= 8:
        m, kind = struct.unpack_from("<I4s", rest, 0)
        binary = rest[8:8 + m] if kind == b"BIN\x00" else b""
    return doc, binary
