"""Evaluation metrics for 3D pose, result summaries, and model size / cost counters.

Pose metrics return one value per pose, in the units of the input (metres in this library;
multiply by 1000 for the millimetres that tables report). Say which metric every number is:

* :func:`mpjpe` -- **MPJPE, Protocol 1**: mean joint distance after aligning the root joints.
* :func:`p1a` -- **Protocol 1a** of IGE-Net (Jack et al. 2019, §5.3): mean joint distance after
  scaling the prediction by ``s* = <gt, pred> / <pred, pred>`` **in the camera frame** (about the
  camera centre, no translation). A root-relative variant (scale after subtracting the root) is also
  used in the literature and gives different numbers; it is ``p1a(root_relative(pred),
  root_relative(gt))``.
* :func:`pa_mpjpe` -- **PA-MPJPE, Protocol 2**: after the optimal similarity transform (rotation
  without reflection, isotropic scale, translation), see
  :func:`energy3d.geometry.pose.procrustes_align`.
* :func:`acceleration_error` -- **acceleration error** of a sequence (jitter): mean over joints of
  ``|(y_{t+1} - 2 y_t + y_{t-1}) - (g_{t+1} - 2 g_t + g_{t-1})|``, per frame (units per frame²),
  root-aligned by default like MPJPE.

:func:`summarize` averages per-pose values per group (e.g. per action) the Human3.6M way.
:func:`count_parameters` and :func:`count_macs` give the size and cost every table reports.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from energy3d.errors import InputError
from energy3d.geometry.pose import check_pair, optimal_scale, procrustes_align, root_relative

Tensor = torch.Tensor

__all__ = ["mpjpe", "p1a", "pa_mpjpe", "acceleration_error", "summarize", "count_parameters", "count_macs"]


def _joint_error(pred: Tensor, gt: Tensor) -> Tensor:
    """Mean over joints of the Euclidean distance ``(..., J, D) -> (...,)``; gradient 0 at distance 0."""
    sq = ((pred - gt) ** 2).sum(dim=-1)
    pos = sq > 0
    dist = torch.where(pos, torch.sqrt(torch.where(pos, sq, torch.ones_like(sq))), torch.zeros_like(sq))
    return dist.mean(dim=-1)


def mpjpe(pred: Tensor, gt: Tensor, root: int = 0) -> Tensor:
    """MPJPE (Protocol 1): mean per-joint position error after aligning the root joints.

    Both poses are made relative to joint ``root`` (the pelvis in Human3.6M's 17-joint layout), then
    the Euclidean joint distances are averaged over all joints, the root included.

    Args:
        pred: ``(..., J, 3)`` predicted joints.
        gt: ``(..., J, 3)`` ground-truth joints (leading dims broadcast with ``pred``).
        root: index of the root joint.

    Returns:
        ``(...,)`` error per pose, in the units of the input.

    Example:
        >>> gt = torch.tensor([[0., 0., 5.], [0., 1., 5.]])
        >>> mpjpe(gt + torch.tensor([0.3, 0., 0.]), gt)  # a pure translation
        tensor(0.)
    """
    check_pair("pred", pred, "gt", gt)
    return _joint_error(root_relative(pred, root), root_relative(gt, root))


def p1a(pred: Tensor, gt: Tensor) -> Tensor:
    """Protocol 1a (IGE-Net): mean per-joint error after the optimal scale, in the camera frame.

    The prediction is multiplied by ``s* = <gt, pred> / <pred, pred>`` (sums over joints and
    coordinates; see :func:`energy3d.geometry.pose.optimal_scale`), scaling about the camera centre
    with no translation, and the Euclidean joint distances to ``gt`` are averaged. Poses must therefore
    be in the camera frame. For the root-relative variant use
    ``p1a(root_relative(pred), root_relative(gt))``; it gives different numbers.

    Args:
        pred: ``(..., J, 3)`` predicted joints, camera frame.
        gt: ``(..., J, 3)`` ground-truth joints, camera frame.

    Returns:
        ``(...,)`` error per pose, in the units of the input.

    Example:
        >>> gt = torch.tensor([[0., 0., 4.], [0., 1., 4.]])
        >>> p1a(0.5 * gt, gt)  # correct up to scale
        tensor(0.)
    """
    check_pair("pred", pred, "gt", gt)
    s = optimal_scale(pred, gt)
    return _joint_error(s[..., None, None] * pred, gt)


def pa_mpjpe(pred: Tensor, gt: Tensor) -> Tensor:
    """PA-MPJPE (Protocol 2): mean per-joint error after the optimal similarity transform.

    ``pred`` is rotated (never reflected), scaled and translated onto ``gt`` in the least-squares
    sense (:func:`energy3d.geometry.pose.procrustes_align`), then joint distances are averaged.

    Args:
        pred: ``(..., J, 3)`` predicted joints.
        gt: ``(..., J, 3)`` ground-truth joints.

    Returns:
        ``(...,)`` error per pose, in the units of the input.

    Example:
        >>> gt = torch.tensor([[0., 0., 0.], [1., 0., 0.], [0., 1., 0.], [0., 0., 1.]])
        >>> R = torch.tensor([[0., -1., 0.], [1., 0., 0.], [0., 0., 1.]])
        >>> bool(pa_mpjpe(3 * gt @ R.T + 1, gt) < 1e-5)
        True
    """
    check_pair("pred", pred, "gt", gt)
    return _joint_error(procrustes_align(pred, gt), gt)


def acceleration_error(pred: Tensor, gt: Tensor, root: int | None = 0) -> Tensor:
    """Mean per-joint acceleration error of a sequence: how much more (or less) the prediction jitters.

    The second differences ``a_t = y_{t+1} - 2 y_t + y_{t-1}`` of prediction and ground truth are
    compared joint by joint (Euclidean distance) and averaged over joints. With ``root`` (default 0,
    the pelvis of ``h36m17``) both are made root-relative first, as for :func:`mpjpe`; ``root=None``
    compares the camera-frame trajectories (root motion included).

    Args:
        pred: ``(T, J, 3)`` predicted joints of consecutive frames (constant frame rate).
        gt: ``(T, J, 3)`` ground truth.
        root: root joint index, or ``None``.

    Returns:
        ``(T - 2,)`` error per interior frame, in input units per frame² (empty for ``T < 3``).

    Example:
        >>> t = torch.arange(5.0)[:, None, None].expand(5, 2, 3)
        >>> acceleration_error(t ** 2, t, root=None)   # a constant acceleration of 2 per frame² on x, y, z
        tensor([3.4641, 3.4641, 3.4641])
    """
    check_pair("pred", pred, "gt", gt)
    if pred.dim() != 3 or pred.shape != gt.shape:
        raise InputError(f"acceleration_error: expected pred and gt of the same shape (T, J, 3), "
                         f"got {tuple(pred.shape)} and {tuple(gt.shape)}")
    if root is not None:
        pred, gt = root_relative(pred, root), root_relative(gt, root)
    acc = lambda y: y[2:] - 2 * y[1:-1] + y[:-2]
    if pred.shape[0] < 3:
        return pred.new_zeros(0)
    return _joint_error(acc(pred), acc(gt))


def _to_numpy_1d(name: str, v) -> np.ndarray:
    if isinstance(v, torch.Tensor):
        v = v.detach().cpu().double().numpy()
    arr = np.asarray(v, dtype=np.float64)
    if arr.ndim != 1:
        raise InputError(f"summarize: metric {name!r}: expected shape (N,), got {arr.shape}")
    return arr


def summarize(per_pose: Mapping[str, "np.ndarray | Tensor"], groups: Sequence) -> dict:
    """Average per-pose metrics per group, the Human3.6M way.

    Args:
        per_pose: metric name -> ``(N,)`` per-pose values (numpy array, tensor or list).
        groups: ``N`` group labels, one per pose (e.g. the action of each pose). Labels are turned
            into strings; groups appear in order of first occurrence.

    Returns:
        A JSON-serialisable dict of plain floats and ints::

            {"per_group": {group: {metric: mean, ..., "count": n_poses}, ...},
             "average":   {metric: mean of the per-group means, ...},   # the H3.6M table number
             "all":       {metric: mean over all poses, ..., "count": N}}

    Example:
        >>> out = summarize({"mpjpe": [1.0, 3.0, 5.0]}, ["walk", "walk", "sit"])
        >>> out["per_group"]["walk"], out["average"]["mpjpe"], out["all"]["mpjpe"]
        ({'mpjpe': 2.0, 'count': 2}, 3.5, 3.0)
    """
    if not isinstance(per_pose, Mapping) or len(per_pose) == 0:
        raise InputError("summarize: per_pose must be a non-empty dict of metric name -> (N,) values")
    labels = [str(g) for g in groups]
    n = len(labels)
    if n == 0:
        raise InputError("summarize: no poses (groups is empty)")
    values = {}
    for name, v in per_pose.items():
        if name == "count":
            raise InputError("summarize: 'count' is reserved and cannot be a metric name")
        arr = _to_numpy_1d(name, v)
        if arr.shape[0] != n:
            raise InputError(f"summarize: metric {name!r}: expected shape ({n},) to match groups, got {arr.shape}")
        values[str(name)] = arr

    order = list(dict.fromkeys(labels))
    label_arr = np.asarray(labels, dtype=object)
    per_group = {}
    for g in order:
        mask = label_arr == g
        entry = {name: float(arr[mask].mean()) for name, arr in values.items()}
        entry["count"] = int(mask.sum())
        per_group[g] = entry
    average = {name: float(np.mean([per_group[g][name] for g in order])) for name in values}
    overall = {name: float(arr.mean()) for name, arr in values.items()}
    overall["count"] = n
    return {"per_group": per_group, "average": average, "all": overall}


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of parameters of ``module`` (shared parameters counted once).

    Args:
        module: any ``nn.Module``.
        trainable_only: count only parameters with ``requires_grad``.

    Example:
        >>> count_parameters(nn.Linear(3, 2))
        8
    """
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only))


