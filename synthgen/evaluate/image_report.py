"""Report sections for an image validation, built from results (no rendering here).

The summary, certificate and thresholds sections are the tabular ones
(``common_sections``). What is specific to images: the provenance (image spec instead of
schema), class-wise grids of real against synthetic images, the fidelity and utility
tables with their real-data references, and the privacy section with the closest
synthetic-training pairs side by side and the nearest-neighbour distance histograms. The
grids and pairs carry real images (``Pixels``): drawn into the HTML/PDF only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from synthgen.evaluate.common_sections import (
    all_checks_section,
    certificate_section,
    checks_table,
    config_section,
    family_checks,
    fmt,
    key_settings,
    summary_section,
    thresholds_section,
    worst_level,
)
from synthgen.evaluate.images.distances import distance_histograms
from synthgen.evaluate.images.inputs import ImageInputs
from synthgen.evaluate.metric import MetricResult
from synthgen.evaluate.sections import (
    Callout,
    Figure,
    KeyValues,
    Paragraph,
    Pixels,
    Section,
    Table,
)

if TYPE_CHECKING:
    from synthgen.evaluate.result import ValidationResult

SMALL_HOLDOUT = 200  # holdout images below which the report warns that the checks are noisy


def build_sections(result: ValidationResult, inputs: ImageInputs) -> list[Section]:
    metrics = {m.name: m for m in result.metrics}
    return [
        summary_section(result),
        certificate_section(result),
        provenance_section(result),
        samples_section(inputs),
        fidelity_section(result, metrics),
        utility_section(result, metrics),
        privacy_section(result, metrics, inputs),
        all_checks_section(result),
        thresholds_section(result),
        config_section(result),
    ]


# -- provenance ----------------------------------------------------------------------------
def provenance_section(result: ValidationResult) -> Section:
    p = result.provenance
    spec = p["spec"]
    s = Section("provenance", "Provenance")
    s.add(
        KeyValues(
            [
                ("Model directory", str(p["model_dir"])),
                ("Private run directory", str(p["private_dir"])),
                ("Source", str(p.get("source") or "—")),
                ("Source sha256", str(p.get("source_sha256") or "—")),
                (
                    "Image spec",
                    f"{spec['image_size']}x{spec['image_size']} pixels, {spec['channels']} "
                    f"channel(s), {len(spec['class_names'])} classes: {', '.join(spec['class_names'])}",
                ),
                (
                    "Class list",
                    next(
                        (
                            n.removeprefix("class list: ")
                            for n in spec.get("notes", [])
                            if n.startswith("class list: ")
                        ),
                        "declared (public metadata)"
                        if spec.get("classes_declared")
                        else "read from the labels: the steward should confirm it is public",
                    ),
                ),
                ("Spec sha256 at training", str(p.get("spec_sha256_at_training") or "—")),
                ("Model spec sha256", str(p["model_spec_sha256"])),
                (
                    "Code version (training / validation)",
                    f"{p.get('code_version_at_training') or '—'} / {p['code_version_of_validation']}",
                ),
                (
                    "Seeds (training / validation)",
                    f"{fmt(p.get('training_seed'))} / {fmt(p['validation_seed'])}",
                ),
                ("Trained at", str(p.get("trained_at") or "—")),
                ("Holdout fraction", fmt(p.get("holdout_fraction"))),
                ("Synthetic file", str(p["synthetic_file"])),
                ("Synthetic sha256", str(p["synthetic_sha256"])),
                *key_settings(p.get("config")),
            ]
        )
    )
    s.add(Paragraph("The whole model configuration (config.json) is in the appendix."))
    return s


# -- samples -------------------------------------------------------------------------------
def samples_section(inputs: ImageInputs) -> Section:
    spec, opts = inputs.spec, inputs.options
    k = spec.num_classes
    train_counts = inputs.train.class_counts(k)
    synthetic_counts = inputs.synthetic.class_counts(k)
    shown = np.sort(np.argsort(-train_counts, kind="stable")[: opts.grid_classes])
    rng = inputs.rng("grid")
    rows = []
    for c in shown:
        row: dict[str, Any] = {"class": spec.class_names[c], "label": int(c)}
        for side, images in (("real", inputs.train), ("synthetic", inputs.synthetic)):
            members = np.flatnonzero(images.labels == c)
            pick = np.sort(
                rng.choice(members, min(len(members), opts.grid_images_per_class), replace=False)
            )
            row[side] = Pixels(
                images.images[pick], "training split" if side == "real" else "synthetic"
            )
        rows.append(row)
    s = Section("samples", "Real and synthetic images, per class")
    s.add(
        Paragraph(
            "Training images (left) and synthetic images (right) of each class, drawn at random. "
            "These are real images of the source: this report must stay with the data steward "
            "and auditors."
        )
    )
    note = (
        f" ({len(shown)} of {k} classes: those with the most training images)"
        if len(shown) < k
        else ""
    )
    s.add(
        Figure(
            "image_grid",
            {"rows": rows, "channels": spec.channels},
            caption=f"Up to {opts.grid_images_per_class} images per class and side{note}.",
        )
    )
    s.add(
        Table(
            columns=["Class", "Training images", "Share", "Synthetic images", "Share"],
            rows=[
                [
                    f"{i}: {name}",
                    fmt(int(train_counts[i])),
                    fmt(float(train_counts[i] / max(train_counts.sum(), 1))),
                    fmt(int(synthetic_counts[i])),
                    fmt(float(synthetic_counts[i] / max(synthetic_counts.sum(), 1))),
                ]
                for i, name in enumerate(spec.class_names)
            ],
            caption="Class balance: the training split against the synthetic release",
        )
    )
    return s


# -- fidelity ------------------------------------------------------------------------------
def fidelity_section(result: ValidationResult, metrics: dict[str, MetricResult]) -> Section:
    checks = family_checks(result, "fidelity")
    s = Section("fidelity", "Fidelity", level=worst_level(checks))
    s.add(
        Paragraph(
            "Synthetic images against the real training images, in the feature space (the "
            "penultimate layer) of the small CNN trained on those training images. The real "
            "reference compares fresh real images the model never saw with the same training "
            "images: the values an ideal generator would reach with that many images."
        )
    )
    s.add(checks_table(checks))
    rows = []
    for name, label in (
        ("image_frechet_distance", "Fréchet distance (lower is better)"),
        ("image_precision", "Precision"),
        ("image_recall", "Recall"),
        ("image_density", "Density"),
        ("image_coverage", "Coverage"),
    ):
        m = metrics.get(name)
        if m is None or m.value is None:
            continue
        d = m.details
        rows.append(
            [
                label,
                fmt(m.value),
                fmt(d.get("real_reference")),
                f"{fmt(d.get('n_synthetic'))} / {fmt(d.get('n_reference'))} {d.get('reference_split', '')}",
            ]
        )
    if rows:
        s.add(
            Table(
                columns=[
                    "Measure",
                    "Synthetic",
                    "Real reference",
                    "Images (synthetic / reference)",
                ],
                rows=rows,
                caption="Against the training images. Recall and coverage grow with the number of "
                "images compared, and the Fréchet distance of a small sample is biased upwards: "
                "compare those with care when the counts differ.",
            )
        )
    return s


# -- utility -------------------------------------------------------------------------------
def utility_section(result: ValidationResult, metrics: dict[str, MetricResult]) -> Section:
    checks = family_checks(result, "utility")
    s = Section("utility", "Utility", level=worst_level(checks))
    s.add(checks_table(checks))
    tstr = metrics.get("image_tstr_auc_ratio")
    if tstr is None or tstr.value is None:
        s.add(Paragraph(f"Utility was not measured: {tstr.note if tstr else 'no metric'}."))
        return s
    d = tstr.details
    s.add(
        Paragraph(
            f"A small CNN (width {d['cnn_width']}) trained on the synthetic images (TSTR) and on the "
            f"real training images (TRTR), both tested on the real {d['tested_on']} split "
            f"({fmt(d['n_test'])} images) that neither saw; several networks are averaged per side. "
            "ROC AUC is one-vs-rest, averaged over classes; its standard error (Hanley and McNeil "
            "1982) is given for two classes."
        )
    )
    s.add(
        Table(
            columns=[
                "Trained on",
                "Images",
                "Networks x steps",
                "ROC AUC",
                "± standard error",
                "Accuracy",
                "Single networks' AUC",
            ],
            rows=[
                [
                    r["trained_on"],
                    fmt(r["images"]),
                    f"{r['networks']} x {fmt(r['steps'])}",
                    fmt(r["roc_auc"]),
                    fmt(r["standard_error"]),
                    fmt(r["accuracy"]),
                    ", ".join(fmt(a) for a in r["single_network_roc_auc"]),
                ]
                for r in d["rows"]
            ],
            caption="Train on synthetic / train on real, test on real",
        )
    )
    return s


# -- privacy -------------------------------------------------------------------------------
def privacy_section(
    result: ValidationResult, metrics: dict[str, MetricResult], inputs: ImageInputs
) -> Section:
    checks = family_checks(result, "privacy")
    s = Section("privacy", "Privacy (empirical checks)", level=worst_level(checks))
    s.add(
        Callout(
            "These checks detect bugs and memorisation; they do not prove privacy, and passing "
            "them never replaces the DP certificate. They compare the synthetic images with the "
            "real holdout images, which the model never saw.",
            "info",
        )
    )
    n_holdout = len(inputs.reference("holdout")[0])
    if n_holdout < SMALL_HOLDOUT:
        s.add(
            Callout(
                f"Small holdout: {fmt(n_holdout)} images. The near-copy cut-off is the 5% quantile of "
                f"their distances (it rests on about {max(1, round(0.05 * n_holdout))} images), and "
                "fresh real images scored 1.00 ± 0.05 on the distance ratio and 0.51 ± 0.07 on the "
                "closer-to-training share at 78 holdout images (BreastMNIST): read a warning with "
                "that noise in mind.",
                "warn",
            )
        )
    s.add(checks_table(checks))
    copies = metrics.get("image_exact_copy_share")
    near = metrics.get("image_near_copy_share")
    items = []
    if copies is not None and copies.value is not None:
        d = copies.details
        items += [
            (
                "Synthetic images identical to a training image",
                f"{fmt(d['copies'])} of {fmt(d['synthetic_images'])} ({fmt(copies.value)}), "
                f"{fmt(d['distinct_training_images_copied'])} distinct training images",
            ),
            (
                "For comparison: identical to a holdout image",
                f"{fmt(d['holdout_matches'])} of {fmt(d['synthetic_images'])} "
                f"(holdout has {fmt(d['holdout_images'])} images)",
            ),
        ]
    if near is not None and near.value is not None:
        d = near.details
        items.append(
            (
                "Near copies (closer to a training image than 95% of holdout images are)",
                f"{fmt(d['near_copies'])} of {fmt(d['synthetic_images_measured'])} ({fmt(near.value)}; "
                f"about {fmt(d['expected_without_memorisation'])} without memorisation); cut-off "
                f"distance {fmt(d['cutoff_distance'])}",
            )
        )
    if items:
        s.add(KeyValues(items))
    s.add(
        _closest_pairs(
            inputs, near.details.get("cutoff_distance") if near and near.value is not None else None
        )
    )
    hist = distance_histograms(inputs)
    ratio = metrics.get("image_nn_distance_ratio")
    ratio_text = ""
    if ratio is not None and ratio.value is not None:
        d = ratio.details
        ratio_text = (
            f" Medians: synthetic {fmt(d['median_synthetic_to_train'])}, holdout "
            f"{fmt(d['median_holdout_to_train'])} (ratio {fmt(ratio.value)})."
        )
    s.add(
        Figure(
            "distance_histograms",
            {
                "edges": hist["edges"],
                "series": {
                    "holdout → nearest training image": hist["holdout_to_train"],
                    "synthetic → nearest training image": hist["synthetic_to_train"],
                    "synthetic → nearest holdout image": hist["synthetic_to_holdout"],
                },
                "xlabel": "RMS pixel distance to the nearest image (pixels in [0, 1])",
                "density": True,
                "unit": "images",
            },
            caption="Nearest-neighbour distances, as shares of each group. Without memorisation the "
            "synthetic images are no closer to the training images than unseen holdout images are; "
            f"mass near 0 on the synthetic curve alone means copies.{ratio_text}",
        )
    )
    return s


def _closest_pairs(inputs: ImageInputs, cutoff: float | None) -> Figure:
    """The synthetic images closest to a training image, each next to that image."""
    distances, nearest = inputs.nearest("synthetic", "train")
    measured, synthetic_index = inputs.measured_synthetic()
    train, train_index = inputs.reference("train")
    order = np.argsort(distances, kind="stable")[: inputs.options.closest_pairs]
    names = inputs.spec.class_names
    pairs = []
    for i in order:
        syn_image, train_image = measured.images[i], train.images[nearest[i]]
        pairs.append(
            {
                "synthetic_index": int(synthetic_index[i]),
                "training_index": int(train_index[nearest[i]]),
                "distance": 0.0 if np.array_equal(syn_image, train_image) else float(distances[i]),
                "identical": bool(np.array_equal(syn_image, train_image)),
                "synthetic_class": names[int(measured.labels[i])],
                "training_class": names[int(train.labels[nearest[i]])],
            }
        )
    median = float(np.median(inputs.nearest("holdout", "train")[0]))
    cut = f"; near-copy cut-off {fmt(cutoff)}" if cutoff is not None else ""
    return Figure(
        "image_pairs",
        {
            "pairs": pairs,
            "synthetic": Pixels(measured.images[order], "synthetic"),
            "training": Pixels(train.images[nearest[order]], "training split"),
            "channels": inputs.spec.channels,
        },
        caption=f"The {len(pairs)} synthetic images closest to a training image (top row) and "
        "that training image (bottom row), with their RMS pixel distance. For scale: a holdout "
        f"image's nearest training image is at a median distance of {fmt(median)}{cut}.",
    )
