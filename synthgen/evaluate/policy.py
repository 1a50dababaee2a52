"""Release policy: the thresholds the gate applies, from a YAML file over sane defaults.

The defaults live in ``default_policy.yaml`` next to this module (commented; see
docs/validation.md for the reasoning). A steward's file overrides them per check and per
threshold. Anything the gate would have to guess about is refused with ``PolicyError``:
unknown keys or check names, thresholds that are not finite numbers, lie outside the
check's bounds, or are in the wrong order for its direction (a warning must come before a
failure).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from synthgen.errors import InputFileError, PolicyError
from synthgen.evaluate.registry import CheckDefinition, check_definitions

_TOP_KEYS = {"version", "checks", "description"}
_THRESHOLD_KEYS = {"warn", "fail"}


@dataclass(frozen=True)
class Threshold:
    warn: float | None = None
    fail: float | None = None


@dataclass(frozen=True)
class Policy:
    thresholds: dict[str, Threshold]
    source: str  # "defaults", or the policy file it was read from (over the defaults)

    def threshold(self, check: str) -> Threshold:
        return self.thresholds.get(check, Threshold())

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "checks": {k: {"warn": t.warn, "fail": t.fail} for k, t in self.thresholds.items()},
        }


def default_policy() -> Policy:
    text = resources.files("synthgen.evaluate").joinpath("default_policy.yaml").read_text()
    return parse_policy(yaml.safe_load(text), source="defaults", base=None)


def load_policy(path: str | Path | None) -> Policy:
    """The default policy, overridden by the file at ``path`` when given."""
    base = default_policy()
    if path is None:
        return base
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError as exc:
        raise InputFileError(f"policy file not found: {p}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"cannot read policy file {p}: {type(exc).__name__}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{p} is not valid YAML: {exc}") from exc
    return parse_policy(data, source=str(p), base=base)


def parse_policy(data: Any, *, source: str, base: Policy | None) -> Policy:
    where = source
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyError(f"{where}: expected a mapping with a 'checks' mapping")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise PolicyError(
            f"{where}: unknown top-level key(s): {', '.join(sorted(map(str, unknown)))}"
        )
    if data.get("version", 1) != 1:
        raise PolicyError(
            f"{where}: unsupported policy version {data.get('version')!r} (expected 1)"
        )
    checks = data.get("checks") or {}
    if not isinstance(checks, dict):
        raise PolicyError(f"{where}: 'checks' must be a mapping of check name to thresholds")
    known = check_definitions()
    thresholds = dict(base.thresholds) if base is not None else {}
    for name, entry in checks.items():
        if name not in known:
            raise PolicyError(
                f"{where}: unknown check {name!r} (known: {', '.join(sorted(known))})"
            )
        if not isinstance(entry, dict):
            raise PolicyError(
                f"{where}: check {name!r}: expected a mapping with 'warn' and/or 'fail'"
            )
        bad_keys = set(entry) - _THRESHOLD_KEYS
        if bad_keys:
            raise PolicyError(
                f"{where}: check {name!r}: unknown key(s) {', '.join(sorted(map(str, bad_keys)))} "
                "(allowed: warn, fail)"
            )
        current = thresholds.get(name, Threshold())
        values = {"warn": current.warn, "fail": current.fail}
        for key in ("warn", "fail"):
            if key in entry:
                values[key] = _number(entry[key], where, name, key, known[name])
        thresholds[name] = Threshold(**values)
        _check_order(thresholds[name], where, known[name])
    if base is None:
        missing = set(known) - set(thresholds)
        if missing:  # the defaults must cover every check
            raise PolicyError(f"{where}: no defaults for {', '.join(sorted(missing))}")
    return Policy(
        thresholds=thresholds, source=source if base is None else f"{source} (over the defaults)"
    )


def _number(value: Any, where: str, name: str, key: str, check: CheckDefinition) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PolicyError(f"{where}: check {name!r}: '{key}' must be a number or null")
    x = float(value)
    if not math.isfinite(x):
        raise PolicyError(f"{where}: check {name!r}: '{key}' must be a finite number")
    lo, hi = check.bounds
    if not lo <= x <= hi:
        raise PolicyError(
            f"{where}: check {name!r}: '{key}' = {x:g} is outside the check's range [{lo:g}, {hi:g}]"
        )
    return x


def _check_order(t: Threshold, where: str, check: CheckDefinition) -> None:
    if t.warn is None or t.fail is None:
        return
    if check.direction == "higher_is_better" and t.fail > t.warn:
        raise PolicyError(
            f"{where}: check {check.name!r}: higher is better, so 'fail' ({t.fail:g}) must not "
            f"be above 'warn' ({t.warn:g})"
        )
    if check.direction == "lower_is_better" and t.fail < t.warn:
        raise PolicyError(
            f"{where}: check {check.name!r}: lower is better, so 'fail' ({t.fail:g}) must not "
            f"be below 'warn' ({t.warn:g})"
        )
