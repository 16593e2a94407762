"""Keypoint and pose sequences in time: gap filling and the One Euro filter.

Pure array functions without learned state (numpy in float64; torch tensors are accepted and
returned as tensors of their dtype and device). Time is the first axis everywhere.

* :func:`fill_gaps` fills missing or low-confidence joints by linear interpolation in time between
  the nearest frames where the joint was seen, within a maximum gap;
* :func:`one_euro` is the One Euro filter (G. Casiez, N. Roussel, D. Vogel, "1€ Filter: A Simple
  Speed-based Low-pass Filter for Noisy Input in Interactive Systems", CHI 2012): a first-order
  low-pass filter whose cutoff rises with the filtered speed of the signal,
  ``f_c = min_cutoff + beta * |dx/dt|``, so slow motion is smoothed strongly (less jitter) and fast
  motion lightly (less lag); vectorised over every axis but time. ``two_sided=True`` averages the
  filter run forwards and backwards in time over the sequence extended by odd reflection (offline
  use), which cancels most of the remaining lag, at the ends too;
* :func:`temporal_outliers` flags detections that jump away from their neighbours in time (a
  detector's outliers and left/right swaps), so they can be refilled like missed joints;
* :class:`OneEuroConfig` holds the filter's parameters.

Example:
    >>> import numpy as np
    >>> x = np.zeros((5, 17, 2)); x[3:] = 1.0             # a step
    >>> y = one_euro(x, fps=30, min_cutoff=1.0, beta=0.0)  # plain 1 Hz low-pass: lags the step
    >>> bool(0 < y[3, 0, 0] < 0.5)
    True
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from energy3d.errors import InputError

__all__ = ["OneEuroConfig", "one_euro", "fill_gaps", "temporal_outliers", "smoothing_alpha", "two_sided_padding"]


@dataclass(frozen=True)
class OneEuroConfig:
    """Parameters of :func:`one_euro` (Casiez et al., CHI 2012).

    Attributes:
        min_cutoff: cutoff frequency at rest, Hz (lower: less jitter, more lag when slow).
        beta: speed coefficient, Hz per (signal unit / s) (higher: less lag when fast).
        d_cutoff: cutoff of the low-pass on the speed estimate, Hz.
        two_sided: average the forward and the time-reversed filter (offline; cancels most lag).
    """

    min_cutoff: float = 1.0
    beta: float = 0.0
    d_cutoff: float = 1.0
    two_sided: bool = False

    def __post_init__(self):
        _check_params(self.min_cutoff, self.beta, self.d_cutoff)


def _check_params(min_cutoff, beta, d_cutoff, fps=1.0) -> None:
    for name, v, ok in (("fps", fps, lambda v: v > 0), ("min_cutoff", min_cutoff, lambda v: v > 0),
                        ("beta", beta, lambda v: v >= 0), ("d_cutoff", d_cutoff, lambda v: v > 0)):
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise InputError(f"one_euro: {name} must be a number, got {v!r}") from None
        if not (math.isfinite(v) and ok(v)):
            want = ">= 0" if name == "beta" else "> 0"
            raise InputError(f"one_euro: {name} must be finite and {want}, got {v}")


def smoothing_alpha(cutoff, fps: float):
    """Smoothing factor of a first-order low-pass at ``cutoff`` Hz sampled at ``fps``:
    ``alpha = 1 / (1 + tau / T_e)`` with ``tau = 1 / (2 pi cutoff)`` and ``T_e = 1 / fps``
    (Casiez et al. 2012, eq. 4). ``cutoff`` may be an array."""
    tau = 1.0 / (2.0 * np.pi * np.asarray(cutoff, dtype=np.float64))
    return 1.0 / (1.0 + tau * fps)


def _as_numpy(x, name: str):
    """``(array float64, restore)``: ``restore`` turns a result back into ``x``'s type."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        torch = None
    if torch is not None and isinstance(x, torch.Tensor):
        dtype = x.dtype if x.is_floating_point() else torch.float32
        dev = x.device
        return x.detach().cpu().double().numpy(), lambda a: torch.as_tensor(a, dtype=dtype, device=dev)
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name}: expected a numeric array, got {type(x).__name__}") from None
    return arr, lambda a: a


