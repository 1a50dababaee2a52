"""``train_tabular``: from a source table to a model directory with its DP certificate.

Order matters for privacy: the input is read and checked against the schema, split, and
only then does anything that spends budget run (the DP statistics, then DP-SGD). Bad
input costs nothing. Budget spent before a failure is recorded in the private directory
(``accountant.json``) and the private directory is kept; otherwise it is removed.
"""

from __future__ import annotations

import math
import shutil
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from synthgen import artifacts
from synthgen.errors import (
    ConfigurationError,
    InsufficientData,
    OutputError,
    PrivacyParameterError,
    ResumeRefused,
    SchemaError,
)
from synthgen.privacy.accountant import RunAccountant, check_privacy_parameters
from synthgen.privacy.certificate import (
    Certificate,
    CertifiedRun,
    build_certificate,
)
from synthgen.privacy.contribution import (
    DEFAULT_MAX_RECORDS_PER_ENTITY,
    bound_contributions,
    group_records,
    record_weights,
)
from synthgen.privacy.record_count import (
    RecordCount,
    declared_training_count,
    estimate_record_count,
)
from synthgen.privacy.record_split import holdout_mask
from synthgen.privacy.secure_random import NoiseSource
from synthgen.privacy.spend_log import SPEND_LOG, JournaledAccountant, SpendLog, restore_accountant
from synthgen.progress import ProgressCallback, ProgressEvent, StopCheck, ignore_progress
from synthgen.requests import TrainRequest
from synthgen.tabular import feasibility
from synthgen.tabular import resume as resume_checks
from synthgen.tabular.budget_split import plan_for_schema
from synthgen.tabular.config import TabularTrainingConfig
from synthgen.tabular.conform import conform
from synthgen.tabular.constraints import ConstraintSet, drop_broken_rows
from synthgen.tabular.draft import draft_schema
from synthgen.tabular.expectations import check_source_table
from synthgen.tabular.io import read_table
from synthgen.tabular.model import TabularModel
from synthgen.tabular.preprocess import TabularStatistics, category_cell_key, estimate_statistics
from synthgen.tabular.schema import ColumnSpec, Schema

MIN_ROWS = 50
PREPROCESSING_STATE = resume_checks.PREPROCESSING_STATE


