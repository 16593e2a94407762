"""k-d trees over candidate positions and the max-search kernel shared by the exact solvers (numba).

A :class:`Forest` holds one tree per part, all concatenated into flat arrays so that numba kernels
can take them as plain arguments. Each tree is a k-d tree with spatial midpoint splits built in
``O(N)`` passes: the part's points are sorted by their Morton (Z-order) code in their bounding cube
(radix sort, 10 bits per axis) and every node's range is split where the highest differing code bit
flips (x, y and z in turn, empty halves skipped; ranges of equal codes are halved by count);
buckets hold at most ``leaf_size`` points. Then

* points are reordered so that every tree node covers a contiguous range ``[start, end)``;
* ``lo``/``hi`` are the exact axis-aligned bounding boxes of the node's points;
* ``left``/``right`` are child node ids (``-1`` for a bucket), stored in pre-order so that a parent
  always has a smaller id than its children (node maxima are filled in one reverse sweep);
* part ``p`` owns nodes ``node_off[p]:node_off[p+1]`` and points ``pt_off[p]:pt_off[p+1]``.

Unary scores live in the same (permuted) order and ``nmax[k]`` is the largest score under node ``k``.

The kernel :func:`query_max` returns ``max_y U(y) - sum_d c_d gap_d(y, Z)^2`` over the points of one
part, where ``Z`` is an axis-aligned query box and ``gap_d`` the distance from ``y_d`` to the
interval ``[Z_lo,d, Z_hi,d]``. For a point box this is the exact best leaf response to a root
position; for a larger box it is the interval-arithmetic upper bound on the response over the whole
box (Kinauer et al. §2.2). Floating-point rounding is monotone, so a box bound computed this way is
never below the exact value at any point inside the box: the searches built on it stay exact.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

LEAF_SIZE = 16
STACK_SIZE = 512


_BITS = 10  # Morton quantisation per axis


@njit(cache=True)
def _spread(v):
    """Spread the low 10 bits of ``v`` so that bit b moves to bit 3b."""
    v &= 0x3FF
    v = (v | (v << 16)) & 0x30000FF
    v = (v | (v << 8)) & 0x300F00F
    v = (v | (v << 4)) & 0x30C30C3
    v = (v | (v << 2)) & 0x9249249
    return v


@njit(cache=True)
def _morton_sort(pts, p0, p1, idx, w, codes, tmp_i, tmp_c):
    """Sort points ``p0:p1`` by Morton code (isotropic quantisation of their bounding cube).

    Writes the order into ``idx[p0:p1]`` (global indices), the points into ``w`` and the sorted
    codes into ``codes``. LSD radix sort, three passes of 10 bits.
    """
    n = p1 - p0
    mn0 = np.inf
    mn1 = np.inf
    mn2 = np.inf
    ext = 0.0
    for d in range(3):
        mn = np.inf
        mx = -np.inf
        for t in range(p0, p1):
            v = pts[t, d]
            if v < mn:
                mn = v
            if v > mx:
                mx = v
        if d == 0:
            mn0 = mn
        elif d == 1:
            mn1 = mn
        else:
            mn2 = mn
        if mx - mn > ext:
            ext = mx - mn
    top = (1 << _BITS) - 1
    scale = (top + 1) / ext if ext > 0 else 0.0
    for t in range(n):
        g = p0 + t
        q0 = min(top, int((pts[g, 0] - mn0) * scale))
        q1 = min(top, int((pts[g, 1] - mn1) * scale))
        q2 = min(top, int((pts[g, 2] - mn2) * scale))
        codes[p0 + t] = (_spread(q0) << 2) | (_spread(q1) << 1) | _spread(q2)
        idx[p0 + t] = g
    counts = np.empty(1 << _BITS, np.int64)
    for ps in range(3):
        shift = ps * _BITS
        counts[:] = 0
        for t in range(p0, p1):
            counts[(codes[t] >> shift) & top] += 1
        acc = 0
        for b in range(1 << _BITS):
            cb = counts[b]
            counts[b] = acc
            acc += cb
        for t in range(p0, p1):
            b = (codes[t] >> shift) & top
            pos = p0 + counts[b]
            counts[b] += 1
            tmp_c[pos] = codes[t]
            tmp_i[pos] = idx[t]
        for t in range(p0, p1):
            codes[t] = tmp_c[t]
            idx[t] = tmp_i[t]
    for t in range(p0, p1):
        for d in range(3):
            w[t, d] = pts[idx[t], d]


@njit(cache=True)
def _build_into(pts, w, codes, p0, p1, leaf_size, idx, lo, hi, start, end, left, right, n0, st_node):
    """Build the tree of points ``p0:p1`` with nodes from id ``n0``; returns the next free node id.

    The points are sorted by Morton code; a node's range is split where the highest differing code
    bit flips (a spatial midpoint split, empty halves skipped), or at the middle when all codes are
    equal. Exact boxes are filled bottom-up.
    """
    start[n0] = p0
    end[n0] = p1
    left[n0] = -1
    right[n0] = -1
    m = n0 + 1
    st_node[0] = n0
    sp = 1
    while sp > 0:
        sp -= 1
        k = st_node[sp]
        s = start[k]
        e = end[k]
        if e - s <= leaf_size:
            continue
        a = codes[s]
        b = codes[e - 1]
        if a == b:
            mid = (s + e) // 2
        else:
            bit = 1 << (math.frexp(float(a ^ b))[1] - 1)  # highest differing bit (exact below 2^53)
            lo_i = s + 1
            hi_i = e - 1  # codes[hi_i] has the bit set; find the first such index
            while lo_i < hi_i:
                md = (lo_i + hi_i) // 2
                if codes[md] & bit:
                    hi_i = md
                else:
                    lo_i = md + 1
            mid = lo_i
        for q in range(2):
            c = m + q
            start[c] = s if q == 0 else mid
            end[c] = mid if q == 0 else e
            left[c] = -1
            right[c] = -1
        left[k] = m
        right[k] = m + 1
        st_node[sp] = m + 1
        st_node[sp + 1] = m
        sp += 2
        m += 2
    for k in range(m - 1, n0 - 1, -1):
        if left[k] < 0:
            for d in range(3):
                mn = np.inf
                mx = -np.inf
                for t in range(start[k], end[k]):
                    v = w[t, d]
                    if v < mn:
                        mn = v
                    if v > mx:
                        mx = v
                lo[k, d] = mn
                hi[k, d] = mx
        else:
            a2 = left[k]
            b2 = right[k]
            for d in range(3):
                lo[k, d] = lo[a2, d] if lo[a2, d] < lo[b2, d] else lo[b2, d]
                hi[k, d] = hi[a2, d] if hi[a2, d] > hi[b2, d] else hi[b2, d]
    return m


@njit(cache=True)
def build_forest(pts, pt_off, leaf_size):
    """Trees of all parts (points ``pt_off[p]:pt_off[p+1]`` of ``pts``), concatenated.

    Returns ``perm`` (forest-global index of the original point at each position), the reordered
    points, ``lo, hi, start, end, left, right`` (forest-global ids) and ``node_off``.
    """
    P = pt_off.shape[0] - 1
    n = pts.shape[0]
    leaf_size = max(1, leaf_size)
    cap = 0
    for p in range(P):
        cap += 2 * (pt_off[p + 1] - pt_off[p]) + 1
    idx = np.empty(n, np.int64)
    w = np.empty((n, 3))
    codes = np.empty(n, np.int64)
    tmp_i = np.empty(n, np.int64)
    tmp_c = np.empty(n, np.int64)
    lo = np.empty((cap, 3))
    hi = np.empty((cap, 3))
    start = np.empty(cap, np.int64)
    end = np.empty(cap, np.int64)
    left = np.empty(cap, np.int64)
    right = np.empty(cap, np.int64)
    st_node = np.empty(512, np.int64)
    node_off = np.empty(P + 1, np.int64)
    m = 0
    for p in range(P):
        node_off[p] = m
        _morton_sort(pts, pt_off[p], pt_off[p + 1], idx, w, codes, tmp_i, tmp_c)
        m = _build_into(pts, w, codes, pt_off[p], pt_off[p + 1], leaf_size, idx, lo, hi, start, end,
                        left, right, m, st_node)
    node_off[P] = m
    return (idx, w, lo[:m].copy(), hi[:m].copy(), start[:m].copy(), end[:m].copy(), left[:m].copy(),
            right[:m].copy(), node_off)


@njit(cache=True)
def fill_node_max(U, nmax, start, end, left, right, k0, k1):
    """``nmax[k] = max U[start[k]:end[k]]`` for nodes ``k0 <= k < k1`` (children after parents)."""
    for k in range(k1 - 1, k0 - 1, -1):
        if left[k] < 0:
            m = -np.inf
            for i in range(start[k], end[k]):
                if U[i] > m:
                    m = U[i]
            nmax[k] = m
        else:
            a = nmax[left[k]]
            b = nmax[right[k]]
            nmax[k] = a if a > b else b


@njit(cache=True)
def _gap(plo, phi, zl, zh):
    a = plo - zh
    b = zl - phi
    g = a if a > b else b
    return g if g > 0.0 else 0.0


@njit(cache=True)
def query_max(root, zl0, zl1, zl2, zh0, zh1, zh2, c0, c1, c2, thresh,
              lo, hi, start, end, left, right, pts, U, nmax, stk_node, stk_bound):
    """Best ``U(y) - sum_d c_d gap_d(y, Z)^2`` over the tree at node ``root``, if above ``thresh``.

    Returns ``(value, index, visits)``; ``index`` is the (forest-global) point index, ``-1`` when no
    point beats ``thresh`` (then ``value == thresh``). Candidates with ``U = -inf`` are never returned.
    """
    best = thresh
    best_i = -1
    visits = 0
    g0 = _gap(lo[root, 0], hi[root, 0], zl0, zh0)
    g1 = _gap(lo[root, 1], hi[root, 1], zl1, zh1)
    g2 = _gap(lo[root, 2], hi[root, 2], zl2, zh2)
    b = nmax[root] - (c0 * g0 * g0 + c1 * g1 * g1 + c2 * g2 * g2)
    if not (b > best):
        return best, best_i, 1
    stk_node[0] = root
    stk_bound[0] = b
    sp = 1
    while sp > 0:
        sp -= 1
        k = stk_node[sp]
        if not (stk_bound[sp] > best):
            continue
        visits += 1
        lk = left[k]
        if lk < 0:
            for i in range(start[k], end[k]):
                u = U[i]
                if not (u > best):
                    continue
                g0 = _gap(pts[i, 0], pts[i, 0], zl0, zh0)
                g1 = _gap(pts[i, 1], pts[i, 1], zl1, zh1)
                g2 = _gap(pts[i, 2], pts[i, 2], zl2, zh2)
                v = u - (c0 * g0 * g0 + c1 * g1 * g1 + c2 * g2 * g2)
                if v > best:
                    best = v
                    best_i = i
        else:
            rk = right[k]
            g0 = _gap(lo[lk, 0], hi[lk, 0], zl0, zh0)
            g1 = _gap(lo[lk, 1], hi[lk, 1], zl1, zh1)
            g2 = _gap(lo[lk, 2], hi[lk, 2], zl2, zh2)
            bl = nmax[lk] - (c0 * g0 * g0 + c1 * g1 * g1 + c2 * g2 * g2)
            g0 = _gap(lo[rk, 0], hi[rk, 0], zl0, zh0)
            g1 = _gap(lo[rk, 1], hi[rk, 1], zl1, zh1)
            g2 = _gap(lo[rk, 2], hi[rk, 2], zl2, zh2)
            br = nmax[rk] - (c0 * g0 * g0 + c1 * g1 * g1 + c2 * g2 * g2)
            # push the worse child first so that the better one is explored first
            if bl >= br:
                if br > best:
                    stk_node[sp] = rk
                    stk_bound[sp] = br
                    sp += 1
                if bl > best:
                    stk_node[sp] = lk
                    stk_bound[sp] = bl
                    sp += 1
            else:
                if bl > best:
                    stk_node[sp] = lk
                    stk_bound[sp] = bl
                    sp += 1
                if br > best:
                    stk_node[sp] = rk
                    stk_bound[sp] = br
                    sp += 1
    return best, best_i, visits


@njit(cache=True)
def permute_into(dst, src, perm, off):
    """``dst[off + t] = src[perm[t]]`` (scatter one part's unaries into forest order)."""
    for t in range(perm.shape[0]):
        dst[off + t] = src[perm[t]]


class Forest:
    """One k-d tree per part, concatenated (see the module docstring).

    Args:
        positions: list of ``P`` arrays ``(N_i, 3)``.
        leaf_size: bucket size.

    Attributes:
        pts: ``(sum N_i, 3)`` points in tree order; ``perm[pt_off[p] + t]`` is the original index.
        node_off, pt_off: ``(P + 1,)`` offsets.
    """

    def __init__(self, positions, leaf_size: int = LEAF_SIZE):
        sizes = [int(p.shape[0]) for p in positions]
        self.num_parts = len(sizes)
        self.pt_off = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        allpts = np.ascontiguousarray(np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1, 3)
                                                      for p in positions]))
        (gidx, self.pts, self.lo, self.hi, self.start, self.end, self.left, self.right,
         self.node_off) = build_forest(allpts, self.pt_off, int(leaf_size))
        part_of = np.repeat(np.arange(self.num_parts), sizes)
        self.perm = gidx - self.pt_off[part_of]  # original (per-part) candidate index
        self.num_points = int(self.pt_off[-1])
        self.num_nodes = int(self.node_off[-1])
        self.parent, self.bucket = tree_links(self.start, self.end, self.left, self.right, self.num_points)

    def empty_scores(self) -> tuple[np.ndarray, np.ndarray]:
        """Fresh ``(U, nmax)`` arrays in forest order, filled with ``-inf``."""
        return np.full(self.num_points, -np.inf), np.full(self.num_nodes, -np.inf)

    def set_part(self, U, nmax, p: int, unary: np.ndarray) -> None:
        """Write part ``p``'s unaries (original order) into ``U`` and refresh its node maxima."""
        permute_into(U, np.ascontiguousarray(unary, dtype=np.float64),
                     self.perm[self.pt_off[p]:self.pt_off[p + 1]], self.pt_off[p])
        fill_node_max(U, nmax, self.start, self.end, self.left, self.right,
                      self.node_off[p], self.node_off[p + 1])

    def scores(self, unaries) -> tuple[np.ndarray, np.ndarray]:
        """``(U, nmax)`` for a list of per-part unaries (original order)."""
        U, nmax = self.empty_scores()
        for p in range(self.num_parts):
            self.set_part(U, nmax, p, unaries[p])
        return U, nmax


