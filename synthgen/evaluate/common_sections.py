"""Report sections every validation has, whatever the modality: the verdict and summary,
the DP certificate; in the appendix, every check, the thresholds applied and the model's
config.json; and the small helpers the modality-specific
section builders (``tabular_report``, ``image_report``) share.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from synthgen.evaluate.bottom_line import bottom_line, needs_attention, unit_phrase
from synthgen.evaluate.gate import CheckResult
from synthgen.evaluate.sections import (
    Callout,
    KeyValues,
    Level,
    Paragraph,
    Preformatted,
    Section,
    Summary,
    Table,
)

if TYPE_CHECKING:
    from synthgen.evaluate.result import ValidationResult

LEVELS: dict[str, Level] = {"pass": "pass", "warn": "warn", "fail": "fail"}


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


def worst_level(checks: list[CheckResult]) -> Level | None:
    statuses = [c.status for c in checks if c.status in LEVELS]
    for level in ("fail", "warn", "pass"):
        if level in statuses:
            return LEVELS[level]
    return None


def threshold_text(c: CheckResult) -> str:
    sign = "<" if c.direction == "higher_is_better" else ">"
    parts = []
    if c.warn is not None:
        parts.append(f"warn if {sign} {fmt(c.warn)}")
    if c.fail is not None:
        parts.append(f"fail if {sign} {fmt(c.fail)}")
    return "; ".join(parts) or "none (reported only)"


def checks_table(checks: list[CheckResult], caption: str = "") -> Table:
    return Table(
        columns=["Check", "Value", "Better", "Thresholds", "Status"],
        rows=[
            [
                c.title,
                fmt(c.value),
                "higher" if c.direction == "higher_is_better" else "lower",
                threshold_text(c),
                c.status.upper() + (f" — {c.note}" if c.note else ""),
            ]
            for c in checks
        ],
        caption=caption,
        row_levels=[LEVELS.get(c.status) for c in checks],
    )


def family_checks(result: ValidationResult, family: str) -> list[CheckResult]:
    return [c for c in result.checks if c.family == family]


# -- summary -------------------------------------------------------------------------------
def summary_section(result: ValidationResult) -> Section:
    """The bottom line (verdict, privacy, fidelity, usefulness, what to do), then the checks
    that warned or failed. Every check, passing ones included, is in the appendix."""
    line = bottom_line(result)
    counts = {
        s: sum(c.status == s for c in result.checks)
        for s in ("pass", "warn", "fail", "info", "skipped")
    }
    s = Section("summary", "Verdict and summary", level=LEVELS[result.verdict])
    s.add(Summary(line.verdict, line.headline, line.sentences(), list(line.attention)))
    if not result.private:
        s.add(
            Callout(
                "THIS MODEL IS NOT PRIVATE. It was trained without differential privacy "
                "(epsilon = infinity). Its synthetic data can never be released.",
                "fail",
            )
        )
    bad = needs_attention(result.checks)
    if bad:
        s.add(checks_table(bad, caption="Checks that need attention"))
    s.add(
        Paragraph(
            f"{counts['pass']} checks pass, {counts['warn']} warn, {counts['fail']} fail "
            f"({counts['info']} reported without thresholds, {counts['skipped']} not applicable); "
            "the appendix lists them all."
        )
    )
    p = result.provenance
    image = result.modality == "image"
    unit = "images" if image else "rows"
    splits = f"train {fmt(p['n_train'])} {unit}, holdout {fmt(p['n_holdout'])} {unit}"
    if p.get("n_test"):
        splits += f", test {fmt(p['n_test'])} {unit}"
    s.add(
        KeyValues(
            [
                (
                    "Synthetic images" if image else "Synthetic table",
                    f"{p['synthetic_file']} ({fmt(p['n_synthetic'])} {unit})",
                ),
                ("Real splits", splits),
                ("Epsilon, delta", epsilon_text(result.certificate)),
                ("Policy", result.policy.source),
            ]
        )
    )
    return s


def all_checks_section(result: ValidationResult) -> Section:
    s = Section("all-checks", "All checks", appendix=True)
    s.add(checks_table(result.checks))
    return s


# settings of config.json worth a line in the provenance (public: chosen before training);
# the whole file is in the appendix
KEY_SETTINGS = (
    "steps",
    "noise_multiplicity",
    "max_grad_norm",
    "learning_rate",
    "hidden_width",
    "n_blocks",
    "width",
    "preprocessing_share",
    "secure_rng",
    "sample_steps",
    "guidance_scale",
)


def key_settings(config: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The few training settings that matter to a reader, from a model's config.json."""
    training = (config or {}).get("training") or {}
    return [
        (f"Training: {key.replace('_', ' ')}", fmt(training[key]))
        for key in KEY_SETTINGS
        if training.get(key) is not None
    ]


