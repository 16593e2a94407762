"""energy3d.viz"""
