"""Application glue, one module per application: what the command line's verbs call.

* :mod:`energy3d.tasks.lift`: 2D keypoints -> 3D pose (IGE-Net §5): experiment, training task,
  evaluation (virtual cameras, Human3.6M files) and inference on keypoint files;
* :mod:`energy3d.tasks.voxel`: single-view voxel reconstruction (IGE-Net §6): experiment, training
  task, evaluation and ``reconstruct``;
* :mod:`energy3d.tasks.export`: checkpoint copies (float16) and TorchScript lifters;
* :mod:`energy3d.tasks.fit`: ``fit`` for every experiment kind;
* :mod:`energy3d.tasks.info`: what a checkpoint is;
* :mod:`energy3d.tasks.outputs`: writability checks and all-or-nothing output folders.

Tasks join the rooms below them (``data``, ``models``, ``train``, ``metrics``, ``viz``); nothing
below imports a task, and only :mod:`energy3d.cli` prints.
"""
