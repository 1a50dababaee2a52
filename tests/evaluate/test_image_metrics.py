"""Image validation metrics and their CNN against ground truth on small, known inputs."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from synthgen.evaluate.images.classifier import (
    SmallCNN,
    gaussian_kernel,
    random_shift,
    roc_auc,
    train_classifier,
)
from synthgen.evaluate.images.fidelity import (
    FrechetClassifierDistance,
    frechet_distance,
    manifold_metrics,
)
from synthgen.evaluate.images.inputs import ImageInputs, ImageValidationOptions, nearest_neighbours
from synthgen.evaluate.images.utility import TrainSyntheticTestRealImages
from synthgen.images.data import ImageSet
from synthgen.images.spec import ImageSpec
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


def _inputs(synthetic: ImageSet, *, steps: int = 60) -> ImageInputs:
    tr, trl = two_class_images(80, 1)
    ho, hol = two_class_images(30, 2)
    te, tel = two_class_images(30, 3)
    options = ImageValidationOptions(cnn_width=4, cnn_min_steps=steps, cnn_max_steps=steps,
                                     tstr_networks=1)
    return ImageInputs.build(spec=ImageSpec(28, 1, ("left", "right")), train=ImageSet(tr, trl),
                             holdout=ImageSet(ho, hol), test=ImageSet(te, tel),
                             synthetic=synthetic, options=options)


def test_nearest_neighbours_find_copies_and_their_index() -> None:
    images, _ = two_class_images(20, 1)
    distance, index = nearest_neighbours(images[[3, 7]], images)
    assert distance.max() < 1e-3 and index.tolist() == [3, 7]


@pytest.mark.slow
def test_tstr_on_separable_images_beats_chance_and_is_tested_on_the_test_split() -> None:
    inputs = _inputs(ImageSet(*two_class_images(60, 7)))
    result = TrainSyntheticTestRealImages().evaluate(inputs)
    auc = {row["trained_on"]: row["roc_auc"] for row in result.details["rows"]}
    assert auc["synthetic"] > 0.9 and auc["real"] > 0.9
    assert result.details["tested_on"] == "test" and result.details["n_test"] == 30


def test_the_cnn_shift_option_reaches_every_network(monkeypatch: pytest.MonkeyPatch) -> None:
    import synthgen.evaluate.images.classifier as classifier

    shifts: list[int] = []
    train = classifier.train_classifier
    monkeypatch.setattr(classifier, "train_classifier",
                        lambda *a, **k: shifts.append(k["shift"]) or train(*a, **k))
    inputs = _inputs(ImageSet(*two_class_images(40, 7)), steps=5)
    inputs.options = dataclasses.replace(inputs.options, cnn_shift=2)
    TrainSyntheticTestRealImages().evaluate(inputs)
    FrechetClassifierDistance().evaluate(inputs)  # the cached feature CNN: no new network
    assert shifts == [2, 2]  # the feature CNN (first TRTR network) and one TSTR network


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
