"""Tests for energy3d.data.keypoints: readers of COCO / OpenPose / npz keypoints and imputation."""

import json

import numpy as np
import pytest
import torch

from energy3d.data.keypoints import (
    OPENPOSE18_TO_COCO17, KeypointSet, check_keypoints_in_image, impute_missing, nearest_visible, read_keypoints,
)
from energy3d.errors import InputError
from energy3d.skeleton import COCO17, H36M17, MPII16, OPENPOSE25


def _flat(xy, c):
    """(K, 2) and (K,) -> [x1, y1, c1, x2, ...] as plain floats (as the formats store them)."""
    return np.concatenate([np.asarray(xy, float), np.asarray(c, float)[:, None]], 1).ravel().tolist()


def _coco_annotations(tmp_path, anns=None):
    """A COCO person_keypoints file with two images, three people, one crowd annotation."""
    rng = np.random.default_rng(0)
    xy = rng.uniform(10, 600, size=(3, 17, 2)).round(1)
    v = np.full((3, 17), 2)
    v[0, 3] = 0  # left_ear not labelled
    v[1, 9] = 1  # left_wrist labelled but occluded
    kps = []
    for k in range(3):
        pts = np.where((v[k] > 0)[:, None], xy[k], 0.0)
        kps.append(_flat(pts, v[k]))
    data = {
        "info": {"description": "test"},
        "images": [
            {"id": 139, "file_name": "000000000139.jpg", "width": 640, "height": 426},
            {"id": 785, "file_name": "000000000785.jpg", "width": 640, "height": 425},
        ],
        "annotations": anns if anns is not None else [
            {"id": 1, "image_id": 139, "category_id": 1, "iscrowd": 0, "num_keypoints": 16,
             "keypoints": kps[0], "bbox": [0, 0, 10, 10], "area": 100.0},
            {"id": 2, "image_id": 139, "category_id": 1, "iscrowd": 1, "num_keypoints": 0,
             "keypoints": [0] * 51, "bbox": [0, 0, 10, 10], "area": 100.0},
            {"id": 3, "image_id": 785, "category_id": 1, "iscrowd": 0, "num_keypoints": 17,
             "keypoints": kps[1], "bbox": [0, 0, 10, 10], "area": 100.0},
            {"id": 4, "image_id": 139, "category_id": 1, "iscrowd": 0, "num_keypoints": 17,
             "keypoints": kps[2], "bbox": [0, 0, 10, 10], "area": 100.0},
        ],
        "categories": [{"id": 1, "name": "person", "supercategory": "person",
                        "keypoints": list(COCO17.joints), "skeleton": [[16, 14], [14, 12]]}],
    }
    path = tmp_path / "person_keypoints_val.json"
    path.write_text(json.dumps(data))
    return path, xy, v


def _openpose_doc(people):
    return {"version": 1.3, "people": [
        {"person_id": [-1], "pose_keypoints_2d": p, "face_keypoints_2d": [],
         "hand_left_keypoints_2d": [], "hand_right_keypoints_2d": [], "pose_keypoints_3d": [],
         "face_keypoints_3d": [], "hand_left_keypoints_3d": [], "hand_right_keypoints_3d": []}
        for p in people]}


# ------------------------------------------------------------------------------------------ COCO


def test_coco_annotations(tmp_path):
    path, xy, v = _coco_annotations(tmp_path)
    kp = read_keypoints(path)
    assert kp.layout is COCO17 and len(kp) == 3  # crowd annotation skipped
    assert kp.names == ["img139#0", "img785#0", "img139#1"]
    assert kp.points.dtype == np.float32 and kp.points.shape == (3, 17, 2)
    np.testing.assert_allclose(kp.points[1], xy[1], atol=1e-4)
    assert kp.confidence[0, 3] == 0 and kp.confidence[1, 9] == 1  # v=0 -> 0, v=1 -> 1
    assert (kp.points[0, 3] == 0).all()
    assert kp.image_size is None  # two image sizes in the file
    assert kp.image_sizes.tolist() == [[640, 426], [640, 425], [640, 426]]
    assert kp.source == str(path)
    # the layout argument may name the file's own layout
    assert read_keypoints(path, layout="coco17").layout is COCO17


