"""ADMM over star slaves for loopy part graphs (Kinauer et al. §2.3, eqs. 4-8).

The graph is split into stars (:func:`~energy3d.structured.graphs.star_decomposition`); part ``r``
lies in ``K_r`` stars and each copy gets ``U_r / K_r``, so that the star scores add up to ``S(Phi)``
on a common solution (eq. 4). For every part ``r`` shared by several stars ADMM keeps a consensus
``u(r)`` and per-copy multipliers ``lambda_s(r)``, and iterates

* slaves (eq. 6): ``argmax S_s(Phi_s) + sum_r <lambda_s(r), Phi_s(r)> - rho/2 ||Phi_s(r) - u(r)||^2``:
  both extra terms depend on one part's label only, so they are folded into that part's unary
  scores and the star is solved exactly by branch-and-bound (:mod:`.bnb`);
* master (eq. 7): ``u(r)`` = the average of the copies (the multipliers of a part sum to zero);
* multipliers (eq. 8): ``lambda_s(r) -= rho (Phi_s(r) - u(r))``.

Two choices of what ``Phi_s(r)`` is (``ADMMConfig.consensus``):

``"marginal"`` (default)
    ``Phi_s(r)`` is the indicator vector of the chosen candidate (a vertex of the simplex over the
    part's ``N_r`` candidates), so ``lambda`` and ``u`` are vectors over candidates. This is ADMM on
    the local-polytope LP relaxation (AD3, Martins et al., JMLR 2015): the slave step is a small
    quadratic program over convex combinations of star configurations, solved by an active-set
    method that calls branch-and-bound as its vertex oracle with ``lambda + rho (u - mu_s)`` folded
    into the unaries (at most ``max_oracle`` calls per slave and iteration). Only candidates some
    slave ever picked carry non-zero ``lambda``, ``u``, ``mu``, so folding costs ``O(support * depth)``.
    ``rho`` adapts by residual balancing (Boyd et al. 2011, §3.4.1). Every ``bound_every`` iterations
    (and whenever the slaves agree) the Lagrangian dual ``sum_s max_z [S_s(z) + <lambda_s, z>]`` (one
    branch-and-bound per star) gives an upper bound on the optimum; ADMM stops as soon as the best
    decoded pose reaches it (**certified optimal**). On trees the relaxation is tight, so ADMM
    returns the certified optimum at convergence (when the optimum is unique); on loopy graphs it
    does whenever the relaxation is tight, and otherwise returns the best decoded pose with the
    bound (``info.gap_bound``).

``"position"`` (the paper's formulation)
    ``Phi_s(r)`` is the candidate's 3D position, ``lambda``, ``u`` are 3-vectors and the folded terms
    are ``<lambda, x> - rho/2 ||x - u||^2`` (dense, every candidate). ``rho`` grows geometrically,
    which forces agreement (eventually every copy picks the candidate nearest ``u(r)``). The
    consensus only constrains the mean position of each shared part, so agreement does not certify
    optimality and the dual bound is weak: an approximation, also on trees.

Decoding: each iteration the slaves' (modal) solutions are combined into a pose: agreeing copies
give a common solution; otherwise each shared part takes the consensus' best candidate (marginal)
or the copy's candidate nearest ``u(r)`` (position). The best decoded pose is kept and, unless it
is certified, improved by :func:`polish` (exact block coordinate ascent; never lowers ``S``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from energy3d.errors import InputError
from energy3d.structured._admm_kernel import admm_marginal_kernel
from energy3d.structured._kdtree import Forest, fill_node_max
from energy3d.structured.bnb import star_bnb_kernel, star_offsets
from energy3d.structured.graphs import Star, star_decomposition
from energy3d.structured.problem import Solution, StructuredProblem, _solution

_DEFAULTS = {"marginal": (0.5, 2.0), "position": (0.05, 1.3)}


@dataclass(frozen=True)
class ADMMConfig:
    """Settings of :func:`solve_admm`.

    Attributes:
        consensus: ``"marginal"`` (indicator vectors, AD3-style, certifies optimality) or
            ``"position"`` (3D positions as in Kinauer et al. eq. 5).
        max_iter: iteration limit.
        rho0: initial ``rho``; ``None`` picks ``rho_scale`` times a problem scale: the per-part score of
            the unconstrained slave optima (marginal) or ``median(c)`` (position, score per m^2).
        rho_scale: see ``rho0`` (default 0.5 for marginal, 0.05 for position).
        rho_growth: marginal: residual-balancing factor (default 2); position: ``rho`` is multiplied
            by it after every iteration without agreement (default 1.3).
        max_oracle: marginal: branch-and-bound calls per slave and iteration (inexact slave QPs are
            fine for ADMM; the certificate does not depend on them).
        bound_every: marginal: compute the dual bound every this many iterations.
        tol: relative tolerance of the optimality certificate.
        patience: position: stop after this many iterations without a better decoded pose.
        polish: improve an uncertified pose by :func:`polish` (never lowers the score).
        bound: position: also compute the (weak) Lagrangian bound at the end; marginal: always.
        max_pool: marginal: vertices kept per slave.
        leaf_size: KD-tree bucket size.
    """

    consensus: str = "marginal"
    max_iter: int = 100
    rho0: float | None = None
    rho_scale: float | None = None
    rho_growth: float | None = None
    max_oracle: int = 3
    bound_every: int = 1
    tol: float = 1e-9
    patience: int = 10
    polish: bool = True
    bound: bool = False
    max_pool: int = 32
    leaf_size: int = 16

    def __post_init__(self):
        if self.consensus not in _DEFAULTS:
            raise InputError(f"consensus must be 'marginal' or 'position', got {self.consensus!r}")
        if self.max_iter < 1 or self.max_oracle < 1 or self.bound_every < 1 or self.max_pool < 2:
            raise InputError("max_iter, max_oracle and bound_every must be >= 1 and max_pool >= 2")
        if self.rho0 is not None and not self.rho0 > 0:
            raise InputError(f"rho0 must be positive, got {self.rho0}")
        if self.rho_scale is not None and not self.rho_scale > 0:
            raise InputError(f"rho_scale must be positive, got {self.rho_scale}")
        if self.rho_growth is not None and not self.rho_growth >= 1.0:
            raise InputError(f"rho_growth must be >= 1, got {self.rho_growth}")
        if self.leaf_size < 1:
            raise InputError(f"leaf_size must be >= 1, got {self.leaf_size}")

    @property
    def scale(self) -> float:
        return _DEFAULTS[self.consensus][0] if self.rho_scale is None else float(self.rho_scale)

    @property
    def growth(self) -> float:
        return _DEFAULTS[self.consensus][1] if self.rho_growth is None else float(self.rho_growth)


@dataclass(frozen=True)
class ADMMInfo:
    """Result statistics of :func:`solve_admm` (theseus-style info).

    Attributes:
        iterations: ADMM iterations run.
        objective: ``S`` of the returned pose.
        objective_admm: ``S`` of the best pose decoded during the iterations (before polishing).
        primal_residual: ``sqrt(sum_s,r ||Phi_s(r) - u(r)||^2)`` at the last iteration (metres for the
            position consensus, probability mass for the marginal one).
        dual_residual: ``rho * sqrt(sum_r K_r ||u_t(r) - u_{t-1}(r)||^2)`` at the last iteration.
        agreed: all slaves agreed (on every shared part) at the last iteration.
        agreement_rate: fraction of shared parts whose copies all agree at the last iteration.
        decoded: ``"certified"`` (equals the dual bound: optimal), ``"agreement"`` (a common slave
            solution) or ``"rounded"``.
        rho: final ``rho``.
        upper_bound: Lagrangian dual bound on the optimum (marginal; position with ``bound=True``).
        num_slaves: number of stars.
        num_shared: number of shared parts.
        star_solves: branch-and-bound calls.
        time_s: wall time (including tree building).
        objective_history: decoded objective per iteration.
        primal_history: primal residual per iteration.
    """

    iterations: int
    objective: float
    objective_admm: float
    primal_residual: float
    dual_residual: float
    agreed: bool
    agreement_rate: float
    decoded: str
    rho: float
    upper_bound: float | None
    num_slaves: int
    num_shared: int
    star_solves: int
    time_s: float
    objective_history: tuple[float, ...] = field(default=(), repr=False)
    primal_history: tuple[float, ...] = field(default=(), repr=False)

    @property
    def gap_bound(self) -> float | None:
        """``upper_bound - objective`` (an upper bound on the suboptimality), if the bound was computed."""
        return None if self.upper_bound is None else self.upper_bound - self.objective


@njit(cache=True)
def _fold(U, base, pts, p0, p1, inv_k, l0, l1, l2, u0, u1, u2, half_rho, shared):
    """``U[t] = base[t] * inv_k (+ <lambda, x_t> - rho/2 ||x_t - u||^2 if shared)`` for points p0:p1."""
    for t in range(p0, p1):
        b = base[t]
        if not (b > -np.inf):
            U[t] = -np.inf
            continue
        v = b * inv_k
        if shared:
            x0 = pts[t, 0]
            x1 = pts[t, 1]
            x2 = pts[t, 2]
            d0 = x0 - u0
            d1 = x1 - u1
            d2 = x2 - u2
            v += l0 * x0 + l1 * x1 + l2 * x2 - half_rho * (d0 * d0 + d1 * d1 + d2 * d2)
        U[t] = v


class _Slaves:
    """Star slaves sharing one forest; each slave owns forest-order score arrays."""

    def __init__(self, problem: StructuredProblem, stars: list[Star], forest: Forest):
        self.problem, self.stars, self.forest = problem, stars, forest
        P = problem.num_parts
        self.copies: list[list[tuple[int, int]]] = [[] for _ in range(P)]  # part -> [(slave, slot)]
        self.star_data = []
        for s, st in enumerate(stars):
            leaves, m, cw = star_offsets(problem, st.center, st.edge_ids)
            parts = [st.center] + [int(v) for v in leaves]
            for slot, p in enumerate(parts):
                self.copies[p].append((s, slot))
            self.star_data.append((st.center, leaves, m, cw, parts))
        self.k = np.array([max(1, len(c)) for c in self.copies], dtype=np.float64)
        self.shared = [p for p in range(P) if len(self.copies[p]) > 1]
        self.base, _ = forest.scores(problem.unaries)
        self.U = [forest.empty_scores()[0] for _ in stars]
        self.nmax = [forest.empty_scores()[1] for _ in stars]

    def fold(self, s: int, lam: np.ndarray, u: np.ndarray, rho: float, use_shared: bool = True,
             half_rho: float | None = None) -> None:
        f = self.forest
        root, leaves, m, cw, parts = self.star_data[s]
        for slot, p in enumerate(parts):
            p0, p1 = f.pt_off[p], f.pt_off[p + 1]
            sh = use_shared and len(self.copies[p]) > 1
            lv = lam[s, slot]
            up = u[p]
            _fold(self.U[s], self.base, f.pts, p0, p1, 1.0 / self.k[p], lv[0], lv[1], lv[2],
                  up[0], up[1], up[2], 0.5 * rho if half_rho is None else half_rho, sh)
            fill_node_max(self.U[s], self.nmax[s], f.start, f.end, f.left, f.right, f.node_off[p], f.node_off[p + 1])

    def solve(self, s: int):
        """Exact slave optimum: ``(value, forest point per slot)``."""
        f = self.forest
        root, leaves, m, cw, parts = self.star_data[s]
        val, ir, il, _ = star_bnb_kernel(root, leaves, m, cw, f.node_off, f.lo, f.hi, f.start, f.end,
                                         f.left, f.right, f.pts, self.U[s], self.nmax[s])
        if ir < 0:
            return val, None
        return val, np.concatenate([[ir], il]).astype(np.int64)


def _decode(problem: StructuredProblem, forest: Forest, sl: _Slaves, picks, u) -> tuple[np.ndarray, bool, float]:
    """Pose from the slaves' picks: a common solution if all copies agree, else rounded.

    Returns ``(config, agreed, agreement_rate)``.
    """
    P = problem.num_parts
    config = np.zeros(P, dtype=np.int64)
    agree_count = 0
    for p in range(P):
        cps = sl.copies[p]
        if not cps:
            seg = sl.base[forest.pt_off[p]:forest.pt_off[p + 1]]
            config[p] = forest.perm[forest.pt_off[p] + int(np.argmax(seg))]
            continue
        pts = [picks[s][slot] for s, slot in cps]
        if len(cps) > 1 and all(q == pts[0] for q in pts):
            agree_count += 1
        if len(cps) == 1 or all(q == pts[0] for q in pts):
            config[p] = forest.perm[pts[0]]
        else:
            d = [float(((forest.pts[q] - u[p]) ** 2).sum()) for q in pts]
            config[p] = forest.perm[pts[int(np.argmin(d))]]
    ns = len(sl.shared)
    rate = 1.0 if ns == 0 else agree_count / ns
    return config, agree_count == ns, rate


def _edge_terms(problem: StructuredProblem):
    """Per part, list of (edge id, other part, sign) with sign +1 if the part is the edge's first end."""
    inc = [[] for _ in range(problem.num_parts)]
    for e, (i, j) in enumerate(problem.edges):
        inc[int(i)].append((e, int(j), 1.0))
        inc[int(j)].append((e, int(i), -1.0))
    return inc


