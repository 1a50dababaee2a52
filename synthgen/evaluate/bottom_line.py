"""The bottom line of a validation, in plain language: what the verdict means and what the
steward should do.

A ``BottomLine`` is built from the checks and metrics of a ``ValidationResult``: one
sentence each on privacy, fidelity and usefulness (with the numbers behind them) and an
action (release / review the named checks / do not release). The report puts it on top of
its first page; ``synthgen validate`` and ``synthgen demo`` print ``attention_lines``, one
line per check that warned or failed.

The sentences quote statistics computed on real data, like the rest of the report: they
are for the steward and auditors only (docs/privacy.md, "Where real data flows").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from synthgen.evaluate.gate import CheckResult
from synthgen.evaluate.metric import MetricResult

if TYPE_CHECKING:
    from synthgen.evaluate.result import ValidationResult

HEADLINES = {
    "pass": "releasable: every check passes",
    "warn": "releasable only after the steward reviews the warnings below",
    "fail": "do not release",
}
# the measures of a tabular utility model, as the report names them
UTILITY_MEASURES = (("roc_auc", "ROC AUC"), ("f1_macro", "F1 (macro)"), ("accuracy", "accuracy"))


@dataclass(frozen=True)
class BottomLine:
    verdict: str  # "pass", "warn" or "fail"
    headline: str
    privacy: str
    fidelity: str
    usefulness: str
    action: str
    attention: tuple[str, ...]  # names of the checks that warned or failed, worst first

    def sentences(self) -> list[tuple[str, str]]:
        return [
            ("Privacy", self.privacy),
            ("Fidelity", self.fidelity),
            ("Usefulness", self.usefulness),
            ("What to do", self.action),
        ]


def number(x: Any, digits: int = 3) -> str:
    """A metric value for a sentence: three decimals, infinity spelt out."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    f = float(x)
    if math.isinf(f):
        return "infinity" if f > 0 else "-infinity"
    if f != 0 and abs(f) < 10**-digits:
        return f"{f:.2g}"
    return f"{f:.{digits}f}"


def needs_attention(checks: list[CheckResult]) -> list[CheckResult]:
    """The checks that failed, then those that warned, in report order within each."""
    return [c for c in checks if c.status == "fail"] + [c for c in checks if c.status == "warn"]


def threshold_crossed(check: CheckResult) -> str:
    """Which threshold a warning or failure crossed, e.g. "warn below 0.85"."""
    limit = check.fail if check.status == "fail" else check.warn
    side = "below" if check.direction == "higher_is_better" else "above"
    if limit is None:
        return check.note or "a rule of the gate"
    return f"{check.status} {side} {limit:g}"


def attention_lines(result: ValidationResult) -> list[str]:
    """One line per check that failed or warned: status, name, value, threshold, title."""
    return [
        f"{c.status.upper():4s} {c.name} = {'n/a' if c.value is None else format(c.value, '.4g')} "
        f"({threshold_crossed(c)}): {c.title}"
        for c in needs_attention(result.checks)
    ]


def _family_status(checks: list[CheckResult], family: str) -> str:
    """ "; A and B warn" for the family's checks that did not pass (empty when all did)."""
    parts = []
    for status, verb in (("fail", "fails"), ("warn", "warns")):
        names = [c.name for c in checks if c.family == family and c.status == status]
        if names:
            many = len(names) > 1
            parts.append(f"{', '.join(names)} {verb[:-1] if many else verb}")
    return "; " + " and ".join(parts) if parts else ""


def _metric(metrics: list[MetricResult], name: str) -> MetricResult | None:
    m = next((m for m in metrics if m.name == name), None)
    return m if m is not None and m.value is not None else None


def _values(metrics: list[MetricResult], labels: list[tuple[str, str]]) -> str:
    return ", ".join(
        f"{label} {number(m.value)}"
        for name, label in labels
        if (m := _metric(metrics, name)) is not None
    )


def _delta(x: Any) -> str:
    return "n/a" if x is None else f"{float(x):g}"


def unit_phrase(cert: dict[str, Any]) -> str:
    """The unit of privacy as the first page states it: "patient (entity column X, at most
    k records)" or "record (one row of the source table)"; older certificates name only the
    unit."""
    unit = str(cert.get("unit") or "record")
    if unit == "patient":
        image = cert.get("modality") == "image"
        source = "patient ids from" if image else "entity column"
        records = "images" if image else "records"
        return (
            f"patient ({source} {cert.get('entity_column')}, at most "
            f"{cert.get('max_records_per_entity')} {records})"
        )
    words = cert.get("unit_description") or (unit if unit != "record" else "")
    return f"record ({words})" if words else "record"


def privacy_sentence(result: ValidationResult) -> str:
    if not result.private:
        return (
            "NOT PRIVATE: the model was trained without differential privacy, so its "
            "synthetic data can never be released."
        )
    cert = result.certificate
    guarantee = (
        f"Differentially private at epsilon {number(cert.get('epsilon'), 2)}, "
        f"delta {_delta(cert.get('delta'))} (unit: {unit_phrase(cert)})"
    )
    privacy = [c for c in result.checks if c.family == "privacy"]
    bad = _family_status(result.checks, "privacy")
    if bad:
        return (
            f"{guarantee}, but the memorisation checks found a problem{bad}: a sign of a "
            "bug or of copied records, to be explained before any release."
        )
    judged = [c for c in privacy if c.status == "pass"]
    key = _values(
        result.metrics,
        [
            ("exact_copy_share", "exact-copy share"),
            ("membership_inference_auc", "membership-inference AUC"),
            ("image_exact_copy_share", "exact-copy share"),
            ("image_near_copy_share", "near-copy share"),
        ],
    )
    return (
        f"{guarantee}; the {len(judged)} memorisation checks that have thresholds pass"
        + (f" ({key})" if key else "")
        + ". They detect bugs; the certificate is the guarantee."
    )


