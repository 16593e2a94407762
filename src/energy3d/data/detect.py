"""A real 2D person-keypoint detector: MediaPipe Pose (BlazePose), offline, on the CPU.

Optional: ``pip install 'energy3d[detect]'`` installs ``mediapipe==0.10.21``, whose wheel carries
the BlazePose person detector (``pose_detection.tflite``) and the full landmark model
(``pose_landmark_full.tflite``) under the Apache-2.0 licence; nothing is downloaded at run time.
Later MediaPipe releases (0.10.30 on) no longer ship these models or the ``solutions`` API.

What it finds: **one person per image** (the pose solution tracks a single person; in a photo of
several people it returns the one its detector scores highest, usually the largest). Its 33
landmarks are mapped **by name** to the ``coco17`` layout (``nose``, ``left_eye`` ... ``right_ankle``
are landmark names of both), with the landmark's ``visibility`` as the confidence; the lifter's
``h36m17`` joints are then derived from them as for any COCO input (pelvis, thorax and spine as
midpoints, the head top extrapolated; see :mod:`energy3d.skeleton.layouts`). Landmarks whose
visibility is below ``min_visibility`` get confidence 0 (not detected), so ``energy3d lift``
imputes them.

Coordinates: pixels, x right, y down, origin at the top-left corner of the image.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import numpy as np

from energy3d.data.images import load_rgb
from energy3d.errors import InputError
from energy3d.skeleton.layouts import COCO17

__all__ = ["INSTALL_HINT", "MEDIAPIPE_VERSION", "PoseDetector", "detect_image_keypoints", "load_rgb"]

MEDIAPIPE_VERSION = "0.10.21"
INSTALL_HINT = (f"the 2D detector needs MediaPipe {MEDIAPIPE_VERSION}: pip install 'energy3d[detect]' "
                f"(or pip install mediapipe=={MEDIAPIPE_VERSION})")


def _import_pose():
    os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ info/warning lines on stderr
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        with _native_stderr_silenced():  # its logging may keep a copy of the descriptor it finds now
            from mediapipe.python.solutions import pose as mp_pose
    except ImportError:
        raise InputError(INSTALL_HINT) from None
    return mp_pose


@contextlib.contextmanager
def _native_stderr_silenced():
    """Silence the C++ log lines MediaPipe's graph prints to file descriptor 2 while it starts up."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (captured): nothing to silence
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


class PoseDetector:
    """MediaPipe Pose as a callable: ``(H, W, 3)`` uint8 RGB -> ``coco17`` keypoints of one person.

    Args:
        static_image_mode: True for independent photos (detect in every image); False for the
            frames of a video (the landmarks of one frame seed the next: tracking, faster).
        model_complexity: 0, 1 or 2 (lite, full, heavy); the wheel ships the full model (1).
        min_detection_confidence: person-detector threshold.
        min_visibility: landmarks below this visibility get confidence 0.

    Example:
        >>> det = PoseDetector()                                  # doctest: +SKIP
        >>> pts, conf = det(load_rgb("photo.jpg"))                # doctest: +SKIP
        >>> pts.shape, conf.shape                                 # doctest: +SKIP
        ((17, 2), (17,))
    """

    def __init__(self, *, static_image_mode: bool = True, model_complexity: int = 1,
                 min_detection_confidence: float = 0.5, min_visibility: float = 0.3):
        mp_pose = _import_pose()
        self._index = [int(mp_pose.PoseLandmark[name.upper()]) for name in COCO17.joints]
        self.min_visibility = float(min_visibility)
        with _native_stderr_silenced():
            self._pose = mp_pose.Pose(static_image_mode=static_image_mode, model_complexity=model_complexity,
                                      min_detection_confidence=min_detection_confidence)
        self._calls = 0

    def __call__(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Keypoints ``(17, 2)`` pixels and confidences ``(17,)`` of the person found, or ``None``.

        Raises:
            InputError: ``rgb`` is not ``(H, W, 3)`` uint8.
        """
        r = self.detect(rgb)
        return None if r is None else (r[0], r[1])

    def detect(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """As :meth:`__call__`, plus ``outside (17,)`` bool: landmarks MediaPipe places outside the image.

        MediaPipe estimates every landmark, also those of a body part out of the frame (with low
        visibility); ``outside`` says which of them lie beyond the image border, so a caller can tell
        "out of the frame" from "hidden" among the joints whose confidence is 0.
        """
        a = np.asarray(rgb)
        if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8:
            raise InputError(f"image: expected (H, W, 3) uint8 RGB, got shape {a.shape} dtype {a.dtype}")
        if self._calls == 0:  # the graph's first run logs its set-up on stderr
            with _native_stderr_silenced():
                res = self._pose.process(np.ascontiguousarray(a))
        else:
            res = self._pose.process(np.ascontiguousarray(a))
        self._calls += 1
        if res.pose_landmarks is None:
            return None
        H, W = a.shape[:2]
        lm = res.pose_landmarks.landmark
        pts = np.array([[lm[i].x * W, lm[i].y * H] for i in self._index], dtype=np.float32)
        vis = np.array([lm[i].visibility for i in self._index], dtype=np.float32)
        outside = (pts[:, 0] < 0) | (pts[:, 0] >= W) | (pts[:, 1] < 0) | (pts[:, 1] >= H)
        conf = np.where(vis >= self.min_visibility, vis, 0.0).astype(np.float32)
        return np.where(conf[:, None] > 0, pts, 0.0).astype(np.float32), conf, outside

    def close(self) -> None:
        with _native_stderr_silenced():
            self._pose.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def detect_image_keypoints(path: str | Path, detector: PoseDetector | None = None) -> dict:
    """Detect one person in an image file; the result in the COCO keypoint-results form.

    Returns:
        ``{"image": name, "image_size": [W, H], "layout": "coco17", "keypoints": [x, y, c] * 17,
        "score": mean confidence, "detector": "mediapipe-<version> pose (BlazePose full)"}``, with
        ``keypoints`` ``None`` when no person was found.
    """
    rgb = load_rgb(path)
    own = detector is None
    det = PoseDetector() if own else detector
    try:
        found = det(rgb)
    finally:
        if own:
            det.close()
    H, W = rgb.shape[:2]
    doc = {"image": Path(path).name, "image_size": [int(W), int(H)], "layout": "coco17",
           "detector": f"mediapipe-{MEDIAPIPE_VERSION} pose (BlazePose full)", "keypoints": None, "score": 0.0}
    if found is not None:
        pts, conf = found
        doc["keypoints"] = np.concatenate([pts, conf[:, None]], axis=1).round(3).reshape(-1).tolist()
        doc["score"] = float(conf.mean())
    return doc
