"""``synthgen train``: train a differentially private generator on a table or images."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from synthgen.cli.app import app, fail, reports_errors, warn

if TYPE_CHECKING:
    from synthgen.requests import TrainRequest

# Above this epsilon a DP guarantee says little (e^10 ~ 22,000: the odds of any inference
# about one record may move by that factor). Not refused: the budget is the steward's call.
HIGH_EPSILON = 10.0


@app.command("train")
@reports_errors
def train(
    data: Path = typer.Argument(
        ..., help="Source: a CSV/Parquet table, a MedMNIST .npz, or an image folder."
    ),
    epsilon: float = typer.Option(
        ...,
        "--epsilon",
        help="Total privacy budget for this model (preprocessing included); `inf` trains without DP (benchmarks only, never releasable).",
    ),
    out: Path = typer.Option(..., "--out", help="Model directory to create (must not exist)."),
    target: str | None = typer.Option(
        None, "--target", help="Label column the model conditions on (tables)."
    ),
    entity: str | None = typer.Option(
        None,
        "--entity",
        help="The patient: the unit of privacy becomes the patient with all their records. Tables: the column naming the patient (or the schema's `role: entity`). Images: dicom:PatientID (a DICOM attribute), csv:COLUMN (of the labels CSV) or folder (class/patient/image.png). Default: none, one record (row or image) is the unit.",
    ),
    entity_file: Path | None = typer.Option(
        None,
        "--entity-file",
        help="Images, an .npz source: patient ids (.npy, or .csv with one column) one per training then validation image.",
    ),
    max_records_per_entity: int | None = typer.Option(
        None,
        "--max-records-per-entity",
        help="With an entity: records (rows or images) kept per patient, chosen at random (default 8).",
    ),
    public_entity_count: int | None = typer.Option(
        None,
        "--public-entity-count",
        help="With an entity: number of patients (or an upper bound) that you declare public; otherwise a DP count.",
    ),
    schema: Path | None = typer.Option(
        None,
        "--schema",
        help="Table schema (YAML/JSON). Without one, bounds and categories are estimated with DP.",
    ),
    delta: float | None = typer.Option(
        None,
        "--delta",
        help="Delta; default min(1e-5, 1/(10 N)) with N the DP record count or the declared --public-record-count.",
    ),
    seed: int = typer.Option(
        0,
        "--seed",
        help="Seed for the split, model initialisation and diffusion draws (never for privacy noise).",
    ),
    max_steps: int | None = typer.Option(
        None,
        "--max-steps",
        help="Cap on DP-SGD steps; noise is calibrated to the steps that will run.",
    ),
    holdout: float = typer.Option(
        0.2,
        "--holdout",
        help="Share of the source kept out of training for validation (0 disables privacy and utility checks).",
    ),
    private_dir: Path | None = typer.Option(
        None,
        "--private-dir",
        help="Where the split and training log go (default MODEL_DIR.private).",
    ),
    modality: str | None = typer.Option(
        None, "--modality", help="tabular or image (default: detected from DATA)."
    ),
    noise_multiplicity: int | None = typer.Option(
        None,
        "--noise-multiplicity",
        "-K",
        help="Diffusion draws averaged per example before clipping.",
    ),
    batch_size: int | None = typer.Option(
        None, "--batch-size", help="Expected (Poisson) batch size per step."
    ),
    preprocessing_share: float | None = typer.Option(
        None,
        "--preprocessing-share",
        help="Share of epsilon for the DP statistics (default: 0.1, more when categories must be discovered; small tables gain from more, e.g. 0.3).",
    ),
    tracker: str | None = typer.Option(
        None, "--tracker", help="Also log to `wandb` or `mlflow` (must be installed)."
    ),
    insecure_rng: bool = typer.Option(
        False,
        "--insecure-rng",
        help="Draw privacy noise from a fast PRNG seeded by the OS instead of the OS CSPRNG (benchmarks).",
    ),
    init_from: Path | None = typer.Option(
        None,
        "--init-from",
        help="Images: start from this model directory, trained on PUBLIC images of the same size (e.g. --epsilon inf on another MedMNIST set).",
    ),
    public_source: bool = typer.Option(
        False,
        "--public-source",
        help="Images: DATA is PUBLIC; make a model for --init-from (needs --epsilon inf). It records a hash of each training image, so that a private run whose images overlap them is refused.",
    ),
    channels: int | None = typer.Option(
        None,
        "--channels",
        help="Images: declare 1 (grayscale, the default for folders and DICOM) or 3 (RGB); files of another mode are converted.",
    ),
    classes: str | None = typer.Option(
        None,
        "--classes",
        help="Images: declare the public class list (comma-separated names; a count for an .npz). Without it a labels CSV's or .npz's classes are selected with DP.",
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue an interrupted run from its checkpoint in the private directory, with the same parameters (a finished run cannot be resumed).",
    ),
    public_record_count: int | None = typer.Option(
        None,
        "--public-record-count",
        help="Number of records of the source (or an upper bound) that you declare public: batch size, sample rate and delta come from it and no budget goes to a DP count. Tables: as the schema's public_record_count. Images: the images the split starts from.",
    ),
    force: bool = typer.Option(
        False,
        "--force",
        "--accept-infeasible",
        help="Tables: train even when the feasibility estimate says the output would be dominated by noise.",
    ),
    processes: int | None = typer.Option(
        None,
        "--processes",
        help="Run DP-SGD on this many local processes (images: on CPU) (torch.distributed); the noise is added once and the certificate is the same. Across machines use torchrun (docs/distributed.md).",
    ),
    check_only: bool = typer.Option(
        False,
        "--check-only",
        help="Tables: print the feasibility estimate and stop (without a declared record count it draws, and spends, the DP record count).",
    ),
) -> None:
    """Train a DP diffusion model and write MODEL_DIR with its DP certificate."""
    from synthgen.training import distributed

    if distributed.is_torchrun_helper():  # rank 0 reads the data and sends this rank a shard
        distributed.serve_as_helper()
        return
    from synthgen import workflows
    from synthgen.artifacts import default_private_dir
    from synthgen.cli.progress_bar import ProgressBar
    from synthgen.errors import SynthgenError
    from synthgen.privacy.spend_log import SPEND_LOG
    from synthgen.requests import TrainRequest, build
    from synthgen.tabular.feasibility import Infeasible

    request = build(
        TrainRequest,
        source=data,
        out=out,
        epsilon=epsilon,
        modality=modality,
        delta=delta,
        seed=seed,
        max_steps=max_steps,
        holdout=holdout,
        private_dir=private_dir,
        resume=resume,
        target=target,
        entity=entity,
        entity_file=entity_file,
        max_records_per_entity=max_records_per_entity,
        public_entity_count=public_entity_count,
        table_schema=schema,
        preprocessing_share=preprocessing_share,
        tracker=tracker,
        noise_multiplicity=noise_multiplicity,
        batch_size=batch_size,
        secure_rng=False if insecure_rng else None,
        public_record_count=public_record_count,
        init_from=init_from,
        public_source=public_source or None,
        channels=channels,
        classes=classes,
        accept_infeasible=force or None,
        processes=processes,
    )
    if distributed.torchrun_world() is not None and check_only:
        # the other ranks wait for this one's DP-SGD: a command without it would strand them
        raise fail("under torchrun, synthgen train cannot --check-only")
    if check_only:
        _check_only(request)
        return
    if HIGH_EPSILON < epsilon < math.inf:
        warn(
            f"epsilon {epsilon:g} is above {HIGH_EPSILON:g}: the DP guarantee gives little "
            f"protection at this budget (docs/privacy.md); training goes on"
        )
    private = private_dir or default_private_dir(out)
    if not resume and not out.exists():
        _refuse_a_run_left_without_checkpoint(private)
    bar = ProgressBar()
    try:
        with bar:
            result = workflows.train(request, progress=bar)
    except Infeasible as exc:
        found = exc.estimate
        where = f", recorded in {private / SPEND_LOG}" if found.count_epsilon else ""
        raise fail(
            f"{found.summary()}; {found.spent_line()}{where}; to train anyway: --force"
        ) from None
    except SynthgenError as exc:
        if not bar.epsilon_spent:
            raise
        raise fail(f"{_first_line(exc)} ({after_spending(bar.epsilon_spent, private)})") from None
    except BaseException:  # a bug (traceback follows) or Ctrl-C: say what was spent first
        if bar.epsilon_spent:
            typer.echo(f"training stopped: {after_spending(bar.epsilon_spent, private)}", err=True)
        raise
    cert = result.certificate
    eps = "inf (NOT PRIVATE)" if math.isinf(cert.epsilon) else f"{cert.epsilon:.4f}"
    typer.echo(f"model written to {result.model_dir}")
    typer.echo(f"private run data (split, training log) in {result.private_dir}")
    typer.echo(f"epsilon spent {eps} at delta {cert.delta:.3g} ({cert.steps} DP-SGD steps)")


def _check_only(request: TrainRequest) -> None:
    """``--check-only``: the feasibility estimate, and what it spent, without training."""
    from synthgen.tabular.precheck import check_tabular

    if request.kind != "tabular":
        raise fail("--check-only applies to tables")
    if request.resume:
        raise fail("--check-only cannot be combined with --resume")
    check = check_tabular(request)
    for line in check.estimate.lines():
        typer.echo(line)
    spent = check.estimate.spent_line()
    if check.spend_log is not None:
        spent += f" (recorded in {check.spend_log}; a training run draws its own count)"
    typer.echo(spent)


def _first_line(exc: BaseException) -> str:
    return " ".join(str(exc).split("\n")[0].split()).rstrip(":")


def after_spending(epsilon: float, private_dir: Path) -> str:
    """What a run that stopped after its first DP release spent, where that is recorded,
    and how to go on: ``--resume`` only when a checkpoint is there to resume."""
    from synthgen.artifacts import CHECKPOINT_DIR, CHECKPOINT_STATE
    from synthgen.privacy.spend_log import SPEND_LOG

    spent = (
        f"at least epsilon {epsilon:.4g} was spent before it stopped; every release is "
        f"recorded in {private_dir / SPEND_LOG}"
    )
    if (private_dir / CHECKPOINT_DIR / CHECKPOINT_STATE).is_file():
        return f"{spent}; to go on, rerun the same command with --resume"
    return (
        f"{spent}; there is no checkpoint to resume: a new run needs another --out "
        f"(and its budget comes on top of this spend)"
    )


def _refuse_a_run_left_without_checkpoint(private_dir: Path) -> None:
    """A private directory left by a run that failed before its first checkpoint cannot be
    resumed: say so, and what it spent, instead of suggesting ``--resume``."""
    from synthgen.artifacts import CHECKPOINT_DIR, CHECKPOINT_STATE
    from synthgen.privacy.spend_log import SPEND_LOG

    if not private_dir.is_dir() or not any(private_dir.iterdir()):
        return
    if (private_dir / CHECKPOINT_DIR / CHECKPOINT_STATE).is_file():
        return  # the trainer refuses it and suggests --resume, rightly
    spent = (
        f"; what it spent is recorded in {private_dir / SPEND_LOG}"
        if (private_dir / SPEND_LOG).is_file()
        else ""
    )
    raise fail(
        f"private directory {private_dir} exists already and is not empty: a run that "
        f"stopped before its first checkpoint, which cannot be resumed{spent}; "
        f"choose another --out (or --private-dir)"
    )
