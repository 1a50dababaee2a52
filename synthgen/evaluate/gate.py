"""The release gate: each check's number against the policy's thresholds, and a verdict.

A check is ``pass``, ``warn`` or ``fail``; ``info`` when the policy sets no threshold for
it and ``skipped`` when its metric could not be computed (for example utility without a
label). The verdict is the worst of pass/warn/fail. One rule does not depend on the
policy: a model trained without DP always fails (docs/privacy.md#the-guarantee: it can
never be released), whatever thresholds the policy sets for its epsilon.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from synthgen.evaluate.metric import Direction, json_number
from synthgen.evaluate.policy import Policy

Status = Literal["pass", "warn", "fail", "info", "skipped"]
_RANK = {"pass": 0, "warn": 1, "fail": 2}


@dataclass
class CheckResult:
    name: str
    title: str
    family: str
    value: float | None
    direction: Direction
    warn: float | None
    fail: float | None
    status: Status
    note: str = ""

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "family": self.family,
            "value": json_number(self.value),
            "direction": self.direction,
            "warn": self.warn,
            "fail": self.fail,
            "status": self.status,
            "note": self.note,
        }


def judge(
    value: float | None, direction: Direction, warn: float | None, fail: float | None
) -> Status:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "skipped"
    if warn is None and fail is None:
        return "info"

    def worse(threshold: float) -> bool:
        return value < threshold if direction == "higher_is_better" else value > threshold

    if fail is not None and worse(fail):
        return "fail"
    if warn is not None and worse(warn):
        return "warn"
    return "pass"


def make_check(
    *,
    name: str,
    title: str,
    family: str,
    value: float | None,
    direction: Direction,
    policy: Policy,
    note: str = "",
    force: Status | None = None,
    never_pass_below: float | None = None,
) -> CheckResult:
    """Judge ``value`` with the policy's thresholds for ``name``.

    ``never_pass_below`` is a floor no policy can lower: a value below it is at least a
    warning even where the policy sets no threshold or a lower one (a negative augmentation
    lift means the release makes models worse, which is never a pass)."""
    t = policy.threshold(name)
    status = force or judge(value, direction, t.warn, t.fail)
    if (
        never_pass_below is not None
        and status in ("pass", "info")
        and value is not None
        and not math.isnan(value)
        and value < never_pass_below
    ):
        status = "warn"
        rule = f"below {never_pass_below:g}: never a pass, whatever the policy"
        note = f"{note}; {rule}" if note else rule
    return CheckResult(name, title, family, value, direction, t.warn, t.fail, status, note)


def verdict(checks: list[CheckResult]) -> Literal["pass", "warn", "fail"]:
    worst = max((_RANK[c.status] for c in checks if c.status in _RANK), default=0)
    levels: tuple[Literal["pass"], Literal["warn"], Literal["fail"]] = ("pass", "warn", "fail")
    return levels[worst]
