"""Round trips: every transform's inverse gives back what went in."""

import numpy as np
import pandas as pd
import pytest
import torch

from synthgen.privacy.accountant import RunAccountant
from synthgen.privacy.secure_random import NoiseSource
from synthgen.tabular.conform import conform
from synthgen.tabular.encoder import TableEncoder
from synthgen.tabular.io import read_table
from synthgen.tabular.layout import NumericLayout
from synthgen.tabular.preprocess import estimate_statistics


@pytest.mark.parametrize("kind,lo,hi,bins,nullable", [
    ("integer", 17, 90, 64, False),  # one atom per value
    ("integer", 0, 99_999, 10, True),  # log-spaced bins, atoms at 0 and the bounds, nulls
    ("continuous", -2.0, 6.2, 8, False),  # linear bins, an atom at 0
    ("continuous", 0.0, 1.0, 4, True),
])
def test_layout_round_trip(kind: str, lo: float, hi: float, bins: int, nullable: bool) -> None:
    rng = np.random.default_rng(0)
    values = rng.uniform(lo, hi, 500)
    if kind == "integer":
        values = np.round(values)
    values[:5] = [lo, hi, 0 if lo <= 0 <= hi else lo, lo, hi]
    if nullable:
        values[10:20] = np.nan
    layout = NumericLayout.build(column="x", kind=kind, minimum=lo, maximum=hi, nullable=nullable, bins=bins)
    cells, f_low, f_high = layout.cell_of(values)
    assert np.all((f_low >= 0) & (f_low <= f_high) & (f_high <= 1))
    # continuous values sit at one point of their cell; an integer stands for the interval
    # of +-0.5 around it, whose middle decodes back to it
    fractions = [(f_low + f_high) / 2] if kind == "integer" else [f_low, f_high]
    ok = ~np.isnan(values)
    for fraction in fractions:
        back = layout.value_of(cells, fraction)
        assert np.array_equal(np.isnan(back), np.isnan(values))
        assert back[ok] == pytest.approx(values[ok], abs=1e-9)
    assert NumericLayout.from_dict(layout.to_dict()).to_dict() == layout.to_dict()


def test_encoder_round_trip_on_a_real_table(heart_csv, heart_schema_obj) -> None:
    df = conform(read_table(heart_csv, na_values=heart_schema_obj.na_values), heart_schema_obj)
    stats = estimate_statistics(df, heart_schema_obj, epsilon=float("inf"), delta=1e-5,
                                preprocessing_share=0.1, accountant=RunAccountant(), noise=NoiseSource())
    encoder = TableEncoder(stats)
    encoded = encoder.encode(df)
    z = encoder.draw_z(encoded.labels, encoded.numeric_cells, encoded.numeric_low, encoded.numeric_high)
    assert torch.isfinite(z).all()
    back = encoder.decode(encoded.labels, z, encoded.categories)
    assert list(back.columns) == [c.name for c in heart_schema_obj.synthesized]
    for spec in heart_schema_obj.synthesized:
        a, b = df[spec.name], back[spec.name]
        if spec.is_numeric:
            a, b = a.to_numpy(float), pd.to_numeric(b).to_numpy(float)
            assert np.array_equal(np.isnan(a), np.isnan(b))
            tolerance = 1e-4 * (spec.maximum - spec.minimum)
            assert np.nanmax(np.abs(a - b)) <= tolerance, spec.name
        else:
            assert [None if pd.isna(v) else v for v in a] == [None if pd.isna(v) else v for v in b], spec.name


def test_z_is_standard_normal_per_class_with_exact_statistics(heart_csv, heart_schema_obj) -> None:
    """With exact histograms the per-class quantile transform makes z ~ N(0, 1) in each class."""
    from scipy import stats as scipy_stats

    df = conform(read_table(heart_csv, na_values=heart_schema_obj.na_values), heart_schema_obj)
    stats = estimate_statistics(df, heart_schema_obj, epsilon=float("inf"), delta=1e-5,
                                preprocessing_share=0.1, accountant=RunAccountant(), noise=NoiseSource())
    encoder = TableEncoder(stats)
    e = encoder.encode(df)
    g = torch.Generator().manual_seed(0)
    for label in (0, 1):
        rows = e.labels == label
        z = encoder.draw_z(e.labels[rows], e.numeric_cells[rows], e.numeric_low[rows], e.numeric_high[rows], g)
        assert scipy_stats.kstest(z[:, 0].numpy(), "norm").pvalue > 1e-3
