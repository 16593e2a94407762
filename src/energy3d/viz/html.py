"""A self-contained HTML viewer for 3D poses (one file, no network).

:func:`write_pose_viewer` writes a single ``.html`` file with inline CSS and JavaScript that draws
the skeleton on a ``<canvas>``: drag to rotate (yaw about the vertical axis, pitch about the
horizontal), mouse wheel to zoom, a slider (and the arrow keys) to step through people or frames,
bones coloured by side (left blue, right red, centre grey), an optional ground grid, joint names
on hover (with their camera-frame coordinates in metres) and an optional inset with the 2D input.
The file loads nothing from anywhere: it contains no ``http://`` or ``https://`` address and no
``<script src>``, so it works offline and can be attached to a report.

The initial view is the camera's: the pose is drawn with a pinhole projection from the camera
centre along ``+z`` (x right, y down on screen), so it overlays the 2D input up to focal length and
principal point. Rotations turn the viewpoint about the centre of the current pose.

The data are embedded as JSON in a ``<script type="application/json" id="energy3d-data">`` element:
``{"title", "layout": Skeleton.to_json(), "names", "poses" (N, J, 3) metres rounded to 1e-4,
"keypoints_2d" (N, J, 2) pixels rounded to 1e-2 or null, "image_size" [W, H] or null}``.
``<``, ``>``, ``&`` and ``/`` are written as JSON escapes so that no user string can end the element.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Sequence

import numpy as np

from energy3d.errors import InputError
from energy3d.skeleton.layouts import Skeleton, get_layout
from energy3d.viz.skeleton import _np

__all__ = ["write_pose_viewer", "read_viewer_data"]

_DATA_ID = "energy3d-data"


def _json_for_script(data) -> str:
    text = json.dumps(data, separators=(",", ":"), allow_nan=False, ensure_ascii=True)
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("/", "\\/"))


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
    """Write a self-contained interactive 3D skeleton viewer as one HTML file.

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
    size = None
    if image_size is not None:
        s = _np(image_size, "image_size").ravel()
        if s.shape != (2,) or not np.isfinite(s).all() or (s <= 0).any():
            raise InputError(f"image_size: expected (W, H) in pixels, both > 0, got {np.asarray(image_size).tolist()}")
        size = [float(s[0]), float(s[1])]
    data = {
        "title": str(title),
        "layout": layout.to_json(),
        "names": names,
        "poses": np.round(P, 4).tolist(),
        "keypoints_2d": kp,
        "image_size": size,
    }
    page = (_TEMPLATE
            .replace("%%TITLE%%", html.escape(str(title)).replace("/", "&#47;"))
            .replace("%%DATA_ID%%", _DATA_ID)
            .replace("%%DATA%%", _json_for_script(data)))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def read_viewer_data(path: str | Path) -> dict:
    """Read back the JSON embedded by :func:`write_pose_viewer` (for tests and tools).

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
  #slider { width: 220px; }
  #name { font-family: ui-monospace, monospace; min-width: 10ch; }
  #view { position: absolute; top: 0; left: 0; width: 100%; height: 100%; cursor: grab; touch-action: none; }
  #view.dragging { cursor: grabbing; }
  #legend { position: absolute; right: 12px; bottom: 12px; background: rgba(255,255,255,0.9);
            border: 1px solid #ddd; border-radius: 4px; padding: 6px 10px; line-height: 1.6; }
  .sw { display: inline-block; width: 18px; height: 4px; margin-right: 6px; vertical-align: middle; }
  #tip { position: absolute; pointer-events: none; background: #222; color: #fff; padding: 3px 6px;
         border-radius: 3px; font-size: 12px; display: none; white-space: nowrap; z-index: 3; }
  #inset { position: absolute; left: 12px; bottom: 12px; background: #fff; border: 1px solid #ccc; }
  #help { color: #666; }
  button { font: inherit; }
</style>
</head>
<body>
<canvas id="view"></canvas>
<div id="bar">
  <h1>%%TITLE%%</h1>
  <span id="stepper" style="display:none">
    <button id="prev" title="previous (left arrow)">&#9664;</button>
    <input id="slider" type="range" min="0" max="0" value="0">
    <button id="next" title="next (right arrow)">&#9654;</button>
    <span id="name"></span>
  </span>
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
<script type="application/json" id="%%DATA_ID%%">%%DATA%%</script>
<script>
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("%%DATA_ID%%").textContent);
  var L = D.layout, J = L.joints.length, N = D.poses.length;
  var COL = { left: "#1f5fbf", right: "#d62728", centre: "#404040" };
  var side = [];
  for (var j = 0; j < J; j++) side.push(COL.centre);
  L.left.forEach(function (i) { side[i] = COL.left; });
  L.right.forEach(function (i) { side[i] = COL.right; });
  var edges = [];
  L.parents.forEach(function (p, c) { if (p >= 0) edges.push([p, c]); });

  // per-pose centre (bounding-box middle) and one global radius so the scale is stable
  var centres = [], radius = 0.05;
  D.poses.forEach(function (P) {
    var lo = [1e9, 1e9, 1e9], hi = [-1e9, -1e9, -1e9];
    P.forEach(function (q) { for (var k = 0; k < 3; k++) { lo[k] = Math.min(lo[k], q[k]); hi[k] = Math.max(hi[k], q[k]); } });
    var c = [(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, (lo[2] + hi[2]) / 2];
    centres.push(c);
    P.forEach(function (q) {
      radius = Math.max(radius, Math.hypot(q[0] - c[0], q[1] - c[1], q[2] - c[2]));
    });
  });

  var S = { idx: 0, yaw: 0, pitch: 0, zoom: 1, grid: true, labels: false, drag: null, hover: -1 };
  var cv = document.getElementById("view"), ctx = cv.getContext("2d");
  var proj = [];  // screen positions of the current pose's joints

  function viewerDistance(c) {
    // the real camera when the pose is in front of it, else a virtual one 3 radii away
    return Math.max(c[2], 3 * radius);
  }
  function transform(q, c) {
    // camera frame -> view frame: rotate about the pose centre (yaw about -y, then pitch about x)
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
    var P = D.poses[S.idx], c = centres[S.idx], dist = viewerDistance(c);
    var f = S.zoom * 0.38 * Math.min(w, h) * dist / radius;
    var top = document.getElementById("bar").offsetHeight;
    var hh = h + top;  // centre the figure below the toolbar

    if (S.grid) {
      var floor = -1e9;
      P.forEach(function (q) { floor = Math.max(floor, q[1] - c[1]); });
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

    proj = P.map(function (q) { return project(transform(q, c), dist, f, w, hh); });
    var order = edges.slice().sort(function (e1, e2) {  // far bones first
      var d1 = (proj[e1[0]] ? proj[e1[0]][2] : 0) + (proj[e1[1]] ? proj[e1[1]][2] : 0);
      var d2 = (proj[e2[0]] ? proj[e2[0]][2] : 0) + (proj[e2[1]] ? proj[e2[1]][2] : 0);
      return d2 - d1;
    });
    ctx.lineCap = "round";
    order.forEach(function (e) {
      var a = proj[e[0]], b = proj[e[1]];
      if (!a || !b) return;
      ctx.strokeStyle = side[e[1]];
      ctx.lineWidth = Math.max(1.5, Math.min(8, 4 * dist / ((a[2] + b[2]) / 2)));
      ctx.beginPath(); ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); ctx.stroke();
    });
    proj.forEach(function (a, i) {
      if (!a) return;
      ctx.fillStyle = side[i];
      ctx.beginPath(); ctx.arc(a[0], a[1], i === S.hover ? 6 : 3.5, 0, 2 * Math.PI); ctx.fill();
      if (S.labels) {
        ctx.fillStyle = "#333"; ctx.font = "11px sans-serif";
        ctx.fillText(L.joints[i], a[0] + 6, a[1] - 4);
      }
    });
    drawAxes(w, top);
    drawInset();
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

  var inset = document.getElementById("inset");
  function drawInset() {
    if (!D.keypoints_2d) return;
    var g = inset.getContext("2d"), K = D.keypoints_2d[S.idx], W = inset.width, H = inset.height;
    g.clearRect(0, 0, W, H);
    var lo = [1e9, 1e9], hi = [-1e9, -1e9];
    K.forEach(function (q) { for (var k = 0; k < 2; k++) { lo[k] = Math.min(lo[k], q[k]); hi[k] = Math.max(hi[k], q[k]); } });
    if (D.image_size) { lo = [Math.min(lo[0], 0), Math.min(lo[1], 0)]; hi = [Math.max(hi[0], D.image_size[0]), Math.max(hi[1], D.image_size[1])]; }
    var s = 0.9 * Math.min(W / Math.max(hi[0] - lo[0], 1), H / Math.max(hi[1] - lo[1], 1));
    var ox = (W - s * (hi[0] - lo[0])) / 2 - s * lo[0], oy = (H - s * (hi[1] - lo[1])) / 2 - s * lo[1];
    if (D.image_size) {
      g.strokeStyle = "#bbb"; g.lineWidth = 1;
      g.strokeRect(ox, oy, s * D.image_size[0], s * D.image_size[1]);
    }
    g.lineWidth = 2; g.lineCap = "round";
    edges.forEach(function (e) {
      var a = K[e[0]], b = K[e[1]];
      g.strokeStyle = side[e[1]];
      g.beginPath(); g.moveTo(ox + s * a[0], oy + s * a[1]); g.lineTo(ox + s * b[0], oy + s * b[1]); g.stroke();
    });
    g.fillStyle = "#666"; g.font = "11px sans-serif"; g.fillText("input 2D (pixels)", 6, 14);
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
    proj.forEach(function (a, i) {
      if (!a) return;
      var d = (a[0] - mx) * (a[0] - mx) + (a[1] - my) * (a[1] - my);
      if (d < bd) { bd = d; best = i; }
    });
    if (best !== S.hover) { S.hover = best; draw(); }
    if (best >= 0) {
      var q = D.poses[S.idx][best];
      tip.textContent = L.joints[best] + "  (" + q.map(function (v) { return v.toFixed(3); }).join(", ") + ") m";
      tip.style.left = (mx + 14) + "px"; tip.style.top = (my + 10) + "px"; tip.style.display = "block";
    } else tip.style.display = "none";
  });
  cv.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    S.zoom = Math.max(0.1, Math.min(20, S.zoom * Math.exp(-0.0015 * ev.deltaY)));
    draw();
  }, { passive: false });

  var slider = document.getElementById("slider"), label = document.getElementById("name");
  function select(i) {
    S.idx = Math.max(0, Math.min(N - 1, i)); slider.value = S.idx;
    label.textContent = D.names[S.idx] + "  (" + (S.idx + 1) + "/" + N + ")";
    S.hover = -1; tip.style.display = "none"; draw();
  }
  if (N > 1) {
    document.getElementById("stepper").style.display = "inline-flex";
    slider.max = N - 1;
    slider.addEventListener("input", function () { select(parseInt(slider.value, 10)); });
    document.getElementById("prev").addEventListener("click", function () { select(S.idx - 1); });
    document.getElementById("next").addEventListener("click", function () { select(S.idx + 1); });
  }
  window.addEventListener("keydown", function (ev) {
    if (ev.key === "ArrowLeft") select(S.idx - 1);
    else if (ev.key === "ArrowRight") select(S.idx + 1);
    else if (ev.key === "r") reset();
  });
  function reset() { S.yaw = 0; S.pitch = 0; S.zoom = 1; draw(); }
  document.getElementById("reset").addEventListener("click", reset);
  document.getElementById("grid").addEventListener("change", function (ev) { S.grid = ev.target.checked; draw(); });
  document.getElementById("labels").addEventListener("change", function (ev) { S.labels = ev.target.checked; draw(); });
  if (D.keypoints_2d) inset.style.display = "block";
  window.addEventListener("resize", draw);
  select(0);
})();
</script>
</body>
</html>
"""
