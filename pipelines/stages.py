"""The pipeline stages a worker runs for each kind of job.

- ``check_source``: the expectation suite on a new upload.
- ``synthesize``: ingest (the suite, if no worker ran it yet) -> train -> sample ->
  validate -> report. Each stage records its result in ``jobs.outputs`` when it ends, so a
  job picked up again skips what finished; training resumes from the checkpoint in the
  job's private run directory. The ledger is settled in the transaction that records the
  finished training (``record_training``): the certificate's epsilon is what was spent.
- ``more_samples``: more records from an approved release's model, published approved.

Each stage is a function of the ``StageRun`` holding the job's lease (``pipelines.context``).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import select

from pipelines import audit, leases, ledger
from pipelines.artifacts import sha256_file
from pipelines.context import StageRun
from pipelines.errors import Conflict, describe, redact_paths
from pipelines.formats import csv_to_parquet, neutralise_csv, npz_to_png_zip
from pipelines.settings import Settings
from pipelines.sources import mark_checked
from pipelines.specs import ImageSynthesisSpec, SampleSpec, TabularSynthesisSpec, parse_spec
from pipelines.store.models import Job, Release, ReleaseState, Source, SourceState, utcnow
from synthgen.artifacts import CHECKPOINT_DIR, CHECKPOINT_STATE, make_private_dir, restrict_private
from synthgen.errors import SchemaMismatch, SynthgenError
from synthgen.privacy.spend_log import SPEND_LOG
from synthgen.requests import SampleOptions, TrainRequest

log = logging.getLogger("synthgen.worker")


class SourceRejected(SynthgenError):
    """The source failed its expectation suite (or is gone)."""


def cert_epsilon(certificate: dict[str, Any]) -> float:
    value = certificate.get("epsilon")
    if value in ("Infinity", None):
        return math.inf
    return float(value)


# -- source checks ---------------------------------------------------------------------------
def ensure_checked(run: StageRun, source: Source) -> Source:
    """Run the source's check once (the first job to get here); a source that fails it, for
    whatever reason the check gives, is rejected and its files deleted, so that no job can
    use it. An unexpected error from a check on untrusted content (a decoder, a parser) is
    a failed check too: the source stays refused rather than ``validating`` for ever."""
    if source.state != SourceState.validating:
        return source
    store, library = run.ctx.store, run.ctx.library
    data_dir = run.ctx.settings.data_dir
    problems: list[str] | None = None
    if not source.data_ref:
        problems = ["the source's files are gone"]
    else:
        data = store.resolve(source.data_ref)
        try:
            if source.modality == "tabular":
                schema = store.resolve(source.schema_ref) if source.schema_ref else None
                library.check_table(data, schema=schema, target=source.target)
            else:
                problems = archive_problems(run.ctx.settings, data) or None
                if problems is None:
                    library.check_images(data)
        except SchemaMismatch as exc:
            problems = [redact_paths(p, data_dir) for p in exc.problems] or [
                describe(exc, data_dir)
            ]
        except SynthgenError as exc:
            problems = [describe(exc, data_dir)]
        except Exception as exc:
            log.warning("source %s: its check raised %s", source.id, type(exc).__name__)
            problems = [f"the source cannot be read ({type(exc).__name__})"]
    with run.ctx.db.transaction(write=True) as session:
        locked = ledger.lock_source(session, source.id)
        if locked.state == SourceState.validating:
            mark_checked(session, store, locked, problems)
            audit.record(
                session,
                run.ctx.actor,
                "source.rejected" if problems else "source.validated",
                "source",
                locked.id,
                {"problems": len(problems or [])},
            )
        return locked


def archive_problems(settings: Settings, data: Path) -> list[str]:
    """The archive limits, checked again on what was extracted (a worker may run with
    limits lowered since the upload, and files on a shared disk may have changed)."""
    if not data.is_dir():
        return []
    count = total = 0
    for path in data.rglob("*"):
        if path.is_symlink():
            return ["the extracted archive holds a link"]
        if path.is_file():
            count += 1
            total += path.stat().st_size
            if count > settings.max_archive_members:
                return [f"the archive has more than {settings.max_archive_members} members"]
            if total > settings.max_extracted_bytes:
                return [f"the archive expands to more than {settings.max_extracted_bytes} bytes"]
    return []


def check_source(run: StageRun, job: Job) -> None:
    """Run the expectation suite on a new upload; fail the job if it refuses the source."""
    run.enter("ingest")
    with run.ctx.db.session() as session:
        source = session.get(Source, job.source_id)
    if source is None:
        raise SourceRejected("the source no longer exists")
    source = ensure_checked(run, source)
    if source.state == SourceState.rejected:
        raise SourceRejected(
            "the source does not pass its expectation suite: " + "; ".join(source.problems or [])
        )


# -- synthesis ---------------------------------------------------------------------------------
def synthesize(run: StageRun, job: Job) -> None:
    """ingest -> train -> sample -> validate -> report, skipping the stages that finished."""
    spec = parse_spec(job.spec)
    assert isinstance(spec, TabularSynthesisSpec | ImageSynthesisSpec)
    store = run.ctx.store
    with run.ctx.db.session() as session:
        source = session.get(Source, spec.source_id)
    if source is None:
        raise SourceRejected("the source no longer exists")

    run.enter("ingest")
    source = ensure_checked(run, source)
    if source.state == SourceState.rejected or not source.data_ref:
        raise SourceRejected(
            "the source was rejected by validation: " + "; ".join(source.problems or [])
        )
    if not run.outputs.get("ingest"):
        run.set_output("ingest", {"done": True, "source_sha256": source.data_sha256})
    data_path = store.resolve(source.data_ref)
    schema_path = store.resolve(source.schema_ref) if source.schema_ref else None

    model_dir = store.model_dir(job.id)
    if not run.outputs.get("train", {}).get("done"):
        run.enter("train")
        run_dir = store.run_dir(job.id)
        training = spec.training
        if model_dir.exists():  # trained before a crash that came before this record
            certificate = run.ctx.library.certificate(model_dir)
        else:
            resume = (run_dir / CHECKPOINT_DIR / CHECKPOINT_STATE).exists()
            if not resume and _has_spent(run_dir):
                # a DP mechanism ran, then the worker died before the first checkpoint:
                # starting again would release fresh noise that no one pays for. The job
                # fails and is charged from the spend log.
                raise SynthgenError(
                    "training was interrupted after its DP statistics and before its first "
                    "checkpoint; what it spent is charged: request a new job"
                )
            if not resume and run_dir.exists():
                shutil.rmtree(run_dir)  # nothing to resume from: start clean
            run.set_output(
                "train", {"started": True, "resumed": resume, "attempt": run.held.attempt}
            )
            image = spec if isinstance(spec, ImageSynthesisSpec) else None
            try:
                request = TrainRequest(
                    **dict(training),
                    source=data_path,
                    modality=source.modality,  # type: ignore[arg-type]  # checked by the request
                    target=spec.target if isinstance(spec, TabularSynthesisSpec) else None,
                    table_schema=schema_path,
                    out=model_dir,
                    private_dir=run_dir,
                    resume=resume,
                    # a patient-level image run trains on one process (synthgen.images.train)
                    processes=(
                        None if image and image.entity else run.ctx.settings.train_processes
                    ),
                    # images: the source's patient-level declaration, as the job fixed it
                    # (tables: the schema's role: entity, which the trainer reads itself)
                    entity=image.entity if image else None,
                    max_records_per_entity=image.max_records_per_entity if image else None,
                )
                outcome = run.ctx.library.train(
                    request, progress=run.on_progress, should_stop=run.should_stop
                )
            finally:  # the library writes 0700/0600 itself; this covers any implementation
                store.seal(run_dir)
            certificate = outcome.certificate
        store.seal(model_dir)
        record_training(run, job, model_dir, certificate)

    if "sample" not in run.outputs:
        run.enter("sample")
        files = sample_files(
            run,
            model_dir,
            source.modality,
            spec.sample_options(seed=spec.training.seed),
            raw_copy=raw_synthetic_table(run, job) if source.modality == "tabular" else None,
        )
        run.set_output("sample", {"files": files, "n_records": spec.rows})

    if "validate" not in run.outputs:
        run.enter("validate")
        files = run.outputs["sample"]["files"]
        primary = files.get("csv") or files.get("npz")
        report_dir = store.report_dir(job.id)
        shutil.rmtree(report_dir, ignore_errors=True)
        make_private_dir(report_dir)
        raw = raw_synthetic_table(run, job)
        try:
            report = run.ctx.library.validate(
                model_dir,
                synthetic=raw if raw.exists() else store.resolve(primary["ref"]),
                report_dir=report_dir,
                policy=run.settings.validation_policy,
                private_dir=store.run_dir(job.id),
            )
        finally:
            store.seal(report_dir)
        refs = {}
        for fmt in ("html", "pdf", "json"):
            path = report_dir / f"report.{fmt}"
            if path.exists():
                refs[fmt] = {"sha256": sha256_file(path), "ref": store.ref(path)}
        verdict = report.get("verdict")
        run.set_output(
            "validate", {"report": refs, "verdict": None if verdict is None else str(verdict)[:20]}
        )

    run.enter("report")
    train = run.outputs["train"]
    publish(
        run,
        job,
        state=ReleaseState.pending,
        model_ref=train["model_ref"],
        model_sha256=train["model_sha256"],
        certificate=train["certificate"],
        seed=spec.training.seed,
        class_counts=spec.class_counts,
        report=run.outputs["validate"]["report"],
        verdict=run.outputs["validate"]["verdict"],
    )


def _has_spent(run_dir: Path) -> bool:
    """Whether a training run in ``run_dir`` has released anything (its spend log)."""
    log = run_dir / SPEND_LOG
    return log.is_file() and log.stat().st_size > 0


def record_training(run: StageRun, job: Job, model_dir: Path, certificate: dict[str, Any]) -> None:
    """Training finished: record the model and settle the ledger, in one transaction."""
    from synthgen.artifacts import file_sha256

    epsilon = cert_epsilon(certificate)
    delta = float(certificate.get("delta") or job.delta_reserved)
    if not math.isfinite(epsilon) or not certificate.get("private", True):
        raise SynthgenError(
            "the trained model is not differentially private; it cannot be released"
        )
    if epsilon > job.epsilon_reserved * (1 + ledger.TOLERANCE):
        log.warning("job %s: the certificate's epsilon exceeds the reservation", job.id)
    train = {
        **run.outputs.get("train", {}),  # keeps "resumed" and "attempt" for the record
        "started": True,
        "done": True,
        "model_ref": run.ctx.store.ref(model_dir),
        "model_sha256": file_sha256(model_dir),
        "certificate": certificate,
        "epsilon": epsilon,
        "delta": delta,
    }
    run.outputs = {**run.outputs, "train": train}
    with run.ctx.db.transaction(write=True) as session:
        leases.update_held(
            session, run.held, outputs=run.outputs, epsilon_spent=epsilon, updated_at=utcnow()
        )
        ledger.settle(
            session,
            job_id=job.id,
            epsilon_spent=epsilon,
            delta_spent=delta,
            note="training finished (certificate)",
            actor=run.ctx.actor,
        )


def raw_synthetic_table(run: StageRun, job: Job) -> Path:
    """The synthetic table as sampled, before formulas were neutralised for the CSV
    download; kept in the job's private run directory for validation."""
    return run.ctx.store.run_dir(job.id) / "synthetic.csv"


