"""The sequence player of the HTML viewer (write_sequence_viewer): data embedding, thumbnails, bad input."""

import base64
import io
import re
import shutil
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image

from energy3d.errors import InputError
from energy3d.skeleton import H36M17
from energy3d.viz.html import read_viewer_data, write_pose_viewer, write_sequence_viewer
from viewer_helpers import frames, motion, project

PREFIX = "data:image/jpeg;base64,"


def _decode(uri):
    assert uri.startswith(PREFIX)
    im = Image.open(io.BytesIO(base64.b64decode(uri[len(PREFIX):])))
    assert im.format == "JPEG"
    return im


def test_one_person_roundtrip(tmp_path):
    walk = motion(12)[:, 0]  # (T, J, 3)
    kp = project(walk)
    out = write_sequence_viewer(tmp_path / "a" / "walk.html", torch.tensor(walk), "h36m17", fps=25,
                                keypoints_2d=kp, title="walk </script> https://x")
    text = out.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text and "<script src" not in text.lower()
    assert text.count("</script>") == 2
    d = read_viewer_data(out)
    assert d["mode"] == "sequence" and d["fps"] == 25.0 and d["names"] == ["#0"] and d["images"] is None
    assert d["layout"]["joints"] == list(H36M17.joints) and d["image_size"] is None
    got = np.asarray(d["poses"])
    assert got.shape == (12, 1, 17, 3) and np.abs(got[:, 0] - walk).max() <= 5e-5 + 1e-9
    assert np.abs(np.asarray(d["keypoints_2d"])[:, 0] - kp).max() <= 0.005 + 1e-9


def test_people_per_frame_and_absent_people(tmp_path):
    poses = motion(10, people=2)
    present = np.ones((10, 2), bool)
    present[6:, 1] = False
    poses[6:, 1] = np.nan  # values of absent people are ignored
    kp = project(poses)
    out = write_sequence_viewer(tmp_path / "two.html", poses, H36M17, fps=12.5, names=["alice", "bob </b>"],
                                keypoints_2d=kp, present=present, image_size=(1000, 1000))
    d = read_viewer_data(out)
    assert d["names"] == ["alice", "bob </b>"] and d["image_size"] == [1000.0, 1000.0] and d["fps"] == 12.5
    assert len(d["poses"]) == 10 and all(len(fr) == 2 for fr in d["poses"])
    assert [fr[1] is None for fr in d["poses"]] == [False] * 6 + [True] * 4
    assert [fr[1] is None for fr in d["keypoints_2d"]] == [False] * 6 + [True] * 4
    assert np.allclose(np.asarray([fr[1] for fr in d["poses"][:6]]), poses[:6, 1], atol=1e-4)
    assert np.allclose(np.asarray([fr[0] for fr in d["poses"]]), poses[:, 0], atol=1e-4)


def test_the_people_viewer_says_its_mode(tmp_path):
    d = read_viewer_data(write_pose_viewer(tmp_path / "p.html", motion(3)[:, 0], "h36m17"))
    assert d["mode"] == "people" and np.asarray(d["poses"]).shape == (3, 17, 3)


def test_frames_embedded_as_small_jpeg_thumbnails(tmp_path):
    T = 6
    imgs = frames(T, size=(1000, 500))
    # the kinds of input: arrays, image files, Pillow images, None for a frame without image
    Image.fromarray(imgs[1]).save(tmp_path / "f1.png")
    Image.fromarray(imgs[2]).save(tmp_path / "f2.jpg", quality=95)
    mixed = [imgs[0], tmp_path / "f1.png", str(tmp_path / "f2.jpg"), Image.fromarray(imgs[3]), None, imgs[5]]
    out = write_sequence_viewer(tmp_path / "v.html", motion(T)[:, 0], "h36m17", fps=30, images=mixed)
    d = read_viewer_data(out)
    assert mixed[3].size == (1000, 500)  # the caller's Pillow image is not shrunk in place
    assert d["image_size"] == [1000.0, 500.0]  # from the first image
    assert d["images"]["step"] == 1 and len(d["images"]["uris"]) == T and d["images"]["uris"][4] is None
    for t in (0, 1, 2, 3, 5):
        im = _decode(d["images"]["uris"][t])
        assert im.size == (320, 160)  # longest side image_px, aspect kept
        a = np.asarray(im.convert("RGB")).astype(int)
        green = (a[..., 1] > 150) & (a[..., 0] < 80) & (a[..., 2] < 80)
        cols = np.flatnonzero(green.any(axis=0))
        x0 = int(1000 * (0.1 + 0.02 * t)) * 320 / 1000  # the square moved right with t
        assert green.sum() > 500 and abs(cols[0] - x0) <= 3
    small = write_sequence_viewer(tmp_path / "s.html", motion(T)[:, 0], "h36m17", fps=30, images=imgs, image_px=64)
    assert _decode(read_viewer_data(small)["images"]["uris"][0]).size == (64, 32)


