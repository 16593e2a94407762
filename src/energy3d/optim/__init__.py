"""Unrolled inner optimisers (learned step, momentum, clip)."""

from energy3d.optim.unrolled import UnrolledGD, UnrolledInfo

__all__ = ["UnrolledGD", "UnrolledInfo"]
