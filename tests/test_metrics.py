"""Tests for energy3d.metrics: pose errors on constructed cases and numpy references, summaries, counters."""

import json

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation
from torch import nn

from energy3d.errors import InputError
from energy3d.metrics import count_macs, count_parameters, mpjpe, p1a, pa_mpjpe, summarize


def np_pa_mpjpe(P, G):
    """Reference: best proper rotation from scipy, closed-form scale and translation."""
    Pc, Gc = P - P.mean(0), G - G.mean(0)
    rot, _ = Rotation.align_vectors(Gc, Pc)
    RP = Pc @ rot.as_matrix().T
    s = (RP * Gc).sum() / (Pc**2).sum()
    return np.linalg.norm(s * RP + G.mean(0) - G, axis=-1).mean()


@pytest.fixture
def poses():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(6, 17, 3)) * 0.3 + np.array([0, 0, 4.0])
    pred = gt + rng.normal(size=gt.shape) * 0.05
    return pred, gt


def test_mpjpe_matches_numpy(poses):
    pred, gt = poses
    for root in (0, 3):
        ref = np.linalg.norm((pred - pred[:, root : root + 1]) - (gt - gt[:, root : root + 1]), axis=-1).mean(-1)
        np.testing.assert_allclose(mpjpe(torch.tensor(pred), torch.tensor(gt), root=root).numpy(), ref, rtol=1e-12)


def test_p1a_matches_numpy(poses):
    pred, gt = poses
    s = (pred * gt).sum((1, 2)) / (pred * pred).sum((1, 2))
    ref = np.linalg.norm(s[:, None, None] * pred - gt, axis=-1).mean(-1)
    np.testing.assert_allclose(p1a(torch.tensor(pred), torch.tensor(gt)).numpy(), ref, rtol=1e-12)


def test_pa_mpjpe_matches_reference(poses):
    pred, gt = poses
    pred = pred.copy()
    pred[0] = pred[0] @ np.diag([-1.0, 1, 1])  # one mirrored prediction: no reflection allowed
    got = pa_mpjpe(torch.tensor(pred), torch.tensor(gt)).numpy()
    ref = np.array([np_pa_mpjpe(pred[b], gt[b]) for b in range(6)])
    np.testing.assert_allclose(got, ref, rtol=1e-9)
    assert got[0] > 0.1


def test_pure_translation():
    gt = torch.tensor([[0.0, 0.0, 2.0], [0.0, 0.0, 4.0], [1.0, 0.0, 4.0]], dtype=torch.float64)
    pred = gt + torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    assert mpjpe(pred, gt).item() == 0.0
    assert pa_mpjpe(pred, gt).item() < 1e-12
    # P1a by hand: <gt,pred> = 6+20+21 = 47, <pred,pred> = 9+25+26 = 60, s = 47/60.
    s = 47 / 60
    errs = [abs(3 * s - 2), abs(5 * s - 4), np.hypot(s - 1, 5 * s - 4)]
    np.testing.assert_allclose(p1a(pred, gt).item(), np.mean(errs), rtol=1e-12)
    # two collinear joints on the optical axis: s = 26/34 = 13/17, errors 5/17 and 3/17
    np.testing.assert_allclose(p1a(pred[:2], gt[:2]).item(), 4 / 17, rtol=1e-12)


def test_p1a_is_camera_frame_not_root_relative():
    gt = torch.tensor([[0.0, 0.0, 4.0], [0.5, 0.0, 4.0], [0.0, 0.5, 4.2]], dtype=torch.float64)
    pred = 0.5 * gt
    assert p1a(pred, gt).item() < 1e-12  # scale about the camera centre undoes it exactly
    assert mpjpe(pred, gt).item() > 0.1
    # a depth shift is not undone by scaling in the camera frame, but is by the root-relative variant
    shifted = gt + torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    assert p1a(shifted, gt).item() > 1e-3
    from energy3d.geometry.pose import root_relative

    assert p1a(root_relative(shifted), root_relative(gt)).item() < 1e-12