def config_section(result: ValidationResult) -> Section:
    s = Section("configuration", "Model configuration (config.json)", appendix=True)
    s.add(
        Preformatted(
            json.dumps(result.provenance.get("config"), indent=2, sort_keys=True, default=str)
        )
    )
    return s


def epsilon_text(cert: dict[str, Any]) -> str:
    eps = cert.get("epsilon")
    if eps in ("Infinity", None) or (isinstance(eps, float) and math.isinf(eps)):
        return "NOT PRIVATE (epsilon = infinity)"
    return f"epsilon = {fmt(eps)}, delta = {fmt(cert.get('delta'))}"


# -- certificate ---------------------------------------------------------------------------
def certificate_section(result: ValidationResult) -> Section:
    c = result.certificate
    s = Section(
        "certificate", "Differential privacy certificate", level=None if result.private else "fail"
    )
    if not result.private:
        s.add(Callout("NOT PRIVATE: this model carries no differential privacy guarantee.", "fail"))
    s.add(
        KeyValues(
            [
                ("Unit of privacy", unit_phrase(c)),
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
            ]
        )
    )
    mechanisms = c.get("mechanisms") or []
    if mechanisms:
        keys: list[str] = []
        for m in mechanisms:
            for k in m if isinstance(m, dict) else []:
                if k not in keys:
                    keys.append(k)
        s.add(
            Paragraph(
                f"Preprocessing spent epsilon {fmt(c.get('preprocessing_epsilon'))} of the total on "
                "the mechanisms below, which estimated what the schema did not declare (the DP "
                "statistics the encoder and sampler use)."
            )
        )
        s.add(
            Table(
                columns=keys,
                rows=[
                    [cell_text(m.get(k)) for k in keys] for m in mechanisms if isinstance(m, dict)
                ],
                caption="Mechanisms of the run",
            )
        )
    else:
        s.add(Paragraph("The certificate lists no separate mechanisms."))
    for note in c.get("notes") or []:
        s.add(Paragraph(str(note)))
    return s


def cell_text(v: Any) -> str:
    if isinstance(v, dict | list):
        return json.dumps(v)
    return fmt(v)


# -- thresholds ----------------------------------------------------------------------------
def thresholds_section(result: ValidationResult) -> Section:
    s = Section("thresholds", "Thresholds applied", appendix=True)
    s.add(
        Paragraph(
            f"Policy: {result.policy.source}. A higher-is-better check warns below its warn "
            "threshold and fails below its fail threshold; a lower-is-better check warns and fails "
            "above them. A value exactly at a threshold passes. The verdict is the worst status."
        )
    )
    s.add(
        Table(
            columns=["Check", "Family", "Better", "Warn", "Fail", "Value", "Status"],
            rows=[
                [
                    c.name,
                    c.family,
                    "higher" if c.direction == "higher_is_better" else "lower",
                    fmt(c.warn),
                    fmt(c.fail),
                    fmt(c.value),
                    c.status,
                ]
                for c in result.checks
            ],
            row_levels=[LEVELS.get(c.status) for c in result.checks],
        )
    )
    return s
