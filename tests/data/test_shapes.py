"""Tests for energy3d.data.shapes: splits, seeded views, the cached builder and ShapeDataset."""

import json

import numpy as np
import pytest
import torch

from energy3d.data.mesh_io import read_obj, write_obj
from energy3d.data.shapes import (
    ShapeDataset,
    build_shape_dataset,
    read_index,
    sample_views,
    save_preview,
    shape_camera_intrinsics,
    shape_splits,
    ShapeSettings,
)
from energy3d.errors import InputError
from energy3d.data.shapes import normalize_model
from energy3d.geometry.mesh import Mesh, box_mesh, concatenate_meshes, tetrahedron
from energy3d.geometry.voxel import voxelize, voxelize_frustum

SMALL = dict(image_size=16, resolution=8, views=2)


@pytest.fixture
def fake_objects(tmp_path, monkeypatch):
    """An objects_cc0-like folder with 5 tiny coloured models in 2 categories; cache under tmp."""
    monkeypatch.setenv("ENERGY3D_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "objects_cc0"
    rows = ["category\tname\tpack\tsource_path\tfaces"]
    models = {
        ("crate", "crate_a"): box_mesh(size=(1.0, 0.5, 0.8), color=(0.8, 0.2, 0.1)),
        ("crate", "crate_b"): box_mesh(size=(0.6, 1.0, 0.6), color=(0.1, 0.7, 0.2)),
        ("crate", "crate_c"): concatenate_meshes([box_mesh(size=0.5, color=(0.2, 0.2, 0.9)),
                                                  box_mesh(center=(0, 0.5, 0), size=0.2, color=(0.9, 0.9, 0.1))]),
        ("spike", "spike_a"): Mesh(tetrahedron().vertices, tetrahedron().faces, np.tile([0.5, 0.5, 0.5], (4, 1))),
        ("spike", "spike_b"): Mesh(tetrahedron().vertices * [1, 2, 1], tetrahedron().faces, np.tile([0.9, 0.5, 0.5], (4, 1))),
    }
    for (cat, name), m in models.items():
        write_obj(m, root / cat / f"{name}.obj")
        rows.append(f"{cat}\t{name}\tModels\tsrc/{name}.fbx\t{m.num_faces}")
    (root / "INDEX.tsv").write_text("\n".join(rows) + "\n")
    return root


def test_splits_are_fixed_and_cover_every_category():
    cats = {f"c{n}": [f"c{n}_m{i}" for i in range(n)] for n in (1, 2, 3, 5, 6, 11, 18, 20)}
    s = shape_splits(cats)
    rev = shape_splits({k: list(reversed(v)) for k, v in cats.items()})
    assert s == rev  # independent of listing order
    for c, names in cats.items():
        sp = [s[n] for n in names]
        if len(names) >= 2:
            assert sp.count("test") >= 1 and sp.count("train") >= 1
        n = len(names)
        assert sp.count("test") == (max(1, int(0.2 * n + 0.5)) if n >= 2 else 0)
    assert [s[n] for n in cats["c1"]] == ["train"]


def test_real_index_splits(data_dir):
    entries = read_index(data_dir)
    cats = {e.category for e in entries}
    assert len(cats) == 14 and len(entries) >= 130
    for c in cats:
        assert any(e.split == "test" and e.category == c for e in entries)
    frac = np.mean([e.split == "train" for e in entries])
    assert 0.6 < frac < 0.8


def test_views_are_seeded_and_in_range():
    st = ShapeSettings(views=500, seed=3)
    az, el = sample_views(st, "model_x")
    assert az.min() >= 0 and az.max() < 360 and el.min() >= 25 and el.max() <= 30
    np.testing.assert_array_equal(az, sample_views(st, "model_x")[0])
    assert not np.allclose(az, sample_views(st, "model_y")[0])
    assert not np.allclose(az, sample_views(ShapeSettings(views=500, seed=4), "model_x")[0])
    K = shape_camera_intrinsics(64, 30.0)
    assert K[0, 2] == 32 and K[0, 0] == pytest.approx(32 / np.tan(np.radians(15)))


def test_build_and_dataset_on_fake_objects(fake_objects, tmp_path):
    cache = build_shape_dataset(fake_objects, progress=False, **SMALL)
    assert cache.parent.parent == tmp_path / "cache"
    files = sorted(cache.glob("models/*/*.npz"))
    assert len(files) == 5
    settings = json.loads((cache / "settings.json").read_text())
    assert settings["settings"]["image_size"] == 16 and settings["z_range"] == [1.5, 2.5]
    with np.load(files[0]) as z:
        assert z["images"].shape == (2, 16, 16, 4) and z["images"].dtype == np.uint8
        assert z["frustum"].shape == (2, 8 * 8 * 8 // 8) and z["world"].shape == (8 * 8 * 8 // 8,)
    # a second build reuses the files; a changed source is rebuilt
    mtimes = [f.stat().st_mtime_ns for f in files]
    build_shape_dataset(fake_objects, progress=False, **SMALL)
    assert [f.stat().st_mtime_ns for f in files] == mtimes
    write_obj(box_mesh(size=0.3, color=(1.0, 1.0, 1.0)), fake_objects / "crate" / "crate_a.obj")
    build_shape_dataset(fake_objects, progress=False, **SMALL)
    changed = [f.stat().st_mtime_ns != m for f, m in zip(files, mtimes)]
    assert changed == [f.stem == "crate_a" for f in files]

    ds = ShapeDataset("all", root=fake_objects, progress=False, **SMALL)
    assert len(ds) == 10 and ds.categories == ["crate", "spike"]
    it = ds[3]
    assert it["image"].shape == (3, 16, 16) and it["image"].dtype == torch.float32
    assert it["frustum"].shape == (8, 8, 8) and it["world"].shape == (8, 8, 8)
    assert it["K"].shape == (3, 3) and it["R"].shape == (3, 3) and it["t"].shape == (3,)
    assert it["view"] == 1 and it["model"] == ds.entries[1].name and it["category_name"] == "crate"
    assert float(it["image"].min()) >= 0 and float(it["image"].max()) <= 1

    # ground truth agrees with a direct recomputation from the source mesh and the stored camera
    e = ds.entries[1]
    mesh = normalize_model(read_obj(fake_objects / e.category / f"{e.name}.obj"), e.pack, e.name)
    np.testing.assert_array_equal(it["world"].numpy() > 0, voxelize(mesh, 8))
    fr = voxelize_frustum(mesh, it["K"].double(), it["R"].double(), it["t"].double(), 16, 16, 8, 1.5, 2.5)
    np.testing.assert_array_equal(it["frustum"].numpy() > 0, fr)
    # every fully covered pixel lies in a filled frustum column (cells are 2 x 2 pixels)
    full = it["mask"].numpy() >= 1.0
    cols = np.kron(it["frustum"].numpy().max(axis=0), np.ones((2, 2))) > 0
    assert full.sum() > 5 and not (full & ~cols).any()

    # backgrounds: white - black = 1 - coverage, in every channel
    black = ShapeDataset("all", root=fake_objects, progress=False, background="black", **SMALL)[3]
    diff = (it["image"] - black["image"]).numpy()
    np.testing.assert_allclose(diff, np.broadcast_to(1 - it["mask"].numpy(), diff.shape), atol=1e-6)
    rnd = ShapeDataset("all", root=fake_objects, progress=False, background="random", **SMALL)[3]
    corner = rnd["image"][:, 0, 0]
    assert not torch.allclose(corner, torch.ones(3))

    # splits select disjoint models
    test = ShapeDataset("test", root=fake_objects, progress=False, **SMALL)
    train = ShapeDataset("train", root=fake_objects, progress=False, **SMALL)
    assert {e.name for e in test.entries}.isdisjoint({e.name for e in train.entries})
    assert {e.category for e in test.entries} == {"crate", "spike"}
    loader = torch.utils.data.DataLoader(train, batch_size=2)
    batch = next(iter(loader))
    assert batch["image"].shape == (2, 3, 16, 16) and len(batch["model"]) == 2

    p = save_preview(ds, tmp_path / "preview.png", n=4, scale=1)
    from PIL import Image

    assert Image.open(p).size == (4 * 20, 2 * 20)


def test_selection_and_setting_errors(fake_objects):
    with pytest.raises(InputError, match="unknown categories"):
        build_shape_dataset(fake_objects, categories=["chair"], progress=False, **SMALL)
    with pytest.raises(InputError, match="multiple of resolution"):
        build_shape_dataset(fake_objects, image_size=20, resolution=8, progress=False)
    with pytest.raises(InputError, match="split"):
        ShapeDataset("dev", root=fake_objects, progress=False, **SMALL)
    with pytest.raises(InputError, match="background"):
        ShapeDataset("all", root=fake_objects, background="grey", progress=False, **SMALL)
    cache = build_shape_dataset(fake_objects, categories=["spike"], limit_per_category=1, progress=False, **SMALL)
    assert [f.stem for f in cache.glob("models/*/*.npz")] == [e.name for e in read_index(fake_objects)
                                                              if e.category == "spike" and e.split == "test"]


def test_real_model_renders_centred_upright_and_filling_the_frame(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ENERGY3D_CACHE", str(tmp_path / "cache"))
    ds = ShapeDataset("all", root=data_dir, categories=["sofa"], limit_per_category=1, image_size=32, resolution=16,
                      views=3, progress=False)
    assert len(ds) == 3
    for i in range(3):
        it = ds[i]
        mask = it["mask"].numpy() > 0.5
        rows, cols = np.nonzero(mask)
        assert abs(rows.mean() - 16) < 5 and abs(cols.mean() - 16) < 5  # centred
        assert max(np.ptp(rows), np.ptp(cols)) + 1 >= 0.55 * 32  # fills most of the frame
        assert rows.min() > 0 and cols.min() > 0 and rows.max() < 31 and cols.max() < 31  # never clipped
        # coloured: the sofa is not grey
        rgb = it["image"].numpy()[:, mask]
        assert np.abs(rgb[0] - rgb[2]).mean() > 0.1
    # upright: the world grid's occupancy sits on the floor plane and spreads sideways
    w = ds[0]["world"].numpy()
    ext = [np.ptp(np.nonzero(w.any(axis=tuple(a for a in range(3) if a != k)))[0]) for k in range(3)]
    assert ext[1] < max(ext[0], ext[2])