def _conditional_unary(problem, inc, p, config, exclude=()) -> np.ndarray:
    """``U_p(x) + sum`` of pairwise terms to fixed neighbours (edges in ``exclude`` skipped)."""
    x = problem.positions[p]
    val = problem.unaries[p].copy()
    for e, q, sgn in inc[p]:
        if e in exclude:
            continue
        y = problem.positions[q][config[q]]
        d = sgn * (x - y) - problem.mu[e]
        val -= (d * d * problem.c[e]).sum(axis=1)
    return val


def polish(problem: StructuredProblem, config, stars: list[Star] | None = None, forest: Forest | None = None,
           max_sweeps: int = 20) -> np.ndarray:
    """Exact block coordinate ascent from ``config``: never lowers ``S``.

    Each star whose parts are joined only by its own edges is re-solved exactly by branch-and-bound
    with every other part fixed (their edges become unary terms); then each single part is set to its
    best candidate given its neighbours. Sweeps repeat until nothing improves.

    Args:
        problem: the problem.
        config: ``(P,)`` starting configuration.
        stars: star blocks (default: the greedy star decomposition).
        forest: KD-trees of the candidates (built when omitted).
        max_sweeps: sweep limit.

    Returns:
        ``(P,)`` improved configuration.
    """
    cfg = np.asarray(config, dtype=np.int64).copy()
    stars = star_decomposition(problem.edges, problem.num_parts) if stars is None else stars
    inc = _edge_terms(problem)
    blocks = []
    for st in stars:
        parts = set(st.parts)
        own = set(st.edge_ids)
        ok = all(e in own for e, (i, j) in enumerate(problem.edges) if int(i) in parts and int(j) in parts)
        if ok and len(st.leaves) > 0:
            blocks.append(st)
    if blocks and forest is None:
        forest = Forest(problem.positions)
    best = problem.score(cfg)
    for _ in range(max_sweeps):
        improved = False
        for st in blocks:
            own = set(st.edge_ids)
            leaves, m, cw = star_offsets(problem, st.center, st.edge_ids)
            U, nmax = forest.empty_scores()
            for p in st.parts:
                forest.set_part(U, nmax, p, _conditional_unary(problem, inc, p, cfg, exclude=own))
            val, ir, il, _ = star_bnb_kernel(st.center, leaves, m, cw, forest.node_off, forest.lo, forest.hi,
                                             forest.start, forest.end, forest.left, forest.right, forest.pts,
                                             U, nmax)
            if ir < 0:
                continue
            new = cfg.copy()
            new[st.center] = forest.perm[ir]
            new[leaves] = forest.perm[il]
            sc = problem.score(new)
            if sc > best + 1e-12 * (1 + abs(best)):
                cfg, best, improved = new, sc, True
        for p in range(problem.num_parts):
            v = _conditional_unary(problem, inc, p, cfg)
            k = int(np.argmax(v))
            if k != cfg[p]:
                new = cfg.copy()
                new[p] = k
                sc = problem.score(new)
                if sc > best + 1e-12 * (1 + abs(best)):
                    cfg, best, improved = new, sc, True
        if not improved:
            break
    return cfg


