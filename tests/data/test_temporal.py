"""Tests for energy3d.data.temporal: the One Euro filter, gap filling, temporal outliers."""

import math

import numpy as np
import pytest
import torch

from energy3d.data.temporal import (
    OneEuroConfig, fill_gaps, one_euro, smoothing_alpha, temporal_outliers, two_sided_padding,
)
from energy3d.errors import InputError


def reference_one_euro(x, fps, min_cutoff, beta, d_cutoff):
    """The filter of Casiez et al. (CHI 2012) written sample by sample for one scalar series."""
    def alpha(cutoff):
        te = 1.0 / fps
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / te)

    out = [x[0]]
    x_prev, dx_prev = x[0], 0.0
    for t in range(1, len(x)):
        dx = (x[t] - x_prev) * fps
        a_d = alpha(d_cutoff)
        dx_hat = a_d * dx + (1 - a_d) * dx_prev
        a = alpha(min_cutoff + beta * abs(dx_hat))
        x_hat = a * x[t] + (1 - a) * x_prev
        out.append(x_hat)
        x_prev, dx_prev = x_hat, dx_hat
    return np.array(out)


@pytest.mark.parametrize("params", [(30.0, 1.0, 0.0, 1.0), (30.0, 0.5, 0.7, 1.0), (60.0, 2.0, 5.0, 0.5), (10.0, 0.1, 0.01, 3.0)])
def test_one_euro_matches_a_per_sample_reference_for_every_series(params):
    fps, mc, beta, dc = params
    rng = np.random.default_rng(0)
    t = np.arange(80) / fps
    x = np.sin(2 * np.pi * 0.7 * t)[:, None, None] * rng.uniform(0.5, 50, (1, 4, 3)) + rng.normal(0, 0.3, (80, 4, 3))
    y = one_euro(x, fps, mc, beta, dc)
    assert y.shape == x.shape
    for j in range(4):
        for c in range(3):
            np.testing.assert_allclose(y[:, j, c], reference_one_euro(x[:, j, c], fps, mc, beta, dc), rtol=1e-12, atol=1e-12)


def test_one_euro_two_sided_is_the_mean_of_forward_and_backward_runs_over_odd_reflection():
    rng = np.random.default_rng(1)
    x = np.cumsum(rng.normal(size=(50, 3)), 0)
    n = two_sided_padding(30, 1.0)
    assert n == math.ceil(90 / (2 * math.pi))
    pad = np.concatenate([2 * x[:1] - x[n:0:-1], x, 2 * x[-1:] - x[-2:-n - 2:-1]])
    assert len(pad) == 50 + 2 * n and np.allclose(pad[n - 1], 2 * x[0] - x[1]) and np.allclose(pad[-n], 2 * x[-1] - x[-2])
    fwd = np.stack([reference_one_euro(pad[:, c], 30, 1.0, 0.5, 1.0) for c in range(3)], -1)
    bwd = np.stack([reference_one_euro(pad[::-1, c], 30, 1.0, 0.5, 1.0) for c in range(3)], -1)[::-1]
    np.testing.assert_allclose(one_euro(x, 30, 1.0, 0.5, two_sided=True), 0.5 * (fwd + bwd)[n:n + 50], atol=1e-12)
    short = np.cumsum(rng.normal(size=(4, 2)), 0)   # padding limited to T - 1
    assert one_euro(short, 30, 0.1, 0.0, two_sided=True).shape == (4, 2)


def test_one_euro_two_sided_follows_a_ramp_without_lag_even_at_the_ends():
    x = np.linspace(0.0, 3.0, 90)[:, None]          # 1 unit/s at 30 fps
    causal = one_euro(x, 30, 0.25, 0.0)
    both = one_euro(x, 30, 0.25, 0.0, two_sided=True)
    assert np.abs(causal - x).max() > 0.3            # a 0.25 Hz low-pass lags by up to 1 / (2 pi 0.25) s
    assert np.abs(both - x).max() < 0.02


def test_one_euro_leaves_a_constant_signal_unchanged_exactly():
    x = np.full((40, 17, 2), 123.456)
    assert np.array_equal(one_euro(x, 30, 1.0, 2.0), x)
    assert np.array_equal(one_euro(x, 30, 1.0, 2.0, two_sided=True), x)


def test_one_euro_low_beta_lags_a_step_high_beta_follows_it():
    x = np.zeros((30, 1))
    x[10:] = 1.0
    slow = one_euro(x, 30, min_cutoff=1.0, beta=0.0)
    fast = one_euro(x, 30, min_cutoff=1.0, beta=1000.0)
    # a plain 1 Hz low-pass: alpha = 1 / (1 + 30 / (2 pi)) after one step
    assert slow[10, 0] == pytest.approx(smoothing_alpha(1.0, 30), rel=1e-12)
    assert slow[10, 0] < 0.2
    assert fast[10, 0] > 0.99 and np.all(np.abs(fast[11:] - 1.0) < 0.01)
    assert np.all(fast[:10] == 0.0)


def test_one_euro_smooths_noise_and_keeps_types():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 5))
    y = one_euro(x, 30, 0.5, 0.0)
    assert np.std(np.diff(y, 2, axis=0)) < 0.1 * np.std(np.diff(x, 2, axis=0))
    xt = torch.as_tensor(x, dtype=torch.float32)
    yt = one_euro(xt, 30, 0.5, 0.0)
    assert isinstance(yt, torch.Tensor) and yt.dtype == torch.float32 and yt.shape == xt.shape
    np.testing.assert_allclose(yt.numpy(), y, atol=1e-5)
    assert one_euro(np.zeros((1, 3)), 30).shape == (1, 3)
    assert one_euro(np.zeros((0, 3)), 30).shape == (0, 3)


