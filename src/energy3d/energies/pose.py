"""Pose energies of IGE-Net (Jack et al., CVPR 2019, §5.1).

The energy of a proposed camera-frame 3D pose ``y`` given observed 2D joints ``x`` (normalised
camera coordinates ``(p - c) / f``) is ``E(y; x) = E_x(x~(y); x) + E_y(y)`` (eq. 5):

* feasibility ``E_y = DN_y(Δ²(y) / |y_lhip - y_rhip|²)`` (eq. 8): pairwise squared distances of
  the 3D proposal divided by the squared hip-to-hip distance, so it is scale-invariant;
* reprojection ``E_x = DN_x(Δ²(x~ ⊕ x) / s_x)`` (eq. 7): pairwise squared distances of the
  projected proposal ``x~ = (X/Z, Y/Z)`` concatenated with the observed 2D joints. ``s_x``, the
  mean squared pairwise distance of the observed joints, is this project's choice (the paper does
  not normalise): it makes the energy invariant to the person's distance from the camera.

Each ``DN`` is a two-layer dense network: ``softabs(W2 softplus(W1 d + b1) + b2)`` summed over its
outputs. Its input features are standardised with fixed training-set statistics
(:meth:`PoseEnergy.set_feature_stats`; this project's addition): raw ``Δ²/hip²`` values reach ~100,
and without it the Glorot-initialised first layer makes the very first inner step move joints by
about a metre despite the 1e-3 output scale, instead of "starting with little effect" (§5.2). The paper names "softabs" without defining it; here ``softabs(o) = sqrt(o² + 1) - 1``, a
smooth, non-negative version of ``|o|``.

Three gradient paths give the same numbers (tests check them against each other):

* :meth:`PoseEnergy.forward` builds the energy with torch ops, so ``torch.autograd.grad`` (with
  ``create_graph=True`` in training) differentiates it, second order included;
* :meth:`PoseEnergy.grad` is a closed-form, graph-free gradient in torch ops: it reuses the
  constant observed-observed block of the reprojection input and needs about two dense products
  per network (any device and dtype);
* :meth:`PoseEnergy.descend` runs whole inference descents on the CPU: per step the four dense
  products in torch and everything else (pair features, both networks' backward through softplus
  and the second layer, chain rule to the joints, clip/momentum/update) in two fused numba passes
  (:mod:`energy3d.energies._fused`), over cache-sized chunks shared out to worker threads. This is
  what makes IGE faster than a large baseline on a CPU (``benchmarks/bench_lift_speed.py``).

The effective weights all of these inference paths use (standardisation folded into the first
layers, reprojection columns split) are built once and cached, see
:meth:`PoseEnergy.inference_weights`.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from energy3d.errors import InputError

try:  # numba is a core dependency; without it inference falls back to the torch closed form
    from energy3d.energies import _fused
except ImportError:  # pragma: no cover
    _fused = None

Tensor = torch.Tensor


def softabs(x: Tensor) -> Tensor:
    """Smooth absolute value ``sqrt(x² + 1) - 1`` (zero at 0, slope -> ±1 far away)."""
    return torch.sqrt(x * x + 1.0) - 1.0


def softabs_grad(x: Tensor) -> Tensor:
    """Derivative of :func:`softabs`: ``x / sqrt(x² + 1)``."""
    return x * torch.rsqrt(x * x + 1.0)


class EnergyMLP(nn.Module):
    """Two-layer energy network ``sum_k softabs((W2 softplus(W1 d + b1) + b2)_k)``.

    Hidden weights use Glorot initialisation; the output layer's Glorot weights are scaled by
    ``out_init_scale`` (1e-3 in the paper, §5.2) so the inner optimiser starts with little effect.

    Args:
        in_features: length of the input feature vector ``d``.
        hidden: hidden units (256 in the paper).
        out: outputs summed after softabs (8).
    """

    def __init__(self, in_features: int, hidden: int = 256, out: int = 8, out_init_scale: float = 1e-3):
        super().__init__()
        self.register_buffer("in_mean", torch.zeros(in_features))
        self.register_buffer("in_std", torch.ones(in_features))
        self.fc1 = nn.Linear(in_features, hidden)
        self.fc2 = nn.Linear(hidden, out)
        nn.init.xavier_uniform_(self.fc1.weight)
        nn.init.zeros_(self.fc1.bias)
        nn.init.xavier_uniform_(self.fc2.weight)
        with torch.no_grad():
            self.fc2.weight.mul_(out_init_scale)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, d: Tensor) -> Tensor:
        """``(..., in_features)`` -> ``(...,)`` energy."""
        return softabs(self.fc2(F.softplus(self.fc1((d - self.in_mean) / self.in_std)))).sum(-1)

    def effective_first_layer(self) -> tuple[Tensor, Tensor]:
        """``(W, b)`` of the first layer acting on raw features (standardisation folded in)."""
        W = self.fc1.weight / self.in_std
        return W, self.fc1.bias - W @ self.in_mean


def _pairs(n: int) -> tuple[Tensor, Tensor]:
    i, j = torch.triu_indices(n, n, 1)
    return i, j


@dataclass(frozen=True, eq=False)
class InferenceWeights:
    """Effective weights of :class:`PoseEnergy` for graph-free inference (see
    :meth:`PoseEnergy.inference_weights`). ``H`` hidden units, ``O`` outputs, ``P = J(J-1)/2``
    proposal pairs, ``Q = P + J*J2`` proposal-dependent reprojection features.

    Attributes:
        Wf, Wf_t, bf: feasibility first layer on raw features ``(H, P)``, its transpose, bias ``(H,)``.
        W2f, b2f: feasibility second layer ``(O, H)``, ``(O,)``.
        Wr, Wr_t: reprojection first layer, proposal-dependent columns ``(H, Q)`` (projected-projected
            pairs, then projected-observed pairs row-major) and its transpose.
        Woo_t, br: observed-observed columns (transposed) ``(J2(J2-1)/2, H)`` and the bias ``(H,)``.
        W2r, b2r: reprojection second layer.
        A_f, A_f_t, A_top, A_top_t, A_bot: pair incidence matrices of the torch closed form.
        oo_i, oo_j: observed pair indices; hip_col: feasibility column of the hip pair.
    """

    Wf: Tensor
    Wf_t: Tensor
    bf: Tensor
    W2f: Tensor
    b2f: Tensor
    Wr: Tensor
    Wr_t: Tensor
    Woo_t: Tensor
    br: Tensor
    W2r: Tensor
    b2r: Tensor
    A_f: Tensor
    A_f_t: Tensor
    A_top: Tensor
    A_top_t: Tensor
    A_bot: Tensor
    oo_i: Tensor
    oo_j: Tensor
    hip_col: int


class _Workspace:
    """Preallocated work arrays of :meth:`PoseEnergy.descend` for chunks of up to ``n`` poses.

    Lane-major arrays (pose index last) for the numba kernels, pose-major ``(n, H)`` activations
    for the dense products; :meth:`views` gives contiguous views for a (padded) chunk of ``m <= n``.
    """

    def __init__(self, dtype: torch.dtype, n: int, J: int, J2: int, H: int):
        P, Q, O2 = J * (J - 1) // 2, J * (J - 1) // 2 + J * J2, J2 * (J2 - 1) // 2
        self.lane_shapes = {"ys": (3, J), "sb": (3, J), "xs": (2, J2), "inv_s": (), "oo": (O2,), "dn": (P,),
                            "r": (Q,), "gf": (P,), "gr": (Q,)}
        self.H, self.n = H, n
        sizes = [math.prod(s) for s in self.lane_shapes.values()] + [H] * 3
        self.flat = torch.empty(n * sum(sizes), dtype=dtype)
        self._views: dict[int, _Views] = {}

    def views(self, m: int) -> "_Views":
        v = self._views.get(m)
        if v is None:
            v = _Views()
            off = 0
            for name, shape in self.lane_shapes.items():
                size = math.prod(shape)
                t = self.flat[off:off + size * m].view(*shape, m)
                setattr(v, name, t)
                setattr(v, name + "_n", t.numpy())
                if len(shape) == 1:
                    setattr(v, name + "_T", t.t())
                off += size * self.n
            for name in ("hc", "hf", "hr"):
                t = self.flat[off:off + self.H * m].view(m, self.H)
                setattr(v, name, t)
                setattr(v, name + "_n", t.numpy())
                setattr(v, name + "_T", t.t())
                off += self.H * self.n
            self._views[m] = v
        return v


class _Views:
    """Attribute bag: ``NAME`` (tensor), ``NAME_n`` (its numpy view), ``NAME_T`` (2D transpose)."""


_WORKSPACES = threading.local()


def _workspace(dtype: torch.dtype, n: int, J: int, J2: int, H: int) -> _Workspace:
    """This thread's workspace for these sizes (one per thread, so concurrent calls are safe)."""
    cache = getattr(_WORKSPACES, "cache", None)
    if cache is None:
        cache = _WORKSPACES.cache = {}
    key = (dtype, J, J2, H)
    ws = cache.get(key)
    if ws is None or ws.n < n:
        ws = cache[key] = _Workspace(dtype, n, J, J2, H)
    return ws


