"""energy3d.data"""
