from pathlib import Path

import pandas as pd
import pytest
import yaml

from synthgen.errors import SchemaError
from synthgen.tabular.draft import draft_schema, draft_yaml
from synthgen.tabular.schema import ColumnSpec, Schema


def test_schema_round_trips_through_yaml_and_json(heart_schema_obj: Schema, tmp_path: Path) -> None:
    for name in ("s.yaml", "s.json"):
        heart_schema_obj.save(tmp_path / name)
        again = Schema.load(tmp_path / name)
        assert again == heart_schema_obj
        assert again.hash() == heart_schema_obj.hash()
    assert heart_schema_obj.target.name == "disease"
    assert "disease" in [c.name for c in heart_schema_obj.synthesized]


@pytest.mark.parametrize("text,message", [
    ("columns: []", "non-empty"),
    ("columns: [{name: a, kind: text}]", "kind must be"),
    ("columns: [{name: a, kind: integer, min: 5, max: 1}]", "min must be smaller"),
    ("columns: [{name: a, kind: integer, min: 1}]", "both min and max"),
    ("columns: [{name: a}, {name: a}]", "more than once"),
    ("columns: [{name: a, kind: categorical, categories: [x, x]}]", "more than once"),
    ("columns: [{name: a, kind: continuous, role: label}]", "label must be"),
    ("columns: [{name: a, colour: red}]", "unknown key"),
    ("bogus: 1\ncolumns: [{name: a}]", "unknown top-level"),
    ("columns: [{name: a, kind: categorical, min: 1, max: 2}]", "takes categories"),
])
def test_bad_schemas_are_refused_with_a_reason(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SchemaError, match=message):
        Schema.load(path)


def test_unknown_target_is_named() -> None:
    schema = Schema(columns=(ColumnSpec(name="a", kind="categorical", categories=("x", "y")),))
    with pytest.raises(SchemaError, match="'b' is not in the schema"):
        schema.with_target("b")


def test_draft_is_marked_and_infers_kinds(shared_data: Path) -> None:
    df = pd.read_csv(shared_data / "tabular" / "stroke_prediction.csv", dtype=str, na_values=["N/A"])
    schema = draft_schema(df, target="stroke")
    kinds = {c.name: (c.role, c.kind) for c in schema.columns}
    assert kinds["id"][0] == "identifier"
    assert kinds["age"] == ("feature", "continuous")
    assert kinds["gender"] == ("feature", "categorical")
    assert kinds["stroke"][0] == "label"
    assert schema.column("bmi").nullable
    text = draft_yaml(schema, source="stroke.csv")
    assert text.startswith("# DRAFT")
    assert yaml.safe_load(text)["draft"] is True
    assert Schema.from_dict(yaml.safe_load(text)).draft
