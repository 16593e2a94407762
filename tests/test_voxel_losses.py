"""Voxel losses (focal, continuous IoU) and the voxel IoU metric."""

import pytest
import torch
import torch.nn.functional as F

from energy3d.errors import InputError
from energy3d.losses import continuous_iou_loss, focal_loss, unrolled_loss, voxel_loss
from energy3d.metrics import iou_by_category, voxel_iou, voxel_iou_thresholds


pytestmark = pytest.mark.usefixtures("one_thread")


def _data(seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, 4, 4, 4, generator=g, dtype=torch.float64) * 3
    target = (torch.rand(3, 4, 4, 4, generator=g, dtype=torch.float64) > 0.6).double()
    return logits, target


def test_focal_reduces_to_bce():
    l, y = _data()
    assert torch.allclose(focal_loss(l, y), F.binary_cross_entropy_with_logits(l, y), atol=1e-12)


@pytest.mark.parametrize("alpha,gamma", [(0.7, 0.0), (0.0, 2.0), (0.3, 1.5), (-0.5, 0.5)])
def test_focal_matches_hand_formula(alpha, gamma):
    l, y = _data(1)
    p = torch.sigmoid(l)
    per = -(y * (1 - p) ** gamma * (1 + alpha) * torch.log(p) + (1 - y) * p ** gamma * (1 - alpha) * torch.log(1 - p))
    assert torch.allclose(focal_loss(l, y, alpha, gamma), per.flatten(1).mean(1).mean(), atol=1e-10)


def test_focal_alpha_weights_positives():
    l = torch.zeros(1, 2, dtype=torch.float64)
    pos, neg = torch.tensor([[1.0, 1.0]]), torch.tensor([[0.0, 0.0]])
    assert torch.isclose(focal_loss(l, pos, 0.7), 1.7 * focal_loss(l, pos))
    assert torch.isclose(focal_loss(l, neg, 0.7), 0.3 * focal_loss(l, neg))
    with pytest.raises(InputError):
        focal_loss(l, pos, alpha=1.0)
    with pytest.raises(InputError):
        focal_loss(l, pos[:, :1])


def test_focal_is_stable_for_large_logits():
    l = torch.tensor([[80.0, -80.0]])
    y = torch.tensor([[1.0, 0.0]])
    assert torch.isfinite(focal_loss(l, y, 0.7, 2.0)) and focal_loss(l, y) < 1e-30


def test_continuous_iou_closed_form():
    p = torch.tensor([[0.2, 0.9, 0.5, 0.0], [1.0, 1.0, 1.0, 1.0]], dtype=torch.float64)
    y = torch.tensor([[0.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    # example 0: inter = 0.9 + 0.5 = 1.4; sum(p + y) = 1.6 + 2 = 3.6; union = 2.2
    # example 1: inter = 1; sum = 4 + 1 = 5; union = 4
    expect = ((1 - 1.4 / 2.2) + (1 - 1 / 4)) / 2
    assert abs(float(continuous_iou_loss(p, y)) - expect) < 1e-12


def test_continuous_iou_is_one_minus_iou_on_binary():
    g = torch.Generator().manual_seed(3)
    p = (torch.rand(5, 6, 6, 6, generator=g) > 0.5).double()
    y = (torch.rand(5, 6, 6, 6, generator=g) > 0.4).double()
    assert torch.allclose(continuous_iou_loss(p, y), 1 - voxel_iou(p, y).mean(), atol=1e-12)
    assert float(continuous_iou_loss(y, y)) < 1e-12


def test_voxel_loss_kinds_and_unrolled_weights():
    l, y = _data()
    assert torch.isclose(voxel_loss("focal")(l, y), F.binary_cross_entropy_with_logits(l, y))
    assert torch.isclose(voxel_loss("iou")(l, y), continuous_iou_loss(torch.sigmoid(l), y))
    with pytest.raises(InputError):
        voxel_loss("dice")
    total, per = unrolled_loss([l, l + 1.0, l * 0], y, loss=voxel_loss("iou"))
    w = [0.81 / 2.71, 0.9 / 2.71, 1 / 2.71]
    assert abs(float(total) - sum(a * b for a, b in zip(w, per))) < 1e-9


def test_voxel_iou_known_cases():
    y = torch.zeros(3, 2, 2, 2)
    y[0, 0] = 1  # 4 voxels
    p = torch.zeros(3, 2, 2, 2)
    p[0, 0, 0] = 0.9  # 2 of the 4, nothing else
    p[0, 1, 1, 1] = 0.6  # one false positive
    p[1] = 0.51  # all filled vs empty target
    # example 2: both empty -> 1
    iou = voxel_iou(p, y)
    assert torch.allclose(iou, torch.tensor([2 / 5, 0.0, 1.0], dtype=torch.float64))
    assert voxel_iou(p, y, threshold=0.95)[0] == 0
    multi = voxel_iou_thresholds(p, y, [0.5, 0.7])
    assert multi.shape == (3, 2) and multi[0, 1] == 2 / 4
    with pytest.raises(InputError):
        voxel_iou(p, y[:2])


def test_iou_by_category_means_categories():
    r = iou_by_category(torch.tensor([1.0, 0.5, 0.0, 0.0]), ["car", "car", "chair", "chair"])
    assert r["mean"] == pytest.approx(0.375) and r["all"] == pytest.approx(0.375)
    r = iou_by_category([1.0, 1.0, 0.0], ["car", "car", "chair"])
    assert r["mean"] == pytest.approx(0.5) and r["all"] == pytest.approx(2 / 3)
    assert r["per_category"]["car"]["count"] == 2
