"""Render a validation result: one self-contained HTML file, a PDF of it, and JSON.

The HTML inlines its CSS and every plot (base64 PNG ``data:`` URIs): it opens from a USB
stick or an e-mail attachment without network access and never fetches anything. The PDF
is the same template rendered by xhtml2pdf (pure Python, on top of ReportLab, so the
service needs no browser and no system libraries) with a print style sheet restricted to
the CSS subset xhtml2pdf understands. ``report.json`` holds every number of the report.

``write_report`` builds the three files in a hidden staging directory next to the target
and moves them into place only when all three are complete: a failure leaves no
half-written report behind.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reports.plots import render_png
from synthgen import __version__
from synthgen.errors import OutputError

if TYPE_CHECKING:
    from synthgen.evaluate.release import ValidationResult

REPORT_FILES = ("report.html", "report.pdf", "report.json")
PDF_IMAGE_WIDTH = 500  # points: the A4 text width at the print style's margins is ~510pt


@dataclass
class ReportPaths:
    html: Path
    pdf: Path
    json: Path


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
                if pdf and width > PDF_IMAGE_WIDTH:
                    width, height = PDF_IMAGE_WIDTH, round(height * PDF_IMAGE_WIDTH / width)
                item.update(png=png, width=width, height=height)
            blocks.append(item)
        sections.append({"key": section.key, "title": section.title, "level": section.level, "blocks": blocks})
    p = result.provenance
    return {
        "css": _template_text("print.css" if pdf else "report.css"),
        "pdf": pdf,
        "notice": NOTICE,
        "verdict": result.verdict,
        "private": result.private,
        "subtitle": f"Synthetic {'images' if result.modality == 'image' else 'table'} "
        f"{Path(p['synthetic_file']).name} from model {Path(p['model_dir']).name}",
        "sections": sections,
        "version": __version__,
        "created_at": result.created_at,
    }


def render_html(result: ValidationResult, pngs: dict[int, str] | None = None, *, pdf: bool = False) -> str:
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    template = env.from_string(_template_text("report.html"))
    return template.render(**_context(result, pngs if pngs is not None else figures_to_png(result), pdf=pdf))


def render_pdf(html: str, path: Path) -> None:
    import logging

    from xhtml2pdf import pisa

    logging.getLogger("xhtml2pdf").setLevel(logging.ERROR)
    with path.open("wb") as fh:
        status = pisa.CreatePDF(html, dest=fh, encoding="utf-8")
    if status.err:
        raise OutputError(f"the PDF report could not be rendered ({status.err} error(s))")


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


def write_report(result: ValidationResult, report_dir: str | Path) -> ReportPaths:
    """Write report.html, report.pdf and report.json into ``report_dir`` (created with
    owner-only permissions when new; existing report files in it are replaced)."""
    report_dir = Path(report_dir)
    check_report_dir(report_dir)
    report_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{report_dir.name}.staging-", dir=report_dir.parent))
    try:
        pngs = figures_to_png(result)
        (staging / "report.json").write_text(render_json(result), encoding="utf-8")
        (staging / "report.html").write_text(render_html(result, pngs), encoding="utf-8")
        render_pdf(render_html(result, pngs, pdf=True), staging / "report.pdf")
        if not report_dir.exists():
            os.replace(staging, report_dir)
        else:
            for name in REPORT_FILES:
                os.replace(staging / name, report_dir / name)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return ReportPaths(report_dir / "report.html", report_dir / "report.pdf", report_dir / "report.json")
