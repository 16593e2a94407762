"""energy3d.geometry"""