def test_similarity_invariance_of_pa_mpjpe(poses):
    pred, gt = poses
    R = Rotation.random(random_state=1).as_matrix()
    moved = 2.5 * pred @ R.T + np.array([1.0, -2.0, 3.0])
    a = pa_mpjpe(torch.tensor(pred), torch.tensor(gt))
    b = pa_mpjpe(torch.tensor(moved), torch.tensor(gt))
    torch.testing.assert_close(a, b)
    # scaling the prediction about the camera centre leaves P1a unchanged
    torch.testing.assert_close(p1a(torch.tensor(3 * pred), torch.tensor(gt)), p1a(torch.tensor(pred), torch.tensor(gt)))


def test_metrics_gradients_finite_at_zero_error():
    gt = torch.randn(2, 5, 3, dtype=torch.float64)
    for fn in (mpjpe, p1a, pa_mpjpe):
        pred = gt.clone().requires_grad_(True)
        fn(pred, gt).sum().backward()
        assert torch.isfinite(pred.grad).all()
        if fn is mpjpe:  # exact zero error: the norm's subgradient 0 is used, not NaN
            assert pred.grad.abs().max() == 0


def test_metrics_gradcheck():
    rng = np.random.default_rng(2)
    gt = torch.tensor(rng.normal(size=(2, 6, 3)))
    pred = (gt + 0.2 * torch.tensor(rng.normal(size=(2, 6, 3)))).requires_grad_(True)
    for fn in (mpjpe, p1a, pa_mpjpe):
        assert torch.autograd.gradcheck(lambda p: fn(p, gt), (pred,))


def test_shape_mismatch_names_both_shapes():
    for fn in (mpjpe, p1a, pa_mpjpe):
        with pytest.raises(InputError, match=r"\(2, 17, 3\).*\(2, 16, 3\)"):
            fn(torch.zeros(2, 17, 3), torch.zeros(2, 16, 3))
        with pytest.raises(InputError, match=r"\(2, 17, 3\).*\(3, 17, 3\)"):
            fn(torch.zeros(2, 17, 3), torch.zeros(3, 17, 3))


def test_summarize_tiny():
    per_pose = {"mpjpe": np.array([1.0, 2.0, 3.0, 10.0]), "pa_mpjpe": torch.tensor([0.5, 0.5, 1.0, 4.0])}
    out = summarize(per_pose, ["Walk", "Sit", "Walk", "Walk"])
    assert list(out["per_group"]) == ["Walk", "Sit"]
    assert out["per_group"]["Walk"] == {"mpjpe": pytest.approx(14 / 3), "pa_mpjpe": pytest.approx(5.5 / 3), "count": 3}
    assert out["per_group"]["Sit"] == {"mpjpe": 2.0, "pa_mpjpe": 0.5, "count": 1}
    # average = mean of per-group means (H3.6M); all = mean over poses
    assert out["average"]["mpjpe"] == pytest.approx((14 / 3 + 2) / 2)
    assert out["average"]["pa_mpjpe"] == pytest.approx((5.5 / 3 + 0.5) / 2)
    assert out["all"] == {"mpjpe": pytest.approx(4.0), "pa_mpjpe": pytest.approx(1.5), "count": 4}
    back = json.loads(json.dumps(out))
    assert back["all"]["count"] == 4 and isinstance(out["all"]["mpjpe"], float)


def test_summarize_bad_input():
    with pytest.raises(InputError, match=r"\(3,\).*\(2,\)"):
        summarize({"mpjpe": [1.0, 2.0]}, ["a", "b", "c"])
    with pytest.raises(InputError, match=r"\(N,\)"):
        summarize({"mpjpe": np.zeros((2, 2))}, ["a", "b"])
    with pytest.raises(InputError):
        summarize({}, ["a"])


def test_count_parameters():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    assert count_parameters(net) == (3 * 4 + 4) + (4 * 2 + 2)
    net[0].weight.requires_grad_(False)
    assert count_parameters(net) == 4 + 10
    assert count_parameters(net, trainable_only=False) == 26
    shared = nn.Linear(5, 5)
    assert count_parameters(nn.Sequential(shared, nn.Tanh(), shared)) == 30