def test_coco_annotations_all_skipped(tmp_path):
    path, _, _ = _coco_annotations(tmp_path, anns=[
        {"id": 2, "image_id": 139, "category_id": 1, "iscrowd": 1, "num_keypoints": 0, "keypoints": [0] * 51}])
    with pytest.raises(InputError, match="no people.*num_keypoints == 0"):
        read_keypoints(path)


def test_coco_annotations_bad_length_and_flags(tmp_path):
    path, _, _ = _coco_annotations(tmp_path, anns=[
        {"id": 1, "image_id": 5, "category_id": 1, "num_keypoints": 1, "keypoints": [1.0] * 50}])
    with pytest.raises(InputError, match=r"annotation 0 \(image_id 5\).*has 50 values, expected 51"):
        read_keypoints(path)
    path, _, _ = _coco_annotations(tmp_path, anns=[
        {"id": 1, "image_id": 5, "category_id": 1, "num_keypoints": 1, "keypoints": [1.0, 2.0, 7.0] * 17}])
    with pytest.raises(InputError, match="visibility flags must be 0, 1 or 2"):
        read_keypoints(path)


def test_coco_wrong_layout(tmp_path):
    path, _, _ = _coco_annotations(tmp_path)
    with pytest.raises(InputError, match="layout openpose25 has 25 joints, file has 17"):
        read_keypoints(path, layout="openpose25")
    with pytest.raises(InputError, match="coco17 joint order.*h36m17"):
        read_keypoints(path, layout="h36m17")


def test_coco_results(tmp_path):
    xy = np.random.default_rng(1).uniform(0, 400, size=(2, 17, 2))
    score = np.linspace(0.0, 1.2, 17)  # some detectors exceed 1: clipped
    res = [
        {"image_id": 42, "category_id": 1, "keypoints": _flat(xy[0], score), "score": 0.93},
        {"image_id": 42, "category_id": 1, "keypoints": _flat(xy[1], np.full(17, 0.5)), "score": 0.41},
    ]
    path = tmp_path / "person_keypoints_val2017_results.json"
    path.write_text(json.dumps(res))
    kp = read_keypoints(path)
    assert kp.names == ["img42#0", "img42#1"]
    assert kp.confidence.max() == 1.0 and kp.confidence[0, 0] == 0.0
    assert (kp.points[0, 0] == 0).all()  # score 0 = undetected, position dropped
    np.testing.assert_allclose(kp.points[1], xy[1], rtol=1e-6)
    path.write_text("[]")
    with pytest.raises(InputError, match="no people"):
        read_keypoints(path)


# -------------------------------------------------------------------------------------- OpenPose


def test_openpose_body25_file(tmp_path):
    rng = np.random.default_rng(2)
    xy = rng.uniform(0, 500, size=(2, 25, 2))
    c = rng.uniform(0.2, 0.9, size=(2, 25))
    c[0, 19:] = 0  # feet not detected: OpenPose writes 0, 0, 0
    xy[0, 19:] = 0
    c[1, 0] = 1.0004  # OpenPose scores may exceed 1 slightly
    path = tmp_path / "video_000000000007_keypoints.json"
    path.write_text(json.dumps(_openpose_doc([_flat(xy[k], c[k]) for k in range(2)])))
    kp = read_keypoints(path)
    assert kp.layout is OPENPOSE25 and kp.names == ["video_000000000007#0", "video_000000000007#1"]
    np.testing.assert_allclose(kp.points, xy, rtol=1e-6)
    assert kp.confidence[1, 0] == 1.0 and (kp.confidence[0, 19:] == 0).all()
    np.testing.assert_allclose(kp.confidence[0, :19], c[0, :19], rtol=1e-6)


