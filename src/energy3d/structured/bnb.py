"""Exact branch-and-bound for star-shaped part graphs (Kinauer et al. §2.2).

A star has a root part ``r`` and leaves ``l = 1..L`` joined only to the root. Writing
``m_l = mu_rl`` for an edge ``(r, l)`` and ``m_l = -mu_lr`` for an edge ``(l, r)``, the optimum is

    max_x  U_r(x) + sum_l M_l(x - m_l),    M_l(z) = max_y U_l(y) - sum_d c_{l,d} (z_d - y_d)^2 .

Brute force (dynamic programming on the star) evaluates every ``(x, y)`` pair: ``O(N_r sum_l N_l)``.
Branch-and-bound searches best-first (a priority queue on the bound) over boxes ``X`` of root
candidates: the nodes of a k-d tree on the root's candidates (:mod:`._kdtree`). The bound of a box is

    max_{x in X} U_r(x) + sum_l max_y [U_l(y) - sum_d c_{l,d} gap_d(y, X - m_l)^2] ,

where ``gap_d`` is the interval distance of ``y_d`` to the shifted box (interval arithmetic on the
quadratic term); each leaf maximum is itself a branch-and-bound search (depth-first, better child
first) in the leaf's k-d tree with node bounds ``max U_l(node) - sum_d c_{l,d} gap_d(node box, X - m_l)^2``.
Boxes are split until they are tree buckets, whose candidates are evaluated exactly (the same kernel
on a point box).
Leaf searches receive the incumbent as a threshold, so boxes and candidates are abandoned as soon
as they cannot win. The result is the exact optimum (ties broken by search order).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numba import njit

from energy3d.errors import InputError
from energy3d.structured._kdtree import STACK_SIZE, Forest, query_max
from energy3d.structured.graphs import is_star
from energy3d.structured.problem import Solution, StructuredProblem, _solution

_MARGIN = 1e-12  # relative safety margin on threshold pruning (rounding of partial sums)


@dataclass(frozen=True)
class BnBInfo:
    """Statistics of one branch-and-bound solve.

    Attributes:
        root: the star's root part.
        nodes_expanded: root-tree boxes taken from the priority queue.
        bounds_computed: box bounds evaluated (one leaf-tree search per leaf each).
        candidates_evaluated: root candidates scored exactly.
        leaf_node_visits: leaf-tree nodes visited by all leaf searches.
        build_time_s: KD-tree construction time (0 when the trees were reused).
        search_time_s: branch-and-bound time.
    """

    root: int
    nodes_expanded: int
    bounds_computed: int
    candidates_evaluated: int
    leaf_node_visits: int
    build_time_s: float
    search_time_s: float


@njit(cache=True)
def _heap_push(keys, vals, n, key, val):
    i = n
    while i > 0:
        p = (i - 1) >> 1
        if keys[p] >= key:
            break
        keys[i] = keys[p]
        vals[i] = vals[p]
        i = p
    keys[i] = key
    vals[i] = val
    return n + 1


@njit(cache=True)
def _heap_pop(keys, vals, n):
    top_k = keys[0]
    top_v = vals[0]
    n -= 1
    if n > 0:
        key = keys[n]
        val = vals[n]
        i = 0
        while True:
            c = 2 * i + 1
            if c >= n:
                break
            if c + 1 < n and keys[c + 1] > keys[c]:
                c += 1
            if keys[c] <= key:
                break
            keys[i] = keys[c]
            vals[i] = vals[c]
            i = c
        keys[i] = key
        vals[i] = val
    return top_k, top_v, n


@njit(cache=True)
def _box_bound(k, kp, k0, ub, inc, leaf_roots, m, cw, lo, hi, start, end, left, right, pts, U, nmax,
               stk_node, stk_bound, counters):
    """Upper bound of root box ``k`` (parent ``kp`` or -1); per-leaf bounds go to ``ub[k - k0]``."""
    base = nmax[k]
    if not (base > -np.inf):
        return -np.inf
    nl = leaf_roots.shape[0]
    row = k - k0
    for l in range(nl):
        ub[row, l] = ub[kp - k0, l] if kp >= 0 else np.inf
    for l in range(nl):
        t = -np.inf
        if kp >= 0 and inc > -np.inf:
            s = base
            for l2 in range(nl):
                if l2 != l:
                    s += ub[row, l2]
            t = inc - s
            t -= _MARGIN * (1.0 + abs(inc) + abs(s))
        v, j, vis = query_max(leaf_roots[l],
                              lo[k, 0] - m[l, 0], lo[k, 1] - m[l, 1], lo[k, 2] - m[l, 2],
                              hi[k, 0] - m[l, 0], hi[k, 1] - m[l, 1], hi[k, 2] - m[l, 2],
                              cw[l, 0], cw[l, 1], cw[l, 2], t,
                              lo, hi, start, end, left, right, pts, U, nmax, stk_node, stk_bound)
        counters[1] += 1
        counters[3] += vis
        if j < 0:
            return -np.inf
        ub[row, l] = v
    s = base
    for l in range(nl):
        s += ub[row, l]
    return s


@njit(cache=True)
def star_bnb_kernel(root_part, leaf_parts, m, cw, node_off, lo, hi, start, end, left, right, pts, U, nmax):
    """Exact star optimum. Returns ``(value, root_point, leaf_points (L,), counters (4,))``.

    Point indices are forest-global; ``root_point = -1`` when every configuration scores ``-inf``.
    counters: nodes expanded, bounds computed (leaf searches for boxes), candidates evaluated,
    leaf-node visits.
    """
    nl = leaf_parts.shape[0]
    k0 = node_off[root_part]
    mr = node_off[root_part + 1] - k0
    leaf_roots = np.empty(nl, np.int64)
    for l in range(nl):
        leaf_roots[l] = node_off[leaf_parts[l]]
    ub = np.empty((mr, nl))
    hkeys = np.empty(mr)
    hvals = np.empty(mr, np.int64)
    stk_node = np.empty(STACK_SIZE, np.int64)
    stk_bound = np.empty(STACK_SIZE)
    counters = np.zeros(4, np.int64)
    cur = np.empty(nl, np.int64)
    suf = np.empty(nl + 1)
    inc = -np.inf
    inc_root = -1
    inc_leaf = np.full(nl, -1, np.int64)

    hn = 0
    b = _box_bound(k0, -1, k0, ub, inc, leaf_roots, m, cw, lo, hi, start, end, left, right, pts, U, nmax,
                   stk_node, stk_bound, counters)
    if b > -np.inf:
        hn = _heap_push(hkeys, hvals, hn, b, k0)
    while hn > 0:
        b, k, hn = _heap_pop(hkeys, hvals, hn)
        if not (b > inc):
            break
        counters[0] += 1
        if left[k] < 0:
            row = k - k0
            suf[nl] = 0.0
            for l in range(nl - 1, -1, -1):
                suf[l] = suf[l + 1] + ub[row, l]
            for i in range(start[k], end[k]):
                u = U[i]
                if not (u > -np.inf):
                    continue
                if not (u + suf[0] > inc):
                    continue
                counters[2] += 1
                val = u
                ok = True
                for l in range(nl):
                    t = -np.inf
                    if inc > -np.inf:
                        t = inc - val - suf[l + 1]
                        t -= _MARGIN * (1.0 + abs(inc) + abs(val) + abs(suf[l + 1]))
                    z0 = pts[i, 0] - m[l, 0]
                    z1 = pts[i, 1] - m[l, 1]
                    z2 = pts[i, 2] - m[l, 2]
                    v, j, vis = query_max(leaf_roots[l], z0, z1, z2, z0, z1, z2,
                                          cw[l, 0], cw[l, 1], cw[l, 2], t,
                                          lo, hi, start, end, left, right, pts, U, nmax, stk_node, stk_bound)
                    counters[3] += vis
                    if j < 0:
                        ok = False
                        break
                    val += v
                    cur[l] = j
                if ok and val > inc:
                    inc = val
                    inc_root = i
                    for l in range(nl):
                        inc_leaf[l] = cur[l]
        else:
            for kc in (left[k], right[k]):
                bc = _box_bound(kc, k, k0, ub, inc, leaf_roots, m, cw, lo, hi, start, end, left, right,
                                pts, U, nmax, stk_node, stk_bound, counters)
                if bc > inc:
                    hn = _heap_push(hkeys, hvals, hn, bc, kc)
    return inc, inc_root, inc_leaf, counters


def star_offsets(problem: StructuredProblem, root: int, edge_ids) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Leaf parts ``(L,)``, signed displacements ``m`` ``(L, 3)`` and weights ``(L, 3)`` of a star."""
    leaves, ms, cs = [], [], []
    for e in edge_ids:
        i, j = (int(v) for v in problem.edges[e])
        if i == root:
            leaves.append(j)
            ms.append(problem.mu[e])
        elif j == root:
            leaves.append(i)
            ms.append(-problem.mu[e])
        else:
            raise InputError(f"edge ({i}, {j}) does not touch the star root {problem.part_name(root)}")
        cs.append(problem.c[e])
    return (np.asarray(leaves, dtype=np.int64), np.asarray(ms, dtype=np.float64).reshape(-1, 3),
            np.ascontiguousarray(np.asarray(cs, dtype=np.float64).reshape(-1, 3)))


