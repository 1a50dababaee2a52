"""Image sources declare the patient: DICOM attribute, labels CSV column, folder layout,
or an entity file for an .npz; and a patient-level run end to end from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthgen.errors import ConfigurationError, InputFileError
from synthgen.images.entities import parse_entity
from synthgen.images.loaders import load_image_source
from tests.images.conftest import two_class_images
from tests.images.test_loaders import _write_dicom


def _folder_layout(root: Path, per_patient: list[int], *, mixed: bool = False) -> Path:
    """class/patient/img.png: patient i has per_patient[i] images of class i % 2 (with
    ``mixed``, patient p00 also has one image in the other class folder)."""
    images, _ = two_class_images(sum(per_patient) + 1, seed=7)
    n = 0
    for i, count in enumerate(per_patient):
        folder = root / ("left" if i % 2 == 0 else "right") / f"p{i:02d}"
        folder.mkdir(parents=True)
        for j in range(count):
            Image.fromarray(images[n]).save(folder / f"img{j}.png")
            n += 1
    if mixed:
        (root / "right" / "p00").mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[n]).save(root / "right" / "p00" / "other.png")
    return root


def test_parse_entity_forms_and_refusals(tmp_path: Path) -> None:
    assert parse_entity(None, None) is None
    assert parse_entity("dicom:PatientID", None).describe() == "dicom:PatientID"  # type: ignore[union-attr]
    assert parse_entity("csv:subject", None).describe() == "csv:subject"  # type: ignore[union-attr]
    assert parse_entity("folder", None).kind == "folder"  # type: ignore[union-attr]
    ids = tmp_path / "secret" / "ids.npy"
    described = parse_entity(None, ids).describe()  # type: ignore[union-attr]
    assert "secret" not in described and "ids" not in described  # never the path
    for bad in ("PatientID", "dicom:", "csv"):
        with pytest.raises(ConfigurationError, match="dicom:KEYWORD"):
            parse_entity(bad, None)
    with pytest.raises(ConfigurationError, match="not both"):
        parse_entity("folder", ids)


def test_folder_layout_gives_the_patient_and_keeps_mixed_labels(tmp_path: Path) -> None:
    src = load_image_source(_folder_layout(tmp_path, [1, 3, 2], mixed=True),
                            entity=parse_entity("folder", None))
    assert src.spec.class_names == ("left", "right")  # patient folders are not classes
    ids = src.train.entities
    assert ids is not None and sorted(ids.tolist()) == ["p00", "p00", "p01", "p01", "p01",
                                                        "p02", "p02"]
    p00 = src.train.labels[ids == "p00"]
    assert sorted(p00.tolist()) == [0, 1]  # one patient, images of both classes
    # an image directly in a class folder has no patient: skipped and reported by name
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "left" / "loose.png")
    src = load_image_source(tmp_path, entity=parse_entity("folder", None))
    assert len(src.train) == 7 and any("loose.png" in p for p in src.problems)
    # without an entity the same folders load as before, record level
    assert load_image_source(tmp_path).train.entities is None


def test_dicom_patient_from_attribute_or_csv_column(tmp_path: Path) -> None:
    pixels = np.full((28, 28), 1000.0)
    _write_dicom(tmp_path / "a.dcm", pixels, PatientID="P1")
    _write_dicom(tmp_path / "b.dcm", pixels, PatientID="P1")
    _write_dicom(tmp_path / "c.dcm", pixels, PatientID="P2")
    _write_dicom(tmp_path / "d.dcm", pixels)  # no PatientID
    (tmp_path / "labels.csv").write_text(
        "file,label,subject\na.dcm,x,s9\nb.dcm,y,s8\nc.dcm,x,s8\nd.dcm,y,s7\n")
    by_tag = load_image_source(tmp_path, entity=parse_entity("dicom:PatientID", None))
    assert by_tag.train.entities is not None
    assert by_tag.train.entities.tolist() == ["P1", "P1", "P2"]
    assert by_tag.problems == ["row 5: no patient id (dicom:PatientID)"]
    by_csv = load_image_source(tmp_path, entity=parse_entity("csv:subject", None))
    assert by_csv.train.entities is not None
    assert by_csv.train.entities.tolist() == ["s9", "s8", "s8", "s7"]
    with pytest.raises(InputFileError, match="no column 'ward'"):
        load_image_source(tmp_path, entity=parse_entity("csv:ward", None))
    with pytest.raises(ConfigurationError, match="does not apply to a DICOM folder"):
        load_image_source(tmp_path, entity=parse_entity("folder", None))


def test_npz_entity_file_covers_train_then_val(tiny_npz: Path, tmp_path: Path) -> None:
    ids = np.array([f"p{i // 4}" for i in range(60 + 12)])  # 60 train, 12 val images
    np.save(tmp_path / "ids.npy", ids)
    src = load_image_source(tiny_npz, entity=parse_entity(None, tmp_path / "ids.npy"))
    assert src.train.entities is not None and src.holdout is not None
    assert src.train.entities.tolist() == ids[:60].tolist()
    assert src.holdout.entities is not None and src.holdout.entities.tolist() == ids[60:].tolist()
    np.save(tmp_path / "short.npy", ids[:10])
    with pytest.raises(InputFileError, match="got 10 ids for 72 images"):
        load_image_source(tiny_npz, entity=parse_entity(None, tmp_path / "short.npy"))
    with pytest.raises(ConfigurationError, match=r"does not apply to an \.npz"):
        load_image_source(tiny_npz, entity=parse_entity("folder", None))


def test_patient_split_never_puts_a_patient_on_both_sides(tiny_npz: Path, tmp_path: Path) -> None:
    from synthgen.images.config import build_recipe
    from synthgen.images.entities import EntityChoice, PatientOptions
    from synthgen.images.split import load_and_split

    ids = np.array([f"p{i // 3}" for i in range(72)])  # 24 patients of 3 images
    np.save(tmp_path / "ids.npy", ids)
    options = PatientOptions(EntityChoice("file", path=tmp_path / "ids.npy"), 2, None)
    split = load_and_split(tiny_npz, build_recipe({}), holdout=0.3, seed=1, patients=options)
    assert split.hold is not None and split.train.entities is not None
    train_ids, hold_ids = set(split.train.entities), set(split.hold.entities)  # type: ignore[arg-type]
    assert train_ids and hold_ids and not train_ids & hold_ids
    assert len(train_ids | hold_ids) == 24
    # at most 2 images per patient kept (the cap), from 3
    _, counts = np.unique(np.concatenate([split.train.entities, split.hold.entities]),  # type: ignore[list-item]
                          return_counts=True)
    assert counts.max() == 2 and len(split.train) + len(split.hold) == 48


@pytest.mark.slow
def test_cli_trains_a_patient_level_image_model_from_a_folder_layout(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import synthgen.cli.train  # noqa: F401
    from synthgen.cli.app import app

    source = _folder_layout(tmp_path / "src", [2, 3, 1, 2, 3, 1, 2, 3, 2, 1, 3, 2])
    out = tmp_path / "m"
    result = CliRunner().invoke(app, [
        "train", str(source), "--entity", "folder", "--max-records-per-entity", "2",
        "--public-entity-count", "12", "--epsilon", "8", "--out", str(out), "--max-steps", "2",
        "--batch-size", "4", "-K", "2", "--insecure-rng", "--holdout", "0.25"])
    assert result.exit_code == 0, result.output
    cert = json.loads((out / "certificate.json").read_text())
    assert cert["unit"] == "patient" and cert["entity_column"] == "folder"
    assert cert["max_records_per_entity"] == 2
    assert cert["adjacency"] == "add/remove one patient with all their records"
    assert cert["n_training_records"] == 9  # the declared 12 patients, less the holdout share
    # the sample rate is over patients: the expected batch over the patients' N-hat
    assert cert["sample_rate"] == pytest.approx(4 / 9)
    shipped = " ".join(p.read_text(errors="ignore") for p in out.rglob("*.json"))
    assert "p01" not in shipped and str(source) not in shipped  # no id, no path
    # an option that needs a patient, without one: one error line
    result = CliRunner().invoke(app, [
        "train", str(source), "--max-records-per-entity", "2", "--epsilon", "8",
        "--out", str(tmp_path / "m2")])
    assert result.exit_code != 0 and "need a patient id source" in result.output


def test_private_train_file_keeps_the_ids_for_a_resumed_run(tmp_path: Path) -> None:
    from synthgen.images.data import ImageSet

    images, labels = two_class_images(4, seed=1)
    part = ImageSet(images, labels, np.array(["a", "b", "b", "c"])).subset(np.array([1, 3]))
    part.save(tmp_path / "train.npz")
    loaded = ImageSet.load(tmp_path / "train.npz")
    assert loaded.entities is not None and loaded.entities.tolist() == ["b", "c"]
    ImageSet(images, labels).save(tmp_path / "plain.npz")  # record level: no ids key
    assert ImageSet.load(tmp_path / "plain.npz").entities is None
    with pytest.raises(InputFileError, match="one patient id per image"):
        ImageSet(images, labels, np.array(["a"]))


@pytest.mark.slow
def test_python_api_fits_at_patient_level_from_patient_ids() -> None:
    import synthgen
    from tests.images.conftest import TINY

    images, labels = two_class_images(60, seed=1)
    ids = [f"p{i // 3}" for i in range(60)]
    with synthgen.ImageSynthesizer(epsilon=8.0, max_steps=2, overrides=TINY,
                                   max_records_per_entity=2) as synth:
        synth.fit(images, labels, class_names=["left", "right"], patient_ids=ids)
        cert = synth.certificate
        assert cert.unit == "patient" and cert.max_records_per_entity == 2
        assert cert.entity_column == "entity file (one patient id per image)"
    with synthgen.ImageSynthesizer(epsilon=8.0, entity="folder") as synth, pytest.raises(
            ConfigurationError, match="not both"):
        synth.fit(images, labels, class_names=["left", "right"], patient_ids=ids)


@pytest.mark.slow
def test_patient_level_run_resumes_as_the_same_run(tiny_npz: Path, tmp_path: Path) -> None:
    from synthgen.errors import ResumeMismatch, TrainingCancelled
    from synthgen.images.train import train_images
    from synthgen.requests import TrainRequest
    from tests.images.conftest import TINY

    ids = tmp_path / "ids.npy"
    np.save(ids, np.array([f"p{i // 3}" for i in range(72)]))
    calls = {"n": 0}

    def stop_after_two() -> bool:
        calls["n"] += 1
        return calls["n"] == 2

    def train(**options: object):  # type: ignore[no-untyped-def]
        request = TrainRequest(source=tiny_npz, out=tmp_path / "m", epsilon=6.0, max_steps=4,
                               overrides=TINY, **{"entity_file": ids, **options})  # type: ignore[arg-type]
        return train_images(request, should_stop=stop_after_two if calls["n"] < 2 else None)

    with pytest.raises(TrainingCancelled):
        train()
    with pytest.raises(ResumeMismatch, match="patient id source"):
        train(resume=True, max_records_per_entity=2)
    resumed = train(resume=True)
    assert resumed.certificate.steps == 4 and resumed.certificate.unit == "patient"
    run = json.loads((tmp_path / "m" / "run.json").read_text())
    assert run["resumed_at_step"] == 2


def test_patient_level_images_refuse_several_processes_before_reading(
    tiny_npz: Path, tmp_path: Path
) -> None:
    from synthgen.images.train import train_images
    from synthgen.requests import TrainRequest

    ids = tmp_path / "ids.npy"
    np.save(ids, np.array([f"p{i // 3}" for i in range(72)]))
    request = TrainRequest(source=tiny_npz, out=tmp_path / "m", epsilon=6.0, max_steps=4,
                           entity_file=ids, processes=2)
    with pytest.raises(ConfigurationError, match="one process"):
        train_images(request)
    assert not (tmp_path / "m").exists() and not (tmp_path / "m.private").exists()
