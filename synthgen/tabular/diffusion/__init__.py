"""Diffusion processes for mixed-type rows.

Two processes behind one small interface, composed by ``MixedDiffusion``:
``GaussianDiffusion`` on the numeric coordinates (variance preserving, epsilon
prediction) and ``MaskedDiffusion`` on the categorical ones (absorbing state). Both share
one time t in [0, 1]: t = 0 is data, t = 1 is pure noise / all masked.
"""