class StarSolver:
    """Exact branch-and-bound on a star, with the KD-trees built once and reusable.

    Args:
        problem: a problem whose edges form a star (every edge touches ``root``). Parts outside the
            star are set to their best unary (they are independent).
        root: the star's root; found from the edges when omitted.
        leaf_size: KD-tree bucket size.

    Example:
        >>> from energy3d.structured.random import realistic_problem
        >>> prob = realistic_problem("center_star", grid=6, seed=0)
        >>> sol = StarSolver(prob).solve()
        >>> sol.config.shape
        (17,)
    """

    def __init__(self, problem: StructuredProblem, root: int | None = None, leaf_size: int = 16,
                 forest: Forest | None = None):
        found = is_star(problem.edges, problem.num_parts)
        if problem.num_edges and root is None:
            if found is None:
                raise InputError("StarSolver: the edges do not form a star (no part touches every edge); "
                                 "use solve_admm, solve_tree or solve_exhaustive")
            root = found
        if root is None:
            root = 0
        if not 0 <= root < problem.num_parts:
            raise InputError(f"StarSolver: root {root} is not a part (0..{problem.num_parts - 1})")
        self.problem = problem
        self.root = int(root)
        self.leaves, self.m, self.cw = star_offsets(problem, self.root, range(problem.num_edges))
        t0 = time.perf_counter()
        self.forest = forest if forest is not None else Forest(problem.positions, leaf_size)
        self.build_time_s = 0.0 if forest is not None else time.perf_counter() - t0

    def solve(self, unaries=None) -> Solution:
        """Exact optimum for the problem's unaries, or for ``unaries`` (a list of ``(N_i,)`` arrays)."""
        prob = self.problem if unaries is None else self.problem.with_unaries(unaries)
        U, nmax = self.forest.scores(prob.unaries)
        sol = self.solve_scores(U, nmax)
        return _solution(prob, sol[0], sol[1])

    def solve_scores(self, U, nmax, build_time_s: float | None = None):
        """Run the kernel on prepared forest-order scores; returns ``(config, info, value)``."""
        prob, f = self.problem, self.forest
        t0 = time.perf_counter()
        val, ir, il, cnt = star_bnb_kernel(self.root, self.leaves, self.m, self.cw, f.node_off,
                                           f.lo, f.hi, f.start, f.end, f.left, f.right, f.pts, U, nmax)
        dt = time.perf_counter() - t0
        config = np.zeros(prob.num_parts, dtype=np.int64)
        in_star = np.zeros(prob.num_parts, dtype=bool)
        in_star[self.root] = True
        in_star[self.leaves] = True
        for p in np.nonzero(~in_star)[0]:  # independent parts
            seg = U[f.pt_off[p]:f.pt_off[p + 1]]
            config[p] = f.perm[f.pt_off[p] + int(np.argmax(seg))]
        if ir < 0:  # every configuration is forbidden: report the per-part best unaries
            for p in np.nonzero(in_star)[0]:
                seg = U[f.pt_off[p]:f.pt_off[p + 1]]
                config[p] = f.perm[f.pt_off[p] + int(np.argmax(seg))]
        else:
            config[self.root] = f.perm[ir]
            config[self.leaves] = f.perm[il]
        info = BnBInfo(self.root, int(cnt[0]), int(cnt[1]), int(cnt[2]), int(cnt[3]),
                       self.build_time_s if build_time_s is None else build_time_s, dt)
        return config, info, val


def solve_star(problem: StructuredProblem, root: int | None = None, leaf_size: int = 16) -> Solution:
    """Exact optimum of a star-shaped problem by branch-and-bound.

    Args:
        problem: problem whose edges all touch one part (the root).
        root: the root part (found from the edges when omitted).
        leaf_size: KD-tree bucket size.

    Returns:
        :class:`~energy3d.structured.problem.Solution` with a :class:`BnBInfo`.

    Raises:
        InputError: if the edges do not form a star.
    """
    return StarSolver(problem, root, leaf_size).solve()