def test_embedded_frames_fit_the_byte_cap_with_the_smallest_step(tmp_path):
    T = 20
    imgs = frames(T, size=(400, 300), noise=True)
    walk = motion(T)[:, 0]
    full = read_viewer_data(write_sequence_viewer(tmp_path / "full.html", walk, "h36m17", fps=10, images=imgs))
    uris = full["images"]["uris"]
    assert full["images"]["step"] == 1 and len(uris) == T
    lengths = [len(u) for u in uris]  # thumbnails are deterministic: the same in every run below
    total = sum(lengths)
    assert total > 20 * 1000

    exact = read_viewer_data(write_sequence_viewer(tmp_path / "e.html", walk, "h36m17", fps=10, images=imgs,
                                                   images_max_bytes=total))
    assert exact["images"]["step"] == 1
    for cap in (total - 1, total // 3, total // 7, max(lengths[0], total // 30)):
        d = read_viewer_data(write_sequence_viewer(tmp_path / "c.html", walk, "h36m17", fps=10, images=imgs,
                                                   images_max_bytes=cap))
        k = d["images"]["step"]
        assert k >= 2 and d["images"]["uris"] == uris[::k]  # frames 0, k, 2k, ...
        assert sum(len(u) for u in d["images"]["uris"]) <= cap
        assert all(sum(lengths[::s]) > cap for s in range(1, k))  # the smallest step that fits
    # the file grows by about the embedded text only
    base = (tmp_path / "none.html")
    write_sequence_viewer(base, walk, "h36m17", fps=10)
    capped = write_sequence_viewer(tmp_path / "c2.html", walk, "h36m17", fps=10, images=imgs,
                                   images_max_bytes=total // 3)
    assert capped.stat().st_size - base.stat().st_size <= total // 3 + 2000

    with pytest.warns(UserWarning, match="no image embedded"):
        d = read_viewer_data(write_sequence_viewer(tmp_path / "z.html", walk, "h36m17", fps=10, images=imgs,
                                                   images_max_bytes=lengths[0] - 1))
    assert d["images"] is None and d["image_size"] == [400.0, 300.0]


def _bad(tmp_path, match, poses=None, **kw):
    kw.setdefault("fps", 10)
    with pytest.raises(InputError, match=match):
        write_sequence_viewer(tmp_path / "bad.html", motion(4)[:, 0] if poses is None else poses, "h36m17", **kw)
    assert not (tmp_path / "bad.html").exists()


def test_bad_shapes(tmp_path):
    want = r"poses: expected shape \(T, 17, 3\) \(one person\) or \(T, P, 17, 3\) \(P people per frame\)"
    _bad(tmp_path, want + r".*got \(4, 16, 3\)", np.zeros((4, 16, 3)))
    _bad(tmp_path, want + r".*got \(17, 3\)", np.zeros((17, 3)))
    _bad(tmp_path, want + r".*got \(1, 4, 2, 17, 3\)", np.zeros((1, 4, 2, 17, 3)))
    _bad(tmp_path, want + r".*got \(0, 17, 3\)", np.zeros((0, 17, 3)))
    _bad(tmp_path, want + r".*got \(4, 0, 17, 3\)", np.zeros((4, 0, 17, 3)))
    _bad(tmp_path, r"keypoints_2d: expected shape \(4, 17, 2\) in pixels .*got \(3, 17, 2\)",
         keypoints_2d=np.zeros((3, 17, 2)))
    _bad(tmp_path, r"keypoints_2d: expected shape \(4, 2, 17, 2\) in pixels .*got \(4, 17, 2\)",
         motion(4, people=2), keypoints_2d=np.zeros((4, 17, 2)))
    _bad(tmp_path, r"present: expected booleans of shape \(4, 2\) .*got bool \(4,\)",
         motion(4, people=2), present=np.ones(4, bool))
    _bad(tmp_path, r"present: expected booleans of shape \(4,\) .*got int64 \(4,\)", present=np.ones(4, int))
    _bad(tmp_path, "present: no person is present", present=np.zeros(4, bool))
    _bad(tmp_path, "names: expected 2 names .*got 1", motion(4, people=2), names=["a"])
    _bad(tmp_path, "poses: expected a numeric array", [["a"]])


@pytest.mark.parametrize("fps", [0, -25, float("nan"), float("inf"), "fast", None])
def test_bad_fps(tmp_path, fps):
    _bad(tmp_path, r"fps: expected a finite number of frames per second > 0, got " + re.escape(repr(fps)), fps=fps)


def test_nan_in_a_present_person(tmp_path):
    poses = motion(5, people=2)
    poses[3, 1, 7, 2] = np.nan
    poses[4, 1, 0, 0] = np.inf
    _bad(tmp_path, r"poses: non-finite values \(NaN or inf\) in 2 present .*first at frame 3, person 1; "
                   "mark people missing from a frame with present=", poses)
    present = np.ones((5, 2), bool)
    present[3:, 1] = False
    write_sequence_viewer(tmp_path / "ok.html", poses, "h36m17", fps=10, present=present)  # absent: fine
    kp = project(motion(4)[:, 0])
    kp[2, 5, 0] = np.nan
    _bad(tmp_path, r"keypoints_2d: non-finite values .* 1 present .*first at frame 2;", keypoints_2d=kp)


def test_bad_images(tmp_path):
    imgs = frames(4, size=(200, 100))
    _bad(tmp_path, r"images: expected 4 images \(one per frame, None where there is none\), got 3", images=imgs[:3])
    _bad(tmp_path, r"images: expected 4 images .*got 'x.png'", images="x.png")
    _bad(tmp_path, r"images\[2\]: expected an image of 200x100 pixels \(image_size, or the first image\), got 100x200",
         images=imgs[:2] + [np.zeros((200, 100, 3), np.uint8)] + imgs[3:])
    _bad(tmp_path, r"images\[0\]: expected an image of 300x100 pixels .*got 200x100", images=imgs,
         image_size=(300, 100))
    _bad(tmp_path, r"images\[1\]: expected a path, a Pillow image or a uint8 array .*got ndarray float64 \(100, 200, 3\)",
         images=[imgs[0], imgs[1] / 255.0, None, None])
    _bad(tmp_path, r"images\[0\]: .*missing.png: no such image file", images=[tmp_path / "missing.png"] + [None] * 3)
    (tmp_path / "notes.jpg").write_text("not an image")
    _bad(tmp_path, r"images\[0\]: .*notes.jpg: not an image file Pillow can read", images=[tmp_path / "notes.jpg"] * 4)
    _bad(tmp_path, r"image_px: expected an integer number of pixels >= 16, got 8", images=imgs, image_px=8)
    _bad(tmp_path, r"images_max_bytes: expected an integer number of bytes >= 0, got -1", images=imgs,
         images_max_bytes=-1)
    _bad(tmp_path, r"jpeg_quality: expected an integer from 1 to 95, got 0", images=imgs, jpeg_quality=0)
    _bad(tmp_path, r"image_size: expected \(W, H\) in pixels, both > 0", image_size=(0, 10))


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
def test_sequence_javascript_parses(tmp_path):
    out = write_sequence_viewer(tmp_path / "v.html", motion(3, people=2), H36M17, fps=5, images=frames(3, (64, 64)))
    code = re.findall(r"<script>(.*?)</script>", out.read_text(encoding="utf-8"), flags=re.S)
    assert len(code) == 1
    js = tmp_path / "viewer.js"
    js.write_text(code[0])
    res = subprocess.run(["node", "--check", str(js)], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
