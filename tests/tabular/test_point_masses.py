"""Heaps, integer grids, precision and nulls of numeric columns (issue 21)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthgen.errors import SchemaError
from synthgen.privacy.accountant import RunAccountant
from synthgen.privacy.secure_random import NoiseSource
from synthgen.tabular.draft import draft_schema
from synthgen.tabular.heaps import candidate_counts, candidates, find_heaps, noise_margin
from synthgen.tabular.layout import NumericLayout
from synthgen.tabular.precision import decimals_needed, precision_from_counts
from synthgen.tabular.preprocess import estimate_statistics
from synthgen.tabular.schema import ColumnSpec, Schema


def hours_table(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    """An hours-per-week-like column: 45% exactly 40, the rest spread over 1..99; a smooth
    integer column with no heap; a continuous column written with 2 decimals."""
    rng = np.random.default_rng(seed)
    hours = np.where(rng.random(n) < 0.45, 40, rng.integers(1, 100, n))
    smooth = rng.integers(20, 90, n)
    dose = np.round(rng.gamma(4.0, 2.5, n), 2)
    label = rng.choice(["a", "b"], n)
    return pd.DataFrame({"hours": hours, "age": smooth, "dose": dose, "y": label})


def hours_schema(**dose: object) -> Schema:
    return Schema(
        columns=(
            ColumnSpec("hours", kind="integer", minimum=1, maximum=99),
            ColumnSpec("age", kind="integer", minimum=0, maximum=120),
            ColumnSpec("dose", kind="continuous", minimum=0, maximum=60, **dose),  # type: ignore[arg-type]
            ColumnSpec("y", kind="categorical", role="label", categories=("a", "b")),
        )
    )


def statistics(df: pd.DataFrame, schema: Schema, epsilon: float = 5.0):
    accountant = RunAccountant()
    stats = estimate_statistics(
        df,
        schema,
        epsilon=epsilon,
        delta=1e-5,
        preprocessing_share=0.3,
        accountant=accountant,
        noise=NoiseSource(secure=False),
        histogram_bins=8,  # few bins, so that 40 is not an atom of the plain layout
    )
    return stats, accountant


def layout_of(stats, column: str) -> NumericLayout:
    return next(layout for layout in stats.numeric if layout.column == column)


def share_of(stats, column: str, value: float) -> float:
    """The all-classes probability of the atom at ``value`` (0 when there is none)."""
    j = next(i for i, layout in enumerate(stats.numeric) if layout.column == column)
    layout = stats.numeric[j]
    cells = [i for i, (t, v) in enumerate(zip(layout.cell_types, layout.cell_low, strict=True))
             if t == "atom" and v == value]
    if not cells:
        return 0.0
    shares = stats.class_counts / stats.class_counts.sum()
    return float(shares @ stats.numeric_probs[j][:, cells[0]])


def test_heap_comes_back_at_its_share_and_a_smooth_column_gets_none() -> None:
    df = hours_table()
    stats, accountant = statistics(df, hours_schema())
    real = float((df.hours == 40).mean())
    assert share_of(stats, "hours", 40.0) == pytest.approx(real, abs=0.03)
    # the smooth integer column and the continuous one: no atom besides their bounds
    for column in ("age", "dose"):
        layout = layout_of(stats, column)
        inner = [v for t, v in zip(layout.cell_types, layout.cell_low, strict=True)
                 if t == "atom" and layout.minimum < v < layout.maximum]
        assert inner == [], column
    assert "point masses" in [r["name"] for r in accountant.releases]


def test_find_heaps_needs_more_than_its_neighbours() -> None:
    grid = np.arange(1.0, 11.0)
    flat = np.full(10, 100.0)
    assert find_heaps(flat, grid, margin=5.0) == ()
    heaped = flat.copy()
    heaped[4] = 400.0
    assert find_heaps(heaped, grid, margin=5.0) == (5.0,)
    assert find_heaps(heaped, grid, margin=400.0) == ()  # not above the noise margin


def test_candidates_are_integers_of_a_small_range_else_round_numbers() -> None:
    assert candidates(1, 99).tolist() == list(range(2, 99))
    wide = candidates(-5, 99_999)
    assert 0.0 in wide and 100.0 in wide and 105.0 not in wide and wide.size <= 1024


def test_candidate_counts_count_exact_values_only() -> None:
    grid = np.array([10.0, 20.0])
    values = np.array([10.0, 10.0, 10.5, 20.0, np.nan, 30.0])
    assert candidate_counts(values, grid, np.ones(6)).tolist() == [2.0, 1.0]


def test_noise_margin_grows_with_the_candidates() -> None:
    assert noise_margin(0.0, 100) == 0.0
    assert noise_margin(1.0, 1000) > noise_margin(1.0, 10) > 2.0


def test_integer_layout_with_a_heap_round_trips_every_integer() -> None:
    layout = NumericLayout.build(
        column="h", kind="integer", minimum=1, maximum=99, nullable=False, bins=8, heaps=(40.0,)
    )
    values = np.arange(1.0, 100.0)
    cells, low, high = layout.cell_of(values)
    assert layout.cell_types[cells[39]] == "atom"
    assert np.array_equal(layout.value_of(cells, (low + high) / 2), values)
    # no position of the bins next to the heap rounds onto it
    for cell in (cells[38], cells[40]):
        positions = np.linspace(0, 1, 101)
        assert 40.0 not in layout.value_of(np.full(101, cell), positions)


def test_decimals_needed_and_precision_from_counts() -> None:
    assert decimals_needed(np.array([1.0, 1.5, 12.34, 0.006399, np.pi])).tolist() == [
        0, 1, 2, 6, 7]
    assert precision_from_counts(np.array([0, 5, 300, 0, 0, 0, 0, 0.0])) == 2
    assert precision_from_counts(np.array([0, 5, 300, 2, 0, 0, 0, 1.0]), std=1.0) == 2
    assert precision_from_counts(np.array([0, 5, 300, 0, 0, 0, 0, 300.0])) is None
    assert precision_from_counts(np.array([0, 5, 300, 0, 0, 0, 0, 0.0]), std=100.0) is None
    assert precision_from_counts(np.zeros(8) - 3) is None


def test_continuous_values_are_written_at_the_estimated_precision() -> None:
    df = hours_table()
    stats, _ = statistics(df, hours_schema())
    dose = layout_of(stats, "dose")
    assert dose.decimals == 2
    cells = np.arange(dose.n_cells)
    values = dose.value_of(cells, np.full(dose.n_cells, 0.1234))
    assert np.array_equal(values, np.round(values, 2))
    assert not np.array_equal(values, np.round(values, 1))


def test_declared_decimals_win_and_are_validated() -> None:
    df = hours_table()
    stats, _ = statistics(df, hours_schema(decimals=1))
    assert layout_of(stats, "dose").decimals == 1
    raw = {"columns": [{"name": "x", "kind": "continuous", "decimals": -1}]}
    with pytest.raises(SchemaError, match="decimals"):
        Schema.from_dict(raw)
    with pytest.raises(SchemaError, match="continuous"):
        Schema.from_dict({"columns": [{"name": "x", "kind": "integer", "decimals": 2}]})
    assert Schema.from_dict(
        {"columns": [{"name": "x", "kind": "continuous", "decimals": 3}]}
    ).columns[0].decimals == 3


def test_draft_writes_the_decimals_it_read() -> None:
    drafted = draft_schema(hours_table())
    dose = next(c for c in drafted.columns if c.name == "dose")
    assert dose.decimals == 2
    assert Schema.from_dict(drafted.to_dict()).columns[2].decimals == 2


def test_a_column_without_nulls_gets_no_null_cell_mass() -> None:
    df = hours_table()
    schema = Schema(columns=tuple(
        ColumnSpec(c.name, kind=c.kind, role=c.role, minimum=c.minimum, maximum=c.maximum,
                   categories=c.categories, nullable=c.role != "label")
        for c in hours_schema().columns
    ))
    df.loc[: len(df) // 5, "age"] = np.nan  # a fifth of age is null: that cell stays
    for _run in range(5):  # fresh noise each time
        accountant = RunAccountant()
        stats = estimate_statistics(
            df, schema, epsilon=1.0, delta=1e-5, preprocessing_share=0.3, accountant=accountant,
            noise=NoiseSource(secure=False),
        )
        for j, layout in enumerate(stats.numeric):
            missing = stats.numeric_probs[j][:, layout.cell_types.index("missing")]
            if layout.column == "age":
                assert missing.min() > 0.1
            else:
                assert missing.max() == 0.0, layout.column


def test_extreme_model_outputs_do_not_pile_on_a_bound_the_data_never_reached() -> None:
    """The model's z past the training range decodes to the last cells with mass, never onto
    a bound atom the DP counts dropped (real values never sit on the declared bounds)."""
    import torch

    from synthgen.tabular.encoder import TableEncoder

    rng = np.random.default_rng(0)
    n = 3000
    df = pd.DataFrame({
        "x": np.round(rng.uniform(10, 50, n), 3),
        "k": rng.integers(5, 95, n),
        "y": rng.choice(["a", "b"], n),
    })
    schema = Schema(columns=(
        ColumnSpec("x", kind="continuous", minimum=0, maximum=60),
        ColumnSpec("k", kind="integer", minimum=0, maximum=1000),
        ColumnSpec("y", kind="categorical", role="label", categories=("a", "b")),
    ))
    stats, _ = statistics(df, schema, epsilon=1.0)
    encoder = TableEncoder(stats)
    z = torch.tensor(rng.standard_normal((4000, 2)) * 4.0)  # a badly calibrated model
    labels = torch.as_tensor(rng.integers(0, 2, 4000))
    out = encoder.decode(labels, z, torch.zeros((4000, 0), dtype=torch.long))
    for column, (low, high) in {"x": (0.0, 60.0), "k": (0, 1000)}.items():
        on_bound = out[column].isin([low, high]).mean()
        assert on_bound == 0.0, column
    assert out["k"].dtype == np.int64


def test_without_a_schema_decimals_are_not_read_from_the_data_unnoised() -> None:
    """The draft reads decimals from the records for the steward; training without a schema
    takes only names, kinds and roles from it, so the precision comes from the DP release."""
    from synthgen.tabular.train import _load_schema

    with pytest.warns(UserWarning, match="no --schema"):
        schema = _load_schema(None, hours_table(), "y")
    dose = next(c for c in schema.columns if c.name == "dose")
    assert dose.kind == "continuous" and dose.decimals is None


def test_values_past_a_dp_bound_spread_over_the_outer_bin_not_onto_the_bound() -> None:
    layout = NumericLayout.build(
        column="w", kind="continuous", minimum=100.0, maximum=200.0, nullable=False, bins=4
    )
    values = np.array([50.0, 100.0, 150.0, 250.0])
    cells, low, high = layout.cell_of(values)
    types = [layout.cell_types[c] for c in cells]
    assert types == ["bin", "atom", "bin", "bin"]  # only the record on the bound is its atom
    assert (low[[0, 3]] == 0).all() and (high[[0, 3]] == 1).all()  # the whole outer bin
    bins = [i for i, t in enumerate(layout.cell_types) if t == "bin"]
    assert cells[0] == bins[0] and cells[3] == bins[-1]
