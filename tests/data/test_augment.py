"""Detector-style keypoints and body-proportion augmentation (energy3d.data.augment)."""

import numpy as np
import pytest
import torch

from energy3d.data.augment import (
    BONE_GROUPS, MarkerConfig, ProportionConfig, detector_keypoints_2d, detector_keypoints_3d, scale_bones,
    torso_leg_ratio,
)
from energy3d.data.lifting import LiftingBatches, LiftingSet
from energy3d.errors import InputError
from energy3d.geometry.camera import intrinsics, project
from energy3d.skeleton.layouts import COCO17, H36M17, convert


def upright(B=4, depth=4.0):
    """Upright people facing the camera (camera frame: y down, z forward), 1.75 m tall."""
    j = {"pelvis": (0, 0, 0), "r_hip": (-0.1, 0, 0), "r_knee": (-0.1, 0.45, 0), "r_ankle": (-0.1, 0.88, 0),
         "l_hip": (0.1, 0, 0), "l_knee": (0.1, 0.45, 0), "l_ankle": (0.1, 0.88, 0), "spine": (0, -0.25, 0),
         "thorax": (0, -0.5, 0), "nose": (0, -0.65, 0), "head_top": (0, -0.83, 0), "l_shoulder": (0.18, -0.45, 0),
         "l_elbow": (0.2, -0.17, 0), "l_wrist": (0.2, 0.08, 0), "r_shoulder": (-0.18, -0.45, 0),
         "r_elbow": (-0.2, -0.17, 0), "r_wrist": (-0.2, 0.08, 0)}
    y = torch.tensor([j[c] for c in H36M17.canonical], dtype=torch.float64) + torch.tensor([0.0, 0.0, depth])
    return y.expand(B, -1, -1).clone()


def bone_lengths(y):
    return {c: (y[:, i] - y[:, p]).norm(dim=-1) for i, (p, c) in enumerate(zip(H36M17.parents, H36M17.canonical)) if p >= 0}


def test_scale_bones_scales_each_group_once_and_keeps_directions():
    y = upright(64)
    out = scale_bones(y, ProportionConfig(limb_sigma=0.1, torso_sigma=0.2), torch.Generator().manual_seed(0))
    before, after = bone_lengths(y), bone_lengths(out)
    ratio = {c: after[c] / before[c] for c in before}
    for group, members in BONE_GROUPS.items():
        for c in members[1:]:  # left and right (and the two torso bones) share one scale
            torch.testing.assert_close(ratio[c], ratio[members[0]])
    assert float(ratio["spine"].std()) > float(ratio["r_knee"].std())  # torso sigma is the larger
    lim = np.exp(2 * 0.2) + 1e-9
    assert all(float(r.max()) <= lim and float(r.min()) >= 1 / lim for r in ratio.values())  # clipped at 2 sigma
    torch.testing.assert_close(out[:, 0], y[:, 0])  # pelvis fixed
    for i, p in enumerate(H36M17.parents):  # directions kept
        if p >= 0:
            d0 = (y[:, i] - y[:, p]) / before[H36M17.canonical[i]][:, None]
            d1 = (out[:, i] - out[:, p]) / after[H36M17.canonical[i]][:, None]
            torch.testing.assert_close(d0, d1)


def test_scale_bones_off_is_identity_and_bad_shape_is_an_error():
    y = upright(2)
    assert scale_bones(y, ProportionConfig(), torch.Generator()) is y
    with pytest.raises(InputError, match=r"\(B, 17, 3\)"):
        scale_bones(torch.zeros(2, 16, 3), ProportionConfig(0.1, 0.1), torch.Generator())


def test_detector_keypoints_sit_where_the_config_says():
    y = upright(256)
    cfg = MarkerConfig()
    k = detector_keypoints_3d(y, cfg, torch.Generator().manual_seed(1))
    ci = COCO17.canonical.index
    hi = H36M17.canonical.index
    # the nose is ahead of the skull base (towards the camera, -z: the person faces the camera) and within range
    fwd = y[:, hi("nose"), 2] - k[:, ci("nose"), 2]
    assert float(fwd.min()) >= cfg.nose_forward_m[0] - 1e-9 and float(fwd.max()) <= cfg.nose_forward_m[1] + 1e-9
    # detector hips are lower (y down) by up to hip_down of the thigh, and outward
    down = k[:, ci("l_hip"), 1] - y[:, hi("l_hip"), 1]
    assert float(down.min()) >= -1e-9 and float(down.max()) <= cfg.hip_down[1] * 0.45 + 1e-9
    assert float((k[:, ci("l_hip"), 0] - y[:, hi("l_hip"), 0]).min()) >= -1e-9  # left hip is at +x: outward
    # shoulders above the rig's (y smaller), limbs unchanged
    assert float((y[:, hi("r_shoulder"), 1] - k[:, ci("r_shoulder"), 1]).min()) >= -1e-9
    torch.testing.assert_close(k[:, ci("r_wrist")], y[:, hi("r_wrist")])
    # the marker offsets vary per sample
    assert float(fwd.std()) > 0.005


