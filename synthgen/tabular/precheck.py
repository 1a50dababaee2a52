"""``synthgen train --check-only``: the feasibility estimate without training.

With a declared record count (the schema's ``public_record_count`` or
``--public-record-count``) nothing is read beyond the schema and nothing is spent. Without
one, the estimate needs N: the source is read and split as training would, and the DP
record count is drawn (its share of epsilon, ``record_count_share``) and recorded in a
spend log of its own private directory (``MODEL_DIR.feasibility.private``, or
``--private-dir``). That count is spent: a later training run draws its own, so declare
the record count where you can.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

from synthgen import artifacts
from synthgen.errors import InsufficientData, OutputError
from synthgen.privacy.record_count import declared_record_count, estimate_record_count
from synthgen.privacy.secure_random import NoiseSource
from synthgen.privacy.spend_log import SPEND_LOG, JournaledAccountant, SpendLog
from synthgen.requests import TrainRequest
from synthgen.tabular import train
from synthgen.tabular.config import TabularTrainingConfig
from synthgen.tabular.conform import conform
from synthgen.tabular.feasibility import FeasibilityEstimate, estimate


@dataclass(frozen=True)
class Check:
    estimate: FeasibilityEstimate
    spend_log: Path | None  # where the DP count is recorded; None: nothing spent


def check_private_dir(request: TrainRequest) -> Path:
    return request.private_dir or request.out.with_name(request.out.name + ".feasibility.private")


def check_tabular(request: TrainRequest) -> Check:
    config = TabularTrainingConfig().with_overrides(request.config_overrides())
    config.validate()
    schema = train._load_schema(request.table_schema, request.source, request.target)
    if config.public_record_count is not None:
        schema = replace(schema, public_record_count=config.public_record_count)
    epsilon, holdout = request.epsilon, request.holdout
    spend_log = None
    if schema.public_record_count is not None or not math.isfinite(epsilon):
        declared = schema.public_record_count or 1
        count = declared_record_count(max(1, round(declared * (1 - holdout))))
    else:
        table = conform(train._read_source(request.source, schema), schema)
        if len(table) < train.MIN_ROWS:
            raise InsufficientData(
                f"the source has {len(table)} rows; at least {train.MIN_ROWS} are needed"
            )
        train_df, _ = train.record_split(table, holdout, request.seed)
        private = check_private_dir(request)
        if private.exists() and any(private.iterdir()):
            raise OutputError(f"private directory {private} exists already and is not empty")
        artifacts.make_private_dir(private)
        accountant = JournaledAccountant(SpendLog(private / SPEND_LOG))
        count = estimate_record_count(
            len(train_df),
            epsilon=epsilon,
            delta=request.delta,
            accountant=accountant,
            noise=NoiseSource(secure=config.secure_rng),
            share=config.record_count_share,
        )
        artifacts.write_json(private / artifacts.ACCOUNTANT, accountant.state_dict(), private=True)
        spend_log = private / SPEND_LOG
    found = estimate(
        schema,
        epsilon=epsilon,
        delta=request.delta,
        record_count=count,
        config=config,
        max_steps=request.max_steps,
    )
    return Check(found, spend_log)
