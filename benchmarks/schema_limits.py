"""Seconds to refuse a hostile schema file (issue 20: size, depth and node caps, no YAML
aliases, declared ranges counted and never expanded).

    python benchmarks/schema_limits.py            # best of 5 per case
    python benchmarks/schema_limits.py --repeat 20

The tests check that each case is refused with one SchemaError line
(tests/tabular/test_schema_limits.py, and through an upload in
tests/pipelines/test_hostile_input.py); how long a refusal takes is this script's number,
not a test assertion, so a busy CI machine cannot fail a test by being slow.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from synthgen.errors import SchemaError
from synthgen.tabular.schema import MAX_SCHEMA_NODES, Schema

ALIAS_BOMB = "notes:\n  - &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"  - &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdef", "bcdefg", strict=True)
) + "columns: [{name: a}]\n"


def label_range(maximum: str) -> str:
    return f"columns: [{{name: y, kind: integer, role: label, min: 0, max: {maximum}}}]\n"


# name: (file name, content); the same kinds of file as the tests refuse
CASES: dict[str, tuple[str, str]] = {
    "json-depth": ("s.json", "[" * 100_000),
    "yaml-depth": ("s.yaml", "[" * 50_000),
    "yaml-block-depth": ("s.yaml", "columns:\n" + "".join(" " * i + "- \n" for i in range(40))),
    "alias-bomb": ("s.yaml", ALIAS_BOMB),
    "nodes": ("s.yaml", "notes: [" + "a," * MAX_SCHEMA_NODES + "a]\ncolumns: [{name: a}]\n"),
    "over-size-cap": ("s.yaml", "columns: [{name: a}]\n" + "#" * 2**21),
    "label-range-1e9": ("s.yaml", label_range("1000000000")),
    "label-range-1e308": ("s.yaml", label_range("1.0e+308")),
    "huge-int": ("s.yaml", "columns: [{name: y, kind: integer, min: 0, max: " + "9" * 400 + "}]"),
}


def time_refusal(path: Path, repeat: int) -> tuple[float, str]:
    """Best-of-``repeat`` seconds for Schema.load to refuse ``path``, and its message."""
    best, message = float("inf"), ""
    for _ in range(repeat):
        started = time.perf_counter()
        try:
            Schema.load(path, name="the schema file")
        except SchemaError as error:
            message = str(error)
        else:
            raise SystemExit(f"{path.name}: accepted, but it should be refused")
        best = min(best, time.perf_counter() - started)
    return best, message


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs per case (best is shown)")
    args = parser.parse_args()
    print(f"{'case':<20} {'bytes':>9} {'seconds':>9}  message")
    with tempfile.TemporaryDirectory() as tmp:
        for case, (name, text) in CASES.items():
            path = Path(tmp) / case / name
            path.parent.mkdir()
            path.write_text(text)
            seconds, message = time_refusal(path, args.repeat)
            print(f"{case:<20} {path.stat().st_size:>9} {seconds:>9.4f}  {message[:70]}")


if __name__ == "__main__":
    main()