def test_one_person_draws_the_offsets_once_for_every_frame():
    """``one_person``: each frame's keypoints are what a single-frame call with the same draws gives."""
    y = upright(6)
    y = y + torch.linspace(0, 0.5, 6, dtype=y.dtype)[:, None, None]  # the person moves between frames
    k = detector_keypoints_3d(y, MarkerConfig(), torch.Generator().manual_seed(4), one_person=True)
    for t in range(6):
        ref = detector_keypoints_3d(y[t:t + 1], MarkerConfig(), torch.Generator().manual_seed(4))
        torch.testing.assert_close(k[t:t + 1], ref)
    per_sample = detector_keypoints_3d(y, MarkerConfig(), torch.Generator().manual_seed(4))
    nose = COCO17.canonical.index("nose")
    assert float((per_sample[:, nose] - y[:, H36M17.canonical.index("nose")])[:, 2].std()) > 0.005
    assert float((k[:, nose] - y[:, H36M17.canonical.index("nose")])[:, 2].std()) < 1e-9


def test_detector_keypoints_2d_is_the_conversion_lift_applies():
    y = upright(8)
    K = intrinsics(torch.full((8,), 1000.0, dtype=torch.float64), torch.full((8,), 1000.0, dtype=torch.float64),
                   torch.full((8,), 500.0, dtype=torch.float64), torch.full((8,), 500.0, dtype=torch.float64))
    p = detector_keypoints_2d(y, K, MarkerConfig(), torch.Generator().manual_seed(3))
    coco = detector_keypoints_3d(y, MarkerConfig(), torch.Generator().manual_seed(3))
    want = convert(project(coco, K).numpy(), COCO17, H36M17)
    np.testing.assert_allclose(p.numpy(), want, atol=1e-9)
    # pelvis = midpoint of the detector hips, thorax = of the detector shoulders (not the rig's neck joint)
    pc = project(coco, K).numpy()
    np.testing.assert_allclose(p[:, 0].numpy(), 0.5 * (pc[:, COCO17.canonical.index("l_hip")] + pc[:, COCO17.canonical.index("r_hip")]))


def test_torso_leg_ratio_measures_upright_people():
    y = upright(1).numpy()[0]
    assert torso_leg_ratio(y, H36M17) == pytest.approx(0.45 / 0.88)
    k = detector_keypoints_3d(upright(512), MarkerConfig(), torch.Generator().manual_seed(0)).numpy()
    r = torso_leg_ratio(k, COCO17)
    assert r.mean() > 0.45 / 0.88 + 0.05  # detector hips lower, shoulders higher: a longer-looking torso


def test_batches_with_augmentation_are_deterministic_and_resume_exactly():
    y = upright(40).float() + torch.randn(40, 17, 3, generator=torch.Generator().manual_seed(0)) * 0.02
    K = intrinsics(torch.full((40,), 1000.0), torch.full((40,), 1000.0), torch.full((40,), 500.0),
                   torch.full((40,), 500.0)).float()
    ds = LiftingSet(y.numpy(), project(y, K).numpy(), K.numpy(), np.array(["a"] * 40), H36M17)
    kw = dict(two_d="noisy", seed=3, keypoints="detector", proportions=ProportionConfig(0.08, 0.12))
    a = list(LiftingBatches(ds, 8, **kw).epoch(1))
    b = list(LiftingBatches(ds, 8, **kw).epoch(1, start=2))
    assert len(a) == 5 and len(b) == 3
    for (xa, ya), (xb, yb) in zip(a[2:], b):
        torch.testing.assert_close(xa, xb)
        torch.testing.assert_close(ya, yb)
    # targets are the augmented rig poses: thigh lengths vary per sample although the stored ones barely do
    lens = torch.stack([(yy[:, 2] - yy[:, 1]).norm(dim=-1) for _, yy in a]).flatten()
    assert float(lens.std()) > 0.01  # thigh lengths vary per sample
    with pytest.raises(InputError, match="keypoints"):
        LiftingBatches(ds, 8, keypoints="markers")
