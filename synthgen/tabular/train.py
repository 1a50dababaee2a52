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

import numpy as np
import pandas as pd

from synthgen import __version__, artifacts
from synthgen.errors import (
    InsufficientData,
    OutputError,
    PrivacyParameterError,
    SchemaError,
)
from synthgen.privacy.accountant import (
    RunAccountant,
    check_privacy_parameters,
    default_delta,
    epsilon_for,
)
from synthgen.privacy.certificate import Certificate
from synthgen.privacy.secure_random import NoiseSource
from synthgen.privacy.spend_log import SPEND_LOG, JournaledAccountant, SpendLog
from synthgen.progress import ProgressCallback, ProgressEvent, StopCheck, ignore_progress
from synthgen.tabular import resume as resume_checks
from synthgen.tabular.config import TabularTrainingConfig
from synthgen.tabular.conform import conform
from synthgen.tabular.draft import draft_schema
from synthgen.tabular.io import read_table
from synthgen.tabular.model import TabularModel
from synthgen.tabular.preprocess import TabularStatistics, estimate_statistics
from synthgen.tabular.schema import ColumnSpec, Schema

MIN_ROWS = 50
PREPROCESSING_STATE = resume_checks.PREPROCESSING_STATE


def train_tabular(
    source: str | Path | pd.DataFrame,
    *,
    epsilon: float,
    out: str | Path,
    target: str | None = None,
    schema: Schema | str | Path | None = None,
    delta: float | None = None,
    seed: int = 0,
    max_steps: int | None = None,
    holdout: float = 0.2,
    private_dir: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
    resume: bool = False,
) -> artifacts.TrainingResult:
    progress = progress or ignore_progress
    out = Path(out)
    private = Path(private_dir) if private_dir is not None else artifacts.default_private_dir(out)
    _check_epsilon(epsilon)
    if not 0 <= holdout < 0.9:
        raise PrivacyParameterError(f"holdout must be in [0, 0.9), got {holdout}")
    artifacts.check_new_output(out)
    config = TabularTrainingConfig().with_overrides(overrides)
    config.validate()

    progress(ProgressEvent("check", 0, 1, message="reading the source"))
    schema_obj = _load_schema(schema, source, target)
    table = _read_source(source, schema_obj)
    conformed = conform(table, schema_obj)
    _check_source_contract(table, schema_obj)
    if len(conformed) < MIN_ROWS:
        raise InsufficientData(f"the source has {len(conformed)} rows; at least {MIN_ROWS} are needed")

    created_private = False
    # -- resume integrity (synthgen/tabular/resume.py) --------------------------------------
    parameters = resume_checks.run_parameters(
        epsilon=epsilon, delta=delta, max_steps=max_steps, seed=seed, holdout=holdout,
        target=schema_obj.target.name if schema_obj.target else None, overrides=overrides,
        schema_sha256=schema_obj.hash(),
        source=None if isinstance(source, pd.DataFrame) else Path(source),
    )
    if resume:
        resume_checks.check_resumable(private, parameters)
        train_df = pd.read_parquet(private / "train.parquet")
        n_holdout = len(pd.read_parquet(private / "holdout.parquet")) if (private / "holdout.parquet").exists() else 0
    else:
        if private.exists() and any(private.iterdir()):
            raise OutputError(f"private directory {private} exists already and is not empty; use --resume or another --out")
        train_df, holdout_df = stratified_split(conformed, schema_obj.target.name, holdout, seed)  # type: ignore[union-attr]
        _check_classes(train_df, schema_obj)
        artifacts.make_private_dir(private)
        created_private = True
        for name, part in (("train.parquet", train_df), ("holdout.parquet", holdout_df)):
            part.to_parquet(private / name, index=False)
            artifacts.restrict_private(private / name)
        n_holdout = len(holdout_df)
        if holdout == 0:
            warnings.warn("--holdout 0: the privacy and utility checks of `synthgen validate` cannot run without a holdout", stacklevel=2)
    # ----------------------------------------------------------------------------------------

    n_train = len(train_df)
    delta = default_delta(n_train) if delta is None else float(delta)
    private_run = math.isfinite(epsilon)
    try:
        if private_run:
            check_privacy_parameters(epsilon=epsilon, delta=delta, n_records=n_train)
        elif not 0 < delta < 1:
            raise PrivacyParameterError(f"delta must be in (0, 1), got {delta!r}")
        config = config.resolve(n_records=n_train, epsilon=epsilon, max_steps=max_steps)
    except Exception:
        if created_private:
            shutil.rmtree(private, ignore_errors=True)
        raise

    # -- from here on, privacy budget is spent ------------------------------------------------
    # every mechanism goes to the append-only spend log before its result is used; a
    # resumed run's accountant is rebuilt from that log (resume.py)
    progress(ProgressEvent("preprocess", 0, 1, message="DP statistics"))
    state_path = private / artifacts.CHECKPOINT_DIR / PREPROCESSING_STATE
    accountant: RunAccountant
    if resume:  # the saved DP statistics, never recomputed (check_resumable made sure)
        accountant = resume_checks.restored_accountant(private)
        stats = TabularStatistics.from_dict(artifacts.read_json(state_path))
    else:
        accountant = JournaledAccountant(SpendLog(private / SPEND_LOG))
        try:
            stats = estimate_statistics(
                train_df, schema_obj, epsilon=epsilon, delta=delta,
                preprocessing_share=config.preprocessing_share, accountant=accountant,
                noise=NoiseSource(secure=config.secure_rng), histogram_bins=config.histogram_bins,
            )
        finally:  # what was released is spent, even if the statistics turned out unusable
            artifacts.write_json(private / artifacts.ACCOUNTANT, accountant.state_dict(), private=True)
        # the first checkpoint, before any DP-SGD step: a run interrupted from here on
        # resumes with these statistics instead of drawing fresh noise
        resume_checks.write_first_checkpoint(private, parameters=parameters,
                                             statistics=stats.to_dict(), accountant=accountant)
    progress(ProgressEvent("preprocess", 1, 1, accountant.epsilon(delta) if private_run else 0.0))

    import torch

    from synthgen.tabular import trainer
    from synthgen.tabular.denoiser import MLPDenoiser
    from synthgen.tabular.diffusion.mixed import MixedDiffusion
    from synthgen.tabular.encoder import TableEncoder

    torch.manual_seed(seed)
    encoder = TableEncoder(stats)
    diffusion = MixedDiffusion(encoder)
    denoiser = MLPDenoiser(
        n_numeric=encoder.n_numeric, n_category_slots=encoder.category_slots,
        output_dim=encoder.output_dim, n_classes=len(stats.classes),
        width=config.hidden_width, n_blocks=config.n_blocks,
    )
    encoded = encoder.encode(train_df)
    outcome = trainer.train(
        encoded, diffusion, denoiser, config=config, epsilon=epsilon, delta=delta,
        accountant=accountant, seed=seed, private_dir=private, progress=progress,
        should_stop=should_stop, resume=resume,
    )

    progress(ProgressEvent("save", 0, 1, accountant.epsilon(delta) if private_run else 0.0))
    model = TabularModel(stats, outcome.ema, config)  # type: ignore[arg-type]
    progress(ProgressEvent("save", 0, 1, accountant.epsilon(delta) if private_run else 0.0, message="calibrating"))
    model.calibrate(seed=seed)
    certificate = _certificate(
        accountant=accountant, config=config, epsilon=epsilon, delta=delta, outcome=outcome,
        n_train=n_train, schema=schema_obj,
    )
    source_path = Path(source) if not isinstance(source, pd.DataFrame) else None
    with artifacts.staged_directory(out) as staging:
        model.save(staging)
        _effective_schema(schema_obj, stats).save(staging / "schema.json")
        artifacts.write_json(staging / artifacts.ACCOUNTANT, accountant.state_dict())
        certificate.save(staging / artifacts.CERTIFICATE)
        artifacts.write_json(staging / artifacts.RUN, artifacts.run_record(
            source=source_path, schema_sha256=schema_obj.hash(), seed=seed,
            holdout_fraction=holdout, n_train=n_train, n_holdout=n_holdout,
            private_dir=private, target=stats.target,
            extra={"modality": "tabular", "max_steps": max_steps},
        ))
    resume_checks.mark_finished(private)
    progress(ProgressEvent("save", 1, 1, certificate.epsilon if private_run else 0.0))
    return artifacts.TrainingResult(model_dir=out, private_dir=private, certificate=certificate)


