"""Numba kernel of the marginal-consensus ADMM (see :mod:`energy3d.structured.admm`).

Layouts (all flat, built by ``admm._marginal_arrays``):

* forest arrays as in :mod:`._kdtree`; ``base`` holds the unaries in forest order;
* slave ``s``: root part ``s_root[s]``, ``s_nl[s]`` leaves ``s_leaf[s, :]`` with signed offsets
  ``s_m[s]`` and weights ``s_cw[s]``; slot 0 is the root, slot ``1 + l`` leaf ``l``;
  ``slot_copy[s, slot]`` is the copy id of a shared part (``-1`` otherwise);
* copy ``c`` of a shared part: its multipliers ``lam``, marginals ``mu`` and the part of
  ``lam + rho (u - mu)`` currently folded into the slave's scores (``applied``) live at
  ``copy_off[c] + local candidate index``;
* shared part ``p``: consensus ``u`` and support list at ``u_off[p] + local index``; the support
  (every candidate some copy ever picked) is the only place where ``lam``, ``mu``, ``u`` are non-zero.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from energy3d.structured._kdtree import fill_node_max, set_points
from energy3d.structured.bnb import star_bnb_kernel


@njit(cache=True)
def _solve_linear(A, b):
    """Solve ``A x = b`` in place by Gaussian elimination with partial pivoting (small dense systems)."""
    n = b.shape[0]
    for col in range(n):
        piv = col
        for r in range(col + 1, n):
            if abs(A[r, col]) > abs(A[piv, col]):
                piv = r
        if piv != col:
            for j in range(n):
                t = A[col, j]
                A[col, j] = A[piv, j]
                A[piv, j] = t
            t = b[col]
            b[col] = b[piv]
            b[piv] = t
        d = A[col, col]
        if d == 0.0:
            continue
        for r in range(col + 1, n):
            f = A[r, col] / d
            if f != 0.0:
                for j in range(col, n):
                    A[r, j] -= f * A[col, j]
                b[r] -= f * b[col]
    x = np.zeros(n)
    for r in range(n - 1, -1, -1):
        acc = b[r]
        for j in range(r + 1, n):
            acc -= A[r, j] * x[j]
        x[r] = acc / A[r, r] if A[r, r] != 0.0 else 0.0
    return x


@njit(cache=True)
def simplex_qp(a, Q, x0, tol):
    """Maximise ``a.x - x.Q.x / 2`` over the probability simplex (``Q`` PSD) by an active-set method.

    ``x0`` is a feasible start; its support is the first working set. The equality-constrained
    steps use ``Q + delta I`` with a tiny ``delta`` so that repeated vertices (singular ``Q``) are
    harmless. Returns the maximiser.
    """
    n = a.shape[0]
    x = x0.copy()
    s = x.sum()
    if not (s > 0):
        x[:] = 0.0
        x[np.argmax(a)] = 1.0
    else:
        x /= s
    ridge = 0.0
    for i in range(n):
        if Q[i, i] > ridge:
            ridge = Q[i, i]
    ridge = 1e-12 * (1.0 + ridge)
    work = np.zeros(n, np.bool_)
    for i in range(n):
        work[i] = x[i] > 0
    g = np.empty(n)
    for _ in range(4 * n + 20):
        idx = np.nonzero(work)[0]
        k = idx.shape[0]
        kkt = np.zeros((k + 1, k + 1))
        rhs = np.zeros(k + 1)
        for i in range(k):
            for j in range(k):
                kkt[i, j] = Q[idx[i], idx[j]]
            kkt[i, i] += ridge
            kkt[i, k] = 1.0
            kkt[k, i] = 1.0
            rhs[i] = a[idx[i]]
        rhs[k] = 1.0
        sol = _solve_linear(kkt, rhs)
        bmin = np.inf
        for i in range(k):
            if sol[i] < bmin:
                bmin = sol[i]
        if bmin >= -1e-12:
            x[:] = 0.0
            tot = 0.0
            for i in range(k):
                v = sol[i] if sol[i] > 0.0 else 0.0
                x[idx[i]] = v
                tot += v
            x /= tot
            for i in range(n):
                acc = a[i]
                for j in range(n):
                    acc -= Q[i, j] * x[j]
                g[i] = acc
            nu = -np.inf
            for i in range(k):
                if g[idx[i]] > nu:
                    nu = g[idx[i]]
            j = -1
            gj = nu + tol
            for i in range(n):
                if not work[i] and g[i] > gj:
                    gj = g[i]
                    j = i
            if j < 0:
                return x
            work[j] = True
        else:
            t = 1.0
            for i in range(k):
                d = sol[i] - x[idx[i]]
                if d < 0:
                    r = x[idx[i]] / -d
                    if r < t:
                        t = r
            anyw = False
            for i in range(k):
                x[idx[i]] += t * (sol[i] - x[idx[i]])
                if x[idx[i]] < 1e-14:
                    x[idx[i]] = 0.0
                    work[idx[i]] = False
                else:
                    anyw = True
            if not anyw:
                j = np.argmax(a)
                x[j] = 1.0
                work[j] = True
            x /= x.sum()
    return x


@njit(cache=True)
def _theta(s, z, s_root, s_nl, s_leaf, s_m, s_cw, base, kpart, pts):
    """Star score of vertex ``z`` (forest points per slot) with unaries split ``1/K``."""
    v = base[z[0]] / kpart[s_root[s]]
    r = z[0]
    for l in range(s_nl[s]):
        p = s_leaf[s, l]
        y = z[1 + l]
        v += base[y] / kpart[p]
        pen = 0.0
        for d in range(3):
            dd = (pts[r, d] - s_m[s, l, d]) - pts[y, d]
            pen += s_cw[s, l, d] * dd * dd
        v -= pen
    return v


@njit(cache=True)
def _slot_part(s, k, s_root, s_leaf):
    return s_root[s] if k == 0 else s_leaf[s, k - 1]


@njit(cache=True)
def _add_vertex(s, z, pool, npool, theta, alpha, G, s_root, s_nl, s_leaf, s_m, s_cw, base, kpart, pts,
                slot_copy, pt_off, u_off, supp, supp_n, insupp):
    """Add vertex ``z`` to slave ``s``'s pool (no-op if present); returns False if the pool is full."""
    ns = s_nl[s] + 1
    n = npool[s]
    for i in range(n):
        same = True
        for k in range(ns):
            if pool[s, i, k] != z[k]:
                same = False
                break
        if same:
            return True
    cap = pool.shape[1]
    if n >= cap:  # drop vertices with zero weight
        w = 0
        for i in range(n):
            if alpha[s, i] > 0:
                if w != i:
                    for k in range(ns):
                        pool[s, w, k] = pool[s, i, k]
                    theta[s, w] = theta[s, i]
                    alpha[s, w] = alpha[s, i]
                w += 1
        n = w
        npool[s] = n
        # rebuild G
        for i in range(n):
            for j in range(n):
                g = 0.0
                for k in range(ns):
                    if slot_copy[s, k] >= 0 and pool[s, i, k] == pool[s, j, k]:
                        g += 1.0
                G[s, i, j] = g
        if n >= cap:
            return False
    for k in range(ns):
        pool[s, n, k] = z[k]
    theta[s, n] = _theta(s, z, s_root, s_nl, s_leaf, s_m, s_cw, base, kpart, pts)
    alpha[s, n] = 1.0 if n == 0 else 0.0
    for j in range(n + 1):
        g = 0.0
        for k in range(ns):
            if slot_copy[s, k] >= 0 and pool[s, j, k] == z[k]:
                g += 1.0
        G[s, n, j] = g
        G[s, j, n] = g
    npool[s] = n + 1
    for k in range(ns):
        if slot_copy[s, k] >= 0:
            p = _slot_part(s, k, s_root, s_leaf)
            loc = z[k] - pt_off[p]
            q = u_off[p] + loc
            if not insupp[q]:
                insupp[q] = True
                supp[u_off[p] + supp_n[p]] = loc
                supp_n[p] += 1
    return True


