"""Render a validation result: one self-contained HTML file, a PDF of it, and JSON.

The HTML inlines its CSS and every plot (base64 PNG ``data:`` URIs): it opens from a USB
stick or an e-mail attachment without network access and never fetches anything. The PDF
is the same template with the print style sheet (A4, appendix sections open), printed by
headless Chromium (``reports.pdf``). ``report.json`` holds every number of the report.

``write_report`` builds the files in a hidden staging directory next to the target and
moves them into place only when all are complete: a failure leaves no half-written report
behind. Without Chromium it writes the HTML and JSON, skips the PDF (removing a previous
report.pdf, which would no longer match) and returns a warning saying so.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reports.pdf import PdfPrinterMissing, print_pdf
from reports.plots import render_png
from synthgen import __version__
from synthgen.errors import OutputError

if TYPE_CHECKING:
    from synthgen.evaluate.release import ValidationResult

REPORT_FILES = ("report.html", "report.pdf", "report.json")
PRINT_HTML = ".print.html"  # the print variant of the HTML, in the staging directory only


class ReportWarning(UserWarning):
    """Something the reader of a written report should know (the PDF was skipped)."""


@dataclass
class ReportPaths:
    html: Path
    pdf: Path | None  # None when no Chromium was found to print it
    json: Path
    warnings: list[str] = field(default_factory=list)


def _template_text(name: str) -> str:
    return resources.files("reports.templates").joinpath(name).read_text(encoding="utf-8")


def _png_size(b64: str) -> tuple[int, int]:
    import base64

    header = base64.b64decode(b64[:44])
    width, height = struct.unpack(">II", header[16:24])
    return int(width), int(height)


def figures_to_png(result: ValidationResult) -> dict[int, str]:
    """Draw every figure once: id(block) -> base64 PNG."""
    pngs: dict[int, str] = {}
    for section in result.sections:
        for block in section.blocks:
            if block.type == "figure":
                pngs[id(block)] = render_png(block.plot, block.data)  # type: ignore[union-attr]
    return pngs


def _context(result: ValidationResult, pngs: dict[int, str], *, pdf: bool) -> dict[str, Any]:
    from synthgen.evaluate.release import NOTICE

    sections = []
    for section in result.sections:
        blocks = []
        for block in section.blocks:
            item = dict(vars(block))
            if block.type == "figure":
                png = pngs[id(block)]
                width, height = _png_size(png)
                item.update(png=png, width=width, height=height)
            blocks.append(item)
        sections.append(
            {
                "key": section.key,
                "title": section.title,
                "level": section.level,
                "appendix": section.appendix,
                "blocks": blocks,
            }
        )
    p = result.provenance
    return {
        "css": _template_text("print.css" if pdf else "report.css"),
        "pdf": pdf,
        "notice": NOTICE,
        "verdict": result.verdict,
        "private": result.private,
        "subtitle": f"Synthetic {'images' if result.modality == 'image' else 'table'} "
        f"{Path(p['synthetic_file']).name} from model {Path(p['model_dir']).name}",
        "sections": [s for s in sections if not s["appendix"]],
        "appendix": [s for s in sections if s["appendix"]],
        "version": __version__,
        "created_at": result.created_at,
    }


def render_html(
    result: ValidationResult, pngs: dict[int, str] | None = None, *, pdf: bool = False
) -> str:
    import jinja2

    env = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True
    )
    template = env.from_string(_template_text("report.html"))
    return template.render(
        **_context(result, pngs if pngs is not None else figures_to_png(result), pdf=pdf)
    )


def render_pdf(html: str, path: Path) -> None:
    """Print ``html`` (the print variant of the report) into ``path`` with headless
    Chromium; the HTML goes through a file next to ``path``, removed afterwards."""
    source = path.with_name(PRINT_HTML)
    source.write_text(html, encoding="utf-8")
    try:
        print_pdf(source, path)
    finally:
        source.unlink(missing_ok=True)


def render_json(result: ValidationResult) -> str:
    return json.dumps(result.to_json_dict(), indent=2, allow_nan=False) + "\n"


def check_report_dir(report_dir: Path) -> None:
    """Refuse a report directory that cannot be written, before any work is done."""
    if report_dir.exists() and not report_dir.is_dir():
        raise OutputError(f"{report_dir} exists and is not a directory")
    parent = report_dir if report_dir.exists() else report_dir.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write in {parent}")


def write_report(
    result: ValidationResult,
    report_dir: str | Path,
    *,
    warn: Callable[[str], None] | None = None,
) -> ReportPaths:
    """Write report.html, report.pdf and report.json into ``report_dir`` (created with
    owner-only permissions when new; existing report files in it are replaced).

    Without Chromium the PDF is skipped: ``warn`` (by default ``warnings.warn`` with a
    ``ReportWarning``) gets one message, and the returned paths have ``pdf=None``."""
    report_dir = Path(report_dir)
    check_report_dir(report_dir)
    report_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{report_dir.name}.staging-", dir=report_dir.parent))
    messages: list[str] = []
    try:
        pngs = figures_to_png(result)
        (staging / "report.json").write_text(render_json(result), encoding="utf-8")
        (staging / "report.html").write_text(render_html(result, pngs), encoding="utf-8")
        try:
            render_pdf(render_html(result, pngs, pdf=True), staging / "report.pdf")
        except PdfPrinterMissing as exc:
            messages.append(f"report.pdf was not written: {exc}. report.html and report.json were.")
        written = [name for name in REPORT_FILES if (staging / name).exists()]
        if not report_dir.exists():
            os.replace(staging, report_dir)
        else:
            for name in written:
                os.replace(staging / name, report_dir / name)
            for name in set(REPORT_FILES) - set(written):  # a stale PDF would not match
                (report_dir / name).unlink(missing_ok=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    for message in messages:
        if warn is None:
            warnings.warn(message, ReportWarning, stacklevel=2)
        else:
            warn(message)
    pdf = report_dir / "report.pdf"
    return ReportPaths(
        report_dir / "report.html",
        pdf if pdf.exists() else None,
        report_dir / "report.json",
        messages,
    )
