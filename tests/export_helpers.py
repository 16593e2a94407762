"""Joint motions and readers for the export tests (BVH and glTF): a synthetic moving body, what a file
with constant (median) bone lengths should reproduce of an input, and glTF forward kinematics."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from energy3d.data.bvh_export import TPOSE_M
from energy3d.skeleton.layouts import H36M17, get_layout


def rescaled(joints, layout, lengths):
    """What the file should reproduce: the input's root positions and bone directions, each bone at
    its median length (``lengths``). ``(T, J, 3)``."""
    sk = get_layout(layout)
    x = np.asarray(joints, dtype=np.float64)
    out = np.zeros_like(x)
    done = set()

    def place(j):
        if j in done:
            return
        p = sk.parents[j]
        if p < 0:
            out[:, j] = x[:, j]
        else:
            place(p)
            d = x[:, j] - x[:, p]
            n = np.linalg.norm(d, axis=-1, keepdims=True)
            out[:, j] = out[:, p] + lengths[j] * d / np.maximum(n, 1e-300)
        done.add(j)

    for j in range(sk.num_joints):
        place(j)
    return out


def synthetic(T=120, seed=0, vary=0.1, noise=0.005, spin_turns=2.0, wobble=0.6):
    """An h36m17 sequence: a walking, spinning body with smooth random bone directions, bone
    lengths varying by +-``vary``, directions wobbling by up to ``wobble`` radians about the T-pose,
    and ``noise`` metres of position noise. ``(T, 17, 3)`` metres, Y up."""
    rng = np.random.default_rng(seed)
    sk = H36M17
    rest = np.array([TPOSE_M[c] for c in sk.canonical])
    par = np.array(sk.parents)
    t = np.linspace(0, 1, T)
    yaw = Rotation.from_rotvec(np.outer(2 * np.pi * spin_turns * t, [0, 1, 0]))
    x = np.zeros((T, 17, 3))
    x[:, 0] = np.stack([np.sin(3 * t), 0.9 + 0.05 * np.sin(20 * t), 2 * t], axis=1)
    for j in range(1, 17):  # parents precede children in h36m17
        base = rest[j] - rest[par[j]]
        length = np.linalg.norm(base) * (1 + vary * np.sin(7 * t + j) * rng.uniform(0.5, 1))
        turn = Rotation.from_rotvec(wobble * np.sin(np.outer(t, rng.uniform(2, 9, 3)) + rng.uniform(0, 6, 3)))
        d = (yaw * turn).apply(base / np.linalg.norm(base))
        x[:, j] = x[:, par[j]] + length[:, None] * d
    return x + rng.normal(scale=noise, size=x.shape)


def accessor(gltf, blob, i):
    """An accessor's data as a numpy array, decoded from the glTF fields (independent of the writer)."""
    a = gltf.accessors[i]
    v = gltf.bufferViews[a.bufferView]
    dtype = {5126: np.float32, 5123: np.uint16, 5125: np.uint32}[a.componentType]
    width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}[a.type]
    start = (v.byteOffset or 0) + (a.byteOffset or 0)
    arr = np.frombuffer(blob, dtype=dtype, count=a.count * width, offset=start)
    return arr.reshape(a.count, width) if width > 1 else arr


def animated_world(gltf, blob):
    """World matrices ``(T, N, 4, 4)`` of every node per keyframe, by the glTF node rules
    (``T * R * S``, parents first), with the animation's sampled translations and rotations."""
    anim = gltf.animations[0]
    times = accessor(gltf, blob, anim.samplers[0].input)
    T, N = len(times), len(gltf.nodes)
    trans = np.array([n.translation or [0, 0, 0] for n in gltf.nodes], dtype=np.float64)
    rot = np.array([n.rotation or [0, 0, 0, 1] for n in gltf.nodes], dtype=np.float64)
    trans = np.repeat(trans[None], T, 0)
    rot = np.repeat(rot[None], T, 0)
    for ch in anim.channels:
        out = accessor(gltf, blob, anim.samplers[ch.sampler].output)
        if ch.target.path == "translation":
            trans[:, ch.target.node] = out
        elif ch.target.path == "rotation":
            rot[:, ch.target.node] = out
    parent = {c: i for i, n in enumerate(gltf.nodes) for c in (n.children or [])}
    world = np.zeros((T, N, 4, 4))
    done = set()

    def place(i):
        if i in done:
            return
        local = np.zeros((T, 4, 4))
        local[:, :3, :3] = Rotation.from_quat(rot[:, i]).as_matrix()
        local[:, :3, 3] = trans[:, i]
        local[:, 3, 3] = 1
        if i in parent:
            place(parent[i])
            world[:, i] = world[:, parent[i]] @ local
        else:
            world[:, i] = local
        done.add(i)

    for i in range(N):
        place(i)
    return times, world
