"""Energies: pose lifting (reprojection + feasibility) and frustum voxel energies."""