_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONV_T = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def count_macs(module: nn.Module, *inputs) -> int:
    """Multiply-accumulates of one forward pass per example, counted with forward hooks.

    Counted layers (bias additions and everything else -- activations, normalisation, pooling,
    attention matmuls done with bare tensor ops -- are not counted):

    * ``nn.Linear``: ``output.numel() * in_features``;
    * ``nn.Conv1d/2d/3d``: ``output.numel() * (in_channels / groups) * prod(kernel_size)``;
    * ``nn.ConvTranspose1d/2d/3d``: ``input.numel() * (out_channels / groups) * prod(kernel_size)``.

    A layer called several times is counted every time. The forward pass runs under
    ``torch.no_grad()`` in eval mode (so batch-norm statistics are not updated); the module's
    training flags are restored afterwards.

    Args:
        module: the network.
        *inputs: its forward arguments; the first must be a tensor whose dim 0 is the batch size
            ``B``. The total count is divided by ``B``.

    Returns:
        Multiply-adds per example.

    Example:
        >>> count_macs(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), torch.zeros(5, 4))
        48
    """
    if not inputs or not isinstance(inputs[0], torch.Tensor) or inputs[0].dim() == 0:
        raise InputError("count_macs: the first input must be a batched tensor of shape (B, ...)")
    batch = inputs[0].shape[0]
    if batch == 0:
        raise InputError(f"count_macs: batch size must be positive, got input shape {tuple(inputs[0].shape)}")
    total = 0

    def hook(mod, args, out):
        nonlocal total
        if isinstance(mod, nn.Linear):
            total += out.numel() * mod.in_features
        elif isinstance(mod, _CONV):
            total += out.numel() * (mod.in_channels // mod.groups) * math.prod(mod.kernel_size)
        elif isinstance(mod, _CONV_T):
            total += args[0].numel() * (mod.out_channels // mod.groups) * math.prod(mod.kernel_size)

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, (nn.Linear,) + _CONV + _CONV_T)]
    modes = {m: m.training for m in module.modules()}
    try:
        module.eval()
        with torch.no_grad():
            module(*inputs)
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.training = mode
    return int(round(total / batch))


