"""Training configuration for tabular models: one dataclass, a comment per field.

``None`` means "chosen from public quantities" (the public record count N-hat, a DP
estimate or a declared bound, and the privacy budget), never from the data's content or
its exact size: every default is fixed in advance so that choosing it spends no privacy
budget (docs/privacy.md#what-is-paid-for-and-what-is-assumed-public).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from synthgen.errors import ConfigurationError

# Below this public record count N-hat a table is "small" (the clinical cohorts of 150-500
# rows) and gets the small-table choices of ``resolve``. Measured on the five small public
# tables beside MST (docs/research/2026-12-05-small-tables-vs-mst.md); Adult (24k rows)
# and stroke (2.5k) keep the large-table defaults.
SMALL_TABLE_RECORDS = 1000


@dataclass(frozen=True)
class RegimeDefaults:
    """The defaults that depend on the size regime (``None`` fields of the config)."""

    preprocessing_share: float | None  # None: synthgen/tabular/budget_split.py decides
    hidden_width: int
    n_blocks: int
    steps_low_epsilon: int  # epsilon < 3
    steps_high_epsilon: int  # finite epsilon >= 3
    min_histogram_bins: int  # floor of the automatic bins per numeric column (preprocess)


LARGE_TABLE = RegimeDefaults(
    preprocessing_share=None,
    hidden_width=128,
    n_blocks=2,
    steps_low_epsilon=300,
    steps_high_epsilon=500,
    min_histogram_bins=4,
)
# A small table's DP-SGD gradients are mostly noise (the signal grows with N, the noise
# does not), so the budget buys more as noisy per-class histograms, which the marginal
# calibration trusts by their noise level; a smaller denoiser has fewer coordinates for the
# same noise to land on, and fewer steps suffice for it. At least 8 bins: the noise rule
# gave the floor of 4 at epsilon 1-3, and 4 log-spaced bins over a clinical range from 0
# (Pima's glucose, 0-250) put every real value in one bin, so the histograms held no label
# signal; on Pima at epsilon 3 (5 splits) TSTR AUC went 0.675 -> 0.758 (16 bins: 0.764)
# (docs/research/2026-12-05-small-tables-vs-mst.md, "Pima's bins").
SMALL_TABLE = RegimeDefaults(
    preprocessing_share=0.5,
    hidden_width=64,
    n_blocks=1,
    steps_low_epsilon=200,
    steps_high_epsilon=200,
    min_histogram_bins=8,
)


def regime_defaults(n_records: int) -> RegimeDefaults:
    """The defaults for a table of public record count ``n_records`` (N-hat: DP or
    declared, never the exact count)."""
    return SMALL_TABLE if n_records < SMALL_TABLE_RECORDS else LARGE_TABLE


@dataclass(frozen=True)
class TabularTrainingConfig:
    # share of epsilon (measured standalone at the run's delta) spent on the DP statistics:
    # bounds/categories not declared, per-class histograms used for the quantile transform
    # and as the diffusion prior, class proportions. None: 0.5 for a small N-hat
    # (regime_defaults); else by epsilon, 0.5 up to 3 falling to 0.3 at 10, with category
    # discovery paid out of it (synthgen/tabular/budget_split.py)
    preprocessing_share: float | None = None
    # share of epsilon (measured alone) for the DP count of training records N-hat, drawn
    # first, unless the schema declares public_record_count. None: 0.02, raised as epsilon
    # falls so the count's noise std stays at most 25 records (0.14 at epsilon 1; at most
    # 0.2) (synthgen.privacy.record_count.record_count_share)
    record_count_share: float | None = None
    # records of the source (or an upper bound) declared public, as the schema's
    # public_record_count (this one wins; `--public-record-count`): no DP count is drawn
    public_record_count: int | None = None
    # expected Poisson batch size per DP-SGD step; None: min(4096, N-hat / 4)
    batch_size: int | None = None
    # DP-SGD steps; None: chosen from N and epsilon (see resolve)
    steps: int | None = None
    # diffusion draws (timestep, noise) averaged per example before clipping
    noise_multiplicity: int = 4
    # width of the denoiser's residual MLP; None: 128 (wider did not help up to epsilon 10
    # on Adult and costs 3x in training and sampling time), 64 for a small N-hat
    hidden_width: int | None = None
    # residual blocks in the denoiser; None: 2, or 1 for a small N-hat
    n_blocks: int | None = None
    learning_rate: float = 2e-3
    # per-example gradient clipping norm C
    max_grad_norm: float = 1.0
    # exponential moving average of the weights (saved weights are the EMA)
    ema_decay: float = 0.98
    # share of draws whose label is replaced by the null label (classifier-free guidance)
    label_dropout: float = 0.1
    # physical batch cap for Opacus' BatchMemoryManager (bounds memory, not the maths).
    # Twice the largest default expected batch (4096): a Poisson batch is then never split
    # into a second, small pass, which cost about 6% of Adult's step time at a cap of 4096
    # (half the batches exceeded it); the peak memory of an Adult fit rose by about 20 MB.
    max_physical_batch_size: int = 8192
    # privacy noise from the OS CSPRNG (False: a fast PRNG seeded from the OS)
    secure_rng: bool = True
    # write a resumable checkpoint every this many steps
    checkpoint_every: int = 25
    # histogram bins per numeric column; None: from N-hat, the classes and the noise level,
    # at least 8 for a small N-hat, else 4 (regime_defaults)
    histogram_bins: int | None = None
    # reverse diffusion steps at sampling time (`--steps` overrides). With the marginal
    # calibration, on Adult at epsilon 10, 16 / 24 / 32 steps gave TSTR AUC 0.898 / 0.899 /
    # 0.900 and 1-way / 2-way TV 0.022 / 0.015 / 0.014 and 0.063 / 0.052 / 0.050, at 6.2 /
    # 7.9 / 11.1 s per 100k rows on the shared 2 cores (epsilon 1: no difference beyond
    # noise); 24 keeps sampling under 10 s there
    sample_steps: int = 24
    # classifier-free guidance scale at sampling time (1 = plain conditional). On Adult at
    # epsilon 10, 1.5 and 2.5 lowered TSTR AUC (0.887, 0.863 against 0.895 at 1)
    guidance_scale: float = 1.0
    # "wandb" or "mlflow" to also log training metrics there (must be installed)
    tracker: str | None = None

    def with_overrides(self, overrides: dict[str, Any] | None) -> TabularTrainingConfig:
        if not overrides:
            return self
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigurationError(f"unknown training option(s): {', '.join(unknown)}")
        return replace(self, **overrides)

    def validate(self) -> None:
        checks = [
            (
                self.preprocessing_share is None or 0 < self.preprocessing_share < 1,
                "preprocessing_share must be in (0, 1)",
            ),
            (
                self.record_count_share is None or 0 < self.record_count_share < 0.5,
                "record_count_share must be in (0, 0.5)",
            ),
            (
                self.public_record_count is None
                or (isinstance(self.public_record_count, int) and self.public_record_count >= 1),
                "public_record_count must be a positive whole number",
            ),
            (self.batch_size is None or self.batch_size >= 1, "batch_size must be positive"),
            (self.steps is None or self.steps >= 1, "steps must be positive"),
            (self.noise_multiplicity >= 1, "noise_multiplicity must be at least 1"),
            (
                self.hidden_width is None or self.hidden_width >= 8,
                "hidden_width must be at least 8",
            ),
            (self.n_blocks is None or self.n_blocks >= 1, "n_blocks must be at least 1"),
            (self.learning_rate > 0, "learning_rate must be positive"),
            (self.max_grad_norm > 0, "max_grad_norm must be positive"),
            (0 <= self.ema_decay < 1, "ema_decay must be in [0, 1)"),
            (0 <= self.label_dropout < 1, "label_dropout must be in [0, 1)"),
            (self.max_physical_batch_size >= 1, "max_physical_batch_size must be positive"),
            (self.sample_steps >= 1, "sample_steps must be positive"),
            (self.guidance_scale >= 0, "guidance_scale must be non-negative"),
            (self.tracker in (None, "wandb", "mlflow"), "tracker must be wandb or mlflow"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigurationError(message)

    def resolve(
        self, *, n_records: int, epsilon: float, max_steps: int | None
    ) -> TabularTrainingConfig:
        """Fill the ``None`` fields from public quantities: ``n_records`` is the public
        record count N-hat (DP or declared), never the exact count, and ``epsilon``."""
        regime = regime_defaults(n_records)
        batch = self.batch_size or int(min(4096, max(32, n_records // 4)))
        batch = min(batch, n_records)
        if self.steps is not None:
            steps = self.steps
        elif not math.isfinite(epsilon):
            steps = 600
        else:
            # Fewer, larger steps beat many small ones at a fixed budget (measured on Adult);
            # a larger budget affords more of them.
            steps = regime.steps_low_epsilon if epsilon < 3 else regime.steps_high_epsilon
        if max_steps is not None:
            if max_steps < 1:
                raise ConfigurationError("--max-steps must be at least 1")
            steps = min(steps, max_steps)
        return replace(
            self,
            batch_size=batch,
            steps=steps,
            preprocessing_share=self.preprocessing_share or regime.preprocessing_share,
            hidden_width=self.hidden_width or regime.hidden_width,
            n_blocks=self.n_blocks or regime.n_blocks,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
