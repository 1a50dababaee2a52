"""The report of an image release: self-contained HTML with the image figures, a PDF that
renders to pages with the notice on its first page, and NOT PRIVATE for a model trained
without DP. The model is trained for real (tiny, a few steps)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

from reports import validate_release
from reports.render import render_html
from synthgen.evaluate.release import NOTICE, evaluate_release
from synthgen.requests import SampleOptions
from tests.evaluate.image_builders import FAST, train_tiny_image_model
from tests.reports.test_render import console_errors, distinct_colours, screenshot, tool

pytestmark = pytest.mark.slow  # trains a tiny model and renders a full report


@pytest.fixture(scope="module")
def image_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from synthgen.images.sample import sample_images

    root = tmp_path_factory.mktemp("image-report")
    model = train_tiny_image_model(root)
    synthetic = sample_images(model, SampleOptions(
        rows=None, class_counts={"0": 80, "1": 120}, seed=3,
    ), out=root / "synthetic.npz")
    validate_release(model, synthetic, report_dir=root / "report", image_options=FAST)
    return root / "report"


def test_image_report_html_is_self_contained_and_renders(image_report: Path, tmp_path: Path) -> None:
    html = (image_report / "report.html").read_text()
    assert "<script" not in html and "<link" not in html
    references = re.findall(r'(?:src|href)="([^"#][^"]*)"', html)
    assert all(ref.startswith("data:image/png;base64,") for ref in references)
    for title in ("Real and synthetic images, per class", "Train on synthetic / train on real",
                  "closest to a training image", "Thresholds applied"):
        assert title in html, title
    shot = tmp_path / "report.png"
    run = screenshot(image_report / "report.html", shot, tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert console_errors(run.stderr) == []
    assert distinct_colours(shot) > 50


def test_image_report_pdf_renders_with_the_notice_first(image_report: Path, tmp_path: Path) -> None:
    pdf = image_report / "report.pdf"
    page1 = subprocess.run([tool("pdftotext"), "-f", "1", "-l", "1", "-layout", str(pdf), "-"],
                           capture_output=True, text=True, check=True).stdout
    text = " ".join(page1.split())
    assert "statistics computed on real data" in text and "data steward and auditors only" in text
    assert "Synthetic images synthetic.npz" in text
    assert text.index("Confidential") < text.index("Verdict")
    subprocess.run([tool("pdftoppm"), "-r", "40", "-png", str(pdf), str(tmp_path / "page")],
                   check=True, capture_output=True, timeout=120)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 4 and all(distinct_colours(p) > 10 for p in pages)


def test_image_model_without_dp_fails_in_large_letters(tmp_path: Path) -> None:
    model = train_tiny_image_model(tmp_path, steps=2, epsilon=float("inf"))
    holdout = tmp_path / "model.private" / "holdout.npz"
    result = evaluate_release(model, holdout, image_options=FAST)
    assert result.verdict == "fail" and result.private is False
    epsilon = result.check("certificate_epsilon")
    assert (epsilon.status, epsilon.value) == ("fail", float("inf"))
    html = render_html(result)
    assert '<div class="not-private">NOT PRIVATE' in html
    assert html.index(NOTICE) < html.index("Verdict: FAIL")