@njit(cache=True)
def _apply(s, rho, rho_on, s_root, s_nl, s_leaf, slot_copy, copy_off, pt_off, u_off, supp, supp_n,
           lam, mu, applied, u, base, kpart, U, nmax, parent, bucket, start, end, left, right, buf_p, buf_v):
    """Fold ``lam + rho_on * rho (u - mu)`` of the slave's shared copies into its scores (``rho_on`` 0 or 1)."""
    for k in range(s_nl[s] + 1):
        c = slot_copy[s, k]
        if c < 0:
            continue
        p = _slot_part(s, k, s_root, s_leaf)
        nch = 0
        for i in range(supp_n[p]):
            loc = supp[u_off[p] + i]
            q = copy_off[c] + loc
            d = lam[q]
            if rho_on != 0.0:
                d += rho * (u[u_off[p] + loc] - mu[q])
            if d != applied[q]:
                applied[q] = d
                t = pt_off[p] + loc
                buf_p[nch] = t
                b = base[t]
                buf_v[nch] = b / kpart[p] + d if b > -np.inf else -np.inf
                nch += 1
        if nch > 0:
            set_points(U, nmax, buf_p[:nch], buf_v[:nch], parent, bucket, start, end, left, right)


@njit(cache=True)
def _update_mu(s, s_nl, s_root, s_leaf, slot_copy, copy_off, pt_off, pool, npool, alpha, mu):
    for k in range(s_nl[s] + 1):
        c = slot_copy[s, k]
        if c < 0:
            continue
        p = _slot_part(s, k, s_root, s_leaf)
        for i in range(npool[s]):
            mu[copy_off[c] + pool[s, i, k] - pt_off[p]] = 0.0
        for i in range(npool[s]):
            mu[copy_off[c] + pool[s, i, k] - pt_off[p]] += alpha[s, i]