def test_openpose_coco18_maps_to_coco17(tmp_path):
    xy18 = np.arange(36, dtype=float).reshape(18, 2)
    path = tmp_path / "f_keypoints.json"
    # OpenPose < 1.2 used "pose_keypoints"
    path.write_text(json.dumps({"version": 1.0, "people": [{"pose_keypoints": _flat(xy18, np.ones(18))}]}))
    kp = read_keypoints(path)
    assert kp.layout is COCO17
    # spot checks of the documented order: COCO left_eye = OpenPose LEye (15), right_ankle = RAnkle (10)
    assert kp.points[0, COCO17.index("left_eye")].tolist() == xy18[15].tolist()
    assert kp.points[0, COCO17.index("right_ankle")].tolist() == xy18[10].tolist()
    assert 1 not in OPENPOSE18_TO_COCO17  # Neck dropped


def test_openpose_unsupported_model_and_no_people(tmp_path):
    path = tmp_path / "mpi_keypoints.json"
    path.write_text(json.dumps(_openpose_doc([[1.0] * 45])))  # MPI-15 model
    with pytest.raises(InputError, match="45 values.*BODY_25.*COCO-18"):
        read_keypoints(path)
    path.write_text(json.dumps(_openpose_doc([])))
    with pytest.raises(InputError, match="no people"):
        read_keypoints(path)


def test_openpose_folder(tmp_path):
    folder = tmp_path / "json"
    folder.mkdir()
    xy = np.random.default_rng(3).uniform(0, 300, size=(3, 25, 2))
    docs = {
        "clip_000000000002_keypoints.json": [_flat(xy[2], np.ones(25))],
        "clip_000000000000_keypoints.json": [_flat(xy[0], np.ones(25)), _flat(xy[1], np.ones(25))],
        "clip_000000000001_keypoints.json": [],  # nobody in this frame
    }
    for name, people in docs.items():
        (folder / name).write_text(json.dumps(_openpose_doc(people)))
    (folder / "notes.txt").write_text("ignored")
    kp = read_keypoints(folder)
    assert kp.names == ["clip_000000000000#0", "clip_000000000000#1", "clip_000000000002#0"]
    np.testing.assert_allclose(kp.points, xy, rtol=1e-6)
    (folder / "clip_000000000003_keypoints.json").write_text("{\"people\": [")
    with pytest.raises(InputError, match="clip_000000000003_keypoints.json: malformed JSON"):
        read_keypoints(folder)


def test_openpose_nan_policy(tmp_path):
    xy = np.ones((25, 2)) * 50
    c = np.ones(25)
    path = tmp_path / "a_keypoints.json"
    xy[3] = np.nan
    c[3] = 0
    path.write_text(json.dumps(_openpose_doc([_flat(xy, c)])))  # json writes NaN
    kp = read_keypoints(path)
    assert np.isfinite(kp.points).all() and (kp.points[0, 3] == 0).all()
    c[3] = 0.7
    path.write_text(json.dumps(_openpose_doc([_flat(xy, c)])))
    with pytest.raises(InputError, match="a#0: joint RElbow has NaN/inf coordinates but confidence 0.7"):
        read_keypoints(path)


# ------------------------------------------------------------------------------------------- npz


def test_npz_layout_resolution(tmp_path):
    rng = np.random.default_rng(4)
    a = rng.uniform(0, 100, size=(4, 16, 3)).astype(np.float32)
    a[..., 2] = 0.5
    np.savez(tmp_path / "m.npz", keypoints=a, image_size=np.array([320, 240]))
    kp = read_keypoints(tmp_path / "m.npz")
    assert kp.layout is MPII16 and kp.image_size == (320, 240) and kp.names[3] == "m#3"
    np.testing.assert_allclose(kp.confidence, 0.5)

    b = rng.uniform(0, 100, size=(2, 17, 2))
    np.savez(tmp_path / "amb.npz", poses=b)  # the only array, any key
    with pytest.raises(InputError, match="coco17 or h36m17.*--layout"):
        read_keypoints(tmp_path / "amb.npz")
    assert read_keypoints(tmp_path / "amb.npz", layout="h36m17").layout is H36M17
    np.savez(tmp_path / "named.npz", keypoints=b, layout=np.array("coco17"), names=np.array(["a", "b"]))
    kp = read_keypoints(tmp_path / "named.npz")
    assert kp.layout is COCO17 and kp.names == ["a", "b"]
    assert (kp.confidence == 1).all()
    with pytest.raises(InputError, match="layout openpose25 has 25 joints, file has 17"):
        read_keypoints(tmp_path / "named.npz", layout="openpose25")


