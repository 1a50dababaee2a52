"""DP class discovery and class proportions over patients (issue 25): where images carry
patient ids, the class counts count patients (each image weighs 1 / its patient's images),
so one patient moves them by at most the sensitivity one image has, and a patient-level
run with an undeclared class list selects its classes with DP."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from synthgen.images.class_selection import select_classes, unit_class_counts
from synthgen.images.data import ImageSet
from synthgen.images.spec import ImageSpec
from synthgen.privacy.accountant import RunAccountant
from synthgen.privacy.mechanisms import partition_threshold
from synthgen.privacy.secure_random import NoiseSource
from tests.images.conftest import two_class_images

CLASSES = ("a", "b", "c", "d")


def patients_set(records: list[tuple[str, int]], seed: int = 0) -> ImageSet:
    """One 28 px image per (patient id, label) pair."""
    images, _ = two_class_images(len(records), seed)
    ids = np.array([patient for patient, _ in records])
    return ImageSet(images, np.array([label for _, label in records]), ids)


BASE = [("p0", 0), ("p0", 0), ("p0", 1), ("p1", 2), ("p2", 1), ("p2", 1), ("p2", 1), ("p3", 0)]


@pytest.mark.parametrize(
    "newcomer",
    [
        [("q", 0)],  # one image
        [("q", 3), ("q", 3), ("q", 3), ("q", 3)],  # four images of a label no one else has
        [("q", 0), ("q", 1), ("q", 2), ("q", 3), ("q", 3)],  # mixed labels
    ],
)
def test_one_patient_moves_each_class_count_by_at_most_one(newcomer: list[tuple[str, int]]) -> None:
    without = unit_class_counts(patients_set(BASE), len(CLASSES))
    with_q = unit_class_counts(patients_set(BASE + newcomer), len(CLASSES))
    # ground truth, computed directly: the newcomer's images of each class over their number
    labels = [label for _, label in newcomer]
    expected = np.array([labels.count(c) / len(labels) for c in range(len(CLASSES))])
    np.testing.assert_allclose(with_q - without, expected, atol=1e-12)
    change = with_q - without
    assert (change >= 0).all() and change.max() <= 1.0
    assert change.sum() == pytest.approx(1.0)  # L1 exactly 1: one unit, as one image
    assert np.linalg.norm(change) <= 1.0 + 1e-12  # the L2 sensitivity the noise is sized for
    # counts of patients: p0 splits 2/3 and 1/3, p1, p2 (3 images) and p3 count 1 each
    np.testing.assert_allclose(without, [2 / 3 + 1, 1 / 3 + 1, 1, 0])


def test_record_level_counts_stay_counts_of_images() -> None:
    images = patients_set(BASE)
    plain = ImageSet(images.images, images.labels)
    np.testing.assert_array_equal(unit_class_counts(plain, 4), [3, 4, 1, 0])


def _select(
    train: ImageSet, *, cap: int | None, epsilon: float = 12.0
) -> tuple[tuple[str, ...], RunAccountant, float]:
    """The kept class names, the accountant, and the threshold the selection used."""
    spec = ImageSpec(image_size=28, channels=1, class_names=CLASSES, classes_declared=False)
    accountant = RunAccountant()
    selection = select_classes(
        spec,
        train,
        epsilon=epsilon,
        delta=1e-5,
        epsilon_share=0.4,
        accountant=accountant,
        noise=NoiseSource(secure=False),
        private=True,
        max_records_per_entity=cap,
    )
    note = next(n for n in selection.spec.notes if n.startswith("class list:"))
    threshold = float(re.search(r"cleared ([0-9.]+)", note).group(1))  # type: ignore[union-attr]
    return selection.spec.class_names, accountant, threshold


def test_a_label_of_one_patient_with_many_images_is_not_a_class() -> None:
    """Label "d" is carried by one patient's 12 images; "a" to "c" by 12 patients each.
    Counted in images, "d" clears the threshold (about 5.6 at this epsilon, noise std 1);
    counted in patients it weighs 1 and stays out."""
    records = [(f"{c}{i}", k) for k, c in enumerate("abc") for i in range(12)]
    records += [("lonely", 3)] * 12
    train = patients_set(records)
    for _ in range(5):  # the noise is drawn afresh: the outcome must not depend on it
        kept, accountant, threshold = _select(train, cap=6)
        assert kept == ("a", "b", "c")
    # a patient can bring up to min(cap, classes) = 4 new labels (one image: 1), each of
    # weight at most 1: the threshold splits its delta over 4 (a union bound)
    std = accountant.releases[0]["noise_multiplier"]  # sensitivity 1: std = sigma
    delta = accountant.threshold_delta
    assert delta == pytest.approx(0.25 * 1e-5)
    assert threshold == pytest.approx(
        partition_threshold(std=std, delta=delta, max_new_partitions=4), abs=0.06
    )
    per_image = partition_threshold(std=std, delta=delta, max_new_partitions=1)
    assert threshold > per_image + 0.15
    # the same images without patient ids: "d" has 12 images and passes, at the per-image
    # threshold
    plain = ImageSet(train.images, train.labels)
    kept_images, _, threshold = _select(plain, cap=None)
    assert kept_images == CLASSES and threshold == pytest.approx(per_image, abs=0.06)


def test_selection_keeps_the_patient_ids_of_the_kept_images() -> None:
    records = [(f"{c}{i}", k) for k, c in enumerate("abc") for i in range(6)] + [("lonely", 3)]
    spec = ImageSpec(image_size=28, channels=1, class_names=CLASSES, classes_declared=False)
    selection = select_classes(
        spec,
        patients_set(records),
        epsilon=200.0,
        delta=1e-5,
        epsilon_share=0.4,
        accountant=RunAccountant(),
        noise=NoiseSource(secure=False),
        private=True,
        max_records_per_entity=4,
    )
    kept = selection.apply(patients_set(records))
    assert kept is not None and kept.entities is not None
    assert "lonely" not in set(kept.entities) and len(kept.entities) == 18


@pytest.mark.slow
def test_patient_level_run_without_declared_classes_selects_them_with_dp(tmp_path: Path) -> None:
    """An .npz with no class list and pseudo-patients of 2 images: the classes are
    DP-selected over patients, and the certificate's unit is a patient."""
    from synthgen.images.train import train_images
    from synthgen.requests import TrainRequest
    from tests.images.conftest import TINY

    images, labels = two_class_images(240, seed=3)
    np.savez(tmp_path / "scans.npz", images=images, labels=labels)
    order = np.argsort(labels.reshape(-1), kind="stable")  # each patient has one label
    ids = np.empty(240, dtype=object)
    ids[order] = [f"p{i // 2}" for i in range(240)]
    np.save(tmp_path / "ids.npy", ids.astype(str))
    request = TrainRequest(
        source=tmp_path / "scans.npz",
        out=tmp_path / "model",
        private_dir=tmp_path / "run",
        epsilon=30.0,
        max_steps=2,
        entity_file=tmp_path / "ids.npy",
        max_records_per_entity=2,
        overrides={**TINY, "class_selection_epsilon_share": 0.3},
    )
    certificate = train_images(request).certificate
    assert certificate.unit == "patient"
    discovery = [m for m in certificate.mechanisms if m["name"] == "class discovery"]
    assert len(discovery) == 1  # the class list was DP-selected, not declared
    spec = json.loads((tmp_path / "model" / "spec.json").read_text())
    assert "patient count" in json.dumps(spec)  # the spec's note: patients were counted
