"""The bottom line of a report (issue 22): verdict, one sentence each on privacy, fidelity and
usefulness, what to do; a negative augmentation lift is never a pass; utility per model
family and measure. Built on hand-made results: no metric runs here."""

from __future__ import annotations

from types import SimpleNamespace

from synthgen.evaluate.bottom_line import attention_lines, bottom_line, weakest_utility
from synthgen.evaluate.common_sections import summary_section
from synthgen.evaluate.metric import MetricResult
from synthgen.evaluate.policy import default_policy, parse_policy
from synthgen.evaluate.result import ValidationResult, certificate_and_metric_checks
from synthgen.evaluate.sections import Summary
from synthgen.evaluate.tabular_report import utility_table

# issue 22: a TSTR/TRTR ratio near 1 hid a logistic regression F1 of 0.652 (0.961 on real data)
TSTR_ROWS = [
    {"family": "gradient_boosting", "trained_on": "real", "rows": 455, "roc_auc": 0.99, "f1_macro": 0.95, "accuracy": 0.96},
    {"family": "gradient_boosting", "trained_on": "synthetic", "rows": 569, "roc_auc": 0.98, "f1_macro": 0.93, "accuracy": 0.94},
    {"family": "logistic_regression", "trained_on": "real", "rows": 455, "roc_auc": 0.995, "f1_macro": 0.961, "accuracy": 0.965},
    {"family": "logistic_regression", "trained_on": "synthetic", "rows": 569, "roc_auc": 0.975, "f1_macro": 0.652, "accuracy": 0.70},
]


def metric(name: str, family: str, value: float | None, direction: str = "higher_is_better", **details) -> MetricResult:
    return MetricResult(name=name, title=name.replace("_", " "), family=family, value=value,  # type: ignore[arg-type]
                        direction=direction, bounds=(-2.0, 2.0), details=details)  # type: ignore[arg-type]


def release(*, lift: float = 0.01, copies: float = 0.0, shapes: float = 0.95, private: bool = True,
            policy=None) -> ValidationResult:
    from synthgen.evaluate.gate import verdict

    metrics = [
        metric("column_shape_similarity", "fidelity", shapes),
        metric("pairwise_association_similarity", "fidelity", 0.9),
        metric("detection_auc", "fidelity", 0.7, "lower_is_better"),
        metric("tstr_auc_ratio", "utility", 0.985, rows=TSTR_ROWS),
        metric("augmentation_auc_lift", "utility", lift, interval_95=[lift - 0.02, lift + 0.02]),
        metric("exact_copy_share", "privacy", copies, "lower_is_better"),
        metric("membership_inference_auc", "privacy", 0.51, "lower_is_better"),
    ]
    certificate = SimpleNamespace(epsilon=3.0 if private else float("inf"), private=private)  # what the gate reads
    checks = certificate_and_metric_checks(certificate, metrics, policy or default_policy())  # type: ignore[arg-type]
    return ValidationResult(
        verdict=verdict(checks), checks=checks, metrics=metrics, expectations=None,
        certificate={"epsilon": 3.0 if private else "Infinity", "delta": 1e-5, "unit": "one row of the source table"},
        private=private,
        provenance={"synthetic_file": "/x/synthetic.csv", "n_synthetic": 569, "n_train": 455, "n_holdout": 114},
        policy=policy or default_policy(),
    )


def test_negative_augmentation_lift_warns_under_the_default_policy():
    check = release(lift=-0.014).check("augmentation_auc_lift")
    assert check.status == "warn"


def test_negative_augmentation_lift_is_never_a_pass_whatever_the_policy():
    lenient = parse_policy({"checks": {"augmentation_auc_lift": {"warn": None, "fail": None}}},
                           source="lenient.yaml", base=default_policy())
    result = release(lift=-0.014, policy=lenient)
    check = result.check("augmentation_auc_lift")
    assert check.status == "warn" and "never a pass" in check.note
    assert result.verdict == "warn"
    # a lift of exactly 0, or above, is judged by the policy alone
    assert release(lift=0.0, policy=lenient).check("augmentation_auc_lift").status == "info"
    assert release(lift=0.02).check("augmentation_auc_lift").status == "pass"


