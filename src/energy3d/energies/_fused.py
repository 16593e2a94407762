"""Fused numba kernels for batched CPU inference with :class:`~energy3d.energies.pose.PoseEnergy`.

One inner step of IGE inference is four dense products (the first layer of both energy networks,
forward and backward), done by torch/BLAS, and everything else, done here in two kernels that each
make one pass over a chunk of poses (:meth:`PoseEnergy.descend` drives them):

* :func:`mlp_grad`: for both networks, first-layer pre-activations ``h`` -> ``dE/dh`` in place
  (softplus, the second layer, softabs', its transpose, sigmoid), two poses at a time;
* :func:`descent_step`: feature gradients -> joint gradients (chain rule through the hip
  normaliser and the perspective division), the optimiser update (clip, momentum, step), then the
  next step's pair features.

:func:`prepare_lanes` starts a chunk: observed 2D joints -> their scale ``s``, the
observed-observed reprojection features (constant during descent) and the step-0 features.

Layouts. Pair features and joints are *lane-major*: the pose index is the last (contiguous) axis,
so the inner loops run over ``LANES`` poses with a fixed trip count and vectorise (the pair loops of
a single 17-joint pose are too short and ragged for SIMD). For a chunk of ``n`` poses (a multiple of
``LANES``; the caller pads): proposal ``ys (3, J, n)``, momentum ``sb (3, J, n)``, observations
``xs (2, J2, n)``, feasibility features ``dn (P, n)`` with ``P = J(J-1)/2`` pairs in ``triu``
order, proposal-dependent reprojection features ``r (P + J*J2, n)`` (projected-projected pairs in
``triu`` order, then projected-observed pairs ``(i, j)`` row-major), observed-observed features
``oo (J2(J2-1)/2, n)``. First-layer activations are pose-major ``(n, H)`` (the second layer is a
per-pose reduction). The dense products read either layout through transposed views.

Numerics. Without Intel SVML, numba compiles ``exp``/``log1p`` to scalar libm calls; in float32 the
kernels use short polynomials instead (fitted for this file: relative error of ``exp`` ~1e-8
before rounding, absolute error of ``log1p`` ~1e-8) that LLVM vectorises. Float64 input calls
libm, so float64 results check the algebra against autograd to rounding error. ``fastmath``
allows reassociation (results differ from torch's in the last bits). Kernels are compiled on
first use and cached on disk (``cache=True``).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

LANES = 128
"""Poses per block in the lane-major kernels (their inner loop length); chunks are padded to a multiple."""

_F32 = np.float32
_LOG2E = _F32(1.4426950408889634)
_LN2_HI = _F32(0.693359375)  # ln 2 split so that n * _LN2_HI is exact for |n| < 2**10
_LN2_LO = _F32(-2.12194440e-4)
# exp(q) ~ 1 + q + q^2 (E0 + E1 q + E2 q^2 + E3 q^3 + E4 q^4) on |q| <= ln2 / 2
_E0, _E1, _E2, _E3, _E4 = (_F32(0.5000000026934281), _F32(0.16666577005127722), _F32(0.041666375249204385),
                           _F32(0.008363175393538501), _F32(0.0013941113656973057))
# atanh(a) / a ~ 1 + s (A0 + A1 s + A2 s^2 + A3 s^3), s = a^2 <= 1/9
_A0, _A1, _A2, _A3 = (_F32(0.3333331948933102), _F32(0.20003891154543274), _F32(0.1411563998720154),
                      _F32(0.13441804667731017))

_JIT = dict(cache=True, fastmath=True, error_model="numpy", nogil=True)


@intrinsic
def _bits_to_f32(typingctx, i):
    """Reinterpret the low 32 bits of an integer as a float32 (vectorises to a no-op)."""
    if not isinstance(i, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        v = args[0]
        if v.type.width > 32:
            v = builder.trunc(v, ir.IntType(32))
        elif v.type.width < 32:
            v = builder.zext(v, ir.IntType(32))
        return builder.bitcast(v, ir.FloatType())

    return types.float32(i), codegen


@njit(**_JIT)
def _features(ys, xs, inv_s, lo, hl, hr, eps, dn, r, u, v, ih):
    """Feasibility ``dn[:, lo:lo+LANES]`` and proposal-dependent reprojection features
    ``r[:, lo:lo+LANES]``; ``u, v (J, LANES)`` and ``ih (LANES,)`` are scratch."""
    J = ys.shape[1]
    J2 = xs.shape[1]
    P = J * (J - 1) // 2
    hi = lo + LANES
    one = ys.dtype.type(1.0)
    s = inv_s[lo:hi]
    a0 = ys[0, hl, lo:hi]
    a1 = ys[1, hl, lo:hi]
    a2 = ys[2, hl, lo:hi]
    b0 = ys[0, hr, lo:hi]
    b1 = ys[1, hr, lo:hi]
    b2 = ys[2, hr, lo:hi]
    for l in range(LANES):
        d0 = a0[l] - b0[l]
        d1 = a1[l] - b1[l]
        d2 = a2[l] - b2[l]
        ih[l] = one / max(d0 * d0 + d1 * d1 + d2 * d2, eps)
    p = 0
    for i in range(J):
        a0 = ys[0, i, lo:hi]
        a1 = ys[1, i, lo:hi]
        a2 = ys[2, i, lo:hi]
        for j in range(i + 1, J):
            b0 = ys[0, j, lo:hi]
            b1 = ys[1, j, lo:hi]
            b2 = ys[2, j, lo:hi]
            o = dn[p, lo:hi]
            for l in range(LANES):
                d0 = a0[l] - b0[l]
                d1 = a1[l] - b1[l]
                d2 = a2[l] - b2[l]
                o[l] = (d0 * d0 + d1 * d1 + d2 * d2) * ih[l]
            p += 1
    for i in range(J):
        a0 = ys[0, i, lo:hi]
        a1 = ys[1, i, lo:hi]
        a2 = ys[2, i, lo:hi]
        ui = u[i]
        vi = v[i]
        for l in range(LANES):
            z = a2[l]
            z = eps if abs(z) < eps else z
            ui[l] = a0[l] / z
            vi[l] = a1[l] / z
    p = 0
    for i in range(J):
        ui = u[i]
        vi = v[i]
        for j in range(i + 1, J):
            uj = u[j]
            vj = v[j]
            o = r[p, lo:hi]
            for l in range(LANES):
                d0 = ui[l] - uj[l]
                d1 = vi[l] - vj[l]
                o[l] = (d0 * d0 + d1 * d1) * s[l]
            p += 1
    for i in range(J):
        ui = u[i]
        vi = v[i]
        for j in range(J2):
            x0 = xs[0, j, lo:hi]
            x1 = xs[1, j, lo:hi]
            o = r[P + i * J2 + j, lo:hi]
            for l in range(LANES):
                d0 = ui[l] - x0[l]
                d1 = vi[l] - x1[l]
                o[l] = (d0 * d0 + d1 * d1) * s[l]


@njit(**_JIT)
def prepare_lanes(y0, x, off, m, ys, xs, inv_s, oo, dn, r, hl, hr, eps):
    """Load poses ``off .. off + m`` of ``y0 (B, J, 3)`` and ``x (B, J2, 2)`` into ``ys``/``xs``
    (lanes ``m .. n`` repeat the last pose); fill ``inv_s (n,)`` (inverse mean squared observed
    pair distance), ``oo`` and the step-0 features ``dn``, ``r``."""
    n = ys.shape[2]
    J = ys.shape[1]
    J2 = xs.shape[1]
    npair = J2 * (J2 - 1) // 2
    zero = ys.dtype.type(0.0)
    one = ys.dtype.type(1.0)
    inv_np = one / max(npair, 1)
    u = np.empty((J, LANES), ys.dtype)
    v = np.empty((J, LANES), ys.dtype)
    ih = np.empty(LANES, ys.dtype)
    acc = np.empty(LANES, ys.dtype)
    for blk in range(n // LANES):
        lo = blk * LANES
        hi = lo + LANES
        acc[:] = zero
        for l in range(lo, hi):
            src = off + min(l, m - 1)
            for i in range(J):
                for c in range(3):
                    ys[c, i, l] = y0[src, i, c]
            for j in range(J2):
                xs[0, j, l] = x[src, j, 0]
                xs[1, j, l] = x[src, j, 1]
        p = 0
        for i in range(J2):
            a0 = xs[0, i, lo:hi]
            a1 = xs[1, i, lo:hi]
            for j in range(i + 1, J2):
                b0 = xs[0, j, lo:hi]
                b1 = xs[1, j, lo:hi]
                o = oo[p, lo:hi]
                for l in range(LANES):
                    d0 = a0[l] - b0[l]
                    d1 = a1[l] - b1[l]
                    dd = d0 * d0 + d1 * d1
                    o[l] = dd
                    acc[l] += dd
                p += 1
        s = inv_s[lo:hi]
        for l in range(LANES):
            s[l] = one / max(acc[l] * inv_np if npair > 0 else zero, eps)
        for p in range(npair):
            o = oo[p, lo:hi]
            for l in range(LANES):
                o[l] *= s[l]
        _features(ys, xs, inv_s, lo, hl, hr, eps, dn, r, u, v, ih)


@njit(**_JIT)
def _act(h, c, sp, sg):
    """``sp = softplus(t)``, ``sg = sigmoid(t)`` for ``t = h + c`` (all ``(H,)``).

    With ``e = exp(-|t|)``: ``softplus(t) = max(t, 0) + log1p(e)`` and ``sigmoid(t) = (t >= 0 ? 1 :
    e) / (1 + e)``. Float32 evaluates ``e`` by Cody-Waite reduction, a polynomial and an exponent
    built from integer bits, and ``log1p(e) = 2 atanh(e / (2 + e))`` by a polynomial; float64
    calls libm.
    """
    H = h.shape[0]
    zero = h.dtype.type(0.0)
    one = h.dtype.type(1.0)
    if h.itemsize == 8:
        for k in range(H):
            t = h[k] + c[k]
            e = math.exp(-abs(t))
            sp[k] = max(t, zero) + math.log1p(e)
            sg[k] = (one if t >= zero else e) / (one + e)
    else:
        for k in range(H):
            a = max(-abs(h[k] + c[k]), _F32(-87.0))
            nq = np.floor(a * _LOG2E + _F32(0.5))
            q = a - nq * _LN2_HI - nq * _LN2_LO
            pq = (((_E4 * q + _E3) * q + _E2) * q + _E1) * q + _E0
            pq = (pq * q) * q + q + _F32(1.0)
            sg[k] = pq * _bits_to_f32((np.int32(nq) + np.int32(127)) << np.int32(23))
        for k in range(H):
            t = h[k] + c[k]
            e = sg[k]
            a = e / (_F32(2.0) + e)
            s2 = a * a
            at = ((_A3 * s2 + _A2) * s2 + _A1) * s2 + _A0
            sp[k] = max(t, _F32(0.0)) + _F32(2.0) * (a + a * s2 * at)
            sg[k] = (_F32(1.0) if t >= _F32(0.0) else e) / (_F32(1.0) + e)


@njit(**_JIT)
def _mlp_2rows(hA, cA, hB, cB, W2, b2, spA, sgA, spB, sgB, goA, goB):
    """In place ``h <- dE/dh`` for two poses ``A``, ``B`` (``h, c (H,)``), where
    ``E = sum_m softabs((W2 softplus(h + c) + b2)_m)``: ``dE/dh = sigmoid(h + c) * (W2^T softabs'(o))``.

    Two rows at a time, blocks of 4 outputs: each loaded weight serves two poses. Scratch:
    ``sp*, sg* (H,)``, ``go* (O,)``.
    """
    H = hA.shape[0]
    O = W2.shape[0]
    zero = hA.dtype.type(0.0)
    one = hA.dtype.type(1.0)
    _act(hA, cA, spA, sgA)
    _act(hB, cB, spB, sgB)
    m0 = 0
    while m0 + 4 <= O:
        w0, w1, w2, w3 = W2[m0], W2[m0 + 1], W2[m0 + 2], W2[m0 + 3]
        a0 = a1 = a2 = a3 = b0 = b1 = b2_ = b3 = zero
        for k in range(H):
            s = spA[k]
            t = spB[k]
            x0 = w0[k]
            x1 = w1[k]
            x2 = w2[k]
            x3 = w3[k]
            a0 += x0 * s
            a1 += x1 * s
            a2 += x2 * s
            a3 += x3 * s
            b0 += x0 * t
            b1 += x1 * t
            b2_ += x2 * t
            b3 += x3 * t
        goA[m0], goA[m0 + 1], goA[m0 + 2], goA[m0 + 3] = a0, a1, a2, a3
        goB[m0], goB[m0 + 1], goB[m0 + 2], goB[m0 + 3] = b0, b1, b2_, b3
        m0 += 4
    for m in range(m0, O):
        a0 = zero
        b0 = zero
        for k in range(H):
            a0 += W2[m, k] * spA[k]
            b0 += W2[m, k] * spB[k]
        goA[m] = a0
        goB[m] = b0
    for m in range(O):
        a = goA[m] + b2[m]
        goA[m] = a / np.sqrt(a * a + one)
        a = goB[m] + b2[m]
        goB[m] = a / np.sqrt(a * a + one)
    for k in range(H):
        spA[k] = zero
        spB[k] = zero
    m0 = 0
    while m0 + 4 <= O:
        w0, w1, w2, w3 = W2[m0], W2[m0 + 1], W2[m0 + 2], W2[m0 + 3]
        g0, g1, g2, g3 = goA[m0], goA[m0 + 1], goA[m0 + 2], goA[m0 + 3]
        f0, f1, f2, f3 = goB[m0], goB[m0 + 1], goB[m0 + 2], goB[m0 + 3]
        for k in range(H):
            x0 = w0[k]
            x1 = w1[k]
            x2 = w2[k]
            x3 = w3[k]
            spA[k] += x0 * g0 + x1 * g1 + x2 * g2 + x3 * g3
            spB[k] += x0 * f0 + x1 * f1 + x2 * f2 + x3 * f3
        m0 += 4
    for m in range(m0, O):
        for k in range(H):
            spA[k] += W2[m, k] * goA[m]
            spB[k] += W2[m, k] * goB[m]
    for k in range(H):
        hA[k] = spA[k] * sgA[k]
        hB[k] = spB[k] * sgB[k]


@njit(**_JIT)
def mlp_grad(hf, cf, W2f, b2f, hr, cr, W2r, b2r):
    """Both networks' ``dE/dh`` in place, pose-major: feasibility ``hf (n, H)`` with bias
    ``cf (H,)``, reprojection ``hr (n, H)`` with per-pose constant ``cr (n, H)``."""
    n, H = hf.shape
    O = max(W2f.shape[0], W2r.shape[0])
    sp = np.empty((4, H), hf.dtype)
    go = np.empty((2, O), hf.dtype)
    for b in range(0, n - 1, 2):
        _mlp_2rows(hf[b], cf, hf[b + 1], cf, W2f, b2f, sp[0], sp[1], sp[2], sp[3], go[0], go[1])
        _mlp_2rows(hr[b], cr[b], hr[b + 1], cr[b + 1], W2r, b2r, sp[0], sp[1], sp[2], sp[3], go[0], go[1])
    if n % 2 == 1:
        b = n - 1
        _mlp_2rows(hf[b], cf, hf[b], cf, W2f, b2f, sp[0], sp[1], sp[2], sp[3], go[0], go[1])
        _mlp_2rows(hr[b], cr[b], hr[b], cr[b], W2r, b2r, sp[0], sp[1], sp[2], sp[3], go[0], go[1])


@njit(**_JIT)
def _grad(ys, xs, inv_s, gf, gr, dn, lo, hl, hr, eps, g, u, v, gu, gv, ih, corr, wp):
    """Joint gradients ``g (3, J, LANES)`` of poses ``lo:lo+LANES`` from ``gf = dE/d dn`` and
    ``gr = dE/d r``; the other arrays after ``g`` are scratch."""
    J = ys.shape[1]
    J2 = xs.shape[1]
    P = J * (J - 1) // 2
    hi = lo + LANES
    zero = ys.dtype.type(0.0)
    one = ys.dtype.type(1.0)
    two = ys.dtype.type(2.0)
    for c in range(3):
        for i in range(J):
            gi = g[c, i]
            for l in range(LANES):
                gi[l] = zero
    # feasibility: dn_p = D_p / D_hip, so dE/dD_p = gf_p / D_hip - [p = hip] sum_q gf_q dn_q / D_hip
    # (no second term where D_hip was clamped to eps: the clamp is a constant there)
    for l in range(LANES):
        corr[l] = zero
    for q in range(P):
        a = gf[q, lo:hi]
        b = dn[q, lo:hi]
        for l in range(LANES):
            corr[l] += a[l] * b[l]
    a0 = ys[0, hl, lo:hi]
    a1 = ys[1, hl, lo:hi]
    a2 = ys[2, hl, lo:hi]
    b0 = ys[0, hr, lo:hi]
    b1 = ys[1, hr, lo:hi]
    b2 = ys[2, hr, lo:hi]
    for l in range(LANES):
        d0 = a0[l] - b0[l]
        d1 = a1[l] - b1[l]
        d2 = a2[l] - b2[l]
        hip = d0 * d0 + d1 * d1 + d2 * d2
        ih[l] = two / max(hip, eps)
        corr[l] = zero if hip < eps else -ih[l] * corr[l]
    ga0 = g[0, hl]
    ga1 = g[1, hl]
    ga2 = g[2, hl]
    gb0 = g[0, hr]
    gb1 = g[1, hr]
    gb2 = g[2, hr]
    for l in range(LANES):
        w = corr[l]
        d0 = w * (a0[l] - b0[l])
        d1 = w * (a1[l] - b1[l])
        d2 = w * (a2[l] - b2[l])
        ga0[l] += d0
        ga1[l] += d1
        ga2[l] += d2
        gb0[l] -= d0
        gb1[l] -= d1
        gb2[l] -= d2
    # (one loop per coordinate: few arrays per loop keep LLVM's runtime alias checks cheap)
    p = 0
    for i in range(J):
        for j in range(i + 1, J):
            gp = gf[p, lo:hi]
            for l in range(LANES):
                wp[l] = ih[l] * gp[l]
            for c in range(3):
                a = ys[c, i, lo:hi]
                b = ys[c, j, lo:hi]
                ga = g[c, i]
                gb = g[c, j]
                for l in range(LANES):
                    d = wp[l] * (a[l] - b[l])
                    ga[l] += d
                    gb[l] -= d
            p += 1
    # reprojection: r = |u_i - u_j|^2 / s over projected-projected and projected-observed pairs
    s = inv_s[lo:hi]
    for l in range(LANES):
        ih[l] = two * s[l]
    for i in range(J):
        a0 = ys[0, i, lo:hi]
        a1 = ys[1, i, lo:hi]
        a2 = ys[2, i, lo:hi]
        ui = u[i]
        vi = v[i]
        gui = gu[i]
        gvi = gv[i]
        for l in range(LANES):
            z = a2[l]
            z = eps if abs(z) < eps else z
            ui[l] = a0[l] / z
            vi[l] = a1[l] / z
            gui[l] = zero
            gvi[l] = zero
    p = 0
    for i in range(J):
        for j in range(i + 1, J):
            gp = gr[p, lo:hi]
            ui = u[i]
            uj = u[j]
            vi = v[i]
            vj = v[j]
            gui = gu[i]
            guj = gu[j]
            gvi = gv[i]
            gvj = gv[j]
            for l in range(LANES):
                w = ih[l] * gp[l]
                d0 = w * (ui[l] - uj[l])
                d1 = w * (vi[l] - vj[l])
                gui[l] += d0
                guj[l] -= d0
                gvi[l] += d1
                gvj[l] -= d1
            p += 1
    for i in range(J):
        ui = u[i]
        vi = v[i]
        gui = gu[i]
        gvi = gv[i]
        for j in range(J2):
            gp = gr[P + i * J2 + j, lo:hi]
            x0 = xs[0, j, lo:hi]
            x1 = xs[1, j, lo:hi]
            for l in range(LANES):
                w = ih[l] * gp[l]
                gui[l] += w * (ui[l] - x0[l])
                gvi[l] += w * (vi[l] - x1[l])
    # chain rule through u = X / Z, v = Y / Z (a Z clamped away from 0 is a constant)
    for i in range(J):
        a2 = ys[2, i, lo:hi]
        ui = u[i]
        vi = v[i]
        gui = gu[i]
        gvi = gv[i]
        ga0 = g[0, i]
        ga1 = g[1, i]
        ga2 = g[2, i]
        for l in range(LANES):
            z = a2[l]
            zc = abs(z) < eps
            iz = one / (eps if zc else z)
            ga0[l] += gui[l] * iz
            ga1[l] += gvi[l] * iz
            ga2[l] -= zero if zc else (gui[l] * ui[l] + gvi[l] * vi[l]) * iz


@njit(**_JIT)
def descent_step(ys, sb, xs, inv_s, gf, gr, dn, r, out, off, m, gn2, hl, hr, eps, unit, lr, clip, mom, first,
                 last):
    """One optimiser step for a chunk of poses, in place on ``ys``/``sb``.

    The optimiser variable is ``u = y / unit``. With ``g = dE/du = unit dE/dy`` (from ``gf``/``gr``):
    ``g <- clip(g, -clip, clip); s <- mom s + g`` (``s = g`` when ``first``); ``u <- u - lr s``,
    i.e. ``y <- y - unit lr s``. Writes the first ``m`` new poses to
    ``out[off:off + m] (m, J, 3)``, the squared norms of ``dE/du`` (before clipping) to
    ``gn2[off:off + m]`` and, unless ``last``, the next step's features to ``dn``, ``r``.
    """
    n = ys.shape[2]
    J = ys.shape[1]
    step = unit * lr
    g = np.empty((3, J, LANES), ys.dtype)
    u = np.empty((J, LANES), ys.dtype)
    v = np.empty((J, LANES), ys.dtype)
    gu = np.empty((J, LANES), ys.dtype)
    gv = np.empty((J, LANES), ys.dtype)
    ih = np.empty(LANES, ys.dtype)
    acc = np.empty(LANES, ys.dtype)
    wp = np.empty(LANES, ys.dtype)
    for blk in range(n // LANES):
        lo = blk * LANES
        hi = lo + LANES
        _grad(ys, xs, inv_s, gf, gr, dn, lo, hl, hr, eps, g, u, v, gu, gv, ih, acc, wp)
        for l in range(LANES):
            acc[l] = 0
        for c in range(3):
            for i in range(J):
                gi = g[c, i]
                si = sb[c, i, lo:hi]
                yi = ys[c, i, lo:hi]
                for l in range(LANES):
                    gl = gi[l] * unit
                    acc[l] += gl * gl
                    gl = min(max(gl, -clip), clip)
                    sl = gl if first else mom * si[l] + gl
                    si[l] = sl
                    yi[l] -= step * sl
        for l in range(lo, min(hi, m)):
            gn2[off + l] = acc[l - lo]
            for i in range(J):
                for c in range(3):
                    out[off + l, i, c] = ys[c, i, l]
        if not last:
            _features(ys, xs, inv_s, lo, hl, hr, eps, dn, r, u, v, ih)
