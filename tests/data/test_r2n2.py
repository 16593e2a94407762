"""Tests for energy3d.data.r2n2 on a small rendering folder written here in the published layout."""

import math

import numpy as np
import pytest
import torch

from energy3d.data.r2n2 import (
    R2N2_MAX_CAMERA_DIST,
    load_r2n2_images,
    r2n2_cameras,
    read_r2n2_folder,
    read_rendering_metadata,
)
from energy3d.errors import InputError
from energy3d.geometry.camera import project

META = [
    (290.98, 25.82, 0.0, 0.78, 25.0),
    (10.5, 28.0, 0.0, 0.9, 25.0),
    (180.0, 30.0, 15.0, 0.6, 40.0),
]


def _fixture(tmp_path, n_images=3, size=9):
    from PIL import Image

    d = tmp_path / "03001627" / "abc123" / "rendering"
    d.mkdir(parents=True)
    names = [f"{i:02d}.png" for i in range(len(META))]
    (d / "renderings.txt").write_text("\n".join(names) + "\n")
    (d / "rendering_metadata.txt").write_text("\n".join(" ".join(str(x) for x in m) for m in META) + "\n")
    for i in range(n_images):
        a = np.zeros((size, size, 4), np.uint8)
        a[2:5, 3:7] = (200, 40, 10 * i, 255)  # opaque object
        a[6, 6] = (0, 0, 255, 128)  # half-transparent pixel
        Image.fromarray(a, "RGBA").save(d / names[i])
    return d


def test_read_folder_and_metadata(tmp_path):
    d = _fixture(tmp_path)
    views = read_r2n2_folder(d)
    assert [v.image.name for v in views] == ["00.png", "01.png", "02.png"]
    assert views[0].azimuth == pytest.approx(290.98) and views[2].in_plane == 15.0 and views[2].fov_deg == 40.0
    np.testing.assert_allclose(read_rendering_metadata(d / "rendering_metadata.txt"), META)
    assert len(read_r2n2_folder(d.parent)) == 3  # the model folder resolves to its rendering/


def test_cameras_follow_documented_conventions(tmp_path):
    views = read_r2n2_folder(_fixture(tmp_path))
    K, R, t = r2n2_cameras(views, image_size=137)
    assert K.shape == (3, 3, 3) and R.shape == (3, 3, 3) and t.shape == (3, 3)
    for i, (az, el, roll, ratio, fov) in enumerate(META):
        C = -(R[i].T @ t[i])  # camera centre in the world
        assert C.norm().item() == pytest.approx(ratio * R2N2_MAX_CAMERA_DIST, rel=1e-5)
        assert math.degrees(math.asin(C[1].item() / C.norm().item())) == pytest.approx(el, abs=1e-3)
        assert math.degrees(math.atan2(C[0].item(), C[2].item())) % 360 == pytest.approx(az % 360, abs=1e-3)
        # the object centre projects to the image centre; the focal length follows the field of view
        o = project((R[i] @ torch.zeros(3) + t[i])[None], K[i])[0]
        np.testing.assert_allclose(o.numpy(), [68.5, 68.5], atol=1e-4)
        assert K[i, 0, 0].item() == pytest.approx(68.5 / math.tan(math.radians(fov) / 2), rel=1e-5)
        assert abs(torch.det(R[i]).item() - 1) < 1e-5
    # in-plane rotation rolls the image: the world up direction leans by the roll angle
    up = R[2] @ torch.tensor([0.0, 1.0, 0.0])
    K0, R0, _ = r2n2_cameras(np.array([[180.0, 30.0, 0.0, 0.6, 40.0]]))
    up0 = R0[0] @ torch.tensor([0.0, 1.0, 0.0])
    ang = math.degrees(math.atan2(up[0], -up[1]) - math.atan2(up0[0], -up0[1]))
    assert abs(abs(ang) - 15.0) < 1e-3
    # an azimuth offset rotates the camera about the up axis
    _, R1, t1 = r2n2_cameras(np.array([[100.0, 25.0, 0.0, 1.0, 25.0]]), azimuth_offset=90.0)
    _, R2, t2 = r2n2_cameras(np.array([[190.0, 25.0, 0.0, 1.0, 25.0]]))
    torch.testing.assert_close(R1, R2)
    torch.testing.assert_close(t1, t2)


def test_load_images_composites_over_background(tmp_path):
    views = read_r2n2_folder(_fixture(tmp_path))
    imgs = load_r2n2_images(views, background=(1.0, 1.0, 1.0))
    assert imgs.shape == (3, 9, 9, 3) and imgs.dtype == np.uint8
    np.testing.assert_array_equal(imgs[1, 3, 4], [200, 40, 10])
    np.testing.assert_array_equal(imgs[0, 0, 0], [255, 255, 255])
    # half-transparent blue over white: 128/255 blue + 127/255 white
    np.testing.assert_array_equal(imgs[0, 6, 6], [127, 127, 255])
    black = load_r2n2_images(views, background=(0.0, 0.0, 0.0))
    np.testing.assert_array_equal(black[0, 0, 0], [0, 0, 0])


def test_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_r2n2_folder(tmp_path / "nope")
    d = _fixture(tmp_path, n_images=2)
    with pytest.raises(InputError, match="02.png is missing"):
        read_r2n2_folder(d)
    assert len(read_r2n2_folder(d, check_images=False)) == 3
    (d / "rendering_metadata.txt").write_text("1 2 3 4\n")
    with pytest.raises(InputError, match="expected 5 numbers"):
        read_rendering_metadata(d / "rendering_metadata.txt")
    (d / "rendering_metadata.txt").write_text("1 2 3 0.5 25\n")
    with pytest.raises(InputError, match="lists 3 images but"):
        read_r2n2_folder(d, check_images=False)
    (d / "rendering_metadata.txt").write_text("1 2 3 0.5 190\n")
    with pytest.raises(InputError, match="field of view"):
        read_rendering_metadata(d / "rendering_metadata.txt")
    (d / "rendering_metadata.txt").write_text("1 2 3 -0.5 25\n")
    with pytest.raises(InputError, match="distance ratio"):
        read_rendering_metadata(d / "rendering_metadata.txt")
    with pytest.raises(InputError, match=r"\(V, 5\)"):
        r2n2_cameras(np.zeros((2, 4)))
