"""Utility: what an ML team can do with the synthetic table (tested on real holdout data)."""
