"""Fidelity: how closely the synthetic table follows the real one (train split)."""
