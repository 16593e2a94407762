"""2D keypoint readers: COCO keypoint JSON (annotations and results), OpenPose JSON, npz.

:func:`read_keypoints` reads one path and returns a :class:`KeypointSet`: ``N`` people (one per
detection or annotation), ``J`` joints each, in pixels of the source image (x right, y down,
origin at the top-left corner), with a confidence in ``[0, 1]`` per joint where ``0`` means
"not detected" (the position of such a joint is unknown and stored as ``0``).

Formats (the published layouts, detected from the content, not from the file name):

* **COCO keypoint annotations** (``person_keypoints_*.json``): an object with ``"annotations"``,
  each holding ``"image_id"`` and ``"keypoints"`` = ``[x1, y1, v1, ..., x17, y17, v17]`` in the
  COCO-17 order, where ``v = 0`` is "not labelled" (``x = y = 0``), ``v = 1`` "labelled but not
  visible" and ``v = 2`` "labelled and visible". Confidence is ``0`` for ``v = 0`` and ``1``
  otherwise. Annotations with ``num_keypoints == 0`` (crowds, people without any labelled joint)
  are skipped. The optional ``"images"`` list gives each image's ``width`` and ``height``.
* **COCO keypoint results** (what detectors submit to the COCO evaluation): a list of
  ``{"image_id", "category_id", "keypoints": [x, y, score] * 17, "score"}``. Per-joint scores are
  not normalised across detectors (heatmap maxima may exceed 1, some report logits), so they are
  clipped to ``[0, 1]``; a score of 0 or less therefore means "not detected".
* **OpenPose** (``--write_json`` output, one file per frame): ``{"people": [{"pose_keypoints_2d":
  [x, y, c] * K}, ...]}`` (``"pose_keypoints"`` in OpenPose < 1.2). ``K = 25`` is BODY_25
  (layout ``openpose25``). ``K = 18`` is OpenPose's COCO-18 model (Nose, Neck, RShoulder, RElbow,
  RWrist, LShoulder, LElbow, LWrist, RHip, RKnee, RAnkle, LHip, LKnee, LAnkle, REye, LEye, REar,
  LEar); it is reordered to ``coco17`` and its ``Neck`` (not a COCO joint) is dropped. Other
  models (MPI-15, ...) are rejected. Undetected joints are written as ``0, 0, 0``. Confidences
  slightly above 1 occur and are clipped to 1. Coordinates are assumed to be pixels (OpenPose's
  default ``--keypoint_scale 0``). A *folder* of such files is read in file-name order; each
  frame is named after its file (without ``_keypoints.json``) and frames without people are
  skipped.
* **npz** (numpy ``savez``): the array under ``"keypoints"`` (or the only array in the file) of
  shape ``(N, J, 2)`` or ``(N, J, 3)`` (third channel = confidence) or ``(J, 2|3)`` for a single
  person; optional ``"confidence"`` ``(N, J)``, ``"layout"`` (string), ``"image_size"`` ``(2,)``
  as ``(W, H)`` and ``"names"`` ``(N,)``. Confidences must already lie in ``[0, 1]``. Without any
  confidence, joints with NaN coordinates get confidence 0 and all others 1.

Non-finite coordinates are accepted only on joints with confidence 0 (they are set to 0).
Any problem raises :class:`~energy3d.errors.InputError` with one message naming the file.

Missing joints: :func:`impute_missing` fills joints with confidence 0 from their nearest visible
neighbour in the kinematic tree; this is what ``energy3d lift`` does with zero-confidence joints.

Plausibility: :func:`check_keypoints_in_image` refuses people whose joints mostly lie far outside
their image or all on one pixel (a lift of them would be meaningless) and warns about people with
some joints outside the image.
"""

from __future__ import annotations

import json
import math
import zipfile
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from energy3d.errors import InputError
from energy3d.skeleton.layouts import COCO17, LAYOUTS, OPENPOSE25, Skeleton, convert, get_layout

__all__ = ["KeypointSet", "read_keypoints", "impute_missing", "check_keypoints_in_image", "OPENPOSE18_TO_COCO17",
           "FAR_OUTSIDE", "MIN_SPREAD_PX"]

