"""``energy3d lift``: 2D keypoints -> 3D joints, JSON + npz + PNG + HTML viewer.

Steps: read the keypoints (COCO / OpenPose JSON, npz), convert them to the model's input layout
(h36m17: pelvis, thorax, spine and head top are derived, see :mod:`energy3d.skeleton.layouts`),
impute zero-confidence joints from their nearest visible neighbour in the kinematic tree
(:func:`energy3d.data.keypoints.impute_missing`; a person with fewer than half of the joints
detected is an error), normalise with the intrinsics, turn a virtual camera towards each person
(:func:`centring_rotation`), lift, rotate back, rescale to an adult's size
(:func:`rescale_to_bone_length`), and write every output at once: all
files are written to a temporary folder first and moved into place only when all succeeded.

Intrinsics: the principal point is the image centre; the focal length is ``--focal`` or
``1.2 * max(W, H)`` pixels. The image size comes from the file (COCO ``images``, npz
``image_size``) or ``--image-size``; without either, the command stops with an error.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from energy3d.cli._outputs import atomic_outputs
from energy3d.errors import InputError
from energy3d.lifting import BONE_LENGTH_SUM_M, rescale_to_bone_length

BUNDLED = Path(__file__).resolve().parents[1] / "assets" / "ige8-lifter.json"
FRAME = "camera frame, metres: x right, y down, z forward (OpenCV); origin at the camera centre"


def centring_rotation(x: torch.Tensor) -> torch.Tensor:
    """Rotations ``(N, 3, 3)`` taking each person's mean viewing ray to the optical axis.

    The lifting data shows people near the image centre (cameras look at the pelvis), so a person
    at the edge of a real image is out of distribution. Rotating the camera about its centre is a
    pure homography of the image: the 2D input is mapped into the rotated (virtual) camera, lifted
    there, and the 3D result rotated back, which is exact for a pinhole camera.

    Args:
        x: ``(N, J, 2)`` normalised coordinates.
    """
    c = x.mean(1)
    r = torch.cat([c, torch.ones_like(c[:, :1])], -1)
    r = r / r.norm(dim=-1, keepdim=True)
    ez = torch.tensor([0.0, 0.0, 1.0], dtype=x.dtype).expand_as(r)
    axis = torch.linalg.cross(r, ez)
    s = axis.norm(dim=-1, keepdim=True)
    cos = (r * ez).sum(-1, keepdim=True)
    k = axis / s.clamp_min(1e-12)
    Kx = torch.zeros(len(x), 3, 3, dtype=x.dtype)
    Kx[:, 0, 1], Kx[:, 0, 2], Kx[:, 1, 0] = -k[:, 2], k[:, 1], k[:, 2]
    Kx[:, 1, 2], Kx[:, 2, 0], Kx[:, 2, 1] = -k[:, 0], -k[:, 1], k[:, 0]
    eye = torch.eye(3, dtype=x.dtype).expand_as(Kx)
    return eye + s[..., None] * Kx + (1 - cos)[..., None] * (Kx @ Kx)


def rotate_normalized(x: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
    """Normalised coordinates ``(N, J, 2)`` seen by the camera rotated by ``R (N, 3, 3)``."""
    h = torch.cat([x, torch.ones_like(x[..., :1])], -1) @ R.transpose(1, 2)
    return h[..., :2] / h[..., 2:]


def run_lift(args) -> Path:
    from energy3d.data.keypoints import impute_missing, read_keypoints
    from energy3d.geometry.camera import default_intrinsics
    from energy3d.lifting import load_lifter, predict
    from energy3d.data.lifting import to_normalized
    from energy3d.skeleton import get_layout

    ckpt = Path(args.checkpoint) if args.checkpoint else BUNDLED
    model, meta = load_lifter(ckpt)
    in_layout = get_layout(meta["layouts"]["input"]["name"])
    out_layout = get_layout(meta["layouts"]["output"]["name"])

    kp = read_keypoints(args.input, layout=args.layout)
    if len(kp) == 0:
        raise InputError(f"{args.input}: no people found")
    kp_in = kp.to_layout(in_layout) if kp.layout.name != in_layout.name else kp
    pts, imputed = impute_missing(kp_in.points, kp_in.confidence, in_layout, names=kp_in.names)

    sizes = _image_sizes(kp, args)
    focal = args.focal
    if focal is not None and not focal > 0:
        raise InputError(f"--focal must be positive, got {focal}")
    K = torch.stack([default_intrinsics(w, h, focal) for w, h in sizes])
    x = to_normalized(torch.as_tensor(pts, dtype=torch.float32), K)
    if not bool(torch.isfinite(x).all()):
        raise InputError(f"{args.input}: keypoints give non-finite coordinates")
    R = centring_rotation(x)
    poses = predict(model, rotate_normalized(x, R)) @ R  # lift in the centred virtual camera, rotate back
    poses = rescale_to_bone_length(poses.numpy(), out_layout)

    out = Path(args.out)
    with atomic_outputs(out, "lift") as tmp:
        doc = {
            "energy3d": __import__("energy3d").__version__,
            "input": str(args.input),
            "input_layout": kp.layout.name,
            "layout": {"name": out_layout.name, "joints": list(out_layout.joints), "parents": list(out_layout.parents)},
            "units": "metres",
            "frame": FRAME,
            "note": "The model is trained scale-invariantly (IGE-Net eq. 9): its output is rescaled about the camera "
                    f"centre so the 16 bones sum to {BONE_LENGTH_SUM_M} m (the training rig's adult size); "
                    "projections are unchanged, so distance and size are estimates under that prior.",
            "checkpoint": str(ckpt),
            "model_type": meta["model_type"],
            "focal_px": float(K[0, 0, 0]) if focal is None else focal,
            "focal_source": "--focal" if focal is not None else "default 1.2 * max(W, H)",
            "people": [],
        }
        for i, name in enumerate(kp.names):
            doc["people"].append({
                "name": name,
                "image_size": [float(v) for v in sizes[i]],
                "K": K[i].tolist(),
                "joints_3d": np.round(poses[i], 5).tolist(),
                "imputed_joints": [in_layout.joints[j] for j in np.flatnonzero(imputed[i])],
            })
        (tmp / "poses.json").write_text(json.dumps(doc, indent=1))
        np.savez(tmp / "poses.npz", joints_3d=poses.astype(np.float32), points_2d=pts.astype(np.float32),
                 imputed=imputed, K=K.numpy(), names=np.array(kp.names), layout=np.array(out_layout.name))
        from energy3d.viz.html import write_pose_viewer
        from energy3d.viz.skeleton import plot_lift, plot_lift_grid

        n = min(len(kp), args.max_plot)
        if n == 1:
            plot_lift(tmp / "lift.png", pts[0], poses[0], out_layout, image_size=tuple(sizes[0]), title=kp.names[0])
        else:
            plot_lift_grid(tmp / "lift.png", pts[:n], poses[:n], out_layout, names=kp.names[:n], max_people=n,
                           image_size=tuple(sizes[0]))
        write_pose_viewer(tmp / "viewer.html", poses, out_layout, names=kp.names, title=f"energy3d lift: {Path(args.input).name}",
                          keypoints_2d=pts, image_size=tuple(sizes[0]))
    print(f"lifted {len(kp)} people from {args.input} -> {out}/ (poses.json, poses.npz, lift.png, viewer.html)")
    return out


def _image_sizes(kp, args) -> list[tuple[float, float]]:
    if args.image_size:
        w, h = args.image_size
        if not (w > 0 and h > 0):
            raise InputError(f"--image-size must be positive, got {w} x {h}")
        return [(w, h)] * len(kp)
    if kp.image_sizes is not None:
        return [tuple(map(float, s)) for s in kp.image_sizes]
    if kp.image_size is not None:
        return [tuple(map(float, kp.image_size))] * len(kp)
    raise InputError(f"{args.input}: the file does not give the image size; pass --image-size W H")
