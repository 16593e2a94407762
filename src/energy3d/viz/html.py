"""A self-contained HTML viewer for 3D poses and 3D motion (one file, no network).

Two writers share one page:

- :func:`write_pose_viewer`: ``N`` people of one image (or any ``N`` poses), a slider steps through them;
- :func:`write_sequence_viewer`: a motion of ``T`` frames at ``fps``, one or ``P`` people per frame, with
  play/pause, a frame slider, the frame number and time, and beside the 3D view the input frame
  (optional JPEG thumbnails embedded in the file) under the 2D keypoints.

The page draws the skeletons on a ``<canvas>``: drag to rotate (yaw about the vertical axis, pitch about
the horizontal), mouse wheel to zoom, the slider or the arrow keys to step (space plays and pauses a
sequence), bones coloured by side (left blue, right red, centre grey), an optional ground grid, joint
names on hover (with their camera-frame coordinates in metres) and an inset with the 2D input. The file
loads nothing from anywhere: it contains no ``http://`` or ``https://`` address and no ``<script src>``,
so it works offline and can be attached to a report. Opened with ``#autoplay`` at the end of its address,
a sequence starts playing.

The initial view is the camera's: the pose is drawn with a pinhole projection from the camera centre
along ``+z`` (x right, y down on screen), so it overlays the 2D input up to focal length and principal
point. Rotations turn the viewpoint about the centre of the current pose (people) or of the whole motion
(sequences, so that moving through the scene is visible; "follow" centres on the current frame instead).

The data are embedded as JSON in a ``<script type="application/json" id="energy3d-data">`` element; see
:func:`read_viewer_data` for the fields. ``<``, ``>``, ``&`` and ``/`` are written as JSON escapes so that
no user string can end the element. The page reports its state for tests and tools as attributes of
``<body>``: ``data-ready="1"`` after the first drawing, ``data-frame`` (the index shown),
``data-frames-drawn`` (drawings so far), ``data-playing`` and, after any JavaScript error,
``data-error`` (also shown in red on the page).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from energy3d.errors import InputError
from energy3d.skeleton.layouts import Skeleton, get_layout
from energy3d.viz.skeleton import _np

__all__ = ["write_pose_viewer", "write_sequence_viewer", "read_viewer_data"]

_DATA_ID = "energy3d-data"
_JPEG_PREFIX = "data:image/jpeg;base64,"


def _json_for_script(data) -> str:
    text = json.dumps(data, separators=(",", ":"), allow_nan=False, ensure_ascii=True)
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("/", "\\/"))


def _image_size(image_size) -> list[float] | None:
    if image_size is None:
        return None
    s = _np(image_size, "image_size").ravel()
    if s.shape != (2,) or not np.isfinite(s).all() or (s <= 0).any():
        raise InputError(f"image_size: expected (W, H) in pixels, both > 0, got {np.asarray(image_size).tolist()}")
    return [float(s[0]), float(s[1])]


def _write_page(path: str | Path, data: dict, title: str) -> Path:
    page = (_TEMPLATE
            .replace("%%TITLE%%", html.escape(str(title)).replace("/", "&#47;"))
            .replace("%%DATA_ID%%", _DATA_ID)
            .replace("%%DATA%%", _json_for_script(data)))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def write_pose_viewer(
    path: str | Path,
    poses,
    layout: Skeleton | str,
    *,
    names: Sequence[str] | None = None,
    title: str = "energy3d",
    keypoints_2d=None,
    image_size: Sequence[float] | None = None,
) -> Path:
    """Write a self-contained interactive 3D skeleton viewer of ``N`` poses as one HTML file.

    For a motion over time use :func:`write_sequence_viewer`.

    Args:
        path: output ``.html`` path (parent folders are created).
        poses: ``(N, J, 3)`` or ``(J, 3)`` metres in the camera frame (x right, y down, z forward),
            numpy or torch, in ``layout``.
        layout: joint layout of the poses.
        names: optional ``N`` labels shown next to the slider (e.g. ``"frame_000012#1"``).
        title: page title and heading.
        keypoints_2d: optional ``(N, J, 2)`` pixels in ``layout``; shown in an inset.
        image_size: optional ``(W, H)`` pixels, the frame of the 2D inset.

    Returns:
        The path written.

    Raises:
        InputError: arrays of the wrong shape for ``layout`` or of different ``N``, NaN/inf,
            ``names`` of the wrong length, bad ``image_size``.

    Example:
        >>> import numpy as np
        >>> write_pose_viewer("pose.html", np.zeros((2, 17, 3)) + [0, 0, 4], "h36m17")  # doctest: +SKIP
        PosixPath('pose.html')
    """
    layout = get_layout(layout)
    P = _np(poses, "poses")
    if P.ndim == 2:
        P = P[None]
    j = layout.num_joints
    if P.ndim != 3 or P.shape[1:] != (j, 3) or P.shape[0] == 0:
        raise InputError(
            f"poses: expected shape (N, {j}, 3) in metres for layout {layout.name} ({j} joints), "
            f"got {tuple(_np(poses, 'poses').shape)}"
        )
    if not np.isfinite(P).all():
        raise InputError(f"poses: {int((~np.isfinite(P)).sum())} non-finite values (NaN or inf)")
    n = P.shape[0]
    if names is None:
        names = [f"#{i}" for i in range(n)]
    names = [str(s) for s in names]
    if len(names) != n:
        raise InputError(f"names: expected {n} names (one per pose), got {len(names)}")
    kp = None
    if keypoints_2d is not None:
        K = _np(keypoints_2d, "keypoints_2d")
        if K.ndim == 2:
            K = K[None]
        if K.shape != (n, j, 2):
            raise InputError(f"keypoints_2d: expected shape ({n}, {j}, 2) in pixels, got {tuple(K.shape)}")
        if not np.isfinite(K).all():
            raise InputError(f"keypoints_2d: {int((~np.isfinite(K)).sum())} non-finite values (NaN or inf)")
        kp = np.round(K, 2).tolist()
    data = {
        "mode": "people",
        "title": str(title),
        "layout": layout.to_json(),
        "names": names,
        "poses": np.round(P, 4).tolist(),
        "keypoints_2d": kp,
        "image_size": _image_size(image_size),
    }
    return _write_page(path, data, title)


def write_sequence_viewer(
    path: str | Path,
    poses,
    layout: Skeleton | str,
    *,
    fps: float,
    names: Sequence[str] | None = None,
    title: str = "energy3d",
    keypoints_2d=None,
    present=None,
    image_size: Sequence[float] | None = None,
    images: Sequence | None = None,
    image_px: int = 320,
    images_max_bytes: int = 4_000_000,
    jpeg_quality: int = 70,
) -> Path:
    """Write a self-contained HTML player of a 3D motion: ``T`` frames at ``fps``, one or more people.

    The page has play/pause (space), a frame slider (arrow keys step), the frame number and time
    ``t = frame / fps`` in seconds, the 3D view and beside it the 2D keypoints of the frame, drawn over
    the input frame when ``images`` are given.

    Input frames are embedded as JPEG thumbnails (data URIs, longest side at most ``image_px``). So that
    long videos keep the file small, the thumbnails of frames ``0, k, 2k, ...`` are embedded, with ``k``
    the smallest step for which their base64 text totals at most ``images_max_bytes``; frame ``i`` then
    shows the thumbnail of frame ``k * (i // k)`` under its own keypoints. Each frame is read and
    shrunk once. If a single thumbnail is larger than ``images_max_bytes`` no image is embedded (with a
    warning) and the keypoints are drawn alone.

    Args:
        path: output ``.html`` path (parent folders are created).
        poses: ``(T, J, 3)`` (one person) or ``(T, P, J, 3)`` (``P`` people per frame), metres in the
            camera frame (x right, y down, z forward), numpy or torch, in ``layout``.
        layout: joint layout of the poses.
        fps: frames per second (> 0), for playback and the time shown.
        names: optional ``P`` labels of the people (shown on hover); default ``#0``, ``#1``, ...
        title: page title and heading.
        keypoints_2d: optional ``(T, J, 2)`` or ``(T, P, J, 2)`` pixels in ``layout`` (same people as
            ``poses``).
        present: optional ``(T,)`` or ``(T, P)`` booleans, False where a person is not in the frame; their
            poses and keypoints there are ignored (may be NaN) and not drawn. Default: all present.
        image_size: optional ``(W, H)`` pixels of the input frames; default: the size of the first image.
        images: optional ``T`` input frames, each a path to an image file, a ``uint8`` array ``(H, W)``,
            ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA, a Pillow image, or None (no image for that frame).
            All must be ``image_size``.
        image_px: longest side of an embedded thumbnail in pixels (>= 16; never enlarged).
        images_max_bytes: cap on the embedded thumbnails' base64 text in bytes (>= 0).
        jpeg_quality: JPEG quality of the thumbnails, 1 to 95.

    Returns:
        The path written.

    Raises:
        InputError: arrays of the wrong shape for ``layout`` or of different ``T`` or ``P``, NaN/inf in a
            present person, ``fps`` not a number > 0, ``names`` of the wrong length, bad ``image_size``,
            ``images`` of the wrong count, size or type, or an unreadable image file.

    Example:
        >>> import numpy as np
        >>> walk = np.zeros((50, 17, 3)) + [0, 0, 4]  # 50 frames of one person
        >>> write_sequence_viewer("walk.html", walk, "h36m17", fps=25)  # doctest: +SKIP
        PosixPath('walk.html')
    """
    layout = get_layout(layout)
    j = layout.num_joints
    raw = _np(poses, "poses")
    single = raw.ndim == 3
    P = raw[:, None] if single else raw
    if raw.ndim not in (3, 4) or P.shape[2:] != (j, 3) or 0 in P.shape[:2]:
        raise InputError(
            f"poses: expected shape (T, {j}, 3) (one person) or (T, P, {j}, 3) (P people per frame) in metres "
            f"for layout {layout.name} ({j} joints), got {tuple(raw.shape)}"
        )
    T, npeople = P.shape[:2]
    try:
        rate = float(fps)
    except (TypeError, ValueError):
        rate = float("nan")
    if not (math.isfinite(rate) and rate > 0):
        raise InputError(f"fps: expected a finite number of frames per second > 0, got {fps!r}")
    mask = _present(present, T, npeople, single)

    def per_frame(name, A, dims, digits):
        # (T, P, J, dims) -> nested lists with None for absent people; NaN in a present person is an error
        want = (T, j, dims) if single else (T, npeople, j, dims)
        if A.shape != want:
            raise InputError(f"{name}: expected shape {want} in {'metres' if dims == 3 else 'pixels'} "
                             f"(same frames and people as poses), got {tuple(A.shape)}")
        A = A[:, None] if single else A
        bad = ~np.isfinite(A).all(axis=(2, 3)) & mask
        if bad.any():
            t, p = (int(v) for v in np.argwhere(bad)[0])
            who = "" if single else f", person {p}"
            raise InputError(f"{name}: non-finite values (NaN or inf) in {int(bad.sum())} present (frame, person) "
                             f"entries, the first at frame {t}{who}; mark people missing from a frame with present=")
        R = np.round(np.where(mask[:, :, None, None], A, 0.0), digits).tolist()
        return [[R[t][p] if mask[t, p] else None for p in range(npeople)] for t in range(T)]

    pose_list = per_frame("poses", raw, 3, 4)
    kp = None if keypoints_2d is None else per_frame("keypoints_2d", _np(keypoints_2d, "keypoints_2d"), 2, 2)
    if names is None:
        names = [f"#{i}" for i in range(npeople)]
    names = [str(s) for s in names]
    if len(names) != npeople:
        raise InputError(f"names: expected {npeople} names (one per person), got {len(names)}")
    size = _image_size(image_size)
    embedded = None
    if images is not None:
        step, uris, size = _thumbnails(images, T, size, image_px, images_max_bytes, jpeg_quality)
        if step is not None:
            embedded = {"step": step, "uris": uris}
    data = {
        "mode": "sequence",
        "title": str(title),
        "layout": layout.to_json(),
        "fps": rate,
        "names": names,
        "poses": pose_list,
        "keypoints_2d": kp,
        "image_size": size,
        "images": embedded,
    }
    return _write_page(path, data, title)


def _present(present, T: int, npeople: int, single: bool) -> np.ndarray:
    if present is None:
        return np.ones((T, npeople), dtype=bool)
    m = present.detach().cpu().numpy() if hasattr(present, "detach") else np.asarray(present)
    want = (T,) if single else (T, npeople)
    if m.shape != want or m.dtype != np.bool_:
        raise InputError(f"present: expected booleans of shape {want} (True where the person is in the frame), "
                         f"got {m.dtype} {tuple(m.shape)}")
    m = m.reshape(T, npeople)
    if not m.any():
        raise InputError("present: no person is present in any frame (nothing to show)")
    return m


def _open_image(item, i: int, target: int):
    """One input frame as a Pillow image (JPEG files are decoded at a reduced scale) and its full size."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(item, Image.Image):
        return item, item.size
    if isinstance(item, (str, Path)):
        p = Path(item)
        if not p.is_file():
            raise InputError(f"images[{i}]: {p}: no such image file")
        try:
            im = Image.open(p)
            full = im.size
            im.draft("RGB", (target, target))  # JPEG: decode at 1/2, 1/4 or 1/8 scale, still >= target
            im.load()
            return im, full
        except (OSError, UnidentifiedImageError) as e:
            raise InputError(f"images[{i}]: {p}: not an image file Pillow can read ({e})") from None
    a = item.detach().cpu().numpy() if hasattr(item, "detach") else np.asarray(item)
    if a.dtype != np.uint8 or not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))) or 0 in a.shape:
        raise InputError(f"images[{i}]: expected a path, a Pillow image or a uint8 array (H, W), (H, W, 3) RGB or "
                         f"(H, W, 4) RGBA, got {type(item).__name__} {a.dtype} {tuple(a.shape)}")
    return Image.fromarray(a), (a.shape[1], a.shape[0])