#: For each ``coco17`` joint, its index in OpenPose's COCO-18 output (``Neck`` = 1 is unused).
OPENPOSE18_TO_COCO17 = (0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10)

#: Layout inferred from the joint count of an npz array when no layout is named (17 is ambiguous).
_LAYOUT_BY_COUNT = {25: "openpose25", 16: "mpii16", 21: "bandai21"}

_NPZ_AUX_KEYS = ("confidence", "layout", "image_size", "names")

FAR_OUTSIDE = 0.5
"""A joint lies *far* outside its image when it is more than this fraction of the image's width
(x) or height (y) beyond the image's border; a person with more than half of the detected joints
that far out is an error (:func:`check_keypoints_in_image`)."""

MIN_SPREAD_PX = 1.0
"""A person whose detected joints all lie within this many pixels (bounding-box diagonal) of each
other has no pose to lift (:func:`check_keypoints_in_image`)."""


@dataclass
class KeypointSet:
    """2D keypoints of ``N`` people in one joint layout.

    Attributes:
        points: ``(N, J, 2)`` float32, pixels (x right, y down, origin at the image's top-left
            corner). Joints with confidence 0 are stored as ``0``.
        confidence: ``(N, J)`` float32 in ``[0, 1]``; ``0`` = not detected / not labelled.
        layout: the joint layout of ``points`` (``J = layout.num_joints``).
        names: ``N`` ids, ``"<image or frame>#<person index>"``, e.g. ``"img123#0"``.
        image_size: ``(W, H)`` in pixels when every person comes from images of one known size,
            else None.
        source: the path the keypoints were read from ("" when built in memory).
        image_sizes: optional ``(N, 2)`` int array, ``(W, H)`` per person (COCO annotations with an
            ``"images"`` list may mix sizes); None when unknown.
    """

    points: np.ndarray
    confidence: np.ndarray
    layout: Skeleton
    names: list[str]
    image_size: tuple[int, int] | None = None
    source: str = ""
    image_sizes: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        self.layout = get_layout(self.layout)
        self.points = np.asarray(self.points, dtype=np.float32)
        self.confidence = np.asarray(self.confidence, dtype=np.float32)
        n, j = len(self.names), self.layout.num_joints
        if self.points.shape != (n, j, 2):
            raise InputError(
                f"KeypointSet.points: expected shape ({n}, {j}, 2) for {n} names and layout "
                f"{self.layout.name}, got {self.points.shape}"
            )
        if self.confidence.shape != (n, j):
            raise InputError(f"KeypointSet.confidence: expected shape ({n}, {j}), got {self.confidence.shape}")
        if self.image_sizes is not None:
            self.image_sizes = np.asarray(self.image_sizes, dtype=np.int64)
            if self.image_sizes.shape != (n, 2):
                raise InputError(f"KeypointSet.image_sizes: expected shape ({n}, 2), got {self.image_sizes.shape}")
        self.names = list(self.names)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def visible(self) -> np.ndarray:
        """``(N, J)`` bool, True where the joint was detected (confidence > 0)."""
        return self.confidence > 0

    def subset(self, idx) -> "KeypointSet":
        """The people selected by ``idx`` (an int, slice, index array or ``(N,)`` bool mask)."""
        if isinstance(idx, (int, np.integer)):
            idx = [int(idx)]
        sel = np.arange(len(self))[idx]
        return replace(
            self,
            points=self.points[sel],
            confidence=self.confidence[sel],
            names=[self.names[i] for i in np.atleast_1d(sel)],
            image_sizes=None if self.image_sizes is None else self.image_sizes[sel],
        )

    def to_layout(self, dst: Skeleton | str) -> "KeypointSet":
        """Convert to layout ``dst`` with :func:`energy3d.skeleton.convert`.

        A derived joint (e.g. ``pelvis`` = mid-hips) gets the minimum confidence of its sources,
        so it is "not detected" whenever one of them is.
        """
        dst = get_layout(dst)
        pts, conf = convert(self.points, self.layout, dst, confidence=self.confidence)
        conf = conf.astype(np.float32)
        pts = np.where(conf[..., None] > 0, pts, 0.0)
        return replace(self, points=pts, confidence=conf, layout=dst)


# ---------------------------------------------------------------------------------------------
# reading


