"""Cross-dataset table of lifting checkpoints: trained on Bandai only vs on every source.

Rows: checkpoints (default: the lifter as it was before the generalisation issue, Bandai only, kept
in ``benchmarks/results/checkpoints/ige8-bandai-rig``; the first all-sources lifter,
``configs/lift/all/ige8-noisy.json``, kept as ``ige8-all-sources-v1``; and the bundled one,
``configs/lift/all/ige8-noisy-nose.json``, which differs in where the training 2D puts the nose).
Columns: the Bandai test split, the HDM05 test actors, the CMU test subjects (person splits of
:data:`energy3d.data.lifting.PERSON_SPLITS`) and the 9 original Bandai BVH files; exact (``gt``) and
noisy 2D; in the 2D geometry of the rig's joints and of a detector's keypoints
(:mod:`energy3d.data.augment`). Metrics: MPJPE (after the adult-size scale prior), P1a and PA-MPJPE,
mm, mean over actions (clips for CMU). Every pose is seen by one virtual camera of a fixed seed.

Usage: python benchmarks/bench_lift_cross.py [--checkpoints NAME=PATH ...] [--geometry rig detector]
Writes benchmarks/results/lift_cross.json and prints the table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from energy3d.paths import data_root
from energy3d.tasks.lift import evaluate_motion

REPO = Path(__file__).resolve().parents[1]
CKPTS = REPO / "benchmarks" / "results" / "checkpoints"
DEFAULT = {"bandai-only (before)": CKPTS / "ige8-bandai-rig.json",
           "all sources v1 (nose 1-5 cm)": CKPTS / "ige8-all-sources-v1.json",
           "bundled (nose 4-20 cm)": REPO / "src" / "energy3d" / "assets" / "ige8-lifter.json"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoints", nargs="*", default=None, metavar="NAME=PATH")
    ap.add_argument("--geometry", nargs="*", default=["rig", "detector"], choices=["rig", "detector"])
    ap.add_argument("--two-d", nargs="*", default=["gt", "noisy"], choices=["gt", "noisy"])
    ap.add_argument("--markers-of", default=None, metavar="CHECKPOINT",
                    help="detector geometry of every row from this checkpoint's marker offsets (default: each row's own)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "lift_cross.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    ckpts = dict(kv.split("=", 1) for kv in args.checkpoints) if args.checkpoints else {k: str(v) for k, v in DEFAULT.items()}
    sets = {"bandai test": "bandai", "hdm05 test": "hdm05", "cmu test": "cmu",
            "bandai 9 BVH": str(data_root() / "motion_bandai" / "bvh")}
    markers = None
    if args.markers_of:
        from energy3d.config import from_dict
        from energy3d.data.lifting import LiftDataConfig
        from energy3d.tasks.lift import load_lifter

        markers = from_dict(LiftDataConfig, load_lifter(args.markers_of)[1]["config"]["data"]).markers
    rows = []
    for name, ck in ckpts.items():
        if not Path(ck).is_file():
            print(f"skipping {name}: {ck} not found")
            continue
        for geo in args.geometry:
            for two_d in args.two_d:
                row = {"model": name, "checkpoint": ck, "geometry": geo, "two_d": two_d}
                for col, src in sets.items():
                    t0 = time.perf_counter()
                    r = evaluate_motion(ck, src, two_d=two_d, keypoints=geo, markers=markers)
                    a = r["average"]
                    row[col] = {k: round(a[k], 1) for k in ("mpjpe_mm", "p1a_mm", "pa_mpjpe_mm")}
                    row[col]["poses"] = r["poses"]
                    row[col]["source"] = r["source"]
                    row[col]["seconds"] = round(time.perf_counter() - t0, 1)
                rows.append(row)
                cells = "  ".join(f"{c}: {row[c]['mpjpe_mm']:.1f}/{row[c]['p1a_mm']:.1f}/{row[c]['pa_mpjpe_mm']:.1f}"
                                  for c in sets)
                print(f"{name:22s} {geo:8s} {two_d:5s} {cells}", flush=True)
    doc = {"metrics": "MPJPE / P1a / PA-MPJPE, mm, mean over actions; MPJPE after the adult-size scale prior",
           "geometry": {"rig": "2D = projections of the rig's joints",
                        "detector": "2D = detector-style keypoints (energy3d.data.augment) converted coco17 -> h36m17"},
           "markers": f"detector offsets of {args.markers_of}" if markers is not None else "each checkpoint's own",
           "splits": "Bandai by style; HDM05 test actors dg, tr; CMU test subjects 13, 131 (energy3d.data.lifting.PERSON_SPLITS)",
           "rows": rows}
    out = Path(args.out)
    out.write_text(json.dumps(doc, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
