"""The rendered reports: self-contained HTML that a browser shows without console errors,
a PDF printed by headless Chromium with the bottom line on its first page and the passing
rows in an appendix at the end, and JSON with every number."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

from reports import validate_release, write_report
from reports.render import ReportWarning
from synthgen.errors import OutputError
from synthgen.evaluate.registry import check_definitions
from synthgen.evaluate.release import NOTICE
from tests.evaluate.builders import (
    adult_schema,
    adult_table,
    heart_schema,
    heart_table,
    split,
    to_csv_like_sampler,
    write_model,
)

pytestmark = pytest.mark.slow  # each module fixture runs a full validation (5-10 s)


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: apt-get install chromium poppler-utils (CI does it in .ci/run)")
    return path


@pytest.fixture(scope="module")
def not_private_copy(tmp_path_factory) -> Path:
    """A model trained without DP whose 'synthetic' data is a copy of its training split."""
    root = tmp_path_factory.mktemp("heart")
    schema = heart_schema()
    train, holdout = split(heart_table(), 0.3)
    model = write_model(root, schema, train, holdout, private=False)
    synthetic = to_csv_like_sampler(train, schema, root / "synthetic.csv")
    validate_release(model, synthetic, report_dir=root / "report")
    return root / "report"


@pytest.fixture(scope="module")
def good_release(tmp_path_factory) -> Path:
    """A private Adult model whose synthetic rows are real records it never saw (an ideal
    generator): 2,000 training rows, 1,000 holdout rows, 2,000 fresh rows."""
    root = tmp_path_factory.mktemp("adult")
    schema = adult_schema()
    table = adult_table("train").sample(n=3000, random_state=1).reset_index(drop=True)
    fresh = adult_table("test").sample(n=2000, random_state=1).reset_index(drop=True)
    model = write_model(root, schema, table.iloc[:2000], table.iloc[2000:])
    synthetic = to_csv_like_sampler(fresh, schema, root / "synthetic.csv")
    validate_release(model, synthetic, report_dir=root / "report")
    return root / "report"


def screenshot(html: Path, out: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Headless Chromium, logging the page's console to stderr."""
    return subprocess.run(
        [
            tool("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'chromium-profile'}", "--enable-logging=stderr", "--v=0",
            "--window-size=1280,2400", f"--screenshot={out}", html.resolve().as_uri(),
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )


def console_errors(stderr: str) -> list[str]:
    """Console messages and uncaught exceptions in Chromium's log (the report has no
    scripts, so any console output at all is unexpected)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def distinct_colours(png: Path) -> int:
    from PIL import Image

    with Image.open(png) as image:
        return len(image.convert("RGB").getcolors(maxcolors=1_000_000) or [])


# -- JSON ------------------------------------------------------------------------------------
def test_json_has_a_verdict_and_every_check(good_release):
    def no_nan(token):
        raise AssertionError(f"non-standard JSON number {token}")

    report = json.loads((good_release / "report.json").read_text(), parse_constant=no_nan)
    assert report["verdict"] == "pass"
    assert {c["name"] for c in report["checks"]} == set(check_definitions("tabular"))
    assert report["notice"] == NOTICE
    assert report["metrics"]["tstr_auc_ratio"]["details"]["rows"][0]["roc_auc"] > 0.5
    assert report["expectations"]["success"] is True


def test_json_of_a_non_private_model_says_infinity(not_private_copy):
    report = json.loads((not_private_copy / "report.json").read_text())
    assert report["verdict"] == "fail" and report["private"] is False
    epsilon = next(c for c in report["checks"] if c["name"] == "certificate_epsilon")
    assert (epsilon["value"], epsilon["status"]) == ("Infinity", "fail")


# -- HTML ------------------------------------------------------------------------------------
def test_html_is_self_contained(good_release):
    html = (good_release / "report.html").read_text()
    assert "<script" not in html and "<link" not in html
    references = re.findall(r'(?:src|href)="([^"#][^"]*)"', html)
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)"', html)
    assert len(images) >= 6  # columns, heatmaps, augmentation, two distance plots, ROC
    assert all(ref.startswith("data:image/png;base64,") for ref in references)
    assert all(base64.b64decode(b64)[:8] == b"\x89PNG\r\n\x1a\n" for b64 in images)


def test_first_page_says_who_may_read_it(good_release, not_private_copy):
    html = (good_release / "report.html").read_text()
    assert html.index(NOTICE) < html.index("Verdict: PASS")
    page1 = subprocess.run(
        [tool("pdftotext"), "-f", "1", "-l", "1", "-layout", str(good_release / "report.pdf"), "-"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert "statistics computed on real data" in " ".join(page1.split())
    assert "data steward and auditors only" in " ".join(page1.split())


def test_not_private_is_written_in_large_letters(not_private_copy):
    html = (not_private_copy / "report.html").read_text()
    assert '<div class="not-private">NOT PRIVATE' in html
    page1 = subprocess.run(
        [tool("pdftotext"), "-f", "1", "-l", "1", str(not_private_copy / "report.pdf"), "-"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert "NOT PRIVATE" in page1


def test_html_renders_in_chromium_without_console_errors(good_release, tmp_path):
    shot = tmp_path / "report.png"
    run = screenshot(good_release / "report.html", shot, tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert console_errors(run.stderr) == []
    assert shot.exists() and distinct_colours(shot) > 50  # text, tables and plots, not a blank page


def test_the_console_check_catches_errors(tmp_path):
    """Negative control: the detector above sees a console error and an uncaught exception."""
    page = tmp_path / "broken.html"
    page.write_text('<html><body><p>x</p><script>console.error("oops"); missing();</script></body></html>')
    run = screenshot(page, tmp_path / "broken.png", tmp_path)
    errors = console_errors(run.stderr)
    assert any('"oops"' in line for line in errors)
    assert any("Uncaught ReferenceError" in line for line in errors)


# -- PDF -------------------------------------------------------------------------------------
def test_pdf_renders_to_png_pages(good_release, tmp_path):
    subprocess.run(
        [tool("pdftoppm"), "-r", "40", "-png", str(good_release / "report.pdf"), str(tmp_path / "page")],
        check=True, capture_output=True, timeout=120,
    )
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 5
    assert all(distinct_colours(p) > 10 for p in pages)


def pdf_text(pdf: Path, first: int | None = None, last: int | None = None) -> str:
    pages = [*(["-f", str(first)] if first else []), *(["-l", str(last)] if last else [])]
    out = subprocess.run([tool("pdftotext"), *pages, str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return " ".join(out.split())


def test_pdf_page_one_has_the_bottom_line(good_release, not_private_copy):
    page1 = pdf_text(good_release / "report.pdf", 1, 1)
    assert "Verdict: PASS — releasable: every check passes" in page1
    for label in ("Privacy", "Fidelity", "Usefulness", "What to do"):
        assert label in page1, label
    assert "Differentially private at epsilon" in page1
    assert "Similarity to the real training split" in page1
    assert "Models trained on the synthetic table reach" in page1 and "the weakest score is" in page1
    assert "Release: ship the synthetic data with its DP certificate" in page1
    failed = pdf_text(not_private_copy / "report.pdf", 1, 1)
    assert "Verdict: FAIL — NOT PRIVATE: never releasable" in failed
    assert "Do not release: a model trained without differential privacy is never releasable" in failed


def test_passing_rows_and_the_config_are_in_an_appendix(good_release):
    html = (good_release / "report.html").read_text()
    body, appendix = html.split('<h2 id="appendix">', 1)
    assert "ExpectColumnValuesToBeBetween" not in body and '"synthgen_version"' not in body
    for key in ("all-checks", "all-expectations", "per-column", "thresholds", "configuration"):
        assert f'<details id="{key}">' in appendix, key  # collapsed on screen
    assert "ExpectColumnValuesToBeBetween" in appendix
    text = pdf_text(good_release / "report.pdf")
    # in the PDF the appendix comes last, open
    assert text.index("Privacy (empirical checks)") < text.index("Appendix") < text.index("ExpectColumnValuesToBeBetween")
    assert text.index("A. All checks") < text.index("E. Model configuration")


def test_utility_is_shown_per_family_and_measure(good_release):
    utility = next(s for s in json.loads((good_release / "report.json").read_text())["sections"] if s["key"] == "utility")
    table = next(b for b in utility["blocks"] if b["type"] == "table" and "Synthetic / real" in b["columns"])
    assert [row[:2] for row in table["rows"]] == [
        [family, measure] for family in ("gradient boosting", "logistic regression")
        for measure in ("ROC AUC", "F1 (macro)", "Accuracy")
    ]
    text = pdf_text(good_release / "report.pdf")
    assert "Synthetic / real" in text and "F1 (macro)" in text


def test_pdf_pages_fit_a4(good_release):
    info = subprocess.run([tool("pdfinfo"), str(good_release / "report.pdf")], capture_output=True, text=True, check=True).stdout
    assert "(A4)" in info, info


# -- without Chromium ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def heart_result(not_private_copy):
    from synthgen.evaluate.release import evaluate_release

    return evaluate_release(not_private_copy.parent / "model", not_private_copy.parent / "synthetic.csv")


def test_without_chromium_html_and_json_are_written_and_the_pdf_skipped(heart_result, tmp_path, monkeypatch):
    target = tmp_path / "report"
    target.mkdir()
    (target / "report.pdf").write_bytes(b"%PDF- an older report")
    monkeypatch.setenv("SYNTHGEN_CHROMIUM", str(tmp_path / "no-such-chromium"))
    messages: list[str] = []
    paths = write_report(heart_result, target, warn=messages.append)
    assert paths.pdf is None and paths.warnings == messages
    assert len(messages) == 1 and messages[0].startswith("report.pdf was not written: SYNTHGEN_CHROMIUM=")
    assert sorted(p.name for p in target.iterdir()) == ["report.html", "report.json"]  # the stale PDF is gone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no staging left
    with pytest.warns(ReportWarning, match=r"report\.pdf was not written"):
        write_report(heart_result, tmp_path / "again")


def test_chromium_missing_is_a_typed_error(monkeypatch, tmp_path):
    from reports.pdf import PdfPrinterMissing, find_chromium

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("SYNTHGEN_CHROMIUM", raising=False)
    with pytest.raises(PdfPrinterMissing, match=r"no Chromium to print report\.pdf"):
        find_chromium()
    assert issubclass(PdfPrinterMissing, OutputError)


# -- atomic writes ---------------------------------------------------------------------------
def test_a_failed_render_leaves_the_previous_report_untouched(not_private_copy, tmp_path, monkeypatch):
    from synthgen.evaluate.release import evaluate_release

    model = not_private_copy.parent / "model"
    result = evaluate_release(model, not_private_copy.parent / "synthetic.csv")
    target = tmp_path / "reports"
    target.mkdir()
    (target / "report.html").write_text("previous report")

    def broken_pdf(html, path):
        raise OutputError("the PDF report could not be rendered (1 error(s))")

    monkeypatch.setattr("reports.render.render_pdf", broken_pdf)
    with pytest.raises(OutputError):
        write_report(result, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reports"]  # no staging left
    assert sorted(p.name for p in target.iterdir()) == ["report.html"]
    assert (target / "report.html").read_text() == "previous report"
