"""The HTML viewer in a real browser: headless Chromium loads the file, runs its JavaScript and draws.

Chromium is run as a plain subprocess (no driver, no extra Python package), twice per page:

- ``--dump-dom`` after ``--virtual-time-budget`` ms of page time: the DOM then shows the attributes the page
  sets on ``<body>``: ``data-ready`` after its first drawing, ``data-frame``, ``data-frames-drawn``,
  ``data-playing`` and ``data-error`` (the page records ``window`` errors and ``console.error``); the
  browser's log on stderr (``--enable-logging=stderr``) must hold no uncaught error either;
- ``--screenshot``: a PNG measured with Pillow (bone colours in the 3D area, the input frame in the inset).

Loaded with ``#autoplay`` a sequence plays; virtual time makes it deterministic and fast (no real waiting).
``make test`` installs Chromium where it can (see the Makefile); without a browser these tests skip.
"""

import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from energy3d.viz.html import write_pose_viewer, write_sequence_viewer
from viewer_helpers import frames, motion, project

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
W, H = 1000, 700
LEFT, RIGHT = (0x1F, 0x5F, 0xBF), (0xD6, 0x27, 0x28)  # bone colours of the viewer


def _find_browser():
    """A Chromium that starts (``$ENERGY3D_BROWSER`` first), or the reason there is none."""
    cands = [os.environ["ENERGY3D_BROWSER"]] if os.environ.get("ENERGY3D_BROWSER") else []
    cands += [p for p in (shutil.which(n) for n in NAMES) if p]
    if not cands:
        return None, f"no headless browser found (none of {', '.join(NAMES)} on PATH; `make test` installs chromium " \
                     "with apt-get when run as root)"
    for exe in cands:
        try:
            res = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as e:
            why = str(e)
            continue
        if res.returncode == 0 and "chrom" in res.stdout.lower():
            return exe, ""
        why = (res.stdout + res.stderr).strip()[:200]
    return None, f"{cands[0]} is not a working Chromium (--version gave: {why})"


BROWSER, WHY = _find_browser()
pytestmark = pytest.mark.skipif(BROWSER is None, reason=WHY)


def _chromium(tmp_path, url, *args, budget_ms=1500):
    cmd = [BROWSER, "--headless=new", "--disable-gpu", "--no-sandbox", "--no-first-run", "--no-default-browser-check",
           "--disable-extensions", "--disable-dev-shm-usage", "--mute-audio", "--hide-scrollbars",
           "--force-device-scale-factor=1", f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={W},{H}",
           "--enable-logging=stderr", "--v=0", f"--virtual-time-budget={budget_ms}", *args, url]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert res.returncode == 0, f"{' '.join(cmd)}\nexit {res.returncode}\n{res.stderr[-3000:]}"
    return res


def _page_state(tmp_path, html, hash_="", budget_ms=1500):
    """The ``<body>`` attributes after ``budget_ms`` of page time, and the console lines of the browser log."""
    res = _chromium(tmp_path, html.as_uri() + hash_, "--dump-dom", budget_ms=budget_ms)
    tag = re.search(r"<body([^>]*)>", res.stdout)
    assert tag, res.stdout[:2000]
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', tag.group(1)))
    console = [ln for ln in res.stderr.splitlines() if "CONSOLE" in ln]
    return attrs, console


def _screenshot(tmp_path, html, hash_="", name="shot.png", budget_ms=1500):
    png = tmp_path / name
    _chromium(tmp_path, html.as_uri() + hash_, f"--screenshot={png}", budget_ms=budget_ms)
    assert png.is_file()
    img = np.asarray(Image.open(png).convert("RGB")).astype(int)
    assert img.shape == (H, W, 3)
    return img


def _near(img, rgb, tol=40):
    return (np.abs(img - np.asarray(rgb)).sum(axis=-1) < tol)


def _no_errors(attrs, console):
    assert "data-error" not in attrs, attrs.get("data-error")
    assert not [ln for ln in console if "Uncaught" in ln or "Error" in ln], console