def _thumbnails(images, T: int, size, px: int, max_bytes: int, quality: int):
    """JPEG data URIs of every ``step``-th frame, the smallest step that fits ``max_bytes`` -> (step, uris, size)."""
    if isinstance(px, bool) or not isinstance(px, (int, np.integer)) or px < 16:
        raise InputError(f"image_px: expected an integer number of pixels >= 16, got {px!r}")
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)) or max_bytes < 0:
        raise InputError(f"images_max_bytes: expected an integer number of bytes >= 0, got {max_bytes!r}")
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 95:
        raise InputError(f"jpeg_quality: expected an integer from 1 to 95, got {quality!r}")
    if isinstance(images, (str, Path)) or not hasattr(images, "__len__") or len(images) != T:
        got = len(images) if hasattr(images, "__len__") and not isinstance(images, (str, Path)) else repr(images)
        raise InputError(f"images: expected {T} images (one per frame, None where there is none), got {got}")
    uris: list[str | None] = []
    for i, item in enumerate(images):
        if item is None:
            uris.append(None)
            continue
        im, full = _open_image(item, i, px)
        if size is None:
            size = [float(full[0]), float(full[1])]
        elif abs(full[0] - size[0]) > 0.5 or abs(full[1] - size[1]) > 0.5:
            raise InputError(f"images[{i}]: expected an image of {size[0]:g}x{size[1]:g} pixels (image_size, or the "
                             f"first image), got {full[0]}x{full[1]}")
        if im.mode not in ("RGB", "RGBA", "L"):  # palette, CMYK, 16 bit, ...: convert before resampling
            im = im.convert("RGB")
        im = im.copy() if im is item else im  # thumbnail() works in place: leave the caller's image alone
        im.thumbnail((px, px))
        im = im.convert("RGB") if im.mode != "RGB" else im
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=int(quality), optimize=True)
        uris.append(_JPEG_PREFIX + base64.b64encode(buf.getvalue()).decode("ascii"))
    lengths = [0 if u is None else len(u) for u in uris]
    for step in range(1, T + 1):
        if sum(lengths[::step]) <= max_bytes:
            return step, uris[::step], size
    warnings.warn(f"images: one thumbnail ({lengths[0]} bytes of base64) is larger than images_max_bytes="
                  f"{max_bytes}; no image embedded, the viewer draws the keypoints alone", stacklevel=3)
    return None, [], size


