"""Skeleton pictures for pose lifting: the 2D input next to the 3D result, as PNG files.

Figures are drawn on matplotlib's Agg canvas directly (``matplotlib.figure.Figure``, no pyplot),
so no display is needed and the global backend of the caller is left alone.

Each person gets one row of three panels:

(a) **input 2D**: keypoints in image coordinates (pixels, x right, y down), the image frame when
    the image size is known, equal aspect;
(b) **3D, camera view**: the 3D pose (camera frame, metres, x right, y down, z forward) seen
    along the camera's optical axis, orthographic, so it should look like (a) up to perspective;
(c) **3D, novel view**: the same pose after turning the viewpoint by ``novel_azimuth_deg`` about
    the body's vertical axis (camera ``-y``), slightly from above, so that depth becomes visible.

The 3D panels use matplotlib's 3D axes with plot coordinates ``(x, z, -y)`` (x right, depth,
up), equal scales on all three axes and tick labels in metres. Bones are coloured by side: left
blue, right red, centre dark grey; joints are dots. An optional ground-truth pose is drawn
dotted in the same colours. Joints with 2D confidence 0 (when a confidence is given) are drawn
hollow in panel (a).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from energy3d.errors import InputError
from energy3d.skeleton.layouts import Skeleton, get_layout

__all__ = ["plot_lift", "plot_lift_grid", "side_colours", "LEFT_COLOUR", "RIGHT_COLOUR", "CENTRE_COLOUR"]

LEFT_COLOUR = "#1f5fbf"
RIGHT_COLOUR = "#d62728"
CENTRE_COLOUR = "#404040"
_ROW_INCHES = (15.0, 5.0)


def side_colours(layout: Skeleton) -> tuple[list[str], list[str]]:
    """Colours by body side.

    Returns:
        ``(joint_colours, bone_colours)``: one colour per joint, and one per bone of
        ``layout.edges`` (the side of the bone's child joint).
    """
    joint = [CENTRE_COLOUR] * layout.num_joints
    for i in layout.left:
        joint[i] = LEFT_COLOUR
    for i in layout.right:
        joint[i] = RIGHT_COLOUR
    return joint, [joint[c] for _, c in layout.edges]


def _np(x, name: str) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name}: expected a numeric array, got {type(x).__name__}") from None


def _check(x, layout: Skeleton, dim: int, name: str, batch: int | None = None) -> np.ndarray:
    a = _np(x, name)
    want = (layout.num_joints, dim) if batch is None else (batch, layout.num_joints, dim)
    if a.shape != want and not (batch == -1 and a.ndim == 3 and a.shape[1:] == want[1:]):
        shown = ", ".join("N" if w == -1 else str(w) for w in want)
        raise InputError(
            f"{name}: expected shape ({shown}) for layout {layout.name} ({layout.num_joints} joints, "
            f"{'pixels' if dim == 2 else 'metres'}), got {a.shape}"
        )
    if not np.isfinite(a).all():
        raise InputError(f"{name}: {int((~np.isfinite(a)).sum())} non-finite values (NaN or inf)")
    return a


def _check_image_size(image_size):
    if image_size is None:
        return None
    s = _np(image_size, "image_size").ravel()
    if s.shape != (2,) or not np.isfinite(s).all() or (s <= 0).any():
        raise InputError(f"image_size: expected (W, H) in pixels, both > 0, got {np.asarray(image_size).tolist()}")
    return float(s[0]), float(s[1])


def _new_figure(rows: int, dpi: int):
    import mpl_toolkits.mplot3d  # noqa: F401  (registers the "3d" projection)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(_ROW_INCHES[0], _ROW_INCHES[1] * rows), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _draw_2d(ax, kp, layout, image_size, conf, label, image=None):
    jc, bc = side_colours(layout)
    if image is not None:
        ax.imshow(image, extent=(0, image.shape[1], image.shape[0], 0), alpha=0.75, zorder=0)
    for (p, c), col in zip(layout.edges, bc):
        ax.plot(kp[[p, c], 0], kp[[p, c], 1], color=col, lw=2.2, solid_capstyle="round")
    vis = np.ones(layout.num_joints, bool) if conf is None else conf > 0
    ax.scatter(kp[vis, 0], kp[vis, 1], c=[jc[i] for i in np.flatnonzero(vis)], s=16, zorder=3)
    if (~vis).any():
        ax.scatter(kp[~vis, 0], kp[~vis, 1], facecolors="white", edgecolors=[jc[i] for i in np.flatnonzero(~vis)],
                   s=22, zorder=3, label="not detected")
        ax.legend(loc="lower right", fontsize=7, frameon=False)
    if image_size is not None:
        w, h = image_size
        ax.plot([0, w, w, 0, 0], [0, 0, h, h, 0], color="0.6", lw=1.0, ls="--")
        lo = np.minimum(kp.min(0), 0.0)
        hi = np.maximum(kp.max(0), (w, h))
    else:
        lo, hi = kp.min(0), kp.max(0)
    pad = 0.05 * max(float((hi - lo).max()), 1.0)
    ax.set_xlim(lo[0] - pad, hi[0] + pad)
    ax.set_ylim(hi[1] + pad, lo[1] - pad)  # y down
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("x [px]")
    ax.set_ylabel("y [px] (down)")
    ax.set_title(label, fontsize=10)
    ax.grid(alpha=0.25)


def _to_plot(p3):
    """Camera frame (x right, y down, z forward) -> plot axes (x, z, -y)."""
    return np.stack([p3[:, 0], p3[:, 2], -p3[:, 1]], axis=1)


def _draw_3d(ax, pose, gt, layout, elev, azim, label, legend):
    jc, bc = side_colours(layout)
    P = _to_plot(pose)
    for (p, c), col in zip(layout.edges, bc):
        ax.plot(P[[p, c], 0], P[[p, c], 1], P[[p, c], 2], color=col, lw=2.2)
    ax.scatter(P[:, 0], P[:, 1], P[:, 2], c=jc, s=14, depthshade=False)
    pts = P
    if gt is not None:
        G = _to_plot(gt)
        for (p, c), col in zip(layout.edges, bc):
            ax.plot(G[[p, c], 0], G[[p, c], 1], G[[p, c], 2], color=col, lw=1.6, ls=":", alpha=0.8)
        pts = np.concatenate([P, G])
        if legend:
            from matplotlib.lines import Line2D

            ax.legend(handles=[Line2D([], [], color=CENTRE_COLOUR, lw=2, label="estimate"),
                               Line2D([], [], color=CENTRE_COLOUR, lw=1.6, ls=":", label="ground truth")],
                      loc="upper right", fontsize=7, frameon=False)
    centre = 0.5 * (pts.min(0) + pts.max(0))
    half = 0.55 * max(float((pts.max(0) - pts.min(0)).max()), 0.2)
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[1] - half, centre[1] + half)
    ax.set_zlim(centre[2] - half, centre[2] + half)
    ax.set_box_aspect((1, 1, 1), zoom=1.15)
    ax.set_proj_type("ortho")
    ax.view_init(elev=elev, azim=azim)
    from matplotlib.ticker import MaxNLocator

    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.set_major_locator(MaxNLocator(4))
    ax.set_xlabel("x [m]", fontsize=8, labelpad=2)
    ax.set_ylabel("z, depth [m]", fontsize=8, labelpad=2)
    ax.set_zlabel("-y, up [m]", fontsize=8, labelpad=2)
    ax.tick_params(labelsize=7, pad=0)
    ax.set_title(label, fontsize=10)


def level_rotation(up_camera) -> np.ndarray:
    """The rotation ``R`` (3, 3) that turns the world up ``up_camera`` (camera frame) into the camera's up ``(0, -1, 0)``.

    The smallest such rotation (about the axis ``up x (0, -1, 0)``): the view of a level camera at
    the same place and heading, so a rotation about the camera's vertical axis is one about the
    world's vertical.
    """
    u = np.asarray(up_camera, dtype=np.float64).reshape(3)
    n = np.linalg.norm(u)
    if not np.isfinite(u).all() or n < 1e-9:
        raise InputError(f"up_camera: expected a finite non-zero (3,) vector, got {up_camera!r}")
    u = u / n
    t = np.array([0.0, -1.0, 0.0])
    v, c = np.cross(u, t), float(u @ t)
    if c < -1 + 1e-12:  # upside down: half a turn about the camera's x axis
        return np.diag([1.0, -1.0, -1.0])
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1.0 + c)


def _draw_row(fig, rows, r, kp, pose, gt, layout, image_size, conf, name, novel_az, novel_el, image=None,
              up_camera=None):
    ax = fig.add_subplot(rows, 3, 3 * r + 1)
    prefix = f"{name}: " if name else ""
    _draw_2d(ax, kp, layout, image_size, conf, f"{prefix}(a) input 2D keypoints", image)
    ax = fig.add_subplot(rows, 3, 3 * r + 2, projection="3d")
    # matplotlib: azim = -90 puts the viewer on the -depth side looking along +depth, x to the right
    _draw_3d(ax, pose, gt, layout, 0.0, -90.0, "(b) 3D, camera view", legend=True)
    ax.set_yticklabels([])  # the depth axis points at the viewer here; its ticks would overlap
    ax.set_ylabel("")
    ax = fig.add_subplot(rows, 3, 3 * r + 3, projection="3d")
    label = f"(c) 3D, view turned {novel_az:g}° about vertical"
    if up_camera is not None:  # turn about the world's vertical: the pose as a level camera would see it
        R = level_rotation(up_camera)
        pose = pose @ R.T
        gt = None if gt is None else gt @ R.T
        label = f"(c) 3D, level view turned {novel_az:g}° about the estimated vertical"
    _draw_3d(ax, pose, gt, layout, novel_el, -90.0 + novel_az, label, legend=False)


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def plot_lift(
    path: str | Path,
    keypoints_2d,
    pose_3d,
    layout: Skeleton | str,
    image_size: Sequence[float] | None = None,
    *,
    title: str | None = None,
    gt_3d=None,
    confidence_2d=None,
    novel_azimuth_deg: float = 70.0,
    novel_elevation_deg: float = 10.0,
    dpi: int = 100,
    image=None,
    up_camera=None,
) -> Path:
    """Save one PNG showing a 2D input and its 3D lift: input, camera view, novel view.

    Args:
        path: output ``.png`` path (parent folders are created).
        keypoints_2d: ``(J, 2)`` pixels (x right, y down), numpy or torch, in ``layout``.
        pose_3d: ``(J, 3)`` metres in the camera frame (x right, y down, z forward), in ``layout``.
        layout: joint layout of both arrays (convert beforehand if they differ).
        image_size: optional ``(W, H)`` in pixels; draws the image frame in panel (a).
        title: optional figure title.
        gt_3d: optional ``(J, 3)`` ground truth in the same frame, drawn dotted.
        confidence_2d: optional ``(J,)``; joints with 0 are drawn hollow in panel (a).
        novel_azimuth_deg: rotation of the viewpoint about the vertical (camera ``-y``) axis for
            panel (c), degrees.
        novel_elevation_deg: elevation of the panel (c) viewpoint above the horizontal, degrees.
        dpi: resolution; the image is ``1500 x 500`` pixels at 100 dpi.
        image: optional ``(H, W, 3)`` RGB photo drawn under the 2D keypoints of panel (a).
        up_camera: optional world up in the camera frame (e.g. ``gravity_frame``'s estimate or
            :func:`energy3d.data.gravity.horizon_up`): panel (c) then shows the pose as a level
            camera would (:func:`level_rotation`), turned about the world's vertical; without it,
            about the camera's.

    Returns:
        The path written.

    Raises:
        InputError: arrays of the wrong shape for ``layout``, non-finite values, bad ``image_size``
            or ``image``.

    Example:
        >>> import numpy as np
        >>> from energy3d.skeleton import H36M17
        >>> pose = np.random.default_rng(0).normal(0, 0.3, (17, 3)) + [0, 0, 4]
        >>> plot_lift("lift.png", pose[:, :2] / pose[:, 2:] * 1000 + 500, pose, H36M17)  # doctest: +SKIP
        PosixPath('lift.png')
    """
    layout = get_layout(layout)
    kp = _check(keypoints_2d, layout, 2, "keypoints_2d")
    pose = _check(pose_3d, layout, 3, "pose_3d")
    gt = None if gt_3d is None else _check(gt_3d, layout, 3, "gt_3d")
    conf = None
    if confidence_2d is not None:
        conf = _np(confidence_2d, "confidence_2d")
        if conf.shape != (layout.num_joints,):
            raise InputError(f"confidence_2d: expected shape ({layout.num_joints},), got {conf.shape}")
    size = _check_image_size(image_size)
    if image is not None:
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] not in (3, 4):
            raise InputError(f"image: expected shape (H, W, 3), got {image.shape}")
        size = size or (image.shape[1], image.shape[0])
    fig = _new_figure(1, dpi)
    _draw_row(fig, 1, 0, kp, pose, gt, layout, size, conf, None, novel_azimuth_deg, novel_elevation_deg, image,
              up_camera=up_camera)
    fig.subplots_adjust(left=0.05, right=0.98, bottom=0.1, top=0.86 if title else 0.92, wspace=0.15)
    if title:
        fig.suptitle(title, fontsize=12)
    return _save(fig, path)


def plot_lift_grid(
    path: str | Path,
    keypoints_2d,
    poses_3d,
    layout: Skeleton | str,
    names: Sequence[str] | None = None,
    max_people: int = 6,
    *,
    image_size: Sequence[float] | None = None,
    title: str | None = None,
    gt_3d=None,
    confidence_2d=None,
    novel_azimuth_deg: float = 70.0,
    novel_elevation_deg: float = 10.0,
    dpi: int = 100,
) -> Path:
    """Save one PNG with a row of :func:`plot_lift` panels per person.

    Only the first ``max_people`` people are drawn (the title says so when some are left out).

    Args:
        path: output ``.png`` path.
        keypoints_2d: ``(N, J, 2)`` pixels.
        poses_3d: ``(N, J, 3)`` metres, camera frame.
        layout: joint layout of both arrays.
        names: optional ``N`` row labels (e.g. :attr:`KeypointSet.names`).
        max_people: most rows drawn.
        image_size, title, novel_azimuth_deg, novel_elevation_deg, dpi: as in :func:`plot_lift`.
        gt_3d: optional ``(N, J, 3)`` ground truth.
        confidence_2d: optional ``(N, J)``.

    Returns:
        The path written; the image is ``1500 x 500 * rows`` pixels at 100 dpi.

    Raises:
        InputError: shapes disagree with ``layout`` or with each other, non-finite values,
            ``names`` of the wrong length, ``max_people < 1``.
    """
    layout = get_layout(layout)
    kp = _check(keypoints_2d, layout, 2, "keypoints_2d", batch=-1)
    n = kp.shape[0]
    if n == 0:
        raise InputError("keypoints_2d: no people (N = 0)")
    poses = _check(poses_3d, layout, 3, "poses_3d", batch=n)
    gt = None if gt_3d is None else _check(gt_3d, layout, 3, "gt_3d", batch=n)
    conf = None
    if confidence_2d is not None:
        conf = _np(confidence_2d, "confidence_2d")
        if conf.shape != (n, layout.num_joints):
            raise InputError(f"confidence_2d: expected shape ({n}, {layout.num_joints}), got {conf.shape}")
    if names is not None and len(names) != n:
        raise InputError(f"names: expected {n} names (one per person), got {len(names)}")
    if int(max_people) < 1:
        raise InputError(f"max_people: expected >= 1, got {max_people}")
    size = _check_image_size(image_size)
    rows = min(n, int(max_people))
    fig = _new_figure(rows, dpi)
    for r in range(rows):
        name = names[r] if names is not None else f"#{r}"
        _draw_row(fig, rows, r, kp[r], poses[r], None if gt is None else gt[r], layout, size,
                  None if conf is None else conf[r], name, novel_azimuth_deg, novel_elevation_deg)
    heading = title or ""
    if rows < n:
        heading = (heading + " " if heading else "") + f"(first {rows} of {n} people)"
    height = _ROW_INCHES[1] * rows
    top_in = 0.8 if heading else 0.45
    fig.subplots_adjust(left=0.05, right=0.98, bottom=0.6 / height, top=1 - top_in / height,
                        wspace=0.15, hspace=0.35)
    if heading:
        fig.suptitle(heading, fontsize=12, y=1 - 0.15 / height, va="top")
    return _save(fig, path)
