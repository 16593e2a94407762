"""Photos, frame folders and videos as frame streams; the MediaPipe detector and `lift` on media.

Video tests need PyAV and detector tests MediaPipe (``pip install 'energy3d[detect]'``); they skip
with that reason where those are not installed.
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from energy3d.data.video import media_kind, open_frames
from energy3d.errors import InputError
from helpers import run_cli, write_video

REPO = Path(__file__).resolve().parents[2]
PHOTO = REPO / "examples" / "nasa_AS11-40-5903_aldrin.jpg"
HAVE_AV = importlib.util.find_spec("av") is not None
HAVE_MP = importlib.util.find_spec("mediapipe") is not None
needs_av = pytest.mark.skipif(not HAVE_AV, reason="PyAV not installed (pip install 'energy3d[detect]')")
needs_mp = pytest.mark.skipif(not HAVE_MP, reason="MediaPipe not installed (pip install 'energy3d[detect]')")


def test_media_kind_and_errors(tmp_path):
    (tmp_path / "a.json").write_text("{}")
    assert media_kind(tmp_path / "a.json") is None and media_kind(PHOTO) == "image"
    assert media_kind(tmp_path / "x.mp4") == "video" and media_kind(tmp_path) is None
    with pytest.raises(InputError, match="no such file"):
        open_frames(tmp_path / "missing.jpg")
    with pytest.raises(InputError, match="not an image"):
        open_frames(tmp_path / "a.json")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        open_frames(tmp_path / "empty.jpg")
    (tmp_path / "bad.png").write_bytes(b"not a png at all")
    with pytest.raises(InputError, match="not a readable image"):
        list(open_frames(tmp_path / "bad.png"))
    with pytest.raises(InputError, match="fps"):
        open_frames(PHOTO, fps=0)


def test_frame_folder_streams_sorted_frames(tmp_path):
    for i in (2, 0, 1):
        Image.fromarray(np.full((12, 16, 3), 40 * i, np.uint8)).save(tmp_path / f"f{i}.png")
    src = open_frames(tmp_path)
    assert src.kind == "frames" and src.count == 3 and src.fps == 30.0
    got = list(src)
    assert [n for n, _ in got] == ["f0", "f1", "f2"]
    assert [int(a[0, 0, 0]) for _, a in got] == [0, 40, 80] and got[0][1].shape == (12, 16, 3)


@needs_av
def test_video_decodes_every_frame_and_rejects_garbage(tmp_path):
    frames = [np.full((48, 64, 3), 20 * i, np.uint8) for i in range(7)]
    write_video(tmp_path / "v.mp4", frames, fps=12)
    src = open_frames(tmp_path / "v.mp4")
    assert src.kind == "video" and src.fps == pytest.approx(12.0)
    got = list(src)
    assert len(got) == 7 and got[3][1].shape == (48, 64, 3)
    assert abs(int(got[3][1].mean()) - 60) <= 3  # lossy codec, the grey level survives
    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 2000)
    with pytest.raises(InputError, match="video"):
        list(open_frames(tmp_path / "junk.mp4"))


@needs_mp
def test_detector_finds_the_person_in_the_example_photo():
    from energy3d.data.detect import detect_image_keypoints

    doc = detect_image_keypoints(PHOTO)
    k = np.asarray(doc["keypoints"]).reshape(17, 3)
    assert doc["image_size"] == [900, 941] and doc["score"] > 0.5
    nose, hips, ankles = k[0, 1], k[11:13, 1].mean(), k[15:17, 1].mean()
    assert nose < hips < ankles  # upright: head above hips above feet (y down)


@needs_mp
def test_lift_photo_end_to_end(tmp_path, capsys):
    rc, out, err = run_cli(["lift", PHOTO, "--out", tmp_path / "o"], capsys)
    assert rc == 0, err
    doc = json.loads((tmp_path / "o" / "poses.json").read_text())
    assert doc["media"]["kind"] == "image" and doc["media"]["frames_without_person"] == []
    assert "ONE person per frame" in doc["detector"] and len(doc["people"]) == 1
    assert {"lift.png", "poses.json", "poses.npz", "viewer.html"} <= {p.name for p in (tmp_path / "o").iterdir()}


@needs_mp
@needs_av
def test_lift_video_marks_frames_without_a_person(tmp_path, capsys):
    photo = np.asarray(Image.open(PHOTO).convert("RGB").resize((320, 336)))
    blank = np.full_like(photo, 128)
    write_video(tmp_path / "v.mp4", [photo, photo, blank, photo], fps=5)
    rc, out, err = run_cli(["lift", tmp_path / "v.mp4", "--out", tmp_path / "o", "--quiet"], capsys)
    assert rc == 0, err
    doc = json.loads((tmp_path / "o" / "poses.json").read_text())
    missing = doc["media"]["frames_without_person"]
    assert doc["media"]["frames"] == 4 and "frame_000002" in missing and "frame_000000" not in missing
    assert len(doc["people"]) == 4 - len(missing) and f"no person found in {len(missing)} of 4 frames" in err
    write_video(tmp_path / "empty.mp4", [blank] * 3, fps=5)
    rc, out, err = run_cli(["lift", tmp_path / "empty.mp4", "--out", tmp_path / "o2", "--quiet"], capsys)
    assert rc == 2 and "no person found in any of the 3 frames" in err and err.count("\n") == 1
    assert not (tmp_path / "o2").exists()


def test_lift_media_without_the_detector_says_how_to_install(tmp_path, capsys, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_mediapipe(name, *a, **k):
        if name.startswith("mediapipe"):
            raise ImportError("no mediapipe")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_mediapipe)
    rc, out, err = run_cli(["lift", PHOTO, "--out", tmp_path / "o"], capsys)
    assert rc == 2 and "pip install 'energy3d[detect]'" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


@needs_mp
def test_a_person_cut_off_by_the_frame_lists_the_imputed_joints_and_warns(tmp_path, capsys):
    """A real photo cropped above the ankles: MediaPipe gives the ankles low visibility (it places them
    inside the image, squashing the legs), lift imputes the feet, lists them and warns once."""
    # examples/ holds ../shared/data/photos/05_nasa_AS11-40-5903_aldrin_standing.jpg byte for byte
    Image.open(PHOTO).convert("RGB").crop((0, 0, 900, 380)).save(tmp_path / "cut.png")  # lossless: same pixels each run
    rc, out, err = run_cli(["lift", tmp_path / "cut.png", "--out", tmp_path / "o"], capsys)
    assert rc == 0, err
    p = json.loads((tmp_path / "o" / "poses.json").read_text())["people"][0]
    unseen = p["unseen_2d"]["outside_image"] + p["unseen_2d"]["low_visibility"]
    assert {"left_ankle", "right_ankle"} <= set(unseen) and not {"nose", "left_shoulder", "left_hip"} & set(unseen)
    assert {"LFoot", "RFoot"} <= set(p["imputed_joints"])
    lines = [ln for ln in err.splitlines() if "partly unseen" in ln]
    assert len(lines) == 1 and "left_ankle" in lines[0] and "RFoot" in lines[0] and "a guess" in lines[0]
    # the whole photo: nothing unseen, no such warning
    rc, out, err = run_cli(["lift", PHOTO, "--out", tmp_path / "whole"], capsys)
    doc = json.loads((tmp_path / "whole" / "poses.json").read_text())
    assert rc == 0 and "partly unseen" not in err and doc["people"][0]["unseen_2d"]["low_visibility"] == []


def test_keypoints_the_detector_places_outside_the_image_are_named(tmp_path, capsys, monkeypatch):
    """Without MediaPipe: a stand-in detector whose legs lie below the image (as MediaPipe reports a
    landmark out of the frame): listed as outside_image per person, one warning line."""
    import energy3d.data.detect as detect

    kp = np.asarray(json.loads((REPO / "examples" / "keypoints_coco.json").read_text())["annotations"][0]["keypoints"],
                    np.float32).reshape(17, 3)

    class Fake:
        def __init__(self, **_):
            pass

        def detect(self, rgb):
            outside = np.zeros(17, bool)
            outside[13:] = True  # knees and ankles
            conf = np.where(outside, 0.0, 0.9).astype(np.float32)
            return np.where(outside[:, None], 0.0, kp[:, :2]).astype(np.float32), conf, outside

        def close(self):
            pass

    monkeypatch.setattr(detect, "PoseDetector", Fake)
    rc, out, err = run_cli(["lift", PHOTO, "--out", tmp_path / "o"], capsys)
    assert rc == 0, err
    p = json.loads((tmp_path / "o" / "poses.json").read_text())["people"][0]
    assert p["unseen_2d"] == {"outside_image": ["left_knee", "right_knee", "left_ankle", "right_ankle"],
                              "low_visibility": []}
    assert set(p["imputed_joints"]) == {"LKnee", "RKnee", "LFoot", "RFoot"}
    assert err.count("partly unseen") == 1 and "left_knee, right_knee, left_ankle, right_ankle outside the image" in err
