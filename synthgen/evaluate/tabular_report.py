"""Report sections for a tabular validation, built from results (no rendering here).

Each function turns part of a ``ValidationResult`` into a ``Section`` of paragraphs,
tables and figure specifications (see ``synthgen.evaluate.sections``). The renderer in
``reports/`` draws them; ``report.json`` serialises them as they are.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from synthgen.evaluate.gate import CheckResult
from synthgen.evaluate.inputs import TabularInputs
from synthgen.evaluate.metric import MetricResult
from synthgen.evaluate.sections import (
    Callout,
    Figure,
    KeyValues,
    Level,
    Paragraph,
    Preformatted,
    Section,
    Table,
)

if TYPE_CHECKING:
    from synthgen.evaluate.release import ValidationResult

_LEVELS: dict[str, Level] = {"pass": "pass", "warn": "warn", "fail": "fail"}
SMALL_SAMPLE_ERROR = 0.04  # attack AUC standard error at chance above which the report says so


def fmt(x: Any, digits: int = 3) -> str:
    """A number for people: fixed significant digits, infinity spelt out."""
    if x is None:
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, str):
        return x
    if isinstance(x, int):
        return f"{x:,}"
    f = float(x)
    if math.isnan(f):
        return "—"
    if math.isinf(f):
        return "∞" if f > 0 else "-∞"
    if f != 0 and (abs(f) < 1e-3 or abs(f) >= 1e6):
        return f"{f:.{digits}g}"
    text = f"{f:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _worst(checks: list[CheckResult]) -> Level | None:
    statuses = [c.status for c in checks if c.status in _LEVELS]
    for level in ("fail", "warn", "pass"):
        if level in statuses:
            return _LEVELS[level]
    return None


def _threshold_text(c: CheckResult) -> str:
    sign = "<" if c.direction == "higher_is_better" else ">"
    parts = []
    if c.warn is not None:
        parts.append(f"warn if {sign} {fmt(c.warn)}")
    if c.fail is not None:
        parts.append(f"fail if {sign} {fmt(c.fail)}")
    return "; ".join(parts) or "none (reported only)"


def _checks_table(checks: list[CheckResult], caption: str = "") -> Table:
    return Table(
        columns=["Check", "Value", "Better", "Thresholds", "Status"],
        rows=[
            [c.title, fmt(c.value), "higher" if c.direction == "higher_is_better" else "lower",
             _threshold_text(c), c.status.upper() + (f" — {c.note}" if c.note else "")]
            for c in checks
        ],
        caption=caption,
        row_levels=[_LEVELS.get(c.status) for c in checks],
    )


def build_sections(result: ValidationResult, inputs: TabularInputs) -> list[Section]:
    metrics = {m.name: m for m in result.metrics}
    return [
        summary_section(result),
        certificate_section(result),
        provenance_section(result),
        expectations_section(result),
        fidelity_section(result, metrics),
        utility_section(result, metrics),
        privacy_section(result, metrics),
        thresholds_section(result),
    ]


# -- summary -------------------------------------------------------------------------------
def summary_section(result: ValidationResult) -> Section:
    counts = {s: sum(c.status == s for c in result.checks) for s in ("pass", "warn", "fail", "info", "skipped")}
    s = Section("summary", "Verdict and summary", level=_LEVELS[result.verdict])
    s.add(Callout(
        f"Verdict: {result.verdict.upper()} — {counts['pass']} checks pass, {counts['warn']} warn, "
        f"{counts['fail']} fail ({counts['info']} reported without thresholds, "
        f"{counts['skipped']} not applicable).",
        _LEVELS[result.verdict],
    ))
    if not result.private:
        s.add(Callout(
            "THIS MODEL IS NOT PRIVATE. It was trained without differential privacy "
            "(epsilon = infinity). Its synthetic data can never be released.", "fail",
        ))
    bad = [c for c in result.checks if c.status in ("fail", "warn")]
    if bad:
        s.add(Paragraph("Checks that need attention:"))
        s.add(_checks_table(bad))
    p = result.provenance
    s.add(KeyValues([
        ("Synthetic table", f"{p['synthetic_file']} ({fmt(p['n_synthetic'])} rows)"),
        ("Real splits", f"train {fmt(p['n_train'])} rows, holdout {fmt(p['n_holdout'])} rows"),
        ("Epsilon, delta", _epsilon_text(result.certificate)),
        ("Policy", result.policy.source),
    ]))
    s.add(_checks_table(result.checks, caption="All checks"))
    return s


def _epsilon_text(cert: dict[str, Any]) -> str:
    eps = cert.get("epsilon")
    if eps in ("Infinity", None) or (isinstance(eps, float) and math.isinf(eps)):
        return "NOT PRIVATE (epsilon = infinity)"
    return f"epsilon = {fmt(eps)}, delta = {fmt(cert.get('delta'))}"


# -- certificate ---------------------------------------------------------------------------
def certificate_section(result: ValidationResult) -> Section:
    c = result.certificate
    s = Section("certificate", "Differential privacy certificate", level=None if result.private else "fail")
    if not result.private:
        s.add(Callout("NOT PRIVATE: this model carries no differential privacy guarantee.", "fail"))
    s.add(KeyValues([
        ("Unit of privacy", str(c.get("unit", "—"))),
        ("Epsilon (total, as spent)", fmt(c.get("epsilon"))),
        ("Delta", fmt(c.get("delta"))),
        ("Training epsilon (DP-SGD)", fmt(c.get("training_epsilon"))),
        ("Preprocessing epsilon", fmt(c.get("preprocessing_epsilon"))),
        ("Target epsilon (requested)", fmt(c.get("target_epsilon"))),
        ("Accountant", str(c.get("accountant", "—"))),
        ("Composition", str(c.get("composition", "—"))),
        ("Noise multiplier", fmt(c.get("noise_multiplier"))),
        ("Sample rate (Poisson)", fmt(c.get("sample_rate"), 4)),
        ("Steps", fmt(c.get("steps"))),
        ("Clip norm (max grad norm)", fmt(c.get("max_grad_norm"))),
        ("Noise multiplicity K", fmt(c.get("noise_multiplicity"))),
        ("Secure RNG", fmt(bool(c.get("secure_rng")))),
        ("Training records", fmt(c.get("n_training_records"))),
        ("Code version", str(c.get("code_version") or "—")),
        ("Issued", str(c.get("created_at") or "—")),
    ]))
    mechanisms = c.get("mechanisms") or []
    if mechanisms:
        keys: list[str] = []
        for m in mechanisms:
            for k in m if isinstance(m, dict) else []:
                if k not in keys:
                    keys.append(k)
        s.add(Paragraph(
            f"Preprocessing spent epsilon {fmt(c.get('preprocessing_epsilon'))} of the total on "
            "the mechanisms below, which estimated what the schema did not declare (the DP "
            "statistics the encoder and sampler use)."
        ))
        s.add(Table(
            columns=keys,
            rows=[[_cell(m.get(k)) for k in keys] for m in mechanisms if isinstance(m, dict)],
            caption="Mechanisms of the run",
        ))
    else:
        s.add(Paragraph("The certificate lists no separate mechanisms."))
    for note in c.get("notes") or []:
        s.add(Paragraph(str(note)))
    return s


def _cell(v: Any) -> str:
    if isinstance(v, dict | list):
        return json.dumps(v)
    return fmt(v)


# -- provenance ----------------------------------------------------------------------------
def provenance_section(result: ValidationResult) -> Section:
    p = result.provenance
    s = Section("provenance", "Provenance")
    s.add(KeyValues([
        ("Model directory", str(p["model_dir"])),
        ("Private run directory", str(p["private_dir"])),
        ("Source", str(p.get("source") or "—")),
        ("Source sha256", str(p.get("source_sha256") or "—")),
        ("Schema sha256 at training", str(p.get("schema_sha256_at_training") or "—")),
        ("Model schema sha256", str(p["model_schema_sha256"])),
        ("Code version (training / validation)",
         f"{p.get('code_version_at_training') or '—'} / {p['code_version_of_validation']}"),
        ("Seeds (training / validation)", f"{fmt(p.get('training_seed'))} / {fmt(p['validation_seed'])}"),
        ("Trained at", str(p.get("trained_at") or "—")),
        ("Holdout fraction", fmt(p.get("holdout_fraction"))),
        ("Label column", str(p.get("target") or "—")),
        ("Synthetic file", str(p["synthetic_file"])),
        ("Synthetic sha256", str(p["synthetic_sha256"])),
    ]))
    s.add(Paragraph("Model configuration (config.json):"))
    s.add(Preformatted(json.dumps(p.get("config"), indent=2, sort_keys=True, default=str)))
    return s


# -- Great Expectations --------------------------------------------------------------------
def expectations_section(result: ValidationResult) -> Section:
    from synthgen.evaluate.gx_adapter import ge_expectation_type

    e = result.expectations
    level: Level = "pass" if e.success else "fail"
    s = Section("expectations", "Data contract (Great Expectations)", level=level)
    s.add(Paragraph(
        f"The expectation suite is built from the schema (public metadata) and run on the "
        f"synthetic table: {len(e.outcomes) - len(e.failed)} of {len(e.outcomes)} "
        "expectations pass."
    ))
    s.add(Table(
        columns=["Expectation", "Column", "Expected", "Result"],
        rows=[
            [ge_expectation_type(o.spec.kind), o.spec.column or "(table)", o.spec.description,
             "pass" if o.success else f"FAIL — {o.problem()}"]
            for o in e.outcomes
        ],
        row_levels=["pass" if o.success else "fail" for o in e.outcomes],
    ))
    return s


# -- fidelity ------------------------------------------------------------------------------
def _family_checks(result: ValidationResult, family: str) -> list[CheckResult]:
    return [c for c in result.checks if c.family == family]


def fidelity_section(result: ValidationResult, metrics: dict[str, MetricResult]) -> Section:
    checks = _family_checks(result, "fidelity")
    s = Section("fidelity", "Fidelity", level=_worst(checks))
    s.add(Paragraph(
        "How closely the synthetic table follows the real training split. Column scores are "
        "1 − KS statistic (numeric) or 1 − total variation distance (categorical); 1 is a "
        "perfect match."
    ))
    s.add(_checks_table(checks))
    shapes = metrics.get("column_shape_similarity")
    if shapes is not None and shapes.value is not None:
        columns = shapes.details["columns"]
        s.add(Figure(
            "column_distributions",
            {"columns": {n: {**c["plot"], "score": c["score"]} for n, c in columns.items()}},
            caption="Real (training split) vs synthetic, per column: histograms for numeric columns, "
            "category frequencies for the others. Each panel's title gives its similarity score.",
        ))
        s.add(Table(
            columns=["Column", "Kind", "Statistic", "Score", "Nulls real", "Nulls synthetic"],
            rows=[
                [n, c["kind"], f"{c['statistic']} = {fmt(c['distance'])}", fmt(c["score"]),
                 fmt(c["null_share_real"]), fmt(c["null_share_synthetic"])]
                for n, c in columns.items()
            ],
            caption="Per-column similarity",
        ))
    assoc = metrics.get("pairwise_association_similarity")
    if assoc is not None and assoc.value is not None:
        d = assoc.details
        s.add(Figure(
            "association_heatmaps",
            {"columns": d["columns"], "real": d["real"], "synthetic": d["synthetic"]},
            caption="Cramér's V between every pair of columns (numerics cut into ten quantile bins): "
            "real, synthetic, and their absolute difference. Largest difference: "
            f"{' × '.join(d['largest_difference']['pair'])} ({fmt(d['largest_difference']['difference'])}).",
        ))
    contingency = metrics.get("pairwise_contingency_similarity")
    if contingency is not None and contingency.value is not None:
        s.add(Paragraph(
            f"Joint distributions of column pairs: mean similarity {fmt(contingency.value)}; "
            f"least similar pair: {contingency.details['worst_pair']} "
            f"({fmt(contingency.details['pairs'][contingency.details['worst_pair']])})."
        ))
    detection = metrics.get("detection_auc")
    if detection is not None and detection.value is not None:
        d = detection.details
        s.add(Paragraph(
            f"Detection: a gradient boosting classifier told {fmt(d['rows_per_side'])} real "
            f"{d['real_table']} rows from as many synthetic rows with a {d['folds']}-fold "
            f"cross-validated ROC AUC of {fmt(detection.value)} (0.5: indistinguishable)."
        ))
    return s


# -- utility -------------------------------------------------------------------------------
def utility_section(result: ValidationResult, metrics: dict[str, MetricResult]) -> Section:
    checks = _family_checks(result, "utility")
    s = Section("utility", "Utility", level=_worst(checks))
    s.add(_checks_table(checks))
    tstr = metrics.get("tstr_auc_ratio")
    if tstr is None or tstr.value is None:
        s.add(Paragraph(f"Utility was not measured: {tstr.note if tstr else 'no metric'}."))
        return s
    s.add(Paragraph(
        "Models of each family trained on the synthetic table (TSTR) and on the real training "
        f"split (TRTR), both tested on the real holdout split ({fmt(tstr.details['n_test'])} rows) "
        "that neither saw. ROC AUC is one-vs-rest, averaged over classes; F1 is macro-averaged."
    ))
    s.add(Table(
        columns=["Model family", "Trained on", "Rows", "ROC AUC", "F1 (macro)", "Accuracy"],
        rows=[
            [r["family"].replace("_", " "), r["trained_on"], fmt(r["rows"]), fmt(r["roc_auc"]),
             fmt(r["f1_macro"]), fmt(r["accuracy"])]
            for r in tstr.details["rows"]
        ],
        caption="Train on synthetic / train on real, test on real holdout",
    ))
    augmentation = metrics.get("augmentation_auc_lift")
    if augmentation is not None and augmentation.value is not None:
        d = augmentation.details
        family = d["model_family"]
        reference = {
            r["trained_on"]: r["roc_auc"] for r in tstr.details["rows"] if r["family"] == family
        }
        s.add(Figure(
            "augmentation_curve",
            {"points": d["points"], "full_real": reference.get("real"), "synthetic_only": reference.get("synthetic")},
            caption=f"Augmentation ({family.replace('_', ' ')}): ROC AUC on the real holdout of a "
            f"model trained on a real subset alone and with {fmt(d['synthetic_rows_added'])} "
            "synthetic rows added, by subset size. Dashed lines: all real training rows; synthetic rows only.",
        ))
        s.add(Table(
            columns=["Real rows", "Draws", "AUC real subset", "AUC subset + synthetic", "Lift"],
            rows=[
                [fmt(p["real_rows"]), fmt(p["repeats"]), fmt(p["roc_auc_real"]),
                 fmt(p["roc_auc_augmented"]), fmt(p["lift"])]
                for p in d["points"]
            ],
        ))
    return s


# -- privacy -------------------------------------------------------------------------------
def privacy_section(result: ValidationResult, metrics: dict[str, MetricResult]) -> Section:
    checks = _family_checks(result, "privacy")
    s = Section("privacy", "Privacy (empirical checks)", level=_worst(checks))
    s.add(Callout(
        "These checks detect bugs and memorisation; they do not prove privacy, and passing "
        "them never replaces the DP certificate. The attacks use the real holdout split as "
        "non-members.", "info",
    ))
    s.add(_checks_table(checks))
    copies = metrics.get("exact_copy_share")
    if copies is not None and copies.value is not None:
        d = copies.details
        items = [
            ("Synthetic rows identical to a training record", f"{fmt(d['copies'])} of {fmt(d['synthetic_rows'])} ({fmt(copies.value)})"),
            ("Distinct training records copied", f"{fmt(d['distinct_training_records_copied'])} of {fmt(d['training_rows'])}"),
        ]
        if "holdout_matches" in d:
            items.append((
                "For comparison: synthetic rows identical to a holdout record",
                f"{fmt(d['holdout_matches'])} ({fmt(d['holdout_match_share'])}) of {fmt(d['synthetic_rows'])}, "
                f"holdout has {fmt(d['holdout_rows'])} rows",
            ))
        s.add(KeyValues(items))
    dcr = metrics.get("dcr_closer_to_train_share")
    if dcr is not None and dcr.value is not None:
        d = dcr.details
        s.add(Figure(
            "distance_histograms",
            {"edges": d["histogram"]["edges"],
             "series": {"to closest training record": d["histogram"]["train"],
                        "to closest holdout record": d["histogram"]["holdout"]},
             "xlabel": "distance to closest record (in whole columns)"},
            caption=f"Distance to closest record for {fmt(d['synthetic_rows_measured'])} synthetic rows: "
            f"training ({fmt(d['training_records'])} records) vs holdout ({fmt(d['holdout_records'])}). "
            f"Closer to training: {fmt(d['raw_share'])} (expected without memorisation: "
            f"{fmt(d['expected_raw_share_without_memorisation'])}); size-corrected share {fmt(dcr.value)} (ideal 0.5).",
        ))
    nndr = metrics.get("nndr_median")
    if nndr is not None and nndr.value is not None:
        d = nndr.details
        s.add(Figure(
            "distance_histograms",
            {"edges": d["histogram"]["edges"],
             "series": {"synthetic rows": d["histogram"]["synthetic"], "holdout rows": d["histogram"]["holdout"]},
             "xlabel": "nearest-neighbour distance ratio to training records", "density": True},
            caption=f"Nearest-neighbour distance ratio: median {fmt(nndr.value)} for synthetic rows, "
            f"{fmt(d['holdout_median'])} for unseen holdout rows. Mass near 0 means rows sitting on one training record.",
        ))
    mia = metrics.get("membership_inference_auc")
    if mia is not None and mia.value is not None:
        d = mia.details
        from synthgen.evaluate.privacy.membership import auc_standard_error

        chance_error = auc_standard_error(0.5, d["members"], d["nonmembers"])
        if chance_error > SMALL_SAMPLE_ERROR:
            s.add(Callout(
                f"Small holdout: with {fmt(d['members'])} members and {fmt(d['nonmembers'])} non-members, "
                f"an attack that is pure guessing still scores an AUC of 0.5 ± {fmt(chance_error, 2)} "
                "(one standard error). Read the warnings below with that noise in mind.", "warn",
            ))
        s.add(Figure(
            "roc_curves",
            {"curves": {name.replace("_", " "): a["roc"] for name, a in d["attacks"].items()},
             "aucs": {name.replace("_", " "): a["roc_auc"] for name, a in d["attacks"].items()}},
            caption=f"Membership inference: {fmt(d['members'])} training records (members) vs "
            f"{fmt(d['nonmembers'])} holdout records (non-members). The diagonal is guessing.",
        ))
        s.add(Table(
            columns=["Attack", "ROC AUC", "± standard error"],
            rows=[[n.replace("_", " "), fmt(a["roc_auc"]), fmt(a["standard_error"])] for n, a in d["attacks"].items()],
        ))
    attribute = metrics.get("attribute_inference_advantage")
    if attribute is not None:
        if attribute.value is None:
            s.add(Paragraph(f"Attribute inference was not measured: {attribute.note}."))
        else:
            d = attribute.details
            s.add(Table(
                columns=["Sensitive column", "Accuracy on training targets", "Accuracy on holdout targets",
                         "Advantage", "± standard error"],
                rows=[
                    [n, fmt(c["accuracy_training_targets"]), fmt(c["accuracy_holdout_targets"]),
                     fmt(c["advantage"]), fmt(c["standard_error"])]
                    for n, c in d["columns"].items()
                ],
                caption=f"Attribute inference from the closest synthetic row ({fmt(d['targets_per_side'])} targets per side)",
            ))
    return s


# -- thresholds ----------------------------------------------------------------------------
def thresholds_section(result: ValidationResult) -> Section:
    s = Section("thresholds", "Thresholds applied")
    s.add(Paragraph(
        f"Policy: {result.policy.source}. A higher-is-better check warns below its warn "
        "threshold and fails below its fail threshold; a lower-is-better check warns and fails "
        "above them. A value exactly at a threshold passes. The verdict is the worst status."
    ))
    s.add(Table(
        columns=["Check", "Family", "Better", "Warn", "Fail", "Value", "Status"],
        rows=[
            [c.name, c.family, "higher" if c.direction == "higher_is_better" else "lower",
             fmt(c.warn), fmt(c.fail), fmt(c.value), c.status]
            for c in result.checks
        ],
        row_levels=[_LEVELS.get(c.status) for c in result.checks],
    ))
    return s
