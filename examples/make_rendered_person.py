"""Make ``rendered_person_wave.png``: one image of the rendered Bandai test split (the structured-pose model's
RGB input: a 128 x 128 crop of a capsule body in a real motion-capture pose, ``energy3d.data.pose_images``).

Usage: python examples/make_rendered_person.py   (needs the Bandai motion in ../shared/data)
"""

from pathlib import Path

import numpy as np
from PIL import Image

from energy3d.data.pose_images import PoseImageConfig, load_pose_image_split

ds = load_pose_image_split(PoseImageConfig(), "test")
i = np.flatnonzero(np.asarray(ds.action) == "wave-both-hands")[40]  # test image 1411 of the default config
Image.fromarray(np.asarray(ds.images[i])).save(Path(__file__).with_name("rendered_person_wave.png"))