_POOL_LOCK = threading.Lock()
_POOL: list = [None, 0, 0]  # executor, number of workers, process id (a forked child starts its own)


def _init_worker() -> None:
    # ATen initialises a thread's intra-op settings lazily from the process default: do that
    # first, then make this thread's torch ops (and MKL) single-threaded.
    torch.get_num_threads()
    torch.set_num_threads(1)


def _worker_pool(n: int) -> ThreadPoolExecutor:
    """A pool of ``>= n`` started worker threads whose torch ops run single-threaded.

    ``torch.set_num_threads`` is per thread for OpenMP and MKL, but also stores the default that
    new threads start from; the caller's setting is re-applied afterwards to restore it.
    """
    with _POOL_LOCK:
        if _POOL[0] is None or _POOL[1] < n or _POOL[2] != os.getpid():
            mine = torch.get_num_threads()
            pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="energy3d-descend", initializer=_init_worker)
            barrier = threading.Barrier(n)
            for f in [pool.submit(barrier.wait) for _ in range(n)]:  # start all n threads now
                f.result()
            torch.set_num_threads(mine)
            if _POOL[0] is not None and _POOL[2] == os.getpid():
                _POOL[0].shutdown(wait=False)
            _POOL[0], _POOL[1], _POOL[2] = pool, n, os.getpid()
        return _POOL[0]


