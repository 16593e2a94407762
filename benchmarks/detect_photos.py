"""2D keypoints of the real photos in ../shared/data/photos with the project's detector (MediaPipe Pose).

Needs the optional detector (``pip install 'energy3d[detect]'``, i.e. ``mediapipe==0.10.21``, which
pins numpy < 2; ``make`` installs it). One person per photo (see :mod:`energy3d.data.detect`).

Writes, per photo, ``benchmarks/results/photos/<stem>.npz`` (``keypoints (1, 17, 2)`` pixels,
``confidence (1, 17)``, ``layout "coco17"``, ``image_size (W, H)``: the npz form ``energy3d lift``
reads) and ``benchmarks/results/photos/keypoints.json`` with every detection. The photos' licences
are in ../shared/data/photos/LICENSES.tsv: the CC BY photos need their attribution wherever
derived data is shown.

Usage: python benchmarks/detect_photos.py [--photos DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from energy3d.data.detect import PoseDetector, detect_image_keypoints

REPO = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", default=str(REPO.parent / "shared" / "data" / "photos"))
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "photos"))
    args = ap.parse_args(argv)
    photos = sorted(Path(args.photos).glob("*.jpg"))
    if not photos:
        print(f"no photos in {args.photos}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    docs = []
    with PoseDetector(static_image_mode=True) as det:
        for p in photos:
            t0 = time.perf_counter()
            doc = detect_image_keypoints(p, det)
            doc["seconds"] = round(time.perf_counter() - t0, 3)
            docs.append(doc)
            if doc["keypoints"] is None:
                print(f"{p.name}: no person found")
                continue
            k = np.asarray(doc["keypoints"], np.float32).reshape(17, 3)
            np.savez(out / f"{p.stem}.npz", keypoints=k[None, :, :2], confidence=k[None, :, 2],
                     layout=np.array("coco17"), image_size=np.array(doc["image_size"]))
            print(f"{p.name}: person found, mean confidence {doc['score']:.2f}, {doc['seconds']:.2f} s")
    (out / "keypoints.json").write_text(json.dumps({"source": str(args.photos), "detections": docs}, indent=1))
    print(f"wrote {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
