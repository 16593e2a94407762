"""``energy3d pose`` next to ``energy3d lift`` on the real photos, pictures side by side.

For each photo's detected keypoints (``benchmarks/results/photos/<stem>.npz``, made by
``benchmarks/detect_photos.py`` with the project's MediaPipe detector), both commands run on the same
2D: ``pose`` (the structured heatmap model, ``--topology``) and ``lift`` (the bundled IGE lifter). Each
photo gets one PNG, pose's figure above lift's (half size), in ``benchmarks/results/pose_photos/``, and
the pelvis -> thorax pitch of both in the camera frame (0 for an upright person seen at eye level;
positive: top towards the camera) in ``benchmarks/results/pose_photos.json``.

Usage: python benchmarks/pose_photos.py [--checkpoint runs/pose-heatmaps-dsn/best.json] [--topology two_hop]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_photo_tilt import pitch_deg  # noqa: E402

from energy3d.skeleton import get_layout  # noqa: E402
from energy3d.tasks.lift import lift_file  # noqa: E402
from energy3d.tasks.structured import pose_file  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default="src/energy3d/assets/pose-heatmaps.json")
    ap.add_argument("--topology", default="two_hop")
    ap.add_argument("--keypoints", default=str(REPO / "benchmarks" / "results" / "photos"))
    ap.add_argument("--photos", default=str(REPO.parent / "shared" / "data" / "photos"))
    args = ap.parse_args(argv)
    out_dir = REPO / "benchmarks" / "results" / "pose_photos"
    out_dir.mkdir(parents=True, exist_ok=True)
    layout = get_layout("h36m17")
    rows = {}
    for kp in sorted(Path(args.keypoints).glob("*.npz")):
        with tempfile.TemporaryDirectory() as d:
            pose_file(kp, Path(d) / "pose", topology=args.topology, checkpoint=args.checkpoint)
            lift_file(kp, Path(d) / "lift")
            p = np.load(Path(d) / "pose" / "poses.npz")["joints_3d"][0]
            q = np.load(Path(d) / "lift" / "poses.npz")["joints_3d"][0]
            a, b = Image.open(Path(d) / "pose" / "pose.png").convert("RGB"), Image.open(Path(d) / "lift" / "lift.png").convert("RGB")
            w = min(a.width, b.width) // 2
            a, b = a.resize((w, a.height * w // a.width)), b.resize((w, b.height * w // b.width))
            both = Image.new("RGB", (w, a.height + b.height), "white")
            both.paste(a, (0, 0))
            both.paste(b, (0, a.height))
            both.save(out_dir / f"{kp.stem}.png", optimize=True)
        rows[kp.stem] = {"pose_pitch_deg": pitch_deg(p, layout), "lift_pitch_deg": pitch_deg(q, layout)}
        print(f"{kp.stem}: pose pitch {rows[kp.stem]['pose_pitch_deg']:+.1f}, lift pitch {rows[kp.stem]['lift_pitch_deg']:+.1f}")
    doc = {"command": "python benchmarks/pose_photos.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "checkpoint": args.checkpoint, "topology": args.topology, "photos": rows}
    (REPO / "benchmarks" / "results" / "pose_photos.json").write_text(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
