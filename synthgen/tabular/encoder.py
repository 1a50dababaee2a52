"""Between table rows and the diffusion model's coordinates, using the DP statistics.

Numerics: a per-class quantile transform. A value's cell and position within it map to a
uniform u on the class's noisy CDF, then to z = Phi^-1(u). Values standing for an interval
(atoms, nulls, integers) are dequantized with a fresh uniform at every training draw, so z
is continuous. Under the model's prior (independent standard normals), z decodes exactly
to the per-class noisy histograms: the model starts from them and learns the rest.

Categoricals: an index per category (the last may stand for null, or "(other)" for values
a discovered domain did not keep), plus an extra MASK index for the absorbing diffusion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from synthgen.tabular.preprocess import TabularStatistics, category_cell_key

U_EPS = 1e-6  # keeps Phi^-1(u) finite
NEG_INF = -1e9  # prior log-probability of the padding slots past a column's categories


@dataclass
class EncodedTable:
    """Training rows as index tensors; z is drawn from these at each diffusion draw."""

    labels: torch.Tensor  # [N] long
    numeric_cells: torch.Tensor  # [N, n_num] long
    numeric_low: torch.Tensor  # [N, n_num] position interval within the cell
    numeric_high: torch.Tensor
    categories: torch.Tensor  # [N, n_cat] long

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return {
            "labels": self.labels[idx],
            "numeric_cells": self.numeric_cells[idx],
            "numeric_low": self.numeric_low[idx],
            "numeric_high": self.numeric_high[idx],
            "categories": self.categories[idx],
        }

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.__getitems__([index])


class TableEncoder:
    def __init__(self, stats: TabularStatistics):
        self.stats = stats
        self.n_classes = len(stats.classes)
        self.n_numeric = len(stats.numeric)
        self.n_categorical = len(stats.categorical)
        self.category_sizes = [layout.n_cells for layout in stats.categorical]
        # numeric CDF tables, padded to the longest layout: [classes, n_num, max_cells (+1)]
        max_cells = max((layout.n_cells for layout in stats.numeric), default=1)
        mass = np.zeros((self.n_classes, self.n_numeric, max_cells))
        for j, p in enumerate(stats.numeric_probs):
            mass[:, j, : p.shape[1]] = p
        cumulative = np.concatenate([np.zeros((*mass.shape[:2], 1)), np.cumsum(mass, -1)], -1)
        for j, p in enumerate(stats.numeric_probs):
            # each column's CDF ends at exactly 1 (not a float32 sum just below it), so no u
            # below 1 can fall past the last cell with mass onto a bound atom without any
            cumulative[:, j, p.shape[1] :] = 1.0
        self.cell_mass = torch.tensor(mass, dtype=torch.float32)
        self.cell_start = torch.tensor(cumulative, dtype=torch.float32)
        # categorical prior log-probabilities, padded: [classes, n_cat, max_categories]
        max_k = max(self.category_sizes, default=1)
        logp = np.full((self.n_classes, self.n_categorical, max_k), NEG_INF)
        for j, p in enumerate(stats.categorical_probs):
            # a category the DP counts could not tell from empty (a null cell) has
            # probability 0: it gets the padding's log-probability, never sampled
            logp[:, j, : p.shape[1]] = np.log(np.where(p > 0, p, 1.0)) + np.where(p > 0, 0, NEG_INF)
        self.prior_log_probs = torch.tensor(logp, dtype=torch.float32)

    @property
    def category_slots(self) -> int:
        """Embedding slots the denoiser needs: each column's categories and its MASK."""
        return sum(k + 1 for k in self.category_sizes)

    @property
    def output_dim(self) -> int:
        return self.n_numeric + sum(self.category_sizes)

    # -- rows -> model ------------------------------------------------------------------------
    def encode(self, df: pd.DataFrame) -> EncodedTable:
        """Encode conformed training rows (rows whose label is not a known class are dropped)."""
        label_index = {category_cell_key(c): i for i, c in enumerate(self.stats.classes)}
        y = np.array(
            [label_index.get(category_cell_key(v), -1) for v in df[self.stats.target].to_numpy()]
        )
        keep = y >= 0
        n = int(keep.sum())
        cells = np.zeros((n, self.n_numeric), dtype=np.int64)
        low = np.zeros((n, self.n_numeric))
        high = np.ones((n, self.n_numeric))
        for j, layout in enumerate(self.stats.numeric):
            c, a, b = layout.cell_of(df[layout.column].to_numpy(np.float64)[keep])
            cells[:, j], low[:, j], high[:, j] = c, a, b
        cats = np.zeros((n, self.n_categorical), dtype=np.int64)
        for j, cat_layout in enumerate(self.stats.categorical):
            cats[:, j] = cat_layout.index_of(df[cat_layout.column].to_numpy()[keep])
        return EncodedTable(
            labels=torch.as_tensor(y[keep], dtype=torch.long),
            numeric_cells=torch.as_tensor(cells),
            numeric_low=torch.as_tensor(low, dtype=torch.float32),
            numeric_high=torch.as_tensor(high, dtype=torch.float32),
            categories=torch.as_tensor(cats),
        )

    def draw_z(
        self,
        labels: torch.Tensor,
        cells: torch.Tensor,
        low: torch.Tensor,
        high: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """z = Phi^-1(u) with u uniform on the row's part of its cell (broadcasts leading dims
        of ``cells`` beyond the batch, e.g. [B, K, n_num])."""
        fraction = low + (high - low) * torch.rand(cells.shape, generator=generator)
        j = torch.arange(self.n_numeric).expand_as(cells)
        y = labels.reshape(labels.shape + (1,) * (cells.dim() - labels.dim())).expand_as(cells)
        u = self.cell_start[y, j, cells] + self.cell_mass[y, j, cells] * fraction
        return torch.special.ndtri(u.clamp(U_EPS, 1 - U_EPS))

    def _can_be_null(self, j: int) -> bool:
        """Whether numeric column ``j`` ever decodes to null: its layout has a missing cell
        that kept mass for some class (one the noise could not tell from empty has none, and
        the column then keeps its plain integer type)."""
        layout = self.stats.numeric[j]
        if not layout.nullable:
            return False
        missing = layout.cell_types.index("missing")
        return bool(self.stats.numeric_probs[j][:, missing].max() > 0)

    # -- model -> rows ------------------------------------------------------------------------
    def decode(
        self, labels: torch.Tensor, z: torch.Tensor, categories: torch.Tensor
    ) -> pd.DataFrame:
        """Rows with the schema's output types, in the schema's column order."""
        y = labels.numpy()
        u = np.minimum(torch.special.ndtr(z.double()).numpy(), np.nextafter(1.0, 0.0))
        columns: dict[str, Any] = {}
        start = self.cell_start.double().numpy()
        mass = self.cell_mass.double().numpy()
        for j, layout in enumerate(self.stats.numeric):
            starts = start[y, j, : layout.n_cells + 1]
            cell = np.clip((starts[:, 1:] <= u[:, j : j + 1]).sum(1), 0, layout.n_cells - 1)
            cell_start = starts[np.arange(len(y)), cell]
            cell_mass = mass[y, j, cell]
            fraction = np.where(
                cell_mass > 0, (u[:, j] - cell_start) / np.maximum(cell_mass, 1e-300), 0.5
            )
            values = layout.value_of(cell, fraction)
            if layout.kind == "integer":
                columns[layout.column] = pd.array(
                    np.where(np.isnan(values), 0, values).astype(np.int64), dtype="Int64"
                )
                if np.isnan(values).any():
                    columns[layout.column][np.isnan(values)] = pd.NA
                if not self._can_be_null(j):
                    columns[layout.column] = columns[layout.column].astype(np.int64)
            else:
                columns[layout.column] = values
        cats = categories.numpy()
        for j, cat_layout in enumerate(self.stats.categorical):
            values = np.array(cat_layout.categories, dtype=object)[cats[:, j]]
            columns[cat_layout.column] = _typed_categories(values, cat_layout.kind)
        columns[self.stats.target] = _typed_categories(
            np.array(self.stats.classes, dtype=object)[y], "categorical"
        )
        return pd.DataFrame({name: columns[name] for name in self.stats.column_order})


def _typed_categories(values: np.ndarray, kind: str) -> Any:
    if kind == "boolean":
        if any(v is None for v in values):
            return pd.array(values, dtype="boolean")
        return values.astype(bool)
    non_null = [v for v in values if v is not None]
    if non_null and all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) for v in non_null
    ):
        return (
            pd.array(values, dtype="Int64")
            if len(non_null) < len(values)
            else values.astype(np.int64)
        )
    if non_null and all(isinstance(v, int | float) and not isinstance(v, bool) for v in non_null):
        return values.astype(np.float64)
    return values