def train_tabular(
    request: TrainRequest,
    *,
    progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
) -> artifacts.TrainingResult:
    """Train on ``request.source`` (a CSV/Parquet file or a DataFrame) and write the model
    directory ``request.out``; ``request`` was validated when it was built."""
    from synthgen.training.distributed import refuse_torchrun_helper

    refuse_torchrun_helper()  # before anything is read or spent
    progress = progress or ignore_progress
    source, out, epsilon, delta = request.source, request.out, request.epsilon, request.delta
    seed, max_steps, holdout, resume = (
        request.seed,
        request.max_steps,
        request.holdout,
        request.resume,
    )
    target, schema, overrides = request.target, request.table_schema, request.config_overrides()
    private = request.private_dir or artifacts.default_private_dir(out)
    artifacts.check_new_output(out)
    config = TabularTrainingConfig().with_overrides(overrides)
    config.validate()

    progress(ProgressEvent("check", 0, 1, message="reading the source"))
    schema_obj = _load_schema(schema, source, target)
    if request.entity is not None:
        schema_obj = schema_obj.with_entity(request.entity)
    entity = schema_obj.entity.name if schema_obj.entity is not None else None
    max_records = request.max_records_per_entity or DEFAULT_MAX_RECORDS_PER_ENTITY
    if entity is None and (
        request.max_records_per_entity is not None or request.public_entity_count is not None
    ):
        raise ConfigurationError(
            "--max-records-per-entity and --public-entity-count need an entity column "
            "(--entity COLUMN or `role: entity` in the schema)"
        )
    if config.public_record_count is not None:  # the option wins over the schema's key
        schema_obj = replace(schema_obj, public_record_count=config.public_record_count)
    table = _read_source(source, schema_obj)
    conformed = conform(table, schema_obj)
    check_source_table(table, schema_obj)  # the schema's Great Expectations suite, as read
    # real rows that break a declared constraint are dropped, never learnt; how many is
    # exact and private (the private provenance only); the DP record count comes later
    keeps_constraints, broken_counts = drop_broken_rows(
        conformed, ConstraintSet.of(schema_obj.constraints, schema_obj.columns)
    )
    conformed = conformed[keeps_constraints].reset_index(drop=True)
    if entity is not None:
        # patient-level: the patient id travels with its rows (never synthesised: the
        # schema's entity role), and at most max_records rows per patient are kept, chosen
        # at random independently of the values (synthgen.privacy.contribution)
        if entity not in table.columns:
            raise SchemaError(f"the entity column {entity!r} is not in the source")
        ids = table[entity].to_numpy()[keeps_constraints]
        if pd.isna(ids).any():
            raise SchemaError(f"the entity column {entity!r} has missing values")
        conformed[entity] = ids
        declared_patients = request.public_entity_count
        if declared_patients is not None and pd.Series(ids).nunique() > declared_patients:
            raise SchemaError(
                "the source has more patients than the declared public_entity_count, which "
                "must be the number of patients or an upper bound on it"
            )
        keep = bound_contributions(
            _entity_keys(conformed[entity]), max_records=max_records, seed=seed
        )
        conformed = conformed[keep].reset_index(drop=True)
    if len(conformed) < MIN_ROWS:
        raise InsufficientData(
            f"the source has {len(conformed)} rows; at least {MIN_ROWS} are needed"
        )
    declared = schema_obj.public_record_count
    if declared is not None and len(conformed) > declared:
        raise SchemaError(
            "the source has more rows than the declared public_record_count, which must be the "
            "source's record count or an upper bound on it"
        )

    created_private = False
    # -- resume integrity (synthgen/tabular/resume.py) --------------------------------------
    parameters = resume_checks.run_parameters(
        request,
        target=schema_obj.target.name if schema_obj.target else None,
        schema_sha256=schema_obj.hash(),
    )
    if entity is not None:
        parameters |= {"entity": entity, "max_records_per_entity": max_records}
    if resume:
        resume_checks.check_resumable(private, parameters)
        accountant = restore_accountant(private)  # refused without its spend log
        train_df = pd.read_parquet(private / "train.parquet")
        n_holdout = (
            len(pd.read_parquet(private / "holdout.parquet"))
            if (private / "holdout.parquet").exists()
            else 0
        )
    else:
        if private.exists() and any(private.iterdir()):
            raise OutputError(
                f"private directory {private} exists already and is not empty; use --resume or another --out"
            )
        train_df, holdout_df = record_split(conformed, holdout, seed, entity=entity)
        _check_classes(train_df, schema_obj)
        artifacts.make_private_dir(private)
        created_private = True
        for name, part in (("train.parquet", train_df), ("holdout.parquet", holdout_df)):
            part.to_parquet(private / name, index=False)
            artifacts.restrict_private(private / name)
        n_holdout = len(holdout_df)
        if holdout == 0:
            warnings.warn(
                "--holdout 0: the privacy and utility checks of `synthgen validate` cannot run without a holdout",
                stacklevel=2,
            )
    # ----------------------------------------------------------------------------------------

    n_train = len(train_df)  # exact: written to the private directory only
    # the unit of privacy: a record, or a patient with all their records (exact, private)
    train_keys = _entity_keys(train_df[entity]) if entity is not None else None
    n_units = len(group_records(train_keys)) if train_keys is not None else n_train
    private_run = math.isfinite(epsilon)
    if private_run and delta is not None:
        # an explicit delta must stay below 1/N: refused before anything is spent (an error
        # for the steward; nothing computed from the exact N is released)
        try:
            check_privacy_parameters(epsilon=epsilon, delta=float(delta), n_records=n_units)
        except Exception:
            if created_private:
                shutil.rmtree(private, ignore_errors=True)
            raise
    # -- from here on, privacy budget is spent: the record count first ------------------------
    # every mechanism goes to the append-only spend log before its result is used; a
    # resumed run's accountant is rebuilt from that log (resume.py)
    noise = NoiseSource(secure=config.secure_rng)
    state_path = private / artifacts.CHECKPOINT_DIR / PREPROCESSING_STATE
    saved_stats: dict[str, Any] | None = None
    if resume:  # the saved DP statistics, never recomputed (check_resumable made sure)
        saved_stats = artifacts.read_json(state_path)
    else:
        accountant = JournaledAccountant(SpendLog(private / SPEND_LOG))
    try:
        record_count = _public_record_count(
            saved_stats,
            schema_obj,
            n_train=n_units,
            holdout=holdout,
            patients=entity is not None,
            public_entity_count=request.public_entity_count,
            epsilon=epsilon,
            delta=delta,
            accountant=accountant,
            noise=noise,
            share=config.record_count_share,
        )
    finally:  # a drawn count is spent, whatever follows
        if accountant.releases:
            artifacts.write_json(
                private / artifacts.ACCOUNTANT, accountant.state_dict(), private=True
            )
    delta = record_count.default_delta() if delta is None else float(delta)
    try:
        if private_run:
            check_privacy_parameters(epsilon=epsilon, delta=delta)
        elif not 0 < delta < 1:
            raise PrivacyParameterError(f"delta must be in (0, 1), got {delta!r}")
        config = config.resolve(n_records=record_count.value, epsilon=epsilon, max_steps=max_steps)
        if private_run:  # the share bought by what the schema leaves to discover
            budget = plan_for_schema(
                schema_obj,
                epsilon=epsilon,
                delta=delta,
                record_count=record_count.value,
                share=config.preprocessing_share,
            )
            config = replace(config, preprocessing_share=budget.share)
        if private_run and saved_stats is None:  # before the statistics spend anything
            found = feasibility.estimate(
                schema_obj, epsilon=epsilon, delta=delta, record_count=record_count, config=config
            )
            feasibility.enforce(found, accept=bool(request.accept_infeasible))
    except Exception:
        if created_private and not accountant.releases:
            shutil.rmtree(private, ignore_errors=True)
        raise

    progress(ProgressEvent("preprocess", 0, 1, message="DP statistics"))
    if saved_stats is not None:
        stats = TabularStatistics.from_dict(saved_stats)
    else:
        try:
            stats = estimate_statistics(
                train_df,
                schema_obj,
                epsilon=epsilon,
                delta=delta,
                preprocessing_share=config.preprocessing_share,
                accountant=accountant,
                noise=noise,
                histogram_bins=config.histogram_bins,
                record_count=record_count,
                weights=record_weights(train_keys) if train_keys is not None else None,
            )
        finally:  # what was released is spent, even if the statistics turned out unusable
            artifacts.write_json(
                private / artifacts.ACCOUNTANT, accountant.state_dict(), private=True
            )
        # the first checkpoint, before any DP-SGD step: a run interrupted from here on
        # resumes with these statistics instead of drawing fresh noise
        resume_checks.write_first_checkpoint(
            private, parameters=parameters, statistics=stats.to_dict(), accountant=accountant
        )
    progress(ProgressEvent("preprocess", 1, 1, accountant.epsilon(delta) if private_run else 0.0))

    import torch

    from synthgen.tabular import trainer
    from synthgen.tabular.model import build_networks

    torch.manual_seed(seed)
    encoder, diffusion, denoiser = build_networks(stats, config)
    encoded = encoder.encode(train_df)
    examples: Any = encoded
    if train_keys is not None:  # one example per patient (synthgen.tabular.entity_table)
        from synthgen.tabular.entity_table import EntityTable

        # encode drops rows whose label is not a released class: group the rows it kept
        known = {category_cell_key(c) for c in stats.classes}
        labels = train_df[stats.target].tolist()
        used = [
            key for key, v in zip(train_keys, labels, strict=True) if category_cell_key(v) in known
        ]
        examples = EntityTable(encoded, group_records(used))
    outcome = trainer.train(
        examples,
        diffusion,
        denoiser,
        config=config,
        epsilon=epsilon,
        delta=delta,
        accountant=accountant,
        seed=seed,
        private_dir=private,
        progress=progress,
        should_stop=should_stop,
        resume=resume,
        record_count=record_count.value,
        processes=request.processes or 1,
    )

    progress(ProgressEvent("save", 0, 1, accountant.epsilon(delta) if private_run else 0.0))
    model = TabularModel(stats, outcome.ema, config)  # type: ignore[arg-type]
    progress(
        ProgressEvent(
            "save", 0, 1, accountant.epsilon(delta) if private_run else 0.0, message="calibrating"
        )
    )
    model.calibrate(seed=seed)
    assumptions = (
        _no_schema_assumptions(schema_obj) if schema is None else _accepted_assumptions(schema_obj)
    )
    certificate = _certificate(
        accountant=accountant,
        config=config,
        epsilon=epsilon,
        delta=delta,
        outcome=outcome,
        record_count=record_count,
        schema=schema_obj,
        assumptions=assumptions,
        max_records=max_records,
    )
    source_path = Path(source) if not isinstance(source, pd.DataFrame) else None
    run_id = artifacts.new_run_id()
    artifacts.write_json(
        private / artifacts.PROVENANCE,
        artifacts.private_provenance(
            run_id=run_id,
            source=source_path,
            n_train=n_train,
            n_holdout=n_holdout,
            private_dir=private,
            extra={
                "modality": "tabular",
                "n_source": len(conformed),
                "n_training_rows_used": len(encoded),
                "n_training_patients": n_units if entity is not None else None,
                "rows_breaking_constraints": broken_counts,
            },
        ),
        private=True,
    )
    with artifacts.staged_directory(out) as staging:
        model.save(staging)
        _effective_schema(schema_obj, stats).save(staging / "schema.json")
        artifacts.write_json(staging / artifacts.ACCOUNTANT, accountant.state_dict())
        certificate.save(staging / artifacts.CERTIFICATE)
        artifacts.write_json(
            staging / artifacts.RUN,
            artifacts.run_record(
                run_id=run_id,
                schema_sha256=schema_obj.hash(),
                seed=seed,
                holdout_fraction=holdout,
                target=stats.target,
                extra={"modality": "tabular", "max_steps": max_steps},
            ),
        )
    resume_checks.mark_finished(private)
    progress(ProgressEvent("save", 1, 1, certificate.epsilon if private_run else 0.0))
    return artifacts.TrainingResult(model_dir=out, private_dir=private, certificate=certificate)


