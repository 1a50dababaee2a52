"""CSV output is safe to open in a spreadsheet (issue 20, OWASP CSV injection): text cells
that start a formula get a leading single quote; numbers, negative ones included, and
Parquet files keep their values."""

from pathlib import Path

import pandas as pd

from synthgen.tabular.io import TableWriter, neutralise_csv, neutralise_formula

FORMULA = "=cmd|' /C calc'!A0"


def test_neutralise_formula_prefixes_formulas_and_leaves_numbers() -> None:
    for risky in (FORMULA, "+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx", "-", "=1"):
        assert neutralise_formula(risky) == "'" + risky
    for plain in ("ok", "-1", "-1.5", "+3", "1e-5", "'=already", ""):
        assert neutralise_formula(plain) == plain


def test_table_writer_neutralises_text_columns_only(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"label": ["ok", FORMULA, "@x"], "value": [-1.5, -2.0, 3.0], "count": [-1, 0, 1]}
    )
    csv, parquet = tmp_path / "s.csv", tmp_path / "s.parquet"
    for path in (csv, parquet):
        with TableWriter(path) as writer:
            writer.write(frame)
    text = pd.read_csv(csv, dtype=str, keep_default_na=False)
    assert list(text["label"]) == ["ok", "'" + FORMULA, "'@x"]
    assert list(text["value"]) == ["-1.5", "-2.0", "3.0"] and list(text["count"]) == ["-1", "0", "1"]
    assert pd.read_parquet(parquet).equals(frame)
    raw = tmp_path / "raw.csv"
    with TableWriter(raw, spreadsheet_safe=False) as writer:
        writer.write(frame)
    assert FORMULA in raw.read_text()
    named = tmp_path / "named.csv"
    with TableWriter(named) as writer:
        writer.write(pd.DataFrame({"=HYPERLINK(x)": ["a"], "-1": [-1]}))
    assert named.read_text().splitlines() == ["'=HYPERLINK(x),-1", "a,-1"]


def test_neutralise_csv_changes_nothing_but_formulas(tmp_path: Path) -> None:
    src = tmp_path / "raw.csv"
    src.write_text(f'a,b,c\n-1,"{FORMULA}",007\n2.50,plain,NA\n-3,"+x",\n')
    out = neutralise_csv(src, tmp_path / "safe.csv", chunk_rows=1)
    assert out.read_text() == f"a,b,c\n-1,'{FORMULA},007\n2.50,plain,NA\n-3,'+x,\n"
    empty = tmp_path / "empty.csv"
    empty.write_text("a,b\n")
    assert neutralise_csv(empty, tmp_path / "e.csv").read_text() == "a,b\n"
