"""The only module that imports Great Expectations (GE 1.x).

GE's API has changed shape between major versions (0.x data contexts and validators, 1.x
suites, batch definitions and validation definitions); keeping every call in this file
means an upgrade touches one place. The rest of synthgen describes expectations as plain
``ExpectationSpec`` objects (``synthgen.tabular.expectation_spec``) and gets back plain
dicts.

GE is imported lazily, inside ``run_expectations`` (the import takes 3-14 s), always with
an ephemeral context (nothing is written to disk, no ``gx/`` folder is looked for) and with
progress bars off. Results are reduced to counts: GE's ``partial_unexpected_list`` holds
real values and never leaves this module.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from synthgen.tabular.expectation_spec import ExpectationSpec

_GE_NAMES = {
    "columns_match": "ExpectTableColumnsToMatchSet",
    "columns_in_order": "ExpectTableColumnsToMatchOrderedList",
    "row_count": "ExpectTableRowCountToBeBetween",
    "of_type": "ExpectColumnValuesToBeOfType",
    "between": "ExpectColumnValuesToBeBetween",
    "in_set": "ExpectColumnValuesToBeInSet",
    "not_null": "ExpectColumnValuesToNotBeNull",
    "pair_a_at_least_b": "ExpectColumnPairValuesAToBeGreaterThanB",
    "pair_in_set": "ExpectColumnPairValuesToBeInSet",
}
# checked by synthgen itself (synthgen.tabular.constraint_expectations says why): the name
# the report shows, marked so that nobody looks for it in GE's gallery
_CUSTOM_NAMES = {
    "custom_formula": "synthgen: formula holds",
    "custom_combinations": "synthgen: combinations in set",
}
# GE's pandas implementation of these checks iterates over rows (``iterrows``)
_ROW_BY_ROW = frozenset({"pair_in_set"})
_KEPT_RESULT_KEYS = ("element_count", "unexpected_count", "missing_count", "unexpected_percent")


def ge_expectation_type(kind: str) -> str:
    """GE's class name for one of our expectation kinds (shown in the report); synthgen's
    own name for a check GE has no expectation for."""
    return _CUSTOM_NAMES[kind] if kind in _CUSTOM_NAMES else _GE_NAMES[kind]


def _quiet_great_expectations() -> None:
    """GE sets some of its module loggers to INFO explicitly (e.g. one that announces a
    temporary docs site for every ephemeral context): silence them all below ERROR."""
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if name.startswith("great_expectations") and isinstance(logger, logging.Logger):
            logger.setLevel(logging.ERROR)


def run_expectations(frame: pd.DataFrame, specs: Sequence[ExpectationSpec]) -> list[dict[str, Any]]:
    """Validate ``frame`` against ``specs``; one dict per spec, in the order given:
    ``success``, ``raised`` (GE could not evaluate it), counts, and ``observed`` (a dtype
    name or the list of column names, never a cell value), ``missing``/``unexpected``
    column names for the column-set check."""
    from synthgen.extras import require

    gx = require("great_expectations", feature="the schema contract (Great Expectations)")
    from great_expectations.data_context.types.base import ProgressBarsConfig

    if any(spec.custom for spec in specs):
        raise ValueError("custom expectations are checked by synthgen, not passed to GE")

    _quiet_great_expectations()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    results: list[dict[str, Any]] = [{} for _ in specs]
    whole = [i for i, spec in enumerate(specs) if spec.kind not in _ROW_BY_ROW]
    _validate(gx, context, "table", frame, {i: specs[i] for i in whole}, results, "BASIC")
    for i, spec in enumerate(specs):
        if spec.kind in _ROW_BY_ROW:
            results[i] = _validate_distinct_rows(gx, context, i, frame, spec)
    return results


def _expectation(spec: ExpectationSpec, index: int) -> Any:
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    cls = getattr(gxe, _GE_NAMES[spec.kind])
    kwargs = dict(spec.params)
    if spec.column is not None:
        kwargs["column"] = spec.column
    if spec.only_where is not None:  # a condition object, not a query string to parse
        where, values = spec.only_where
        kwargs["row_condition"] = Column(where).is_in(list(values))
    return cls(**kwargs, meta={"synthgen_index": index})


def _validate(
    gx: Any,
    context: Any,
    name: str,
    frame: pd.DataFrame,
    specs: dict[int, ExpectationSpec],
    results: list[dict[str, Any]],
    result_format: Any,
) -> dict[int, dict[str, Any]]:
    """Run ``specs`` (by their index in the caller's list) on ``frame`` as one suite;
    writes each reduced result into ``results`` and returns GE's raw results by index."""
    batch = (
        context.data_sources.add_pandas(name=f"memory_{name}")
        .add_dataframe_asset(name=name)
        .add_batch_definition_whole_dataframe("whole_table")
    )
    suite = context.suites.add(gx.ExpectationSuite(name=f"contract_{name}"))
    for i, spec in specs.items():
        suite.add_expectation(_expectation(spec, i))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"contract_{name}", data=batch, suite=suite)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = definition.run(batch_parameters={"dataframe": frame}, result_format=result_format)
    raws: dict[int, dict[str, Any]] = {}
    for r in outcome.results:
        config = r.expectation_config
        if config is None or not config.meta or "synthgen_index" not in config.meta:
            continue  # not one of ours; cannot happen with the suite built above
        i = int(config.meta["synthgen_index"])
        raw = dict(r.result or {})
        raws[i] = raw
        entry: dict[str, Any] = {"success": bool(r.success), "raised": _raised(r.exception_info)}
        for key in _KEPT_RESULT_KEYS:
            if raw.get(key) is not None:
                entry[key] = float(raw[key]) if key == "unexpected_percent" else int(raw[key])
        observed = raw.get("observed_value")
        if isinstance(observed, str | int):
            entry["observed"] = observed
        elif isinstance(observed, list) and specs[i].column is None:
            entry["observed"] = [str(c) for c in observed]  # column names
        details = raw.get("details")
        mismatched = details.get("mismatched") if isinstance(details, dict) else None
        if isinstance(mismatched, dict):  # the column-set check; the ordered check gives a list
            for key in ("missing", "unexpected"):
                if mismatched.get(key):
                    entry[key] = [str(c) for c in mismatched[key]]
        results[i] = entry
    return raws


