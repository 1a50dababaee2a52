import numpy as np
import pandas as pd
import pytest

from synthgen.errors import SchemaMismatch
from synthgen.tabular.conform import conform
from synthgen.tabular.io import read_table
from synthgen.tabular.schema import Schema


def test_real_table_conforms_with_canonical_types(heart_csv, heart_schema_obj: Schema) -> None:
    df = conform(read_table(heart_csv, na_values=heart_schema_obj.na_values), heart_schema_obj)
    assert list(df.columns) == [c.name for c in heart_schema_obj.synthesized]
    assert df["age"].dtype == np.float64
    assert set(df["cp"].dropna()) == {1, 2, 3, 4}  # "1.0" in the file is category 1
    assert df["ca"].isna().sum() == 4 and df["thal"].isna().sum() == 2


def test_every_problem_is_listed_without_values(heart_csv, heart_schema_obj: Schema) -> None:
    raw = read_table(heart_csv, na_values=heart_schema_obj.na_values)
    raw.loc[4, "age"] = "412"  # out of bounds
    raw.loc[7, "cp"] = "9"  # unknown category
    raw.loc[9, "chol"] = "lots"  # not a number
    raw.loc[3, "sex"] = None  # null where none are declared
    raw["extra"] = "x"
    raw = raw.drop(columns=["slope"])
    with pytest.raises(SchemaMismatch) as err:
        conform(raw, heart_schema_obj)
    text = "\n".join(err.value.problems)
    assert "missing column(s) declared in the schema: slope" in text
    assert "not in the schema: extra" in text
    assert "column 'age': 1 value is outside the declared bounds [18, 100] (first at row 5)" in text
    assert "column 'cp': 1 value is not in the declared categories (first at row 8)" in text
    assert "column 'chol': 1 value is not a number (first at row 10)" in text
    assert "column 'sex': 1 value is empty" in text
    for value in ("412", "lots"):
        assert value not in str(err.value)


def test_integer_column_refuses_fractions() -> None:
    schema = Schema.from_dict({"columns": [
        {"name": "n", "kind": "integer", "min": 0, "max": 10},
        {"name": "y", "kind": "categorical", "role": "label", "categories": ["a", "b"]},
    ]})
    with pytest.raises(SchemaMismatch, match="not a whole number"):
        conform(pd.DataFrame({"n": ["1", "2.5"], "y": ["a", "b"]}), schema)