@njit(cache=True)
def tree_links(start, end, left, right, num_points):
    """``parent`` per node (``-1`` for roots) and ``bucket`` (node id) per forest point."""
    m = left.shape[0]
    parent = np.full(m, -1, np.int64)
    bucket = np.empty(num_points, np.int64)
    for k in range(m):
        if left[k] >= 0:
            parent[left[k]] = k
            parent[right[k]] = k
        else:
            for t in range(start[k], end[k]):
                bucket[t] = k
    return parent, bucket


@njit(cache=True)
def set_points(U, nmax, points, values, parent, bucket, start, end, left, right):
    """Set ``U[points] = values`` and repair the node maxima on the paths to the root.

    Cost ``O(len(points) * (bucket size + depth))``; stops climbing when a maximum is unchanged.
    """
    for q in range(points.shape[0]):
        U[points[q]] = values[q]
    for q in range(points.shape[0]):
        k = bucket[points[q]]
        m = -np.inf
        for t in range(start[k], end[k]):
            if U[t] > m:
                m = U[t]
        if m == nmax[k]:
            continue
        nmax[k] = m
        k = parent[k]
        while k >= 0:
            a = nmax[left[k]]
            b = nmax[right[k]]
            v = a if a > b else b
            if v == nmax[k]:
                break
            nmax[k] = v
            k = parent[k]
