"""Which 2D geometry to train the lifter on: rig joints vs detector-style keypoints, with and without
per-sample body proportions. Decides the data of the generalisation issue with numbers.

Trains the IGE initialiser b128-1 (``configs/lift/b128-1-noisy.json``, noisy 2D, 16 epochs, seed 0,
Bandai only) in four variants into ``runs/geometry-<variant>/``, then for each reports:

* the lifted pelvis->thorax pitch on the real photos (MediaPipe keypoints,
  ``benchmarks/detect_photos.py``; see ``benchmarks/bench_photo_tilt.py``): what a user sees;
* PA-MPJPE / P1a (mm) on the Bandai test split with noisy 2D in both geometries.

Usage: python benchmarks/bench_lift_geometry.py [--epochs 16]
Writes benchmarks/results/lift_geometry.json (resumes finished runs).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from energy3d.tasks.fit import fit_experiment
from energy3d.tasks.lift import evaluate_motion

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from bench_photo_tilt import UPRIGHT, lift_photo, pitch_deg  # noqa: E402

PROPORTIONS = '{"limb_sigma": 0.08, "torso_sigma": 0.12}'
NARROW = 'data.markers={"hip_down": [0.0, 0.25], "shoulder_up_m": [0.0, 0.06]}'
WIDE = 'data.markers={"hip_down": [0.0, 0.4], "shoulder_up_m": [0.0, 0.1]}'
LOW = "data.camera.elevation_deg=[-15, 20]"
VARIANTS = {
    "rig": [],
    "rig-proportions": [f"data.proportions={PROPORTIONS}"],
    "detector": ["data.keypoints=detector", NARROW],
    "detector-proportions": ["data.keypoints=detector", NARROW, f"data.proportions={PROPORTIONS}"],
    "detector-wide-markers": ["data.keypoints=detector", WIDE],
    "detector-low-cameras": ["data.keypoints=detector", NARROW, LOW],
    "detector-wide-low": ["data.keypoints=detector", WIDE, LOW],
}
"""Training-data variants (``--set`` overrides of b128-1-noisy). Cameras default to elevations of
-10..35 degrees (``CameraConfig``); LOW trains with -15..20, nearer the eye-level photos people take."""


def photo_pitches(ckpt: Path, kp_dir: Path) -> dict:
    out = {}
    for f in sorted(kp_dir.glob("*.npz")):
        pose, _, layout = lift_photo(f, ckpt)
        out[f.stem] = round(pitch_deg(pose, layout), 1)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    kp_dir = REPO / "benchmarks" / "results" / "photos"
    rows = []
    for v in args.variants:
        run = REPO / "runs" / f"geometry-{v}"
        t0 = time.perf_counter()
        fit_experiment(REPO / "configs" / "lift" / "b128-1-noisy.json", out=run, progress=False,
                       overrides=[f"train.epochs={args.epochs}", f"name=geometry-{v}", *VARIANTS[v]])
        ckpt = run / "best.json"
        pitches = photo_pitches(ckpt, kp_dir)
        row = {"variant": v, "overrides": VARIANTS[v], "train_seconds": round(time.perf_counter() - t0, 1),
               "photo_pitch_deg": pitches,
               "max_abs_pitch_upright": max(abs(p) for k, p in pitches.items() if k[:2] in UPRIGHT),
               "max_abs_pitch_all": max(abs(p) for p in pitches.values())}
        for geo in ("rig", "detector"):
            a = evaluate_motion(ckpt, "bandai", two_d="noisy", keypoints=geo)["average"]
            row[f"bandai_test_noisy_{geo}"] = {"p1a_mm": round(a["p1a_mm"], 1), "pa_mpjpe_mm": round(a["pa_mpjpe_mm"], 1)}
        rows.append(row)
        print(f"{v:22s} pitch upright max {row['max_abs_pitch_upright']:5.1f}° all max {row['max_abs_pitch_all']:5.1f}°  "
              f"Bandai test PA rig {row['bandai_test_noisy_rig']['pa_mpjpe_mm']:.1f} "
              f"detector {row['bandai_test_noisy_detector']['pa_mpjpe_mm']:.1f} mm  pitches {pitches}", flush=True)
    out = REPO / "benchmarks" / "results" / "lift_geometry.json"
    if out.is_file():  # keep the rows of variants not rerun
        old = [r for r in json.loads(out.read_text()).get("rows", []) if r["variant"] not in args.variants]
        rows = old + rows
    out.write_text(json.dumps({"model": "b128-1, noisy 2D, Bandai train split, seed 0", "epochs": args.epochs,
                               "proportions": json.loads(PROPORTIONS), "rows": rows}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
