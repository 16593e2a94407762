import pytest
import torch

from energy3d.errors import InputError
from energy3d.metrics import count_macs, count_parameters
from energy3d.models.lifter import BaselineLifter, LifterConfig, build_lifter


def test_baseline_parameter_count_matches_architecture():
    """b128-1: Linear(34,128)+BN, one block of 2x(Linear(128,128)+BN), Linear(128,51)."""
    net = BaselineLifter(17, 17, width=128, blocks=1)
    expected = (34 * 128 + 128) + 2 * 128 + 2 * ((128 * 128 + 128) + 2 * 128) + (128 * 51 + 51)
    assert count_parameters(net) == expected
    assert 43_000 < expected < 46_000  # "~44k parameters" (issue / IGE-Net §5.1)
    assert net.macs() == count_macs(net.eval(), torch.zeros(3, 17, 2))


def test_ige_has_fifteen_times_fewer_parameters_than_b1024_2():
    ige = build_lifter(LifterConfig(type="ige", width=128, blocks=1, steps=8))
    big = build_lifter(LifterConfig(type="baseline", width=1024, blocks=2))
    assert count_parameters(ige) * 15 <= count_parameters(big)


def test_baseline_output_uses_normalisation():
    torch.manual_seed(0)
    net = BaselineLifter(17, 17, width=16, blocks=1).eval()
    x = torch.randn(4, 17, 2)
    y0 = net(x)
    net.set_normalization(torch.zeros(34), torch.ones(34), torch.full((51,), 5.0), torch.full((51,), 2.0))
    assert torch.allclose(net(x), 2 * y0 + 5)


def _ige(steps=3, seed=0):
    torch.manual_seed(seed)
    m = build_lifter(LifterConfig(type="ige", width=16, blocks=1, steps=steps, energy_hidden=24, energy_init_scale=0.5))
    m.init.out_mean.view(17, 3)[:, 2] = 4.0
    return m


def test_ige_inference_path_equals_differentiable_path():
    """Eval (closed-form gradient, no graph) and unrolled autograd give the same iterates."""
    m = _ige().eval()
    x = torch.randn(8, 17, 2) * 0.1
    fast = m.iterate(x, mode="none").iterates
    slow = m.iterate(x, mode="unrolled").iterates
    assert len(fast) == len(slow) == 4
    for a, b in zip(fast, slow):
        assert torch.allclose(a, b.detach(), rtol=1e-4, atol=1e-4)
    assert not fast[-1].requires_grad


def test_ige_training_mode_backpropagates_into_energy_and_optimizer():
    m = _ige().train()
    x = torch.randn(8, 17, 2) * 0.1
    loss = m(x, all_iterates=True)[-1].square().sum()
    loss.backward()
    for p in (m.optimizer.lr, m.optimizer.clip, m.optimizer.momentum, m.energy.feasibility.fc1.weight,
              m.energy.reprojection.fc2.weight, m.init.out.weight):
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_zero_steps_is_the_initialiser():
    m = _ige(steps=0).eval()
    x = torch.randn(5, 17, 2) * 0.1
    assert torch.allclose(m(x), m.init(x))


def test_bad_input_shapes_and_types():
    net = BaselineLifter(17, 17, width=8, blocks=1)
    with pytest.raises(InputError, match=r"\(B, 17, 2\)"):
        net(torch.zeros(2, 16, 2))
    with pytest.raises(InputError, match="model type"):
        build_lifter(LifterConfig(type="transformer"))
    with pytest.raises(InputError, match="unknown joint layout"):
        build_lifter(LifterConfig(input_layout="smpl24"))


def test_ige_initialiser_runs_in_eval_mode_while_training():
    m = _ige().train()
    assert m.training and m.energy.training and not m.init.training
    x = torch.randn(16, 17, 2) * 0.1
    assert torch.equal(m.init(x), m.init(x))  # no dropout noise
    m.init_train_mode = True
    m.train()
    assert m.init.training