def sample_files(
    run: StageRun,
    model_dir: Path,
    modality: str,
    options: SampleOptions,
    *,
    raw_copy: Path | None = None,
) -> dict[str, Any]:
    """Sample into the release area: tables as CSV (formulas neutralised, see
    ``synthgen.tabular.io.neutralise_formula``) and Parquet, images as npz and a PNG zip.
    ``raw_copy``: where to keep the table as sampled (private), for validation."""
    store = run.ctx.store
    with store.staging("sample-") as tmp:
        out = tmp / ("synthetic.csv" if modality == "tabular" else "synthetic.npz")
        written = run.ctx.library.sample(model_dir, options, out=out, progress=run.on_progress)
        if modality == "tabular":
            # Parquet keeps every value; the CSV download neutralises spreadsheet formulas
            extra = ("parquet", csv_to_parquet(written, tmp / "synthetic.parquet"), ".parquet")
            primary = ("csv", neutralise_csv(written, tmp / "synthetic.safe.csv"), ".csv")
            if raw_copy is not None:  # validation reads the values as sampled
                make_private_dir(raw_copy.parent)
                os.replace(written, raw_copy)
                restrict_private(raw_copy)
        else:
            extra = ("png_zip", npz_to_png_zip(written, tmp / "synthetic.zip"), ".zip")
            primary = ("npz", written, ".npz")
        files = {}
        for fmt, path, suffix in (primary, extra):
            blob, _ = store.release_blobs.put(path, suffix=suffix)
            files[fmt] = blob.as_dict()
    return files


