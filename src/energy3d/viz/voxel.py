"""Pictures of voxel reconstructions: the input, its predicted silhouette and the mesh from two views."""

from __future__ import annotations

import numpy as np

from energy3d.geometry.render import render

__all__ = ["render_views", "save_reconstruction_figure"]


def render_views(mesh, K, image_size: int, out_size: int = 256):
    """The mesh rendered ``out_size`` pixels square from the input camera and turned 70° about its centre.

    Returns:
        ``[(angle_deg, rgb (out_size, out_size, 3))]`` for 0° and 70°.
    """

    s = out_size / image_size
    Ks = np.asarray(K, np.float64).copy()
    Ks[:2] *= s
    views = []
    c = mesh.vertices.mean(axis=0)
    for ang in (0.0, 70.0):
        a = np.radians(ang)
        Ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
        t = c - Ry @ c  # rotate about the object's centre, camera unchanged
        rgb, _, _ = render(mesh, Ks, Ry, t, out_size, out_size, background=(1, 1, 1), supersample=2)
        views.append((ang, rgb))
    return views


def save_reconstruction_figure(path, image: np.ndarray, prob: np.ndarray, mesh, K, threshold: float, title: str = "") -> None:
    """PNG with the input, its predicted silhouette over it and the mesh from two views."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    S = image.shape[0]
    sil = (prob > threshold).any(axis=0).astype(np.float32)
    rep = S // sil.shape[0] if S >= sil.shape[0] else 1
    up = np.kron(sil, np.ones((rep, rep), np.float32)) if rep > 1 else sil
    if up.shape[0] != S:
        from PIL import Image

        up = np.asarray(Image.fromarray((up * 255).astype(np.uint8)).resize((S, S), Image.Resampling.NEAREST)) / 255.0
    over = image * 0.5 + 0.5 * np.where(up[..., None] > 0.5, np.array([0.85, 0.15, 0.1]), np.array([1.0, 1.0, 1.0]))
    views = render_views(mesh, K, S)
    fig, ax = plt.subplots(1, 4, figsize=(12, 3.4))
    panels = [(image, "input"), (over, f"silhouette (occupancy > {threshold:g})")]
    panels += [(rgb, "mesh, input view" if ang == 0 else f"mesh, turned {ang:.0f}°") for ang, rgb in views]
    for a, (im, t) in zip(ax, panels):
        a.imshow(np.clip(im, 0, 1), interpolation="nearest" if im.shape[0] <= 128 else "antialiased")
        a.set_title(t, fontsize=9)
        a.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
