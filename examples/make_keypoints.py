"""Make examples/keypoints_coco.json: the project's 2D detector (MediaPipe Pose) on the example photo.

Usage (needs ``pip install 'energy3d[detect]'``): python examples/make_keypoints.py
Writes COCO keypoint annotations (17 keypoints, visibility 2 where the detector's landmark
visibility is at least 0.3, else 0) with the image's size, so ``energy3d lift`` runs without the
detector installed.
"""

import json
from pathlib import Path

import numpy as np

from energy3d.data.detect import detect_image_keypoints
from energy3d.skeleton.layouts import COCO17

HERE = Path(__file__).resolve().parent
PHOTO = HERE / "nasa_AS11-40-5903_aldrin.jpg"

doc = detect_image_keypoints(PHOTO)
k = np.asarray(doc["keypoints"], np.float64).reshape(17, 3)
flags = np.where(k[:, 2] > 0, 2, 0)
kp = np.concatenate([np.round(k[:, :2], 1), flags[:, None]], 1).reshape(-1)
out = {
    "info": {"description": f"2D keypoints of {PHOTO.name} (NASA photo AS11-40-5903, public domain; credit NASA) "
                            f"found by energy3d's detector ({doc['detector']}) with examples/make_keypoints.py."},
    "images": [{"id": 1, "file_name": PHOTO.name, "width": doc["image_size"][0], "height": doc["image_size"][1]}],
    "categories": [{"id": 1, "name": "person", "keypoints": list(COCO17.joints)}],
    "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "num_keypoints": int((flags > 0).sum()),
                     "keypoints": [float(v) if i % 3 != 2 else int(v) for i, v in enumerate(kp)]}],
}
(HERE / "keypoints_coco.json").write_text(json.dumps(out, indent=1) + "\n")
print(f"wrote {HERE / 'keypoints_coco.json'}: {int((flags > 0).sum())} of 17 keypoints")