def read_keypoints(path: str | Path, layout: Skeleton | str | None = None) -> KeypointSet:
    """Read 2D keypoints from a COCO / OpenPose JSON file, a folder of OpenPose files, or an npz.

    The format is detected from the content (see the module docstring for each format).

    Args:
        path: a file or a folder of OpenPose JSON files.
        layout: the joint layout of the data in the file. COCO files are always ``coco17`` and
            OpenPose files ``openpose25`` (BODY_25) or ``coco17`` (COCO-18 model), so it only
            needs to be given for npz files whose layout is neither stored nor implied by the
            joint count (``J = 17`` could be ``coco17`` or ``h36m17``).

    Returns:
        A :class:`KeypointSet` with ``points`` ``(N, J, 2)`` in pixels and ``confidence`` ``(N, J)``.

    Raises:
        InputError: missing or empty path, malformed or unrecognised content, no people, wrong
            keypoint counts, a layout that does not match the file, NaN/inf on detected joints,
            confidences outside ``[0, 1]`` (npz).

    Example:
        >>> kp = read_keypoints("frame_000000_keypoints.json")  # doctest: +SKIP
        >>> kp.points.shape, kp.layout.name  # doctest: +SKIP
        ((2, 25, 2), 'openpose25')
    """
    p = Path(path)
    given = None if layout is None else _layout_or_error(layout, p)
    if p.is_dir():
        return _read_openpose_folder(p, given)
    if not p.exists():
        raise InputError(
            f"{p}: no such file or folder (expected COCO or OpenPose keypoint JSON, a folder of "
            "OpenPose JSON files, or an .npz of keypoints)"
        )
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise InputError(f"{p}: cannot read file ({e.strerror or e})") from None
    if not raw.strip():
        raise InputError(f"{p}: file is empty (expected keypoint JSON or npz)")
    if raw[:4] in (b"PK\x03\x04", b"PK\x05\x06"):  # a zip (npz); the second is a zip without entries
        return _read_npz(p, given)
    if raw[:6] == b"\x93NUMPY":
        return _read_npz(p, given, npy=True)
    data = _parse_json(p, raw)
    if isinstance(data, dict) and "annotations" in data:
        return _read_coco_annotations(p, data, given)
    if isinstance(data, dict) and "people" in data:
        return _read_openpose_file(p, data, given)
    if isinstance(data, list) and (not data or all(isinstance(d, dict) and "keypoints" in d for d in data)):
        return _read_coco_results(p, data, given)
    if isinstance(data, dict):
        what = f"an object with keys {sorted(data)[:8]}"
    elif isinstance(data, list):
        what = "a list whose items are not objects with \"keypoints\""
    else:
        what = f"a JSON {type(data).__name__}"
    raise InputError(
        f"{p}: unrecognised keypoint JSON: got {what}; expected COCO keypoint annotations (object "
        "with \"annotations\"), COCO keypoint results (list of objects with \"image_id\" and "
        "\"keypoints\") or OpenPose output (object with \"people\")"
    )


def _layout_or_error(layout, p: Path) -> Skeleton:
    try:
        return get_layout(layout)
    except InputError as e:
        raise InputError(f"{p}: {e}") from None


def _parse_json(p: Path, raw: bytes):
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{p}: not a recognised keypoint file (neither UTF-8 JSON nor npz)") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{p}: malformed JSON at line {e.lineno} column {e.colno}: {e.msg}") from None


def _check_fixed_layout(p: Path, given: Skeleton | None, fixed: Skeleton, fmt: str, count: int) -> Skeleton:
    """COCO and OpenPose files fix their layout; a given layout must be that one."""
    if given is None or given.name == fixed.name:
        return fixed
    if given.num_joints != count:
        raise InputError(f"{p}: layout {given.name} has {given.num_joints} joints, file has {count}")
    raise InputError(
        f"{p}: {fmt} keypoints are in the {fixed.name} joint order, but layout {given.name} was given; "
        f"leave the layout out (convert layouts after reading)"
    )