def test_npz_confidence_and_nan(tmp_path):
    pts = np.zeros((1, 25, 2))
    pts[0, 5] = np.nan
    np.savez(tmp_path / "n.npz", keypoints=pts)  # no confidence: NaN joint = undetected
    kp = read_keypoints(tmp_path / "n.npz")
    assert kp.confidence[0, 5] == 0 and kp.confidence[0, 4] == 1
    np.savez(tmp_path / "n.npz", keypoints=pts, confidence=np.ones((1, 25)))
    with pytest.raises(InputError, match="LShoulder has NaN/inf"):
        read_keypoints(tmp_path / "n.npz")
    np.savez(tmp_path / "c.npz", keypoints=np.zeros((1, 25, 2)), confidence=np.full((1, 25), 1.5))
    with pytest.raises(InputError, match=r"confidence 1.5 .* outside \[0, 1\]"):
        read_keypoints(tmp_path / "c.npz")


def test_npz_unusable(tmp_path):
    np.savez(tmp_path / "two.npz", a=np.zeros((1, 25, 2)), b=np.zeros((1, 25, 2)))
    with pytest.raises(InputError, match="no usable keypoint array"):
        read_keypoints(tmp_path / "two.npz")
    np.savez(tmp_path / "shape.npz", keypoints=np.zeros((3, 25, 4)))
    with pytest.raises(InputError, match=r"shape \(3, 25, 4\), expected \(N, J, 2\)"):
        read_keypoints(tmp_path / "shape.npz")
    np.savez(tmp_path / "odd.npz", keypoints=np.zeros((3, 11, 2)))
    with pytest.raises(InputError, match="no built-in layout has 11 joints"):
        read_keypoints(tmp_path / "odd.npz")


# ------------------------------------------------------------------------------ generic failures


def test_file_errors(tmp_path):
    with pytest.raises(InputError, match="no such file or folder"):
        read_keypoints(tmp_path / "missing.json")
    (tmp_path / "empty.json").write_text("  \n")
    with pytest.raises(InputError, match="empty.json: file is empty"):
        read_keypoints(tmp_path / "empty.json")
    (tmp_path / "bad.json").write_text('{"people": [}')
    with pytest.raises(InputError, match=r"bad.json: malformed JSON at line 1 column 13"):
        read_keypoints(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"frames": []}')
    with pytest.raises(InputError, match=r"unrecognised keypoint JSON.*\['frames'\]"):
        read_keypoints(tmp_path / "other.json")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(InputError, match="no .json files"):
        read_keypoints(tmp_path / "empty_dir")
    with pytest.raises(InputError, match="unknown joint layout 'smpl24'"):
        read_keypoints(tmp_path / "other.json", layout="smpl24")
    assert issubclass(InputError, ValueError)


def test_keypointset_subset_and_to_layout(tmp_path):
    path, xy, _ = _coco_annotations(tmp_path)
    kp = read_keypoints(path)
    sub = kp.subset([2, 0])
    assert sub.names == ["img139#1", "img139#0"] and sub.points.shape == (2, 17, 2)
    np.testing.assert_array_equal(sub.points[0], kp.points[2])
    assert kp.subset(1).names == ["img785#0"] and kp.subset(np.array([True, False, True])).image_sizes.shape == (2, 2)
    h36 = kp.to_layout("h36m17")
    assert h36.layout is H36M17
    # pelvis = mid-hips; person 0 has every hip, so it is detected
    np.testing.assert_allclose(h36.points[1, 0], xy[1, [11, 12]].mean(0), atol=1e-3)
    with pytest.raises(InputError, match=r"expected shape \(1, 17, 2\)"):
        KeypointSet(np.zeros((1, 16, 2)), np.zeros((1, 17)), COCO17, ["x"])


# -------------------------------------------------------------------------------- imputation


