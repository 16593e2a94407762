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