def _triples(p: Path, values, where: str, key: str, counts: Sequence[int]) -> np.ndarray:
    """Flat ``[x, y, c] * K`` list -> ``(K, 3)`` float64, K in ``counts``."""
    if not isinstance(values, list):
        raise InputError(f"{p}: {where}: \"{key}\" must be a list of numbers, got {type(values).__name__}")
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{p}: {where}: \"{key}\" contains non-numeric values") from None
    if arr.ndim != 1 or arr.size % 3 or arr.size // 3 not in counts:
        want = " or ".join(f"{3 * k} ({k} joints x [x, y, c])" for k in counts)
        raise InputError(f"{p}: {where}: \"{key}\" has {arr.size} values, expected {want}")
    return arr.reshape(-1, 3)


def _finish(p: Path, points, conf, layout: Skeleton, names, image_size=None, image_sizes=None) -> KeypointSet:
    """Validate values (finite where detected, confidence in [0, 1]) and build the set."""
    points = np.asarray(points, dtype=np.float64)
    conf = np.asarray(conf, dtype=np.float64)
    if not np.isfinite(conf).all():
        n, j = np.argwhere(~np.isfinite(conf))[0]
        raise InputError(f"{p}: person {names[n]}: confidence of joint {layout.joints[j]} is not finite")
    bad = (conf < 0) | (conf > 1)
    if bad.any():
        n, j = np.argwhere(bad)[0]
        raise InputError(
            f"{p}: person {names[n]}: confidence {conf[n, j]:g} of joint {layout.joints[j]} is outside [0, 1]"
        )
    nonfinite = ~np.isfinite(points).all(axis=-1)
    bad = nonfinite & (conf > 0)
    if bad.any():
        n, j = np.argwhere(bad)[0]
        raise InputError(
            f"{p}: person {names[n]}: joint {layout.joints[j]} has NaN/inf coordinates but confidence "
            f"{conf[n, j]:g}; non-finite coordinates are allowed only with confidence 0"
        )
    points = np.where((conf > 0)[..., None], points, 0.0)
    return KeypointSet(points, conf, layout, list(names), image_size, str(p), image_sizes)


def _read_coco_annotations(p: Path, data: dict, given) -> KeypointSet:
    layout = _check_fixed_layout(p, given, COCO17, "COCO", 17)
    anns = data["annotations"]
    if not isinstance(anns, list):
        raise InputError(f"{p}: \"annotations\" must be a list, got {type(anns).__name__}")
    if not anns:
        raise InputError(f"{p}: no people: \"annotations\" is empty")
    sizes = {}
    images = data.get("images", [])
    if isinstance(images, list):
        for im in images:
            if isinstance(im, dict) and "id" in im and "width" in im and "height" in im:
                try:
                    sizes[im["id"]] = (int(im["width"]), int(im["height"]))
                except (TypeError, ValueError):
                    raise InputError(f"{p}: image {im['id']}: width/height must be integers") from None
    pts, conf, names, per = [], [], [], []
    count: dict = {}
    for i, a in enumerate(anns):
        if not isinstance(a, dict) or "keypoints" not in a or "image_id" not in a:
            raise InputError(f"{p}: annotation {i} has no \"keypoints\" or \"image_id\" (not a COCO keypoint annotation)")
        where = f"annotation {i} (image_id {a['image_id']})"
        kp = _triples(p, a["keypoints"], where, "keypoints", (17,))
        v = kp[:, 2]
        if not np.isin(v, (0, 1, 2)).all():
            raise InputError(f"{p}: {where}: visibility flags must be 0, 1 or 2, got {sorted(set(v.tolist()))}")
        nk = a.get("num_keypoints", int((v > 0).sum()))
        if nk == 0:
            continue
        img = a["image_id"]
        k = count.get(img, 0)
        count[img] = k + 1
        names.append(f"img{img}#{k}")
        pts.append(kp[:, :2])
        conf.append((v > 0).astype(np.float64))
        per.append(sizes.get(img))
    if not pts:
        raise InputError(f"{p}: no people: all {len(anns)} annotations have num_keypoints == 0")
    image_sizes = None if any(s is None for s in per) else np.asarray(per)
    image_size = per[0] if image_sizes is not None and len(set(per)) == 1 else None
    return _finish(p, np.stack(pts), np.stack(conf), layout, names, image_size, image_sizes)