def test_impute_rule_hand_cases():
    L = H36M17
    i = L.index
    pts = np.arange(L.num_joints * 2, dtype=float).reshape(-1, 2)
    vis = np.ones(L.num_joints, bool)
    vis[i("LWrist")] = False
    assert nearest_visible(L, vis)[i("LWrist")] == i("LElbow")
    vis[i("LElbow")] = False
    assert nearest_visible(L, vis)[i("LWrist")] == i("LShoulder")
    vis[:] = True
    vis[[i("LKnee"), i("LHip")]] = False
    src = nearest_visible(L, vis)
    assert src[i("LKnee")] == i("LFoot")  # one bone (child) beats two bones (grandparent)
    assert src[i("LHip")] == i("Hip")  # parent and child equally far: parent first
    vis[:] = True
    vis[i("Hip")] = False  # the root: children tie, lowest index (RHip) first
    assert nearest_visible(L, vis)[i("Hip")] == i("RHip")

    conf = np.ones(L.num_joints)
    conf[[i("LKnee"), i("LHip")]] = 0
    out, mask = impute_missing(torch.tensor(pts), torch.tensor(conf), L)
    assert mask.dtype == bool and mask.sum() == 2 and mask[i("LKnee")]
    np.testing.assert_array_equal(out[i("LKnee")], pts[i("LFoot")])
    np.testing.assert_array_equal(out[i("LHip")], pts[i("Hip")])
    np.testing.assert_array_equal(out[~mask], pts[~mask])  # visible joints untouched


def test_impute_min_visible():
    conf = np.zeros((2, 17))
    conf[0] = 1
    conf[1, :8] = 1  # 8 of 17 < ceil(17 / 2) = 9
    pts = np.zeros((2, 17, 2))
    with pytest.raises(InputError, match=r"frame_7#1: only 8 of 17 joints detected \(need at least 9\)"):
        impute_missing(pts, conf, "coco17", names=["frame_7#0", "frame_7#1"])
    out, mask = impute_missing(pts, conf, "coco17", min_visible=8)
    assert out.shape == (2, 17, 2) and mask[1].sum() == 9 and not mask[0].any()
    with pytest.raises(InputError, match=r"person 0: only 0 of 17"):
        impute_missing(pts, np.zeros((2, 17)), "coco17", min_visible=0)
    with pytest.raises(InputError, match=r"expected shape \(N, 17, D\)"):
        impute_missing(np.zeros((2, 16, 2)), np.ones((2, 16)), "coco17")


# ----------------------------------------------------------------------------- plausibility in the image
def _person(points, conf=None):
    points = np.asarray(points, dtype=np.float64)[None]
    conf = np.ones(points.shape[:2]) if conf is None else np.asarray(conf, dtype=np.float64)[None]
    return KeypointSet(points, conf, "coco17", ["p#0"], source="k.json")


def test_check_in_image_errors_only_when_most_joints_are_far_outside():
    rng = np.random.default_rng(0)
    inside = rng.uniform([100, 100], [500, 400], (17, 2))
    assert check_keypoints_in_image(_person(inside), [(640, 480)]) == []
    far = inside.copy()
    far[:8, 0] = 640 + 0.5 * 640 + 1      # 8 of 17 just beyond half the width outside: not most
    warns = check_keypoints_in_image(_person(far), [(640, 480)])
    assert len(warns) == 1 and "p#0: 8 of 17 detected joints lie outside the 640 x 480 image, up to 321 px" in warns[0]
    far[8, 1] = -0.5 * 480 - 1            # a 9th, above the image: now more than half
    with pytest.raises(InputError, match=r"^k\.json: p#0: 9 of 17 detected joints lie far outside the 640 x 480 image"):
        check_keypoints_in_image(_person(far), [(640, 480)])
    conf = np.ones(17)
    conf[:9] = 0                          # the far joints not detected: only detected joints count
    assert check_keypoints_in_image(_person(far, conf), [(640, 480)]) == []


def test_check_in_image_refuses_a_person_on_one_pixel():
    with pytest.raises(InputError, match=r"p#0: all 17 detected joints lie within 0\.71 px of each other"):
        check_keypoints_in_image(_person(np.full((17, 2), 200.0) + np.eye(17, 2) * 0.5), [(640, 480)])
    assert check_keypoints_in_image(_person(np.full((17, 2), 200.0) + np.eye(17, 2) * 2), [(640, 480)]) == []