def fidelity_sentence(result: ValidationResult) -> str:
    if result.modality == "image":
        fd = _metric(result.metrics, "image_frechet_distance")
        if fd is None:
            return "Fidelity was not measured."
        reference = fd.details.get("real_reference")
        text = (
            f"Synthetic images lie at a Fréchet distance of {number(fd.value)} from the training "
            f"images (fresh real images: {number(reference)})"
        )
        pr = _values(result.metrics, [("image_precision", "precision"), ("image_recall", "recall")])
        return text + (f"; {pr}" if pr else "") + _family_status(result.checks, "fidelity") + "."
    key = _values(
        result.metrics,
        [
            ("column_shape_similarity", "column shapes"),
            ("pairwise_association_similarity", "pairwise associations"),
            ("detection_auc", "detection AUC"),
        ],
    )
    if not key:
        return "Fidelity was not measured."
    bad = _family_status(result.checks, "fidelity")
    verdict = (
        "the synthetic table follows the real one closely"
        if not bad
        else "the synthetic table differs from the real one"
    )
    return f"Similarity to the real training split (1 = identical; detection AUC 0.5 = indistinguishable): {key}; {verdict}{bad}."


def weakest_utility(rows: list[dict[str, Any]]) -> tuple[str, str, float, float] | None:
    """The (family, measure, synthetic, real) whose synthetic score is the lowest fraction
    of its real-data score, over every model family and measure."""
    by_family: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        by_family.setdefault(r["family"], {})[r["trained_on"]] = r
    worst: tuple[str, str, float, float] | None = None
    worst_ratio = math.inf
    for family, sides in by_family.items():
        if "real" not in sides or "synthetic" not in sides:
            continue
        for key, label in UTILITY_MEASURES:
            real, synthetic = sides["real"].get(key), sides["synthetic"].get(key)
            if real is None or synthetic is None:
                continue
            ratio = synthetic / max(real, 1e-9)
            if ratio < worst_ratio:
                worst_ratio, worst = ratio, (family.replace("_", " "), label, synthetic, real)
    return worst


def lift_effect(lift: float | None, low: float | None, high: float | None) -> str:
    """What adding the release to small real subsets does, read with the lift's interval."""
    if high is not None and high < 0:
        return "hurts"
    if low is not None and low > 0:
        return "helps"
    if lift is not None and lift < 0:
        return "does not help"
    return "makes no clear difference"


def usefulness_sentence(result: ValidationResult) -> str:
    if result.modality == "image":
        tstr = _metric(result.metrics, "image_tstr_auc_ratio")
        if tstr is None:
            note = next((m.note for m in result.metrics if m.name == "image_tstr_auc_ratio"), "")
            return f"Usefulness was not measured{': ' + note if note else ''}."
        auc = {r["trained_on"]: r for r in tstr.details.get("rows", [])}
        return (
            f"A CNN trained on the synthetic images reaches ROC AUC "
            f"{number(auc['synthetic']['roc_auc'])} (accuracy {number(auc['synthetic']['accuracy'])}) "
            f"on real images, against {number(auc['real']['roc_auc'])} "
            f"(accuracy {number(auc['real']['accuracy'])}) trained on real images"
            f"{_family_status(result.checks, 'utility')}."
        )
    tstr = _metric(result.metrics, "tstr_auc_ratio")
    if tstr is None:
        note = next((m.note for m in result.metrics if m.name == "tstr_auc_ratio"), "")
        return f"Usefulness was not measured{': ' + note if note else ''}."
    text = (
        f"Models trained on the synthetic table reach {number(tstr.value)} of the real-data "
        "ROC AUC on average"
    )
    worst = weakest_utility(tstr.details.get("rows", []))
    if worst is not None:
        family, measure, synthetic, real = worst
        text += f"; the weakest score is {family} {measure}: {number(synthetic)} against {number(real)} on real data"
    lift = _metric(result.metrics, "augmentation_auc_lift")
    if lift is not None:
        low, high = lift.details.get("interval_95", [None, None])
        effect = lift_effect(lift.value, low, high)
        text += (
            f"; adding it to small real subsets {effect} (ROC AUC lift {number(lift.value)}, "
            f"95% interval {number(low)} to {number(high)})"
        )
    return text + _family_status(result.checks, "utility") + "."


def action_sentence(result: ValidationResult) -> str:
    failed = [c.name for c in result.checks if c.status == "fail"]
    warned = [c.name for c in result.checks if c.status == "warn"]
    if not result.private:
        return "Do not release: a model trained without differential privacy is never releasable."
    if failed:
        text = f"Do not release. Fix what failed: {', '.join(failed)}"
        if warned:
            text += f"; then review {', '.join(warned)}"
        return text + ". Each check's section says what it measured."
    if warned:
        return (
            f"Review {', '.join(warned)} (each check's section explains it). Release only if "
            "the steward accepts them for the intended use, and record why with the release."
        )
    return (
        "Release: ship the synthetic data with its DP certificate, never this report (it "
        "holds statistics on real data)."
    )


def bottom_line(result: ValidationResult) -> BottomLine:
    return BottomLine(
        verdict=result.verdict,
        headline=HEADLINES[result.verdict] if result.private else "NOT PRIVATE: never releasable",
        privacy=privacy_sentence(result),
        fidelity=fidelity_sentence(result),
        usefulness=usefulness_sentence(result),
        action=action_sentence(result),
        attention=tuple(c.name for c in needs_attention(result.checks)),
    )
