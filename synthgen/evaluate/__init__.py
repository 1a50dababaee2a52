"""Validation of synthetic releases: data contract, fidelity, utility, empirical privacy,
and the release gate.

Layout (one idea per module):

- the data contract (schema -> Great Expectations suite) lives below, in
  ``synthgen.tabular.expectations`` (training checks its source with it);
- ``metric`` (the ``Metric`` interface and ``MetricResult``), ``inputs`` (prepared tables
  shared by the tabular metrics), ``tables`` (canonical form and encodings);
- ``fidelity/``, ``utility/``, ``privacy/``: one metric per module;
- ``policy`` (thresholds from YAML over ``default_policy.yaml``), ``gate`` (pass / warn /
  fail, verdict), ``registry`` (every check the gate knows);
- ``sections`` (what a report is made of) and ``tabular_report`` (sections of a tabular
  validation); ``release.evaluate_release`` ties it all together.

Rendering lives in the top-level ``reports`` package (``reports.validate_release``), which
imports from here, never the other way round. Heavy libraries (Great Expectations,
scikit-learn) are imported inside the functions that use them.
"""