def _read_coco_results(p: Path, data: list, given) -> KeypointSet:
    layout = _check_fixed_layout(p, given, COCO17, "COCO", 17)
    if not data:
        raise InputError(f"{p}: no people: the COCO results list is empty")
    pts, conf, names = [], [], []
    count: dict = {}
    for i, d in enumerate(data):
        if "image_id" not in d:
            raise InputError(f"{p}: result {i} has no \"image_id\" (not a COCO keypoint result)")
        img = d["image_id"]
        kp = _triples(p, d["keypoints"], f"result {i} (image_id {img})", "keypoints", (17,))
        k = count.get(img, 0)
        count[img] = k + 1
        names.append(f"img{img}#{k}")
        pts.append(kp[:, :2])
        c = kp[:, 2]
        conf.append(np.where(np.isfinite(c), np.clip(c, 0.0, 1.0), c))
    return _finish(p, np.stack(pts), np.stack(conf), layout, names)


def _openpose_people(p: Path, data):
    """-> list of (K, 3) arrays, layout."""
    if not isinstance(data, dict) or not isinstance(data.get("people"), list):
        raise InputError(f"{p}: not an OpenPose file (expected an object with a \"people\" list)")
    people = []
    for k, person in enumerate(data["people"]):
        if not isinstance(person, dict):
            raise InputError(f"{p}: people[{k}] is not an object")
        key = "pose_keypoints_2d" if "pose_keypoints_2d" in person else "pose_keypoints"
        if key not in person:
            raise InputError(f"{p}: people[{k}] has no \"pose_keypoints_2d\" (OpenPose body keypoints)")
        vals = person[key]
        if isinstance(vals, list) and len(vals) not in (54, 75):
            raise InputError(
                f"{p}: people[{k}]: \"{key}\" has {len(vals)} values ({len(vals) / 3:g} joints); only "
                "OpenPose BODY_25 (75 values) and COCO-18 (54 values) models are supported"
            )
        people.append(_triples(p, vals, f"people[{k}]", key, (25, 18)))
    return people


def _openpose_to_set(p: Path, frames, given) -> KeypointSet:
    """frames: list of (frame name, file path, list of (K, 3))."""
    counts = {kp.shape[0] for _, _, people in frames for kp in people}
    if len(counts) > 1:
        raise InputError(f"{p}: files mix OpenPose models (BODY_25 and COCO-18); use one model")
    count = counts.pop()
    fixed = OPENPOSE25 if count == 25 else COCO17
    layout = _check_fixed_layout(p, given, fixed, f"OpenPose {'BODY_25' if count == 25 else 'COCO-18'}", count)
    pts, conf, names = [], [], []
    for frame, _, people in frames:
        for k, kp in enumerate(people):
            if count == 18:
                kp = kp[list(OPENPOSE18_TO_COCO17)]
            names.append(f"{frame}#{k}")
            pts.append(kp[:, :2])
            c = kp[:, 2]
            conf.append(np.where(c > 1, 1.0, c))
    return _finish(p, np.stack(pts), np.stack(conf), layout, names)


def _frame_name(f: Path) -> str:
    stem = f.name[: -len(".json")] if f.name.endswith(".json") else f.stem
    return stem[: -len("_keypoints")] if stem.endswith("_keypoints") else stem


def _read_openpose_file(p: Path, data: dict, given) -> KeypointSet:
    people = _openpose_people(p, data)
    if not people:
        raise InputError(f"{p}: no people: OpenPose \"people\" list is empty")
    return _openpose_to_set(p, [(_frame_name(p), p, people)], given)


def _read_openpose_folder(p: Path, given) -> KeypointSet:
    files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() == ".json")
    if not files:
        raise InputError(f"{p}: folder has no .json files (expected one OpenPose JSON file per frame)")
    frames = []
    for f in files:
        raw = f.read_bytes()
        if not raw.strip():
            raise InputError(f"{f}: file is empty (expected OpenPose JSON)")
        people = _openpose_people(f, _parse_json(f, raw))
        if people:
            frames.append((_frame_name(f), f, people))
    if not frames:
        raise InputError(f"{p}: no people in any of the {len(files)} OpenPose files")
    return _openpose_to_set(p, frames, given)