def solve_admm(problem: StructuredProblem, config: ADMMConfig | None = None, *,
               stars: list[Star] | None = None, forest: Forest | None = None, **overrides) -> Solution:
    """MAP on any part graph by ADMM over star slaves (Kinauer et al. eqs. 4-8; see the module docs).

    With the default marginal consensus the result is certified optimal when
    ``info.decoded == "certified"``; otherwise ``info.gap_bound`` bounds its suboptimality.

    Args:
        problem: any problem (loopy graphs included).
        config: :class:`ADMMConfig`; keyword ``overrides`` replace its fields.
        stars: a star decomposition to use (default: greedy :func:`star_decomposition`).
        forest: prebuilt KD-trees of the candidates (reuse across calls with the same positions).

    Returns:
        :class:`Solution` with an :class:`ADMMInfo`.

    Raises:
        InputError: bad settings, or ``stars`` that do not cover every edge exactly once.

    Example:
        >>> from energy3d.structured.random import realistic_problem
        >>> sol = solve_admm(realistic_problem("two_hop", grid=6, seed=0), max_iter=30)
        >>> sol.info.iterations <= 30
        True
    """
    cfg = config or ADMMConfig()
    if overrides:
        from dataclasses import replace

        try:
            cfg = replace(cfg, **overrides)
        except TypeError as e:
            raise InputError(f"solve_admm: {e}") from None
    t0 = time.perf_counter()
    P = problem.num_parts
    stars = star_decomposition(problem.edges, P) if stars is None else stars
    covered = sorted(e for st in stars for e in st.edge_ids)
    if covered != list(range(problem.num_edges)):
        raise InputError("solve_admm: the stars must cover every edge exactly once")
    forest = Forest(problem.positions, cfg.leaf_size) if forest is None else forest
    if cfg.consensus == "marginal":
        return _solve_admm_marginal(problem, cfg, stars, forest, t0)
    sl = _Slaves(problem, stars, forest)
    S = len(stars)
    max_slots = max((len(st.leaves) + 1 for st in stars), default=1)
    lam = np.zeros((S, max_slots, 3))
    u = np.zeros((P, 3))
    rho = cfg.rho0 if cfg.rho0 is not None else cfg.scale * float(np.median(problem.c)) if problem.num_edges else 1.0
    best_cfg, best_val, best_kind, best_it = None, -np.inf, "rounded", 0
    hist_obj, hist_pr = [], []
    pr = dr = 0.0
    agreed, rate, it = False, 1.0, 0
    solves = 0
    for it in range(1, cfg.max_iter + 1):
        picks = []
        for s in range(S):
            sl.fold(s, lam, u, rho, use_shared=it > 1)
            val, pk = sl.solve(s)
            solves += 1
            if pk is None:  # every configuration of this star is forbidden
                decoded = _solution(problem, np.zeros(P, dtype=np.int64))
                info = ADMMInfo(it, -np.inf, -np.inf, 0.0, 0.0, False, 0.0, "rounded", rho, None, S,
                                len(sl.shared), solves, time.perf_counter() - t0)
                return Solution(decoded.config, -np.inf, decoded.pose, info)
            picks.append(pk)
        # master: average shared parts; multipliers
        u_old = u.copy()
        pr2 = 0.0
        for p in sl.shared:
            xs = np.stack([forest.pts[picks[s][slot]] for s, slot in sl.copies[p]])
            ls = np.stack([lam[s, slot] for s, slot in sl.copies[p]])
            u[p] = xs.mean(0) - ls.mean(0) / rho
            for (s, slot), x in zip(sl.copies[p], xs):
                lam[s, slot] -= rho * (x - u[p])
                pr2 += float(((x - u[p]) ** 2).sum())
        pr = pr2 ** 0.5
        dr = rho * float(sum(sl.k[p] * ((u[p] - u_old[p]) ** 2).sum() for p in sl.shared)) ** 0.5
        config_t, agreed, rate = _decode(problem, forest, sl, picks, u)
        val = problem.score(config_t)
        hist_obj.append(val)
        hist_pr.append(pr)
        if val > best_val or best_cfg is None:
            best_cfg, best_val, best_kind, best_it = config_t, val, "agreement" if agreed else "rounded", it
        if agreed or it - best_it >= cfg.patience:
            break
        rho *= cfg.growth
    admm_val = best_val
    if cfg.polish:
        best_cfg = polish(problem, best_cfg, stars, forest)
    ub = None
    if cfg.bound:
        ub = 0.0
        for s in range(S):
            sl.fold(s, lam, u, rho, use_shared=True, half_rho=0.0)
            v, _ = sl.solve(s)
            solves += 1
            ub += v
        # unshared parts outside every star contribute their best unary
        for p in range(P):
            if not sl.copies[p]:
                ub += float(np.max(problem.unaries[p]))
    sol = _solution(problem, best_cfg)
    info = ADMMInfo(it, sol.score, admm_val, pr, dr, agreed, rate, best_kind, rho, ub, S, len(sl.shared),
                    solves, time.perf_counter() - t0, tuple(hist_obj), tuple(hist_pr))
    return Solution(sol.config, sol.score, sol.pose, info)


