"""Make ``examples/chair.png``: a chair built from boxes in code, rendered by energy3d's own renderer.

The mesh is made here (seat, back rest, four legs: axis-aligned boxes), so the image is the
project's own work (CC0). It is normalised like the training objects (Y up, front +Z, bounding-box
centre at the origin, diagonal 1) and rendered exactly like a view of the CPU shape dataset
(:mod:`energy3d.data.shapes`): 64 x 64 pixels, 30 degree field of view, camera 2.0 from the centre
at elevation 27.5 degrees (inside the dataset's 25-30), azimuth 35 degrees, flat Lambert + ambient
shading with the light fixed to the camera, 2 x 2 supersampling, white background.

Usage: python examples/make_chair.py [--out examples/chair.png] [--size 64]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from energy3d.data.shapes import CAMERA_DISTANCE, FOV_DEG, shape_camera_intrinsics
from energy3d.geometry.camera import orbit_camera
from energy3d.geometry.mesh import box_mesh, concatenate_meshes, normalize_mesh
from energy3d.geometry.render import render

WOOD = (0.55, 0.35, 0.18)
CUSHION = (0.20, 0.42, 0.62)


def chair_mesh():
    """A chair of six boxes (units: metres before normalisation; Y up, the seat's front towards +Z)."""
    parts = [box_mesh((0.0, 0.45, 0.0), (0.46, 0.05, 0.44), CUSHION)]  # seat
    parts.append(box_mesh((0.0, 0.72, -0.2), (0.46, 0.50, 0.04), CUSHION))  # back rest
    for x in (-0.2, 0.2):
        for z in (-0.19, 0.19):
            parts.append(box_mesh((x, 0.21, z), (0.045, 0.43, 0.045), WOOD))  # legs
    return normalize_mesh(concatenate_meshes(parts), up="+y", front="+z")


def render_chair(size: int = 64, azimuth: float = 35.0, elevation: float = 27.5) -> np.ndarray:
    """``(size, size, 3)`` uint8 render of :func:`chair_mesh` at the dataset's view settings."""
    K = shape_camera_intrinsics(size, FOV_DEG)
    R, t = orbit_camera(torch.zeros(3, dtype=torch.float64), CAMERA_DISTANCE, azimuth, elevation)
    rgb, _, _ = render(chair_mesh(), K, R.numpy(), t.numpy(), size, size, background=(1.0, 1.0, 1.0), supersample=2)
    return np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "chair.png"))
    ap.add_argument("--size", type=int, default=64)
    args = ap.parse_args(argv)
    from PIL import Image

    Image.fromarray(render_chair(args.size)).save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
