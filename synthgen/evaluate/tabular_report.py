"""Report sections for a tabular validation, built from results (no rendering here).

Each function turns part of a ``ValidationResult`` into a ``Section`` of paragraphs,
tables and figure specifications (see ``synthgen.evaluate.sections``). The renderer in
``reports/`` draws them; ``report.json`` serialises them as they are. The sections every
modality shares (summary, certificate, thresholds) are in ``common_sections``.
"""

from __future__ import annotations

from itertools import accumulate
from typing import TYPE_CHECKING, Any

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
from synthgen.evaluate.inputs import TabularInputs
from synthgen.evaluate.metric import MetricResult
from synthgen.evaluate.sections import (
    Callout,
    Figure,
    KeyValues,
    Level,
    Paragraph,
    Section,
    Table,
)

if TYPE_CHECKING:
    from synthgen.evaluate.result import ValidationResult

__all__ = ["build_sections", "fmt"]
SMALL_SAMPLE_ERROR = 0.04  # attack AUC standard error at chance above which the report says so
# columns per histogram grid: 2 rows of 3 panels, two grids to an A4 page at full size (one
# grid per page was 4 rows, and left most of a page empty under the section's tables)
COLUMNS_PER_FIGURE = 6


def build_sections(result: ValidationResult, inputs: TabularInputs) -> list[Section]:
    metrics = {m.name: m for m in result.metrics}
    per_column = Section("per-column", "Fidelity per column", appendix=True)
    return [
        summary_section(result),
        certificate_section(result),
        provenance_section(result),
        expectations_section(result),
        fidelity_section(result, metrics, per_column),
        utility_section(result, metrics),
        *category_selection_sections(inputs),
        privacy_section(result, metrics),
        all_checks_section(result),
        expectations_appendix(result),
        per_column,
        thresholds_section(result),
        config_section(result),
    ]


# -- provenance ----------------------------------------------------------------------------
def provenance_section(result: ValidationResult) -> Section:
    p = result.provenance
    s = Section("provenance", "Provenance")
    s.add(
        KeyValues(
            [
                ("Model directory", str(p["model_dir"])),
                ("Private run directory", str(p["private_dir"])),
                ("Source", str(p.get("source") or "—")),
                ("Source sha256", str(p.get("source_sha256") or "—")),
                ("Schema sha256 at training", str(p.get("schema_sha256_at_training") or "—")),
                ("Model schema sha256", str(p["model_schema_sha256"])),
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
                ("Label column", str(p.get("target") or "—")),
                ("Synthetic file", str(p["synthetic_file"])),
                ("Synthetic sha256", str(p["synthetic_sha256"])),
                *key_settings(p.get("config")),
            ]
        )
    )
    s.add(Paragraph("The whole model configuration (config.json) is in the appendix."))
    return s


# -- Great Expectations --------------------------------------------------------------------
def expectations_section(result: ValidationResult) -> Section:
    e = result.expectations
    assert e is not None, "a tabular validation runs the data contract"
    level: Level = "pass" if e.success else "fail"
    s = Section("expectations", "Data contract (Great Expectations)", level=level)
    s.add(
        Paragraph(
            f"The expectation suite is built from the schema (public metadata) and run on the "
            f"synthetic table: {len(e.outcomes) - len(e.failed)} of {len(e.outcomes)} "
            "expectations pass."
        )
    )
    failed = [o for o in e.failed if o.spec.rule is None]
    if failed:
        s.add(expectations_table(failed))
    rules = [o for o in e.outcomes if o.spec.rule is not None]
    if rules:  # each declared cross-column rule, passing or not: what the steward declared
        held = sum(o.success for o in rules)
        s.add(
            Paragraph(
                f"Declared cross-column constraints: {held} of {len(rules)} hold in every "
                "row (one expectation each)."
            )
        )
        s.add(expectations_table(rules))
    s.add(Paragraph("The appendix lists every expectation, passing ones included."))
    return s


