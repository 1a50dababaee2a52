"""Release policy files and the gate's pass/warn/fail rules."""

from __future__ import annotations

import pytest

from synthgen.errors import InputFileError, PolicyError
from synthgen.evaluate.gate import CheckResult, judge, verdict
from synthgen.evaluate.policy import Threshold, default_policy, load_policy
from synthgen.evaluate.registry import check_definitions


def write(tmp_path, text: str):
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


def test_defaults_cover_every_check():
    policy = default_policy()
    assert set(policy.thresholds) == set(check_definitions())
    assert policy.threshold("membership_inference_auc") == Threshold(warn=0.6, fail=0.75)
    assert load_policy(None).source == "defaults"


def test_a_policy_file_overrides_single_thresholds(tmp_path):
    path = write(tmp_path, "version: 1\nchecks:\n  membership_inference_auc: {fail: 0.8}\n  nndr_median: {warn: 0.5}\n")
    policy = load_policy(path)
    assert policy.threshold("membership_inference_auc") == Threshold(warn=0.6, fail=0.8)
    assert policy.threshold("nndr_median") == Threshold(warn=0.5, fail=None)
    assert policy.threshold("detection_auc") == default_policy().threshold("detection_auc")
    assert str(path) in policy.source


def test_null_switches_a_threshold_off(tmp_path):
    policy = load_policy(write(tmp_path, "checks:\n  exact_copy_share: {warn: null, fail: null}\n"))
    assert policy.threshold("exact_copy_share") == Threshold(None, None)


def test_an_empty_policy_file_means_the_defaults(tmp_path):
    assert load_policy(write(tmp_path, "")).thresholds == default_policy().thresholds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("checks:\n  membership_auc: {fail: 0.7}\n", "unknown check 'membership_auc'"),
        ("checks:\n  detection_auc: {fail: 0.7, severity: high}\n", "unknown key(s) severity"),
        ("thresholds:\n  detection_auc: {fail: 0.7}\n", "unknown top-level key(s): thresholds"),
        ("checks:\n  detection_auc: {fail: high}\n", "'fail' must be a number or null"),
        ("checks:\n  detection_auc: {fail: true}\n", "'fail' must be a number or null"),
        ("checks:\n  detection_auc: {fail: .nan}\n", "finite number"),
        ("checks:\n  detection_auc: {fail: 1.5}\n", "outside the check's range [0, 1]"),
        ("checks:\n  exact_copy_share: {warn: -0.1}\n", "outside the check's range"),
        ("checks:\n  membership_inference_auc: {warn: 0.8, fail: 0.7}\n", "lower is better, so 'fail' (0.7) must not be below 'warn' (0.8)"),
        ("checks:\n  column_shape_similarity: {warn: 0.7, fail: 0.8}\n", "higher is better, so 'fail' (0.8) must not be above 'warn' (0.7)"),
        ("version: 2\n", "unsupported policy version 2"),
        ("- detection_auc\n", "expected a mapping"),
        ("checks: [detection_auc]\n", "'checks' must be a mapping"),
        ("checks:\n  detection_auc: 0.7\n", "expected a mapping with 'warn' and/or 'fail'"),
        ("checks: {detection_auc: {fail: 0.7}\n", "not valid YAML"),
    ],
)
def test_invalid_policies_are_refused_with_a_clear_message(tmp_path, text, message):
    with pytest.raises(PolicyError) as info:
        load_policy(write(tmp_path, text))
    assert message in str(info.value)


def test_a_missing_policy_file_is_an_input_error(tmp_path):
    with pytest.raises(InputFileError, match="policy file not found"):
        load_policy(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("value", "direction", "warn", "fail", "expected"),
    [
        (0.9, "higher_is_better", 0.8, 0.5, "pass"),
        (0.8, "higher_is_better", 0.8, 0.5, "pass"),  # at the threshold: passes
        (0.7, "higher_is_better", 0.8, 0.5, "warn"),
        (0.4, "higher_is_better", 0.8, 0.5, "fail"),
        (0.55, "lower_is_better", 0.6, 0.75, "pass"),
        (0.6, "lower_is_better", 0.6, 0.75, "pass"),
        (0.7, "lower_is_better", 0.6, 0.75, "warn"),
        (0.9, "lower_is_better", 0.6, 0.75, "fail"),
        (1.0, "lower_is_better", None, 0.0, "fail"),
        (0.0, "lower_is_better", None, 0.0, "pass"),
        (0.3, "lower_is_better", None, None, "info"),
        (None, "lower_is_better", 0.6, 0.75, "skipped"),
    ],
)
def test_judge(value, direction, warn, fail, expected):
    assert judge(value, direction, warn, fail) == expected


def test_verdict_is_the_worst_status():
    def check(status):
        return CheckResult("x", "x", "privacy", 0.0, "lower_is_better", None, None, status)

    assert verdict([check("pass"), check("info"), check("skipped")]) == "pass"
    assert verdict([check("pass"), check("warn")]) == "warn"
    assert verdict([check("warn"), check("fail"), check("pass")]) == "fail"
