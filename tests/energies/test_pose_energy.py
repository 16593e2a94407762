import copy
import threading

import pytest
import torch

from energy3d.energies.pose import EnergyMLP, PoseEnergy, softabs, softabs_grad
from energy3d.errors import InputError
from energy3d.geometry.pose import pairwise_sq_dists


def _inputs(B=6, J=17, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    y = torch.randn(B, J, 3, generator=g, dtype=dtype) * 0.4
    y[..., 2] += 4.0
    x = torch.randn(B, J, 2, generator=g, dtype=dtype) * 0.1
    return y, x


def test_softabs_is_smooth_abs():
    t = torch.tensor([-100.0, -1.0, 0.0, 2.0, 100.0], dtype=torch.float64)
    assert torch.allclose(softabs(t), torch.sqrt(t * t + 1) - 1)
    assert softabs(t)[2] == 0 and bool((softabs(t) >= 0).all())
    assert torch.allclose(softabs(t)[[0, 4]], torch.tensor([99.005, 99.005], dtype=torch.float64), atol=1e-3)
    tt = t.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(softabs(tt).sum(), tt)
    assert torch.allclose(g, softabs_grad(t))


def test_energy_matches_hand_written_formula():
    """E = DN_y(Δ²(y)/hip²) + DN_x(Δ²(x~ ⊕ x)/mean Δ²(x)) written independently with pdist-style ops."""
    torch.manual_seed(1)
    E = PoseEnergy(17, 17, hips=(4, 1), out_init_scale=1.0).double()
    y, x = _inputs()
    hip = ((y[:, 4] - y[:, 1]) ** 2).sum(-1, keepdim=True)
    feas = E.feasibility(pairwise_sq_dists(y) / hip)
    proj = y[..., :2] / y[..., 2:3]
    s = pairwise_sq_dists(x).mean(-1, keepdim=True)
    rep = E.reprojection(pairwise_sq_dists(torch.cat([proj, x], 1)) / s)
    assert torch.allclose(E(y, x), feas + rep)
    # the networks standardise their inputs with the stored statistics
    E.set_feature_stats(y, x)
    d = pairwise_sq_dists(y) / hip
    mlp = E.feasibility
    manual = softabs(mlp.fc2(torch.nn.functional.softplus(mlp.fc1((d - d.mean()) / d.std())))).sum(-1)
    assert torch.allclose(mlp(d), manual)


def test_energy_invariances():
    """Feasibility is invariant to 3D scale; reprojection to scaling all 2D about the camera (distance)."""
    torch.manual_seed(2)
    E = PoseEnergy(17, 17, hips=(4, 1), out_init_scale=1.0).double()
    y, x = _inputs()
    e_rep, e_feas = E.terms(y, x)
    e_rep2, e_feas2 = E.terms(2.5 * y, x)
    assert torch.allclose(e_feas, e_feas2) and torch.allclose(e_rep, e_rep2)  # projection is scale-invariant too
    # moving 2D observations and proposal together by a common image scale leaves reprojection unchanged
    y3 = y.clone()
    y3[..., 2] = y3[..., 2] / 1.7
    e_rep3, _ = E.terms(y3, 1.7 * x)
    assert torch.allclose(e_rep, e_rep3)


@pytest.mark.parametrize("J2", [17, 12])
def test_closed_form_gradient_matches_autograd(J2):
    torch.manual_seed(3)
    E = PoseEnergy(17, J2, hips=(4, 1), out_init_scale=1.0).double()
    y, _ = _inputs()
    x = torch.randn(y.shape[0], J2, 2, dtype=torch.float64) * 0.1
    E.set_feature_stats(y + 0.05 * torch.randn_like(y), x)  # non-trivial standardisation
    assert not torch.allclose(E.reprojection.in_std, torch.ones_like(E.reprojection.in_std))
    yr = y.clone().requires_grad_(True)
    (g_auto,) = torch.autograd.grad(E(yr, x).sum(), yr)
    g_cf = E.grad(y, E.prepare(x))
    assert torch.allclose(g_cf, g_auto, rtol=1e-9, atol=1e-10)


def test_closed_form_gradient_float32_close():
    torch.manual_seed(4)
    E = PoseEnergy(17, 17, hips=(4, 1), out_init_scale=0.3)
    y, x = _inputs(B=64, dtype=torch.float32)
    yr = y.clone().requires_grad_(True)
    (g_auto,) = torch.autograd.grad(E(yr, x).sum(), yr)
    g_cf = E.grad(y, E.prepare(x))
    assert torch.allclose(g_cf, g_auto, rtol=1e-3, atol=1e-4 * g_auto.abs().max().item())


def test_energy_gradcheck_second_order():
    """Training differentiates through the gradient: check second derivatives in float64."""
    torch.manual_seed(5)
    E = PoseEnergy(5, 5, hips=(1, 2), hidden=7, out=3, out_init_scale=1.0).double()
    y, x = _inputs(B=2, J=5)

    def grad_of_energy(yy):
        (g,) = torch.autograd.grad(E(yy, x).sum(), yy, create_graph=True)
        return g

    assert torch.autograd.gradcheck(lambda yy: E(yy, x), (y.clone().requires_grad_(True),))
    assert torch.autograd.gradcheck(grad_of_energy, (y.clone().requires_grad_(True),))


def test_output_layer_init_is_scaled():
    torch.manual_seed(0)
    small = EnergyMLP(20, 16, 4, out_init_scale=1e-3)
    torch.manual_seed(0)
    big = EnergyMLP(20, 16, 4, out_init_scale=1.0)
    assert torch.allclose(small.fc2.weight * 1e3, big.fc2.weight)
    assert torch.equal(small.fc1.weight, big.fc1.weight)


def test_bad_shapes():
    E = PoseEnergy(17, 17, hips=(4, 1))
    with pytest.raises(InputError, match=r"\(B, 17, 3\)"):
        E.check(torch.zeros(2, 16, 3), torch.zeros(2, 17, 2))
    with pytest.raises(InputError, match="observed"):
        E.check(torch.zeros(2, 17, 3), torch.zeros(2, 17, 3))


def test_macs_count_dense_layers():
    E = PoseEnergy(17, 17, hips=(4, 1), hidden=256, out=8)
    # feasibility: 136 -> 256 -> 8, forward + backward; reprojection: 425 proposal-dependent inputs
    assert E.macs_per_step() == 2 * 136 * 256 + 2 * 256 * 8 + 2 * (136 + 289) * 256 + 2 * 256 * 8
    assert E.macs_prepare() == 136 * 256


# ---------------------------------------------------------------- fused inference (PoseEnergy.descend)
def _energy(J2=17, dtype=torch.float64, seed=3, hidden=256, out=8):
    torch.manual_seed(seed)
    E = PoseEnergy(17, J2, hips=(4, 1), hidden=hidden, out=out, out_init_scale=0.3).to(dtype)
    y, _ = _inputs(B=64, dtype=dtype, seed=seed)
    x = torch.randn(64, J2, 2, dtype=dtype) * 0.1
    E.set_feature_stats(y + 0.05 * torch.randn_like(y), x)  # non-trivial standardisation
    assert not torch.allclose(E.reprojection.in_mean, torch.zeros_like(E.reprojection.in_mean))
    return E


def _reference(E, y0, x, T, lr, clip, momentum, unit=1.0):
    """UnrolledGD with autograd on u = y / unit (the differentiable path's iterates)."""
    from energy3d.optim.unrolled import UnrolledGD

    opt = UnrolledGD(T, lr=lr, clip=clip if clip is not None else 1.0, momentum=momentum or 0.0,
                     learn_momentum=momentum is not None, clip_enabled=clip is not None).to(y0.dtype)
    with torch.no_grad():  # exact constants in any dtype
        opt.lr.fill_(lr)
        if clip is not None:
            opt.clip.fill_(clip)
        if momentum is not None:
            opt.momentum.fill_(momentum)
    info = opt(y0 / unit, lambda u: E(u * unit, x), mode="none")
    return [u * unit for u in info.iterates], info.grad_norms


@pytest.mark.parametrize("J2", [17, 12])
@pytest.mark.parametrize("B", [5, 300])
def test_descend_matches_autograd_float64(J2, B):
    """Fused kernels (float64: libm) iterate exactly like autograd: chunks, padding, clip, momentum."""
    E = _energy(J2)
    y0, _ = _inputs(B=B, dtype=torch.float64, seed=7)
    x = torch.randn(B, J2, 2, dtype=torch.float64) * 0.1
    for lr, clip, mom, unit in [(0.02, 0.5, 0.3, 1.0), (3.0, 0.4, 0.2, 0.1), (0.002, None, None, 1.0)]:
        fast, norms = E.descend(y0, x, 3, lr, clip, mom, unit=unit, chunk=128)
        ref, ref_norms = _reference(E, y0, x, 3, lr, clip, mom, unit)
        assert len(fast) == 4 and fast[0] is not None
        for a, b in zip(fast, ref):
            assert torch.allclose(a, b, rtol=1e-9, atol=1e-9)
        assert not torch.allclose(fast[-1], fast[0])
        assert norms == pytest.approx(ref_norms, rel=1e-9)


def test_descend_gradient_float32_close_to_float64_autograd():
    """One unclipped step of the float32 kernels (polynomial exp/log1p) recovers dE/dy."""
    E64 = _energy()
    E32 = copy.deepcopy(E64).float()
    y, _ = _inputs(B=200, dtype=torch.float64, seed=11)
    x = torch.randn(200, 17, 2, dtype=torch.float64) * 0.1
    yr = y.clone().requires_grad_(True)
    (g64,) = torch.autograd.grad(E64(yr, x).sum(), yr)
    lr = 1e-3
    it, norms = E32.descend(y.float(), x.float(), 1, lr)
    g32 = (it[0].double() - it[1].double()) / lr
    scale = g64.abs().max().item()
    assert torch.allclose(g32, g64, rtol=1e-3, atol=2e-3 * scale)
    assert norms[0] == pytest.approx(g64.flatten(1).norm(dim=1).mean().item(), rel=1e-4)


def test_descend_float32_iterates_close_to_autograd_float32():
    E = _energy(dtype=torch.float32)
    y0, _ = _inputs(B=257, dtype=torch.float32, seed=5)
    x = torch.randn(257, 17, 2) * 0.1
    fast, _ = E.descend(y0, x, 4, 0.05, 0.3, 0.2, unit=0.5)
    ref, _ = _reference(E, y0, x, 4, 0.05, 0.3, 0.2, unit=0.5)
    for a, b in zip(fast, ref):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-4)


