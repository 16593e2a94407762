"""Joint layouts and conversions between them (see :mod:`energy3d.skeleton.layouts`)."""

from energy3d.skeleton.layouts import (
    BANDAI21, COCO17, H36M17, LAYOUTS, MPII16, OPENPOSE25, Skeleton, convert, get_layout,
)

__all__ = ["BANDAI21", "COCO17", "H36M17", "LAYOUTS", "MPII16", "OPENPOSE25", "Skeleton", "convert", "get_layout"]
