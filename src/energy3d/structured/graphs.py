"""Part graphs (Kinauer et al. §3.4) and their decomposition into stars (§2.3).

Four topologies are built from a :class:`~energy3d.skeleton.layouts.Skeleton` (``h36m17`` by
default, joint order Hip, RHip, RKnee, RFoot, LHip, LKnee, LFoot, Spine, Thorax, Neck/Nose, Head,
LShoulder, LElbow, LWrist, RShoulder, RElbow, RWrist):

* **center star**: every joint joined to one torso joint (``Spine`` unless told otherwise);
* **stick figure**: the kinematic tree (bones as ``(parent, child)``);
* **extended stick figure**: the stick figure plus LElbow-RElbow, LKnee-RKnee, Head-LShoulder,
  Head-RShoulder, torso-LKnee and torso-RKnee (torso = ``Spine``);
* **2-hop**: the stick figure plus every joint joined to the joints two bones away.

Edge ``(i, j)`` carries the displacement ``mu_ij = phi_i - phi_j`` (see :mod:`.problem`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from energy3d.errors import InputError
from energy3d.skeleton.layouts import H36M17, Skeleton, get_layout

TOPOLOGIES = ("center_star", "stick_figure", "extended_stick_figure", "two_hop")


@dataclass(frozen=True)
class PartGraph:
    """An undirected part graph with oriented edges.

    Attributes:
        name: topology name, e.g. ``"two_hop"``.
        num_parts: number of parts ``P``.
        edges: ``(i, j)`` pairs; the edge term uses ``phi_i - phi_j``.
        part_names: optional names, one per part.
    """

    name: str
    num_parts: int
    edges: tuple[tuple[int, int], ...]
    part_names: tuple[str, ...] | None = None

    def __post_init__(self):
        seen = set()
        for i, j in self.edges:
            if not (0 <= i < self.num_parts and 0 <= j < self.num_parts):
                raise InputError(f"graph {self.name}: edge ({i}, {j}) names a missing part "
                                 f"(parts are 0..{self.num_parts - 1})")
            if i == j:
                raise InputError(f"graph {self.name}: edge ({i}, {j}) joins a part to itself")
            key = (min(i, j), max(i, j))
            if key in seen:
                raise InputError(f"graph {self.name}: edge ({i}, {j}) appears twice")
            seen.add(key)

    @property
    def num_edges(self) -> int:
        return len(self.edges)

    def as_array(self) -> np.ndarray:
        """Edges as an ``(E, 2)`` int64 array."""
        return np.asarray(self.edges, dtype=np.int64).reshape(-1, 2)

    def neighbors(self) -> list[list[int]]:
        return _neighbors(self.as_array(), self.num_parts)

    def is_forest(self) -> bool:
        """True if the graph has no cycle (each connected component is a tree)."""
        return is_forest(self.as_array(), self.num_parts)

    def __str__(self) -> str:
        nm = self.part_names
        es = ", ".join(f"{nm[i]}-{nm[j]}" if nm else f"{i}-{j}" for i, j in self.edges)
        return f"{self.name} ({self.num_parts} parts, {self.num_edges} edges: {es})"


def _neighbors(edges: np.ndarray, num_parts: int) -> list[list[int]]:
    nb: list[list[int]] = [[] for _ in range(num_parts)]
    for i, j in edges:
        nb[int(i)].append(int(j))
        nb[int(j)].append(int(i))
    return nb


def is_forest(edges, num_parts: int) -> bool:
    """True if the undirected graph on ``num_parts`` nodes with ``edges`` ``(E, 2)`` has no cycle."""
    parent = list(range(num_parts))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for i, j in np.asarray(edges, dtype=np.int64).reshape(-1, 2):
        a, b = find(int(i)), find(int(j))
        if a == b:
            return False
        parent[a] = b
    return True


def _skeleton(skeleton) -> Skeleton:
    return get_layout(skeleton)


def center_star(skeleton: Skeleton | str = H36M17, center: str = "Spine") -> PartGraph:
    """All joints joined to one torso joint; edges ``(center, j)``.

    Args:
        skeleton: joint layout (default ``h36m17``).
        center: the hub joint (layout or canonical name; default ``Spine``, the mid torso).
    """
    sk = _skeleton(skeleton)
    c = sk.index(center)
    edges = tuple((c, j) for j in range(sk.num_joints) if j != c)
    return PartGraph("center_star", sk.num_joints, edges, sk.joints)


def stick_figure(skeleton: Skeleton | str = H36M17) -> PartGraph:
    """The kinematic tree; edges ``(parent, child)``."""
    sk = _skeleton(skeleton)
    return PartGraph("stick_figure", sk.num_joints, tuple(sk.edges), sk.joints)


def extended_stick_figure(skeleton: Skeleton | str = H36M17, torso: str = "spine") -> PartGraph:
    """Stick figure plus elbow-elbow, knee-knee, head-shoulders and torso-knees edges (Kinauer §3.4).

    The extra joints are found by canonical name (``l_elbow``, ``r_elbow``, ``l_knee``, ``r_knee``,
    ``head_top``, ``l_shoulder``, ``r_shoulder`` and ``torso``).
    """
    sk = _skeleton(skeleton)
    ix = sk.index
    extra = [("l_elbow", "r_elbow"), ("l_knee", "r_knee"), ("head_top", "l_shoulder"),
             ("head_top", "r_shoulder"), (torso, "l_knee"), (torso, "r_knee")]
    edges = list(sk.edges)
    have = {frozenset(e) for e in edges}
    for a, b in extra:
        e = (ix(a), ix(b))
        if frozenset(e) not in have:
            edges.append(e)
            have.add(frozenset(e))
    return PartGraph("extended_stick_figure", sk.num_joints, tuple(edges), sk.joints)


def two_hop(skeleton: Skeleton | str = H36M17) -> PartGraph:
    """Stick figure plus an edge from every joint to each joint two bones away (Kinauer §3.4).

    The 2-hop edges are ``(a, b)`` with ``a < b`` in joint order.
    """
    sk = _skeleton(skeleton)
    edges = list(sk.edges)
    nb = _neighbors(np.asarray(edges), sk.num_joints)
    have = {frozenset(e) for e in edges}
    for mid in range(sk.num_joints):
        for x in range(len(nb[mid])):
            for y in range(x + 1, len(nb[mid])):
                a, b = sorted((nb[mid][x], nb[mid][y]))
                if frozenset((a, b)) not in have:
                    have.add(frozenset((a, b)))
                    edges.append((a, b))
    return PartGraph("two_hop", sk.num_joints, tuple(edges), sk.joints)


def part_graph(name: str, skeleton: Skeleton | str = H36M17) -> PartGraph:
    """Build a topology by name: one of ``center_star``, ``stick_figure``, ``extended_stick_figure``, ``two_hop``."""
    builders = {"center_star": center_star, "stick_figure": stick_figure,
                "extended_stick_figure": extended_stick_figure, "two_hop": two_hop}
    key = name.replace("-", "_").replace(" ", "_").lower()
    if key not in builders:
        raise InputError(f"unknown part graph {name!r}; known: {', '.join(TOPOLOGIES)}")
    return builders[key](skeleton)


@dataclass(frozen=True)
class Star:
    """A star subgraph: a center, its leaves, and the ids of the edges (into the parent graph) it owns."""

    center: int
    leaves: tuple[int, ...]
    edge_ids: tuple[int, ...]

    @property
    def parts(self) -> tuple[int, ...]:
        return (self.center,) + self.leaves


def star_decomposition(edges, num_parts: int | None = None) -> list[Star]:
    """Split the edges of any graph into stars; every edge belongs to exactly one star.

    Greedy: repeatedly take the part with the most not-yet-covered edges (lowest index on ties) as a
    center and give it all of them. A tree yields a star per non-leaf "hub"; a star graph yields
    itself. Parts without edges belong to no star.

    Args:
        edges: ``(E, 2)`` part pairs, or a :class:`PartGraph`.
        num_parts: number of parts (taken from the graph if one is given).

    Returns:
        list of :class:`Star`, in the order they were taken.

    Example:
        >>> [s.center for s in star_decomposition(stick_figure())]
        [8, 0, 2, 5, 12, 15, 9]
    """
    if isinstance(edges, PartGraph):
        num_parts = edges.num_parts if num_parts is None else num_parts
        edges = edges.as_array()
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    if num_parts is None:
        num_parts = int(e.max()) + 1 if e.size else 0
    remaining = set(range(e.shape[0]))
    inc: list[set[int]] = [set() for _ in range(num_parts)]
    for k, (i, j) in enumerate(e):
        inc[int(i)].add(k)
        inc[int(j)].add(k)
    stars = []
    while remaining:
        deg = [len(s) for s in inc]
        center = int(np.argmax(deg))
        ids = tuple(sorted(inc[center]))
        leaves = tuple(int(e[k, 1] if e[k, 0] == center else e[k, 0]) for k in ids)
        for k in ids:
            remaining.discard(k)
            inc[int(e[k, 0])].discard(k)
            inc[int(e[k, 1])].discard(k)
        stars.append(Star(center, leaves, ids))
    return stars


def bfs_order(edges, num_parts: int, root: int = 0) -> tuple[list[int], list[int], list[int]]:
    """Breadth-first order of a forest: ``(order, parent, parent_edge)``; ``-1`` marks component roots.

    Components not containing ``root`` are rooted at their lowest-index part.

    Raises:
        InputError: if the graph has a cycle.
    """
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    if not is_forest(e, num_parts):
        raise InputError("graph has a cycle: this solver needs a tree or forest (use ADMM or exhaustive search)")
    adj: list[list[tuple[int, int]]] = [[] for _ in range(num_parts)]
    for k, (i, j) in enumerate(e):
        adj[int(i)].append((int(j), k))
        adj[int(j)].append((int(i), k))
    parent = [-2] * num_parts
    pedge = [-1] * num_parts
    order: list[int] = []
    for start in [root] + list(range(num_parts)):
        if parent[start] != -2:
            continue
        parent[start] = -1
        q = deque([start])
        while q:
            a = q.popleft()
            order.append(a)
            for b, k in adj[a]:
                if parent[b] == -2:
                    parent[b] = a
                    pedge[b] = k
                    q.append(b)
    return order, parent, pedge


def is_star(edges, num_parts: int) -> int | None:
    """The center of a star graph (every edge touches it), else ``None``. Edgeless graphs give ``None``."""
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    if e.shape[0] == 0:
        return None
    common = set(e[0].tolist())
    for i, j in e[1:]:
        common &= {int(i), int(j)}
    if not common:
        return None
    return min(common)


def edge_list(parts: Sequence[tuple[int, int]]) -> np.ndarray:
    """Convenience: list of pairs to an ``(E, 2)`` int64 array."""
    return np.asarray(parts, dtype=np.int64).reshape(-1, 2)