def test_descend_other_network_sizes():
    """Hidden/output sizes other than 256/8 (remainder paths of the second-layer loops)."""
    E = _energy(hidden=24, out=5)
    y0, _ = _inputs(B=9, dtype=torch.float64, seed=2)
    x = torch.randn(9, 17, 2, dtype=torch.float64) * 0.1
    fast, _ = E.descend(y0, x, 2, 0.1, 0.5, 0.1)
    ref, _ = _reference(E, y0, x, 2, 0.1, 0.5, 0.1)
    for a, b in zip(fast, ref):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-9)


def test_clamped_hip_and_depth_have_no_gradient_through_the_clamp():
    """Coincident hips (hip distance < eps) and a joint at Z ~ 0: all gradient paths agree."""
    E = _energy()
    y, _ = _inputs(B=3, dtype=torch.float64, seed=4)
    x = torch.randn(3, 17, 2, dtype=torch.float64) * 0.1
    y[0, 4] = y[0, 1]          # hips coincide: the normaliser is clamped
    y[1, 7, 2] = 1e-8          # a joint in the camera plane: its depth is clamped
    yr = y.clone().requires_grad_(True)
    (g_auto,) = torch.autograd.grad(E(yr, x).sum(), yr)
    assert torch.allclose(E.grad(y, E.prepare(x)), g_auto, rtol=1e-9, atol=1e-10)
    it, _ = E.descend(y, x, 1, 1.0)
    assert torch.allclose(it[0] - it[1], g_auto, rtol=1e-9, atol=1e-9)


