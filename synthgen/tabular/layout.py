"""Histogram layouts of numeric columns: the cells a DP histogram counts.

A numeric column's values fall into cells, in value order: a "missing" cell (nullable
columns), point masses ("atoms") at the bounds and at zero, and bins in between. Atoms
matter in medical data: zeros that stand for "not measured", values capped at an
instrument's limit, capital gains that are mostly exactly 0. Small-range integers get one
atom per value. Heaps found by a DP release (``synthgen.tabular.heaps``: Adult's 40 hours a
week) become atoms too, cut out of the bin they fall in; for integers the atom takes the
value's whole +-0.5 neighbourhood, so no position of a neighbouring bin rounds onto it.

Continuous columns carry a precision (``decimals``, declared or estimated with DP, see
``synthgen.tabular.precision``): values are written at it.

The layout is a function of public inputs only (the bounds and the bin count), so it
costs no privacy; the DP histogram over it then gives each class's distribution, which
the encoder turns into a quantile transform.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from synthgen.tabular.precision import round_to

CellType = Literal["missing", "atom", "bin"]
Scale = Literal["linear", "log1p"]


def choose_scale(minimum: float, maximum: float) -> Scale:
    """Log-spaced bins for non-negative columns spanning orders of magnitude (incomes,
    lab values, weights); linear otherwise. Depends on the bounds alone."""
    if minimum >= 0 and maximum > 100 and (maximum + 1) / (minimum + 1) > 50:
        return "log1p"
    return "linear"


@dataclass(frozen=True)
class NumericLayout:
    column: str
    kind: Literal["continuous", "integer"]
    minimum: float
    maximum: float
    nullable: bool
    scale: Scale
    cell_types: tuple[CellType, ...]
    cell_low: tuple[float, ...]  # atoms: the value; bins: lower edge; missing: nan
    cell_high: tuple[float, ...]
    decimals: int | None = None  # continuous columns: values are rounded to this many

    @property
    def n_cells(self) -> int:
        return len(self.cell_types)

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        *,
        column: str,
        kind: str,
        minimum: float,
        maximum: float,
        nullable: bool,
        bins: int,
        heaps: tuple[float, ...] = (),
        decimals: int | None = None,
    ) -> NumericLayout:
        types: list[CellType] = []
        low: list[float] = []
        high: list[float] = []
        if nullable:
            types.append("missing")
            low.append(float("nan"))
            high.append(float("nan"))
        n_values = maximum - minimum + 1
        if kind == "integer" and n_values <= 2 * bins:
            for v in np.arange(minimum, maximum + 1):
                types.append("atom")
                low.append(float(v))
                high.append(float(v))
            return cls(
                column,
                "integer",
                minimum,
                maximum,
                nullable,
                "linear",
                tuple(types),
                tuple(low),
                tuple(high),
            )
        scale = choose_scale(minimum, maximum)
        lo_g, hi_g = _forward(np.array([minimum, maximum]), scale, minimum)
        edges = _inverse(np.linspace(lo_g, hi_g, bins + 1), scale, minimum)
        if minimum < 0 < maximum and bins > 1:
            nearest = 1 + int(np.abs(edges[1:-1]).argmin())  # move the closest inner edge to 0
            edges[nearest] = 0.0
        edges[0], edges[-1] = minimum, maximum
        types.append("atom")
        low.append(minimum)
        high.append(minimum)
        for a, b in itertools.pairwise(edges):
            if a == 0.0 and minimum < 0:
                types.append("atom")
                low.append(0.0)
                high.append(0.0)
            types.append("bin")
            low.append(float(a))
            high.append(float(b))
        types.append("atom")
        low.append(maximum)
        high.append(maximum)
        cells = _cut_heaps(list(zip(types, low, high, strict=True)), heaps, kind)
        return cls(
            column,
            kind,  # type: ignore[arg-type]
            minimum,
            maximum,
            nullable,
            scale,
            tuple(c[0] for c in cells),
            tuple(c[1] for c in cells),
            tuple(c[2] for c in cells),
            decimals if kind == "continuous" else None,
        )

    # -- values <-> cells -------------------------------------------------------------------
    def cell_of(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cell index of each value and the interval ``[f_low, f_high]`` of positions within
        the cell that the value stands for (a point for continuous values, the value's
        +-0.5 neighbourhood for integers in bins, the whole cell for atoms).

        Values outside the bounds (bounds estimated with DP may be narrower than the data;
        declared bounds were checked before) stand for the whole outer bin, not the bound's
        atom: the atom holds the records exactly on the bound, and counting the clipped ones
        there piled synthetic values on a DP bound (Adult without a schema: 18% of `fnlwgt`
        on its DP minimum, none in the data). Without bins they go to the nearest atom.
        """
        v = np.asarray(values, dtype=np.float64)
        n = v.shape[0]
        cells = np.zeros(n, dtype=np.int64)
        f_low = np.zeros(n)
        f_high = np.ones(n)
        types = np.array(self.cell_types)
        low = np.array(self.cell_low)
        high = np.array(self.cell_high)
        missing = np.isnan(v)
        if missing.any():
            if not self.nullable:
                raise ValueError(
                    f"column {self.column!r} has nulls but its layout has no missing cell"
                )
            cells[missing] = int(np.flatnonzero(types == "missing")[0])
        present = ~missing
        vc = np.clip(v[present], self.minimum, self.maximum)
        atom_idx = np.flatnonzero(types == "atom")
        bin_idx = np.flatnonzero(types == "bin")
        outside = (v[present] < self.minimum) | (v[present] > self.maximum)
        out_cells = np.full(vc.shape[0], -1, dtype=np.int64)
        for i in atom_idx:
            out_cells[(out_cells < 0) & (vc == low[i]) & (~outside | (bin_idx.size == 0))] = i
        fl = np.zeros(vc.shape[0])
        fh = np.ones(vc.shape[0])
        in_bin = out_cells < 0
        if in_bin.any():
            if bin_idx.size == 0:  # integer atoms only: round to the nearest atom
                nearest = np.abs(vc[in_bin, None] - low[atom_idx][None, :]).argmin(1)
                out_cells[in_bin] = atom_idx[nearest]
            else:
                lo_g = _forward(low[bin_idx], self.scale, self.minimum)
                hi_g = _forward(high[bin_idx], self.scale, self.minimum)
                x = vc[in_bin]
                k = np.clip(
                    np.searchsorted(hi_g, _forward(x, self.scale, self.minimum), side="left"),
                    0,
                    bin_idx.size - 1,
                )
                out_cells[in_bin] = bin_idx[k]
                width = hi_g[k] - lo_g[k]
                if self.kind == "integer":
                    a = _forward(np.maximum(x - 0.5, self.minimum), self.scale, self.minimum)
                    b = _forward(np.minimum(x + 0.5, self.maximum), self.scale, self.minimum)
                else:
                    a = b = _forward(x, self.scale, self.minimum)
                fl[in_bin] = np.where(outside[in_bin], 0.0, np.clip((a - lo_g[k]) / width, 0, 1))
                fh[in_bin] = np.where(outside[in_bin], 1.0, np.clip((b - lo_g[k]) / width, 0, 1))
        cells[present] = out_cells
        f_low[present] = fl
        f_high[present] = fh
        f_low[missing], f_high[missing] = 0.0, 1.0
        return cells, f_low, f_high

    def value_of(self, cells: np.ndarray, fraction: np.ndarray) -> np.ndarray:
        """Inverse of ``cell_of``: a value for each (cell, position in cell); NaN = null."""
        types = np.array(self.cell_types)
        low = np.array(self.cell_low)
        high = np.array(self.cell_high)
        t = types[cells]
        out = low[cells].astype(np.float64).copy()
        is_bin = t == "bin"
        if is_bin.any():
            a = _forward(low[cells[is_bin]], self.scale, self.minimum)
            b = _forward(high[cells[is_bin]], self.scale, self.minimum)
            out[is_bin] = _inverse(
                a + np.clip(fraction[is_bin], 0, 1) * (b - a), self.scale, self.minimum
            )
        out[t == "missing"] = np.nan
        if self.kind == "integer":
            out = np.round(out)
            if is_bin.any():  # a bin's edge at a heap's +-0.5 must not round onto the heap
                first = np.ceil(low[cells[is_bin]])
                last = np.maximum(np.floor(high[cells[is_bin]]), first)
                out[is_bin] = np.clip(out[is_bin], first, last)
        present = ~np.isnan(out)
        out[present] = np.clip(out[present], self.minimum, self.maximum)
        out = round_to(out, self.decimals)
        return self._off_the_bounds(out, is_bin)

    def _off_the_bounds(self, out: np.ndarray, is_bin: np.ndarray) -> np.ndarray:
        """Bin values moved one step (an integer, a decimal of the precision) inside the
        bounds when the edge position or the rounding put them on one. A record on a bound
        is always counted in the bound's atom, never in a bin, so a bin that gave the bound
        itself would pile values there: a model whose z overshoots the training range
        decodes to the very edge of the outer bins (decoding z of four times the spread put
        18% of a column's values on its lower bound, tests/tabular/test_point_masses.py)."""
        if self.kind == "integer":
            step = 1.0
        elif self.decimals is not None:
            step = 10.0**-self.decimals
        else:
            step = 0.0  # unrounded: the next float inside
        lower = self.minimum + step if step else np.nextafter(self.minimum, np.inf)
        upper = self.maximum - step if step else np.nextafter(self.maximum, -np.inf)
        if lower > upper:
            return out
        edge = is_bin & ((out == self.minimum) | (out == self.maximum))
        out[edge] = np.clip(out[edge], lower, upper)
        return out

    # -- (de)serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "kind": self.kind,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "nullable": self.nullable,
            "scale": self.scale,
            "cell_types": list(self.cell_types),
            "cell_low": [None if np.isnan(x) else x for x in self.cell_low],
            "cell_high": [None if np.isnan(x) else x for x in self.cell_high],
            "decimals": self.decimals,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NumericLayout:
        nan = float("nan")
        return cls(
            column=d["column"],
            kind=d["kind"],
            minimum=float(d["minimum"]),
            maximum=float(d["maximum"]),
            nullable=bool(d["nullable"]),
            scale=d["scale"],
            cell_types=tuple(d["cell_types"]),
            cell_low=tuple(nan if x is None else float(x) for x in d["cell_low"]),
            cell_high=tuple(nan if x is None else float(x) for x in d["cell_high"]),
            decimals=d.get("decimals"),
        )


