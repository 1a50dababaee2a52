"""A feasibility estimate before the budget is spent: will the output be dominated by noise?

Computed from public facts only: the schema (columns, kinds, which bounds and categories are
declared), epsilon and delta, the training options, and the public record count N-hat (the
schema's declared ``public_record_count``, or the DP count that training draws first anyway,
synthgen.privacy.record_count). It replays the noise levels that the preprocessing
(synthgen.tabular.preprocess) and DP-SGD (the trainer's ``calibrate_noise_multiplier``)
will use, without reading a record, and compares them with the counts they will perturb.

Thresholds (why):

- **bounds of a numeric column not declared**: the DP bounds are the outermost magnitude
  buckets whose noisy count clears ``preprocess._bounds_from_histogram``'s threshold. If
  even the whole table in one bucket (N-hat records) stays below it, the run *will* refuse
  ("cannot estimate the bounds"): infeasible. Real columns spread over a few half-octave
  buckets (age 29-77 spans 4); below ``BOUNDS_SPREAD`` buckets' worth the bounds are likely
  refused or cut short: marginal.
- **classes / categories not declared**: the same reasoning with the partition-selection
  threshold; a balanced label whose classes cannot pass it is refused: infeasible.
- **class proportions**: the noise std of a class count against its expected count
  N-hat / classes. Above ``PROPORTION_MARGINAL`` (50%) the conditional sampling mixes
  classes visibly; above ``PROPORTION_INFEASIBLE`` (200%) the proportions are noise.
  (Heart disease, 5 declared classes, 242 training rows, epsilon 10: 31%.)
- **per-column histograms**: expected records per cell (all classes) against the cell
  noise std. The per-class shapes shrink towards this pooled marginal when they are noise
  (``preprocess._class_conditional``), so the pooled one is what must carry signal: below
  ``CELL_SNR_INFEASIBLE`` (0.5) a cell holds more noise than records, below
  ``CELL_SNR_MARGINAL`` (2) the marginal is coarse.
- **DP-SGD**: ``noise_multiplier / expected batch`` is the noise std of the averaged,
  clipped gradient in units of the clipping norm: heart disease at epsilon 10 gives 0.05,
  Adult at epsilon 1 under 0.001 (both train useful models, docs/tabular.md). Above
  ``SGD_NOISE_MARGINAL`` (0.1) the noise outweighs a typical clipped gradient's mean
  by tens of steps; above ``SGD_NOISE_INFEASIBLE`` (0.5) the updates are noise. An epsilon
  the planned steps cannot reach at all is infeasible.
- **a DP record count**: N-hat is noisy (std 74 at epsilon 2), and a refusal should not
  come from the count's noise: "infeasible" must also hold at N-hat + ``COUNT_ROOM_STDS``
  standard deviations; otherwise the verdict is marginal. But a count whose noise std
  is twice N-hat or more (``COUNT_NOISE_INFEASIBLE``) says nothing about N, and the batch
  size and sample rate chosen from it are arbitrary: infeasible (declare the record
  count). Heart disease (242 training rows) at epsilon 2 has a count std of 74: this
  refuses 0.3% of its runs, at epsilon 0.2 (std 740) nearly all.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from synthgen.errors import InsufficientData, PrivacyParameterError
from synthgen.privacy.accountant import (
    RunAccountant,
    calibrate_noise_multiplier,
)
from synthgen.privacy.mechanisms import partition_threshold
from synthgen.privacy.record_count import DP_ESTIMATE, RecordCount
from synthgen.tabular import preprocess
from synthgen.tabular.budget_split import KEEP_SHARE, plan_for_schema
from synthgen.tabular.config import TabularTrainingConfig
from synthgen.tabular.layout import NumericLayout
from synthgen.tabular.schema import Schema

FEASIBLE, MARGINAL, INFEASIBLE = "feasible", "marginal", "infeasible"
BOUNDS_SPREAD = 4  # half-octave buckets a real column's records spread over
PROPORTION_MARGINAL, PROPORTION_INFEASIBLE = 0.5, 2.0
CELL_SNR_MARGINAL, CELL_SNR_INFEASIBLE = 2.0, 0.25
COUNT_ROOM_STDS = 2.0  # a DP count's noise: infeasible must hold at N-hat + 2 std too
COUNT_NOISE_INFEASIBLE = 2.0  # a DP count whose noise std is twice it is noise
SGD_NOISE_MARGINAL, SGD_NOISE_INFEASIBLE = 0.1, 0.5
ASSUMED_CLASSES = 2  # classes not declared: the fewest a label can have
EPSILON_STEPS = (1.5, 2, 3, 5, 10, 20, 50, 100)  # multiples tried for "epsilon >= X"


class Infeasible(InsufficientData):
    """The estimate says the output would be dominated by noise; raised before the
    preprocessing and DP-SGD spend anything (only the DP record count, if drawn)."""

    def __init__(self, message: str, estimate: FeasibilityEstimate):
        super().__init__(message)
        self.estimate = estimate


@dataclass(frozen=True)
class FeasibilityEstimate:
    verdict: str  # FEASIBLE, MARGINAL or INFEASIBLE
    reasons: list[str]  # why marginal or infeasible, one line each
    suggestions: list[str]  # what would help
    n_records: int  # the public N-hat the estimate used
    record_count_source: str  # "declared_public" or "dp_estimate"
    record_count_noise_std: float
    record_count_share: float  # share of epsilon the DP count was paid from
    epsilon: float
    delta: float
    cell_noise_std: float  # per-class histogram cell noise
    discovery_noise_std: float  # domain discovery, the larger of its two (0: all declared)
    noise_multiplier: float | None  # DP-SGD, None when the epsilon cannot be reached
    batch_size: int
    steps: int
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def count_epsilon(self) -> float:
        """Epsilon (measured alone) spent on the DP record count; 0 for a declared one."""
        return (
            self.record_count_share * self.epsilon
            if self.record_count_source == DP_ESTIMATE
            else 0.0
        )

    @property
    def sgd_noise(self) -> float | None:
        if self.noise_multiplier is None:
            return None
        return self.noise_multiplier / max(self.batch_size, 1)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "sgd_noise": self.sgd_noise, "count_epsilon": self.count_epsilon}

    def spent_line(self) -> str:
        """What reaching this estimate spent."""
        if self.count_epsilon:
            return f"spent epsilon {self.count_epsilon:.4g} on the record count"
        return "nothing was spent (the record count is declared public)"

    def summary(self) -> str:
        """One line: the verdict, its reasons and what would help."""
        head = f"the feasibility estimate says {self.verdict}"
        if self.reasons:
            head += ": " + "; ".join(self.reasons)
        if self.suggestions:
            head += "; would help: " + "; ".join(self.suggestions)
        return head

    def lines(self) -> list[str]:
        """The estimate for people: numbers, then reasons and suggestions."""
        src = (
            f"DP estimate (noise std {self.record_count_noise_std:.3g})"
            if self.record_count_source == DP_ESTIMATE
            else "declared public"
        )
        out = [
            f"verdict: {self.verdict}",
            f"training records N: {self.n_records} ({src})",
            f"epsilon {self.epsilon:g}, delta {self.delta:.3g}",
            f"histogram cell noise std: {self.cell_noise_std:.3g}",
        ]
        if self.discovery_noise_std:
            out.append(f"domain discovery noise std: {self.discovery_noise_std:.3g}")
        nm = "unreachable" if self.noise_multiplier is None else f"{self.noise_multiplier:.3g}"
        out.append(f"DP-SGD: {self.steps} steps, batch {self.batch_size}, noise multiplier {nm}")
        for name, col in self.columns.items():
            out.append(
                f"  {name}: {col['cells']} cells, {col['per_cell']:.3g} records per cell "
                f"(signal/noise {col['snr']:.3g})"
            )
        out += [f"reason: {r}" for r in self.reasons]
        out += [f"would help: {s}" for s in self.suggestions]
        return out


def estimate(
    schema: Schema,
    *,
    epsilon: float,
    delta: float | None,
    record_count: RecordCount,
    config: TabularTrainingConfig | None = None,
    max_steps: int | None = None,
    suggest: bool = True,
) -> FeasibilityEstimate:
    """The estimate for training on a table of ``schema`` with ``record_count`` training
    records (already the training share: the split is applied before the count)."""
    config = config or TabularTrainingConfig()
    target = schema.target
    assert target is not None, "the schema must name a label column"
    if not math.isfinite(epsilon):
        return FeasibilityEstimate(
            FEASIBLE,
            [],
            [],
            record_count.value,
            record_count.source,
            0.0,
            0.0,
            epsilon,
            delta or 0.0,
            0.0,
            0.0,
            None,
            0,
            0,
        )
    n = max(record_count.value, 1)
    delta = record_count.default_delta() if delta is None else float(delta)
    # the run's choices for this N-hat (the preprocessing share among them)
    resolved = config.resolve(n_records=n, epsilon=epsilon, max_steps=max_steps)
    features = schema.features
    need_bounds = [c for c in features if c.is_numeric and not c.has_bounds]
    need_categories = [c for c in features if not c.is_numeric and c.declared_categories() is None]
    declared_classes = target.declared_categories()
    partitions = len(need_categories) + int(declared_classes is None)
    discovery = bool(need_bounds or partitions)

    accountant = RunAccountant()  # the same releases, in the same order, as the run's
    if record_count.source == DP_ESTIMATE and record_count.noise_std > 0:
        accountant.add_gaussian_release(
            name="record count",
            noise_multiplier=record_count.noise_std,
            purpose="number of training records",
        )
    budget = plan_for_schema(
        schema,
        epsilon=epsilon,
        delta=delta,
        record_count=record_count.value,
        share=resolved.preprocessing_share,
    )
    accountant.threshold_delta = budget.threshold_delta
    sigma_h = budget.histograms_noise_multiplier
    n_classes = len(declared_classes) if declared_classes is not None else ASSUMED_CLASSES
    cell_std = sigma_h * math.sqrt(len(features) + 1)

    reasons: dict[str, list[str]] = {INFEASIBLE: [], MARGINAL: []}
    suggestions: list[str] = []

    # -- domain discovery: predicts preprocess' refusals ------------------------------------
    discovery_std = 0.0
    if discovery:
        from scipy.stats import norm

        bound_std = budget.bounds_noise_multiplier * math.sqrt(len(need_bounds))
        discovery_std = max(bound_std, budget.category_std)
        for name, sigma_d in (
            ("bounds discovery", budget.bounds_noise_multiplier),
            ("category discovery", budget.categories_noise_multiplier),
        ):
            if sigma_d:
                accountant.add_gaussian_release(
                    name=name, noise_multiplier=sigma_d, purpose="estimate"
                )
        grid = 2 * preprocess._GRID_EXP.size + 1
        bound_threshold = max(bound_std * float(norm.isf(preprocess.FALSE_BOUND_RATE / grid)), 0.5)
        refused = [c.name for c in need_bounds if n <= bound_threshold]
        doubtful = [
            c.name
            for c in need_bounds
            if c.name not in refused and n / BOUNDS_SPREAD <= bound_threshold
        ]
        if refused:
            reasons[INFEASIBLE].append(
                f"cannot estimate the bounds of {', '.join(refused)} under this budget (a bucket "
                f"needs more than {bound_threshold:.0f} records; there are {n})"
            )
        if doubtful:
            reasons[MARGINAL].append(
                f"the DP bounds of {', '.join(doubtful)} may be refused or cut short (a bucket "
                f"needs more than {bound_threshold:.0f} records)"
            )
        if refused or doubtful:
            suggestions.append(f"declare min and max for {', '.join(refused + doubtful)}")
        part = (
            partition_threshold(
                std=budget.category_std,
                delta=accountant.threshold_delta,
                max_new_partitions=partitions,
            )
            if partitions
            else 0.0
        )
        if declared_classes is None and n / ASSUMED_CLASSES <= part:
            reasons[INFEASIBLE].append(
                f"the classes of {target.name} cannot pass the DP threshold ({part:.0f} "
                f"records each)"
            )
            suggestions.append(f"declare the classes of {target.name}")
        rare = [c.name for c in need_categories if n / 2 <= part]
        if rare:
            reasons[MARGINAL].append(
                f"few categories of {', '.join(rare)} can pass the DP threshold ({part:.0f})"
            )
            suggestions.append(f"declare the categories of {', '.join(rare)}")
        elif need_categories and budget.kept_share(n) > KEEP_SHARE:
            reasons[MARGINAL].append(
                f"categories of {', '.join(c.name for c in need_categories)} under "
                f"{budget.kept_share(n):.1%} of the rows may be merged into {preprocess.OTHER}"
            )
            suggestions.append(
                f"declare the categories of {', '.join(c.name for c in need_categories)}"
            )

    if budget.point_masses_noise_multiplier > 0:  # heaps and decimals (tabular.heaps)
        accountant.add_gaussian_release(
            name="point masses",
            noise_multiplier=budget.point_masses_noise_multiplier,
            purpose="estimate",
        )
    # -- per-class histograms and class proportions -----------------------------------------
    accountant.add_gaussian_release(
        name="per-class histograms", noise_multiplier=sigma_h, purpose="estimate"
    )
    bins = config.histogram_bins or preprocess._auto_bins(n, n_classes, cell_std)
    proportion_noise = cell_std / (n / n_classes)
    if proportion_noise > PROPORTION_INFEASIBLE:
        reasons[INFEASIBLE].append(
            f"the class proportions of {target.name} are noise (noise std "
            f"{proportion_noise:.0%} of a class's count)"
        )
    elif proportion_noise > PROPORTION_MARGINAL:
        reasons[MARGINAL].append(
            f"the class proportions of {target.name} are noisy (noise std "
            f"{proportion_noise:.0%} of a class's count)"
        )
    columns: dict[str, dict[str, Any]] = {}
    for spec in features:
        if spec.is_numeric:
            # undeclared bounds: a placeholder range (the number of cells is what counts)
            lo = spec.minimum if spec.has_bounds and spec.minimum is not None else 0.0
            hi = spec.maximum if spec.has_bounds and spec.maximum is not None else 1.0
            cells = NumericLayout.build(
                column=spec.name,
                kind=spec.kind,
                minimum=float(lo),
                maximum=float(hi),
                nullable=spec.nullable,
                bins=bins,
            ).n_cells
        else:
            declared = spec.declared_categories()
            cells = (len(declared) if declared is not None else 2) + int(spec.nullable)
        per_cell = n / cells
        columns[spec.name] = {"cells": cells, "per_cell": per_cell, "snr": per_cell / cell_std}
    noisy = [k for k, c in columns.items() if c["snr"] < CELL_SNR_INFEASIBLE]
    coarse = [k for k, c in columns.items() if k not in noisy and c["snr"] < CELL_SNR_MARGINAL]
    if noisy:
        reasons[INFEASIBLE].append(
            f"the histograms of {', '.join(noisy)} are more noise than records "
            f"(noise std {cell_std:.3g} per cell)"
        )
    if coarse:
        reasons[MARGINAL].append(
            f"the histograms of {', '.join(coarse)} are noisy (noise std {cell_std:.3g} per cell)"
        )
    if noisy or coarse or proportion_noise > PROPORTION_MARGINAL:
        suggestions.append(
            f"fewer columns (the cell noise grows with the square root of the {len(features) + 1} "
            "histograms)"
        )

    # -- DP-SGD, with the trainer's calibration ---------------------------------------------
    assert resolved.batch_size is not None and resolved.steps is not None
    sample_rate = min(1.0, resolved.batch_size / n)
    noise_multiplier: float | None
    try:
        noise_multiplier = calibrate_noise_multiplier(
            target_epsilon=epsilon,
            delta=accountant.rdp_delta(delta),
            sample_rate=sample_rate,
            steps=resolved.steps,
            prior_history=accountant.release_history,
        )
    except PrivacyParameterError as exc:
        noise_multiplier = None
        reasons[INFEASIBLE].append(f"DP-SGD: {exc}")
    if noise_multiplier is not None:
        sgd = noise_multiplier / resolved.batch_size
        if sgd > SGD_NOISE_INFEASIBLE:
            reasons[INFEASIBLE].append(
                f"DP-SGD updates are noise (noise multiplier {noise_multiplier:.3g} on a batch "
                f"of {resolved.batch_size})"
            )
        elif sgd > SGD_NOISE_MARGINAL:
            reasons[MARGINAL].append(
                f"DP-SGD is noisy (noise multiplier {noise_multiplier:.3g} on a batch of "
                f"{resolved.batch_size})"
            )

    verdict = INFEASIBLE if reasons[INFEASIBLE] else MARGINAL if reasons[MARGINAL] else FEASIBLE
    count_is_noise = record_count.noise_std > COUNT_NOISE_INFEASIBLE * n
    if count_is_noise:
        verdict = INFEASIBLE
        reasons[INFEASIBLE].insert(
            0,
            f"the DP record count is noise (N-hat {n}, noise std {record_count.noise_std:.3g}): "
            "the batch size and sample rate chosen from it are arbitrary",
        )
    elif verdict == INFEASIBLE and record_count.noise_std > 0 and suggest:
        room = replace(record_count, value=round(n + COUNT_ROOM_STDS * record_count.noise_std))
        at_room = estimate(
            schema,
            epsilon=epsilon,
            delta=delta,
            record_count=room,
            config=config,
            max_steps=max_steps,
            suggest=False,
        )
        if at_room.verdict != INFEASIBLE:
            verdict = MARGINAL
            reasons[MARGINAL].append(
                f"infeasible at the DP record count {n}, not at {room.value} (its noise std is "
                f"{record_count.noise_std:.3g})"
            )
    if verdict != FEASIBLE and suggest:
        better = _epsilon_that_helps(
            schema,
            epsilon=epsilon,
            delta=delta,
            record_count=record_count,
            config=config,
            max_steps=max_steps,
        )
        if better is not None:
            suggestions.insert(0, f"epsilon >= {better:g} would make the estimate feasible")
        if record_count.source == DP_ESTIMATE:
            suggestions.append(
                "declare public_record_count (no budget on the count, and a noiseless N)"
            )
    return FeasibilityEstimate(
        verdict=verdict,
        reasons=reasons[INFEASIBLE] + reasons[MARGINAL],
        suggestions=list(dict.fromkeys(suggestions)),
        n_records=n,
        record_count_source=record_count.source,
        record_count_noise_std=record_count.noise_std,
        record_count_share=record_count.epsilon_share,
        epsilon=epsilon,
        delta=delta,
        cell_noise_std=cell_std,
        discovery_noise_std=discovery_std,
        noise_multiplier=noise_multiplier,
        batch_size=resolved.batch_size,
        steps=resolved.steps,
        columns=columns,
    )


def _epsilon_that_helps(
    schema: Schema,
    *,
    epsilon: float,
    delta: float,
    record_count: RecordCount,
    config: TabularTrainingConfig,
    max_steps: int | None,
) -> float | None:
    """The smallest of a few multiples of ``epsilon`` whose estimate is feasible (the same
    record count: a suggestion, not a promise)."""
    for factor in EPSILON_STEPS:
        candidate = float(f"{epsilon * factor:.2g}")
        # a DP count drawn at that epsilon would be less noisy (its std scales as 1/epsilon)
        count = replace(record_count, noise_std=record_count.noise_std * epsilon / candidate)
        try:
            found = estimate(
                schema,
                epsilon=candidate,
                delta=delta,
                record_count=count,
                config=config,
                max_steps=max_steps,
                suggest=False,
            )
        except PrivacyParameterError:
            continue
        if found.verdict == FEASIBLE:
            return candidate
    return None


def enforce(found: FeasibilityEstimate, *, accept: bool) -> None:
    """Raise ``Infeasible`` unless the steward accepted it; a marginal estimate warns."""
    import warnings

    if found.verdict == INFEASIBLE and not accept:
        raise Infeasible(
            found.summary() + " (to go ahead anyway: --force, or accept_infeasible)", found
        )
    if found.verdict != FEASIBLE:
        for reason in found.reasons:
            warnings.warn(f"feasibility ({found.verdict}): {reason}", stacklevel=2)
