"""Image metrics against ground truth on small, known inputs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from synthgen.images.data import ImageSet
from synthgen.images.metrics import RealImages, evaluate_images
from synthgen.images.metrics.classifier import (
    SmallCNN,
    gaussian_kernel,
    random_shift,
    roc_auc,
    train_classifier,
)
from synthgen.images.metrics.coverage import manifold_metrics
from synthgen.images.metrics.frechet import frechet_distance
from synthgen.images.metrics.nearest_neighbour import NearestNeighbourCheck, nearest_distances
from synthgen.images.metrics.tstr import TrainSyntheticTestReal
from tests.images.conftest import two_class_images


def test_roc_auc_equals_pair_counting() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 40)
    score = np.round(rng.random(40), 1)  # with ties
    pairs = [(p, n) for p, n in itertools.product(score[labels == 1], score[labels == 0])]
    expected = np.mean([1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs])
    assert roc_auc(labels, np.stack([1 - score, score], 1)) == pytest.approx(expected)
    three = np.eye(3)[[0, 1, 2, 0]]
    assert roc_auc(np.array([0, 1, 2, 0]), three) == 1.0


def test_frechet_distance_of_shifted_gaussians() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    assert frechet_distance(a, a + 2.0) == pytest.approx(12.0, rel=1e-6)


def test_manifold_metrics_identical_and_disjoint() -> None:
    rng = np.random.default_rng(0)
    real = rng.normal(size=(200, 4))
    same = manifold_metrics(real, real.copy(), k=5)
    assert same["precision"] == 1.0 and same["recall"] == 1.0 and same["coverage"] == 1.0
    far = manifold_metrics(real, real + 100.0, k=5)
    assert far["precision"] == 0.0 and far["coverage"] == 0.0 and far["density"] == 0.0


def _real() -> RealImages:
    tr, trl = two_class_images(80, 1)
    ho, hol = two_class_images(30, 2)
    te, tel = two_class_images(30, 3)
    return RealImages(train=ImageSet(tr, trl), holdout=ImageSet(ho, hol), test=ImageSet(te, tel),
                      num_classes=2)


def test_nearest_neighbour_check_catches_copies_and_passes_fresh_images() -> None:
    real = _real()
    copies = ImageSet(real.train.images[:20], real.train.labels[:20])
    caught = NearestNeighbourCheck().compute(real, copies)[0]
    assert caught.passed is False and caught.details["near_copies"] == 20
    fresh_images, fresh_labels = two_class_images(40, 9)
    fine = NearestNeighbourCheck().compute(real, ImageSet(fresh_images, fresh_labels))[0]
    assert fine.passed is True and fine.details["near_copies"] == 0
    assert nearest_distances(real.train.images[:3], real.train.images).max() < 1e-3


@pytest.mark.slow
def test_tstr_on_separable_images_beats_chance() -> None:
    real = _real()
    synthetic = ImageSet(*two_class_images(60, 7))
    results = {r.name: r.value for r in TrainSyntheticTestReal(steps=60, width=4, repeats=1).compute(real, synthetic)}
    assert results["tstr_roc_auc"] > 0.9


def test_random_shift_moves_each_image_by_its_own_offset_within_the_bound() -> None:
    import torch

    x = torch.zeros(64, 1, 9, 9)
    x[:, 0, 4, 4] = 1.0  # one bright pixel in the centre of each image
    shifted = random_shift(x, 2, torch.Generator().manual_seed(0))
    assert shifted.shape == x.shape
    where = [divmod(int(img.argmax()), 9) for img in shifted]
    assert all(abs(r - 4) <= 2 and abs(c - 4) <= 2 for r, c in where)
    assert len(set(where)) > 10  # offsets drawn per image, not one for the batch
    assert torch.equal(shifted.sum(dim=(1, 2, 3)), x.sum(dim=(1, 2, 3)))  # moved, not smeared
    assert torch.equal(random_shift(x, 2, torch.Generator().manual_seed(0)), shifted)


def test_gaussian_kernel_is_normalised_and_the_identity_at_zero() -> None:
    k = gaussian_kernel(0.7, 3)
    assert k.shape == (3, 1, 7, 7)  # radius ceil(3 sigma)
    assert np.allclose(k.sum(dim=(1, 2, 3)).numpy(), 1.0)
    assert float(k[0, 0, 3, 3]) == float(k.max())  # peaked at the centre
    assert gaussian_kernel(0.0, 1).flatten().tolist() == [1.0]


def test_input_blur_is_a_fixed_low_pass_in_front_of_the_network() -> None:
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    blurred = SmallCNN(1, 2, width=4, input_blur=1.0).eval()
    plain = SmallCNN(1, 2, width=4).eval()
    plain.load_state_dict(blurred.state_dict())  # same weights, no filter (the state is the same)
    x = torch.randn(6, 1, 12, 12)
    by_hand = F.conv2d(F.pad(x, (3, 3, 3, 3), mode="replicate"), gaussian_kernel(1.0, 1))
    with torch.no_grad():
        assert torch.allclose(blurred.features(x), plain.features(by_hand), atol=1e-6)
        assert not torch.allclose(blurred.features(x), plain.features(x), atol=1e-3)


@pytest.mark.slow
def test_label_smoothing_keeps_the_classifier_from_certainty() -> None:
    train = ImageSet(*two_class_images(60, 1))
    test = ImageSet(*two_class_images(30, 2))
    sharp = train_classifier(train, num_classes=2, steps=80, width=4).predict_proba(test)
    smooth = train_classifier(train, num_classes=2, steps=80, width=4,
                              label_smoothing=0.6).predict_proba(test)
    assert roc_auc(test.labels, smooth) > 0.9  # still learns the classes
    assert sharp.max() > 0.9
    assert smooth.max() < 0.8  # the smoothed target for the right class is 0.7


def test_pixel_noise_is_added_to_the_training_batches_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    seen: list[tuple[bool, torch.Tensor]] = []
    forward = SmallCNN.forward
    monkeypatch.setattr(SmallCNN, "forward",
                        lambda self, x: seen.append((self.training, x.clone())) or forward(self, x))
    flat = ImageSet(np.zeros((40, 8, 8), np.uint8), np.array([[0], [1]] * 20, np.uint8))
    clf = train_classifier(flat, num_classes=2, steps=5, width=4, pixel_noise=0.5)
    clf.predict_proba(flat)
    batches = [x for training, x in seen if training]
    assert len(batches) == 5
    noise = torch.cat(batches) + 1.0  # the flat images sit at -1 in the model's range
    assert float(noise.mean()) == pytest.approx(0.0, abs=0.02)
    assert float(noise.std()) == pytest.approx(0.5, rel=0.03)
    assert all(torch.equal(x, torch.full_like(x, -1.0)) for training, x in seen if not training)


@pytest.mark.slow
def test_report_runs_every_metric_and_explains_skips() -> None:
    real = _real()
    real._cache["classifier"] = train_classifier(real.train, num_classes=2, steps=30, width=4)
    synthetic = ImageSet(*two_class_images(40, 5))
    from synthgen.images.metrics.coverage import ManifoldCoverage
    from synthgen.images.metrics.frechet import FrechetClassifierDistance
    from synthgen.images.metrics.tstr import TrainRealTestReal

    metrics = [TrainSyntheticTestReal(steps=20, width=4, repeats=2),
               TrainRealTestReal(steps=20, width=4, repeats=1), FrechetClassifierDistance(),
               ManifoldCoverage(), NearestNeighbourCheck()]
    report = evaluate_images(real, synthetic, metrics)
    for name in ("tstr_roc_auc", "trtr_roc_auc", "frechet_classifier_distance", "precision",
                 "coverage", "nearest_neighbour_check"):
        assert name in report, name
    no_holdout = RealImages(train=real.train, test=real.test, num_classes=2)
    no_holdout._cache["classifier"] = real._cache["classifier"]
    skipped = evaluate_images(no_holdout, synthetic, [NearestNeighbourCheck()])
    assert "skipped" in skipped["nearest_neighbour_check"]