def test_a_passing_release_says_release():
    line = bottom_line(release())
    assert line.verdict == "pass" and line.attention == ()
    assert line.action.startswith("Release")
    assert "epsilon 3.00" in line.privacy and "memorisation checks" in line.privacy
    assert "column shapes 0.950" in line.fidelity


def test_a_warning_names_the_checks_to_review():
    line = bottom_line(release(lift=-0.014, shapes=0.7))
    assert line.verdict == "warn"
    assert line.attention == ("column_shape_similarity", "augmentation_auc_lift")
    assert line.action.startswith("Review column_shape_similarity, augmentation_auc_lift")
    assert "does not help (ROC AUC lift -0.014, 95% interval -0.034 to 0.006)" in line.usefulness
    assert "column_shape_similarity warns" in line.fidelity


def test_a_failure_says_do_not_release_and_what_failed():
    line = bottom_line(release(copies=0.2, lift=-0.014))
    assert line.verdict == "fail"
    assert line.action.startswith("Do not release. Fix what failed: exact_copy_share; then review augmentation_auc_lift")
    assert "exact_copy_share fails" in line.privacy
    assert attention_lines(release(copies=0.2, lift=-0.014)) == [
        "FAIL exact_copy_share = 0.2 (fail above 0.05): exact copy share",
        "WARN augmentation_auc_lift = -0.014 (warn below 0): augmentation auc lift",
    ]


def test_a_model_without_dp_is_never_releasable():
    line = bottom_line(release(private=False))
    assert line.verdict == "fail" and line.headline.startswith("NOT PRIVATE")
    assert line.privacy.startswith("NOT PRIVATE") and line.action.startswith("Do not release")


def test_the_lift_is_read_with_its_interval():
    from synthgen.evaluate.bottom_line import lift_effect

    assert lift_effect(-0.03, -0.05, -0.01) == "hurts"
    assert lift_effect(-0.014, -0.034, 0.006) == "does not help"
    assert lift_effect(0.01, -0.01, 0.03) == "makes no clear difference"
    assert lift_effect(0.03, 0.01, 0.05) == "helps"


def test_usefulness_names_the_weakest_family_and_measure():
    assert weakest_utility(TSTR_ROWS) == ("logistic regression", "F1 (macro)", 0.652, 0.961)
    text = bottom_line(release()).usefulness
    assert "0.985 of the real-data ROC AUC" in text
    assert "logistic regression F1 (macro): 0.652 against 0.961 on real data" in text


def test_summary_section_starts_with_the_bottom_line():
    section = summary_section(release(lift=-0.014))
    summary = section.blocks[0]
    assert isinstance(summary, Summary)
    assert [label for label, _ in summary.sentences] == ["Privacy", "Fidelity", "Usefulness", "What to do"]
    assert summary.attention == ["augmentation_auc_lift"]
    checks = next(b for b in section.blocks if getattr(b, "caption", "") == "Checks that need attention")
    assert [row[0] for row in checks.rows] == ["augmentation auc lift"]  # passing checks are in the appendix


def test_utility_table_shows_every_family_and_measure():
    table = utility_table(metric("tstr_auc_ratio", "utility", 0.985, rows=TSTR_ROWS), warn_ratio=0.85)
    assert table.columns == ["Model family", "Measure", "Trained on real", "Trained on synthetic", "Synthetic / real"]
    assert [row[:2] for row in table.rows] == [
        [family, measure] for family in ("gradient boosting", "logistic regression")
        for measure in ("ROC AUC", "F1 (macro)", "Accuracy")
    ]
    f1 = table.rows[4]
    assert f1[2:] == ["0.961", "0.652", "0.678"]
    assert table.row_levels == ["pass", "pass", "pass", "pass", "warn", "warn"]
