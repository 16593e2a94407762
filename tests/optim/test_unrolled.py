import pytest
import torch

from energy3d.errors import InputError
from energy3d.optim import UnrolledGD


def quad(y):
    return 0.5 * (y ** 2).sum(-1)


def test_returns_all_iterates_and_zero_steps():
    opt = UnrolledGD(steps=0)
    y0 = torch.randn(3, 4)
    info = opt(y0, quad, mode="none")
    assert len(info.iterates) == 1 and torch.equal(info.iterates[0], y0)
    info = UnrolledGD(steps=5)(y0, quad, mode="none")
    assert len(info.iterates) == 6 and info.steps == 5


def test_update_rule_matches_hand_computation():
    """g = clip(∇E, ±c); s <- |m| s + g; y <- y - η s, with η, c, m = 0.5, 0.3, -0.2."""
    opt = UnrolledGD(steps=3, lr=0.5, clip=0.3, momentum=-0.2)
    y = torch.tensor([[1.0, -0.1, 0.05]])
    info = opt(y, quad, mode="none")
    ref, s = y.clone(), torch.zeros_like(y)
    for t in range(3):
        g = ref.clamp(-0.3, 0.3)          # ∇ of 0.5 y² is y
        s = 0.2 * s + g
        ref = ref - 0.5 * s
        assert torch.allclose(info.iterates[t + 1], ref)


def test_descends_a_convex_energy():
    opt = UnrolledGD(steps=20, lr=0.5, clip=10.0, momentum=0.0)
    info = opt(torch.randn(8, 3) * 3, quad, mode="none", record_energy=True)
    assert info.iterates[-1].abs().max() < 1e-3
    e = torch.stack(info.energies)
    assert bool((e[1:] <= e[:-1] + 1e-9).all())


def test_closed_form_grad_fn_equals_autograd_path():
    opt = UnrolledGD(steps=4)
    y0 = torch.randn(5, 3)
    a = opt(y0, quad, mode="none").iterates[-1]
    b = opt(y0, quad, grad_fn=lambda y: y, mode="none").iterates[-1]
    assert torch.allclose(a, b)


def test_unrolled_mode_differentiates_through_steps():
    """d y_T / d η by autograd through the unrolled steps vs a finite difference."""
    opt = UnrolledGD(steps=3, lr=0.3, clip=5.0, momentum=0.1).double()
    y0 = torch.tensor([[1.0, -2.0]], dtype=torch.float64)

    def energy(y):
        return (y ** 4).sum(-1)

    out = opt(y0, energy, mode="unrolled").iterates[-1].sum()
    (d_lr,) = torch.autograd.grad(out, opt.lr)
    eps = 1e-6
    with torch.no_grad():
        opt.lr += eps
        hi = opt(y0, energy, mode="none").iterates[-1].sum()
        opt.lr -= 2 * eps
        lo = opt(y0, energy, mode="none").iterates[-1].sum()
        opt.lr += eps
    assert torch.allclose(d_lr, (hi - lo) / (2 * eps), rtol=1e-5)


def test_truncated_mode_is_first_order():
    """Truncated mode ignores the energy's curvature: d y_1 / d y_0 = I for E = y² (unrolled: 1 - 2η)."""
    opt = UnrolledGD(steps=1, lr=0.1, clip=100.0, momentum=0.0).double()
    y0 = torch.tensor([[0.7]], dtype=torch.float64, requires_grad=True)
    energy = lambda y: (y ** 2).sum(-1)
    (d_unrolled,) = torch.autograd.grad(opt(y0, energy, mode="unrolled").iterates[-1].sum(), y0)
    (d_trunc,) = torch.autograd.grad(opt(y0, energy, mode="truncated").iterates[-1].sum(), y0)
    assert torch.allclose(d_unrolled, torch.tensor([[1 - 2 * 0.1]], dtype=torch.float64))
    assert torch.allclose(d_trunc, torch.tensor([[1.0]], dtype=torch.float64))


def test_bad_arguments():
    with pytest.raises(InputError):
        UnrolledGD(steps=-1)
    with pytest.raises(InputError, match="mode"):
        UnrolledGD(steps=1)(torch.zeros(1, 2), quad, mode="sideways")
    with pytest.raises(InputError, match="energy or a grad_fn"):
        UnrolledGD(steps=1)(torch.zeros(1, 2))