# -- inputs ----------------------------------------------------------------------------------------
def _load_schema(schema: Schema | str | Path | None, source: Any, target: str | None) -> Schema:
    if schema is None:
        raw = source if isinstance(source, pd.DataFrame) else read_table(source)
        warnings.warn(
            "no --schema: column names and kinds are read from the data without noise and treated "
            "as public (the certificate lists them under `assumptions`); bounds, categories and "
            "classes are estimated with DP",
            stacklevel=3,
        )
        drafted = draft_schema(raw)
        cols = [
            # only names, kinds and roles are taken unnoised; the rest (decimals too) by DP
            replace(c, minimum=None, maximum=None, categories=None, nullable=True, decimals=None)
            if c.role not in ("identifier", "entity")
            else c
            for c in drafted.columns
        ]
        schema_obj = Schema(columns=tuple(cols), name="inferred")
    elif isinstance(schema, Schema):
        schema_obj = schema
    else:
        schema_obj = Schema.load(schema)
    if schema_obj.draft:
        raise SchemaError(
            "the schema is a draft computed from the data (draft: true): review its bounds and "
            "categories, then set draft: false"
        )
    if target is not None:
        schema_obj = schema_obj.with_target(target)
    if schema_obj.target is None:
        raise SchemaError(
            "no target: pass --target COLUMN or mark a column `role: label` in the schema"
        )
    if not schema_obj.features:
        raise SchemaError("the schema has no feature columns besides the label")
    return schema_obj


