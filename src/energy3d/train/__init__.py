"""energy3d.train"""
