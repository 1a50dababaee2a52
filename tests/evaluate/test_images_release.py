"""Image releases through `synthgen validate`: a model trained for real (tiny), its samples,
hand-checkable leaks (copies of training images, holdout images), bad input, and policies
that mix the two modalities."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from reports import validate_release
from synthgen.cli.validate import validate
from synthgen.errors import InputFileError, PolicyError, PrivateDataMissing, SchemaMismatch
from synthgen.evaluate.images.inputs import ImageInputs, ImageValidationOptions
from synthgen.evaluate.policy import Threshold, load_policy
from synthgen.evaluate.registry import check_definitions
from synthgen.evaluate.release import ValidationResult, evaluate_release
from synthgen.images.data import ImageSet
from synthgen.requests import SampleOptions
from tests.evaluate.image_builders import FAST, save_images, train_tiny_image_model

PRIVACY_GATES = ("image_exact_copy_share", "image_near_copy_share", "image_nn_distance_ratio")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_image_model(tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="module")
def sampled(model: Path) -> Path:
    from synthgen.images.sample import sample_images

    # both classes, whatever the DP class proportions of so small a model say
    return sample_images(model, SampleOptions(
        rows=None, class_counts={"0": 100, "1": 200}, seed=1,
    ), out=model.parent / "synthetic.npz")


def private(model: Path, split: str) -> ImageSet:
    return ImageSet.load(model.parent / "model.private" / f"{split}.npz")


def statuses(result: ValidationResult) -> dict[str, str]:
    return {c.name: c.status for c in result.checks}


# -- the whole path ----------------------------------------------------------------------------
@pytest.mark.slow
def test_sampled_release_validates_and_writes_the_three_reports(model: Path, sampled: Path, tmp_path: Path) -> None:
    report = tmp_path / "report"
    result = validate_release(model, sampled, report_dir=report, image_options=FAST)
    assert sorted(p.name for p in report.iterdir()) == ["report.html", "report.json", "report.pdf"]
    data = json.loads((report / "report.json").read_text())
    assert data["verdict"] == result.verdict and data["modality"] == "image"
    assert {c["name"] for c in data["checks"]} == set(check_definitions("image"))
    # noise-like images of a 3-step model: useless, but no copy of anything
    assert result.verdict in ("pass", "warn")
    assert all(statuses(result)[name] == "pass" for name in (*PRIVACY_GATES, "certificate_epsilon"))
    assert data["metrics"]["image_exact_copy_share"]["details"]["copies"] == 0
    tstr = data["metrics"]["image_tstr_auc_ratio"]["details"]
    assert [r["trained_on"] for r in tstr["rows"]] == ["real", "synthetic"]
    assert tstr["tested_on"] == "test" and tstr["n_test"] == 40
    # the report's images are in the HTML only: report.json says what they are, not their pixels
    grid = next(s for s in data["sections"] if s["key"] == "samples")["blocks"][1]
    assert grid["plot"] == "image_grid"
    assert grid["data"]["rows"][0]["real"] == {
        "images": 4, "shape": [28, 28], "source": "training split",
        "pixels": "drawn in report.html and report.pdf only",
    }
    html = (report / "report.html").read_text()
    assert html.count('<img src="data:image/png;base64,') == 3  # grid, pairs, histograms
    assert "Synthetic images synthetic.npz" in html


@pytest.mark.slow
def test_copies_of_training_images_fail_and_are_counted(model: Path) -> None:
    train = private(model, "train")
    path = save_images(model.parent / "copies.npz", train.images, train.labels)
    result = evaluate_release(model, path, image_options=FAST)
    assert result.verdict == "fail"
    assert all(statuses(result)[name] == "fail" for name in PRIVACY_GATES)
    copies = result.metric("image_exact_copy_share")
    assert copies.value == 1.0
    assert copies.details["copies"] == copies.details["distinct_training_images_copied"] == len(train)
    assert result.metric("image_near_copy_share").value == 1.0
    assert result.metric("image_nn_distance_ratio").value < 0.01
    assert result.metric("image_dcr_closer_to_train_share").value == 1.0
    pairs = next(s for s in result.sections if s.key == "privacy").blocks
    figure = next(b for b in pairs if getattr(b, "plot", None) == "image_pairs")
    assert all(p["identical"] and p["distance"] == 0.0 for p in figure.data["pairs"])


@pytest.mark.slow
def test_a_few_copies_among_fresh_images_are_caught(model: Path) -> None:
    """Fresh real images (the test split) with 5 training images mixed in: the exact
    copies are counted one by one, and they alone fail the release."""
    test, train = private(model, "test"), private(model, "train")
    images = np.concatenate([test.images, train.images[:5]])
    labels = np.concatenate([test.labels, train.labels[:5]])
    result = evaluate_release(model, save_images(model.parent / "mixed.npz", images, labels),
                              image_options=FAST)
    copies = result.metric("image_exact_copy_share")
    assert copies.details["copies"] == 5 and copies.value == pytest.approx(5 / 45)
    assert statuses(result)["image_exact_copy_share"] == "fail"


@pytest.mark.slow
def test_holdout_images_pass_the_memorisation_checks(model: Path) -> None:
    holdout = private(model, "holdout")
    path = save_images(model.parent / "holdout_copy.npz", holdout.images, holdout.labels)
    result = evaluate_release(model, path, image_options=FAST)
    assert all(statuses(result)[name] == "pass" for name in PRIVACY_GATES)
    assert result.metric("image_exact_copy_share").value == 0.0
    assert result.metric("image_nn_distance_ratio").value == pytest.approx(1.0)
    # by construction, 5% of the holdout lies below its own 5% quantile
    assert result.metric("image_near_copy_share").value <= 0.05 + 1e-9
    assert result.metric("image_dcr_closer_to_train_share").value == 0.0  # each is its own neighbour


def test_cnn_steps_follow_the_training_set_size() -> None:
    options = ImageValidationOptions()
    assert options.cnn_steps(546) == 171  # 20 epochs of BreastMNIST at batch 64
    assert options.cnn_steps(2000) == 300 and options.cnn_steps(10) == 100


def test_exact_matches_compare_bytes() -> None:
    from synthgen.images.spec import ImageSpec

    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    nearly = real[2].copy()
    nearly[0, 0] ^= 1  # one grey level at one pixel: not a copy
    synthetic = ImageSet(np.stack([real[4], nearly, real[4]]), np.zeros(3))
    inputs = ImageInputs.build(
        spec=ImageSpec(28, 1, ("a", "b")), train=ImageSet(real, np.zeros(6)),
        holdout=ImageSet(real[:2], np.zeros(2)), synthetic=synthetic,
    )
    assert inputs.exact_matches("train").tolist() == [4, -1, 4]


# -- bad input: typed errors, nothing written ---------------------------------------------------
def bad_input_cases(model: Path) -> dict[str, tuple[dict[str, np.ndarray], type[Exception], str]]:
    good = private(model, "holdout")
    n = len(good)
    images, labels = good.images, good.labels.reshape(-1, 1)
    return {
        "float images": ({"images": images.astype(np.float32), "labels": labels}, SchemaMismatch, "images must be uint8"),
        "wrong size": ({"images": np.zeros((n, 32, 32), np.uint8), "labels": labels}, SchemaMismatch, "images are 32x32 pixels; this model makes 28x28"),
        "rgb for a grey model": ({"images": np.zeros((n, 28, 28, 3), np.uint8), "labels": labels}, SchemaMismatch, "images have 3 channel(s); this model makes 1"),
        "flat images": ({"images": np.zeros((n, 784), np.uint8), "labels": labels}, SchemaMismatch, "images must be [N, 28, 28]"),
        "unknown class": ({"images": images, "labels": np.full((n, 1), 7)}, SchemaMismatch, f"{n} label(s) are not classes of this model"),
        "float labels": ({"images": images, "labels": labels.astype(float)}, SchemaMismatch, "labels must be integer class indices"),
        "too few labels": ({"images": images, "labels": labels[:3]}, SchemaMismatch, f"3 labels for {n} images"),
        "no labels": ({"images": images}, SchemaMismatch, "no 'labels' array"),
        "no images": ({"images": np.zeros((0, 28, 28), np.uint8), "labels": np.zeros((0, 1), np.uint8)}, InputFileError, "holds no images"),
    }


@pytest.mark.parametrize("case", ["float images", "wrong size", "rgb for a grey model", "flat images",
                                  "unknown class", "float labels", "too few labels", "no labels", "no images"])
@pytest.mark.slow
def test_bad_synthetic_files_are_refused_before_any_output(model: Path, tmp_path: Path, case: str) -> None:
    arrays, error, message = bad_input_cases(model)[case]
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]
    with pytest.raises(error, match=re.escape(message)):
        validate_release(model, path, report_dir=tmp_path / "report", image_options=FAST)
    assert not (tmp_path / "report").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.npz"]  # no staging left


@pytest.mark.slow
def test_unreadable_or_empty_files_are_input_errors(model: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    text = tmp_path / "text.npz"
    text.write_text("images,labels\n")
    single = tmp_path / "single.npy"
    np.save(single, np.zeros((2, 28, 28), np.uint8))
    for path, message in ((empty, "is empty"), (text, "not a readable .npz"),
                          (single, "a single array"), (tmp_path, "is a folder"),
                          (tmp_path / "missing.npz", "not found")):
        with pytest.raises(InputFileError, match=message):
            evaluate_release(model, path, image_options=FAST)


@pytest.mark.slow
def test_a_missing_holdout_split_is_reported(model: Path, tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(model, copy)
    private_dir = tmp_path / "model.private"
    shutil.copytree(model.parent / "model.private", private_dir)
    run = json.loads((copy / "run.json").read_text())
    (copy / "run.json").write_text(json.dumps({**run, "private_dir": str(private_dir)}))
    (private_dir / "holdout.npz").unlink()
    synthetic = save_images(tmp_path / "s.npz", *_two_images())
    with pytest.raises(PrivateDataMissing, match="no holdout images"):
        evaluate_release(copy, synthetic, image_options=FAST)
    shutil.rmtree(private_dir)
    with pytest.raises(PrivateDataMissing, match="the private run directory of this model is gone"):
        evaluate_release(copy, synthetic, image_options=FAST)


def _two_images() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((2, 28, 28), np.uint8), np.array([0, 1])


# -- the command line -----------------------------------------------------------------------------
runner = CliRunner()
# the registered command on a test app with a second command (typer keeps `synthgen COMMAND`)
app = typer.Typer()
app.command("validate")(validate)
app.command("other")(lambda: None)


@pytest.mark.slow
def test_cli_bad_image_file_is_one_error_line_and_exit_2(model: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, images=np.zeros((4, 32, 32), np.uint8), labels=np.array([0, 1, 0, 9]))
    result = runner.invoke(app, ["validate", str(model), "--synthetic", str(path),
                                 "--report-dir", str(tmp_path / "report")])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert "images are 32x32 pixels; this model makes 28x28" in result.stderr
    assert "1 label(s) are not classes of this model" in result.stderr
    assert not (tmp_path / "report").exists()


# -- one policy file for both modalities ---------------------------------------------------------
def test_policies_name_checks_of_either_modality(tmp_path: Path) -> None:
    tabular = tmp_path / "tabular.yaml"
    tabular.write_text("version: 1\nchecks:\n  membership_inference_auc: {warn: 0.55, fail: 0.65}\n")
    assert load_policy(tabular).threshold("membership_inference_auc") == Threshold(0.55, 0.65)
    assert load_policy(tabular).threshold("image_near_copy_share") == Threshold(0.15, 0.25)
    mixed = tmp_path / "mixed.yaml"
    mixed.write_text("checks:\n  image_tstr_auc_ratio: {warn: 0.8}\n  image_exact_copy_share: {warn: null}\n"
                     "  exact_copy_share: {fail: 0.02}\n")
    policy = load_policy(mixed)
    assert policy.threshold("image_tstr_auc_ratio") == Threshold(0.8, None)
    assert policy.threshold("image_exact_copy_share") == Threshold(None, 0.01)
    bad = tmp_path / "bad.yaml"
    bad.write_text("checks:\n  image_nn_distance_ratio: {warn: 0.7, fail: 0.8}\n")
    with pytest.raises(PolicyError, match="higher is better"):
        load_policy(bad)
    bad.write_text("checks:\n  image_fid: {warn: 1}\n")
    with pytest.raises(PolicyError, match="unknown check 'image_fid'"):
        load_policy(bad)


def test_modalities_have_their_own_checks() -> None:
    image, tabular = set(check_definitions("image")), set(check_definitions("tabular"))
    assert image & tabular == {"certificate_epsilon"}
    assert image | tabular == set(check_definitions())
    assert all(name.startswith("image_") for name in image - {"certificate_epsilon"})