# -- inputs ----------------------------------------------------------------------------------------
def _check_epsilon(epsilon: Any) -> None:
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float) or math.isnan(epsilon) or epsilon <= 0:
        raise PrivacyParameterError(f"epsilon must be a positive number (or inf for a non-private benchmark), got {epsilon!r}")


def _load_schema(schema: Schema | str | Path | None, source: Any, target: str | None) -> Schema:
    if schema is None:
        raw = source if isinstance(source, pd.DataFrame) else read_table(source)
        warnings.warn(
            "no --schema: column names and kinds are read from the data and treated as public; "
            "bounds, categories and classes are estimated with DP", stacklevel=3,
        )
        drafted = draft_schema(raw)
        cols = [replace(c, minimum=None, maximum=None, categories=None, nullable=True)
                if c.role not in ("identifier", "entity") else c for c in drafted.columns]
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
        raise SchemaError("no target: pass --target COLUMN or mark a column `role: label` in the schema")
    if not schema_obj.features:
        raise SchemaError("the schema has no feature columns besides the label")
    return schema_obj


def _read_source(source: Any, schema: Schema) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source
    return read_table(source, na_values=schema.na_values)


def _check_source_contract(table: pd.DataFrame, schema: Schema) -> None:
    """The Great Expectations suite built from the schema, on the source as read."""
    try:
        from synthgen.evaluate.expectations import check_source_table
    except ImportError:  # the evaluation extra is optional for library use
        return
    check_source_table(table, schema)