# ----------------------------------------------------------------------------- voxel occupancy (IGE-Net §6.5)


def voxel_iou(prob: Tensor, target: Tensor, threshold: float = 0.5) -> Tensor:
    """Intersection over union of thresholded occupancy grids, one value per example.

    A voxel is predicted filled when ``prob > threshold`` (strictly); the target is filled when
    ``> 0.5``. An example whose prediction and target are both empty has IoU 1.

    Args:
        prob: ``(B, ...)`` predicted occupancy probabilities.
        target: ``(B, ...)`` occupancies (0/1 or soft).
        threshold: decision threshold (0.5 for the reported IoU).

    Returns:
        ``(B,)`` float64 IoU in ``[0, 1]``.

    Example:
        >>> voxel_iou(torch.tensor([[0.9, 0.8, 0.1, 0.6]]), torch.tensor([[1., 1., 1., 0.]]))
        tensor([0.5000], dtype=torch.float64)
    """
    if prob.shape != target.shape or prob.dim() < 2:
        raise InputError(f"voxel_iou: expected prediction and target of the same shape (B, ...), got "
                         f"{tuple(prob.shape)} and {tuple(target.shape)}")
    p = (prob > threshold).flatten(1)
    y = (target > 0.5).flatten(1)
    inter = (p & y).sum(1).double()
    union = (p | y).sum(1).double()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def voxel_iou_thresholds(prob: Tensor, target: Tensor, thresholds: Sequence[float]) -> Tensor:
    """:func:`voxel_iou` at several thresholds: ``(B, K)`` for ``K`` thresholds."""
    return torch.stack([voxel_iou(prob, target, float(t)) for t in thresholds], dim=1)


def iou_by_category(ious, categories: Sequence) -> dict:
    """Mean IoU per category and the mean over categories (the paper's "mean", §6.5 Table 3).

    Args:
        ious: ``(N,)`` IoU per example (tensor, array or list).
        categories: ``N`` category labels.

    Returns:
        ``{"per_category": {cat: {"iou": mean, "count": n}}, "mean": mean of the category means,
        "all": mean over examples, "count": N}``.

    Example:
        >>> iou_by_category([1.0, 0.5, 0.0], ["car", "car", "chair"])["mean"]
        0.375
    """
    s = summarize({"iou": ious}, categories)
    return {"per_category": s["per_group"], "mean": s["average"]["iou"], "all": s["all"]["iou"], "count": s["all"]["count"]}


__all__ += ["voxel_iou", "voxel_iou_thresholds", "iou_by_category"]