@njit(cache=True)
def _solve_slave(s, rho, max_oracle, tol, s_root, s_nl, s_leaf, s_m, s_cw, slot_copy, copy_off, pt_off,
                 u_off, supp, supp_n, insupp, lam, mu, applied, u, base, kpart, U, nmax, node_off, lo, hi,
                 start, end, left, right, pts, parent, bucket, pool, npool, theta, alpha, G, buf_p, buf_v,
                 verified):
    """Slave QP: active set over the pool with branch-and-bound as the vertex oracle. Returns oracle calls."""
    ns = s_nl[s] + 1
    calls = 0
    verified[s] = False
    z = np.empty(ns, np.int64)
    while True:
        n = npool[s]
        nu = -np.inf
        if n > 0:
            a = np.empty(n)
            for i in range(n):
                v = theta[s, i]
                for k in range(ns):
                    c = slot_copy[s, k]
                    if c >= 0:
                        p = _slot_part(s, k, s_root, s_leaf)
                        loc = pool[s, i, k] - pt_off[p]
                        v += lam[copy_off[c] + loc] + rho * u[u_off[p] + loc]
                a[i] = v
            Q = rho * G[s, :n, :n]
            amax = 0.0
            for i in range(n):
                if abs(a[i]) > amax:
                    amax = abs(a[i])
            x = simplex_qp(a, Q, alpha[s, :n].copy(), tol * (1.0 + amax))
            for i in range(n):
                alpha[s, i] = x[i]
            _update_mu(s, s_nl, s_root, s_leaf, slot_copy, copy_off, pt_off, pool, npool, alpha, mu)
            for i in range(n):
                if x[i] > 0:
                    gi = a[i]
                    for j in range(n):
                        gi -= Q[i, j] * x[j]
                    if gi > nu:
                        nu = gi
        if calls >= max_oracle:
            return calls
        _apply(s, rho, 1.0, s_root, s_nl, s_leaf, slot_copy, copy_off, pt_off, u_off, supp, supp_n,
               lam, mu, applied, u, base, kpart, U[s], nmax[s], parent, bucket, start, end, left, right,
               buf_p, buf_v)
        val, ir, il, _ = star_bnb_kernel(s_root[s], s_leaf[s, :s_nl[s]], s_m[s, :s_nl[s]], s_cw[s, :s_nl[s]],
                                         node_off, lo, hi, start, end, left, right, pts, U[s], nmax[s])
        calls += 1
        if ir < 0:
            return calls
        if n > 0 and val <= nu + tol * (1.0 + abs(nu)):
            verified[s] = True
            return calls
        z[0] = ir
        for l in range(s_nl[s]):
            z[1 + l] = il[l]
        if not _add_vertex(s, z, pool, npool, theta, alpha, G, s_root, s_nl, s_leaf, s_m, s_cw, base, kpart,
                           pts, slot_copy, pt_off, u_off, supp, supp_n, insupp):
            return calls


@njit(cache=True)
def _config_score(z, base, edges, ec, emu, pts):
    v = 0.0
    for p in range(z.shape[0]):
        v += base[z[p]]
    for e in range(edges.shape[0]):
        i = z[edges[e, 0]]
        j = z[edges[e, 1]]
        pen = 0.0
        for d in range(3):
            dd = pts[i, d] - pts[j, d] - emu[e, d]
            pen += ec[e, d] * dd * dd
        v -= pen
    return v