def test_inference_weights_cache_follows_weight_changes():
    E = _energy()
    w1 = E.inference_weights()
    assert E.inference_weights() is w1                      # cached
    y0, _ = _inputs(B=6, dtype=torch.float64, seed=1)
    x = torch.randn(6, 17, 2, dtype=torch.float64) * 0.1
    before = E.descend(y0, x, 2, 0.05, 0.5, 0.1)[0][-1]
    torch.optim.SGD(E.parameters(), lr=0.5).zero_grad()
    E(y0.clone().requires_grad_(True), x).sum().backward()
    torch.optim.SGD(E.parameters(), lr=0.5).step()          # in-place update of every parameter
    assert E.inference_weights() is not w1
    after = E.descend(y0, x, 2, 0.05, 0.5, 0.1)[0][-1]
    ref, _ = _reference(E, y0, x, 2, 0.05, 0.5, 0.1)
    assert torch.allclose(after, ref[-1], rtol=1e-9, atol=1e-9) and not torch.allclose(after, before)
    E2 = _energy(seed=9)
    E2.load_state_dict(E.state_dict())                      # copy_ into existing tensors
    assert torch.allclose(E2.descend(y0, x, 2, 0.05, 0.5, 0.1)[0][-1], after, rtol=1e-12, atol=1e-12)
    E.set_feature_stats(y0, x)                              # buffers count too
    ref, _ = _reference(E, y0, x, 2, 0.05, 0.5, 0.1)
    assert torch.allclose(E.descend(y0, x, 2, 0.05, 0.5, 0.1)[0][-1], ref[-1], rtol=1e-9, atol=1e-9)


