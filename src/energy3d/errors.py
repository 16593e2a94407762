"""Errors a user can cause.

Every problem with user input (a missing or corrupt file, a wrong joint count, NaNs, an unknown
config key, a checkpoint of the wrong kind) raises :class:`InputError`. It subclasses
``ValueError`` so library callers can catch it as one; the command line prints its message on one
line and exits with status 2, never with a traceback from deep inside torch.
"""

from __future__ import annotations


class InputError(ValueError):
    """Invalid input supplied by the user (file, array, config or checkpoint)."""


def check_shape(name: str, x, expected: tuple, *, leading: bool = False) -> None:
    """Raise :class:`InputError` unless ``x.shape`` matches ``expected``.

    Args:
        name: what the array is, used in the message (e.g. ``"keypoints"``).
        x: array or tensor with a ``shape`` attribute.
        expected: the expected trailing shape; ``None`` entries match any size.
        leading: if True, any number of leading dimensions may precede ``expected``.

    Example:
        >>> import numpy as np
        >>> check_shape("points", np.zeros((4, 17, 2)), (None, 17, 2))
    """
    shape = tuple(x.shape)
    n = len(expected)
    ok = len(shape) >= n if leading else len(shape) == n
    if ok:
        tail = shape[len(shape) - n:]
        ok = all(e is None or e == s for e, s in zip(expected, tail))
    if not ok:
        want = ", ".join("*" if e is None else str(e) for e in expected)
        prefix = "..., " if leading else ""
        raise InputError(f"{name}: expected shape ({prefix}{want}), got {shape}")


def check_finite(name: str, x) -> None:
    """Raise :class:`InputError` if ``x`` (numpy array or torch tensor) has NaN or inf entries."""
    import numpy as np

    try:
        import torch

        if isinstance(x, torch.Tensor):
            bad = ~torch.isfinite(x)
            if bool(bad.any()):
                raise InputError(f"{name}: {int(bad.sum())} non-finite values (NaN or inf)")
            return
    except ImportError:  # pragma: no cover
        pass
    arr = np.asarray(x)
    bad = ~np.isfinite(arr)
    if bad.any():
        raise InputError(f"{name}: {int(bad.sum())} non-finite values (NaN or inf)")