@pytest.mark.parametrize("kwargs, match", [
    (dict(fps=0), "fps"), (dict(fps=-30), "fps"), (dict(fps=float("nan")), "fps"),
    (dict(min_cutoff=0), "min_cutoff"), (dict(beta=-1), "beta"), (dict(d_cutoff=0), "d_cutoff"),
    (dict(fps="fast"), "fps"),
])
def test_one_euro_rejects_bad_parameters(kwargs, match):
    args = dict(fps=30, min_cutoff=1.0, beta=0.0, d_cutoff=1.0)
    args.update(kwargs)
    with pytest.raises(InputError, match=match):
        one_euro(np.zeros((5, 2)), **args)


def test_one_euro_rejects_nan_and_scalars_and_config_checks_values():
    x = np.zeros((5, 2))
    x[2, 1] = np.nan
    with pytest.raises(InputError, match="non-finite"):
        one_euro(x, 30)
    with pytest.raises(InputError, match=r"\(T, \.\.\.\)"):
        one_euro(np.float64(1.0), 30)
    with pytest.raises(InputError, match="beta"):
        OneEuroConfig(beta=-0.1)


def test_fill_gaps_is_exact_on_linear_motion_and_holds_at_the_ends():
    T, J = 30, 4
    t = np.arange(T, dtype=float)
    truth = np.stack([np.stack([2 * t + j, -0.5 * t + 3 * j], -1) for j in range(J)], 1)  # (T, J, 2), linear
    conf = np.ones((T, J))
    conf[5:12, 0] = 0      # 7-frame gap
    conf[20:21, 1] = 0.0   # 1 frame
    conf[:3, 2] = 0        # start: held
    conf[27:, 3] = 0       # end: held
    pts = truth.copy()
    pts[conf == 0] = np.nan
    out, filled = fill_gaps(pts, conf, max_gap=10)
    np.testing.assert_allclose(out[5:12, 0], truth[5:12, 0], atol=1e-12)
    np.testing.assert_allclose(out[20, 1], truth[20, 1], atol=1e-12)
    np.testing.assert_array_equal(out[:3, 2], np.repeat(truth[3:4, 2], 3, 0))
    np.testing.assert_array_equal(out[27:, 3], np.repeat(truth[26:27, 3], 3, 0))
    assert np.array_equal(filled, conf == 0)
    seen = conf > 0
    assert np.array_equal(out[seen], truth[seen])


def test_fill_gaps_leaves_long_gaps_and_unseen_joints_and_uses_the_confidence_threshold():
    pts = np.arange(20 * 2 * 2, dtype=float).reshape(20, 2, 2)
    conf = np.ones((20, 2))
    conf[2:10, 0] = 0.0       # 8 frames: above max_gap 5
    conf[:, 1] = 0.2          # below the threshold everywhere
    out, filled = fill_gaps(pts, conf, max_gap=5, min_confidence=0.3)
    assert not filled.any()
    np.testing.assert_array_equal(out, pts)
    out, filled = fill_gaps(pts, conf, max_gap=8, min_confidence=0.3)
    assert filled[2:10, 0].all() and filled.sum() == 8
    out0, filled0 = fill_gaps(pts, conf, max_gap=0)
    assert not filled0.any()


def test_fill_gaps_accepts_tensors_and_rejects_bad_input():
    pts = torch.zeros(5, 3, 2)
    conf = torch.ones(5, 3)
    conf[2, 1] = 0
    out, filled = fill_gaps(pts, conf, 2)
    assert isinstance(out, torch.Tensor) and out.shape == (5, 3, 2) and filled.shape == (5, 3)
    with pytest.raises(InputError, match=r"\(T, J, D\)"):
        fill_gaps(np.zeros((5, 6)), np.ones(5), 2)
    with pytest.raises(InputError, match="confidence"):
        fill_gaps(np.zeros((5, 3, 2)), np.ones((5, 4)), 2)
    with pytest.raises(InputError, match="max_gap"):
        fill_gaps(np.zeros((5, 3, 2)), np.ones((5, 3)), -1)
    with pytest.raises(InputError, match="max_gap"):
        fill_gaps(np.zeros((5, 3, 2)), np.ones((5, 3)), 2.5)
    bad = np.zeros((5, 3, 2))
    bad[1, 2, 0] = np.nan
    with pytest.raises(InputError, match="frame 1, joint 2"):
        fill_gaps(bad, np.ones((5, 3)), 2)
    c = np.ones((5, 3))
    c[1, 2] = 0   # NaN where unseen is fine
    out, filled = fill_gaps(bad, c, 2)
    assert np.isfinite(out).all() and filled[1, 2]


def test_temporal_outliers_finds_jumps_and_swaps_but_not_smooth_motion():
    T = 40
    t = np.arange(T, dtype=float)
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 400, (1, 6, 2))
    pts = base + np.stack([3 * t, 2 * t], -1)[:, None, :] + rng.normal(0, 1.0, (T, 6, 2))
    conf = np.ones((T, 6))
    assert not temporal_outliers(pts, conf).any()
    bad = pts.copy()
    bad[10, 2] += 60.0                                  # an outlier
    bad[25, [0, 1]] = bad[25, [1, 0]]                   # a swap
    out = temporal_outliers(bad, conf)
    assert set(map(tuple, np.argwhere(out))) == {(10, 2), (25, 0), (25, 1)}
    conf[10, 2] = 0   # unseen joints are never outliers
    assert not temporal_outliers(bad, conf)[10, 2]
    with pytest.raises(InputError, match="half_window"):
        temporal_outliers(pts, conf, half_window=0)
    with pytest.raises(InputError, match="threshold"):
        temporal_outliers(pts, conf, threshold=0)
    with pytest.raises(InputError, match="confidence"):
        temporal_outliers(pts, conf[:, :3])