def _read_npz(p: Path, given, npy: bool = False) -> KeypointSet:
    try:
        if npy:
            arrays = {"keypoints": np.load(p, allow_pickle=False)}
        else:
            with np.load(p, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise InputError(f"{p}: cannot read numpy file ({e})") from None
    if not arrays:
        raise InputError(f"{p}: the npz holds no arrays (expected keypoints of shape (N, J, 2) or (N, J, 3))")
    if "keypoints" in arrays:
        key = "keypoints"
    else:
        cands = [k for k in arrays if k not in _NPZ_AUX_KEYS]
        if len(cands) != 1:
            raise InputError(
                f"{p}: no usable keypoint array: expected one under \"keypoints\" (or a single array), "
                f"found keys {sorted(arrays)}"
            )
        key = cands[0]
    kp = arrays[key]
    if kp.dtype.kind not in "fiu":
        raise InputError(f"{p}: array \"{key}\" has dtype {kp.dtype}, expected numbers")
    if kp.ndim == 2:
        kp = kp[None]
    if kp.ndim != 3 or kp.shape[-1] not in (2, 3) or kp.shape[0] == 0 or kp.shape[1] == 0:
        raise InputError(
            f"{p}: array \"{key}\" has shape {kp.shape}, expected (N, J, 2) or (N, J, 3) "
            "(x, y in pixels, optional confidence), N >= 1"
        )
    n, j = kp.shape[:2]
    kp = kp.astype(np.float64)
    # layout: argument, else stored key, else joint count
    if given is not None:
        layout = given
    elif "layout" in arrays:
        stored = arrays["layout"]
        if stored.dtype.kind not in "US" or stored.size != 1:
            raise InputError(f"{p}: \"layout\" must be a string such as 'coco17', got {stored.dtype} {stored.shape}")
        name = str(stored.reshape(()).item())
        name = name.decode() if isinstance(name, bytes) else name
        layout = _layout_or_error(name, p)
    elif j in _LAYOUT_BY_COUNT:
        layout = LAYOUTS[_LAYOUT_BY_COUNT[j]]
    elif j == 17:
        raise InputError(
            f"{p}: 17 joints could be layout coco17 or h36m17; name it (--layout coco17 or "
            "--layout h36m17, or a \"layout\" string in the npz)"
        )
    else:
        known = ", ".join(f"{s.name} ({s.num_joints})" for s in LAYOUTS.values())
        raise InputError(f"{p}: no built-in layout has {j} joints; known layouts: {known}")
    if layout.num_joints != j:
        raise InputError(f"{p}: layout {layout.name} has {layout.num_joints} joints, file has {j}")
    names = [f"{p.stem}#{i}" for i in range(n)]
    if "names" in arrays:
        nm = arrays["names"]
        if nm.shape != (n,):
            raise InputError(f"{p}: \"names\" has shape {nm.shape}, expected ({n},)")
        names = [x.decode() if isinstance(x, bytes) else str(x) for x in nm.tolist()]
    if "confidence" in arrays:
        if kp.shape[-1] == 3:
            raise InputError(
                f"{p}: confidence given twice (third channel of \"{key}\" and a \"confidence\" array); keep one"
            )
        conf = arrays["confidence"]
        if conf.shape != (n, j) and not (conf.shape == (j,) and n == 1):
            raise InputError(f"{p}: \"confidence\" has shape {conf.shape}, expected ({n}, {j})")
        conf = conf.reshape(n, j).astype(np.float64)
    elif kp.shape[-1] == 3:
        conf = kp[..., 2]
    else:
        conf = np.isfinite(kp).all(axis=-1).astype(np.float64)
    image_size = None
    if "image_size" in arrays:
        s = arrays["image_size"]
        if s.shape != (2,) or not np.isfinite(s).all() or (s <= 0).any():
            raise InputError(f"{p}: \"image_size\" must be (W, H) > 0 in pixels, got {s.tolist()}")
        image_size = (int(s[0]), int(s[1]))
    return _finish(p, kp[..., :2], conf, layout, names, image_size)


# ---------------------------------------------------------------------------------------------
# plausibility


def check_keypoints_in_image(kp: KeypointSet, image_sizes) -> list[str]:
    """Refuse keypoints that cannot be a person in the image; warn about joints outside it.

    Only detected joints (confidence > 0) are looked at. Per person:

    * **error** when more than half of the detected joints lie *far* outside the image, i.e. more
      than :data:`FAR_OUTSIDE` (half) of the image's width or height beyond its border: the
      coordinates are not pixels of this image (wrong ``--image-size``, normalised or swapped
      coordinates), and a lift would be meaningless;
    * **error** when all detected joints lie within :data:`MIN_SPREAD_PX` of each other
      (bounding-box diagonal): a degenerate skeleton without a pose;
    * **warning** (returned) when some joints lie outside the image, with how many and how far.

    Args:
        kp: the keypoints, ``points (N, J, 2)`` in pixels.
        image_sizes: ``(N, 2)`` array-like, ``(W, H)`` in pixels per person.

    Returns:
        Warnings for people with joints outside their image (empty when there are none).

    Raises:
        InputError: naming the file, the person and the numbers.

    Example:
        >>> import numpy as np
        >>> kp = KeypointSet(np.full((1, 17, 2), 50000.0), np.ones((1, 17)), "coco17", ["p#0"])
        >>> check_keypoints_in_image(kp, [(640, 480)])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        energy3d.errors.InputError: p#0: 17 of 17 detected joints lie far outside the 640 x 480 image ...
    """
    sizes = np.asarray(image_sizes, dtype=np.float64).reshape(-1, 2)
    if sizes.shape[0] != len(kp):
        raise InputError(f"check_keypoints_in_image: image_sizes: expected shape ({len(kp)}, 2), got {sizes.shape}")
    where = f"{kp.source}: " if kp.source else ""
    warnings = []
    for n, name in enumerate(kp.names):
        vis = kp.visible[n]
        if not vis.any():
            continue  # impute_missing names people without detected joints
        p = kp.points[n][vis].astype(np.float64)
        W, H = sizes[n]
        # distance beyond the border along each axis (0 inside), in pixels
        out_x = np.maximum(-p[:, 0], p[:, 0] - W).clip(min=0)
        out_y = np.maximum(-p[:, 1], p[:, 1] - H).clip(min=0)
        far = (out_x > FAR_OUTSIDE * W) | (out_y > FAR_OUTSIDE * H)
        m = int(vis.sum())
        if 2 * int(far.sum()) > m:
            mx, my = np.median(p, axis=0)
            raise InputError(
                f"{where}{name}: {int(far.sum())} of {m} detected joints lie far outside the {W:g} x {H:g} image "
                f"(more than {FAR_OUTSIDE:.0%} of its size beyond its borders; median joint at x={mx:.0f}, "
                f"y={my:.0f} px): the coordinates are not pixels of this image (check --image-size and the units)"
            )
        spread = float(np.linalg.norm(p.max(axis=0) - p.min(axis=0)))
        if m > 1 and spread < MIN_SPREAD_PX:
            raise InputError(
                f"{where}{name}: all {m} detected joints lie within {spread:.2g} px of each other (at x={p[0, 0]:g}, "
                f"y={p[0, 1]:g}): a degenerate skeleton with no pose to lift"
            )
        outside = (out_x > 0) | (out_y > 0)
        if outside.any():
            joints = [kp.layout.joints[j] for j in np.flatnonzero(vis)[outside]]
            shown = ", ".join(joints[:4]) + (", ..." if len(joints) > 4 else "")
            beyond = float(np.maximum(out_x, out_y).max())
            warnings.append(
                f"{name}: {int(outside.sum())} of {m} detected joints lie outside the {W:g} x {H:g} image, up to "
                f"{beyond:.0f} px beyond its border ({shown}); check --image-size if the person is in the frame"
            )
    return warnings


# ---------------------------------------------------------------------------------------------
# missing joints


def _neighbour_order(layout: Skeleton) -> list[list[int]]:
    """Tree neighbours of each joint: parent first, then children in index order."""
    children = [[] for _ in range(layout.num_joints)]
    for c, par in enumerate(layout.parents):
        if par >= 0:
            children[par].append(c)
    return [([par] if par >= 0 else []) + children[j] for j, par in enumerate(layout.parents)]


def nearest_visible(layout: Skeleton, visible: np.ndarray) -> np.ndarray:
    """Source joint for each joint under the imputation rule of :func:`impute_missing`.

    Args:
        layout: the joint layout (``J`` joints).
        visible: ``(J,)`` bool.

    Returns:
        ``(J,)`` int: the joint itself when visible, else the nearest visible joint (breadth-first
        over the tree, parent before children), or ``-1`` when nothing is visible.
    """
    nbrs = _neighbour_order(layout)
    out = np.full(layout.num_joints, -1, dtype=np.int64)
    for j in range(layout.num_joints):
        if visible[j]:
            out[j] = j
            continue
        seen, queue = {j}, deque([j])
        while queue:
            u = queue.popleft()
            if visible[u]:
                out[j] = u
                break
            for w in nbrs[u]:
                if w not in seen:
                    seen.add(w)
                    queue.append(w)
    return out


def impute_missing(
    points,
    confidence,
    layout: Skeleton | str,
    min_visible: int | None = None,
    *,
    names: Sequence[str] | None = None,
):
    """Fill joints with confidence 0 from their nearest visible joint in the kinematic tree.

    Rule: the tree is searched breadth-first from the missing joint (bones are undirected), so the
    replacement is a visible joint with the fewest bones in between; among joints equally far,
    the one reached through the parent comes first, then children in joint-index order. Only
    joints visible in the input (confidence > 0) are used as sources, never imputed ones, so the
    result does not depend on the order in which joints are processed. For example, in ``h36m17``
    a missing ``LWrist`` takes ``LElbow``; with both missing it takes ``LShoulder``; a missing
    ``LKnee`` whose hip is also missing takes ``LFoot`` (one bone away) rather than ``Hip``.

    This is what ``energy3d lift`` does with zero-confidence joints before lifting; the imputed
    mask is reported alongside the result.

    Args:
        points: ``(N, J, D)`` or ``(J, D)`` array (numpy or torch), any units.
        confidence: ``(N, J)`` or ``(J,)``; a joint is visible when its confidence is > 0.
        layout: the joint layout (``J`` joints).
        min_visible: fewest visible joints a person must have; default ``ceil(J / 2)``.
        names: optional person names for error messages.

    Returns:
        ``(points, imputed)``: a float copy of ``points`` with missing joints filled (same shape),
        and a bool array of the confidence's shape, True where a joint was imputed.

    Raises:
        InputError: shapes do not match the layout, or a person has fewer than ``min_visible``
            visible joints (the message names the person).

    Example:
        >>> import numpy as np
        >>> from energy3d.skeleton import H36M17
        >>> pts = np.arange(34, dtype=float).reshape(17, 2)
        >>> conf = np.ones(17); conf[13] = 0          # LWrist missing
        >>> out, mask = impute_missing(pts, conf, H36M17)
        >>> bool((out[13] == pts[12]).all()), int(mask.sum())  # takes LElbow
        (True, 1)
    """
    layout = get_layout(layout)
    pts = _to_numpy(points).astype(np.float64, copy=True)
    conf = _to_numpy(confidence).astype(np.float64)
    single = pts.ndim == 2
    if single:
        pts, conf = pts[None], conf[None]
    if pts.ndim != 3 or pts.shape[1] != layout.num_joints:
        raise InputError(
            f"impute_missing: points: expected shape (N, {layout.num_joints}, D) for layout "
            f"{layout.name}, got {tuple(_to_numpy(points).shape)}"
        )
    if conf.shape != pts.shape[:2]:
        raise InputError(f"impute_missing: confidence: expected shape {pts.shape[:2]}, got {conf.shape}")
    j = layout.num_joints
    need = math.ceil(j / 2) if min_visible is None else int(min_visible)
    visible = conf > 0
    imputed = np.zeros_like(visible)
    for n in range(pts.shape[0]):
        nv = int(visible[n].sum())
        if nv < need or nv == 0:
            who = names[n] if names is not None else f"person {n}"
            missing = [layout.joints[k] for k in np.flatnonzero(~visible[n])]
            shown = ", ".join(missing[:6]) + (", ..." if len(missing) > 6 else "")
            raise InputError(
                f"{who}: only {nv} of {j} joints detected (need at least {need}); missing: {shown}"
            )
        src = nearest_visible(layout, visible[n])
        miss = ~visible[n]
        pts[n, miss] = pts[n, src[miss]]
        imputed[n] = miss
    if single:
        return pts[0], imputed[0]
    return pts, imputed


def _to_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)
