"""Part graphs on h36m17 and star decompositions."""

from collections import deque

import numpy as np
import pytest

from energy3d.errors import InputError
from energy3d.skeleton.layouts import H36M17
from energy3d.structured import (
    PartGraph, center_star, extended_stick_figure, is_forest, part_graph, star_decomposition, stick_figure, two_hop,
)

J = H36M17.joints.index


def _pairs(g):
    return {frozenset(e) for e in g.edges}


def _tree_distances():
    nb = [[] for _ in range(17)]
    for c, p in enumerate(H36M17.parents):
        if p >= 0:
            nb[c].append(p)
            nb[p].append(c)
    dist = np.full((17, 17), -1)
    for s in range(17):
        dist[s, s] = 0
        q = deque([s])
        while q:
            a = q.popleft()
            for b in nb[a]:
                if dist[s, b] < 0:
                    dist[s, b] = dist[s, a] + 1
                    q.append(b)
    return dist


def test_center_star_and_stick_figure():
    cs = center_star()
    assert cs.num_edges == 16 and all(J("Spine") in e for e in cs.edges)
    sf = stick_figure()
    assert _pairs(sf) == {frozenset((c, p)) for c, p in enumerate(H36M17.parents) if p >= 0}
    assert sf.is_forest() and not two_hop().is_forest()
    assert is_forest(np.array(sf.edges), 17)


def test_extended_stick_figure_edges():
    g = extended_stick_figure()
    extra = _pairs(g) - _pairs(stick_figure())
    want = {frozenset((J(a), J(b))) for a, b in [("LElbow", "RElbow"), ("LKnee", "RKnee"), ("Head", "LShoulder"),
                                                 ("Head", "RShoulder"), ("Spine", "LKnee"), ("Spine", "RKnee")]}
    assert extra == want and g.num_edges == 22


def test_two_hop_is_distance_one_or_two():
    d = _tree_distances()
    want = {frozenset((a, b)) for a in range(17) for b in range(a + 1, 17) if d[a, b] in (1, 2)}
    assert _pairs(two_hop()) == want


@pytest.mark.parametrize("name", ["center_star", "stick_figure", "extended_stick_figure", "two_hop", "random"])
def test_star_decomposition_covers_each_edge_once(name):
    if name == "random":
        rng = np.random.default_rng(1)
        pairs = {tuple(sorted(rng.choice(12, 2, replace=False))) for _ in range(30)}
        edges = np.array(sorted(pairs))
        P = 12
    else:
        g = part_graph(name)
        edges, P = g.as_array(), g.num_parts
    stars = star_decomposition(edges, P)
    ids = sorted(e for s in stars for e in s.edge_ids)
    assert ids == list(range(len(edges)))
    for s in stars:
        assert len(s.leaves) == len(s.edge_ids)
        for e, leaf in zip(s.edge_ids, s.leaves):
            assert set(edges[e].tolist()) == {s.center, leaf}
    if name == "center_star":
        assert len(stars) == 1 and stars[0].center == J("Spine")


def test_graph_errors():
    with pytest.raises(InputError, match="unknown part graph"):
        part_graph("octopus")
    with pytest.raises(InputError, match="missing part"):
        PartGraph("x", 3, ((0, 3),))
    with pytest.raises(InputError, match="twice"):
        PartGraph("x", 3, ((0, 1), (1, 0)))
    with pytest.raises(InputError, match="no joint"):
        center_star(center="Tail")