Cell = tuple[CellType, float, float]


def _cut_heaps(cells: list[Cell], heaps: tuple[float, ...], kind: str) -> list[Cell]:
    """``cells`` with an atom at each heap, cut out of the bin that holds it: the bin keeps
    the parts below and above (for integers, below ``heap - 0.5`` and above ``heap + 0.5``,
    so its positions never round to the heap). A heap on an existing atom is left alone."""
    half = 0.5 if kind == "integer" else 0.0
    atoms = {low for t, low, _ in cells if t == "atom"}
    for heap in sorted(set(heaps) - atoms):
        out: list[Cell] = []
        placed = False
        for t, low, high in cells:
            if t != "bin" or not low <= heap <= high:
                out.append((t, low, high))
                continue
            if heap - half > low:
                out.append(("bin", low, heap - half))
            if not placed:  # a heap on the edge of two bins cuts both, once
                out.append(("atom", heap, heap))
                placed = True
            if heap + half < high:
                out.append(("bin", heap + half, high))
        cells = out
    return cells


def _forward(x: np.ndarray, scale: Scale, minimum: float) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.log1p(np.maximum(x - minimum, 0.0)) if scale == "log1p" else x


def _inverse(g: np.ndarray, scale: Scale, minimum: float) -> np.ndarray:
    g = np.asarray(g, dtype=np.float64)
    return np.expm1(g) + minimum if scale == "log1p" else g