@njit(cache=True)
def admm_marginal_kernel(node_off, pt_off, lo, hi, start, end, left, right, pts, parent, bucket, base, kpart,
                         s_root, s_nl, s_leaf, s_m, s_cw, slot_copy, copy_off, copy_part, u_off, shared,
                         edges, ec, emu, rho0, rho_scale, rho_growth, max_iter, max_oracle, tol, bound_every,
                         max_pool):
    """Run the marginal-consensus ADMM. Returns ``(best config as forest points, stats, histories)``.

    stats: ``[iterations, certified, agreed, agreement_rate, upper_bound, primal_res, dual_res, rho,
    oracle_calls, best_value]``.
    """
    S = s_root.shape[0]
    P = pt_off.shape[0] - 1
    Lmax = s_leaf.shape[1]
    C = copy_part.shape[0]
    n_tot = pts.shape[0]
    # per-slave scores: base / K on the slave's parts
    U = np.full((S, n_tot), -np.inf)
    nmax = np.full((S, lo.shape[0]), -np.inf)
    for s in range(S):
        for k in range(s_nl[s] + 1):
            p = _slot_part(s, k, s_root, s_leaf)
            for t in range(pt_off[p], pt_off[p + 1]):
                b = base[t]
                U[s, t] = b / kpart[p] if b > -np.inf else -np.inf
            fill_node_max(U[s], nmax[s], start, end, left, right, node_off[p], node_off[p + 1])
    n_copy = copy_off[C]
    lam = np.zeros(n_copy)
    mu = np.zeros(n_copy)
    applied = np.zeros(n_copy)
    n_u = 0
    for p in range(P):
        if u_off[p] >= 0:
            n_u += pt_off[p + 1] - pt_off[p]
    u = np.zeros(n_u)
    u_old = np.zeros(n_u)
    supp = np.zeros(n_u, np.int64)
    supp_n = np.zeros(P, np.int64)
    insupp = np.zeros(n_u, np.bool_)
    pool = np.zeros((S, max_pool, Lmax + 1), np.int64)
    npool = np.zeros(S, np.int64)
    theta = np.zeros((S, max_pool))
    alpha = np.zeros((S, max_pool))
    G = np.zeros((S, max_pool, max_pool))
    verified = np.zeros(S, np.bool_)
    maxn = 1
    for p in range(P):
        if pt_off[p + 1] - pt_off[p] > maxn:
            maxn = pt_off[p + 1] - pt_off[p]
    buf_p = np.empty(maxn, np.int64)
    buf_v = np.empty(maxn)
    stats = np.zeros(10)
    hist_obj = np.full(max_iter, np.nan)
    hist_pr = np.full(max_iter, np.nan)
    best = np.zeros(P, np.int64)
    best_val = -np.inf
    calls = 0
    # outside every star: best unary
    in_star = np.zeros(P, np.bool_)
    for s in range(S):
        for k in range(s_nl[s] + 1):
            in_star[_slot_part(s, k, s_root, s_leaf)] = True
    free_val = 0.0
    free_pt = np.zeros(P, np.int64)
    for p in range(P):
        if not in_star[p]:
            bi = pt_off[p]
            for t in range(pt_off[p], pt_off[p + 1]):
                if base[t] > base[bi]:
                    bi = t
            free_pt[p] = bi
            free_val += base[bi]
    # first vertices: unconstrained slave optima; score scale for rho
    scale = np.zeros(S)
    z = np.empty(Lmax + 1, np.int64)
    for s in range(S):
        val, ir, il, _ = star_bnb_kernel(s_root[s], s_leaf[s, :s_nl[s]], s_m[s, :s_nl[s]], s_cw[s, :s_nl[s]],
                                         node_off, lo, hi, start, end, left, right, pts, U[s], nmax[s])
        calls += 1
        if ir < 0:
            stats[4] = -np.inf
            stats[8] = calls
            stats[9] = -np.inf
            return best, stats, hist_obj, hist_pr
        z[0] = ir
        for l in range(s_nl[s]):
            z[1 + l] = il[l]
        _add_vertex(s, z[:s_nl[s] + 1], pool, npool, theta, alpha, G, s_root, s_nl, s_leaf, s_m, s_cw, base,
                    kpart, pts, slot_copy, pt_off, u_off, supp, supp_n, insupp)
        scale[s] = abs(val) / (s_nl[s] + 1)
    rho = rho0
    if not (rho > 0):  # rho_scale times the median per-part score of the slave optima
        srt = scale.copy()
        for i in range(1, S):  # insertion sort (S is small)
            v = srt[i]
            j = i - 1
            while j >= 0 and srt[j] > v:
                srt[j + 1] = srt[j]
                j -= 1
            srt[j + 1] = v
        med = 1.0 if S == 0 else (srt[S // 2] if S % 2 == 1 else 0.5 * (srt[S // 2 - 1] + srt[S // 2]))
        rho = rho_scale * max(med, 1e-12)
    ub = np.inf
    pr = 0.0
    dr = 0.0
    certified = False
    agreed = False
    rate = 1.0
    it = 0
    cfg = np.zeros(P, np.int64)
    R = shared.shape[0]
    for it in range(1, max_iter + 1):
        for s in range(S):
            calls += _solve_slave(s, rho, max_oracle, 1e-10, s_root, s_nl, s_leaf, s_m, s_cw, slot_copy,
                                  copy_off, pt_off, u_off, supp, supp_n, insupp, lam, mu, applied, u, base,
                                  kpart, U, nmax, node_off, lo, hi, start, end, left, right, pts, parent,
                                  bucket, pool, npool, theta, alpha, G, buf_p, buf_v, verified)
        # decode from the modal vertices; agreement
        for p in range(P):
            cfg[p] = free_pt[p]
        integral = True
        for s in range(S):
            bi = 0
            for i in range(npool[s]):
                if alpha[s, i] > alpha[s, bi]:
                    bi = i
            if alpha[s, bi] < 1.0 - 1e-9:
                integral = False
            for k in range(s_nl[s] + 1):
                cfg[_slot_part(s, k, s_root, s_leaf)] = pool[s, bi, k]
        # shared parts: do all copies' modal vertices agree?
        n_agree = 0
        for r in range(R):
            p = shared[r]
            first = -1
            same = True
            for s in range(S):
                bi = 0
                for i in range(npool[s]):
                    if alpha[s, i] > alpha[s, bi]:
                        bi = i
                for k in range(s_nl[s] + 1):
                    if _slot_part(s, k, s_root, s_leaf) == p:
                        if first < 0:
                            first = pool[s, bi, k]
                        elif pool[s, bi, k] != first:
                            same = False
            if same:
                n_agree += 1
        rate = 1.0 if R == 0 else n_agree / R
        agreed = integral and n_agree == R
        # master: average the copies' marginals; multipliers (eqs. 7-8)
        pr2 = 0.0
        du2 = 0.0
        for r in range(R):
            p = shared[r]
            for i in range(supp_n[p]):
                loc = supp[u_off[p] + i]
                u_old[u_off[p] + loc] = u[u_off[p] + loc]
                acc = 0.0
                nc = 0
                for c in range(C):
                    if copy_part[c] == p:
                        acc += mu[copy_off[c] + loc]
                        nc += 1
                uu = acc / nc
                u[u_off[p] + loc] = uu
                for c in range(C):
                    if copy_part[c] == p:
                        diff = mu[copy_off[c] + loc] - uu
                        lam[copy_off[c] + loc] -= rho * diff
                        pr2 += diff * diff
                dd = uu - u_old[u_off[p] + loc]
                du2 += nc * dd * dd
        pr = np.sqrt(pr2)
        dr = rho * np.sqrt(du2)
        # shared parts by the largest consensus mass
        for r in range(R):
            p = shared[r]
            bl = -1
            bv = -1.0
            for i in range(supp_n[p]):
                loc = supp[u_off[p] + i]
                if u[u_off[p] + loc] > bv:
                    bv = u[u_off[p] + loc]
                    bl = loc
            if bl >= 0:
                cfg[p] = pt_off[p] + bl
        val = _config_score(cfg, base, edges, ec, emu, pts)
        hist_obj[it - 1] = val
        hist_pr[it - 1] = pr
        if val > best_val or it == 1:
            best_val = val
            best[:] = cfg
        if agreed or it % bound_every == 0 or it == max_iter:
            tot = free_val
            for s in range(S):
                _apply(s, rho, 0.0, s_root, s_nl, s_leaf, slot_copy, copy_off, pt_off, u_off, supp, supp_n,
                       lam, mu, applied, u, base, kpart, U[s], nmax[s], parent, bucket, start, end, left, right,
                       buf_p, buf_v)
                v, ir, il, _ = star_bnb_kernel(s_root[s], s_leaf[s, :s_nl[s]], s_m[s, :s_nl[s]],
                                               s_cw[s, :s_nl[s]], node_off, lo, hi, start, end, left, right, pts,
                                               U[s], nmax[s])
                calls += 1
                tot += v
            if tot < ub:
                ub = tot
            if best_val >= ub - tol * (1.0 + abs(ub)):
                certified = True
                break
        # residual balancing (Boyd et al. 2011, section 3.4.1)
        if pr > 10.0 * dr:
            rho *= rho_growth
        elif dr > 10.0 * pr:
            rho /= rho_growth
    stats[0] = it
    stats[1] = 1.0 if certified else 0.0
    stats[2] = 1.0 if agreed else 0.0
    stats[3] = rate
    stats[4] = ub
    stats[5] = pr
    stats[6] = dr
    stats[7] = rho
    stats[8] = calls
    stats[9] = best_val
    return best, stats, hist_obj[:it], hist_pr[:it]
