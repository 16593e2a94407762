"""energy3d.structured"""