def _validate_distinct_rows(
    gx: Any, context: Any, index: int, frame: pd.DataFrame, spec: ExpectationSpec
) -> dict[str, Any]:
    """A row-by-row expectation run on the distinct combinations of the columns it reads
    (GE's pandas pair-set check iterates rows: 100,000 rows took ~9 s, the few hundred
    distinct pairs take milliseconds). GE still judges every combination; its verdict is
    spread back over the rows holding each, so the counts are rows, as for the others."""
    considered = np.ones(len(frame), dtype=bool)
    if spec.only_where is not None:  # applied here: GE's row condition on the small
        where, values = spec.only_where  # object frame below lets null rows through
        considered = frame[where].isin(list(values)).to_numpy()
        spec = dataclasses.replace(spec, only_where=None)
    sub = frame.loc[considered, [spec.params["column_A"], spec.params["column_B"]]]
    group = sub.groupby(list(sub.columns), dropna=False, sort=False).ngroup().to_numpy()
    first = pd.Series(np.arange(len(sub))).groupby(group).min().to_numpy()
    distinct = sub.iloc[first].reset_index(drop=True).astype(object)  # row g: group g
    distinct = distinct.where(distinct.notna(), None)  # GE cannot serialise pd.NA in a result
    results: list[dict[str, Any]] = [{}]
    raws = _validate(
        gx,
        context,
        f"distinct_{index}",
        distinct,
        {0: spec},
        results,
        {"result_format": "COMPLETE"},
    )
    entry = results[0]
    if entry.get("raised") or 0 not in raws:
        return entry
    bad_groups = np.asarray(raws[0].get("unexpected_index_list") or [], dtype=np.int64)
    entry["element_count"] = int(considered.sum())
    entry["unexpected_count"] = int(np.isin(group, bad_groups).sum())
    entry.pop("missing_count", None)
    entry.pop("unexpected_percent", None)
    return entry


def _raised(info: Any) -> bool:
    if not isinstance(info, dict):
        return False
    if info.get("raised_exception"):
        return True
    return any(isinstance(v, dict) and v.get("raised_exception") for v in info.values())
