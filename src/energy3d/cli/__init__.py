"""energy3d.cli"""