class PoseEnergy(nn.Module):
    """IGE-Net lifting energy ``E(y; x) = E_x + E_y`` for ``J`` 3D joints and ``J2`` observed 2D joints.

    Args:
        num_joints: ``J``, joints of the 3D proposal (17 for h36m17).
        num_observed: ``J2``, observed 2D joints (the same layout as the 3D joints here, so ``J2 = J``;
            the energy does not require correspondences).
        hips: indices ``(left, right)`` of the hip joints in the 3D layout (feasibility normaliser).
        hidden, out: energy network sizes (256, 8 in the paper).

    Shapes:
        y: ``(B, J, 3)`` camera-frame proposal (metres, z forward).
        x: ``(B, J2, 2)`` observed normalised camera coordinates.
    """

    def __init__(self, num_joints: int, num_observed: int, hips: tuple[int, int], hidden: int = 256,
                 out: int = 8, out_init_scale: float = 1e-3, eps: float = 1e-6):
        super().__init__()
        self.J, self.J2 = num_joints, num_observed
        self.hips = tuple(int(h) for h in hips)
        self.eps = eps
        n_feas = num_joints * (num_joints - 1) // 2
        n_all = num_joints + num_observed
        n_rep = n_all * (n_all - 1) // 2
        self.feasibility = EnergyMLP(n_feas, hidden, out, out_init_scale)
        self.reprojection = EnergyMLP(n_rep, hidden, out, out_init_scale)
        pi, pj = _pairs(num_joints)
        ai, aj = _pairs(n_all)
        self.register_buffer("_pi", pi, persistent=False)
        self.register_buffer("_pj", pj, persistent=False)
        self.register_buffer("_ai", ai, persistent=False)
        self.register_buffer("_aj", aj, persistent=False)
        # Column blocks of the reprojection input (canonical pair order over [x~, x]).
        J = num_joints
        pp = (aj < J)
        po = (ai < J) & (aj >= J)
        oo = ai >= J
        # pp columns in triu order of J points; po columns ordered (i, j - J) row-major.
        self.register_buffer("_cols_pp", torch.nonzero(pp).squeeze(1), persistent=False)
        po_idx = torch.nonzero(po).squeeze(1)
        self.register_buffer("_cols_po", po_idx, persistent=False)
        self.register_buffer("_cols_oo", torch.nonzero(oo).squeeze(1), persistent=False)

    # ------------------------------------------------------------------ helpers
    def check(self, y: Tensor, x: Tensor) -> None:
        if y.dim() != 3 or y.shape[1:] != (self.J, 3):
            raise InputError(f"proposal y: expected shape (B, {self.J}, 3), got {tuple(y.shape)}")
        if x.dim() != 3 or x.shape[1:] != (self.J2, 2) or x.shape[0] != y.shape[0]:
            raise InputError(f"observed x: expected shape ({y.shape[0]}, {self.J2}, 2), got {tuple(x.shape)}")

    @staticmethod
    def _sq(z: Tensor, i: Tensor, j: Tensor) -> Tensor:
        d = z[:, i] - z[:, j]
        return (d * d).sum(-1)

    def observed_scale(self, x: Tensor) -> Tensor:
        """``(B,)`` mean squared pairwise distance of the observed joints (reprojection normaliser)."""
        i, j = _pairs(self.J2)
        return self._sq(x, i.to(x.device), j.to(x.device)).mean(-1).clamp_min(self.eps)

    def project(self, y: Tensor) -> Tensor:
        """Camera-frame ``(B, J, 3)`` -> normalised image coordinates ``(B, J, 2)``."""
        z = y[..., 2:3]
        z = torch.where(z.abs() < self.eps, torch.full_like(z, self.eps), z)
        return y[..., :2] / z

    # ------------------------------------------------------------------ energy
    def forward(self, y: Tensor, x: Tensor) -> Tensor:
        """Energy ``(B,)`` of proposals ``y (B, J, 3)`` given observations ``x (B, J2, 2)``."""
        return self.terms(y, x).sum(0)

    def terms(self, y: Tensor, x: Tensor) -> Tensor:
        """``(2, B)``: reprojection and feasibility energies."""
        f_y, f_x = self.features(y, x)
        return torch.stack([self.reprojection(f_x), self.feasibility(f_y)])

    def features(self, y: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        """Raw input features ``(feasibility (B, P), reprojection (B, Q))`` of the two networks."""
        lh, rh = self.hips
        hip = ((y[:, lh] - y[:, rh]) ** 2).sum(-1).clamp_min(self.eps)
        z = torch.cat([self.project(y), x], dim=1)
        return (self._sq(y, self._pi, self._pj) / hip[:, None],
                self._sq(z, self._ai, self._aj) / self.observed_scale(x)[:, None])

    @torch.no_grad()
    def set_feature_stats(self, y: Tensor, x: Tensor) -> None:
        """Standardise both networks' inputs with statistics of features at true poses ``y`` and 2D ``x``.

        One mean and one standard deviation per network, over all its features.
        """
        for mlp, f in zip((self.feasibility, self.reprojection), self.features(y, x)):
            # one scalar per network: per-feature statistics would divide by ~0 for distances
            # that barely vary (bone lengths of a single retargeted rig) and blow up the gradient
            mlp.in_mean.fill_(float(f.mean()))
            mlp.in_std.fill_(max(float(f.std()), 1e-6))

    # ------------------------------------------------------------------ closed-form gradient
    def inference_weights(self, dtype: torch.dtype | None = None, device=None) -> InferenceWeights:
        """Effective weights of both networks for graph-free inference (:class:`InferenceWeights`).

        The feature standardisation is folded into the first layers and the reprojection layer is
        split into proposal-dependent and observed-observed columns. Built once and cached: the
        cache key holds every parameter's and buffer's storage address and in-place version
        counter (optimiser steps, ``load_state_dict`` and ``copy_`` all bump it), plus ``dtype`` and
        ``device``. Changing weights through ``.data`` bypasses the version counter; call
        :meth:`clear_inference_cache` after doing so.
        """
        ref = self.feasibility.fc1.weight
        dtype = ref.dtype if dtype is None else dtype
        device = ref.device if device is None else torch.device(device)
        tensors = [t for m in (self.feasibility, self.reprojection) for t in (*m.parameters(), *m.buffers())]
        key = (dtype, device, tuple((t.data_ptr(), t._version) for t in tensors))
        cache = self.__dict__.get("_inference_cache")
        if cache is not None and cache[0] == key:
            return cache[1]
        with torch.inference_mode(False), torch.no_grad():
            Wf, bf = self.feasibility.effective_first_layer()
            Wr, br = self.reprojection.effective_first_layer()
            cols = torch.cat([self._cols_pp, self._cols_po])
            Wp = Wr[:, cols]
            lh, rh = self.hips
            pi, pj = self._pi.cpu(), self._pj.cpu()
            hip_col = int(((pi == min(lh, rh)) & (pj == max(lh, rh))).nonzero()[0, 0])
            J, J2 = self.J, self.J2
            A_f = self._incidence(J, pi, pj)
            ai, aj = self._ai.cpu(), self._aj.cpu()
            A_r = self._incidence(J + J2, ai[cols.cpu()], aj[cols.cpu()])
            oi, oj = _pairs(J2)

            def prep(t: Tensor) -> Tensor:
                return t.detach().to(device=device, dtype=dtype).contiguous()

            w = InferenceWeights(
                Wf=prep(Wf), Wf_t=prep(Wf.t()), bf=prep(bf),
                W2f=prep(self.feasibility.fc2.weight), b2f=prep(self.feasibility.fc2.bias),
                Wr=prep(Wp), Wr_t=prep(Wp.t()), Woo_t=prep(Wr[:, self._cols_oo].t()), br=prep(br),
                W2r=prep(self.reprojection.fc2.weight), b2r=prep(self.reprojection.fc2.bias),
                A_f=prep(A_f), A_f_t=prep(A_f.t()), A_top=prep(A_r[:J]), A_top_t=prep(A_r[:J].t()),
                A_bot=prep(A_r[J:]), oo_i=oi.to(device), oo_j=oj.to(device), hip_col=hip_col)
        self.__dict__["_inference_cache"] = (key, w)
        return w

    def clear_inference_cache(self) -> None:
        """Forget the cached :meth:`inference_weights` (needed only after writing weights via ``.data``)."""
        self.__dict__.pop("_inference_cache", None)

    @staticmethod
    def _incidence(n_points: int, i: Tensor, j: Tensor) -> Tensor:
        """``(n_points, P)`` matrix ``A`` with ``z^T A = z_i - z_j`` for each pair column."""
        A = torch.zeros(n_points, len(i))
        cols = torch.arange(len(i))
        A[i, cols] = 1.0
        A[j, cols] = -1.0
        return A

    def prepare(self, x: Tensor, weights: InferenceWeights | None = None) -> dict:
        """Per-observation constants for :meth:`grad` (computed once per batch of observations).

        The observed-observed block of the reprojection input does not depend on the proposal, so
        its contribution to the first dense layer is computed here once; so are the observed
        columns of the pair differences.

        Args:
            x: ``(B, J2, 2)`` observations (``B = 0`` works).
            weights: the effective weights to use; default ``self.inference_weights(x.dtype,
                x.device)``. The TorchScript export passes its own buffers, so that a trace
                records them as named tensors.

        Returns:
            ``{"inv_s": (B,), "h_const": (B, H), "x_diff": (B, 2, Q), "w": weights}``.
        """
        w = self.inference_weights(x.dtype, x.device) if weights is None else weights
        s = self.observed_scale(x)
        oo = self._sq(x, w.oo_i, w.oo_j) / s[:, None]
        B = x.shape[0]
        # explicit sizes, not -1: reshape cannot infer a dimension of an empty batch
        x_diff = (x.transpose(1, 2).reshape(B * 2, self.J2) @ w.A_bot).reshape(B, 2, w.A_bot.shape[1])
        return {"inv_s": 1.0 / s, "h_const": torch.addmm(w.br, oo, w.Woo_t), "x_diff": x_diff, "w": w}

    @staticmethod
    def _mlp_back(h: Tensor, W2: Tensor, b2: Tensor) -> Tensor:
        """Given pre-activations ``h`` of a network's first layer, return dE/dh."""
        o = torch.addmm(b2, torch.nn.functional.softplus(h), W2.t())
        return (softabs_grad(o) @ W2) * torch.sigmoid(h)

    def grad(self, y: Tensor, consts: dict) -> Tensor:
        """Closed-form ``dE/dy`` ``(B, J, 3)`` without building an autograd graph (torch ops).

        Pair differences and their back-projection to joints are dense products with fixed
        incidence matrices, so a step costs a handful of GEMMs. :meth:`descend` fuses the same
        computation (and the optimiser update) into a few numba kernels.

        Args:
            y: ``(B, J, 3)`` proposals.
            consts: output of :meth:`prepare` for the observations.
        """
        w = consts["w"]
        J, B = self.J, y.shape[0]
        yt = y.transpose(1, 2).reshape(B * 3, J)
        # ---- feasibility: d = D / H with D the pairwise squared distances, H the hip pair's
        P, Q = w.A_f.shape[1], w.A_top.shape[1]                         # explicit sizes: B = 0 works
        diff = (yt @ w.A_f).reshape(B, 3, P)                           # (B, 3, P)
        D = (diff * diff).sum(1)                                       # (B, P)
        D_hip = D[:, w.hip_col]
        inv_h = 1.0 / D_hip.clamp_min(self.eps)
        h = torch.addmm(w.bf, D * inv_h[:, None], w.Wf_t)
        g = self._mlp_back(h, w.W2f, w.b2f) @ w.Wf                     # dE/dd (B, P)
        gD = g * inv_h[:, None]
        # a clamped hip distance is a constant: no gradient through it
        gD[:, w.hip_col] -= (g * D).sum(-1) * inv_h * inv_h * (D_hip >= self.eps)
        grad = 2.0 * ((gD[:, None, :] * diff).reshape(B * 3, P) @ w.A_f_t).reshape(B, 3, J)
        # ---- reprojection, proposal-dependent columns only
        z = y[..., 2]
        z_small = z.abs() < self.eps
        z = torch.where(z_small, torch.full_like(z, self.eps), z)
        inv_z = 1.0 / z                                                # (B, J)
        xt = y[..., :2].transpose(1, 2) * inv_z[:, None, :]            # (B, 2, J)
        rdiff = (xt.reshape(B * 2, J) @ w.A_top).reshape(B, 2, Q) + consts["x_diff"]
        inv_s = consts["inv_s"][:, None]
        R = (rdiff * rdiff).sum(1) * inv_s                             # (B, Q)
        h = torch.addmm(consts["h_const"], R, w.Wr_t)
        g = (self._mlp_back(h, w.W2r, w.b2r) @ w.Wr) * inv_s
        gx = 2.0 * ((g[:, None, :] * rdiff).reshape(B * 2, Q) @ w.A_top_t).reshape(B, 2, J)
        gx = gx * inv_z[:, None, :]
        gz = -(gx * xt).sum(1) * ~z_small                              # (B, J); clamped Z is a constant
        grad[:, :2] += gx
        grad[:, 2] += gz
        return grad.transpose(1, 2)

    # ------------------------------------------------------------------ fused inference
    def can_descend(self, y0: Tensor | None, x: Tensor) -> bool:
        """Whether :meth:`descend` has a fused kernel for these inputs: numba importable, CPU
        float32/float64 tensors of one dtype, no autograd graph wanted (``y0=None``: judge ``x``)."""
        y = x if y0 is None else y0
        return (_fused is not None and y.device.type == "cpu" and x.device.type == "cpu"
                and y.dtype in (torch.float32, torch.float64) and x.dtype == y.dtype and x.shape[0] > 0
                and not (torch.is_grad_enabled() and (y.requires_grad or x.requires_grad)))

    def descend(self, y0: Tensor | Callable[[Tensor], Tensor], x: Tensor, steps: int, lr: float,
                clip: float | None = None, momentum: float | None = None, unit: float = 1.0,
                chunk: int | None = None) -> tuple[list[Tensor], list[float]]:
        """Fused, graph-free gradient descent on this energy (batched CPU inference).

        ``T = steps`` updates of ``u = y / unit``: ``g = clip(dE/du, -c, c); s = m s + g`` (``s = g``
        at the first step); ``u <- u - lr s``, i.e. :class:`~energy3d.optim.UnrolledGD` in
        ``"none"`` mode with the same constants, run on ``u`` with the energy ``E(unit u)``. Per
        step, torch does the four dense products of the networks' first layers and numba kernels
        (:mod:`energy3d.energies._fused`) do everything else in two passes (both networks'
        backward through softplus, second layer and softabs; then joint gradients, clip, momentum,
        update and the next step's features).

        The batch is cut into chunks (default ``min(512, B / threads)`` poses, the last ones
        halved when several threads share them) whose work arrays stay in cache. With
        ``torch.get_num_threads() = n > 1`` the chunks go to ``n`` worker threads that each run
        torch single-threaded (set once when the workers start; the calling thread's setting is
        untouched): independent shards need no synchronisation inside a step, and no OpenMP team
        spins while numba kernels run (numba's own parallel layers are not used). Numba compiles
        the kernels on first use (about 10 s) and caches them on disk.

        Args:
            y0: ``(B, J, 3)`` initial proposals, or a function computing them from a chunk of ``x``
                (it must treat poses independently, e.g. a lifter in eval mode), then run chunk by
                chunk in the workers.
            x: ``(B, J2, 2)`` observations.
            steps: number of updates ``T``.
            lr: step size ``η``.
            clip: element-wise gradient clip ``c`` (``None``: no clipping).
            momentum: ``m`` (``None``: no momentum).
            unit: length unit of the optimiser's variable ``u = y / unit`` (clip and step act on
                ``dE/du = unit dE/dy``; see ``LifterConfig.step_unit``).
            chunk: poses per chunk.

        Returns:
            ``(iterates, grad_norms)``: ``T + 1`` tensors ``(B, J, 3)`` (the initial proposals first)
            and, per step, the batch mean of the per-pose norm of ``dE/du`` before clipping.

        Raises:
            InputError: wrong shapes, or no fused kernel for these inputs (see :meth:`can_descend`).
        """
        J, J2 = self.J, self.J2
        if x.dim() != 3 or x.shape[1:] != (J2, 2):
            raise InputError(f"observed x: expected shape (B, {J2}, 2), got {tuple(x.shape)}")
        init = y0 if callable(y0) else None
        if init is None:
            self.check(y0, x)
        if not self.can_descend(None if init else y0, x):
            ref = x if init else y0
            raise InputError("descend: needs numba and CPU float32/float64 tensors of one dtype "
                             f"(got {ref.dtype} on {ref.device}, {x.dtype} on {x.device})")
        T = int(steps)
        if T < 0:
            raise InputError(f"steps must be >= 0, got {steps}")
        dt, B = x.dtype, x.shape[0]
        x = x.detach().contiguous()
        if init is None:
            y0 = y0.detach().contiguous()
            if T == 0:
                return [y0], []
        else:
            y0 = torch.empty(B, J, 3, dtype=dt)
        iterates = [y0] + [torch.empty(B, J, 3, dtype=dt) for _ in range(T)]
        gn2 = torch.empty(max(T, 1), B, dtype=dt)
        w = self.inference_weights(dt, x.device)
        nthreads = max(1, torch.get_num_threads())
        L = _fused.LANES
        n = min(512, -(-B // nthreads)) if chunk is None else max(1, int(chunk))
        n = -(-n // L) * L
        # chunks are handed out in order; with several workers the last ones are halved so that
        # the workers finish closer together
        chunks, off = [], 0
        while off < B:
            size = n if (nthreads == 1 or B - off > 2 * nthreads * n) else max(L, n // 2 // L * L)
            chunks.append((off, min(size, B - off)))
            off += size
        npdt = np.float32 if dt == torch.float32 else np.float64
        c = {"eps": npdt(self.eps), "unit": npdt(unit), "lr": npdt(lr),
             "clip": npdt(math.inf if clip is None else abs(float(clip))),
             "mom": npdt(0.0 if momentum is None else abs(float(momentum))), "no_mom": momentum is None,
             "hips": self.hips, "x_n": x.numpy(), "y0_n": y0.numpy(), "gn2_n": gn2.numpy(),
             "out_n": [t.numpy() for t in iterates], "bf": w.bf.numpy(), "W2f": w.W2f.numpy(),
             "b2f": w.b2f.numpy(), "W2r": w.W2r.numpy(), "b2r": w.b2r.numpy()}

        def run(off: int, m: int) -> None:
            with torch.no_grad():  # grad mode is thread-local: worker threads need it too
                _run(off, m)

        def _run(off: int, m: int) -> None:
            if init is not None:
                y0c = init(x[off:off + m])
                if y0c.shape != (m, J, 3) or y0c.dtype != dt:
                    raise InputError(f"descend: initial proposals must be ({m}, {J}, 3) {dt}, got "
                                     f"{tuple(y0c.shape)} {y0c.dtype}")
                y0[off:off + m] = y0c
            if T > 0:
                ws = _workspace(dt, n, J, J2, w.Wf.shape[0])
                self._descend_chunk(off, m, T, w, ws.views(-(-m // L) * L), c)

        workers = min(nthreads, len(chunks))
        if workers <= 1:
            for off, m in chunks:
                run(off, m)
        else:
            pool = _worker_pool(nthreads)
            queue = iter(chunks)
            lock = threading.Lock()

            def work() -> None:
                while True:
                    with lock:
                        item = next(queue, None)
                    if item is None:
                        return
                    run(*item)

            futures = [pool.submit(work) for _ in range(workers)]
            for f in futures:
                f.result()
        return iterates, (gn2.sqrt().mean(1).tolist() if T > 0 else [])

    @staticmethod
    def _descend_chunk(off: int, m: int, T: int, w: InferenceWeights, v: "_Views", c: dict) -> None:
        """All ``T`` steps of :meth:`descend` for poses ``off .. off + m`` (``v``: padded work arrays)."""
        lh, rh = c["hips"]
        eps = c["eps"]
        _fused.prepare_lanes(c["y0_n"], c["x_n"], off, m, v.ys_n, v.xs_n, v.inv_s_n, v.oo_n, v.dn_n, v.r_n,
                             lh, rh, eps)
        torch.addmm(w.br, v.oo_T, w.Woo_t, out=v.hc)
        for t in range(T):
            torch.mm(v.dn_T, w.Wf_t, out=v.hf)
            torch.mm(v.r_T, w.Wr_t, out=v.hr)
            _fused.mlp_grad(v.hf_n, c["bf"], c["W2f"], c["b2f"], v.hr_n, v.hc_n, c["W2r"], c["b2r"])
            torch.mm(w.Wf_t, v.hf_T, out=v.gf)
            torch.mm(w.Wr_t, v.hr_T, out=v.gr)
            _fused.descent_step(v.ys_n, v.sb_n, v.xs_n, v.inv_s_n, v.gf_n, v.gr_n, v.dn_n, v.r_n,
                                c["out_n"][t + 1], off, m, c["gn2_n"][t], lh, rh, eps, c["unit"], c["lr"],
                                c["clip"], c["mom"], t == 0 or c["no_mom"], t == T - 1)

    def macs_per_step(self) -> int:
        """Multiply-adds of one closed-form gradient evaluation (dense layers only)."""
        f, r = self.feasibility, self.reprojection
        hid = f.fc1.out_features
        n_pp = len(self._cols_pp)
        n_po = len(self._cols_po)
        feas = 2 * f.fc1.in_features * hid + 2 * hid * f.fc2.out_features
        rep = 2 * (n_pp + n_po) * hid + 2 * hid * r.fc2.out_features
        return feas + rep

    def macs_prepare(self) -> int:
        """Multiply-adds of :meth:`prepare` (observed-observed block, once per observation)."""
        return len(self._cols_oo) * self.reprojection.fc1.out_features
