"""energy3d: energy-based 3D inference from 2D observations.

Three applications share one idea (a 3D hypothesis scored by an energy that joins a graphics
operation with learned realism, minimised by unrolled gradient descent or exact/approximate
discrete search): 2D-to-3D pose lifting (IGE-Net), structured monocular 3D pose (branch-and-bound
and ADMM over part graphs) and single-view voxel reconstruction.
"""

__version__ = "0.1.0"

from energy3d.errors import InputError  # noqa: E402

__all__ = ["InputError", "__version__"]