def test_state_dict_is_unchanged_by_inference():
    """Checkpoints keep loading: inference adds no parameters or buffers."""
    E = _energy()
    keys = sorted(E.state_dict())
    E.descend(*_inputs(B=4, dtype=torch.float64), 1, 0.1)
    assert sorted(E.state_dict()) == keys == sorted(
        f"{net}.{k}" for net in ("feasibility", "reprojection")
        for k in ("in_mean", "in_std", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"))


def test_descend_with_worker_threads_leaves_thread_settings_alone():
    E = _energy(dtype=torch.float32)
    y0, _ = _inputs(B=700, dtype=torch.float32, seed=8)
    x = torch.randn(700, 17, 2) * 0.1
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one, n1 = E.descend(y0, x, 3, 0.05, 0.3, 0.2)
        torch.set_num_threads(2)
        two, n2 = E.descend(y0, x, 3, 0.05, 0.3, 0.2)     # chunks shared out to 2 workers
        assert torch.get_num_threads() == 2
        seen = []
        t = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
        t.start()
        t.join()
        assert seen == [2]                                  # new threads still start from the default
    finally:
        torch.set_num_threads(old)
    for a, b in zip(one, two):
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-6)
    assert n1 == pytest.approx(n2, rel=1e-5)


def test_descend_initialiser_callable_runs_chunkwise():
    E = _energy(dtype=torch.float32)
    lin = torch.nn.Linear(34, 51)
    with torch.no_grad():
        lin.weight.mul_(0.1)
        lin.bias.copy_(torch.tensor([0.0, 0.0, 4.0]).repeat(17))

    def init(xx):
        return lin(xx.reshape(xx.shape[0], -1)).reshape(-1, 17, 3)

    x = torch.randn(300, 17, 2) * 0.1
    with torch.no_grad():
        y0 = init(x)
        a, _ = E.descend(init, x, 2, 0.05, 0.3, 0.2, chunk=128)
        b, _ = E.descend(y0, x, 2, 0.05, 0.3, 0.2, chunk=128)
    for u, v in zip(a, b):  # float32 GEMMs on chunks may round differently from the whole batch
        assert torch.allclose(u, v, rtol=1e-5, atol=1e-5)
    zero, _ = E.descend(init, x, 0, 0.05)
    assert len(zero) == 1 and torch.allclose(zero[0], y0)


def test_descend_bad_inputs():
    E = _energy(dtype=torch.float32)
    y, x = _inputs(B=4, dtype=torch.float32)
    with pytest.raises(InputError, match=r"\(B, 17, 2\)"):
        E.descend(y, x[:, :, :1], 1, 0.1)
    with pytest.raises(InputError, match=r"\(B, 17, 3\)"):
        E.descend(y[:, :16], x, 1, 0.1)
    with pytest.raises(InputError, match="float32/float64"):
        E.descend(y.double(), x, 1, 0.1)
    with pytest.raises(InputError, match="steps"):
        E.descend(y, x, -1, 0.1)
    assert not E.can_descend(y.requires_grad_(True), x)
    with torch.no_grad():
        assert E.can_descend(y, x)


def test_lifter_inference_without_numba_uses_torch_closed_form(monkeypatch):
    """Robustness: if numba were missing, eval iterates come from the torch closed form."""
    from energy3d.energies import pose
    from energy3d.models.lifter import LifterConfig, build_lifter

    torch.manual_seed(0)
    m = build_lifter(LifterConfig(type="ige", width=16, blocks=1, steps=3, energy_hidden=24, energy_init_scale=0.5))
    m.init.out_mean.view(17, 3)[:, 2] = 4.0
    m.eval()
    x = torch.randn(8, 17, 2) * 0.1
    fused = m.iterate(x, mode="none").iterates
    monkeypatch.setattr(pose, "_fused", None)
    torch_cf = m.iterate(x, mode="none").iterates
    slow = m.iterate(x, mode="unrolled").iterates
    for a, b, c in zip(fused, torch_cf, slow):
        assert torch.allclose(a, c.detach(), rtol=1e-4, atol=1e-4)
        assert torch.allclose(b, c.detach(), rtol=1e-4, atol=1e-4)
