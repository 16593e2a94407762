"""energy3d.optim"""
