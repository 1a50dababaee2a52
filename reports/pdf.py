"""Print an HTML report to PDF with headless Chromium.

The PDF is the HTML report printed by a browser, so it shows what the HTML shows (the same
tables, the same plots at the width of an A4 page) under the print style sheet
``templates/print.css``. Chromium is found on the PATH (``chromium``, ``chromium-browser``,
``google-chrome``) or at ``$SYNTHGEN_CHROMIUM``. Without it, ``find_chromium`` raises
``PdfPrinterMissing``; ``reports.render.write_report`` then writes the HTML and JSON, skips
the PDF and says so in a warning.

Chromium runs with a throw-away profile, no network services, and without its default
header and footer (they would print the file's path on the steward's machine).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from synthgen.errors import OutputError

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_ENV = "SYNTHGEN_CHROMIUM"
PRINT_TIMEOUT_S = (
    180  # a 15-page report prints in a few seconds; two busy cores can take far longer
)


class PdfPrinterMissing(OutputError):
    """No headless Chromium to print report.pdf with."""


def find_chromium() -> str:
    """The Chromium executable: ``$SYNTHGEN_CHROMIUM``, else the first of CHROMIUM_NAMES on
    the PATH."""
    configured = os.environ.get(CHROMIUM_ENV)
    if configured:
        path = shutil.which(configured)
        if path is None:
            raise PdfPrinterMissing(f"{CHROMIUM_ENV}={configured} is not an executable")
        return path
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path is not None:
            return path
    raise PdfPrinterMissing(
        "no Chromium to print report.pdf with (looked for "
        f"{', '.join(CHROMIUM_NAMES)} on the PATH; set {CHROMIUM_ENV} to another one, or "
        "install Debian's chromium)"
    )


def print_pdf(html_path: Path, pdf_path: Path, *, timeout: float = PRINT_TIMEOUT_S) -> None:
    """Print the HTML file at ``html_path`` into ``pdf_path``. Raises ``PdfPrinterMissing``
    without Chromium and ``OutputError`` when printing fails."""
    chromium = find_chromium()
    with tempfile.TemporaryDirectory(prefix="synthgen-chromium-") as profile:
        command = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf_path.resolve()}",
            html_path.resolve().as_uri(),
        ]
        try:
            run = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise OutputError(
                f"Chromium did not print the PDF report within {timeout:g} s"
            ) from exc
        except OSError as exc:
            raise PdfPrinterMissing(f"cannot run {chromium}: {exc.strerror}") from exc
    if run.returncode != 0 or not pdf_path.is_file() or pdf_path.stat().st_size == 0:
        tail = " | ".join(run.stderr.strip().splitlines()[-3:])
        raise OutputError(
            f"Chromium could not print the PDF report (exit code {run.returncode}): {tail}"
        )