def _one_euro_forward(x: np.ndarray, fps: float, min_cutoff: float, beta: float, d_cutoff: float) -> np.ndarray:
    out = np.empty_like(x)
    out[0] = x[0]
    prev = x[0]
    dx_hat = np.zeros_like(x[0])
    a_d = smoothing_alpha(d_cutoff, fps)
    for t in range(1, x.shape[0]):
        dx = (x[t] - prev) * fps
        dx_hat = dx_hat + a_d * (dx - dx_hat)
        a = smoothing_alpha(min_cutoff + beta * np.abs(dx_hat), fps)
        prev = prev + a * (x[t] - prev)  # = a x_t + (1 - a) x̂_{t-1}, exact for a constant signal
        out[t] = prev
    return out


def one_euro(x, fps: float, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0, *,
             two_sided: bool = False):
    """The One Euro filter (Casiez, Roussel and Vogel, CHI 2012) along the first axis.

    Every scalar series ``x[:, i, j, ...]`` is filtered on its own (vectorised): the speed
    ``dx_t = (x_t - x̂_{t-1}) * fps`` is low-passed at ``d_cutoff`` into ``dx̂_t`` (``dx̂_0 = 0``),
    then ``x̂_t = alpha_t x_t + (1 - alpha_t) x̂_{t-1}`` with ``alpha_t`` of the cutoff
    ``min_cutoff + beta * |dx̂_t|`` (:func:`smoothing_alpha`) and ``x̂_0 = x_0``. A constant signal is
    returned unchanged; with ``beta = 0`` it is an ordinary first-order low-pass at ``min_cutoff``.
    ``beta`` is in Hz per (unit of ``x``) per second, so it depends on the units filtered.

    Args:
        x: ``(T, ...)`` samples at a constant rate, finite (numpy array or torch tensor); ``T = 0`` or 1
            is returned as is.
        fps: sampling rate, Hz (> 0).
        min_cutoff: cutoff at rest, Hz (> 0).
        beta: speed coefficient (>= 0).
        d_cutoff: cutoff of the speed estimate, Hz (> 0).
        two_sided: return the mean of the filter run forwards and backwards in time (for whole
            recordings: the two lags cancel to first order; no longer causal). Both runs see the
            sequence extended at each end by odd reflection (``2 x_0 - x_k``, as ``scipy.signal.filtfilt``
            pads; :func:`two_sided_padding` frames), so a steady motion is not pulled back at the ends.

    Returns:
        ``(T, ...)`` filtered samples, of ``x``'s type (float64 numpy for array-likes; a tensor of
        ``x``'s floating dtype and device).

    Raises:
        InputError: ``x`` has no time axis or non-finite values; a parameter is out of range.

    Example:
        >>> import numpy as np
        >>> one_euro(np.full((4, 2), 3.0), fps=30).tolist()    # constant: unchanged
        [[3.0, 3.0], [3.0, 3.0], [3.0, 3.0], [3.0, 3.0]]
    """
    _check_params(min_cutoff, beta, d_cutoff, fps)
    arr, restore = _as_numpy(x, "one_euro: x")
    if arr.ndim < 1:
        raise InputError(f"one_euro: x: expected shape (T, ...), got a scalar {arr.shape}")
    if not np.isfinite(arr).all():
        raise InputError(f"one_euro: x: {int((~np.isfinite(arr)).sum())} non-finite values (NaN or inf); fill "
                         "gaps first (fill_gaps)")
    if arr.shape[0] < 2:
        return restore(arr.copy())
    args = (float(fps), float(min_cutoff), float(beta), float(d_cutoff))
    if not two_sided:
        return restore(_one_euro_forward(arr, *args))
    n = min(arr.shape[0] - 1, two_sided_padding(fps, min_cutoff))
    padded = np.concatenate([2 * arr[:1] - arr[n:0:-1], arr, 2 * arr[-1:] - arr[-2:-n - 2:-1]]) if n else arr
    out = 0.5 * (_one_euro_forward(padded, *args) + _one_euro_forward(padded[::-1], *args)[::-1])
    return restore(out[n:n + arr.shape[0]])


