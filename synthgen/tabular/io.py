"""Reading and writing tables (CSV, Parquet) with clear errors."""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from synthgen.errors import InputFileError

CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
# A spreadsheet reads a cell that starts with one of these as a formula (OWASP, "CSV
# Injection"): "=cmd|' /C calc'!A0" runs a program when the file is opened.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value: str) -> str:
    """``value`` prefixed with a single quote if a spreadsheet would read it as a formula
    (OWASP's advice). A plain number ("-1.5", "+3") is left alone: it is read as a number,
    so negative numbers stay numbers."""
    if not value.startswith(FORMULA_STARTS):
        return value
    try:
        if math.isfinite(float(value)) and value.strip() == value:
            return value
    except ValueError:
        pass
    return "'" + value


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell and column name passed through
    ``neutralise_formula``; numeric columns are untouched. For CSV only: Parquet keeps the
    values as they are."""
    out = frame
    names = [neutralise_formula(c) if isinstance(c, str) else c for c in frame.columns]
    if names != list(frame.columns):  # column names come from the schema, like categories
        out = frame.set_axis(names, axis=1)
    for position, name in enumerate(frame.columns):
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            continue
        risky = column.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_STARTS))
        risky = risky.astype(bool)
        if not risky.any():
            continue
        if out is frame:
            out = frame.copy()
        values = column.copy()
        values[risky] = column[risky].map(neutralise_formula)
        out.isetitem(position, values)
    return out


def neutralise_csv(src: Path, dest: Path, *, chunk_rows: int = 100_000) -> Path:
    """Copy the CSV file ``src`` to ``dest`` with formulas neutralised
    (``neutralise_formula``), every other cell byte for byte the same text, in chunks."""
    chunks = pd.read_csv(
        src, dtype=str, keep_default_na=False, na_filter=False, chunksize=chunk_rows
    )
    with atomic_path(dest) as tmp:
        header = True
        for chunk in chunks:
            neutralise_formulas(chunk).to_csv(tmp, mode="a", header=header, index=False)
            header = False
        if header:  # no rows
            neutralise_formulas(pd.read_csv(src, nrows=0)).to_csv(tmp, index=False)
    return dest


def table_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    raise InputFileError(
        f"{path}: unsupported file type (expected .csv, .tsv, .csv.gz or .parquet)"
    )


def read_table(path: str | Path, *, na_values: Iterable[str] = ()) -> pd.DataFrame:
    """Read a table as text cells (CSV) or typed columns (Parquet); nulls become NA.

    CSV cells are read as strings and typed later against the schema, so that "007" or
    "1.0" are never silently reinterpreted. Leading spaces after delimiters are dropped.
    """
    p = Path(path)
    if not p.exists():
        raise InputFileError(f"file not found: {p}")
    if p.is_dir():
        raise InputFileError(f"{p} is a directory, not a table")
    fmt = table_format(p)
    try:
        if fmt == "parquet":
            df = pd.read_parquet(p)
        else:
            df = pd.read_csv(
                p,
                dtype=str,
                keep_default_na=False,
                na_values=list(na_values),
                skipinitialspace=True,
                sep="\t" if p.name.lower().endswith(".tsv") else ",",
            )
    except pd.errors.EmptyDataError as exc:
        raise InputFileError(f"{p} is empty") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        raise InputFileError(
            f"{p} is not a readable {fmt.upper()} table: {type(exc).__name__}"
        ) from exc
    except Exception as exc:  # pyarrow raises its own hierarchy for corrupt Parquet files
        raise InputFileError(
            f"{p} is not a readable {fmt.upper()} table: {type(exc).__name__}"
        ) from exc
    if df.shape[1] == 0:
        raise InputFileError(f"{p} has no columns")
    df.columns = [str(c).strip() for c in df.columns]
    if fmt == "csv":
        # whitespace-only cells are nulls, and trailing spaces are formatting, not data
        df = df.apply(lambda s: s.str.strip()).replace({"": pd.NA})
        df = df.mask(df.isin(list(na_values)))
    return df


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; move it into place only on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class TableWriter:
    """Streams DataFrame chunks to CSV or Parquet in bounded memory, atomically.

    CSV text cells that a spreadsheet would run as formulas are neutralised unless
    ``spreadsheet_safe`` is False (``neutralise_formula``); Parquet keeps every value.
    """

    def __init__(self, path: str | Path, *, spreadsheet_safe: bool = True):
        self.path = Path(path)
        self.spreadsheet_safe = spreadsheet_safe
        self.format = table_format(self.path)
        self._ctx = atomic_path(self.path)
        self._tmp: Path | None = None
        self._parquet_writer: Any = None
        self._wrote_header = False

    def __enter__(self) -> TableWriter:
        self._tmp = self._ctx.__enter__()
        return self

    def write(self, chunk: pd.DataFrame) -> None:
        assert self._tmp is not None, "use TableWriter as a context manager"
        if self.format == "csv":
            if self.spreadsheet_safe:
                chunk = neutralise_formulas(chunk)
            chunk.to_csv(self._tmp, mode="a", header=not self._wrote_header, index=False)
            self._wrote_header = True
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(chunk, preserve_index=False)
            if self._parquet_writer is None:
                self._parquet_writer = pq.ParquetWriter(self._tmp, table.schema)
            self._parquet_writer.write_table(table.cast(self._parquet_writer.schema))

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._parquet_writer is not None:
            self._parquet_writer.close()
        self._ctx.__exit__(exc_type, exc, tb)
