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


def run_cli(args, capsys) -> tuple[int, str, str]:
    """Run ``energy3d ARGS`` in process; returns ``(exit status, stdout, stderr)``."""
    from energy3d.cli.main import main

    rc = main([str(a) for a in args])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err