@pytest.fixture(scope="module")
def sequence_page(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("seq")
    T = 30
    poses = motion(T, people=2)
    present = np.ones((T, 2), bool)
    present[20:, 1] = False  # the second person leaves
    poses[20:, 1] = np.nan
    kp = project(poses)
    return write_sequence_viewer(tmp / "walk.html", poses, "h36m17", fps=10, names=["walker", "stepper"],
                                 keypoints_2d=kp, present=present, images=frames(T), title="walk")


def test_sequence_plays_in_the_browser(tmp_path, sequence_page):
    attrs, console = _page_state(tmp_path, sequence_page)  # no #autoplay: stays on frame 0
    _no_errors(attrs, console)
    assert attrs.get("data-ready") == "1" and attrs.get("data-frame") == "0" and attrs.get("data-playing") == "0"

    attrs, console = _page_state(tmp_path, sequence_page, "#autoplay", budget_ms=1500)
    _no_errors(attrs, console)
    assert attrs.get("data-ready") == "1" and attrs.get("data-playing") == "1"
    # 1.5 s of page time at 10 fps: about frame 15 (the frame follows the clock), drawn frame after frame
    assert 5 <= int(attrs["data-frame"]) <= 29, attrs
    assert int(attrs["data-frames-drawn"]) >= 5, attrs


def test_sequence_screenshot_is_drawn(tmp_path, sequence_page):
    img = _screenshot(tmp_path, sequence_page, "#autoplay", name="sequence.png", budget_ms=800)
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 200  # not a blank page
    # the 3D view (below the toolbar, right of the inset, left of the legend): both sides' bones drawn
    view = img[90:H - 130, 300:W - 190]
    assert _near(view, LEFT).sum() > 500 and _near(view, RIGHT).sum() > 500
    # the inset (bottom left): the embedded input frame (its green square and red ramp) under the keypoints
    inset = img[H - 300:, :300]
    assert _near(inset, (0, 200, 0), tol=60).sum() > 1000
    assert ((inset[..., 0] > 120) & (inset[..., 1] < 60) & (inset[..., 2] > 60)).sum() > 1000


def test_people_viewer_in_the_browser(tmp_path):
    poses = motion(3, people=2)[0]  # two people of one image
    page = write_pose_viewer(tmp_path / "people.html", poses, "h36m17", names=["img#0", "img#1"],
                             keypoints_2d=project(poses), image_size=(1000, 1000))
    attrs, console = _page_state(tmp_path, page, "#autoplay")  # not a sequence: nothing plays
    _no_errors(attrs, console)
    assert attrs.get("data-ready") == "1" and attrs.get("data-frame") == "0" and attrs.get("data-playing") == "0"
    img = _screenshot(tmp_path, page, name="people.png")
    view = img[90:H - 130, 300:W - 190]
    assert _near(view, LEFT).sum() > 300 and _near(view, RIGHT).sum() > 300


def test_the_check_sees_javascript_errors(tmp_path):
    """The harness itself: an error thrown later by the page and a page whose data are broken are both caught."""
    page = write_sequence_viewer(tmp_path / "v.html", motion(4)[:, 0], "h36m17", fps=10)
    text = page.read_text(encoding="utf-8")
    late = tmp_path / "late.html"
    late.write_text(text.replace("</body>", "<script>setTimeout(function () { null.x; }, 100);</script></body>"))
    attrs, console = _page_state(tmp_path, late)
    assert attrs.get("data-ready") == "1" and "null" in attrs.get("data-error", ""), attrs
    assert any("Uncaught" in ln for ln in console), console
    broken = tmp_path / "broken.html"
    broken.write_text(text.replace('"poses":[[[[', '"poses":[[[[[', 1))
    attrs, _ = _page_state(tmp_path, broken)
    assert "data-ready" not in attrs and attrs.get("data-error"), attrs
