"""Learning the structured pose model (Kinauer et al. §2.1, §2.4, §2.5): losses, candidates, problems.

Everything takes the network's output (any object with the tensors ``logits (B, J, D, H, W)``,
``residual (B, J, 3, D, H, W)``, ``pair (B, E, 3, H, W)``, ``heat2d (B, J, H, W)`` and the int ``crop``,
e.g. :class:`energy3d.models.structured_pose.PoseNetOutput`) and, for the pairwise terms, the model
duck-typed: anything with ``edges`` ``(E, 2)`` (the pair maps' edges, ``mu_ij = phi_i - phi_j``) and
``c`` ``(E, 3)`` (or a tuple ``(edges, c)``). This module imports no model code.

The label volume (crop pixels ``(u, v, w)``): voxel ``(d, h, w)`` has centre
``((w + .5) * cell, (h + .5) * cell, (d + .5) * cell_z)`` with ``cell = crop / W`` and
``cell_z = crop / D``.

Choices
-------
* **Unary score = log-sigmoid(logit)**, the log-probability that the voxel holds the joint under the
  per-voxel classifier trained by :func:`dsn_loss` (§2.4). With it, ``S(Phi)`` of a DSN-only model
  is a log-likelihood: log-probabilities of the voxels plus the Gaussian log-densities of eq. (3)
  (§2.3), whose precisions :func:`calibrate_pairwise` estimates as ``c = 1 / (2 sigma^2)``. The
  paper's linear score (the logit) differs from it only where the classifier is confident
  (log-sigmoid saturates at 0, so one over-confident joint cannot outvote the pairwise terms);
  ``unary="logit"`` gives the paper's choice.
* **Voxel targets (§2.4, "positive if the joint is within certain proximity to the centre"):** a
  voxel is positive when its centre is within ``radius`` cells (default 1) of the joint (clamped into
  the volume): the joint's own voxel plus the neighbours it is close to, 1-7 voxels. Positives are
  ~1 in 600 of a 16^3 volume, so their BCE is weighted by ``pos_weight`` (default 20): not fully
  balanced, which would make most of the volume score high, but enough that the ranking near the
  joint, which is all the top-N candidates need, is learnt early.
* **Residuals:** L1 (in cell units) at the positive voxels, against the joint's true (unclamped)
  coordinates. **Pairwise maps:** smooth-L1 (cell units) at the 2D cells within ``radius`` of the
  child ``j``, regressing ``phi_i - phi_j``. **2D heatmaps:** cross-entropy over the ``H * W`` cells
  against the joint's cell: it trains exactly the softmax that :func:`edge_terms` reads ``mu`` with.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from energy3d.errors import InputError
from energy3d.structured.graphs import TOPOLOGIES, is_forest, is_star, part_graph
from energy3d.structured.inference import most_violated, solve
from energy3d.structured.problem import StructuredProblem, make_problem, score_torch

UNARY_TOPOLOGY = "unary"
UNARY_SCORES = ("log_sigmoid", "logit")


# ----------------------------------------------------------------------------------------------
# geometry and validation


def _check_out(out) -> tuple[int, int, int, int, int]:
    for name in ("logits", "residual", "pair", "heat2d", "crop"):
        if not hasattr(out, name):
            raise InputError(f"model output: missing field {name!r}")
    lg = out.logits
    if not isinstance(lg, torch.Tensor) or lg.dim() != 5:
        raise InputError(f"out.logits: expected (B, J, D, H, W), got {getattr(lg, 'shape', type(lg))}")
    B, J, D, H, W = lg.shape
    if tuple(out.residual.shape) != (B, J, 3, D, H, W):
        raise InputError(f"out.residual: expected {(B, J, 3, D, H, W)}, got {tuple(out.residual.shape)}")
    if out.pair.dim() != 5 or tuple(out.pair.shape[:1]) + tuple(out.pair.shape[2:]) != (B, 3, H, W):
        raise InputError(f"out.pair: expected (B={B}, E, 3, {H}, {W}), got {tuple(out.pair.shape)}")
    if tuple(out.heat2d.shape) != (B, J, H, W):
        raise InputError(f"out.heat2d: expected {(B, J, H, W)}, got {tuple(out.heat2d.shape)}")
    return B, J, D, H, W


def _cells(out) -> tuple[float, float]:
    _, _, D, _, W = out.logits.shape
    return float(out.crop) / W, float(out.crop) / D


def voxel_centres(out) -> torch.Tensor:
    """``(D * H * W, 3)`` voxel centres ``(u, v, w)`` in crop px, flattened as ``d * H * W + h * W + w``."""
    _, _, D, H, W = out.logits.shape
    cell, cell_z = _cells(out)
    d, h, w = torch.meshgrid(torch.arange(D), torch.arange(H), torch.arange(W), indexing="ij")
    return torch.stack([(w + 0.5) * cell, (h + 0.5) * cell, (d + 0.5) * cell_z], -1).reshape(-1, 3).float()


def _check_joints(joints_vol, B: int, J: int) -> torch.Tensor:
    j = torch.as_tensor(joints_vol)
    if j.shape != (B, J, 3):
        raise InputError(f"joints_vol: expected shape ({B}, {J}, 3) crop px, got {tuple(j.shape)}")
    if not torch.isfinite(j).all():
        raise InputError("joints_vol: non-finite values")
    return j.float()


def _grid_coords(out, joints: torch.Tensor) -> torch.Tensor:
    """Joint coordinates in cell units ``(gw, gh, gd)``, clamped inside the volume."""
    _, _, D, H, W = out.logits.shape
    cell, cell_z = _cells(out)
    g = joints / torch.tensor([cell, cell, cell_z])
    hi = torch.tensor([W, H, D], dtype=g.dtype) - 1e-3
    return torch.minimum(g.clamp(min=0.0), hi)


def true_voxel(out, joints_vol) -> torch.Tensor:
    """``(B, J)`` flat voxel index holding each joint (clamped into the volume)."""
    B, J, D, H, W = _check_out(out)
    g = _grid_coords(out, _check_joints(joints_vol, B, J)).floor().long()
    return g[..., 2] * H * W + g[..., 1] * W + g[..., 0]


def _check_topology(topology: str):
    if topology == UNARY_TOPOLOGY:
        return None
    if not isinstance(topology, str):
        raise InputError(f"topology must be a name, got {type(topology).__name__}")
    try:
        return part_graph(topology)
    except InputError:
        raise InputError(f"unknown topology {topology!r}; known: {UNARY_TOPOLOGY}, {', '.join(TOPOLOGIES)}") from None


def _model_edges(model) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(model, (tuple, list)) and len(model) == 2:
        edges, c = model
    else:
        if not (hasattr(model, "edges") and hasattr(model, "c")):
            raise InputError("model: expected an object with .edges (E, 2) and .c (E, 3), or a tuple (edges, c)")
        edges, c = model.edges, model.c
    edges = torch.as_tensor(np.asarray(edges.cpu() if isinstance(edges, torch.Tensor) else edges)).long().reshape(-1, 2)
    c = torch.as_tensor(c)
    if c.shape != (edges.shape[0], 3):
        raise InputError(f"model.c: expected ({edges.shape[0]}, 3), got {tuple(c.shape)}")
    return edges, c


# ----------------------------------------------------------------------------------------------
# deep supervision (§2.4)


@dataclass(frozen=True)
class DSNLossConfig:
    """Deep-supervision loss settings (see the module docstring for the choices).

    Attributes:
        radius: positives / active residual and pairwise cells lie within this many cells of the joint.
        pos_weight: weight of positive voxels in the BCE.
        voxel, residual, pair, heat2d: weights of the four parts in the total.
    """

    radius: float = 1.0
    pos_weight: float = 20.0
    voxel: float = 1.0
    residual: float = 1.0
    pair: float = 0.5
    heat2d: float = 0.5

    def __post_init__(self):
        for name in ("radius", "pos_weight"):
            if not getattr(self, name) > 0:
                raise InputError(f"DSNLossConfig.{name} must be > 0, got {getattr(self, name)}")
        for name in ("voxel", "residual", "pair", "heat2d"):
            if not getattr(self, name) >= 0:
                raise InputError(f"DSNLossConfig.{name} must be >= 0, got {getattr(self, name)}")


def dsn_loss(out, joints_vol, cfg: DSNLossConfig | None = None, weights: dict | None = None, model=None):
    """Deeply supervised loss on the unary and pairwise heads (Kinauer et al. §2.4).

    Args:
        out: the network output.
        joints_vol: ``(B, J, 3)`` true volume coordinates, crop px.
        cfg: :class:`DSNLossConfig` (default one).
        weights: optional overrides of the part weights, e.g. ``{"pair": 0}``.
        model: gives ``edges`` for the pair maps (duck-typed); default: the union edges of
            :data:`~energy3d.structured.graphs.TOPOLOGIES` (as the network's).

    Returns:
        ``(loss, parts)``: the weighted total (tensor) and ``{"voxel", "residual", "pair", "heat2d",
        "total"}`` floats.
    """
    cfg = cfg or DSNLossConfig()
    if weights:
        unknown = set(weights) - {"voxel", "residual", "pair", "heat2d"}
        if unknown:
            raise InputError(f"dsn_loss weights: unknown parts {sorted(unknown)}")
        cfg = DSNLossConfig(**{**cfg.__dict__, **weights})
    B, J, D, H, W = _check_out(out)
    joints = _check_joints(joints_vol, B, J).to(out.logits.device)
    cell, cell_z = _cells(out)
    units = torch.tensor([cell, cell, cell_z])
    g = _grid_coords(out, joints)  # (B, J, 3) cells, clamped
    centres = voxel_centres(out)  # (V, 3) px
    cg = centres / units  # cell units
    dist = (cg[None, None] - g[:, :, None]).norm(dim=-1)  # (B, J, V)
    pos = dist <= cfg.radius
    own = true_voxel(out, joints)
    pos.scatter_(2, own[..., None], True)
    logits = out.logits.reshape(B, J, -1)
    target = pos.float()
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    wt = torch.where(pos, torch.full_like(bce, cfg.pos_weight), torch.ones_like(bce))
    l_vox = (wt * bce).sum() / wt.sum()

    # residual L1 at positives, in cell units, against the true (unclamped) joint
    res = out.residual.reshape(B, J, 3, -1)
    tgt = (joints[..., None] - centres.T[None, None]) / units[None, None, :, None]
    m = pos[:, :, None].float()
    l_res = ((res / units[None, None, :, None] - tgt).abs() * m).sum() / (3 * m.sum()).clamp(min=1)

    # pairwise maps: smooth-L1 at 2D cells near the child
    edges = _model_edges(model)[0] if model is not None else _union_edges_default()
    E = out.pair.shape[1]
    if edges.shape[0] != E:
        raise InputError(f"out.pair has {E} edge maps but the edge list has {edges.shape[0]}")
    if E:
        hh, ww = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
        c2 = torch.stack([ww + 0.5, hh + 0.5], -1).reshape(-1, 2).float()  # (HW, 2) cells
        d2 = (c2[None, None] - g[:, :, None, :2]).norm(dim=-1)  # (B, J, HW)
        near = d2 <= cfg.radius
        own2 = g[..., 1].floor().long() * W + g[..., 0].floor().long()
        near.scatter_(2, own2[..., None], True)
        i, j = edges[:, 0], edges[:, 1]
        mask = near[:, j].float()  # (B, E, HW)
        disp = (joints[:, i] - joints[:, j]) / units  # (B, E, 3) cells
        pm = out.pair.reshape(B, E, 3, -1) / units[None, None, :, None]
        sl = F.smooth_l1_loss(pm, disp[..., None].expand_as(pm), reduction="none", beta=1.0)
        l_pair = (sl * mask[:, :, None]).sum() / (3 * mask.sum()).clamp(min=1)
    else:
        l_pair = out.pair.sum() * 0.0

    # 2D heatmaps: cross-entropy over H * W against the joint's cell
    own2 = g[..., 1].floor().long() * W + g[..., 0].floor().long()
    l_heat = F.cross_entropy(out.heat2d.reshape(B * J, -1), own2.reshape(-1))

    total = cfg.voxel * l_vox + cfg.residual * l_res + cfg.pair * l_pair + cfg.heat2d * l_heat
    parts = {name: float(v.detach()) for name, v in
             (("voxel", l_vox), ("residual", l_res), ("pair", l_pair), ("heat2d", l_heat), ("total", total))}
    return total, parts


def _union_edges_default() -> torch.Tensor:
    seen: dict = {}
    for name in TOPOLOGIES:
        for i, j in part_graph(name).edges:
            seen.setdefault(frozenset((int(i), int(j))), (int(i), int(j)))
    return torch.tensor(list(seen.values()), dtype=torch.long).reshape(-1, 2)


# ----------------------------------------------------------------------------------------------
# candidates and pairwise terms (§2.1-2.3)


@dataclass
class Candidates:
    """Top-N voxel candidates per joint.

    Attributes:
        positions: ``(B, J, n, 3)`` voxel centre + residual, crop px (differentiable in the residual).
        unaries: ``(B, J, n)`` unary scores (differentiable in the logits).
        voxel: ``(B, J, n)`` flat voxel indices.
        true_index: ``(B, J)`` position of the true voxel among the candidates (only with ``force``).
    """

    positions: torch.Tensor
    unaries: torch.Tensor
    voxel: torch.Tensor
    true_index: torch.Tensor | None = None


def unary_score(logits: torch.Tensor, unary: str = "log_sigmoid") -> torch.Tensor:
    """The unary score of voxel logits: ``log_sigmoid`` (default, a log-probability) or ``logit``."""
    if unary == "log_sigmoid":
        return F.logsigmoid(logits)
    if unary == "logit":
        return logits
    raise InputError(f"unary must be one of {', '.join(UNARY_SCORES)}; got {unary!r}")


def candidates(out, n: int, force=None, unary: str = "log_sigmoid") -> Candidates:
    """Top-``n`` voxels per joint by logit (§2.1), positions = voxel centre + regressed residual.

    Args:
        out: the network output.
        n: candidates per joint, ``1 <= n <= D * H * W``.
        force: optional ``(B, J, 3)`` true volume coordinates: the true voxel is then always a
            candidate (replacing the worst when it is not in the top ``n``); needed for the
            ground-truth configuration of :func:`ssvm_loss`.
        unary: see :func:`unary_score`.

    Returns:
        :class:`Candidates`, sorted by logit (except a forced voxel, which sits last).
    """
    B, J, D, H, W = _check_out(out)
    V = D * H * W
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= V:
        raise InputError(f"candidate count n must be an integer in 1..{V} (the volume's D*H*W = "
                         f"{D}*{H}*{W}), got {n!r}")
    logits = out.logits.reshape(B, J, V)
    idx = logits.detach().topk(int(n), dim=2).indices
    true_index = None
    if force is not None:
        tv = true_voxel(out, force)
        hit = idx == tv[..., None]
        missing = ~hit.any(-1)
        idx = idx.clone()
        idx[..., -1] = torch.where(missing, tv, idx[..., -1])
        true_index = (idx == tv[..., None]).long().argmax(-1)
    centres = voxel_centres(out).to(out.residual.device)
    res = out.residual.reshape(B, J, 3, V)
    r = torch.gather(res, 3, idx[:, :, None, :].expand(B, J, 3, int(n))).permute(0, 1, 3, 2)
    positions = centres[idx] + r
    unaries = unary_score(torch.gather(logits, 2, idx), unary)
    return Candidates(positions, unaries, idx, true_index)


def soft_argmax_weights(heat2d: torch.Tensor) -> torch.Tensor:
    """``(B, J, H * W)`` softmax of the 2D heatmap logits over the cells."""
    B, J = heat2d.shape[:2]
    return torch.softmax(heat2d.reshape(B, J, -1), dim=-1)


def edge_terms(out, model, topology: str):
    """A topology's edges, ``c`` and image-dependent ``mu`` (§2.2: ``mu_ij`` read at the child).

    ``mu_ij`` of a model edge ``(i, j)`` is its displacement map averaged over ``H x W`` with the
    softmax of joint ``j``'s 2D heatmap logits (a soft-argmax read-out, differentiable in both). A
    topology edge that is the model's ``(j, i)`` gets ``-mu`` (and the same ``c``).

    Args:
        out: the network output.
        model: duck-typed ``.edges`` ``(E, 2)`` and ``.c`` ``(E, 3)``, or a tuple ``(edges, c)``.
        topology: ``"unary"`` (no edges) or a name of :data:`~energy3d.structured.graphs.TOPOLOGIES`.

    Returns:
        ``(edges (E_t, 2) int64 numpy, c (E_t, 3) tensor, mu (B, E_t, 3) tensor)``.
    """
    B, J, D, H, W = _check_out(out)
    graph = _check_topology(topology)
    medges, c = _model_edges(model)
    if medges.shape[0] != out.pair.shape[1]:
        raise InputError(f"model has {medges.shape[0]} edges but out.pair has {out.pair.shape[1]} maps")
    if graph is None:
        return np.zeros((0, 2), np.int64), c[:0], out.pair.new_zeros(B, 0, 3)
    index = {(int(a), int(b)): k for k, (a, b) in enumerate(medges.tolist())}
    ids, sign = [], []
    for a, b in graph.edges:
        a, b = int(a), int(b)
        if (a, b) in index:
            ids.append(index[(a, b)]); sign.append(1.0)
        elif (b, a) in index:
            ids.append(index[(b, a)]); sign.append(-1.0)
        else:
            raise InputError(f"topology {topology!r}: edge {(a, b)} has no pairwise head in the model")
    ids_t = torch.tensor(ids, dtype=torch.long)
    child = medges[ids_t, 1]
    wgt = soft_argmax_weights(out.heat2d)[:, child]  # (B, E_t, HW)
    maps = out.pair[:, ids_t].reshape(B, len(ids), 3, -1)
    mu = (maps * wgt[:, :, None]).sum(-1) * torch.tensor(sign, dtype=maps.dtype)[None, :, None]
    return graph.as_array(), c[ids_t], mu


def build_problem(cands: Candidates, b: int, edges, c, mu) -> StructuredProblem:
    """The :class:`~energy3d.structured.problem.StructuredProblem` of sample ``b`` (float64)."""
    mu_b = mu[b] if isinstance(mu, torch.Tensor) and mu.dim() == 3 else mu
    return make_problem(cands.positions[b].detach(), cands.unaries[b].detach(), np.asarray(edges).reshape(-1, 2),
                        c.detach() if isinstance(c, torch.Tensor) else c,
                        mu_b.detach() if isinstance(mu_b, torch.Tensor) else mu_b)


def _method(edges: np.ndarray, num_parts: int, method: str) -> str:
    """Fastest exact solver: ``bnb`` without edges or on stars, ``dp`` on trees, ``admm`` on loopy graphs."""
    if method != "auto":
        return method
    if len(edges) == 0:
        return "bnb"
    if is_forest(edges, num_parts):
        return "dp"
    if is_star(edges, num_parts) is not None:
        return "bnb"
    return "admm"


@dataclass
class InferResult:
    """Structured inference results.

    Attributes:
        poses: ``(B, J, 3)`` float64 crop px.
        configs: ``(B, J)`` chosen candidate per joint.
        certified: ``(B,)`` bool, the solution is provably optimal (exact solvers always).
        admm_iterations: ``(B,)`` int (0 unless ADMM ran).
        seconds_structured: wall time of the structured inference (problem building + solving).
        method: solver used.
    """

    poses: np.ndarray
    configs: np.ndarray
    certified: np.ndarray
    admm_iterations: np.ndarray
    seconds_structured: float
    method: str


def infer(out, model, topology: str, n: int, *, method: str = "auto", unary: str = "log_sigmoid") -> InferResult:
    """MAP poses from the network output (§2.3) with the top-``n`` candidates per joint.

    ``"unary"`` takes each joint's best candidate; trees use exact dynamic programming (``dp``), stars
    without being trees do not occur here but would use branch-and-bound, loopy graphs ADMM.
    """
    B, J = out.logits.shape[:2]
    graph = _check_topology(topology)
    with torch.no_grad():
        cands = candidates(out, n, unary=unary)
        edges, c, mu = edge_terms(out, model, topology)
    t0 = time.perf_counter()
    poses = np.zeros((B, J, 3))
    configs = np.zeros((B, J), np.int64)
    certified = np.ones(B, bool)
    iters = np.zeros(B, np.int64)
    if graph is None:
        configs = cands.unaries.argmax(-1).numpy()
        poses = np.take_along_axis(cands.positions.double().numpy(), configs[..., None, None], 2)[:, :, 0]
        used = "argmax"
    else:
        used = _method(edges, J, method)
        for b in range(B):
            sol = solve(build_problem(cands, b, edges, c, mu), used)
            poses[b], configs[b] = sol.pose, sol.config
            info = sol.info
            if hasattr(info, "iterations") and hasattr(info, "decoded"):
                iters[b] = info.iterations
                certified[b] = info.decoded == "certified"
    return InferResult(poses, configs, certified, iters, time.perf_counter() - t0, used)


# ----------------------------------------------------------------------------------------------
# structured SVM (§2.5)


def ssvm_loss(out, model, joints_vol, topology: str, *, n: int, k: int = 20, margin_weight: float = 1.0,
              method: str = "auto", unary: str = "log_sigmoid"):
    """Structured hinge loss with the ``k`` most violated configurations (Kinauer et al. §2.5).

    Per sample ``b``: the candidates with the true voxel forced in (its configuration ``Phi_gt``),
    the ``k`` best configurations of ``S + w * Delta`` (:func:`~energy3d.structured.most_violated`,
    ``Delta`` the mean Euclidean joint distance to ``joints_vol`` in crop px, ``w = margin_weight``),
    and ``mean_k max(0, S(Phi_k) + w * Delta_k - S(Phi_gt))``; the scores are computed by
    :func:`~energy3d.structured.score_torch` in float64, so the (sub)gradient flows into the unaries,
    the residual positions, ``mu`` and ``c``. The loss is the mean over samples.

    Returns:
        ``(loss, parts)``: scalar tensor in the output's dtype (float32 for the network); ``{"hinge", "violated"`` (fraction of the ``B * k`` hinges that are active), ``"delta"``
        (mean Delta of the k), ``"seconds"`` (loss-augmented inference per sample), ``"exact"``
        (fraction of samples whose K-best list is exact: always on trees, certified ADMM on loopy graphs)``}``.
        ``Delta_k`` is the task loss of configuration ``k``: a constant in the gradient.
    """
    B, J = out.logits.shape[:2]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InputError(f"k must be a positive integer, got {k!r}")
    if not margin_weight >= 0:
        raise InputError(f"margin_weight must be >= 0, got {margin_weight}")
    joints = _check_joints(joints_vol, B, J)
    cands = candidates(out, n, force=joints, unary=unary)
    edges, c, mu = edge_terms(out, model, topology)
    used = _method(edges, J, method)
    gt_np = joints.double().numpy()
    losses, violated, deltas, exact = [], 0, [], 0
    seconds = 0.0
    for b in range(B):
        t0 = time.perf_counter()
        prob = build_problem(cands, b, edges, c, mu)
        mv = most_violated(prob, gt_np[b], k=int(k), weight=float(margin_weight), method=used)
        seconds += time.perf_counter() - t0
        exact += int(mv.info.exact)
        pos = cands.positions[b].double()
        un = cands.unaries[b].double()
        cc, mm = c.double(), mu[b].double()
        s_k = score_torch(pos, un, edges, cc, mm, torch.as_tensor(mv.configs))
        s_gt = score_torch(pos, un, edges, cc, mm, cands.true_index[b])
        h = torch.relu(s_k + float(margin_weight) * torch.as_tensor(mv.losses) - s_gt)
        losses.append(h.mean())
        violated += int((h > 0).sum())
        deltas.append(float(np.mean(mv.losses)))
    loss = torch.stack(losses).mean().to(out.logits.dtype)
    parts = {"hinge": float(loss.detach()), "violated": violated / float(B * k), "delta": float(np.mean(deltas)),
             "seconds": seconds / B, "exact": exact / B}
    return loss, parts


# ----------------------------------------------------------------------------------------------
# calibration of a DSN-only model (§2.3)


def pairwise_read(out, model, joints_vol):
    """``(mu_pred, mu_true)``, both ``(B, E, 3)`` crop px, for all the model's edges.

    ``mu_pred`` is read as :func:`edge_terms` reads it (soft-argmax of the child's 2D heatmap),
    ``mu_true = phi_i - phi_j``; accumulate them over a data set for :func:`calibrate_pairwise`.
    """
    B, J, D, H, W = _check_out(out)
    medges, _ = _model_edges(model)
    joints = _check_joints(joints_vol, B, J)
    wgt = soft_argmax_weights(out.heat2d)[:, medges[:, 1]]
    mu = (out.pair.reshape(B, medges.shape[0], 3, -1) * wgt[:, :, None]).sum(-1)
    return mu, joints[:, medges[:, 0]] - joints[:, medges[:, 1]]


def calibrate_pairwise(mu_pred, mu_true, unary_scale: float = 1.0, min_sigma: float = 1.0) -> torch.Tensor:
    """Pairwise weights of a DSN-only model: ``c_d = unary_scale / (2 sigma_d^2)`` per edge and axis.

    §2.3: the pairwise term ``-sum_d c_d (phi_i,d - phi_j,d - mu_d)^2`` is, up to a constant, the
    log-density of an axis-aligned Gaussian of the true displacement around the regressed ``mu``
    with ``sigma_d^2 = 1 / (2 c_d)``; ``sigma_d^2`` is estimated as the mean squared residual
    ``(mu_true - mu_pred)^2`` over samples. With the default log-sigmoid unaries (log-probabilities)
    the two terms are then on the same log-likelihood scale (``unary_scale = 1``; use another value
    to re-weight pairwise against unary terms).

    Args:
        mu_pred, mu_true: ``(N, E, 3)`` (crop px).
        unary_scale: multiplies ``c``.
        min_sigma: floor on ``sigma`` (crop px), so a tiny sample cannot make ``c`` explode.

    Returns:
        ``(E, 3)`` float32 positive tensor.
    """
    p, t = torch.as_tensor(mu_pred).double(), torch.as_tensor(mu_true).double()
    if p.shape != t.shape or p.dim() != 3 or p.shape[-1] != 3 or p.shape[0] < 1:
        raise InputError(f"calibrate_pairwise: expected mu_pred and mu_true (N, E, 3), got {tuple(p.shape)} "
                         f"and {tuple(t.shape)}")
    if not unary_scale > 0 or not min_sigma > 0:
        raise InputError("calibrate_pairwise: unary_scale and min_sigma must be > 0")
    var = ((t - p) ** 2).mean(0).clamp(min=min_sigma ** 2)
    return (unary_scale / (2.0 * var)).float()
