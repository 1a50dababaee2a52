"""Rendering of reports: HTML (self-contained), PDF and JSON.

``validate_release`` is the entry point the CLI and the pipeline's report stage call: it
runs ``synthgen.evaluate.release.evaluate_release`` and writes ``report.html``,
``report.pdf`` and ``report.json`` into the report directory. Imports flow
``reports -> synthgen``, never back.
"""

from reports.validation import validate_release, write_report

__all__ = ["validate_release", "write_report"]
