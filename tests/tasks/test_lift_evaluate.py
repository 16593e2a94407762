"""``evaluate_motion(..., markers=...)``: one detector geometry for several checkpoints."""

from dataclasses import replace

import pytest

from energy3d.config import from_dict
from energy3d.data.lifting import LiftDataConfig
from energy3d.tasks.lift import BUNDLED_LIFTER, evaluate_motion, load_lifter

pytestmark = pytest.mark.usefixtures("one_thread")


def test_markers_override_changes_the_2d_and_the_checkpoints_own_reproduces_the_default(data_dir):
    clip = sorted((data_dir / "motion_bandai" / "bvh").glob("*.bvh"))[0]
    own = from_dict(LiftDataConfig, load_lifter(BUNDLED_LIFTER)[1]["config"]["data"]).markers
    default = evaluate_motion(BUNDLED_LIFTER, clip, two_d="gt", keypoints="detector")
    same = evaluate_motion(BUNDLED_LIFTER, clip, two_d="gt", keypoints="detector", markers=own)
    other = evaluate_motion(BUNDLED_LIFTER, clip, two_d="gt", keypoints="detector",
                            markers=replace(own, nose_up_m=(0.3, 0.4)))
    assert same["average"] == default["average"]
    assert other["average"]["pa_mpjpe_mm"] != pytest.approx(default["average"]["pa_mpjpe_mm"], abs=1e-3)
