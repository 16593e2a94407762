"""Networks: lifting baseline and IGE lifter (voxel and structured models live beside them)."""