@pytest.mark.parametrize("unit", [1.0, 0.01])
def test_step_unit_paths_agree(unit):
    """Fast inference, torch closed form and autograd iterate identically with a step unit."""
    m = _ige()
    m.step_unit = unit
    with torch.no_grad():
        m.optimizer.clip.fill_(0.05 / unit)   # make clipping active in some coordinates
        m.optimizer.lr.fill_(2.0 / unit ** 2 * 1e-2)
    m.eval()
    x = torch.randn(8, 17, 2) * 0.1
    fast = m.iterate(x, mode="none").iterates
    slow = m.iterate(x, mode="unrolled").iterates
    for a, b in zip(fast, slow):
        assert torch.allclose(a, b.detach(), rtol=1e-4, atol=1e-4)
    assert not torch.allclose(fast[-1], fast[0])


def test_inference_under_no_grad_with_two_threads():
    """Validation runs under no_grad with several torch threads: grad mode is thread-local, so the
    fused descent must switch it off in its worker threads too (a race there crashed training)."""
    m = _ige().eval()
    x = torch.randn(3000, 17, 2) * 0.1
    seen = []

    def init(xx):
        seen.append(torch.is_grad_enabled())
        return m.init(xx)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.no_grad():
            its, _ = m.energy.descend(init, x, 2, 0.05, 0.3, 0.2)
    finally:
        torch.set_num_threads(before)
    assert len(seen) > 1 and not any(seen)
    assert its[-1].shape == (3000, 17, 3) and not its[-1].requires_grad


def test_fused_and_closed_form_inference_give_the_same_iterates():
    """The two graph-free inference paths: the fused numba descent (CPU) and the torch closed form
    (every other device, and the TorchScript export). float64, so any difference beyond rounding
    (a wrong constant, clip, momentum or step unit in either) would show."""
    m = _ige().double().eval()
    with torch.no_grad():
        m.optimizer.clip.fill_(2.0)  # clip active in some coordinates
    x = torch.randn(37, 17, 2, dtype=torch.float64) * 0.1
    assert m.energy.can_descend(None, x)
    with torch.no_grad():
        fused = m.iterate(x).iterates  # CPU tensors: the fused path
        closed = m.closed_form_iterate(x).iterates
    assert len(fused) == len(closed) == 4
    for a, b in zip(fused, closed):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12)
    assert (fused[-1] - fused[0]).abs().max() > 1e-3


def test_inference_path_follows_the_tensor_device():
    """The fused kernels are CPU-only: ``can_descend`` judges the tensors' device, not a setting."""
    m = _ige().eval()
    x = torch.randn(4, 17, 2) * 0.1
    with torch.no_grad():
        assert m.energy.can_descend(None, x)
        assert not m.energy.can_descend(None, x.to("meta"))
        assert not m.energy.can_descend(x.new_zeros(4, 17, 3).to("meta"), x)


def test_closed_form_with_given_weights_and_an_empty_batch():
    m = _ige().eval()
    x = torch.randn(6, 17, 2) * 0.1
    with torch.no_grad():
        ref = m.closed_form_iterate(x).iterates[-1]
        w = m.energy.inference_weights()
        assert torch.equal(m.closed_form_iterate(x, weights=w, record_grad_norms=False).iterates[-1], ref)
        # other weights are really used: zero energy weights leave the initial estimate
        zero = type(w)(**{k: (torch.zeros_like(v) if k in ("W2f", "W2r") else v) for k, v in vars(w).items()})
        info = m.closed_form_iterate(x, weights=zero, record_grad_norms=False)
        assert torch.allclose(info.iterates[-1], m.init(x)) and info.grad_norms == []
        for model in (m, m.init):
            assert model(torch.zeros(0, 17, 2)).shape == (0, 17, 3)
        assert [t.shape for t in m.closed_form_iterate(torch.zeros(0, 17, 2)).iterates] == [(0, 17, 3)] * 4
