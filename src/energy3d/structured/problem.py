"""The structured pose problem: candidates, unary scores and quadratic pairwise terms on a part graph.

Kinauer et al., eqs. (2)-(3): a pose ``Phi`` picks one candidate per part and scores

    S(Phi) = sum_i U_i(phi_i) + sum_{(i, j) in E} P_ij(phi_i, phi_j),
    P_ij(phi_i, phi_j) = - sum_d c_{ij,d} (phi_{i,d} - phi_{j,d} - mu_{ij,d})^2 ,

so ``mu_ij`` is the expected displacement ``phi_i - phi_j`` (edge order matters: the edge ``(j, i)``
with ``-mu_ij`` is the same term) and ``c_ij > 0`` its per-axis precision. Everything here is
float64 numpy; torch tensors are accepted and converted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from energy3d.errors import InputError


def _to_numpy(x, name: str) -> np.ndarray:
    try:
        import torch

        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().double().numpy()
    except ImportError:  # pragma: no cover
        pass
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InputError(f"{name}: cannot convert to a float array ({e})") from None


def _split_parts(x, name: str, trailing: tuple[int, ...]) -> list[np.ndarray]:
    """Turn a list of per-part arrays or one stacked array into a list of float64 arrays."""
    if isinstance(x, (list, tuple)):
        return [_to_numpy(a, f"{name}[{i}]") for i, a in enumerate(x)]
    arr = _to_numpy(x, name)
    if arr.ndim != 1 + 1 + len(trailing):
        want = ", ".join(["P", "N"] + [str(t) for t in trailing])
        raise InputError(f"{name}: expected a list of per-part arrays or one array of shape ({want}), "
                         f"got shape {arr.shape}")
    return [arr[i] for i in range(arr.shape[0])]


@dataclass(frozen=True, eq=False)
class StructuredProblem:
    """One inference problem. Build it with :func:`make_problem` (which validates).

    Attributes:
        positions: per part ``i``, candidate 3D positions of shape ``(N_i, 3)`` (metres).
        unaries: per part ``i``, scores of shape ``(N_i,)``; ``-inf`` forbids a candidate.
        edges: ``(E, 2)`` int64 part pairs ``(i, j)``.
        c: ``(E, 3)`` positive per-axis weights ``c_ij``.
        mu: ``(E, 3)`` expected displacements ``phi_i - phi_j``.
        names: optional part names (for messages and printing).
    """

    positions: tuple[np.ndarray, ...]
    unaries: tuple[np.ndarray, ...]
    edges: np.ndarray
    c: np.ndarray
    mu: np.ndarray
    names: tuple[str, ...] | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def num_parts(self) -> int:
        return len(self.positions)

    @property
    def num_edges(self) -> int:
        return int(self.edges.shape[0])

    @property
    def sizes(self) -> tuple[int, ...]:
        """Candidate counts ``N_i``."""
        return tuple(int(p.shape[0]) for p in self.positions)

    def part_name(self, i: int) -> str:
        return self.names[i] if self.names is not None else f"part {i}"

    def with_unaries(self, unaries: Sequence) -> "StructuredProblem":
        """Same candidates and edges, new unaries (validated: shapes, no NaN or +inf)."""
        us = _check_unaries(_split_parts(unaries, "unaries", ()), self.sizes)
        return StructuredProblem(self.positions, tuple(us), self.edges, self.c, self.mu, self.names)

    def pose(self, config) -> np.ndarray:
        """Positions ``(..., P, 3)`` of configuration(s) ``config`` ``(..., P)``."""
        cfg = self._check_config(config)
        return np.stack([self.positions[i][cfg[..., i]] for i in range(self.num_parts)], axis=-2)

    def score(self, config) -> np.ndarray | float:
        """Score ``S(Phi)`` of configuration(s).

        Args:
            config: candidate index per part, ``(P,)`` or ``(B, P)`` integers.

        Returns:
            float for one configuration, ``(B,)`` array for a batch.
        """
        cfg = self._check_config(config)
        single = cfg.ndim == 1
        cfg2 = cfg.reshape(-1, self.num_parts)
        total = np.zeros(cfg2.shape[0])
        for i in range(self.num_parts):
            total += self.unaries[i][cfg2[:, i]]
        total += self.pairwise_scores(cfg2).sum(axis=1)
        return float(total[0]) if single else total

    def pairwise_scores(self, config) -> np.ndarray:
        """Per-edge pairwise scores ``(B, E)`` of configurations ``(B, P)``."""
        cfg2 = np.asarray(config).reshape(-1, self.num_parts)
        out = np.zeros((cfg2.shape[0], self.num_edges))
        for e, (i, j) in enumerate(self.edges):
            d = self.positions[i][cfg2[:, i]] - self.positions[j][cfg2[:, j]] - self.mu[e]
            out[:, e] = -(d * d * self.c[e]).sum(axis=1)
        return out

    def _check_config(self, config) -> np.ndarray:
        cfg = np.asarray(config)
        if cfg.ndim == 0 or cfg.shape[-1] != self.num_parts or not np.issubdtype(cfg.dtype, np.integer):
            raise InputError(f"config: expected integer array (..., {self.num_parts}), got "
                             f"{cfg.dtype} {cfg.shape}")
        sizes = np.asarray(self.sizes)
        if (cfg < 0).any() or (cfg >= sizes).any():
            bad = int(np.nonzero(((cfg < 0) | (cfg >= sizes)).reshape(-1, self.num_parts).any(0))[0][0])
            raise InputError(f"config: candidate index out of range for {self.part_name(bad)} "
                             f"({sizes[bad]} candidates)")
        return cfg.astype(np.int64)


def _check_unaries(us: list[np.ndarray], sizes: Sequence[int]) -> list[np.ndarray]:
    if len(us) != len(sizes):
        raise InputError(f"unaries: expected {len(sizes)} parts (one per position array), got {len(us)}")
    out = []
    for i, (u, n) in enumerate(zip(us, sizes)):
        if u.shape != (n,):
            raise InputError(f"unaries[{i}]: expected shape ({n},) to match positions[{i}] of shape "
                             f"({n}, 3), got {u.shape}")
        if np.isnan(u).any():
            raise InputError(f"unaries[{i}]: {int(np.isnan(u).sum())} NaN values")
        if np.isposinf(u).any():
            raise InputError(f"unaries[{i}]: +inf values (use finite scores; -inf forbids a candidate)")
        out.append(np.ascontiguousarray(u))
    return out


def _check_edges(edges, c, mu, num_parts: int):
    if hasattr(edges, "edges") and not isinstance(edges, np.ndarray):  # a PartGraph
        edges = edges.edges
    e = np.asarray(edges)
    if e.size == 0:
        e = e.reshape(0, 2)
    if e.ndim != 2 or e.shape[1] != 2 or not (np.issubdtype(e.dtype, np.integer) or e.size == 0):
        raise InputError(f"edges: expected integer array of shape (E, 2), got {e.dtype} {e.shape}")
    e = e.astype(np.int64)
    n_e = e.shape[0]
    bad = (e < 0) | (e >= num_parts)
    if bad.any():
        k = int(np.nonzero(bad.any(1))[0][0])
        raise InputError(f"edges[{k}] = {tuple(int(v) for v in e[k])} names a missing part: "
                         f"parts are 0..{num_parts - 1}")
    loops = e[:, 0] == e[:, 1]
    if loops.any():
        k = int(np.nonzero(loops)[0][0])
        raise InputError(f"edges[{k}] = {tuple(int(v) for v in e[k])} joins a part to itself")
    key = np.sort(e, axis=1)
    _, first, counts = np.unique(key, axis=0, return_index=True, return_counts=True)
    if (counts > 1).any():
        k = int(first[np.nonzero(counts > 1)[0][0]])
        raise InputError(f"edges: the pair {tuple(int(v) for v in e[k])} appears more than once "
                         "(merge duplicate edges into one quadratic term)")

    cc = _to_numpy(c, "c")
    if cc.ndim == 0 or cc.shape == (3,):
        cc = np.broadcast_to(cc, (n_e, 3))
    elif cc.shape == (n_e,):
        cc = np.repeat(cc[:, None], 3, axis=1)
    if cc.shape != (n_e, 3):
        raise InputError(f"c: expected shape ({n_e}, 3), ({n_e},), (3,) or a scalar, got {cc.shape}")
    if np.isnan(cc).any() or not (cc > 0).all() or np.isinf(cc).any():
        k = int(np.nonzero(~((cc > 0) & np.isfinite(cc)).all(1))[0][0])
        raise InputError(f"c: weights must be finite and positive (Kinauer et al. eq. 3), "
                         f"edge {k} has {cc[k].tolist()}")
    mm = _to_numpy(mu, "mu")
    if mm.ndim == 1 and mm.shape == (3,):
        mm = np.broadcast_to(mm, (n_e, 3))
    if mm.shape != (n_e, 3):
        raise InputError(f"mu: expected shape ({n_e}, 3), got {mm.shape}")
    if not np.isfinite(mm).all():
        raise InputError(f"mu: {int((~np.isfinite(mm)).sum())} non-finite values (NaN or inf)")
    return e, np.ascontiguousarray(cc, dtype=np.float64), np.ascontiguousarray(mm, dtype=np.float64)


def make_problem(positions, unaries, edges, c, mu, names: Sequence[str] | None = None) -> StructuredProblem:
    """Validate inputs and build a :class:`StructuredProblem`.

    Args:
        positions: list of ``P`` arrays ``(N_i, 3)``, or one array ``(P, N, 3)`` (numpy or torch).
        unaries: list of ``P`` arrays ``(N_i,)``, or one array ``(P, N)``. ``-inf`` is allowed (the
            candidate is forbidden); NaN and ``+inf`` are not.
        edges: ``(E, 2)`` integer part pairs, or a :class:`~energy3d.structured.graphs.PartGraph`.
        c: positive weights ``(E, 3)``; ``(E,)``, ``(3,)`` or a scalar are broadcast.
        mu: expected displacements ``phi_i - phi_j``, ``(E, 3)`` (or ``(3,)``, broadcast).
        names: optional part names.

    Returns:
        The validated problem (float64, contiguous).

    Raises:
        InputError: empty candidate set, shape mismatch, NaN/inf positions, NaN or ``+inf`` unaries,
            an edge naming a missing part (or a self-loop or duplicate edge), non-positive ``c``.

    Example:
        >>> import numpy as np
        >>> pos = [np.zeros((2, 3)), np.array([[0.0, 0, 0], [1.0, 0, 0]])]
        >>> prob = make_problem(pos, [np.zeros(2), np.array([0.0, 0.5])], [(0, 1)], 1.0, [-1.0, 0, 0])
        >>> prob.score([0, 1])
        0.5
    """
    ps = _split_parts(positions, "positions", (3,))
    if len(ps) == 0:
        raise InputError("positions: at least one part is needed")
    for i, p in enumerate(ps):
        if p.ndim != 2 or p.shape[1] != 3:
            raise InputError(f"positions[{i}]: expected shape (N, 3), got {p.shape}")
        if p.shape[0] == 0:
            raise InputError(f"positions[{i}]: empty candidate set (every part needs at least one candidate)")
        if not np.isfinite(p).all():
            raise InputError(f"positions[{i}]: {int((~np.isfinite(p)).sum())} non-finite values (NaN or inf)")
    ps = [np.ascontiguousarray(p) for p in ps]
    us = _check_unaries(_split_parts(unaries, "unaries", ()), [p.shape[0] for p in ps])
    e, cc, mm = _check_edges(edges, c, mu, len(ps))
    if names is not None:
        names = tuple(str(n) for n in names)
        if len(names) != len(ps):
            raise InputError(f"names: expected {len(ps)} part names, got {len(names)}")
    return StructuredProblem(tuple(ps), tuple(us), e, cc, mm, names)


@dataclass(frozen=True)
class Solution:
    """A configuration and its score, with the solver's info dataclass.

    Attributes:
        config: ``(P,)`` int64 candidate index per part.
        score: ``S(config)`` (``-inf`` when every configuration is forbidden).
        pose: ``(P, 3)`` positions of the chosen candidates.
        info: solver-specific info (e.g. :class:`~energy3d.structured.bnb.BnBInfo`).
    """

    config: np.ndarray
    score: float
    pose: np.ndarray
    info: Any = None


def _solution(problem: StructuredProblem, config, info=None, score: float | None = None) -> Solution:
    cfg = np.asarray(config, dtype=np.int64)
    s = problem.score(cfg) if score is None else float(score)
    return Solution(cfg, s, problem.pose(cfg), info)


def score_torch(positions, unaries, edges, c, mu, config):
    """Differentiable score ``S(Phi)`` of fixed configurations, in torch (for structured-SVM training).

    Gradients flow into ``unaries``, ``positions`` (e.g. regressed residuals), ``c`` and ``mu``; the
    configuration itself is discrete (found by a solver of this module).

    Args:
        positions: ``(P, N, 3)`` tensor (all parts with the same candidate count ``N``).
        unaries: ``(P, N)`` tensor.
        edges: ``(E, 2)`` integer part pairs (or a PartGraph).
        c: ``(E, 3)`` positive tensor.
        mu: ``(E, 3)`` tensor.
        config: ``(..., P)`` integer tensor or array.

    Returns:
        ``(...)`` tensor of scores.
    """
    import torch

    if hasattr(edges, "edges") and not isinstance(edges, (np.ndarray, torch.Tensor)):
        edges = edges.edges
    e = torch.as_tensor(np.asarray(edges, dtype=np.int64).reshape(-1, 2))
    cfg = torch.as_tensor(np.asarray(config, dtype=np.int64)) if not isinstance(config, torch.Tensor) else config.long()
    num_parts = positions.shape[0]
    if positions.dim() != 3 or positions.shape[2] != 3 or unaries.shape != positions.shape[:2]:
        raise InputError(f"score_torch: expected positions (P, N, 3) and unaries (P, N), got "
                         f"{tuple(positions.shape)} and {tuple(unaries.shape)}")
    if cfg.shape[-1] != num_parts:
        raise InputError(f"config: expected (..., {num_parts}), got {tuple(cfg.shape)}")
    parts = torch.arange(num_parts)
    u = unaries[parts, cfg].sum(-1)
    pos = positions[parts, cfg]  # (..., P, 3)
    d = pos[..., e[:, 0], :] - pos[..., e[:, 1], :] - mu
    return u - (c * d * d).sum((-1, -2))
