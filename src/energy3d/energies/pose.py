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

Two gradient paths give the same numbers:

* :meth:`PoseEnergy.forward` builds the energy with torch ops, so ``torch.autograd.grad`` (with
  ``create_graph=True`` in training) differentiates it, second order included;
* :meth:`PoseEnergy.grad` is a closed-form, graph-free gradient for inference: it reuses the
  constant observed-observed block of the reprojection input and needs about two dense products
  per network, which is what makes IGE faster than a large baseline on a CPU. Tests check it
  against autograd.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from energy3d.errors import InputError

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
    @staticmethod
    def _incidence(n_points: int, i: Tensor, j: Tensor) -> Tensor:
        """``(n_points, P)`` matrix ``A`` with ``z^T A = z_i - z_j`` for each pair column."""
        A = torch.zeros(n_points, len(i))
        cols = torch.arange(len(i))
        A[i, cols] = 1.0
        A[j, cols] = -1.0
        return A

    def _fast_buffers(self, ref: Tensor) -> dict:
        key = (ref.dtype, ref.device)
        cache = getattr(self, "_fast_cache", None)
        if cache is None or cache[0] != key:
            J, J2 = self.J, self.J2
            A_f = self._incidence(J, self._pi.cpu(), self._pj.cpu())
            # reprojection pairs that involve the proposal: pp then po, in the column order of _cols_*
            ai, aj = self._ai.cpu(), self._aj.cpu()
            cols = torch.cat([self._cols_pp.cpu(), self._cols_po.cpu()])
            A_r = self._incidence(J + J2, ai[cols], aj[cols])
            lh, rh = self.hips
            hip_col = int(((self._pi.cpu() == min(lh, rh)) & (self._pj.cpu() == max(lh, rh))).nonzero()[0, 0])
            bufs = {"A_f": A_f, "A_f_t": A_f.t().contiguous(), "A_top": A_r[:J].contiguous(),
                    "A_top_t": A_r[:J].t().contiguous(), "A_bot": A_r[J:].contiguous(), "cols": cols}
            bufs = {k: v.to(device=ref.device, dtype=ref.dtype if v.is_floating_point() else v.dtype)
                    for k, v in bufs.items()}
            bufs["hip_col"] = hip_col
            self._fast_cache = (key, bufs)
        return self._fast_cache[1]

    def prepare(self, x: Tensor) -> dict:
        """Per-observation constants for :meth:`grad` (computed once per batch of observations).

        The observed-observed block of the reprojection input does not depend on the proposal, so
        its contribution to the first dense layer is computed here once; so are the observed
        columns of the pair differences.
        """
        fb = self._fast_buffers(x)
        s = self.observed_scale(x)
        W1, b1 = self.reprojection.effective_first_layer()
        Wf, bf = self.feasibility.effective_first_layer()
        i, j = [t.to(x.device) for t in _pairs(self.J2)]
        oo = self._sq(x, i, j) / s[:, None]
        const = torch.addmm(b1, oo, W1[:, self._cols_oo].t())
        B = x.shape[0]
        x_diff = (x.transpose(1, 2).reshape(B * 2, self.J2) @ fb["A_bot"]).reshape(B, 2, -1)
        W = W1[:, fb["cols"]].contiguous()
        return {"inv_s": 1.0 / s, "h_const": const, "x_diff": x_diff, "W": W, "W_t": W.t().contiguous(),
                "Wf": Wf.contiguous(), "Wf_t": Wf.t().contiguous(), "bf": bf}

    @staticmethod
    def _mlp_back(mlp: EnergyMLP, h: Tensor) -> Tensor:
        """Given pre-activations ``h`` of ``mlp``'s first layer, return dE/dh."""
        o = torch.addmm(mlp.fc2.bias, torch.nn.functional.softplus(h), mlp.fc2.weight.t())
        return (softabs_grad(o) @ mlp.fc2.weight) * torch.sigmoid(h)

    def grad(self, y: Tensor, consts: dict) -> Tensor:
        """Closed-form ``dE/dy`` ``(B, J, 3)`` without building an autograd graph.

        Pair differences and their back-projection to joints are dense products with fixed
        incidence matrices, so a step costs a handful of GEMMs.

        Args:
            y: ``(B, J, 3)`` proposals.
            consts: output of :meth:`prepare` for the observations.
        """
        fb = self._fast_buffers(y)
        J, B = self.J, y.shape[0]
        yt = y.transpose(1, 2).reshape(B * 3, J)
        # ---- feasibility: d = D / H with D the pairwise squared distances, H the hip pair's
        diff = (yt @ fb["A_f"]).reshape(B, 3, -1)                     # (B, 3, P)
        D = (diff * diff).sum(1)                                       # (B, P)
        inv_h = 1.0 / D[:, fb["hip_col"]].clamp_min(self.eps)
        h = torch.addmm(consts["bf"], D * inv_h[:, None], consts["Wf_t"])
        g = self._mlp_back(self.feasibility, h) @ consts["Wf"]         # dE/dd (B, P)
        gD = g * inv_h[:, None]
        gD[:, fb["hip_col"]] -= (g * D).sum(-1) * inv_h * inv_h
        grad = 2.0 * ((gD[:, None, :] * diff).reshape(B * 3, -1) @ fb["A_f_t"]).reshape(B, 3, J)
        # ---- reprojection, proposal-dependent columns only
        z = y[..., 2]
        z = torch.where(z.abs() < self.eps, torch.full_like(z, self.eps), z)
        inv_z = 1.0 / z                                                # (B, J)
        xt = y[..., :2].transpose(1, 2) * inv_z[:, None, :]            # (B, 2, J)
        rdiff = (xt.reshape(B * 2, J) @ fb["A_top"]).reshape(B, 2, -1) + consts["x_diff"]
        inv_s = consts["inv_s"][:, None]
        R = (rdiff * rdiff).sum(1) * inv_s                             # (B, Q)
        h = torch.addmm(consts["h_const"], R, consts["W_t"])
        g = (self._mlp_back(self.reprojection, h) @ consts["W"]) * inv_s
        gx = 2.0 * ((g[:, None, :] * rdiff).reshape(B * 2, -1) @ fb["A_top_t"]).reshape(B, 2, J)
        gx = gx * inv_z[:, None, :]
        gz = -(gx * xt).sum(1)                                         # (B, J)
        grad[:, :2] += gx
        grad[:, 2] += gz
        return grad.transpose(1, 2)

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
