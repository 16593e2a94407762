"""Networks: lifting baseline and IGE lifter (voxel and structured models live beside them).

``energy3d.models.structured_pose``: :class:`~energy3d.models.structured_pose.StructuredPoseNet` and
:class:`~energy3d.models.structured_pose.PoseNetConfig` (Kinauer et al. structured 3D pose, issue #13).
"""
