"""How well :func:`energy3d.tasks.sequence.gravity_frame` finds up: the angle between estimated and true up.

Data: the Bandai test split before virtual cameras of KNOWN elevation, in bands -10..0, 0..15, 15..30
and 30..45 degrees, roll within 5 degrees, focal 900-1500 px, 1000 px images:

* ``single``: single frames (10 fps, ``--frames`` per band, evenly spaced), each before its own camera
  looking at the pelvis (``sequence_views.single_views``); up from that one pose;
* ``moving``: clips (30 fps, every ``--clip-every``-th) seen by a camera that follows the person,
  turning its azimuth by up to 30 degrees (``sequence_views.moving_view``; it pans, never tilts);
* ``static``: the same clips before a camera that does not move (``sequence_views.static_view``; the
  person walks across the view of walking clips, up to ~17 m away).

2D: ``--keypoints detector`` (default; the bundled lifter's training geometry and what a real
detector gives: hips, shoulders and nose offset from the rig joints, once per person) or ``rig``
(the joints' own projections), then the training detector-noise model frame by frame. ``lifted``: lifted by
the bundled IGE-8 checkpoint (single frames: tree imputation, ``energy3d lift``'s path; clips:
``lift_sequence`` with its defaults), then ``gravity_frame``. ``oracle``: ``gravity_frame`` on the true
camera-frame 3D, which separates the estimator's error (bodies are not vertical) from the lifter's.

Reported per band: the angle between estimated and true up (degrees), mean and 95th percentile, and
the signed pitch error (estimated minus true camera pitch, mean) that shows where the lifter's pitch
goes. Target: mean under 5 degrees.

Usage: python benchmarks/bench_gravity.py [--frames 3000] [--clip-every 4] [--threads 1] [--keypoints detector|rig] [--checkpoint CKPT]
Writes benchmarks/results/gravity.json and prints the table.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from energy3d.data.bandai import load_bandai
from energy3d.data.keypoints import impute_missing
from energy3d.geometry.camera import to_normalized
from energy3d.skeleton import H36M17
from energy3d.tasks.lift import BUNDLED_LIFTER, lift_keypoints, load_lifter
from energy3d.tasks.sequence import camera_pitch_roll, estimate_up, gravity_frame, lift_sequence

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from sequence_views import detector_2d, keypoints_2d, moving_view, single_views, static_view  # noqa: E402

BANDS = ((-10.0, 0.0), (0.0, 15.0), (15.0, 30.0), (30.0, 45.0))
TARGET_DEG = 5.0


def _rel(path) -> str:
    p = Path(path).resolve()
    return str(p.relative_to(REPO)) if p.is_relative_to(REPO) else str(p)


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return np.degrees(np.arccos(np.clip((a * b).sum(-1), -1.0, 1.0)))


def stats(err: list, pitch_err: list) -> dict:
    e = np.asarray(err, dtype=np.float64)
    return {"mean_deg": round(float(e.mean()), 2), "p95_deg": round(float(np.percentile(e, 95)), 2),
            "pitch_err_mean_deg": round(float(np.mean(pitch_err)), 2), "n": int(len(e))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=3000, help="single frames per band")
    ap.add_argument("--clip-every", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--checkpoint", default=str(BUNDLED_LIFTER), help="lifter (default: the bundled one)")
    ap.add_argument("--keypoints", choices=("detector", "rig"), default="detector",
                    help="2D geometry given to the lifter (see the module docstring)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "gravity.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    log = lambda s: print(f"[{time.time() - t0:6.0f}s] {s}", flush=True)
    model, meta = load_lifter(args.checkpoint)
    g = torch.Generator().manual_seed(args.seed)
    res: dict = {}

    # single frames
    m10 = load_bandai(split="test", fps=10)
    for bi, band in enumerate(BANDS):
        n = min(args.frames, len(m10))
        idx = np.linspace(bi, len(m10) - 1, n).round().astype(int)
        v = single_views(m10.joints[idx].astype(np.float64), g, elevation=band)
        pts, conf = detector_2d(keypoints_2d(v, args.keypoints, g, per_clip=False), H36M17, g)
        pts, _ = impute_missing(np.nan_to_num(pts), conf, H36M17)
        x = to_normalized(torch.as_tensor(pts), torch.as_tensor(v["K"])).float()
        lifted = lift_keypoints(model, x, H36M17).double().numpy()
        true_pitch = np.array([camera_pitch_roll(u)[0] for u in v["up_cam"]])
        for src, poses in (("lifted", lifted), ("oracle", v["joints_cam"])):
            ups = np.stack([estimate_up(p[None], H36M17)[0] for p in poses])
            pe = np.array([camera_pitch_roll(u)[0] for u in ups]) - true_pitch
            res.setdefault("single", {}).setdefault(src, {})[f"{band[0]:g}..{band[1]:g}"] = stats(angle_deg(ups, v["up_cam"]), pe)
        log(f"single {band}: {res['single']['lifted'][f'{band[0]:g}..{band[1]:g}']}")

    # clips
    m30 = load_bandai(split="test", fps=30)
    clips = list(range(0, m30.num_clips, args.clip_every))
    frames = 0
    for kind, view in (("moving", lambda X, b: moving_view(X, g, elevation=b)),
                       ("static", lambda X, b: static_view(X, g, elevation=b))):
        for band in BANDS:
            err = {"lifted": [], "oracle": []}
            pe = {"lifted": [], "oracle": []}
            for c in clips:
                X = m30.clip(c).astype(np.float64)
                v = view(X, band)
                pts, conf = detector_2d(keypoints_2d(v, args.keypoints, g, per_clip=True), H36M17, g)
                lifted = lift_sequence(model, pts, conf, v["K"], H36M17, 30.0)
                frames += len(X)
                p_true = camera_pitch_roll(v["up_cam"])[0]
                for src, poses in (("lifted", lifted), ("oracle", v["joints_cam"])):
                    _, _, info = gravity_frame(poses, H36M17)
                    err[src].append(float(angle_deg(info.up_camera, v["up_cam"])))
                    pe[src].append(info.pitch_deg - p_true)
            for src in err:
                res.setdefault(kind, {}).setdefault(src, {})[f"{band[0]:g}..{band[1]:g}"] = stats(err[src], pe[src])
            log(f"{kind} {band}: {res[kind]['lifted'][f'{band[0]:g}..{band[1]:g}']} oracle "
                f"{res[kind]['oracle'][f'{band[0]:g}..{band[1]:g}']}")

    for kind in res:
        for src in res[kind]:
            bands = res[kind][src]
            bands["all"] = {"mean_deg": round(float(np.mean([b["mean_deg"] for b in bands.values()])), 2)}
    doc = {
        "benchmark": "angle between the estimated and the true up (degrees), gravity_frame",
        "command": "python benchmarks/bench_gravity.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "threads": args.threads, "torch": torch.__version__, "python": platform.python_version(),
        "checkpoint": _rel(args.checkpoint), "model_type": meta["model_type"],
        "parameters": meta.get("parameters"), "macs_per_pose": meta.get("macs"),
        "data": {"single": f"Bandai test split at 10 fps, {args.frames} evenly spaced frames per band, one camera each",
                 "clips": f"Bandai test split at 30 fps, every {args.clip_every}th clip: {len(clips)} clips per band and "
                          f"camera kind ({frames} frames lifted)",
                 "cameras": "elevation uniform in each band, roll U(-5, 5) deg, focal U(900, 1500) px; moving: follows "
                            "the person, azimuth sweep U(-30, 30) deg; static: fixed, 1.5 x the path's reach + 3-7 m",
                 "2d": f"{args.keypoints} keypoints (exact) + the detector-noise model per frame", "seed": args.seed},
        "method": "gravity_frame / estimate_up: uprightness-weighted mean of the body axes (spine + legs), turned "
                  "back by the mean forward lean, outliers over 30 deg dropped; single frames use the one pose",
        "columns": {"mean_deg / p95_deg": "angle between estimated and true up", "pitch_err_mean_deg":
                    "estimated minus true camera pitch (positive: the camera is thought to look down more)",
                    "lifted": "poses lifted by the bundled checkpoint", "oracle": "the true camera-frame 3D poses"},
        "target": f"mean under {TARGET_DEG:g} deg",
        "results": res,
        "met": {kind: {src: {b: v["mean_deg"] < TARGET_DEG for b, v in res[kind][src].items()} for src in res[kind]}
                for kind in res},
        "wall_s": round(time.time() - t0, 1),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1))

    bands = [f"{b[0]:g}..{b[1]:g}" for b in BANDS]
    print("\nangle between estimated and true up, degrees: mean / p95 (signed pitch error mean)")
    print(f"{'views':8s} {'poses':7s} " + " ".join(f"{b:>22s}" for b in bands) + f" {'all':>6s}")
    for kind in res:
        for src in ("lifted", "oracle"):
            r = res[kind][src]
            print(f"{kind:8s} {src:7s} " + " ".join(
                f"{r[b]['mean_deg']:6.1f} / {r[b]['p95_deg']:5.1f} ({r[b]['pitch_err_mean_deg']:+5.1f})" for b in bands)
                + f" {r['all']['mean_deg']:6.1f}")
    print(f"\n{doc['wall_s']:.0f} s; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