# ----------------------------------------------------------------------------------------------
# ADMM with marginal (indicator) consensus: AD3-style, exact on trees at convergence
# ----------------------------------------------------------------------------------------------


def _marginal_arrays(problem: StructuredProblem, stars: list[Star], forest: Forest):
    """Flat arrays describing the slaves and the shared-part copies (see :mod:`._admm_kernel`)."""
    P, S = problem.num_parts, len(stars)
    lmax = max((len(st.leaves) for st in stars), default=0)
    s_root = np.zeros(S, dtype=np.int64)
    s_nl = np.zeros(S, dtype=np.int64)
    s_leaf = np.zeros((S, max(lmax, 1)), dtype=np.int64)
    s_m = np.zeros((S, max(lmax, 1), 3))
    s_cw = np.zeros((S, max(lmax, 1), 3))
    count = np.zeros(P, dtype=np.int64)
    for s, st in enumerate(stars):
        leaves, m, cw = star_offsets(problem, st.center, st.edge_ids)
        s_root[s], s_nl[s] = st.center, len(leaves)
        s_leaf[s, :len(leaves)], s_m[s, :len(leaves)], s_cw[s, :len(leaves)] = leaves, m, cw
        count[st.center] += 1
        count[leaves] += 1
    kpart = np.maximum(count, 1).astype(np.float64)
    slot_copy = np.full((S, max(lmax, 1) + 1), -1, dtype=np.int64)
    copy_part, copy_off = [], [0]
    sizes = np.diff(forest.pt_off)
    for s, st in enumerate(stars):
        for k, p in enumerate((st.center,) + tuple(s_leaf[s, :s_nl[s]])):
            if count[p] > 1:
                slot_copy[s, k] = len(copy_part)
                copy_part.append(int(p))
                copy_off.append(copy_off[-1] + int(sizes[p]))
    shared = np.nonzero(count > 1)[0].astype(np.int64)
    u_off = np.full(P, -1, dtype=np.int64)
    acc = 0
    for p in shared:
        u_off[p] = acc
        acc += int(sizes[p])
    return (kpart, s_root, s_nl, s_leaf, s_m, s_cw, slot_copy, np.asarray(copy_off, dtype=np.int64),
            np.asarray(copy_part, dtype=np.int64), u_off, shared, count)


