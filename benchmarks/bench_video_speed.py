"""End-to-end speed of ``energy3d lift VIDEO`` on this CPU for a 720p video: frames per second by stage.

The clip is made by the project from the public-domain NASA example photo (no licensed video could be
had): 1280 x 720, 30 fps, the photo slowly panned and zoomed so the person moves across the frame,
encoded as MP4 (H.264 when the PyAV build has it, else MPEG-4 Part 2) into ``benchmarks/results/``'s
cache folder (not committed). ``energy3d lift`` then runs on it as a user runs it
(:func:`energy3d.tasks.lift.lift_media`: stream decode -> MediaPipe detection with tracking between
frames -> lifting -> writing), and the seconds of each stage are reported with frames per second.

Target (the in-the-wild issue): at least 15 frames/s end to end on 2 cores.

Usage: python benchmarks/bench_video_speed.py [--frames 150] [--threads 2]
Writes benchmarks/results/video_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from energy3d.tasks.lift import lift_media

REPO = Path(__file__).resolve().parents[1]
PHOTO = REPO / "examples" / "nasa_AS11-40-5903_aldrin.jpg"


def make_clip(path: Path, frames: int, size=(1280, 720), fps: int = 30) -> str:
    """Pan and zoom over the example photo; returns the codec used."""
    import av

    img = Image.open(PHOTO).convert("RGB")
    W, H = size
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=fps)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        for t in range(frames):
            a = t / max(frames - 1, 1)
            zoom = 1.0 + 0.3 * a
            w = int(img.width / zoom)  # a 16:9 window inside the (nearly square) photo, sliding left to right
            h = int(w * H / W)
            x0 = int((img.width - w) * a)
            crop = img.crop((x0, (img.height - h) // 2, x0 + w, (img.height - h) // 2 + h)).resize((W, H))
            for p in s.encode(av.VideoFrame.from_ndarray(np.asarray(crop), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return codec


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "video_speed.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cache = REPO / ".cache"
    cache.mkdir(exist_ok=True)
    clip = cache / f"bench_720p_{args.frames}.mp4"
    codec = make_clip(clip, args.frames) if not clip.is_file() else "cached"
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        res = lift_media(clip, Path(d) / "out")
        total = time.perf_counter() - t0
    n = args.frames
    stages = dict(res.seconds)
    stages["other (model load, checks)"] = round(total - sum(stages.values()), 3)
    doc = {"clip": f"{n} frames 1280x720 from the example photo, codec {codec}", "frames": n,
           "seconds_total": round(total, 2), "fps_end_to_end": round(n / total, 1),
           "seconds_by_stage": stages, "fps_by_stage": {k: (round(n / v, 1) if v > 0 else None) for k, v in stages.items()},
           "target": {"rule": ">= 15 frames/s end to end on 2 cores", "met": n / total >= 15.0},
           "people_found": res.people,
           "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "threads": args.threads,
                       "loadavg_before": [round(v, 2) for v in load]}}
    Path(args.out).write_text(json.dumps(doc, indent=2))
    print(json.dumps({k: doc[k] for k in ("fps_end_to_end", "seconds_by_stage", "people_found")}, indent=1))
    print(f"target >= 15 fps: {doc['target']['met']}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
