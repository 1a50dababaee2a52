"""Empirical privacy checks: bug and memorisation detectors, not certificates.

None of these numbers proves privacy; the DP certificate does. They catch implementation
bugs (a sampler that returns training rows, a model trained without noise) and
memorisation, by comparing how close the synthetic data sits to the training records
against how close it sits to holdout records the model never saw (docs/privacy.md#checks).
"""