def expectations_table(outcomes: list[Any]) -> Table:
    from synthgen.tabular.gx_adapter import ge_expectation_type

    return Table(
        columns=["Expectation", "Column", "Expected", "Result"],
        rows=[
            [
                ge_expectation_type(o.spec.kind),
                o.spec.where,
                o.spec.description,
                "pass" if o.success else f"FAIL — {o.problem()}",
            ]
            for o in outcomes
        ],
        row_levels=["pass" if o.success else "fail" for o in outcomes],
    )


def expectations_appendix(result: ValidationResult) -> Section:
    assert result.expectations is not None
    s = Section("all-expectations", "Data contract: every expectation", appendix=True)
    s.add(expectations_table(result.expectations.outcomes))
    return s


# -- fidelity ------------------------------------------------------------------------------
def fidelity_section(
    result: ValidationResult, metrics: dict[str, MetricResult], per_column: Section
) -> Section:
    """The fidelity checks and plots; the per-column tables go to ``per_column`` (an
    appendix section), the table of values on the bounds also here when its check did not pass."""
    checks = family_checks(result, "fidelity")
    s = Section("fidelity", "Fidelity", level=worst_level(checks))
    s.add(
        Paragraph(
            "How closely the synthetic table follows the real training split. Column scores are "
            "1 − KS statistic (numeric) or 1 − total variation distance (categorical); 1 is a "
            "perfect match."
        )
    )
    s.add(checks_table(checks))
    shapes = metrics.get("column_shape_similarity")
    if shapes is not None and shapes.value is not None:
        columns = shapes.details["columns"]
        names = list(columns)
        figures = -(-len(names) // COLUMNS_PER_FIGURE)
        base, extra = divmod(
            len(names), figures
        )  # balanced: 31 columns are 6 + 5 x 5, not 5 x 6 + 1
        ends = list(accumulate(base + (i < extra) for i in range(figures)))
        for start, end in zip([0, *ends[:-1]], ends, strict=True):
            chunk = names[start:end]
            part = (
                f" (columns {start + 1}–{end} of {len(names)})" if len(names) > len(chunk) else ""
            )
            s.add(
                Figure(
                    "column_distributions",
                    {
                        "columns": {
                            n: {**columns[n]["plot"], "score": columns[n]["score"]} for n in chunk
                        }
                    },
                    caption="Real (training split) vs synthetic, per column: histograms for numeric columns, "
                    f"category frequencies for the others{part}. Each panel's title gives its similarity score.",
                )
            )
        s.add(
            Paragraph(
                "The appendix gives each column's score and null shares, and its values on its bounds."
            )
        )
        per_column.add(
            Table(
                columns=["Column", "Kind", "Statistic", "Score", "Nulls real", "Nulls synthetic"],
                rows=[
                    [
                        n,
                        c["kind"],
                        f"{c['statistic']} = {fmt(c['distance'])}",
                        fmt(c["score"]),
                        fmt(c["null_share_real"]),
                        fmt(c["null_share_synthetic"]),
                    ]
                    for n, c in columns.items()
                ],
                caption="Per-column similarity",
            )
        )
    assoc = metrics.get("pairwise_association_similarity")
    if assoc is not None and assoc.value is not None:
        d = assoc.details
        s.add(
            Figure(
                "association_heatmaps",
                {"columns": d["columns"], "real": d["real"], "synthetic": d["synthetic"]},
                caption="Cramér's V between every pair of columns (numerics cut into ten quantile bins): "
                "real below the diagonal and synthetic above it, and their absolute difference. Largest difference: "
                f"{' × '.join(d['largest_difference']['pair'])} ({fmt(d['largest_difference']['difference'])}).",
            )
        )
    contingency = metrics.get("pairwise_contingency_similarity")
    if contingency is not None and contingency.value is not None:
        s.add(
            Paragraph(
                f"Joint distributions of column pairs: mean similarity {fmt(contingency.value)}; "
                f"least similar pair: {contingency.details['worst_pair']} "
                f"({fmt(contingency.details['pairs'][contingency.details['worst_pair']])})."
            )
        )
    pileup = metrics.get("bound_share_excess")
    if pileup is not None and pileup.value is not None:
        columns = pileup.details["columns"]
        bounds = Table(
            columns=[
                "Column",
                "Bounds (from)",
                "Real at min / max",
                "Synthetic at min / max",
                "Excess",
            ],
            rows=[
                [
                    n,
                    f"{fmt(c['minimum'])} – {fmt(c['maximum'])} ({c['bounds_from']})",
                    f"{fmt(c['real_share_at_minimum'])} / {fmt(c['real_share_at_maximum'])}",
                    f"{fmt(c['synthetic_share_at_minimum'])} / {fmt(c['synthetic_share_at_maximum'])}",
                    fmt(c["excess"]),
                ]
                for n, c in columns.items()
            ],
            caption="Shares of each numeric column's values on its bounds (real: on or beyond). The "
            "sampler clips to these bounds, so a column the model did not learn piles up there.",
        )
        per_column.add(bounds)
        if result.check("bound_share_excess").status in ("warn", "fail"):
            s.add(bounds)
    rules = metrics.get("constraint_violation_share")
    if rules is not None and rules.value is not None:
        s.add(
            Table(
                columns=["Constraint", "Synthetic rows breaking it", "Real rows breaking it"],
                rows=[
                    [rule, fmt(shares["synthetic_share"]), fmt(shares["real_share"])]
                    for rule, shares in rules.details["constraints"].items()
                ],
                caption="Declared constraints (schema `constraints:`): shares of rows that break "
                "each. The sampler holds every row to them; training dropped real rows that "
                "broke one, so the training split keeps them too.",
            )
        )
    detection = metrics.get("detection_auc")
    if detection is not None and detection.value is not None:
        d = detection.details
        s.add(
            Paragraph(
                f"Detection: a gradient boosting classifier told {fmt(d['rows_per_side'])} real "
                f"{d['real_table']} rows from as many synthetic rows with a {d['folds']}-fold "
                f"cross-validated ROC AUC of {fmt(detection.value)} (0.5: indistinguishable)."
            )
        )
    return s


# -- utility -------------------------------------------------------------------------------
def utility_section(result: ValidationResult, metrics: dict[str, MetricResult]) -> Section:
    checks = family_checks(result, "utility")
    s = Section("utility", "Utility", level=worst_level(checks))
    s.add(checks_table(checks))
    coverage = metrics.get("missing_declared_classes")
    if coverage is not None and coverage.value is not None:
        s.add(class_coverage_table(coverage))
    tstr = metrics.get("tstr_auc_ratio")
    if tstr is None or tstr.value is None:
        s.add(Paragraph(f"Utility was not measured: {tstr.note if tstr else 'no metric'}."))
        return s
    s.add(
        Paragraph(
            "Models of each family trained on the synthetic table (TSTR) and on the real training "
            f"split (TRTR), both tested on the real holdout split ({fmt(tstr.details['n_test'])} rows) "
            "that neither saw. ROC AUC is one-vs-rest, averaged over classes; F1 is macro-averaged. "
            "The check averages the ROC AUC ratio over families; the table shows every family and "
            "measure, so that a good average cannot hide a poor one."
        )
    )
    s.add(utility_table(tstr, result.policy.threshold("tstr_auc_ratio").warn))
    augmentation = metrics.get("augmentation_auc_lift")
    if augmentation is not None and augmentation.value is not None:
        d = augmentation.details
        family = d["model_family"]
        reference = {
            r["trained_on"]: r["roc_auc"] for r in tstr.details["rows"] if r["family"] == family
        }
        s.add(
            Figure(
                "augmentation_curve",
                {
                    "points": d["points"],
                    "full_real": reference.get("real"),
                    "synthetic_only": reference.get("synthetic"),
                },
                caption=f"Augmentation ({family.replace('_', ' ')}): ROC AUC on the real holdout of a "
                f"model trained on a real subset alone and with {fmt(d['synthetic_rows_added'])} "
                "synthetic rows added, by subset size. Dashed lines: all real training rows; synthetic rows only.",
            )
        )
        s.add(
            Table(
                columns=["Real rows", "Draws", "AUC real subset", "AUC subset + synthetic", "Lift"],
                rows=[
                    [
                        fmt(p["real_rows"]),
                        fmt(p["repeats"]),
                        fmt(p["roc_auc_real"]),
                        fmt(p["roc_auc_augmented"]),
                        fmt(p["lift"]),
                    ]
                    for p in d["points"]
                ],
            )
        )
        low, high = d["interval_95"]
        s.add(
            Paragraph(
                f"Mean lift {fmt(augmentation.value)}, 95% interval {fmt(low)} to {fmt(high)} "
                f"({d['interval_method']}). A negative mean warns; an interval wholly below 0 fails."
            )
        )
    return s


UTILITY_MEASURES = (("roc_auc", "ROC AUC"), ("f1_macro", "F1 (macro)"), ("accuracy", "Accuracy"))


def utility_table(tstr: MetricResult, warn_ratio: float | None) -> Table:
    """One row per model family and measure: trained on real, on synthetic, and the ratio.
    Rows whose ratio is below the TSTR check's warn threshold are marked."""
    sides: dict[str, dict[str, dict[str, Any]]] = {}
    for r in tstr.details["rows"]:
        sides.setdefault(r["family"], {})[r["trained_on"]] = r
    rows, levels = [], []
    for family, by_side in sides.items():
        real, synthetic = by_side.get("real", {}), by_side.get("synthetic", {})
        for key, label in UTILITY_MEASURES:
            if key not in real or key not in synthetic:
                continue
            ratio = synthetic[key] / max(real[key], 1e-9)
            rows.append(
                [family.replace("_", " "), label, fmt(real[key]), fmt(synthetic[key]), fmt(ratio)]
            )
            levels.append("warn" if warn_ratio is not None and ratio < warn_ratio else "pass")
    rows_used = ", ".join(
        f"{side} {fmt(by_side[side]['rows'])}"
        for by_side in list(sides.values())[:1]
        for side in ("real", "synthetic")
        if side in by_side
    )
    marked = (
        f"; rows below {fmt(warn_ratio)} of the real-data score are marked"
        if warn_ratio is not None
        else ""
    )
    return Table(
        columns=[
            "Model family",
            "Measure",
            "Trained on real",
            "Trained on synthetic",
            "Synthetic / real",
        ],
        rows=rows,
        row_levels=levels,  # type: ignore[arg-type]
        caption=f"Train on synthetic / train on real, test on real holdout (training rows: {rows_used}){marked}",
    )


def class_coverage_table(coverage: MetricResult) -> Table:
    d = coverage.details
    with_shares = any(r["default_sampling_share"] is not None for r in d["classes"])
    caption = "Classes of the label: rows in the real training split and in the synthetic table."
    if "default_sampling" in d:
        caption += (
            f" By default `synthgen sample` draws the classes in the shares shown ({d['default_sampling']}), "
            "so every class the model knows gets rows even when its DP count was clipped to zero; "
            "`--class-counts` overrides them."
        )
    return Table(
        columns=["Class", "Declared by", "Real rows (share)", "Synthetic rows (share)"]
        + (["Default sampling share"] if with_shares else []),
        rows=[
            [
                r["class"],
                r["declared_by"],
                f"{fmt(r['real_rows'])} ({fmt(r['real_share'])})",
                f"{fmt(r['synthetic_rows'])} ({fmt(r['synthetic_share'])})",
            ]
            + ([fmt(r["default_sampling_share"])] if with_shares else [])
            for r in d["classes"]
        ],
        row_levels=["fail" if r["synthetic_rows"] == 0 else "pass" for r in d["classes"]],
        caption=caption,
    )


# -- categories merged into "(other)" ------------------------------------------------------
OTHER_VALUE = "(other)"  # synthgen.tabular.preprocess.OTHER (the report layer reads JSON only)


def category_selection_sections(inputs: TabularInputs) -> list[Section]:
    """Per column whose categories the model discovered with DP: the values it kept (they
    passed partition selection: public), the threshold, and what went into "(other)" as
    shares. The merged values are not named: a release never names them, and this report
    shows only the share of the real training rows they held. No section when every
    category was declared (nothing was merged)."""
    selection = inputs.model.category_selection if inputs.model is not None else {}
    if not selection:
        return []
    s = Section("category-selection", "Categories merged into (other)")
    s.add(
        Paragraph(
            "Without declared categories, a value is kept when its DP count passes the "
            "partition-selection threshold; every other value is written as "
            f'"{OTHER_VALUE}" (docs/tabular.md#categories-without-a-schema). Declare the '
            "categories in the schema to keep them all."
        )
    )
    rows = []
    for column, summary in selection.items():
        kept = [str(v) for v in summary.get("kept", [])]
        real = inputs.train[column].dropna().astype(str) if column in inputs.train else None
        merged_real = float((~real.isin(kept)).mean()) if real is not None and len(real) else 0.0
        synthetic = inputs.synthetic.get(column)
        merged_synthetic = (
            float((synthetic.astype(str) == OTHER_VALUE).mean()) if synthetic is not None else 0.0
        )
        threshold = summary.get("threshold_records")
        rows.append(
            [
                column,
                f"{len(kept)}: {', '.join(kept)}",
                "—" if threshold is None else fmt(threshold),
                fmt(merged_real),
                fmt(float(summary.get("other_share", 0.0))),
                fmt(merged_synthetic),
            ]
        )
    s.add(
        Table(
            columns=[
                "Column",
                "Values kept",
                "Threshold (records)",
                "Real rows merged (share)",
                "(other) in the model (DP)",
                "(other) in the synthetic table",
            ],
            rows=rows,
            caption=(
                "Real rows merged: the training rows whose value was not kept (real data: "
                "this report stays with the steward)."
            ),
        )
    )
    return [s]


# -- privacy -------------------------------------------------------------------------------
def privacy_section(result: ValidationResult, metrics: dict[str, MetricResult]) -> Section:
    checks = family_checks(result, "privacy")
    s = Section("privacy", "Privacy (empirical checks)", level=worst_level(checks))
    s.add(
        Callout(
            "These checks detect bugs and memorisation; they do not prove privacy, and passing "
            "them never replaces the DP certificate. The attacks use the real holdout split as "
            "non-members.",
            "info",
        )
    )
    s.add(checks_table(checks))
    copies = metrics.get("exact_copy_share")
    if copies is not None and copies.value is not None:
        d = copies.details
        items = [
            (
                "Synthetic rows identical to a training record",
                f"{fmt(d['copies'])} of {fmt(d['synthetic_rows'])} ({fmt(copies.value)})",
            ),
            (
                "Distinct training records copied",
                f"{fmt(d['distinct_training_records_copied'])} of {fmt(d['training_rows'])}",
            ),
        ]
        if "holdout_matches" in d:
            items.append(
                (
                    "For comparison: synthetic rows identical to a holdout record",
                    f"{fmt(d['holdout_matches'])} ({fmt(d['holdout_match_share'])}) of {fmt(d['synthetic_rows'])}, "
                    f"holdout has {fmt(d['holdout_rows'])} rows",
                )
            )
        s.add(KeyValues(items))
    dcr = metrics.get("dcr_closer_to_train_share")
    if dcr is not None and dcr.value is not None:
        d = dcr.details
        s.add(
            Figure(
                "distance_histograms",
                {
                    "edges": d["histogram"]["edges"],
                    "series": {
                        "to closest training record": d["histogram"]["train"],
                        "to closest holdout record": d["histogram"]["holdout"],
                    },
                    "xlabel": "distance to closest record (in whole columns)",
                },
                caption=f"Distance to closest record for {fmt(d['synthetic_rows_measured'])} synthetic rows: "
                f"training ({fmt(d['training_records'])} records) vs holdout ({fmt(d['holdout_records'])}). "
                f"Closer to training: {fmt(d['raw_share'])} (expected without memorisation: "
                f"{fmt(d['expected_raw_share_without_memorisation'])}); size-corrected share {fmt(dcr.value)} (ideal 0.5).",
            )
        )
    nndr = metrics.get("nndr_median")
    if nndr is not None and nndr.value is not None:
        d = nndr.details
        s.add(
            Figure(
                "distance_histograms",
                {
                    "edges": d["histogram"]["edges"],
                    "series": {
                        "synthetic rows": d["histogram"]["synthetic"],
                        "holdout rows": d["histogram"]["holdout"],
                    },
                    "xlabel": "nearest-neighbour distance ratio to training records",
                    "density": True,
                },
                caption=f"Nearest-neighbour distance ratio: median {fmt(nndr.value)} for synthetic rows, "
                f"{fmt(d['holdout_median'])} for unseen holdout rows. Mass near 0 means rows sitting on one training record.",
            )
        )
    mia = metrics.get("membership_inference_auc")
    if mia is not None and mia.value is not None:
        d = mia.details
        from synthgen.evaluate.privacy.membership import auc_standard_error

        chance_error = auc_standard_error(0.5, d["members"], d["nonmembers"])
        if chance_error > SMALL_SAMPLE_ERROR:
            s.add(
                Callout(
                    f"Small holdout: with {fmt(d['members'])} members and {fmt(d['nonmembers'])} non-members, "
                    f"an attack that is pure guessing still scores an AUC of 0.5 ± {fmt(chance_error, 2)} "
                    "(one standard error). Read the warnings below with that noise in mind.",
                    "warn",
                )
            )
        s.add(
            Figure(
                "roc_curves",
                {
                    "curves": {
                        name.replace("_", " "): a["roc"] for name, a in d["attacks"].items()
                    },
                    "aucs": {
                        name.replace("_", " "): a["roc_auc"] for name, a in d["attacks"].items()
                    },
                },
                caption=f"Membership inference: {fmt(d['members'])} training records (members) vs "
                f"{fmt(d['nonmembers'])} holdout records (non-members). The diagonal is guessing.",
            )
        )
        s.add(
            Table(
                columns=["Attack", "ROC AUC", "± standard error"],
                rows=[
                    [n.replace("_", " "), fmt(a["roc_auc"]), fmt(a["standard_error"])]
                    for n, a in d["attacks"].items()
                ],
            )
        )
    attribute = metrics.get("attribute_inference_advantage")
    if attribute is not None:
        if attribute.value is None:
            s.add(Paragraph(f"Attribute inference was not measured: {attribute.note}."))
        else:
            d = attribute.details
            s.add(
                Table(
                    columns=[
                        "Sensitive column",
                        "Accuracy on training targets",
                        "Accuracy on holdout targets",
                        "Advantage",
                        "± standard error",
                    ],
                    rows=[
                        [
                            n,
                            fmt(c["accuracy_training_targets"]),
                            fmt(c["accuracy_holdout_targets"]),
                            fmt(c["advantage"]),
                            fmt(c["standard_error"]),
                        ]
                        for n, c in d["columns"].items()
                    ],
                    caption=f"Attribute inference from the closest synthetic row ({fmt(d['targets_per_side'])} targets per side)",
                )
            )
    return s
