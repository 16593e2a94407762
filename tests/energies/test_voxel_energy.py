"""Frustum voxel energy: anisotropic pooling vs brute force, shapes, gradients (gradcheck, lean path)."""

import pytest
import torch

from energy3d.energies.voxel import EnergyLevel, FrustumEnergy, pool_frustum
from energy3d.errors import InputError


pytestmark = pytest.mark.usefixtures("one_thread")


def _brute_pool(g, dp, pp):
    B, D, H, W = g.shape
    out = torch.zeros(B, D // dp, H // pp, W // pp, dtype=g.dtype)
    for b in range(B):
        for d in range(D // dp):
            for r in range(H // pp):
                for c in range(W // pp):
                    out[b, d, r, c] = g[b, d * dp:(d + 1) * dp, r * pp:(r + 1) * pp, c * pp:(c + 1) * pp].mean()
    return out


@pytest.mark.parametrize("dp,pp", [(1, 1), (2, 4), (4, 2), (8, 1), (1, 8)])
def test_pool_matches_brute_force(dp, pp):
    g = torch.rand(2, 8, 8, 8, dtype=torch.float64)
    assert torch.allclose(pool_frustum(g, dp, pp), _brute_pool(g, dp, pp), atol=1e-12)


def test_pool_is_anisotropic_and_checks_sizes():
    g = torch.zeros(1, 8, 8, 8)
    g[0, 0, :, :] = 1.0  # nearest depth slice filled
    p = pool_frustum(g, 8, 1)  # depth fully pooled: every pixel sees 1/8
    assert p.shape == (1, 1, 8, 8) and torch.allclose(p, torch.full_like(p, 1 / 8))
    q = pool_frustum(g, 1, 8)  # pixels pooled, depth kept
    assert q.shape == (1, 8, 1, 1) and q[0, 0, 0, 0] == 1 and q[0, 1:].sum() == 0
    with pytest.raises(InputError):
        pool_frustum(g, 3, 1)
    with pytest.raises(InputError):
        pool_frustum(g[0], 1, 1)


def _tiny_energy(dtype=torch.float64):
    torch.manual_seed(0)
    levels = [EnergyLevel(3, 4, 2, 1, 5, coarsest=True), EnergyLevel(2, 8, 1, 2, 4)]
    return FrustumEnergy(levels, depth=4, out_init_scale=1.0).to(dtype)


def _feats(B, dtype=torch.float64):
    return [torch.randn(B, 3, 4, 4, dtype=dtype), torch.randn(B, 2, 8, 8, dtype=dtype)]


def test_energy_shape_sum_of_levels_and_bad_input():
    e = _tiny_energy()
    y, x = torch.rand(3, 4, 8, 8, dtype=torch.float64), _feats(3)
    out = e(y, x)
    assert out.shape == (3,) and (out >= 0).all()  # softabs >= 0
    assert torch.allclose(out, sum(e.level_energies(y, x)))
    with pytest.raises(InputError):
        e(torch.rand(3, 5, 8, 8, dtype=torch.float64), x)
    with pytest.raises(InputError):
        e(y, x[:1])
    assert e.macs() > 0


def test_energy_gradcheck_float64():
    e = _tiny_energy()
    x = _feats(2)
    y = torch.rand(2, 4, 8, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: e(t, x), (y,), eps=1e-6, atol=1e-6)


def test_energy_gradient_vs_finite_differences_and_second_order():
    e = _tiny_energy()
    x = _feats(1)
    y = torch.rand(1, 4, 8, 8, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(e(y, x).sum(), y, create_graph=True)
    for idx in [(0, 0, 0, 0), (0, 3, 7, 5), (0, 1, 4, 2)]:
        yp, ym = y.detach().clone(), y.detach().clone()
        yp[idx] += 1e-6
        ym[idx] -= 1e-6
        fd = (e(yp, x) - e(ym, x)).item() / 2e-6
        assert abs(fd - g[idx].item()) < 1e-6 * max(1.0, abs(fd))
    # second order: the gradient depends on the energy's weights (needed to train through the steps)
    (gw,) = torch.autograd.grad(g.pow(2).sum(), e.conv1[0].weight)
    assert gw.abs().sum() > 0


@pytest.mark.parametrize("chunk_bytes,tile_bytes", [(1, 1 << 20), (1, 1), (2048, 1), (1 << 20, 1), (1 << 20, 1 << 20)])
@pytest.mark.parametrize("clip", [None, 0.02])
def test_lean_logit_step_equals_autograd(chunk_bytes, tile_bytes, clip):
    """The chunked in-place step equals autograd through E(sigmoid(l)), for one-bin to whole-grid chunks
    and for energies run one output row per tile (``tile_bytes=1``) or whole."""
    e = _tiny_energy()
    x = _feats(2)
    logits = torch.randn(2, 4, 8, 8, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(e(torch.sigmoid(logits), x).sum(), logits)
    if clip is not None:
        assert (g.abs() > clip).any() and (g.abs() < clip).any()  # the clip is exercised
        g = g.clamp(-clip, clip)
    ref = logits.detach() - 0.7 * g
    y = logits.detach().clone()
    out = e.logit_step_(y, x, 0.7, clip, chunk_bytes=chunk_bytes, tile_bytes=tile_bytes)
    assert out.data_ptr() == y.data_ptr()
    assert torch.allclose(y, ref, atol=1e-12)

