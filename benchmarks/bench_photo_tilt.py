"""Tilt of lifted bodies on real photos: the pelvis -> thorax pitch in the camera frame, and the PNGs.

For every photo's detected keypoints (``benchmarks/results/photos/<stem>.npz``, made by
``benchmarks/detect_photos.py`` with the project's MediaPipe detector) this runs ``energy3d lift``
(:func:`energy3d.tasks.lift.lift_file`, the user's path: layout conversion, imputation, default
intrinsics ``f = 1.2 max(W, H)``, centring rotation, adult-size rescale) with a checkpoint, then
measures the lifted pose's **pitch**: the angle between the pelvis -> thorax vector and the camera's
up direction (``-y``) in the camera's y-z plane, positive when the top of the torso leans towards
the camera. For a person standing upright in front of a camera at eye level it is about 0.

Targets (the generalisation issue): the upright people of photos 02, 04 and 05 within +-12 degrees,
no photo above 20 degrees. Writes ``benchmarks/results/photo_tilt[_<tag>].json`` and one PNG per photo
(the photo under the 2D keypoints, the 3D from the camera and turned 70 degrees) in
``benchmarks/results/photo_tilt[_<tag>]/``.

Usage: python benchmarks/bench_photo_tilt.py [--checkpoint C] [--tag NAME]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from energy3d.data.detect import load_rgb
from energy3d.skeleton import get_layout
from energy3d.tasks.lift import BUNDLED_LIFTER, lift_file
from energy3d.viz.skeleton import plot_lift

REPO = Path(__file__).resolve().parents[1]
UPRIGHT = ("02", "04", "05")
"""Photos whose (detected) person stands or runs upright in front of a camera near eye level."""


def pitch_deg(pose: np.ndarray, layout) -> float:
    """Pelvis -> thorax pitch (degrees) of a camera-frame pose ``(J, 3)``; positive = top towards the camera."""
    v = pose[layout.index("thorax")] - pose[layout.index("pelvis")]
    return float(np.degrees(np.arctan2(-v[2], -v[1])))


def lift_photo(keypoints: Path, checkpoint) -> tuple[np.ndarray, np.ndarray, object]:
    """``energy3d lift`` of one photo's keypoint file: ``(pose (J, 3), points_2d (J, 2), layout)``."""
    with tempfile.TemporaryDirectory() as d:
        lift_file(keypoints, d, checkpoint=checkpoint)
        z = np.load(Path(d) / "poses.npz")
        return z["joints_3d"][0], z["points_2d"][0], get_layout(str(z["layout"]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=str(BUNDLED_LIFTER))
    ap.add_argument("--keypoints", default=str(REPO / "benchmarks" / "results" / "photos"))
    ap.add_argument("--photos", default=str(REPO.parent / "shared" / "data" / "photos"))
    ap.add_argument("--tag", default="", help="suffix of the output names (e.g. the model compared)")
    args = ap.parse_args(argv)
    name = "photo_tilt" + (f"_{args.tag}" if args.tag else "")
    out_dir = REPO / "benchmarks" / "results" / name
    out_dir.mkdir(parents=True, exist_ok=True)
    files = sorted(Path(args.keypoints).glob("*.npz"))
    if not files:
        print(f"no keypoint files in {args.keypoints}; run benchmarks/detect_photos.py first", file=sys.stderr)
        return 2
    rows = []
    for f in files:
        pose, pts, layout = lift_photo(f, args.checkpoint)
        pitch = pitch_deg(pose, layout)
        photo = Path(args.photos) / f"{f.stem}.jpg"
        image = load_rgb(photo) if photo.is_file() else None
        plot_lift(out_dir / f"{f.stem}.png", pts, pose, layout, image=image,
                  title=f"{f.stem}: pelvis->thorax pitch {pitch:+.1f}° ({Path(args.checkpoint).stem})")
        rows.append({"photo": f.stem, "pitch_deg": round(pitch, 1), "upright": f.stem[:2] in UPRIGHT})
        print(f"{f.stem:52s} pitch {pitch:+6.1f}°")
    up = [abs(r["pitch_deg"]) for r in rows if r["upright"]]
    doc = {
        "checkpoint": str(args.checkpoint),
        "measure": "angle of pelvis->thorax from the camera's up (-y) in the y-z plane, degrees; + = top towards the camera",
        "keypoints": "MediaPipe 0.10.21 pose (benchmarks/detect_photos.py), one person per photo, coco17 -> h36m17",
        "targets": {"upright_02_04_05_within_deg": 12, "all_photos_below_deg": 20},
        "met": {"upright": bool(up) and max(up) <= 12.0, "all": max(abs(r["pitch_deg"]) for r in rows) <= 20.0},
        "rows": rows,
    }
    (REPO / "benchmarks" / "results" / f"{name}.json").write_text(json.dumps(doc, indent=2))
    print(f"upright within 12°: {doc['met']['upright']}; all below 20°: {doc['met']['all']}; wrote {name}.json and {name}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