def _check_classes(train_df: pd.DataFrame, schema: Schema) -> None:
    label = schema.target
    assert label is not None
    if train_df[label.name].nunique(dropna=True) < 2:
        raise InsufficientData(f"the label {label.name!r} has a single class in the training data")


def stratified_split(df: pd.DataFrame, label: str, holdout: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded split keeping each class's share in both parts (each class rounds separately)."""
    if holdout == 0:
        return df.reset_index(drop=True), df.iloc[:0].reset_index(drop=True)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5B117]))
    keys = df[label].map(lambda v: str(v)).to_numpy()
    held = np.zeros(len(df), dtype=bool)
    for key in sorted(set(keys)):
        rows = np.flatnonzero(keys == key)
        k = round(holdout * len(rows))
        held[rng.choice(rows, size=k, replace=False)] = True
    return df[~held].reset_index(drop=True), df[held].reset_index(drop=True)


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
    return Schema(columns=tuple(cols), name=schema.name, na_values=schema.na_values, notes=notes)


def _certificate(*, accountant: RunAccountant, config: TabularTrainingConfig, epsilon: float,
                 delta: float, outcome: Any, n_train: int, schema: Schema) -> Certificate:
    private = math.isfinite(epsilon)
    unit = "one row of the source table"
    notes: list[str] = []
    if schema.entity is not None:
        notes.append(
            f"rows are the unit of privacy; a patient ({schema.entity.name}) with several rows is "
            "protected with group privacy only (epsilon grows with the number of their rows)"
        )
    if accountant.threshold_delta:
        notes.append(f"delta includes {accountant.threshold_delta:.3g} for partition selection of discovered categories")
    if not private:
        notes.append("NOT PRIVATE: trained without differential privacy (benchmark only); never release")
    mechanisms = [
        {"name": r["name"], "mechanism": "Gaussian", "noise_multiplier": r["noise_multiplier"], "purpose": r["purpose"]}
        for r in accountant.releases
    ]
    if private:
        mechanisms.append({
            "name": "DP-SGD", "mechanism": "subsampled Gaussian (Poisson sampling, per-example clipping)",
            "noise_multiplier": outcome.noise_multiplier, "sample_rate": outcome.sample_rate,
            "steps": accountant.sgd_steps, "max_grad_norm": config.max_grad_norm,
            "noise_multiplicity": config.noise_multiplicity, "clipping": "ghost (Opacus)",
        })
    rdp_delta = accountant.rdp_delta(delta) if private else delta
    return Certificate(
        epsilon=accountant.epsilon(delta) if private else math.inf,
        delta=delta,
        unit=unit,
        private=private,
        noise_multiplier=outcome.noise_multiplier,
        sample_rate=outcome.sample_rate,
        steps=accountant.sgd_steps if private else outcome.steps,
        max_grad_norm=config.max_grad_norm if private else None,
        noise_multiplicity=config.noise_multiplicity,
        accountant="rdp",
        preprocessing_epsilon=accountant.release_epsilon(delta) if private else math.inf,
        secure_rng=config.secure_rng and private,
        target_epsilon=epsilon,
        training_epsilon=epsilon_for(accountant.sgd_history, delta=rdp_delta) if private else math.inf,
        mechanisms=mechanisms,
        accountant_history=accountant.state_dict(),
        modality="tabular",
        n_training_records=n_train,
        code_version=__version__,
        created_at=artifacts.utc_now(),
        notes=notes,
    )
