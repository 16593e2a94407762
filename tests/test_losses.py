import torch

from energy3d.losses import scaled_l2, step_weights, unrolled_loss


def test_scaled_l2_is_minimum_over_scale():
    torch.manual_seed(0)
    pred, gt = torch.randn(3, 17, 3, dtype=torch.float64), torch.randn(3, 17, 3, dtype=torch.float64)
    s = torch.linspace(-3, 3, 60001, dtype=torch.float64)
    brute = torch.stack([((si * pred - gt) ** 2).sum(-1).mean(-1) for si in s]).min(0).values.mean()
    assert torch.allclose(scaled_l2(pred, gt), brute, rtol=1e-6)
    assert scaled_l2(2.7 * gt, gt) < 1e-12


def test_step_weights():
    w = step_weights(4)
    assert abs(sum(w) - 1) < 1e-12
    assert all(abs(w[t] / w[t + 1] - 0.9) < 1e-12 for t in range(4))
    assert step_weights(0) == [1.0]


def test_unrolled_loss_weights_iterates():
    gt = torch.randn(2, 17, 3)
    its = [gt + 1.0, gt + 0.5, gt.clone()]
    total, per = unrolled_loss(its, gt)
    w = step_weights(2)
    assert abs(float(total) - sum(wi * pi for wi, pi in zip(w, per))) < 1e-6
    assert per[-1] < 1e-10 < per[0]
