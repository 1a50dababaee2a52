"""Schema files are parsed in bounded time and memory (issue 20): size, depth and node
caps, no YAML aliases, declared ranges counted and never expanded; every refusal is one
SchemaError line, in the library and in the CLI."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from synthgen.cli import commands  # noqa: F401  (registers the commands)
from synthgen.cli.app import app
from synthgen.errors import SchemaError
from synthgen.tabular.schema import MAX_SCHEMA_NODES, ColumnSpec, Schema

ALIAS_BOMB = """\
notes:
  - &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]
  - &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
  - &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
  - &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
  - &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
  - &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
  - &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
columns: [{name: a}]
"""

HOSTILE = {
    "json-depth": ("s.json", "[" * 100_000, "nested too deeply"),
    "yaml-depth": ("s.yaml", "[" * 50_000, "nesting depth"),
    "yaml-block-depth": ("s.yaml", "columns:\n" + "".join(" " * i + "- \n" for i in range(40)), "nested too deeply"),
    "alias-bomb": ("s.yaml", ALIAS_BOMB, "aliases"),
    "merge-key": ("s.yaml", "x: &a {name: a}\ncolumns: [{<<: *a}]\n", "aliases"),
    "nodes": ("s.yaml", "notes: [" + "a," * MAX_SCHEMA_NODES + "a]\ncolumns: [{name: a}]\n", "values"),
    "range-1e308": ("s.yaml", "columns: [{name: y, kind: integer, role: label, min: 29, max: 1.0e+308}]", "more than 100 classes"),
    "range-1e9": ("s.json", '{"columns": [{"name": "y", "kind": "integer", "role": "label", "min": 0, "max": 1000000000}]}', "more than 100 classes"),
    "huge-int": ("s.yaml", "columns: [{name: y, kind: integer, min: 0, max: " + "9" * 400 + "}]", "finite number"),
    "huger-int": ("s.json", '{"columns": [{"name": "y", "min": 0, "max": ' + "9" * 5000 + "}]}", "not valid JSON"),
    "python-tag": ("s.yaml", "columns: !!python/object/apply:os.system [echo]", "not valid YAML"),
    "not-utf8": ("s.yaml", "columns: [{name: \udcff}]", "UTF-8"),
}


# How long each refusal takes is printed by benchmarks/schema_limits.py (milliseconds on the
# development machine); the timeout here only stops a parser that hangs.
@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_schema_raises_one_line_schema_error_quickly(tmp_path: Path, case: str) -> None:
    name, text, fragment = HOSTILE[case]
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(SchemaError) as info:
        Schema.load(path, name="the schema file")
    message = str(info.value)
    assert fragment in message and "\n" not in message
    assert str(tmp_path) not in message


def test_schema_over_the_size_cap_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("columns: [{name: a}]\n" + "#" * 5000)
    with pytest.raises(SchemaError, match="larger than the limit of 1000 bytes"):
        Schema.load(path, max_bytes=1000)


def test_integer_label_range_is_counted_not_listed() -> None:
    small = ColumnSpec("y", kind="integer", role="label", minimum=0, maximum=4)
    assert small.declared_category_count() == 5 and small.declared_categories() == (0, 1, 2, 3, 4)
    huge = ColumnSpec("y", kind="integer", role="label", minimum=0, maximum=1e308)
    assert huge.declared_category_count() > 100
    with pytest.raises(SchemaError, match="more than 100 classes"):
        huge.declared_categories()
    # a feature with wide bounds becomes a label: the range is checked, not expanded
    schema = Schema((ColumnSpec("x", kind="integer", minimum=0, maximum=1e12), ColumnSpec("z")))
    with pytest.raises(SchemaError, match="more than 100 classes"):
        schema.with_target("x")


def test_yaml_without_aliases_still_reads_ordinary_schemas(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "version: 1\nnotes: [reviewed 2026-01-01]\ncolumns:\n"
        "  - {name: age, kind: integer, min: 18, max: 90}\n"
        "  - {name: y, kind: integer, role: label, min: 0, max: 2}\n"
    )
    schema = Schema.load(path)
    assert schema.target is not None and schema.target.declared_categories() == (0, 1, 2)
    assert schema.notes == ("reviewed 2026-01-01",)


@pytest.mark.parametrize("case", ["json-depth", "alias-bomb", "range-1e308"])
def test_cli_schema_check_and_train_print_one_error_line(tmp_path: Path, case: str) -> None:
    name, text, fragment = HOSTILE[case]
    schema = tmp_path / name
    schema.write_text(text)
    data = tmp_path / "d.csv"
    data.write_text("a,y\n1,0\n")
    out = tmp_path / "model"
    for args in (
        ["schema", "check", str(data), "--schema", str(schema)],
        ["train", str(data), "--target", "y", "--schema", str(schema), "--epsilon", "1", "--out", str(out)],
    ):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, result.output
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], lines
    assert not out.exists()
