"""A trained tabular model: load it from its directory and sample from it.

Sampling is post-processing of the DP model: it reads nothing but the model directory,
costs no privacy budget, and is reproducible: rows come in fixed chunks, each drawn from a
generator derived from (seed, chunk index), so the same seed gives the same rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from synthgen import __version__, artifacts
from synthgen.errors import ModelLoadError, SamplingError, SchemaError
from synthgen.privacy.class_shares import ClassShares, rows_per_class, sampling_shares
from synthgen.progress import ProgressCallback, ProgressEvent, ignore_progress
from synthgen.tabular.calibration import Calibration, fit_calibration
from synthgen.tabular.config import TabularTrainingConfig
from synthgen.tabular.constraint_redraw import RedrawTally, enforce
from synthgen.tabular.constraints import ConstraintSet
from synthgen.tabular.denoiser import MLPDenoiser
from synthgen.tabular.diffusion.mixed import MixedDiffusion
from synthgen.tabular.encoder import TableEncoder
from synthgen.tabular.preprocess import TabularStatistics, category_cell_key
from synthgen.tabular.schema import Schema

CHUNK_ROWS = 16_384  # fixed: part of what makes a seed reproduce the same rows
CALIBRATION_ROWS = 4096  # model samples per class used to fit the marginal calibration
CALIBRATION_FILE = "calibration.json"
SCHEMA_FILE = "schema.json"  # the effective schema; its constraints hold in every sample
MAX_ROWS = 1_000_000_000


@dataclass(frozen=True)
class SamplingPlan:
    """The labels of every row, in order, and the sampler's settings; chunk c holds rows
    ``c * CHUNK_ROWS`` onwards, drawn with a generator seeded by (seed, c)."""

    labels: np.ndarray
    seed: int
    guidance_scale: float
    steps: int

    @property
    def chunks(self) -> int:
        return -(-len(self.labels) // CHUNK_ROWS)

    def chunk_labels(self, chunk: int) -> np.ndarray:
        return self.labels[chunk * CHUNK_ROWS : (chunk + 1) * CHUNK_ROWS]

    def rows_done(self, chunk: int) -> int:
        """Rows written once chunks ``0 .. chunk`` are."""
        return min((chunk + 1) * CHUNK_ROWS, len(self.labels))


def build_networks(
    stats: TabularStatistics, config: TabularTrainingConfig
) -> tuple[TableEncoder, MixedDiffusion, MLPDenoiser]:
    """The encoder, diffusion process and (untrained) denoiser that ``stats`` and ``config``
    define: one place for training and the canary audit, so both train the same network."""
    assert config.hidden_width is not None and config.n_blocks is not None, "a resolved config"
    encoder = TableEncoder(stats)
    denoiser = MLPDenoiser(
        n_numeric=encoder.n_numeric,
        n_category_slots=encoder.category_slots,
        output_dim=encoder.output_dim,
        n_classes=len(stats.classes),
        width=config.hidden_width,
        n_blocks=config.n_blocks,
    )
    return encoder, MixedDiffusion(encoder), denoiser


class TabularModel:
    def __init__(
        self,
        stats: TabularStatistics,
        denoiser: MLPDenoiser,
        config: TabularTrainingConfig,
        calibration: Calibration | None = None,
        constraints: ConstraintSet | None = None,
    ):
        self.stats = stats
        self.constraints = constraints or ConstraintSet(())
        self.denoiser = denoiser.eval()
        self.config = config
        self.encoder = TableEncoder(stats)
        self.diffusion = MixedDiffusion(self.encoder)
        self.calibration = calibration

    def calibrate(self, *, seed: int, rows_per_class: int = CALIBRATION_ROWS) -> None:
        """Fit the marginal calibration on the model's own samples (post-processing)."""
        self.calibration = fit_calibration(
            self.diffusion,
            self.denoiser,
            rows_per_class=rows_per_class,
            steps=self.config.sample_steps,
            seed=seed,
        )

    # -- files ---------------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        artifacts.write_json(
            directory / artifacts.CONFIG,
            {
                "modality": "tabular",
                "synthgen_version": __version__,
                "model": {"class": "MLPDenoiser", **self.denoiser.config},
                "diffusion": {
                    "numeric": "gaussian-cosine-eps",
                    "categorical": "masked-absorbing",
                    "prior": "per-class DP histograms",
                },
                "training": self.config.to_dict(),
            },
        )
        artifacts.save_weights(self.denoiser, directory / artifacts.WEIGHTS)
        artifacts.write_json(directory / artifacts.PREPROCESSING, self.stats.to_dict())
        if self.calibration is not None:
            artifacts.write_json(directory / CALIBRATION_FILE, self.calibration.to_dict())

    @classmethod
    def load(cls, directory: str | Path) -> TabularModel:
        d = Path(directory)
        if not d.is_dir():
            raise ModelLoadError(f"model directory not found: {d}")
        config = artifacts.read_json(d / artifacts.CONFIG)
        if config.get("modality") != "tabular":
            raise ModelLoadError(f"{d} is not a tabular model")
        try:
            stats = TabularStatistics.from_dict(artifacts.read_json(d / artifacts.PREPROCESSING))
            model_config = {k: v for k, v in config["model"].items() if k != "class"}
            denoiser = MLPDenoiser(**model_config)
            training = TabularTrainingConfig(**config["training"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelLoadError(f"{d} holds an incomplete or incompatible model: {exc}") from exc
        artifacts.load_weights(denoiser, d / artifacts.WEIGHTS)
        calibration = None
        if (d / CALIBRATION_FILE).exists():
            calibration = Calibration.from_dict(artifacts.read_json(d / CALIBRATION_FILE))
        return cls(stats, denoiser, training, calibration, _constraints(d))

    # -- sampling ------------------------------------------------------------------------------
    def class_shares(self) -> ClassShares:
        """The class shares sampling uses by default (post-processing of the DP counts)."""
        return sampling_shares(self.stats.class_counts, cell_noise_std=self.stats.cell_noise_std)

    def label_counts(self, rows: int, class_counts: dict[Any, int] | None) -> np.ndarray:
        """Rows per class: as given, or the model's class shares (``sampling_shares``: the DP
        class counts shrunk toward uniform by their noise share, every class floored, at
        least one row each; largest remainder)."""
        if not isinstance(rows, int | np.integer) or rows <= 0:
            raise SamplingError(f"rows must be a positive whole number, got {rows!r}")
        if rows > MAX_ROWS:
            raise SamplingError(f"rows must be at most {MAX_ROWS}")
        classes = self.stats.classes
        if class_counts is None:
            return rows_per_class(self.class_shares().shares, rows)
        index = {category_cell_key(c): i for i, c in enumerate(classes)}
        counts = np.zeros(len(classes), dtype=np.int64)
        for label, n in class_counts.items():
            i = index.get(category_cell_key(label))
            if i is None:
                known = ", ".join(str(c) for c in classes)
                raise SamplingError(f"class {label!r} is not one of the model's classes ({known})")
            if not isinstance(n, int | np.integer) or n < 0:
                raise SamplingError(
                    f"the count for class {label!r} must be a non-negative whole number"
                )
            counts[i] += n
        if counts.sum() != rows:
            raise SamplingError(
                f"rows ({rows}) must equal the sum of the class counts ({counts.sum()})"
            )
        return counts

    def plan(
        self,
        rows: int,
        *,
        seed: int = 0,
        class_counts: dict[Any, int] | None = None,
        guidance_scale: float | None = None,
        steps: int | None = None,
    ) -> SamplingPlan:
        """Every choice of a sampling run, checked; the rows follow from it alone."""
        counts = self.label_counts(rows, class_counts)
        guidance = self.config.guidance_scale if guidance_scale is None else float(guidance_scale)
        n_steps = self.config.sample_steps if steps is None else int(steps)
        if not guidance >= 0:
            raise SamplingError("guidance scale must be non-negative")
        if n_steps < 1:
            raise SamplingError("steps must be at least 1")
        order = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED])).permutation(rows)
        labels = np.repeat(np.arange(len(counts)), counts)[order]
        return SamplingPlan(labels=labels, seed=seed, guidance_scale=guidance, steps=n_steps)

    def draw_chunk(
        self, plan: SamplingPlan, chunk: int, *, tally: RedrawTally | None = None
    ) -> pd.DataFrame:
        """Rows ``chunk * CHUNK_ROWS`` onwards of ``plan``: the same in any process."""
        return self.draw_rows(
            chunk,
            plan.chunk_labels(chunk),
            seed=plan.seed,
            guidance_scale=plan.guidance_scale,
            steps=plan.steps,
            tally=tally,
        )

    def draw_rows(
        self,
        chunk: int,
        labels: np.ndarray,
        *,
        seed: int,
        guidance_scale: float,
        steps: int,
        tally: RedrawTally | None = None,
    ) -> pd.DataFrame:
        """Chunk ``chunk`` given its labels (what a sampling process receives); rows that
        break a schema constraint are drawn again, round ``r`` from its own generator
        (seed, chunk, r), so the rows depend on the seed alone."""

        def draw(chunk_labels: np.ndarray, entropy: list[int]) -> pd.DataFrame:
            label_tensor = torch.as_tensor(chunk_labels, dtype=torch.long)
            state = np.random.SeedSequence(entropy).generate_state(2, dtype=np.uint64)
            generator = torch.Generator().manual_seed(int(state[0] >> np.uint64(1)))
            z, cats = self.diffusion.sample(
                self.denoiser,
                label_tensor,
                steps=steps,
                guidance_scale=guidance_scale,
                generator=generator,
                calibration=self.calibration,
            )
            return self.encoder.decode(label_tensor, z, cats)

        frame = draw(labels, [seed, chunk])
        if not self.constraints:
            return frame
        return enforce(
            frame,
            labels,
            self.constraints,
            lambda redraw_labels, r: draw(redraw_labels, [seed, chunk, r]),
            tally=tally,
        )

    def sample_chunks(
        self,
        plan: SamplingPlan,
        *,
        progress: ProgressCallback = ignore_progress,
        tally: RedrawTally | None = None,
    ) -> Iterator[pd.DataFrame]:
        """The rows of ``plan`` in chunks of ``CHUNK_ROWS``, drawn in this process; rows that
        break a schema constraint are drawn again (synthgen.tabular.constraint_redraw.enforce),
        counted in ``tally``."""
        rows = len(plan.labels)
        tally = tally if tally is not None else RedrawTally()
        progress(ProgressEvent("sample", 0, rows))
        for chunk in range(plan.chunks):
            yield self.draw_chunk(plan, chunk, tally=tally)
            note = f"redrew {tally.redraw_rate:.1%} of rows for constraints" if tally.rows else ""
            progress(ProgressEvent("sample", plan.rows_done(chunk), rows, message=note))

    def sample(
        self,
        rows: int,
        *,
        progress: ProgressCallback = ignore_progress,
        tally: RedrawTally | None = None,
        **choices: Any,
    ) -> pd.DataFrame:
        """``rows`` rows in one frame; ``choices`` are those of ``plan``."""
        chunks = self.sample_chunks(self.plan(rows, **choices), progress=progress, tally=tally)
        return pd.concat(list(chunks), ignore_index=True)


def _constraints(directory: Path) -> ConstraintSet:
    """The constraints of the model's schema (none for a model saved without one)."""
    path = directory / SCHEMA_FILE
    if not path.exists():
        return ConstraintSet(())
    try:
        schema = Schema.from_dict(artifacts.read_json(path), source=SCHEMA_FILE)
    except SchemaError as exc:
        raise ModelLoadError(f"{directory} holds an unreadable schema: {exc}") from exc
    return ConstraintSet.of(schema.constraints, schema.columns)