def two_sided_padding(fps: float, min_cutoff: float) -> int:
    """Frames of odd reflection added at each end by :func:`one_euro` with ``two_sided``: three time
    constants of the cutoff at rest, ``ceil(3 fps / (2 pi min_cutoff))`` (the sequence's length
    minus one at most)."""
    return int(math.ceil(3.0 * fps / (2.0 * math.pi * min_cutoff)))


def fill_gaps(points, confidence, max_gap: int = 10, *, min_confidence: float = 0.0):
    """Fill missing joints by linear interpolation in time between the nearest frames that saw them.

    A joint is seen in frame ``t`` when ``confidence[t, j] > min_confidence``. A run of unseen
    frames of a joint of at most ``max_gap`` frames is filled: between two seen frames ``a < t < b``
    linearly, ``p_t = p_a + (t - a) / (b - a) (p_b - p_a)``; at the start or end of the sequence
    (seen on one side only) by holding the nearest seen position. Longer runs, and joints never
    seen, are left as they are (callers fall back to the kinematic tree,
    :func:`energy3d.data.keypoints.impute_missing`). Unseen joints may hold any value, NaN included;
    seen joints must be finite.

    Args:
        points: ``(T, J, D)`` positions (pixels for 2D keypoints; any unit).
        confidence: ``(T, J)`` detection confidence (0 = not detected).
        max_gap: longest run of unseen frames that is filled (>= 0; 0 fills nothing).
        min_confidence: joints at or below this confidence count as unseen.

    Returns:
        ``(points, filled)``: a float copy of ``points`` ``(T, J, D)`` (numpy float64, or a tensor like
        ``points``) with the gaps filled, and ``filled (T, J)`` bool numpy, True where a value was
        filled in time. Joints still unseen are ``~seen & ~filled``.

    Raises:
        InputError: shapes do not match, ``max_gap`` is negative, or a seen joint is not finite.

    Example:
        >>> import numpy as np
        >>> p = np.array([[[0.0, 0.0]], [[9.0, 9.0]], [[2.0, 4.0]]]); c = np.array([[1.0], [0.0], [1.0]])
        >>> out, filled = fill_gaps(p, c)
        >>> out[1].tolist(), filled[:, 0].tolist()
        ([[1.0, 2.0]], [False, True, False])
    """
    pts, restore = _as_numpy(points, "fill_gaps: points")
    conf, _ = _as_numpy(confidence, "fill_gaps: confidence")
    if pts.ndim != 3:
        raise InputError(f"fill_gaps: points: expected shape (T, J, D), got {pts.shape}")
    if conf.shape != pts.shape[:2]:
        raise InputError(f"fill_gaps: confidence: expected shape {pts.shape[:2]} (T, J) to match points "
                         f"{pts.shape}, got {conf.shape}")
    if isinstance(max_gap, bool) or not float(max_gap).is_integer() or max_gap < 0:
        raise InputError(f"fill_gaps: max_gap must be an integer >= 0, got {max_gap!r}")
    if np.isnan(conf).any():
        raise InputError("fill_gaps: confidence has NaN values")
    seen = conf > min_confidence
    bad = seen & ~np.isfinite(pts).all(-1)
    if bad.any():
        t, j = np.argwhere(bad)[0]
        raise InputError(f"fill_gaps: points: {int(bad.sum())} seen joints are not finite (first: frame {t}, "
                         f"joint {j}); give them confidence 0")
    out = pts.copy()
    filled = np.zeros(seen.shape, dtype=bool)
    T = pts.shape[0]
    max_gap = int(max_gap)
    if max_gap == 0 or T == 0:
        return restore(out), filled
    frames = np.arange(T)
    for j in range(pts.shape[1]):
        s = seen[:, j]
        if s.all() or not s.any():
            continue
        idx = np.flatnonzero(s)
        # previous and next seen frame of every frame (-1 / T where there is none)
        prev = np.maximum.accumulate(np.where(s, frames, -1))
        nxt = np.minimum.accumulate(np.where(s, frames, T)[::-1])[::-1]
        gap = np.where((prev >= 0) & (nxt < T), nxt - prev - 1, np.where(prev >= 0, T - 1 - prev, nxt))
        todo = ~s & (gap <= max_gap)
        if not todo.any():
            continue
        both = todo & (prev >= 0) & (nxt < T)
        if both.any():
            a, b, t = prev[both], nxt[both], frames[both]
            w = ((t - a) / (b - a))[:, None]
            out[both, j] = (1 - w) * pts[a, j] + w * pts[b, j]
        head = todo & (prev < 0)
        out[head, j] = pts[idx[0], j]
        tail = todo & (nxt >= T)
        out[tail, j] = pts[idx[-1], j]
        filled[todo, j] = True
    return restore(out), filled


