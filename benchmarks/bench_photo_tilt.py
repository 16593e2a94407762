"""Tilt of lifted bodies on real photos: the pelvis -> thorax pitch in the camera frame, and the PNGs.

For every photo's detected keypoints (``benchmarks/results/photos/<stem>.npz``, made by
``benchmarks/detect_photos.py`` with the project's MediaPipe detector) this runs ``energy3d lift``
(:func:`energy3d.tasks.lift.lift_file`, the user's path: layout conversion, imputation, default
intrinsics ``f = 1.2 max(W, H)``, centring rotation, adult-size rescale) with a checkpoint, then
measures the lifted pose's **pitch**: the angle between the pelvis -> thorax vector and the camera's
up direction (``-y``) in the camera's y-z plane, positive when the top of the torso leans towards
the camera. For a person standing upright in front of a camera at eye level it is about 0.

Targets (the generalisation issue): the upright people of photos 02, 04 and 05 within +-12 degrees,
no photo above 20 degrees.

Where the photo shows the horizon (``benchmarks/photo_horizons.json``: 01, 05, 06, 06b) the camera's
true pitch and roll follow from it (the plane through the camera centre and the horizon line is
horizontal; lift's intrinsics), which the camera-frame pitch alone cannot tell: photo 05's camera
looks about 17 degrees down (20 with its lens's focal length), so an upright Aldrin has a
camera-frame pitch near +17, not 0. For those photos the JSON also gives the body's **lean from the
world vertical** (camera-frame pitch minus the horizon's camera pitch; + = towards the camera) and
the error of lift's gravity estimate (``poses.json`` ``camera``) against the horizon's up. Writes ``benchmarks/results/photo_tilt[_<tag>].json`` and one PNG per photo
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
from energy3d.data.gravity import camera_pitch_roll, gravity_frame, horizon_up
from energy3d.skeleton import get_layout
from energy3d.tasks.lift import BUNDLED_LIFTER, lift_file
from energy3d.viz.skeleton import plot_lift

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from bench_gravity import angle_deg  # noqa: E402
UPRIGHT = ("02", "04", "05")
"""Photos whose (detected) person stands or runs upright in front of a camera near eye level."""


def pitch_deg(pose: np.ndarray, layout) -> float:
    """Pelvis -> thorax pitch (degrees) of a camera-frame pose ``(J, 3)``; positive = top towards the camera."""
    v = pose[layout.index("thorax")] - pose[layout.index("pelvis")]
    return float(np.degrees(np.arctan2(-v[2], -v[1])))


def lift_photo(keypoints: Path, checkpoint, *, with_K: bool = False):
    """``energy3d lift`` of one photo's keypoint file: ``(pose (J, 3), points_2d (J, 2), layout)``, and ``K`` if asked."""
    with tempfile.TemporaryDirectory() as d:
        lift_file(keypoints, d, checkpoint=checkpoint)
        z = np.load(Path(d) / "poses.npz")
        out = z["joints_3d"][0], z["points_2d"][0], get_layout(str(z["layout"]))
        if with_K:
            out = (*out, np.array(json.loads((Path(d) / "poses.json").read_text())["people"][0]["K"]))
        return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=str(BUNDLED_LIFTER))
    ap.add_argument("--keypoints", default=str(REPO / "benchmarks" / "results" / "photos"))
    ap.add_argument("--photos", default=str(REPO.parent / "shared" / "data" / "photos"))
    ap.add_argument("--tag", default="", help="suffix of the output names (e.g. the model compared)")
    ap.add_argument("--horizons", default=str(REPO / "benchmarks" / "photo_horizons.json"))
    args = ap.parse_args(argv)
    horizons = json.loads(Path(args.horizons).read_text())["photos"] if Path(args.horizons).is_file() else {}
    name = "photo_tilt" + (f"_{args.tag}" if args.tag else "")
    out_dir = REPO / "benchmarks" / "results" / name
    out_dir.mkdir(parents=True, exist_ok=True)
    files = sorted(Path(args.keypoints).glob("*.npz"))
    if not files:
        print(f"no keypoint files in {args.keypoints}; run benchmarks/detect_photos.py first", file=sys.stderr)
        return 2
    rows = []
    for f in files:
        pose, pts, layout, K = lift_photo(f, args.checkpoint, with_K=True)
        pitch = pitch_deg(pose, layout)
        row = {"photo": f.stem, "pitch_deg": round(pitch, 1), "upright": f.stem[:2] in UPRIGHT}
        title = f"{f.stem}: pelvis->thorax pitch {pitch:+.1f}°"
        line = f"{f.stem:52s} pitch {pitch:+6.1f}°"
        info = gravity_frame(pose[None], layout)[2]  # lift's own estimate of up (poses.json "camera")
        up = info.up_camera
        if f.stem in horizons:
            up = up_h = horizon_up(horizons[f.stem]["points"], K)
            cam_pitch, cam_roll = camera_pitch_roll(up_h)
            lean = pitch - cam_pitch
            row.update(horizon_camera_pitch_deg=round(cam_pitch, 1), horizon_camera_roll_deg=round(cam_roll, 1),
                       lean_from_vertical_deg=round(lean, 1),
                       torso_angle_from_vertical_deg=round(float(angle_deg(pose[layout.index("thorax")] - pose[layout.index("pelvis")], up_h)), 1),
                       lift_camera_pitch_deg=round(info.pitch_deg, 1), lift_camera_roll_deg=round(info.roll_deg, 1),
                       lift_up_error_deg=round(float(angle_deg(info.up_camera, up_h)), 1))
            title += f" (camera {cam_pitch:+.0f}° down by the horizon: lean {lean:+.1f}°)"
            line += (f"  horizon: camera pitch {cam_pitch:+5.1f}°, body lean {lean:+6.1f}°; "
                     f"lift's up {row['lift_up_error_deg']:4.1f}° off")
        photo = Path(args.photos) / f"{f.stem}.jpg"
        image = load_rgb(photo) if photo.is_file() else None
        # panel (c) about the world's vertical: the horizon's where there is one, else lift's estimate
        plot_lift(out_dir / f"{f.stem}.png", pts, pose, layout, image=image, title=title, up_camera=up)
        rows.append(row)
        print(line)
    up = [abs(r["pitch_deg"]) for r in rows if r["upright"]]
    doc = {
        "checkpoint": str(args.checkpoint),
        "measure": "angle of pelvis->thorax from the camera's up (-y) in the y-z plane, degrees; + = top towards the camera",
        "keypoints": "MediaPipe 0.10.21 pose (benchmarks/detect_photos.py), one person per photo, coco17 -> h36m17",
        "horizon": ("photos with a visible horizon (benchmarks/photo_horizons.json): the camera's pitch/roll from it "
                    "with lift's intrinsics; lean_from_vertical_deg = pitch_deg - horizon_camera_pitch_deg (+ = towards "
                    "the camera), torso_angle_from_vertical_deg = angle of pelvis->thorax from the horizon's up; "
                    "lift_camera_*: lift's gravity estimate from the lifted pose, lift_up_error_deg its angle from the horizon's up"),
        "targets": {"upright_02_04_05_within_deg": 12, "all_photos_below_deg": 20},
        "met": {"upright": bool(up) and max(up) <= 12.0, "all": max(abs(r["pitch_deg"]) for r in rows) <= 20.0},
        "rows": rows,
    }
    (REPO / "benchmarks" / "results" / f"{name}.json").write_text(json.dumps(doc, indent=2))
    print(f"upright within 12°: {doc['met']['upright']}; all below 20°: {doc['met']['all']}; wrote {name}.json and {name}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
