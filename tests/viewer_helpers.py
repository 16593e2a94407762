"""Small motions and frames for the viewer tests (h36m17, camera frame: x right, y down, z forward, metres)."""

import numpy as np

from energy3d.skeleton import H36M17

STAND = {
    "Hip": (0, 0, 0), "RHip": (-0.13, 0, 0), "RKnee": (-0.15, 0.43, 0.05), "RFoot": (-0.15, 0.85, 0.1),
    "LHip": (0.13, 0, 0), "LKnee": (0.15, 0.43, -0.05), "LFoot": (0.16, 0.86, 0.05),
    "Spine": (0, -0.23, 0), "Thorax": (0, -0.48, 0), "Neck/Nose": (0, -0.6, -0.08), "Head": (0, -0.72, 0),
    "LShoulder": (0.17, -0.46, 0), "LElbow": (0.3, -0.25, -0.1), "LWrist": (0.35, -0.05, -0.25),
    "RShoulder": (-0.17, -0.46, 0), "RElbow": (-0.42, -0.47, 0), "RWrist": (-0.67, -0.5, 0.05),
}
FOCAL, CENTRE = 1000.0, (500.0, 500.0)  # the pinhole of project(); images are 1000 x 1000


def stand(shift=(0.0, 0.0, 4.0), arm_up=False) -> np.ndarray:
    """``(17, 3)`` a standing person at ``shift``; ``arm_up`` raises the left arm above the head."""
    p = np.array([STAND[n] for n in H36M17.joints], dtype=float)
    if arm_up:
        i = H36M17.index
        p[i("LElbow")] = p[i("LShoulder")] + [0.05, -0.28, 0.0]
        p[i("LWrist")] = p[i("LElbow")] + [0.02, -0.26, 0.0]
    return p + np.asarray(shift, dtype=float)


def motion(T: int, people: int = 1) -> np.ndarray:
    """``(T, people, 17, 3)``: person 0 walks right waving its left arm, person 1 steps towards the camera."""
    out = []
    for t in range(T):
        fr = [stand((0.03 * t - 0.6, 0.0, 4.0), arm_up=(t // 5) % 2 == 1)]
        if people > 1:
            fr.append(stand((0.8, 0.0, 5.0 - 0.02 * t)))
        out.append(fr)
    return np.asarray(out)


def project(p: np.ndarray) -> np.ndarray:
    """``(..., 3)`` camera frame -> ``(..., 2)`` pixels of the 1000 x 1000 test images."""
    return p[..., :2] / p[..., 2:] * FOCAL + np.asarray(CENTRE)


def frames(T: int, size=(1000, 1000), noise: bool = False) -> list[np.ndarray]:
    """``T`` uint8 RGB frames ``(H, W, 3)``: a purple-red ramp with a green square moving right."""
    w, h = size
    rng = np.random.default_rng(0)
    out = []
    for t in range(T):
        a = np.zeros((h, w, 3), np.uint8)
        a[..., 0] = np.linspace(40, 200, w)[None].astype(np.uint8)
        a[..., 2] = 90
        x = int(w * (0.1 + 0.02 * t)) % max(w - w // 5, 1)
        a[h // 10:3 * h // 10, x:x + w // 5] = (0, 200, 0)
        if noise:  # detail that JPEG cannot squeeze: bigger thumbnails
            a = np.clip(a + rng.integers(-40, 40, a.shape), 0, 255).astype(np.uint8)
        out.append(a)
    return out
