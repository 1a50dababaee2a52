"""Loaders: MedMNIST .npz, PNG/JPEG class folders, DICOM + labels CSV; bad files by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synthgen.errors import ConfigurationError, InputFileError, InsufficientData, SamplingError
from synthgen.images.data import ImageSet, from_model_range, to_model_range
from synthgen.images.loaders import load_image_source, load_npz
from synthgen.images.spec import ImageSpec
from tests.images.conftest import BREASTMNIST, two_class_images


def test_npz_medmnist_layout_keeps_official_splits(tiny_npz: Path) -> None:
    src = load_npz(tiny_npz)
    assert src.holdout is not None and src.test is not None
    assert (len(src.train), len(src.holdout), len(src.test)) == (60, 12, 20)
    assert src.spec.image_size == 28 and src.spec.channels == 1
    assert src.spec.class_names == ("0", "1")
    assert src.spec.classes_declared  # the file's class_names key: the steward's declaration
    assert any("class_names key" in note for note in src.spec.notes)
    assert load_npz(tiny_npz, classes=["a", "b"]).spec.class_names == ("a", "b")


@pytest.mark.skipif(not BREASTMNIST.exists(), reason="shared data not mounted")
def test_npz_known_medmnist_file_has_declared_classes() -> None:
    src = load_npz(BREASTMNIST)
    assert src.spec.classes_declared and src.spec.num_classes == 2
    assert src.holdout is not None and src.test is not None
    assert (len(src.train), len(src.holdout), len(src.test)) == (546, 78, 156)


def test_npz_rgb_and_resize_to_model_size(tmp_path: Path) -> None:
    images, labels = two_class_images(6, 0, size=64, channels=3)
    path = tmp_path / "rgb64.npz"
    np.savez(path, images=images, labels=labels)
    src = load_image_source(path, image_size=28)
    assert src.spec.channels == 3 and src.train.images.shape == (6, 28, 28, 3)
    assert not src.has_official_split


def test_npz_multilabel_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "chest.npz"
    np.savez(path, train_images=np.zeros((4, 28, 28), np.uint8),
             train_labels=np.zeros((4, 14), np.uint8))
    with pytest.raises(InputFileError, match="multi-label"):
        load_image_source(path)


def test_npz_corrupt_file_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.npz"
    path.write_bytes(b"not a zip file")
    with pytest.raises(InputFileError, match=r"broken\.npz"):
        load_image_source(path)


def test_class_folders_skip_bad_files_by_name(tmp_path: Path) -> None:
    from PIL import Image

    images, labels = two_class_images(6, 0, size=40)
    for i, (im, lab) in enumerate(zip(images, labels[:, 0], strict=True)):
        folder = tmp_path / "src" / ("benign" if lab else "malignant")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(im).save(folder / f"img{i}.{'png' if i % 2 else 'jpg'}")
    (tmp_path / "src" / "benign" / "damaged.png").write_bytes(b"\x89PNG garbage")
    (tmp_path / "src" / "benign" / "notes.txt").write_text("ignored")
    src = load_image_source(tmp_path / "src")
    assert src.spec.class_names == ("benign", "malignant")
    assert src.spec.classes_declared and src.spec.channels == 1
    assert len(src.train) == 6 and src.train.images.shape[1:] == (28, 28)
    assert len(src.problems) == 1 and "damaged.png" in src.problems[0]


def test_class_folders_rgb_when_declared(tmp_path: Path) -> None:
    from PIL import Image

    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        Image.fromarray(np.full((30, 50, 3), 100, np.uint8)).save(tmp_path / c / "x.png")
    src = load_image_source(tmp_path, image_size=32, channels=3)
    assert src.spec.channels == 3 and src.train.images.shape == (2, 32, 32, 3)
    default = load_image_source(tmp_path, image_size=32)  # the fixed rule: grayscale
    assert default.spec.channels == 1 and default.train.images.shape == (2, 32, 32)


def test_one_rgb_image_in_a_grayscale_folder_changes_nothing_shipped(tmp_path: Path) -> None:
    from PIL import Image

    images, labels = two_class_images(6, 0)
    for i, (im, lab) in enumerate(zip(images, labels[:, 0], strict=True)):
        (tmp_path / str(lab)).mkdir(exist_ok=True)
        Image.fromarray(im).save(tmp_path / str(lab) / f"img{i}.png")
    before = load_image_source(tmp_path)
    rgb = np.zeros((28, 28, 3), np.uint8)
    rgb[..., 0] = 200
    Image.fromarray(rgb).save(tmp_path / "1" / "zzz-colour.png")
    after = load_image_source(tmp_path)
    assert after.spec == before.spec and after.spec.channels == 1
    assert after.assumptions == before.assumptions
    assert len(after.train) == len(before.train) + 1 and after.train.images.ndim == 3
    # the colour file (last in sort order) is converted; every other image is unchanged
    assert np.array_equal(after.train.images[: len(before.train)], before.train.images)


def test_class_folders_without_images_is_insufficient(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "bad.png").write_bytes(b"nope")
    with pytest.raises(InsufficientData, match="unreadable"):
        load_image_source(tmp_path)


def _write_dicom(path: Path, pixels: np.ndarray, **tags: object) -> None:
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1, 16, 12, 11
    ds.PixelRepresentation = 0
    ds.PhotometricInterpretation = tags.pop("PhotometricInterpretation", "MONOCHROME2")
    for k, v in tags.items():
        setattr(ds, k, v)
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_dicom_folder_windowing_and_problems(tmp_path: Path) -> None:
    ramp = np.tile(np.arange(0, 4000, 4000 / 56, dtype=np.float64)[:56], (56, 1))
    _write_dicom(tmp_path / "a.dcm", ramp, WindowCenter=1000, WindowWidth=1000)
    _write_dicom(tmp_path / "b.dcm", ramp, PhotometricInterpretation="MONOCHROME1")
    _write_dicom(tmp_path / "c.dcm", ramp, RescaleSlope=2, RescaleIntercept=-1000)
    (tmp_path / "d.dcm").write_bytes(b"DICM but not really")
    (tmp_path / "labels.csv").write_text(
        "filename,label\na.dcm,normal\nb.dcm,tumour\nc.dcm,normal\nd.dcm,tumour\nmissing.dcm,normal\n")
    src = load_image_source(tmp_path)
    assert src.spec.source_format == "dicom" and src.spec.class_names == ("normal", "tumour")
    assert src.train.images.shape == (3, 28, 28)
    assert [p.split(":")[0] for p in src.problems] == ["d.dcm", "missing.dcm"]
    windowed, inverted = src.train.images[0], src.train.images[1]
    # window [500, 1500] of a 0..4000 ramp: the left quarter is black, the right half white
    assert windowed[:, 0].max() == 0 and windowed[:, -1].min() == 255
    assert inverted[:, 0].min() > inverted[:, -1].max()  # MONOCHROME1: high values dark


def test_dicom_labels_csv_needs_known_columns(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text("name,diag\nx.dcm,1\n")
    with pytest.raises(InputFileError, match="file column"):
        load_image_source(tmp_path)


def test_model_range_round_trip() -> None:
    images, _ = two_class_images(3, 0, channels=3)
    x = to_model_range(images)
    assert x.shape == (3, 3, 28, 28) and float(x.min()) >= -1 and float(x.max()) <= 1
    assert np.array_equal(from_model_range(x), images)


def test_spec_validates_and_maps_labels() -> None:
    spec = ImageSpec(image_size=28, channels=1, class_names=("neg", "pos"))
    assert spec.label_of("pos") == 1 and spec.image_shape == (28, 28)
    assert ImageSpec.from_json_dict(spec.to_json_dict()) == spec
    with pytest.raises(SamplingError):
        spec.label_of("other")
    with pytest.raises(ConfigurationError):
        ImageSpec(image_size=30, channels=1, class_names=("a",))


def test_image_set_rejects_float_images() -> None:
    with pytest.raises(InputFileError):
        ImageSet(np.zeros((2, 28, 28), np.float32), np.zeros(2))


def test_dicom_file_listed_twice_is_one_record(tmp_path: Path) -> None:
    ramp = np.tile(np.arange(0, 4000, 4000 / 56, dtype=np.float64)[:56], (56, 1))
    _write_dicom(tmp_path / "a.dcm", ramp)
    _write_dicom(tmp_path / "b.dcm", ramp[::-1])
    (tmp_path / "sub").mkdir()
    (tmp_path / "labels.csv").write_text(
        "file,label\na.dcm,x\nb.dcm,y\n./a.dcm,x\nsub/../a.dcm,x\n")
    src = load_image_source(tmp_path, channels=1)
    assert len(src.train) == 2  # one image file, one record: one clipped gradient per step
    assert sorted(src.train.labels.tolist()) == [0, 1]


def test_dicom_conflicting_labels_for_one_file_name_no_value(tmp_path: Path) -> None:
    ramp = np.tile(np.arange(0, 4000, 4000 / 56, dtype=np.float64)[:56], (56, 1))
    _write_dicom(tmp_path / "scan-of-jane.dcm", ramp)
    (tmp_path / "labels.csv").write_text(
        "file,label\nscan-of-jane.dcm,benign\n./scan-of-jane.dcm,malignant\n")
    with pytest.raises(InputFileError, match="rows 2 and 3") as info:
        load_image_source(tmp_path)
    for value in ("jane", "benign", "malignant"):
        assert value not in str(info.value)


def test_npz_class_list_declared_or_candidates(tmp_path: Path) -> None:
    images, _ = two_class_images(6, 0)
    path = tmp_path / "plain.npz"
    np.savez(path, images=images, labels=np.array([0, 2, 2, 0, 2, 0], np.uint8))
    found = load_image_source(path)  # candidates for DP selection, relabelled 0..k-1
    assert found.spec.class_names == ("0", "2") and not found.spec.classes_declared
    assert found.train.labels.tolist() == [0, 1, 1, 0, 1, 0]
    assert any("array shape" in a for a in found.assumptions)
    declared = load_image_source(path, classes=3, image_size=28, channels=1)
    assert declared.spec.class_names == ("0", "1", "2") and declared.spec.classes_declared
    assert declared.train.labels.tolist() == [0, 2, 2, 0, 2, 0] and declared.assumptions == []
    with pytest.raises(InputFileError, match="outside the 2 declared"):
        load_image_source(path, classes=["a", "b"])
    rgb = load_image_source(path, channels=3)  # declared channels: converted
    assert rgb.train.images.shape == (6, 28, 28, 3)


@pytest.mark.skipif(not BREASTMNIST.exists(), reason="shared data not mounted")
def test_npz_known_medmnist_file_assumes_nothing() -> None:
    src = load_npz(BREASTMNIST)
    assert src.assumptions == [] and (src.spec.channels, src.spec.image_size) == (1, 28)


def test_dicom_declared_classes_skip_other_labels(tmp_path: Path) -> None:
    ramp = np.tile(np.arange(0, 4000, 4000 / 56, dtype=np.float64)[:56], (56, 1))
    for name in ("a", "b", "c"):
        _write_dicom(tmp_path / f"{name}.dcm", ramp)
    (tmp_path / "labels.csv").write_text("file,label\na.dcm,x\nb.dcm,y\nc.dcm,rare\n")
    found = load_image_source(tmp_path)
    assert found.spec.class_names == ("rare", "x", "y") and not found.spec.classes_declared
    declared = load_image_source(tmp_path, classes=["y", "x"])
    assert declared.spec.class_names == ("y", "x") and declared.spec.classes_declared
    assert declared.train.labels.tolist() == [1, 0]
    assert declared.problems == ["row 4: its label is not one of the declared classes"]
