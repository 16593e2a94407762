"""energy3d.energies"""