def test_count_macs_mlp():
    net = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 16), nn.BatchNorm1d(16), nn.Linear(16, 3))
    net.train()
    before = net[3].running_mean.clone()
    assert count_macs(net, torch.randn(7, 10)) == 10 * 32 + 32 * 16 + 16 * 3
    assert net.training and net[0].training  # mode restored
    torch.testing.assert_close(net[3].running_mean, before)  # no batch-norm update
    # a layer applied twice counts twice; a Linear over a (B, 4, in) input counts each of the 4 rows
    lin = nn.Linear(6, 6)
    assert count_macs(nn.Sequential(lin, lin), torch.randn(3, 6)) == 2 * 36
    assert count_macs(nn.Linear(5, 2), torch.randn(2, 4, 5)) == 4 * 10
    with pytest.raises(InputError):
        count_macs(net)


def test_count_macs_conv_net():
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),  # 8x16x16 outputs, 3*3*3 each
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=2),  # 16x8x8 outputs, (8/2)*3*3 each
        nn.ConvTranspose2d(16, 4, 2, stride=2),  # 16x8x8 inputs, each into 4*2*2 outputs
        nn.Flatten(),
        nn.Linear(4 * 16 * 16, 5),
    )
    expect = 8 * 16 * 16 * 27 + 16 * 8 * 8 * 36 + 16 * 8 * 8 * 16 + 1024 * 5
    assert count_macs(net, torch.randn(2, 3, 16, 16)) == expect
    c1 = nn.Conv1d(2, 4, 5)  # length 10 -> 6 outputs
    assert count_macs(c1, torch.randn(3, 2, 10)) == 4 * 6 * 2 * 5
    c3 = nn.Conv3d(1, 2, (1, 2, 3))  # 4x4x4 -> 4x3x2
    assert count_macs(c3, torch.randn(1, 1, 4, 4, 4)) == 2 * (4 * 3 * 2) * 6
    ct3 = nn.ConvTranspose3d(2, 3, 2, stride=2)  # 2x2x2x2 inputs, each into 3*8 outputs
    assert count_macs(ct3, torch.randn(2, 2, 2, 2, 2)) == 16 * 24


def test_count_macs_conv_brute_force():
    """Independent check: MACs of a conv = multiplications of an explicit unfold + matmul."""
    conv = nn.Conv2d(3, 5, (3, 2), stride=(1, 2), padding=(1, 0))
    x = torch.randn(1, 3, 9, 8)
    cols = nn.functional.unfold(x, (3, 2), padding=(1, 0), stride=(1, 2))  # (1, 3*3*2, L)
    macs = cols.shape[1] * cols.shape[2] * 5  # (5 x 18) @ (18 x L)
    assert count_macs(conv, x) == macs


def test_acceleration_error_matches_a_loop_and_ignores_constant_velocity_and_root_motion():
    from energy3d.metrics import acceleration_error

    g = torch.Generator().manual_seed(0)
    pred, gt = torch.randn(9, 5, 3, generator=g, dtype=torch.float64), torch.randn(9, 5, 3, generator=g, dtype=torch.float64)
    ref = []
    for t in range(1, 8):
        pr = [pred[t + 1, j] - pred[t + 1, 0] - 2 * (pred[t, j] - pred[t, 0]) + pred[t - 1, j] - pred[t - 1, 0] for j in range(5)]
        gr = [gt[t + 1, j] - gt[t + 1, 0] - 2 * (gt[t, j] - gt[t, 0]) + gt[t - 1, j] - gt[t - 1, 0] for j in range(5)]
        ref.append(sum(float(torch.linalg.vector_norm(a - b)) for a, b in zip(pr, gr)) / 5)
    torch.testing.assert_close(acceleration_error(pred, gt), torch.tensor(ref, dtype=torch.float64))
    steady = gt + torch.arange(9, dtype=torch.float64)[:, None, None] * torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64)
    assert acceleration_error(steady, gt, root=None).abs().max() < 1e-12   # constant velocity: no acceleration
    shaken = gt + torch.randn(9, 1, 3, generator=g, dtype=torch.float64)   # the whole body jitters
    assert acceleration_error(shaken, gt).abs().max() < 1e-12               # root-aligned: not counted
    assert acceleration_error(shaken, gt, root=None).min() > 0
    assert acceleration_error(pred[:2], gt[:2]).shape == (0,)
    with pytest.raises(InputError):
        acceleration_error(pred[0], gt[0])