def _solve_admm_marginal(problem: StructuredProblem, cfg: "ADMMConfig", stars: list[Star], forest: Forest,
                         t0: float) -> Solution:
    f = forest
    (kpart, s_root, s_nl, s_leaf, s_m, s_cw, slot_copy, copy_off, copy_part, u_off, shared,
     count) = _marginal_arrays(problem, stars, forest)
    base, _ = f.scores(problem.unaries)
    best, stats, h_obj, h_pr = admm_marginal_kernel(
        f.node_off, f.pt_off, f.lo, f.hi, f.start, f.end, f.left, f.right, f.pts, f.parent, f.bucket, base,
        kpart, s_root, s_nl, s_leaf, s_m, s_cw, slot_copy, copy_off, copy_part, u_off, shared,
        problem.edges, problem.c, problem.mu, -1.0 if cfg.rho0 is None else float(cfg.rho0),
        cfg.scale, cfg.growth, int(cfg.max_iter), int(cfg.max_oracle), float(cfg.tol),
        int(cfg.bound_every), int(cfg.max_pool))
    it, certified, agreed, rate, ub, pr, dr, rho, calls, best_val = stats
    config = f.perm[best]
    if not np.isfinite(best_val) and best_val < 0:  # every configuration forbidden
        sol = _solution(problem, np.zeros(problem.num_parts, dtype=np.int64))
        info = ADMMInfo(int(it), -np.inf, -np.inf, 0.0, 0.0, False, 0.0, "rounded", float(rho), None, len(stars),
                        len(shared), int(calls), time.perf_counter() - t0)
        return Solution(sol.config, -np.inf, sol.pose, info)
    admm_val = problem.score(config)
    if cfg.polish and not certified:
        config = polish(problem, config, stars, forest)
    sol = _solution(problem, config)
    kind = "certified" if certified else ("agreement" if agreed else "rounded")
    info = ADMMInfo(int(it), sol.score, admm_val, float(pr), float(dr), bool(agreed), float(rate), kind,
                    float(rho), float(ub) if np.isfinite(ub) else None, len(stars), len(shared), int(calls),
                    time.perf_counter() - t0, tuple(float(v) for v in h_obj), tuple(float(v) for v in h_pr))
    return Solution(sol.config, sol.score, sol.pose, info)
