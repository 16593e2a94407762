"""Reference solvers: exact dynamic programming on trees and exhaustive search.

They exist to check the fast solvers. Dynamic programming passes max-product messages from the
leaves of the tree to its root; the message over edge ``(parent a, child b)`` is

    msg_b(x_a) = max_y [V_b(y) - sum_d c_d ((x_a - m) - y)_d^2],   V_b = U_b + sum of b's messages,

evaluated for every pair of candidates: ``O(N_a N_b)`` per edge, vectorised in torch (float64,
chunked to bound memory) or as a plain numba loop.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from numba import njit

from energy3d.errors import InputError
from energy3d.structured.graphs import bfs_order
from energy3d.structured.problem import Solution, StructuredProblem, _solution


@dataclass(frozen=True)
class ReferenceInfo:
    """Info of a reference solve: method name, wall time and the number of candidate pairs or configurations scored."""

    method: str
    time_s: float
    evaluations: int


def _shift(problem: StructuredProblem, k: int, a: int) -> np.ndarray:
    """``m`` such that edge ``k``'s term is ``-sum c ((x_a - m) - y_b)^2`` with ``a`` the given endpoint."""
    return problem.mu[k] if int(problem.edges[k, 0]) == a else -problem.mu[k]


def _message_torch(xa: np.ndarray, m: np.ndarray, c: np.ndarray, yb: np.ndarray, vb: np.ndarray,
                   chunk_elems: int) -> tuple[np.ndarray, np.ndarray]:
    z = torch.from_numpy(xa - m)
    y = torch.from_numpy(yb)
    v = torch.from_numpy(vb)
    na, nb = z.shape[0], y.shape[0]
    out = torch.empty(na, dtype=torch.float64)
    arg = torch.empty(na, dtype=torch.int64)
    step = max(1, chunk_elems // max(nb, 1))
    buf = torch.empty(min(step, na), nb, dtype=torch.float64)
    tmp = torch.empty_like(buf)
    for s in range(0, na, step):
        e = min(na, s + step)
        b = buf[: e - s]
        t = tmp[: e - s]
        torch.sub(z[s:e, 0:1], y[:, 0], out=b)
        b.square_().mul_(float(c[0]))
        for d in (1, 2):
            torch.sub(z[s:e, d:d + 1], y[:, d], out=t)
            t.square_().mul_(float(c[d]))
            b.add_(t)
        torch.sub(v, b, out=b)
        mx, am = b.max(dim=1)
        out[s:e] = mx
        arg[s:e] = am
    return out.numpy(), arg.numpy()


@njit(cache=True)
def _message_numba(z, c, y, v):
    na = z.shape[0]
    nb = y.shape[0]
    out = np.full(na, -np.inf)
    arg = np.zeros(na, np.int64)
    for a in range(na):
        best = -np.inf
        bi = 0
        z0 = z[a, 0]
        z1 = z[a, 1]
        z2 = z[a, 2]
        for b in range(nb):
            d0 = z0 - y[b, 0]
            d1 = z1 - y[b, 1]
            d2 = z2 - y[b, 2]
            val = v[b] - (c[0] * d0 * d0 + c[1] * d1 * d1 + c[2] * d2 * d2)
            if val > best:
                best = val
                bi = b
        out[a] = best
        arg[a] = bi
    return out, arg


def solve_tree_dp(problem: StructuredProblem, root: int = 0, backend: str = "numba",
                  chunk_elems: int = 1 << 22) -> Solution:
    """Exact optimum on a tree or forest by dynamic programming over all candidate pairs.

    Args:
        problem: problem whose edges form a forest.
        root: root of the component that holds it (others are rooted at their lowest part).
        backend: ``"numba"`` (a compiled double loop, one thread) or ``"torch"`` (vectorised over
            candidate pairs in chunks, float64, torch's threads).
        chunk_elems: torch working-buffer size in elements.

    Returns:
        :class:`Solution` with :class:`ReferenceInfo` (``evaluations`` = candidate pairs scored).

    Raises:
        InputError: if the graph has a cycle or the backend is unknown.
    """
    if backend not in ("torch", "numba"):
        raise InputError(f"backend must be 'torch' or 'numba', got {backend!r}")
    t0 = time.perf_counter()
    order, parent, pedge = bfs_order(problem.edges, problem.num_parts, root)
    acc = [u.copy() for u in problem.unaries]
    arg: list[np.ndarray | None] = [None] * problem.num_parts
    pairs = 0
    for b in reversed(order):
        a = parent[b]
        if a < 0:
            continue
        k = pedge[b]
        m = _shift(problem, k, a)
        xa, yb = problem.positions[a], problem.positions[b]
        if backend == "torch":
            msg, am = _message_torch(xa, m, problem.c[k], yb, acc[b], chunk_elems)
        else:
            msg, am = _message_numba(np.ascontiguousarray(xa - m), problem.c[k], yb, acc[b])
        pairs += xa.shape[0] * yb.shape[0]
        acc[a] = acc[a] + msg
        arg[b] = am
    config = np.zeros(problem.num_parts, dtype=np.int64)
    for b in order:
        a = parent[b]
        config[b] = int(np.argmax(acc[b])) if a < 0 else int(arg[b][config[a]])
    return _solution(problem, config, ReferenceInfo(f"tree_dp_{backend}", time.perf_counter() - t0, pairs))


def solve_star_dp(problem: StructuredProblem, backend: str = "numba") -> Solution:
    """Brute force on a star: dynamic programming rooted at the star's center (all pairs scored)."""
    from energy3d.structured.graphs import is_star

    r = is_star(problem.edges, problem.num_parts)
    return solve_tree_dp(problem, root=0 if r is None else r, backend=backend)


def num_configurations(problem: StructuredProblem) -> int:
    """``prod_i N_i`` (Python int, no overflow)."""
    n = 1
    for s in problem.sizes:
        n *= s
    return n


def all_scores(problem: StructuredProblem, max_configs: int = 2_000_000) -> tuple[np.ndarray, np.ndarray]:
    """Every configuration and its score, in C order of the candidate indices.

    Returns:
        ``configs (K, P)`` int64 and ``scores (K,)`` with ``K = prod N_i``.

    Raises:
        InputError: if there are more than ``max_configs`` configurations.
    """
    total = num_configurations(problem)
    if total > max_configs:
        raise InputError(f"exhaustive search: {total} configurations exceed the limit of {max_configs}")
    idx = np.arange(total, dtype=np.int64)
    configs = np.stack(np.unravel_index(idx, problem.sizes), axis=1).astype(np.int64)
    return configs, problem.score(configs)


def solve_exhaustive(problem: StructuredProblem, max_configs: int = 2_000_000, chunk: int = 200_000) -> Solution:
    """Exact optimum of any (tiny) graph by scoring every configuration.

    Args:
        problem: any problem with at most ``max_configs`` configurations.
        max_configs: refuse larger problems.
        chunk: configurations scored at once.

    Returns:
        :class:`Solution` (first maximiser in C order) with :class:`ReferenceInfo`.

    Raises:
        InputError: if the problem has more than ``max_configs`` configurations.
    """
    t0 = time.perf_counter()
    total = num_configurations(problem)
    if total > max_configs:
        raise InputError(f"exhaustive search: {total} configurations exceed the limit of {max_configs}")
    best, best_cfg = -np.inf, np.zeros(problem.num_parts, dtype=np.int64)
    for s in range(0, total, chunk):
        idx = np.arange(s, min(total, s + chunk), dtype=np.int64)
        cfg = np.stack(np.unravel_index(idx, problem.sizes), axis=1).astype(np.int64)
        sc = problem.score(cfg)
        k = int(np.argmax(sc))
        if sc[k] > best:
            best, best_cfg = float(sc[k]), cfg[k]
    return _solution(problem, best_cfg, ReferenceInfo("exhaustive", time.perf_counter() - t0, total))