def _read_source(source: Any, schema: Schema) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        # a slice of a larger frame keeps its index; the checks and conform align on it
        return source.reset_index(drop=True)
    return read_table(source, na_values=schema.na_values)


def _check_classes(train_df: pd.DataFrame, schema: Schema) -> None:
    label = schema.target
    assert label is not None
    if train_df[label.name].nunique(dropna=True) < 2:
        raise InsufficientData(f"the label {label.name!r} has a single class in the training data")


def _entity_keys(ids: pd.Series) -> list[bytes]:
    """The patient id of each row as bytes (the same id, the same key)."""
    return [str(category_cell_key(v)).encode() for v in ids.tolist()]


def record_split(
    df: pd.DataFrame, holdout: float, seed: int, *, entity: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and holdout, each row's side set by that row and the seed alone
    (``synthgen.privacy.record_split``): one row more or less never moves another. With an
    ``entity`` column the side is set by the patient id alone: all of a patient's rows go
    to the same side, and one patient more or less never moves another."""
    if holdout == 0:
        return df.reset_index(drop=True), df.iloc[:0].reset_index(drop=True)
    if entity is not None:
        held = holdout_mask(_entity_keys(df[entity]), fraction=holdout, seed=seed)
        return df[~held].reset_index(drop=True), df[held].reset_index(drop=True)
    columns = list(df.columns)
    keys = (
        "\x1f".join(
            f"{c}={category_cell_key(v)}" for c, v in zip(columns, row, strict=True)
        ).encode()
        for row in df.itertuples(index=False, name=None)
    )
    held = holdout_mask(keys, fraction=holdout, seed=seed)
    return df[~held].reset_index(drop=True), df[held].reset_index(drop=True)


def _public_record_count(
    saved_stats: dict[str, Any] | None,
    schema: Schema,
    *,
    n_train: int,
    holdout: float,
    epsilon: float,
    delta: float | None,
    accountant: RunAccountant,
    noise: NoiseSource,
    share: float,
    patients: bool = False,
    public_entity_count: int | None = None,
) -> RecordCount:
    """N-hat: the saved one on resume (never drawn twice), the schema's declared count, or
    a DP count released now, before anything is chosen from it. Patient-level runs
    (``patients``) count patients: the declared ``public_entity_count``, or a DP count (sensitivity 1
    under add/remove one patient); the schema's public_record_count counts records and is
    not used for them."""
    if saved_stats is not None:
        if saved_stats.get("record_count") is None:
            raise ResumeRefused(
                "the saved DP statistics of this run have no record count; start a new run"
            )
        return RecordCount.from_dict(saved_stats["record_count"])
    declared, what = (
        (public_entity_count, "public_entity_count")
        if patients
        else (schema.public_record_count, "public_record_count")
    )
    if declared is not None and math.isfinite(epsilon):
        return declared_training_count(declared, training_share=1 - holdout, what=what)
    return estimate_record_count(
        n_train,
        epsilon=epsilon,
        delta=delta,
        accountant=accountant,
        noise=noise,
        share=share,
        purpose="number of training patients" if patients else "number of training records",
    )


# -- outputs ---------------------------------------------------------------------------------------
def _effective_schema(schema: Schema, stats: TabularStatistics) -> Schema:
    """The schema as the model uses it: declared values, plus DP estimates (public too)."""
    numeric = {layout.column: layout for layout in stats.numeric}
    categorical = {layout.column: layout for layout in stats.categorical}
    cols: list[ColumnSpec] = []
    for c in schema.columns:
        if c.name in numeric:
            lay = numeric[c.name]
            c = replace(c, minimum=lay.minimum, maximum=lay.maximum)
        elif c.name in categorical and c.kind == "categorical":
            cats = tuple(v for v in categorical[c.name].categories if v is not None)
            c = replace(c, categories=cats)
        elif c.name == stats.target and c.kind == "categorical":
            c = replace(c, categories=tuple(stats.classes))
        cols.append(c)
    notes = tuple(f"{what}: estimated with differential privacy" for what in stats.estimated)
    return Schema(
        columns=tuple(cols),
        name=schema.name,
        na_values=schema.na_values,
        notes=notes,
        constraints=schema.constraints,
    )


def _no_schema_assumptions(schema: Schema) -> list[dict[str, Any]]:
    """What a run without a schema read from the data without noise and ships anyway: the
    column names, kinds and roles. Named on the certificate as accepted by the steward (one
    added row with a new value can flip a column's kind)."""
    return [
        {
            "name": "column names, kinds and roles",
            "read_from": "the source table, without noise (no --schema was given)",
            "accepted_by": "the data steward, by training without a schema",
            "values": {c.name: {"kind": c.kind, "role": c.role} for c in schema.columns},
            # where they show: the schema and its hash, the layout of the statistics, the
            # calibration and the weights, and the names of the releases ("bounds of", "categories of")
            "shipped_keys": [
                "schema.json",
                "run.json.schema_sha256",
                "config.json",
                "preprocessing.json",
                "calibration.json",
                "model.safetensors",
                "accountant.json.releases",
                "certificate.json.mechanisms",
                "certificate.json.accountant_history.releases",
            ],
        }
    ]


def _accepted_assumptions(schema: Schema) -> list[dict[str, Any]]:
    """Schema values a draft read from the records and a steward accepted as public
    (the service's schema review): named on the certificate with who accepted them, when."""
    return [
        {
            "name": "schema values drawn from the data: " + ", ".join(entry["values"]),
            "read_from": "the source table, without noise (a schema drafted from it)",
            "accepted_by": f"{entry['by']} at {entry['at']}",
            "values": list(entry["values"]),
            "shipped_keys": ["schema.json", "preprocessing.json", "model.safetensors"],
        }
        for entry in schema.public_from_data
        if entry["values"]
    ]


def _certificate(
    *,
    accountant: RunAccountant,
    config: TabularTrainingConfig,
    epsilon: float,
    delta: float,
    outcome: Any,
    record_count: RecordCount,
    schema: Schema,
    assumptions: list[dict[str, Any]],
    max_records: int,
) -> Certificate:
    private = math.isfinite(epsilon)
    entity = schema.entity.name if schema.entity is not None else None
    notes = (
        [
            "rows are the unit of privacy: a person with several rows is protected with group "
            "privacy (k*epsilon for k rows, and a delta that grows as k e^((k-1) epsilon) delta: see "
            "`per_patient_group_privacy`); declare the patient column "
            "(`role: entity` or --entity) for patient-level privacy"
        ]
        if entity is None
        else [
            f"patients ({entity}) are the unit of privacy: neighbouring datasets differ by one "
            f"patient with all their records; at most {max_records} records per patient were "
            "kept (chosen at random), each patient's gradient was clipped once per step, and "
            "each record weighs 1/(its patient's records) in the DP statistics; "
            "n_training_records counts patients"
        ]
    )
    later = []
    if accountant.threshold_delta:
        later.append(
            f"delta includes {accountant.threshold_delta:.3g} for partition selection of discovered categories"
        )
    if not private:
        later.append(
            "NOT PRIVATE: trained without differential privacy (benchmark only); never release"
        )
    return build_certificate(
        accountant,
        CertifiedRun(
            modality="tabular",
            unit="record" if entity is None else "patient",
            unit_description=(
                "one row of the source table"
                if entity is None
                else f"one patient (all rows sharing a value of {entity})"
            ),
            entity_column=entity,
            max_records_per_entity=max_records if entity is not None else None,
            private=private,
            delta=delta,
            target_epsilon=epsilon,
            noise_multiplier=outcome.noise_multiplier,
            sample_rate=outcome.sample_rate,
            steps=outcome.steps,
            max_grad_norm=config.max_grad_norm,
            noise_multiplicity=config.noise_multiplicity,
            secure_rng=config.secure_rng and private,
            record_count=record_count,
            assumptions=assumptions,
            notes=notes,
            later_notes=later,
            dp_sgd=(
                "DP-SGD",
                "subsampled Gaussian (Poisson sampling, per-example clipping)"
                if entity is None
                else "subsampled Gaussian (Poisson sampling of patients, per-patient clipping)",
            ),
            clipping={"clipping": "ghost (Opacus)"},
            world_size=outcome.world_size,
        ),
    )
