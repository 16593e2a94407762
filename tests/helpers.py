"""Small synthetic data shared by tests and benchmarks (no real data needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from energy3d.data.lifting import CameraConfig, LiftingSet, pose_in_cameras
from energy3d.skeleton import H36M17

# A standing person in h36m17 order, metres, Y up (written by hand).
TEMPLATE = np.array([
    [0.00, 0.95, 0.00], [-0.12, 0.95, 0.00], [-0.13, 0.52, 0.02], [-0.13, 0.08, 0.00],
    [0.12, 0.95, 0.00], [0.13, 0.52, 0.02], [0.13, 0.08, 0.00], [0.00, 1.18, 0.00],
    [0.00, 1.42, 0.00], [0.00, 1.52, 0.05], [0.00, 1.68, 0.02], [0.18, 1.40, 0.00],
    [0.42, 1.38, 0.00], [0.64, 1.37, 0.02], [-0.18, 1.40, 0.00], [-0.42, 1.38, 0.00],
    [-0.64, 1.37, 0.02]], dtype=np.float32)


def random_poses(n: int, seed: int = 0) -> np.ndarray:
    """``(n, 17, 3)`` jittered, randomly turned copies of :data:`TEMPLATE` (metres, Y up)."""
    rng = np.random.default_rng(seed)
    p = TEMPLATE[None] + rng.normal(0, 0.04, (n, 17, 3)).astype(np.float32)
    a = rng.uniform(0, 2 * np.pi, n)
    c, s = np.cos(a), np.sin(a)
    R = np.zeros((n, 3, 3), np.float32)
    R[:, 0, 0], R[:, 0, 2], R[:, 1, 1], R[:, 2, 0], R[:, 2, 2] = c, s, 1, -s, c
    return np.einsum("nij,nkj->nki", R, p)


def synthetic_lifting_set(n: int = 512, seed: int = 0, actions=("walk", "wave")) -> LiftingSet:
    X = random_poses(n, seed)
    Xc, p, K = pose_in_cameras(X, CameraConfig(), torch.Generator().manual_seed(seed))
    act = np.array([actions[i % len(actions)] for i in range(n)])
    return LiftingSet(Xc, p, K, act, H36M17)


def tiny_trained_lifter(folder, kind: str = "ige"):
    """Train a tiny lifter (width 16; IGE: T = 2) for one epoch on synthetic data; returns ``best.json``."""
    from energy3d.tasks.lift import LiftExperiment, LiftingTask
    from energy3d.models.lifter import LifterConfig
    from energy3d.train.loop import TrainConfig, fit

    model = LifterConfig(type=kind, width=16, blocks=1, steps=2, energy_hidden=16)
    exp = LiftExperiment(name="tiny", model=model, train=TrainConfig(epochs=1, batch_size=64), val_limit=64)
    task = LiftingTask(exp, train_set=synthetic_lifting_set(256), val_set=synthetic_lifting_set(64, seed=1))
    fit(task, exp.train, folder, resume=False, progress=False)
    return Path(folder) / "best.json"


class BlobShapes(torch.utils.data.Dataset):
    """Random 64 px images whose frustum (and world) target is always a central block of an ``R³`` grid.

    A voxel model learns to predict the block in a few epochs: enough for tests of the commands.
    """

    def __init__(self, n: int = 8, R: int = 16):
        self.images = torch.rand(n, 3, 64, 64, generator=torch.Generator().manual_seed(n))
        self.t = torch.zeros(R, R, R)
        self.t[R // 4:3 * R // 4, R // 4:3 * R // 4, R // 4:3 * R // 4] = 1

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return {"image": self.images[i], "frustum": self.t, "world": self.t, "category_name": "chair"}


def tiny_trained_voxel(folder) -> Path:
    """Train a tiny voxel IGE model (64 px images, 16³, T = 2) for 8 epochs on :class:`BlobShapes`; returns ``best.json``."""
    from energy3d.models.voxel import VoxelModelConfig
    from energy3d.tasks.voxel import VoxelDataConfig, VoxelExperiment, VoxelTask
    from energy3d.train.loop import TrainConfig, fit

    cfg = VoxelModelConfig(type="ige", image_size=64, resolution=16, stem_stride=1, width_mult=0.25,
                           decoder_channels=16, deconv_channels=8, deconv_bottleneck=8, init_resolution=8, steps=2)
    exp = VoxelExperiment(name="tiny", data=VoxelDataConfig(resolution=16), model=cfg,
                          train=TrainConfig(epochs=8, batch_size=4, lr=5e-3), val_limit=4)
    fit(VoxelTask(exp, train_set=BlobShapes(8), val_set=BlobShapes(4)), exp.train, folder, resume=False, progress=False)
    return Path(folder) / "best.json"


def run_cli(args, capsys) -> tuple[int, str, str]:
    """Run ``energy3d ARGS`` in process; returns ``(exit status, stdout, stderr)``."""
    from energy3d.cli.main import main

    rc = main([str(a) for a in args])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def write_video(path, frames, fps=10):
    """Write ``frames`` (uint8 RGB arrays of one size) as an MPEG-4 video with PyAV."""
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=fps)
        s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
