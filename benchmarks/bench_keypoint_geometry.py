"""2D keypoint geometry of real detections vs the training data's detector-style keypoints.

The lifter reads a body's pitch partly from where the face keypoint sits above the shoulders: on
the real photos, lowering MediaPipe's nose by 0.15 shoulder widths turns the lifted pelvis->thorax
pitch by 3-11 degrees (``bench_photo_tilt.py``'s measure). So the training 2D must place the nose
as detectors do. This script measures, in the image, on upright people (pelvis->thorax within 18
degrees of vertical) seen by level cameras (elevation 0):

* ``nose_over_torso``: height of the nose above the shoulder midpoint over the height of the
  shoulder midpoint above the hip midpoint;
* ``torso_over_leg``: shoulder midpoint above hip midpoint over hip midpoint above ankle midpoint;
* ``shoulders_over_torso``: shoulder width over the shoulder-above-hip height;

(the mocap poses also facing the camera or away from it within 30 degrees, as the photos' people do)

for MediaPipe's keypoints on the real photos (``benchmarks/results/photos/*.npz``, made by
``benchmarks/detect_photos.py``) and for the virtual markers of :mod:`energy3d.data.augment` on the
test splits of every motion source (median and 10th/90th percentiles), under the marker offsets of
each given config.

Usage: python benchmarks/bench_keypoint_geometry.py [--nose-up LO HI ...]
Writes benchmarks/results/keypoint_geometry.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from energy3d.data.augment import MarkerConfig, detector_keypoints_3d
from energy3d.data.lifting import CameraConfig, LiftDataConfig, build_lifting_set, load_source
from energy3d.geometry.camera import project

REPO = Path(__file__).resolve().parents[1]
HELMETS = ("05", "06")
"""Photos of astronauts: the face is behind a visor and MediaPipe places it lower."""


def ratios(p: np.ndarray) -> dict[str, np.ndarray]:
    """The three measures of ``(N, 17, 2)`` ``coco17`` image points (y down)."""
    sh, hip, ank = p[:, 5:7].mean(1), p[:, 11:13].mean(1), p[:, 15:17].mean(1)
    torso = hip[:, 1] - sh[:, 1]
    return {"nose_over_torso": (sh[:, 1] - p[:, 0, 1]) / torso,
            "torso_over_leg": torso / (ank[:, 1] - hip[:, 1]),
            "shoulders_over_torso": np.linalg.norm(p[:, 5] - p[:, 6], axis=-1) / torso}


def summary(v: np.ndarray) -> dict:
    return {"median": round(float(np.median(v)), 3), "p10": round(float(np.percentile(v, 10)), 3),
            "p90": round(float(np.percentile(v, 90)), 3)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nose-up", nargs=2, type=float, action="append", metavar=("LO", "HI"),
                    help="nose_up_m ranges to measure besides MarkerConfig's default (repeatable)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "keypoint_geometry.json"))
    args = ap.parse_args(argv)
    configs = {"default": MarkerConfig()}
    for lo, hi in args.nose_up or [(0.04, 0.20)]:
        configs[f"nose_up_m={lo:g}..{hi:g}"] = replace(MarkerConfig(), nose_up_m=(lo, hi))

    photos = {}
    for f in sorted((REPO / "benchmarks" / "results" / "photos").glob("*.npz")):
        r = ratios(np.load(f)["keypoints"][:1].astype(np.float64))
        photos[f.stem] = {k: round(float(v[0]), 3) for k, v in r.items()} | {"helmet": f.stem[:2] in HELMETS}
    sources = {}
    for name in ("bandai", "hdm05", "cmu"):
        m = load_source(name, "test", 10.0)
        ds = build_lifting_set(m, LiftDataConfig(camera=CameraConfig(elevation_deg=(0.0, 0.0))), seed_offset=5)
        world = np.asarray(m.joints)
        axis = world[:, 8] - world[:, 0]
        across = ds.joints_cam[:, 11] - ds.joints_cam[:, 14]  # left - right shoulder, camera frame
        frontal = np.abs(across[:, 2]) < np.sin(np.radians(30)) * np.linalg.norm(across, axis=-1)
        upright = (axis[:, 1] / np.linalg.norm(axis, axis=-1) > np.cos(np.radians(18))) & frontal
        y, K = torch.as_tensor(ds.joints_cam[upright]), torch.as_tensor(ds.K[upright])
        sources[name] = {"poses": int(upright.sum())}
        for cname, cfg in configs.items():
            p = project(detector_keypoints_3d(y, cfg, torch.Generator().manual_seed(0)).double(), K.double()).numpy()
            sources[name][cname] = {k: summary(v) for k, v in ratios(p).items()}
    doc = {"measures": __doc__.split("degrees of vertical) seen by level cameras (elevation 0):")[1].split("for MediaPipe")[0].strip(),
           "configs": {k: asdict(v) for k, v in configs.items()}, "photos": photos, "sources": sources}
    Path(args.out).write_text(json.dumps(doc, indent=2))
    for stem, r in photos.items():
        print(f"photo {stem[:36]:36s} " + "  ".join(f"{k} {v:.2f}" for k, v in r.items() if k != "helmet")
              + ("  (helmet)" if r["helmet"] else ""))
    for name, d in sources.items():
        for cname in configs:
            print(f"{name:6s} {cname:22s} " + "  ".join(f"{k} {v['median']:.2f} [{v['p10']:.2f}, {v['p90']:.2f}]"
                                                      for k, v in d[cname].items()))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
