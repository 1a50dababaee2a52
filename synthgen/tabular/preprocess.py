"""DP preprocessing: everything the model needs from the data beyond the declared schema.

Up to three Gaussian releases, each recorded in the run's accountant:

1. *Domain discovery*, only for what the schema leaves out, in two releases: numeric
   bounds (a noisy histogram over a fixed, public grid of magnitudes, whose extreme cells
   above a noise threshold give the bounds), and category lists and the class list (noisy
   counts of the values seen, kept above a threshold that a value held by one record
   passes with probability at most ``threshold_delta``: Gaussian partition selection).
2. *Per-class histograms* of every synthesized column over public cells (numeric layouts,
   category lists) plus the class counts. They give the class proportions used for
   conditional sampling, a per-class quantile transform for numerics and the per-class
   category frequencies that serve as the prior of the categorical diffusion.

Between them, when there are numeric features, a *point-mass* release
(``synthgen.tabular.heaps``: heaps and decimals of numeric columns) takes
``budget_split.POINT_MASS_SHARE`` of the histograms' budget.

Each record falls in exactly one cell of each histogram, so the L2 sensitivity of a
release of H histograms is sqrt(H). The releases together spend the preprocessing share
of epsilon measured alone at the run's delta (their RDP adds up); ``budget_split`` sizes
the share and splits it by what each release must buy. The rest goes to DP-SGD, and the
certificate reports the composed total.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from synthgen.errors import InsufficientData
from synthgen.privacy.accountant import RunAccountant
from synthgen.privacy.mechanisms import noisy_histograms, partition_threshold, project_to_simplex
from synthgen.privacy.record_count import RecordCount
from synthgen.privacy.secure_random import NoiseSource
from synthgen.tabular.budget_split import plan_for_schema
from synthgen.tabular.category_selection import rare_category_cells, selection_summary
from synthgen.tabular.config import regime_defaults
from synthgen.tabular.heaps import PointMasses, release_point_masses
from synthgen.tabular.layout import NumericLayout
from synthgen.tabular.schema import ColumnSpec, Schema, category_key

OTHER = "(other)"  # stands for values of a discovered domain that did not pass the threshold
PROB_FLOOR = 1e-5
# public grid of magnitudes for DP bounds: half-octaves from 2^-10 to 2^40, both signs, and 0
_GRID_EXP = np.arange(-20, 81) / 2.0


@dataclass(frozen=True)
class CategoricalLayout:
    column: str
    kind: str  # "categorical" or "boolean"
    categories: tuple[Any, ...]  # output values; None (last) stands for null
    has_other: bool = False

    @property
    def n_cells(self) -> int:
        return len(self.categories)

    def index_of(self, values: np.ndarray) -> np.ndarray:
        lookup = {category_cell_key(v): i for i, v in enumerate(self.categories)}
        other = lookup.get(category_cell_key(OTHER)) if self.has_other else None
        out = np.empty(len(values), dtype=np.int64)
        for i, v in enumerate(values):
            k = lookup.get(category_cell_key(v))
            if k is None:
                if other is None:
                    raise ValueError(f"column {self.column!r}: a value has no cell")
                k = other
            out[i] = k
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "kind": self.kind,
            "categories": list(self.categories),
            "has_other": self.has_other,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CategoricalLayout:
        return cls(d["column"], d["kind"], tuple(d["categories"]), bool(d.get("has_other", False)))


def category_cell_key(v: Any) -> str | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else category_key(v)


@dataclass
class TabularStatistics:
    """The DP statistics of one training run (public once released; stored in the model)."""

    target: str
    classes: tuple[Any, ...]
    class_counts: np.ndarray  # noisy counts, projected to be non-negative
    numeric: list[NumericLayout]
    numeric_probs: list[np.ndarray]  # per column: [n_classes, n_cells]
    categorical: list[CategoricalLayout]
    categorical_probs: list[np.ndarray]  # per column: [n_classes, n_cells]
    column_order: list[str]  # synthesized columns, schema order (label included)
    estimated: list[str] = field(default_factory=list)  # what the data determined, in words
    cell_noise_std: float = 0.0  # noise std per histogram cell of the per-class release
    # the public record count N-hat of the run (RecordCount.to_dict): saved with the
    # statistics so that a resumed run reuses it and never draws it again
    record_count: dict[str, Any] | None = None
    # per column whose categories were discovered: the values kept, the DP share of
    # "(other)" and the selection threshold in records (category_selection.selection_summary)
    category_selection: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def class_proportions(self) -> np.ndarray:
        total = self.class_counts.sum()
        return self.class_counts / total

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "classes": list(self.classes),
            "class_counts": self.class_counts.tolist(),
            "numeric": [layout.to_dict() for layout in self.numeric],
            "numeric_probs": [p.tolist() for p in self.numeric_probs],
            "categorical": [layout.to_dict() for layout in self.categorical],
            "categorical_probs": [p.tolist() for p in self.categorical_probs],
            "column_order": self.column_order,
            "estimated": self.estimated,
            "cell_noise_std": self.cell_noise_std,
            "record_count": self.record_count,
            "category_selection": self.category_selection,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TabularStatistics:
        return cls(
            target=d["target"],
            classes=tuple(d["classes"]),
            class_counts=np.asarray(d["class_counts"], dtype=np.float64),
            numeric=[NumericLayout.from_dict(x) for x in d["numeric"]],
            numeric_probs=[np.asarray(p, dtype=np.float64) for p in d["numeric_probs"]],
            categorical=[CategoricalLayout.from_dict(x) for x in d["categorical"]],
            categorical_probs=[np.asarray(p, dtype=np.float64) for p in d["categorical_probs"]],
            column_order=list(d["column_order"]),
            estimated=list(d.get("estimated", [])),
            cell_noise_std=float(d.get("cell_noise_std", 0.0)),
            record_count=d.get("record_count"),
            category_selection=dict(d.get("category_selection", {})),
        )


def estimate_statistics(
    df: pd.DataFrame,
    schema: Schema,
    *,
    epsilon: float,
    delta: float,
    preprocessing_share: float | None,
    accountant: RunAccountant,
    noise: NoiseSource,
    histogram_bins: int | None = None,
    record_count: RecordCount | None = None,
    weights: np.ndarray | None = None,
) -> TabularStatistics:
    """Estimate the statistics from the conformed training table ``df``.

    ``record_count`` is the run's public N-hat (DP or declared; the bins are chosen from
    it). Without one (non-private use) the exact row count is used.

    With ``epsilon = inf`` (non-private benchmarks) the statistics are exact and nothing
    is recorded in the accountant.

    ``weights`` (patient-level runs, ``synthgen.privacy.contribution.record_weights``): each
    record counts ``1 / n_i`` instead of 1, so that one patient with all their records
    changes each histogram by L1 norm 1 (L2 at most 1), the sensitivity every release below
    is calibrated for. Counts are then in patients; a patient with mixed labels splits
    their weight between the classes.
    """
    w = np.ones(len(df)) if weights is None else np.asarray(weights, dtype=np.float64)
    assert w.shape == (len(df),), "one weight per record"
    target = schema.target
    assert target is not None, "the schema must name a label column"
    features = schema.features
    private = math.isfinite(epsilon)
    need_bounds = [c for c in features if c.is_numeric and not c.has_bounds]
    need_categories = [c for c in features if not c.is_numeric and c.declared_categories() is None]
    need_classes = target.declared_categories() is None
    partitions = len(need_categories) + int(need_classes)
    discovery = bool(need_bounds or partitions)

    n_public = record_count.value if record_count is not None else len(df)
    sigma_categories = sigma_bounds = sigma_histograms = sigma_point_masses = 0.0
    selection_threshold: float | None = None
    if private:
        budget = plan_for_schema(
            schema,
            epsilon=epsilon,
            delta=delta,
            record_count=n_public,
            share=preprocessing_share,
        )
        accountant.threshold_delta = budget.threshold_delta
        sigma_categories = budget.categories_noise_multiplier
        sigma_bounds = budget.bounds_noise_multiplier
        sigma_histograms = budget.histograms_noise_multiplier
        sigma_point_masses = budget.point_masses_noise_multiplier
        if partitions:  # what a value needs to pass partition selection, in records
            selection_threshold = partition_threshold(
                std=budget.category_std,
                delta=budget.threshold_delta,
                max_new_partitions=partitions,
            )

    estimated: list[str] = []
    bounds: dict[str, tuple[float, float]] = {}
    categories: dict[str, tuple[Any, ...]] = {}
    classes: tuple[Any, ...] | None = target.declared_categories()
    if discovery:
        found = _discover_domains(
            df,
            need_bounds,
            need_categories,
            target if need_classes else None,
            sigma_bounds=sigma_bounds,
            sigma_categories=sigma_categories,
            private=private,
            noise=noise,
            accountant=accountant,
            partitions=partitions,
            weights=w,
        )
        bounds, categories, discovered_classes = found
        estimated += [f"bounds of {c.name}" for c in need_bounds]
        estimated += [f"categories of {c.name}" for c in need_categories]
        if need_classes:
            classes = discovered_classes
            estimated.append(f"classes of {target.name}")
    assert classes is not None
    if len(classes) < 2:
        raise InsufficientData(
            f"the label {target.name!r} needs at least two classes"
            + (
                " that pass the DP threshold: declare the classes in the schema"
                if need_classes
                else ""
            )
        )

    # which rows take part: those whose label is one of the (public or DP) classes
    label_keys = {category_cell_key(c): i for i, c in enumerate(classes)}
    y = np.array([label_keys.get(category_cell_key(v), -1) for v in df[target.name].to_numpy()])
    rows = y >= 0
    y = y[rows]
    w_rows = w[rows]
    n_classes = len(classes)
    n_histograms = len(features) + 1
    cell_std = sigma_histograms * math.sqrt(n_histograms) if private else 0.0
    bins = histogram_bins or _auto_bins(n_public, n_classes, cell_std)

    def numeric_layout(spec: ColumnSpec, found: PointMasses) -> NumericLayout:
        lo, hi = bounds.get(spec.name, (spec.minimum, spec.maximum))
        assert lo is not None and hi is not None
        return NumericLayout.build(
            column=spec.name,
            kind=spec.kind,
            minimum=float(lo),
            maximum=float(hi),
            nullable=spec.nullable,
            bins=bins,
            heaps=found.heaps,
            decimals=spec.decimals if spec.decimals is not None else found.decimals,
        )

    numeric_values = {
        spec.name: df[spec.name].to_numpy()[rows].astype(np.float64)
        for spec in features
        if spec.is_numeric
    }
    point_mass_answers = release_point_masses(
        [
            (spec, numeric_layout(spec, PointMasses()), numeric_values[spec.name])
            for spec in features
            if spec.is_numeric
        ],
        weights=w_rows,
        sigma=sigma_point_masses,
        private=private,
        noise=noise,
        accountant=accountant,
    )
    numeric_layouts: list[NumericLayout] = []
    categorical_layouts: list[CategoricalLayout] = []
    counts: list[np.ndarray] = []
    for spec in features:
        values = df[spec.name].to_numpy()[rows]
        if spec.is_numeric:
            layout = numeric_layout(spec, point_mass_answers.get(spec.name, PointMasses()))
            numeric_layouts.append(layout)
            cells, _, _ = layout.cell_of(values.astype(np.float64))
            n_cells = layout.n_cells
        else:
            cat_layout = _categorical_layout(spec, categories.get(spec.name))
            categorical_layouts.append(cat_layout)
            cells = cat_layout.index_of(values)
            n_cells = cat_layout.n_cells
        table = np.zeros((n_classes, n_cells))
        np.add.at(table, (y, cells), w_rows)
        counts.append(table)
    class_table = np.bincount(y, weights=w_rows, minlength=n_classes).astype(np.float64)

    if private:
        noisy, _ = noisy_histograms(
            [*counts, class_table], noise_multiplier=sigma_histograms, noise=noise
        )
        accountant.add_gaussian_release(  # recorded before anything reads the noisy counts
            name="per-class histograms",
            noise_multiplier=sigma_histograms,
            purpose=(
                f"class proportions of {target.name}; per-class histograms of "
                f"{len(features)} columns (quantile transform of numerics, prior of the "
                "categorical diffusion)"
            ),
        )
        counts, class_table = noisy[:-1], noisy[-1]
    class_counts = np.maximum(class_table, 0.0)
    if class_counts.sum() <= 0:
        raise InsufficientData(
            "no class has a positive noisy count: the budget is too small for this table"
        )
    layouts = _feature_layouts(features, numeric_layouts, categorical_layouts)
    probs = [
        _class_conditional(table, class_counts, cell_std, _left_out_cells(table, layout, cell_std))
        for table, layout in zip(counts, layouts, strict=True)
    ]
    numeric_ids = [i for i, c in enumerate(features) if c.is_numeric]
    categorical_ids = [i for i, c in enumerate(features) if not c.is_numeric]
    return TabularStatistics(
        target=target.name,
        classes=tuple(classes),
        class_counts=class_counts,
        numeric=numeric_layouts,
        numeric_probs=[probs[i] for i in numeric_ids],
        categorical=categorical_layouts,
        categorical_probs=[probs[i] for i in categorical_ids],
        column_order=[c.name for c in schema.synthesized],
        estimated=estimated,
        cell_noise_std=cell_std,
        record_count=record_count.to_dict() if record_count is not None else None,
        category_selection={
            layout.column: selection_summary(
                layout.categories,
                probs[i],
                class_counts,
                other=OTHER,
                threshold=selection_threshold,
            )
            for i, layout in zip(categorical_ids, categorical_layouts, strict=True)
            if layout.has_other
        },
    )


def _left_out_cells(
    table: np.ndarray, layout: NumericLayout | CategoricalLayout, cell_std: float
) -> np.ndarray:
    """Cells kept out of the projection: point masses and rare categories the noise could
    not tell from empty (``category_selection``)."""
    dropped = _noise_point_masses(table, layout, cell_std)
    if isinstance(layout, CategoricalLayout):
        dropped |= rare_category_cells(table, layout.categories, cell_std)
    return dropped


# in noise standard deviations of a cell's all-classes count: pure noise passes it in
# about 2 of 10,000 cells (at 2.0, one column in 40 got a false null cell or bound atom)
POINT_MASS_THRESHOLD = 3.5


def _feature_layouts(
    features: list[ColumnSpec], numeric: list[NumericLayout], categorical: list[CategoricalLayout]
) -> list[NumericLayout | CategoricalLayout]:
    """The layout of each feature, in feature order."""
    num, cat = iter(numeric), iter(categorical)
    return [next(num) if spec.is_numeric else next(cat) for spec in features]


def _point_mass_cells(layout: NumericLayout | CategoricalLayout) -> list[int]:
    """Cells that stand for a single value next to cells of a continuum: the atoms of a
    binned numeric layout (its bounds, and zero) and the missing cell of any layout. A value
    grid (few-valued integers, categories) has no continuum to fall back to, so its values
    are left alone."""
    if isinstance(layout, CategoricalLayout):
        return [i for i, v in enumerate(layout.categories) if v is None]
    if "bin" not in layout.cell_types:
        return [i for i, t in enumerate(layout.cell_types) if t == "missing"]
    return [i for i, t in enumerate(layout.cell_types) if t in ("atom", "missing")]


def _noise_point_masses(
    table: np.ndarray, layout: NumericLayout | CategoricalLayout, cell_std: float
) -> np.ndarray:
    """The point-mass cells whose all-classes noisy count does not clear
    ``POINT_MASS_THRESHOLD`` noise standard deviations (a boolean mask over the cells).

    Why: a cell with no records still gets |noise| after the simplex projection, about as
    much as a bin. With few bins (small N or small epsilon) every bound atom then held
    12-30% of a column (heart disease at epsilon 10; real share 0-1%), and sampling piled
    values on the bounds; a missing cell did the same for columns without nulls. A real
    point mass (zeros of capital gains, a capped instrument, a column with nulls) clears the
    threshold. Post-processing of the released counts: free."""
    dropped = np.zeros(table.shape[1], dtype=bool)
    if cell_std == 0:
        return dropped
    threshold = POINT_MASS_THRESHOLD * cell_std * math.sqrt(table.shape[0])
    for cell in _point_mass_cells(layout):
        dropped[cell] = table[:, cell].sum() < threshold
    return dropped


def _auto_bins(n_records: int, n_classes: int, cell_std: float) -> int:
    """Bins per numeric column: enough that a bin's expected count stays well above the
    noise (8 standard deviations), between the regime's floor (``regime_defaults``) and 64.
    Uses only the public N-hat, the class count and the noise level."""
    if cell_std == 0:
        return 64
    per_class = n_records / n_classes
    floor = regime_defaults(n_records).min_histogram_bins
    return int(np.clip(round(per_class / (8 * cell_std)), floor, 64))


def noise_share(class_count: float, n_cells: int, cell_std: float) -> float:
    """How much of a class's noisy histogram is noise: the expected noise mass over its
    cells against the class's (noisy) count, in [0, 1]. Public: it uses only the noise
    level, the layout and DP counts."""
    noise_mass = cell_std * math.sqrt(n_cells)
    if noise_mass == 0:
        return 0.0
    return noise_mass / (noise_mass + class_count) if class_count > 0 else 1.0


def _class_conditional(
    table: np.ndarray, class_counts: np.ndarray, cell_std: float, dropped: np.ndarray | None = None
) -> np.ndarray:
    """Per-class distributions from a noisy [classes, cells] table.

    Each row is projected onto the simplex scaled to its noisy class count, then shrunk
    towards the all-classes distribution in proportion to how much of it is noise: a class
    with a few dozen records gets mostly the pooled estimate. ``dropped`` cells (point
    masses the noise could not tell from empty) stay out of the projection: a row whose
    noisy cells add up to less than its count is raised evenly over the cells it projects
    onto, and would otherwise give them back their mass; they get probability 0.
    Post-processing only.
    """
    n_classes, n_cells = table.shape
    active = np.ones(n_cells, dtype=bool) if dropped is None else ~dropped
    projected = np.zeros_like(table)
    for c in range(n_classes):
        projected[c, active] = project_to_simplex(table[c, active], class_counts[c])
    pooled = projected.sum(0)
    pooled = pooled / pooled.sum() if pooled.sum() > 0 else active / active.sum()
    out = np.empty_like(projected)
    for c in range(n_classes):
        total = projected[c].sum()
        weight = noise_share(total, int(active.sum()), cell_std)
        own = projected[c] / total if total > 0 else pooled
        out[c] = (1 - weight) * own + weight * pooled
    # dropped cells get no mass at all: a floor there still gave columns without nulls a
    # null now and then, and values on a bound the data never reached
    out = np.where(active, np.maximum(out, PROB_FLOOR), 0.0)
    return out / out.sum(1, keepdims=True)


def _categorical_layout(spec: ColumnSpec, discovered: tuple[Any, ...] | None) -> CategoricalLayout:
    declared = spec.declared_categories()
    cats: tuple[Any, ...] = declared if declared is not None else (*(discovered or ()), OTHER)
    if spec.nullable:
        cats = (*cats, None)
    return CategoricalLayout(spec.name, spec.kind, cats, has_other=declared is None)


def _discover_domains(
    df: pd.DataFrame,
    need_bounds: list[ColumnSpec],
    need_categories: list[ColumnSpec],
    label: ColumnSpec | None,
    *,
    sigma_bounds: float,
    sigma_categories: float,
    private: bool,
    noise: NoiseSource,
    accountant: RunAccountant,
    partitions: int,
    weights: np.ndarray,
) -> tuple[dict[str, tuple[float, float]], dict[str, tuple[Any, ...]], tuple[Any, ...]]:
    """Bounds and category lists the schema leaves out: two Gaussian releases, each with
    the noise ``budget_split`` gave it, recorded before their counts are read."""
    grid = np.concatenate(
        [-(2.0 ** _GRID_EXP[::-1]), [0.0], 2.0**_GRID_EXP]
    )  # bucket centres' order
    bound_histograms: list[np.ndarray] = []
    for spec in need_bounds:
        values = df[spec.name].to_numpy(np.float64)
        bound_histograms.append(
            np.bincount(
                _grid_bucket(values), weights=weights[~np.isnan(values)], minlength=grid.size
            ).astype(float)
        )
    value_lists: list[list[str]] = []
    value_objects: list[dict[str, Any]] = []
    value_histograms: list[np.ndarray] = []
    partitioned = [*need_categories, *([label] if label is not None else [])]
    for spec in partitioned:
        column = df[spec.name]
        present = column.notna().to_numpy()
        keys: dict[str, Any] = {}
        for v in column[present].tolist():
            keys.setdefault(category_key(v), v)
        ordered = sorted(keys)
        key_index = {k: i for i, k in enumerate(ordered)}
        counts = np.zeros(len(ordered))
        for v, weight in zip(column[present].tolist(), weights[present], strict=True):
            counts[key_index[category_key(v)]] += weight
        value_histograms.append(counts)
        value_lists.append(ordered)
        value_objects.append(keys)
    bound_std = category_std = 0.0
    if private and bound_histograms:
        bound_histograms, bound_std = noisy_histograms(
            bound_histograms, noise_multiplier=sigma_bounds, noise=noise
        )
        accountant.add_gaussian_release(
            name="bounds discovery",
            noise_multiplier=sigma_bounds,
            purpose="; ".join(f"bounds of {c.name}" for c in need_bounds),
        )
    if private and value_histograms:
        value_histograms, category_std = noisy_histograms(
            value_histograms, noise_multiplier=sigma_categories, noise=noise
        )
        accountant.add_gaussian_release(
            name="category discovery",
            noise_multiplier=sigma_categories,
            purpose="; ".join(
                f"classes of {c.name}" if c is label else f"categories of {c.name}"
                for c in partitioned
            ),
        )

    bounds: dict[str, tuple[float, float]] = {}
    for spec, hist in zip(need_bounds, bound_histograms, strict=True):
        bounds[spec.name] = _bounds_from_histogram(hist, spec, std=bound_std)

    threshold = (
        partition_threshold(
            std=category_std, delta=accountant.threshold_delta, max_new_partitions=partitions
        )
        if private
        else 1e-9  # any value seen (counts may be patient weights below 1)
    )
    categories: dict[str, tuple[Any, ...]] = {}
    classes: tuple[Any, ...] = ()
    found = []
    for ordered, objects, hist in zip(value_lists, value_objects, value_histograms, strict=True):
        found.append(tuple(objects[k] for k, c in zip(ordered, hist, strict=True) if c > threshold))
    for spec, cats in zip(need_categories, found, strict=False):
        categories[spec.name] = cats
    if label is not None:
        classes = found[-1]
    return bounds, categories, classes


FALSE_BOUND_RATE = 1e-3  # chance that noise alone moves a column's DP bound anywhere


def _bounds_from_histogram(
    hist: np.ndarray, spec: ColumnSpec, *, std: float
) -> tuple[float, float]:
    """Bounds from a (noisy) histogram over the magnitude grid: the outermost buckets whose
    count clears a threshold that pure noise crosses, in any of the grid's buckets, with
    probability at most ``FALSE_BOUND_RATE`` (Bonferroni over the buckets). Post-processing
    of a fixed-domain release; buckets holding a few extreme records may stay below the
    threshold, and their records are clipped to the bounds."""
    from scipy.stats import norm

    threshold = std * float(norm.isf(FALSE_BOUND_RATE / hist.size)) if std > 0 else 0.0
    kept = np.flatnonzero(hist > max(threshold, 1e-9))
    if kept.size == 0:
        raise InsufficientData(
            f"cannot estimate the bounds of {spec.name!r} under this budget: declare min and max in the schema"
        )
    lo, hi = _bucket_edges(int(kept[0]))[0], _bucket_edges(int(kept[-1]))[1]
    if spec.kind == "integer":
        lo, hi = math.floor(lo), math.ceil(hi)
    if hi <= lo:
        hi = lo + 1
    return lo, hi


def _grid_bucket(values: np.ndarray) -> np.ndarray:
    """Index of each non-null value in the public magnitude grid (nulls are dropped)."""
    v = values[~np.isnan(values)]
    n_side = _GRID_EXP.size
    mag = np.abs(v)
    with np.errstate(divide="ignore"):
        e = np.floor(np.log2(np.where(mag > 0, mag, 1.0)) * 2) / 2
    pos = np.clip(np.searchsorted(_GRID_EXP, e, side="right") - 1, 0, n_side - 1)
    zero = mag < 2.0 ** _GRID_EXP[0]
    idx = np.where(v > 0, n_side + 1 + pos, n_side - 1 - pos)
    return np.where(zero, n_side, idx).astype(np.int64)


def _bucket_edges(index: int) -> tuple[float, float]:
    """Value range of a grid bucket: [2^e, 2^(e+1/2)) for positives, mirrored for
    negatives, and a small interval around zero."""
    n_side = _GRID_EXP.size
    if index == n_side:
        return (0.0, 0.0)
    if index > n_side:
        e = _GRID_EXP[index - n_side - 1]
        return (float(2.0**e), float(2.0 ** (e + 0.5)))
    e = _GRID_EXP[n_side - 1 - index]
    return (float(-(2.0 ** (e + 0.5))), float(-(2.0**e)))