def read_viewer_data(path: str | Path) -> dict:
    """Read back the JSON embedded by :func:`write_pose_viewer` or :func:`write_sequence_viewer`.

    Fields: ``mode`` (``"people"`` or ``"sequence"``), ``title``, ``layout`` (``Skeleton.to_json()``),
    ``names`` (one per pose; per person for a sequence), ``poses`` in metres rounded to 1e-4,
    ``keypoints_2d`` in pixels rounded to 1e-2 or null, ``image_size`` ``[W, H]`` or null. People:
    ``poses`` ``(N, J, 3)``, ``keypoints_2d`` ``(N, J, 2)``. Sequences: ``poses`` ``(T, P, J, 3)`` and
    ``keypoints_2d`` ``(T, P, J, 2)`` with null for a person absent from a frame, ``fps``, and ``images``:
    null or ``{"step": k, "uris": [JPEG data URI or null for frames 0, k, 2k, ...]}``.

    Raises:
        InputError: the file is missing or holds no energy3d viewer data.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file (expected an energy3d pose viewer .html)")
    text = p.read_text(encoding="utf-8")
    start_tag = f'<script type="application/json" id="{_DATA_ID}">'
    a = text.find(start_tag)
    b = text.find("</script>", a)
    if a < 0 or b < 0:
        raise InputError(f"{p}: no embedded energy3d viewer data (is it a file written by write_pose_viewer?)")
    return json.loads(text[a + len(start_tag):b])


_TEMPLATE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>%%TITLE%%</title>
<style>
  html, body { margin: 0; height: 100%; background: #fafafa; color: #222;
               font: 13px system-ui, -apple-system, "Segoe UI", sans-serif; overflow: hidden; }
  #bar { position: absolute; top: 0; left: 0; right: 0; padding: 8px 12px; display: flex;
         gap: 12px; align-items: center; flex-wrap: wrap; background: rgba(255,255,255,0.9);
         border-bottom: 1px solid #ddd; z-index: 2; }
  #bar h1 { font-size: 15px; margin: 0 8px 0 0; font-weight: 600; }
  #bar label { display: inline-flex; align-items: center; gap: 4px; }
  #stepper { align-items: center; gap: 4px; }
  #slider { width: 220px; }
  #play { min-width: 5.5em; }
  #name { font-family: ui-monospace, monospace; min-width: 10ch; white-space: pre; }
  #view { position: absolute; top: 0; left: 0; width: 100%; height: 100%; cursor: grab; touch-action: none; }
  #view.dragging { cursor: grabbing; }
  #legend { position: absolute; right: 12px; bottom: 12px; background: rgba(255,255,255,0.9);
            border: 1px solid #ddd; border-radius: 4px; padding: 6px 10px; line-height: 1.6; }
  .sw { display: inline-block; width: 18px; height: 4px; margin-right: 6px; vertical-align: middle; }
  #tip { position: absolute; pointer-events: none; background: #222; color: #fff; padding: 3px 6px;
         border-radius: 3px; font-size: 12px; display: none; white-space: nowrap; z-index: 3; }
  #inset { position: absolute; left: 12px; bottom: 12px; background: #fff; border: 1px solid #ccc; }
  #err { position: absolute; left: 12px; right: 12px; top: 60px; color: #a00; background: #fee;
         border: 1px solid #d99; padding: 6px 10px; display: none; z-index: 4; white-space: pre-wrap; }
  #help { color: #666; }
  button { font: inherit; }
</style>
</head>
<body>
<canvas id="view"></canvas>
<div id="bar">
  <h1>%%TITLE%%</h1>
  <span id="stepper" style="display:none">
    <button id="play" title="play / pause (space)" style="display:none">&#9654; play</button>
    <button id="prev" title="previous (left arrow)">&#9664;</button>
    <input id="slider" type="range" min="0" max="0" value="0">
    <button id="next" title="next (right arrow)">&#9654;</button>
    <span id="name"></span>
  </span>
  <label id="followbox" style="display:none" title="centre the view on the current frame">
    <input id="follow" type="checkbox"> follow</label>
  <button id="reset" title="back to the camera view (key: r)">camera view</button>
  <label><input id="grid" type="checkbox" checked> ground grid</label>
  <label><input id="labels" type="checkbox"> joint names</label>
  <span id="help">drag: rotate &middot; wheel: zoom &middot; hover a joint: its name</span>
</div>
<div id="legend">
  <div><span class="sw" style="background:#1f5fbf"></span>left</div>
  <div><span class="sw" style="background:#d62728"></span>right</div>
  <div><span class="sw" style="background:#404040"></span>centre</div>
  <div id="units" style="color:#666">camera frame, metres</div>
</div>
<canvas id="inset" width="220" height="220" style="display:none"></canvas>
<div id="tip"></div>
<div id="err"></div>
<script type="application/json" id="%%DATA_ID%%">%%DATA%%</script>
<script>
(function () {
  "use strict";
  var body = document.body, errors = [];
  function report(msg) {  // any error is shown on the page and in the body's data-error attribute (for tests)
    errors.push(String(msg));
    body.setAttribute("data-error", errors.join(" | "));
    var e = document.getElementById("err");
    e.textContent = "viewer error: " + errors.join("\n"); e.style.display = "block";
  }
  window.addEventListener("error", function (ev) { report(ev.message || "error"); });
  var consoleError = console.error;
  console.error = function () { report(Array.prototype.join.call(arguments, " ")); consoleError.apply(console, arguments); };
  try { main(); } catch (e) { report(e && e.stack ? e.stack : e); }

  function main() {
  var D = JSON.parse(document.getElementById("%%DATA_ID%%").textContent);
  var SEQ = D.mode === "sequence";
  var L = D.layout, J = L.joints.length;
  // every frame is a list of people (null: absent); a "people" page is N frames of one person
  var F = SEQ ? D.poses : D.poses.map(function (p) { return [p]; });
  var K2 = !D.keypoints_2d ? null : SEQ ? D.keypoints_2d : D.keypoints_2d.map(function (k) { return [k]; });
  var N = F.length;
  var COL = { left: "#1f5fbf", right: "#d62728", centre: "#404040" };
  var side = [];
  for (var j = 0; j < J; j++) side.push(COL.centre);
  L.left.forEach(function (i) { side[i] = COL.left; });
  L.right.forEach(function (i) { side[i] = COL.right; });
  var edges = [];
  L.parents.forEach(function (p, c) { if (p >= 0) edges.push([p, c]); });

  function joints(frames) {  // all joints of the present people of some frames
    var out = [];
    frames.forEach(function (fr) { fr.forEach(function (P) { if (P) P.forEach(function (q) { out.push(q); }); }); });
    return out;
  }
  function middle(Q) {  // bounding-box middle
    var lo = [1e9, 1e9, 1e9], hi = [-1e9, -1e9, -1e9];
    Q.forEach(function (q) { for (var k = 0; k < 3; k++) { lo[k] = Math.min(lo[k], q[k]); hi[k] = Math.max(hi[k], q[k]); } });
    return Q.length ? [(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, (lo[2] + hi[2]) / 2] : null;
  }
  function reach(Q, c) {
    var r = 0.05;
    Q.forEach(function (q) { r = Math.max(r, Math.hypot(q[0] - c[0], q[1] - c[1], q[2] - c[2])); });
    return r;
  }
  // the whole motion's centre and radius, and per frame ones with one radius so the scale is stable
  var all = joints(F), whole = { c: middle(all), r: 0, floor: -1e9 };
  whole.r = reach(all, whole.c);
  all.forEach(function (q) { whole.floor = Math.max(whole.floor, q[1]); });
  var centres = [], frameRadius = 0.05, last = whole.c;
  F.forEach(function (fr) {
    var Q = joints([fr]), c = middle(Q) || last;
    centres.push(c); last = c; frameRadius = Math.max(frameRadius, reach(Q, c));
  });

  var S = { idx: 0, yaw: 0, pitch: 0, zoom: 1, grid: true, labels: false, follow: !SEQ, drag: null, hover: -1, drawn: 0 };
  var cv = document.getElementById("view"), ctx = cv.getContext("2d");
  var proj = [];  // screen positions of the shown joints: [x, y, depth, person, joint]

  function transform(q, c) {
    // camera frame -> view frame: rotate about the centre c (yaw about -y, then pitch about x)
    var x = q[0] - c[0], y = q[1] - c[1], z = q[2] - c[2];
    var cy = Math.cos(S.yaw), sy = Math.sin(S.yaw), cp = Math.cos(S.pitch), sp = Math.sin(S.pitch);
    var x1 = cy * x - sy * z, z1 = sy * x + cy * z;
    var y2 = cp * y - sp * z1, z2 = sp * y + cp * z1;
    return [x1, y2, z2];
  }
  function project(v, dist, f, w, h) {
    var d = dist + v[2];
    if (d < 1e-3) return null;
    return [w / 2 + f * v[0] / d, h / 2 + f * v[1] / d, d];
  }

  function draw() {
    var dpr = window.devicePixelRatio || 1;
    var w = cv.clientWidth, h = cv.clientHeight;
    if (cv.width !== Math.round(w * dpr) || cv.height !== Math.round(h * dpr)) {
      cv.width = Math.round(w * dpr); cv.height = Math.round(h * dpr);
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    var fr = F[S.idx], c = S.follow ? centres[S.idx] : whole.c, radius = S.follow ? frameRadius : whole.r;
    // the real camera when the scene is in front of it, else a virtual one 3 radii away
    var dist = Math.max(c[2], 3 * radius);
    var f = S.zoom * 0.38 * Math.min(w, h) * dist / radius;
    var top = document.getElementById("bar").offsetHeight;
    var hh = h + top;  // centre the figure below the toolbar

    if (S.grid) {
      var floor = S.follow ? Math.max.apply(null, joints([fr]).map(function (q) { return q[1]; }).concat([-1e9]))
                           : whole.floor;
      floor = floor > -1e8 ? floor - c[1] : radius;
      var step = radius > 2 ? 1 : (radius > 0.6 ? 0.25 : 0.1), ext = Math.ceil(1.6 * radius / step) * step;
      ctx.strokeStyle = "rgba(0,0,0,0.12)"; ctx.lineWidth = 1;
      for (var g = -ext; g <= ext + 1e-9; g += step) {
        [[[g, floor, -ext], [g, floor, ext]], [[-ext, floor, g], [ext, floor, g]]].forEach(function (seg) {
          var a = project(transform([seg[0][0] + c[0], seg[0][1] + c[1], seg[0][2] + c[2]], c), dist, f, w, hh);
          var b = project(transform([seg[1][0] + c[0], seg[1][1] + c[1], seg[1][2] + c[2]], c), dist, f, w, hh);
          if (a && b) { ctx.beginPath(); ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); ctx.stroke(); }
        });
      }
    }

    proj = [];
    var bones = [];
    fr.forEach(function (P, p) {
      if (!P) return;
      var at = P.map(function (q, i) { var s = project(transform(q, c), dist, f, w, hh); if (s) proj.push([s[0], s[1], s[2], p, i]); return s; });
      edges.forEach(function (e) { if (at[e[0]] && at[e[1]]) bones.push([at[e[0]], at[e[1]], e[1]]); });
    });
    bones.sort(function (b1, b2) { return (b2[0][2] + b2[1][2]) - (b1[0][2] + b1[1][2]); });  // far bones first
    ctx.lineCap = "round";
    bones.forEach(function (b) {
      ctx.strokeStyle = side[b[2]];
      ctx.lineWidth = Math.max(1.5, Math.min(8, 4 * dist / ((b[0][2] + b[1][2]) / 2)));
      ctx.beginPath(); ctx.moveTo(b[0][0], b[0][1]); ctx.lineTo(b[1][0], b[1][1]); ctx.stroke();
    });
    proj.forEach(function (a, k) {
      ctx.fillStyle = side[a[4]];
      ctx.beginPath(); ctx.arc(a[0], a[1], k === S.hover ? 6 : 3.5, 0, 2 * Math.PI); ctx.fill();
      if (S.labels) {
        ctx.fillStyle = "#333"; ctx.font = "11px sans-serif";
        ctx.fillText(L.joints[a[4]], a[0] + 6, a[1] - 4);
      }
    });
    drawAxes(w, top);
    drawInset();
    S.drawn += 1;
    body.setAttribute("data-frames-drawn", S.drawn);
    body.setAttribute("data-frame", S.idx);
    body.setAttribute("data-ready", "1");
  }

  function drawAxes(w, top) {  // small triad, top right: camera x (right), y (down), z (forward)
    var ox = w - 50, oy = top + 50, n = [[1, 0, 0, "x"], [0, 1, 0, "y"], [0, 0, 1, "z"]];
    ctx.lineWidth = 2; ctx.font = "11px sans-serif";
    n.forEach(function (a) {
      var v = transform([a[0], a[1], a[2]], [0, 0, 0]);
      var ex = ox + 28 * v[0], ey = oy + 28 * v[1];
      ctx.strokeStyle = "#888"; ctx.fillStyle = "#555";
      ctx.beginPath(); ctx.moveTo(ox, oy); ctx.lineTo(ex, ey); ctx.stroke();
      ctx.fillText(a[3], ex + 3, ey + 3);
    });
  }

  // ---- the 2D inset: input frame (when embedded) under the keypoints, one fixed box for all frames
  var inset = document.getElementById("inset"), IM = D.images, pics = [];
  var box = { lo: [1e9, 1e9], hi: [-1e9, -1e9] };
  if (K2) K2.forEach(function (fr) { fr.forEach(function (K) { if (K) K.forEach(function (q) {
    for (var k = 0; k < 2; k++) { box.lo[k] = Math.min(box.lo[k], q[k]); box.hi[k] = Math.max(box.hi[k], q[k]); }
  }); }); });
  if (D.image_size) {
    box.lo = [Math.min(box.lo[0], 0), Math.min(box.lo[1], 0)];
    box.hi = [Math.max(box.hi[0], D.image_size[0]), Math.max(box.hi[1], D.image_size[1])];
  }
  var showInset = !!(K2 || (IM && D.image_size)) && box.hi[0] > box.lo[0];
  if (showInset && SEQ) {  // up to 320 x 240, the aspect of the box
    var bw = box.hi[0] - box.lo[0], bh = Math.max(box.hi[1] - box.lo[1], 1), iw = Math.min(320, 240 * bw / bh);
    inset.width = Math.round(iw / 0.94); inset.height = Math.round(iw * bh / bw / 0.94);
  }
  if (IM) IM.uris.forEach(function (u, i) {
    if (!u) { pics.push(null); return; }
    var im = new Image();
    im.onload = function () { if (Math.floor(S.idx / IM.step) === i) drawInset(); };
    im.src = u; pics.push(im);
  });
  function drawInset() {
    if (!showInset) return;
    var g = inset.getContext("2d"), W = inset.width, H = inset.height, lo = box.lo, hi = box.hi;
    g.clearRect(0, 0, W, H);
    var s = 0.94 * Math.min(W / Math.max(hi[0] - lo[0], 1), H / Math.max(hi[1] - lo[1], 1));
    var ox = (W - s * (hi[0] - lo[0])) / 2 - s * lo[0], oy = (H - s * (hi[1] - lo[1])) / 2 - s * lo[1];
    var pic = IM ? pics[Math.floor(S.idx / IM.step)] : null;
    if (pic && pic.complete && pic.naturalWidth) g.drawImage(pic, ox, oy, s * D.image_size[0], s * D.image_size[1]);
    if (D.image_size) {
      g.strokeStyle = "#bbb"; g.lineWidth = 1;
      g.strokeRect(ox, oy, s * D.image_size[0], s * D.image_size[1]);
    }
    g.lineCap = "round";
    if (K2) K2[S.idx].forEach(function (K) {
      if (!K) return;
      (pic ? [4, 2] : [2]).forEach(function (lw) {  // over a photo: a light halo first
        g.lineWidth = lw;
        edges.forEach(function (e) {
          var a = K[e[0]], b = K[e[1]];
          g.strokeStyle = lw > 2 ? "rgba(255,255,255,0.7)" : side[e[1]];
          g.beginPath(); g.moveTo(ox + s * a[0], oy + s * a[1]); g.lineTo(ox + s * b[0], oy + s * b[1]); g.stroke();
        });
      });
    });
    g.font = "11px sans-serif";
    var text = pic ? "input frame " + Math.floor(S.idx / IM.step) * IM.step + (K2 ? " + 2D keypoints" : "")
                   : "input 2D (pixels)";
    g.fillStyle = "rgba(255,255,255,0.75)"; g.fillRect(0, 0, g.measureText(text).width + 12, 20);
    g.fillStyle = "#444"; g.fillText(text, 6, 14);
  }

  // ---- interaction
  cv.addEventListener("pointerdown", function (ev) {
    S.drag = [ev.clientX, ev.clientY, S.yaw, S.pitch];
    cv.setPointerCapture(ev.pointerId); cv.classList.add("dragging");
  });
  cv.addEventListener("pointerup", function (ev) {
    S.drag = null; cv.releasePointerCapture(ev.pointerId); cv.classList.remove("dragging");
  });
  var tip = document.getElementById("tip");
  cv.addEventListener("pointermove", function (ev) {
    if (S.drag) {
      S.yaw = S.drag[2] + 0.01 * (ev.clientX - S.drag[0]);
      S.pitch = Math.max(-1.55, Math.min(1.55, S.drag[3] + 0.01 * (ev.clientY - S.drag[1])));
      tip.style.display = "none"; draw(); return;
    }
    var r = cv.getBoundingClientRect(), mx = ev.clientX - r.left, my = ev.clientY - r.top, best = -1, bd = 100;
    proj.forEach(function (a, k) {
      var d = (a[0] - mx) * (a[0] - mx) + (a[1] - my) * (a[1] - my);
      if (d < bd) { bd = d; best = k; }
    });
    if (best !== S.hover) { S.hover = best; draw(); }
    if (best >= 0) {
      var a = proj[best], q = F[S.idx][a[3]][a[4]];
      tip.textContent = (SEQ && D.names.length > 1 ? D.names[a[3]] + " " : "") + L.joints[a[4]] + "  (" +
        q.map(function (v) { return v.toFixed(3); }).join(", ") + ") m";
      tip.style.left = (mx + 14) + "px"; tip.style.top = (my + 10) + "px"; tip.style.display = "block";
    } else tip.style.display = "none";
  });
  cv.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    S.zoom = Math.max(0.1, Math.min(20, S.zoom * Math.exp(-0.0015 * ev.deltaY)));
    draw();
  }, { passive: false });

  var slider = document.getElementById("slider"), label = document.getElementById("name");
  var digits = String(N - 1).length;
  function select(i, byPlayer) {
    S.idx = Math.max(0, Math.min(N - 1, i)); slider.value = S.idx;
    if (SEQ) {
      var n = String(S.idx); while (n.length < digits) n = " " + n;
      label.textContent = "frame " + n + "/" + (N - 1) + "  t = " + (S.idx / D.fps).toFixed(2) + " s";
    } else label.textContent = D.names[S.idx] + "  (" + (S.idx + 1) + "/" + N + ")";
    if (play.on && !byPlayer) { play.f0 = S.idx; play.t0 = performance.now(); }
    S.hover = -1; tip.style.display = "none"; draw();
  }

  // ---- playback: the frame follows the clock (frames are skipped if drawing is slow), looping
  var play = { on: false, f0: 0, t0: 0, timer: null }, playBtn = document.getElementById("play");
  function tick() {
    if (!play.on) return;
    var i = (play.f0 + Math.floor((performance.now() - play.t0) * D.fps / 1000)) % N;
    if (i !== S.idx) select(i, true);
    play.timer = setTimeout(tick, Math.max(4, 500 / D.fps));
  }
  function setPlaying(on) {
    play.on = on && N > 1; clearTimeout(play.timer);
    playBtn.innerHTML = play.on ? "&#10074;&#10074; pause" : "&#9654; play";
    body.setAttribute("data-playing", play.on ? "1" : "0");
    if (play.on) { play.f0 = S.idx === N - 1 ? 0 : S.idx; play.t0 = performance.now(); tick(); }
  }

  if (N > 1) {
    document.getElementById("stepper").style.display = "inline-flex";
    slider.max = N - 1;
    slider.addEventListener("input", function () { select(parseInt(slider.value, 10)); });
    document.getElementById("prev").addEventListener("click", function () { select(S.idx - 1); });
    document.getElementById("next").addEventListener("click", function () { select(S.idx + 1); });
  }
  if (SEQ) {
    playBtn.style.display = "inline-block";
    playBtn.addEventListener("click", function () { setPlaying(!play.on); });
    document.getElementById("followbox").style.display = "inline-flex";
    document.getElementById("follow").addEventListener("change", function (ev) { S.follow = ev.target.checked; draw(); });
  }
  window.addEventListener("keydown", function (ev) {
    if (ev.target === slider && (ev.key === "ArrowLeft" || ev.key === "ArrowRight")) return;  // the slider steps itself
    if (ev.key === "ArrowLeft") select(S.idx - 1);
    else if (ev.key === "ArrowRight") select(S.idx + 1);
    else if (ev.key === " " && SEQ && !/^(BUTTON|SELECT)$/.test(ev.target.tagName) &&
             !(ev.target.tagName === "INPUT" && ev.target.type !== "range")) {  // a focused button keeps its space
      ev.preventDefault(); setPlaying(!play.on);
    }
    else if (ev.key === "r") reset();
  });
  function reset() { S.yaw = 0; S.pitch = 0; S.zoom = 1; draw(); }
  document.getElementById("reset").addEventListener("click", reset);
  document.getElementById("grid").addEventListener("change", function (ev) { S.grid = ev.target.checked; draw(); });
  document.getElementById("labels").addEventListener("change", function (ev) { S.labels = ev.target.checked; draw(); });
  if (showInset) inset.style.display = "block";
  window.addEventListener("resize", draw);
  select(0);
  setPlaying(SEQ && window.location.hash === "#autoplay");
  }
})();
</script>
</body>
</html>
"""