def temporal_outliers(points, confidence, half_window: int = 2, threshold: float = 0.05, *,
                      min_confidence: float = 0.0) -> np.ndarray:
    """Seen joints that lie far from their own median position over neighbouring frames.

    For each frame ``t`` and joint ``j`` seen there, the median of the joint's seen positions over
    frames ``t - half_window .. t + half_window`` (per coordinate; the window is clipped at the ends)
    is compared with its position: a joint further than ``threshold`` times the person's size (the
    diagonal of the bounding box of the frame's seen joints) is an outlier. This is a Hampel-type
    filter with a scale-relative threshold; it catches a detector's isolated jumps (outliers, left/right
    swaps) that no confidence reports. Fast real motion moves a joint by far less than 5 % of the
    body's size per frame at 30 fps except for the fastest limbs; such frames cost a refill by
    interpolation, not an error.

    Args:
        points: ``(T, J, D)`` positions (pixels for keypoints).
        confidence: ``(T, J)``; a joint is seen where it is ``> min_confidence``.
        half_window: frames on each side (>= 1).
        threshold: distance from the median as a fraction of the person's size (> 0).
        min_confidence: see above.

    Returns:
        ``(T, J)`` bool, True for seen joints judged outliers (unseen joints are False).

    Raises:
        InputError: shapes do not match, a parameter is out of range, or a seen joint is not finite.

    Example:
        >>> import numpy as np
        >>> p = np.zeros((7, 2, 2)); p[:, 1] = 100.0; p[3, 0] = 60.0    # joint 0 jumps in frame 3
        >>> np.argwhere(temporal_outliers(p, np.ones((7, 2)))).tolist()
        [[3, 0]]
    """
    pts, _ = _as_numpy(points, "temporal_outliers: points")
    conf, _ = _as_numpy(confidence, "temporal_outliers: confidence")
    if pts.ndim != 3:
        raise InputError(f"temporal_outliers: points: expected shape (T, J, D), got {pts.shape}")
    if conf.shape != pts.shape[:2]:
        raise InputError(f"temporal_outliers: confidence: expected shape {pts.shape[:2]} (T, J), got {conf.shape}")
    if isinstance(half_window, bool) or not float(half_window).is_integer() or half_window < 1:
        raise InputError(f"temporal_outliers: half_window must be an integer >= 1, got {half_window!r}")
    if not (math.isfinite(threshold) and threshold > 0):
        raise InputError(f"temporal_outliers: threshold must be finite and > 0, got {threshold}")
    seen = conf > min_confidence
    if (seen & ~np.isfinite(pts).all(-1)).any():
        raise InputError("temporal_outliers: points: seen joints are not finite; give them confidence 0")
    T = pts.shape[0]
    h = int(half_window)
    if T == 0:
        return np.zeros(seen.shape, dtype=bool)
    q = np.where(seen[..., None], pts, np.nan)
    pad = np.pad(q, ((h, h), (0, 0), (0, 0)), mode="constant", constant_values=np.nan)
    win = np.stack([pad[i:i + T] for i in range(2 * h + 1)], 0)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows (a joint never seen nearby)
        med = np.nanmedian(win, axis=0)
        lo, hi = np.nanmin(q, axis=1), np.nanmax(q, axis=1)
    size = np.linalg.norm(np.nan_to_num(hi - lo), axis=-1)  # (T,)
    dev = np.linalg.norm(q - med, axis=-1)
    out = seen & np.isfinite(dev) & (dev > threshold * size[:, None])
    return out
