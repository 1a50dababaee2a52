"""Tabular synthesis: schema, DP preprocessing, mixed-type diffusion, DP training, sampling."""
