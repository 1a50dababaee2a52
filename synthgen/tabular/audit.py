"""``audit_tabular``: a one-run canary audit of the production tabular DP-SGD recipe.

On a public table, this runs what ``synthgen train`` runs for DP-SGD: the same config
defaults (expected batch min(4096, N/4), step count from epsilon, clip norm, noise
multiplicity), the noise multiplier calibrated by the accountant for the target epsilon,
``make_private`` with Poisson sampling, ghost clipping and the OS-random noise step, and the
trainer's own loop (``trainer._private_loop``). The only additions are the gradient
canaries of ``synthgen.privacy.audit``. The whole budget goes to DP-SGD: the table is
public, so its statistics are exact and cost nothing, and the claim under audit is the
accountant's epsilon for (noise multiplier, q, steps), what a certificate would state.

``noise_scale`` is for the audit only (``synthgen audit --no-noise`` sets 0): it multiplies
the calibrated noise multiplier in the optimizer, after calibration and without telling
the claim, to show that the audit flags a run whose noise is missing (0) or too small
(e.g. 0.25). The audit never writes a model.

Patient canaries (``unit``, ``records_per_patient``; ``synthgen audit --unit patient
--records-per-patient K``): each canary is a patient of K copies of one table row
(``synthgen.privacy.audit.PatientCanaries``), added to the training data when included, so
sampling, clipping and noise are all the production ones. The table's own rows are patients
of one record each, so both units train with the same N, q, noise multiplier and steps,
hence the same claimed epsilon. With ``unit="patient"`` the run is patient-level DP-SGD
(``EntityTable``: one example, one clip per patient) and the bound must stay below the
claim; with ``unit="record"`` each record is clipped and sampled on its own, a canary
patient moves the sum by up to K * C, and the bound exceeds the claim: the audit shows
that record-level DP does not protect patients.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, cast

import pandas as pd

from synthgen.errors import PrivacyParameterError
from synthgen.privacy.accountant import (
    RunAccountant,
    calibrate_noise_multiplier,
    check_privacy_parameters,
    default_delta,
    epsilon_for,
)
from synthgen.privacy.analysis.one_run import OneRunBound, largest_detectable_epsilon
from synthgen.progress import ProgressCallback, ProgressEvent, ignore_progress
from synthgen.tabular.config import TabularTrainingConfig
from synthgen.tabular.schema import Schema

UNITS = ("record", "patient")


@dataclass(frozen=True)
class AuditReport:
    claimed_epsilon: float  # the accountant's epsilon for the calibrated noise
    delta: float
    noise_multiplier: float  # calibrated: what the certificate would state
    noise_multiplier_used: float  # what the optimizer added (differs only with noise_scale)
    sample_rate: float
    steps: int
    max_grad_norm: float
    records: int
    canaries: int
    included: int
    bound: OneRunBound
    detectable_epsilon: float  # the largest bound this many canaries can give
    seconds: float
    unit: str = "record"  # the unit of privacy of the training under audit
    records_per_patient: int = 1  # records of each canary (1 with Dirac canaries)
    patient_canaries: bool = False  # canaries are training patients, not injected gradients

    @property
    def violation(self) -> bool:
        """A lower bound above the claim: the run leaked more than it says (a bug), or,
        for multi-record canaries on record-level training, more than it says per patient."""
        return self.bound.epsilon > self.claimed_epsilon

    @property
    def verdict(self) -> str:
        if not self.violation:
            return "consistent"
        if self.unit == "record" and self.records_per_patient > 1:
            return (
                f"VIOLATION: record-level DP does not protect a patient of "
                f"{self.records_per_patient} records"
            )
        return "VIOLATION: bug"

    def summary(self) -> list[str]:
        b = self.bound
        if self.patient_canaries:
            kind = (
                f"canary patients of {self.records_per_patient} near-duplicate records "
                f"(production sampling and clipping)"
            )
        else:
            kind = "white-box gradient canaries"
        lines = [
            f"claimed epsilon            {self.claimed_epsilon:.4f} per {self.unit} at delta "
            f"{self.delta:.3g} "
            f"(noise multiplier {self.noise_multiplier:.4g}, sample rate {self.sample_rate:.4g}, "
            f"{self.steps} steps, clip norm {self.max_grad_norm:g}, {self.records} public records)",
            f"empirical epsilon (lower)  {b.epsilon:.4f} at {b.confidence:.0%} confidence",
            f"canaries                   {self.canaries} {kind}, {self.included} included",
            f"guesses                    {b.guesses} ({b.included_guesses} included, "
            f"{b.excluded_guesses} excluded), {b.correct} correct",
            f"detectable up to           epsilon {self.detectable_epsilon:.2f} with this many canaries",
        ]
        if self.noise_multiplier_used != self.noise_multiplier:
            lines.append(
                f"AUDIT ONLY                 noise multiplier forced to "
                f"{self.noise_multiplier_used:.4g} (claim unchanged); no model is produced"
            )
        if self.claimed_epsilon >= self.detectable_epsilon:
            lines.append(
                f"note                       a claim above {self.detectable_epsilon:.2f} cannot be "
                f"flagged by {self.canaries} canaries at this delta: 'consistent' says nothing here"
            )
        lines.append(f"verdict                    {self.verdict}")
        return lines


def audit_tabular(
    table: pd.DataFrame,
    schema: Schema,
    *,
    epsilon: float,
    delta: float | None = None,
    canaries: int = 1000,
    steps: int | None = None,
    seed: int = 0,
    confidence: float = 0.95,
    noise_scale: float = 1.0,
    unit: str = "record",
    records_per_patient: int = 1,
    overrides: dict[str, Any] | None = None,
    progress: ProgressCallback | None = None,
) -> AuditReport:
    """Train on the public ``table`` with the production recipe plus ``canaries`` gradient
    canaries and bound epsilon from below. ``steps`` defaults to the production count.
    ``unit="patient"`` or ``records_per_patient > 1``: canary patients of that many records
    (module docstring); otherwise the Dirac canaries of ``GradientCanaries``."""
    import torch

    from synthgen.privacy.audit import GradientCanaries, PatientCanaries
    from synthgen.privacy.secure_random import NoiseSource
    from synthgen.tabular import trainer
    from synthgen.tabular.conform import conform
    from synthgen.tabular.model import build_networks
    from synthgen.tabular.preprocess import estimate_statistics

    started = time.perf_counter()
    progress = progress or ignore_progress
    if (
        isinstance(epsilon, bool)
        or not isinstance(epsilon, int | float)
        or not math.isfinite(epsilon)
        or epsilon <= 0
    ):
        raise PrivacyParameterError(f"epsilon must be a positive finite number, got {epsilon!r}")
    if canaries < 2:
        raise PrivacyParameterError(
            f"--canaries must be at least 2 (1000 or more for a useful audit), got {canaries}"
        )
    if steps is not None and steps < 1:
        raise PrivacyParameterError(f"--steps must be at least 1, got {steps}")
    if not 0 < confidence < 1:
        raise PrivacyParameterError(f"confidence must be in (0, 1), got {confidence}")
    if not (math.isfinite(noise_scale) and noise_scale >= 0):
        raise PrivacyParameterError(
            f"the audit's noise scale must be a finite number >= 0, got {noise_scale}"
        )
    if unit not in UNITS:
        raise PrivacyParameterError(f"--unit must be one of {', '.join(UNITS)}, got {unit!r}")
    if isinstance(records_per_patient, bool) or not (
        isinstance(records_per_patient, int) and records_per_patient >= 1
    ):
        raise PrivacyParameterError(
            f"--records-per-patient must be a whole number >= 1, got {records_per_patient!r}"
        )
    patient_canaries = unit == "patient" or records_per_patient > 1
    config = TabularTrainingConfig().with_overrides(
        {**(overrides or {}), **({"steps": steps} if steps else {})}
    )
    config.validate()

    conformed = conform(table, schema)
    n = len(conformed)
    delta = default_delta(n) if delta is None else float(delta)
    check_privacy_parameters(epsilon=epsilon, delta=delta, n_records=n)
    config = config.resolve(n_records=n, epsilon=epsilon, max_steps=None)
    assert config.batch_size is not None and config.steps is not None
    # public data: exact statistics, nothing spent (the audit is of DP-SGD alone)
    stats = estimate_statistics(
        conformed,
        schema,
        epsilon=math.inf,
        delta=delta,
        preprocessing_share=config.preprocessing_share,
        accountant=RunAccountant(),
        noise=NoiseSource(secure=False),
        histogram_bins=config.histogram_bins,
    )
    sample_rate = min(1.0, config.batch_size / n)
    sigma = calibrate_noise_multiplier(
        target_epsilon=epsilon, delta=delta, sample_rate=sample_rate, steps=config.steps
    )
    claimed = epsilon_for([(sigma, sample_rate, config.steps)], delta=delta)

    torch.manual_seed(seed)
    encoder, diffusion, denoiser = build_networks(stats, config)
    model: torch.nn.Module = denoiser
    data: Any = encoder.encode(conformed)
    canary_set: GradientCanaries | PatientCanaries
    loss_model: Any = diffusion
    if patient_canaries:
        from synthgen.tabular import canary_patients

        canary_set = PatientCanaries(
            canaries,
            records_per_patient=records_per_patient,
            max_grad_norm=config.max_grad_norm,
            seed=seed,
        )
        data = canary_patients.training_data(data, canary_set, unit=unit, seed=seed)
        model = canary_patients.WithCanaryLayer(model, canary_set.layer)
        loss_model = canary_patients.LossWithCanaries(diffusion, canary_set)
    else:
        canary_set = GradientCanaries(canaries, max_grad_norm=config.max_grad_norm, seed=seed)
    canary_parameters = canary_set.param_group()["params"]
    denoiser_parameters = [
        p for p in model.parameters() if all(p is not c for c in canary_parameters)
    ]
    optimizer = torch.optim.Adam(
        [{"params": denoiser_parameters}, canary_set.param_group()], lr=config.learning_rate
    )
    accountant = RunAccountant()
    used = sigma * float(noise_scale)

    def on_private(training: Any) -> None:
        if noise_scale != 1:  # audit only: see the module docstring
            training.optimizer.noise_multiplier = used
        canary_set.attach(training)

    total = config.steps

    def after_step(step: int, loss: float) -> None:
        optimizer.param_groups[0]["lr"] = trainer.learning_rate(step, total, config.learning_rate)
        progress(ProgressEvent("audit", step, total, 0.0))

    optimizer.param_groups[0]["lr"] = trainer.learning_rate(0, total, config.learning_rate)
    trainer._private_loop(
        data,
        cast(Any, loss_model),
        model,
        optimizer,
        config=config,
        sigma=sigma,
        accountant=accountant,
        start=0,
        total=config.steps,
        generator=torch.Generator().manual_seed(seed),
        after_step=after_step,
        record_count=n,
        on_private=on_private,
    )
    if canary_set.steps != config.steps or accountant.sgd_steps != config.steps:
        raise RuntimeError(
            f"the audit ran {canary_set.steps} noise steps for {config.steps} DP-SGD steps"
        )
    bound = canary_set.bound(delta=delta, confidence=confidence)
    return AuditReport(
        claimed_epsilon=claimed,
        delta=delta,
        noise_multiplier=sigma,
        noise_multiplier_used=used,
        sample_rate=sample_rate,
        steps=config.steps,
        max_grad_norm=config.max_grad_norm,
        records=n,
        canaries=canaries,
        included=int(canary_set.included.sum()),
        bound=bound,
        detectable_epsilon=largest_detectable_epsilon(
            canaries=canaries, delta=delta, confidence=confidence
        ),
        seconds=time.perf_counter() - started,
        unit=unit,
        records_per_patient=records_per_patient,
        patient_canaries=patient_canaries,
    )
