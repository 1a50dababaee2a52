"""A class list found in the labels, released with DP (Gaussian partition selection).

Where the steward declares no class list (a labels CSV, or an ``.npz`` that is neither a
known MedMNIST file nor given its classes), the labels found in the data are only
candidates. The set of labels is itself a fact about the records: a label that one image
alone carries reveals that image. So, as tables do for undeclared categories
(``tabular.preprocess._discover_domains``), each candidate's count of training images gets
Gaussian noise, and only the labels whose noisy count clears a threshold become classes:

- L2 sensitivity 1 under add/remove of one image (an image has one label, so it changes
  one count by one): one Gaussian release of the run's accountant, sized from its own
  share of epsilon (``class_selection_epsilon_share``);
- a label that one image alone carries clears the threshold with probability at most
  ``threshold_delta`` (``mechanisms.partition_threshold``; one image brings at most one new
  label), which is taken out of the run's delta;
- the kept labels are ordered by name, never by count, and images whose label is not kept
  take no part in training (nor in the holdout and test splits, which must use the same
  labels). How many were left out is never shipped.

Patient-level runs (images carry patient ids) count patients, not images: each image
weighs 1 / (its patient's images), the ``1 / n_i`` weights of ``synthgen.privacy.contribution``,
so one patient adds a vector of L1 norm 1 to the counts (L2 at most 1: the same sensitivity
and noise as one image). A patient whose images carry several labels splits that weight
between them, and so may bring up to ``min(max_records_per_entity, candidate labels)`` new
labels, each of weight at most 1: the threshold splits ``threshold_delta`` over that many
(a union bound), where one image brings one.

Runs without DP (``epsilon = inf``) keep every label found; their model is NOT PRIVATE.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from synthgen.errors import InsufficientData
from synthgen.images.data import ImageSet
from synthgen.images.spec import ImageSpec
from synthgen.privacy.accountant import RunAccountant, gaussian_noise_multiplier_for
from synthgen.privacy.mechanisms import noisy_histograms, partition_threshold
from synthgen.privacy.secure_random import NoiseSource

THRESHOLD_DELTA_SHARE = 0.25  # share of the run's delta for partition selection (as tables)


@dataclass(frozen=True)
class ClassSelection:
    spec: ImageSpec  # the spec with the kept classes only
    model_label: np.ndarray  # candidate label -> model label; -1 where it was not kept

    def apply(self, images: ImageSet | None) -> ImageSet | None:
        """The images whose label was kept, relabelled to the kept list (patient ids kept)."""
        if images is None:
            return None
        labels = self.model_label[images.labels]
        keep = labels >= 0
        entities = images.entities[keep] if images.entities is not None else None
        return ImageSet(images.images[keep], labels[keep], entities)


def unit_class_counts(images: ImageSet, num_classes: int) -> np.ndarray:
    """Each class's count of units: images, or patients where the images carry patient
    ids (each image weighs 1 / its patient's images, so a patient adds 1 in all)."""
    if images.entities is None:
        return images.class_counts(num_classes).astype(np.float64)
    from synthgen.privacy.contribution import record_weights

    weights = record_weights([str(v).encode() for v in images.entities])
    counts = np.bincount(images.labels, weights=weights, minlength=num_classes)
    return counts[:num_classes].astype(np.float64)


def select_classes(
    spec: ImageSpec,
    train: ImageSet,
    *,
    epsilon: float,
    delta: float,
    epsilon_share: float,
    accountant: RunAccountant,
    noise: NoiseSource,
    private: bool,
    max_records_per_entity: int | None = None,
) -> ClassSelection:
    """Keep the candidate classes of ``spec`` (``classes_declared`` false) whose noisy count
    of ``train`` units (images, or patients where ``train`` carries patient ids, capped at
    ``max_records_per_entity`` images each) clears the partition-selection threshold;
    recorded in ``accountant`` before anything reads the noisy counts."""
    counts = unit_class_counts(train, spec.num_classes)
    patients = train.entities is not None
    if patients and max_records_per_entity is None:
        raise ValueError("a patient-level class selection needs max_records_per_entity")
    # the most new labels one unit can bring: one image's one label, or a patient's
    new_per_unit = min(int(max_records_per_entity or 1), spec.num_classes) if patients else 1
    unit = "patient" if patients else "image"
    if private:
        accountant.threshold_delta = THRESHOLD_DELTA_SHARE * delta
        sigma = gaussian_noise_multiplier_for(
            epsilon=epsilon_share * epsilon, delta=accountant.rdp_delta(delta)
        )
        noisy, std = noisy_histograms([counts], noise_multiplier=sigma, noise=noise)
        accountant.add_gaussian_release(
            name="class discovery",
            noise_multiplier=sigma,
            purpose="class list: Gaussian partition selection of the labels found",
        )
        threshold = partition_threshold(
            std=std, delta=accountant.threshold_delta, max_new_partitions=new_per_unit
        )
        kept = noisy[0] > threshold
        how = (
            f"class list: the labels found in the data whose Gaussian-noised {unit} count "
            f"(noise multiplier {sigma:.4g}) cleared {threshold:.1f} (partition selection, "
            f"delta {accountant.threshold_delta:.3g}); images of other labels took no part"
        )
    else:
        kept = counts > 0
        how = "class list: every label found in the data (NOT PRIVATE: no DP selection)"
    if not kept.any():
        raise InsufficientData(
            "no label found in the data passed the DP threshold for a class list: declare "
            "the classes (the classes option) or train with a larger epsilon"
        )
    model_label = np.full(spec.num_classes, -1, dtype=np.int64)
    model_label[kept] = np.arange(int(kept.sum()))
    notes = tuple(n for n in spec.notes if not n.startswith("class list:"))
    selected = replace(
        spec,
        class_names=tuple(np.asarray(spec.class_names)[kept].tolist()),
        classes_declared=False,
        notes=(*notes, how),
    )
    return ClassSelection(spec=selected, model_label=model_label)