def publish(
    run: StageRun,
    job: Job,
    *,
    state: ReleaseState,
    model_ref: str,
    model_sha256: str,
    certificate: dict[str, Any],
    seed: int,
    class_counts: dict[str, int] | None,
    report: dict[str, Any] | None,
    verdict: str | None,
    parent: Release | None = None,
) -> None:
    sample = run.outputs["sample"]
    with run.ctx.db.transaction(write=True) as session:
        release = session.scalar(select(Release).where(Release.job_id == job.id))
        if release is None:
            release = Release(
                source_id=job.source_id,
                job_id=job.id,
                parent_id=parent.id if parent else None,
                modality=job.modality or "tabular",
                state=state,
                model_ref=model_ref,
                model_sha256=model_sha256,
                files=sample["files"],
                n_records=sample["n_records"],
                seed=seed,
                class_counts=class_counts,
                certificate=certificate,
                epsilon=cert_epsilon(certificate),
                delta=float(certificate.get("delta", 0.0)),
                private=bool(certificate.get("private", False)),
                report=report,
                verdict=verdict,
                created_by=job.created_by,
            )
            if parent is not None:
                release.decided_by = parent.decided_by
                release.decided_at = utcnow()
                release.decision_reason = f"inherits the approval of release {parent.id}"
            session.add(release)
            session.flush()
            audit.record(
                session,
                run.ctx.actor,
                "release.create",
                "release",
                release.id,
                {"job_id": job.id, "state": state, "records": release.n_records},
                source_id=release.source_id,
            )
        leases.update_held(session, run.held, release_id=release.id, updated_at=utcnow())


# -- more samples ------------------------------------------------------------------------------
def more_samples(run: StageRun, job: Job) -> None:
    """More records from an approved release's model, published as an approved release."""
    spec = parse_spec(job.spec)
    assert isinstance(spec, SampleSpec)
    with run.ctx.db.session() as session:
        parent = session.get(Release, spec.release_id)
    if parent is None or parent.state != ReleaseState.approved or not parent.private:
        raise Conflict(f"release {spec.release_id} is no longer an approved private release")
    if "sample" not in run.outputs:
        run.enter("sample")
        files = sample_files(
            run,
            run.ctx.store.resolve(parent.model_ref),
            parent.modality,
            spec.sample_options(),
        )
        run.set_output("sample", {"files": files, "n_records": spec.rows})
    run.enter("publish")
    publish(
        run,
        job,
        state=ReleaseState.approved,
        model_ref=parent.model_ref,
        model_sha256=parent.model_sha256,
        certificate=parent.certificate,
        seed=spec.seed,
        class_counts=spec.class_counts,
        report=None,
        verdict=None,
        parent=parent,
    )
