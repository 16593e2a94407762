"""energy3d.models"""
