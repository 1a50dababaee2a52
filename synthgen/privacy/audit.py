"""White-box gradient canaries for a one-run audit of DP-SGD (Steinke, Nasr and Jagielski 2023).

An empirical audit is a bug detector, not a certificate (docs/privacy.md#empirical-audit): its lower
bound on epsilon must sit below the claimed epsilon, and one above it means a bug.

Canaries. Canary j is a record whose clipped gradient is C times the j-th unit vector of a
parameter block of its own (a Dirac canary). Each canary is included in the run with
probability 1/2, decided by the auditor's seed; an included canary is then Poisson-sampled
at every step with the run's sample rate q, from the run's own ``NoiseSource``, and when
sampled it joins the clipped sum exactly like a training example of norm C. The production
noise step (``dp_sgd._secure_add_noise``, std = noise_multiplier * C on every coordinate)
then runs unchanged on that sum. So the mechanism under audit is the production one on
the training data plus the included canaries, and it must be (epsilon, delta)-DP with
respect to each canary: a missing or too small noise term, a wrong sample rate or a
miscalibrated noise multiplier make the canaries stand out and the bound exceed the claim.

Why a block of its own: no training example has a gradient there, so the auditor's score
(the sum over steps of the noisy released gradient on the canary's coordinate, in units of
C) is the canary's sample count plus noise, with no data-dependent offset to hide it. The
block is an optimizer parameter that the model never uses; its learning rate is 0.

What the auditor reads is the noisy gradient sum after the noise step, i.e. what DP-SGD
releases at each step (the white-box threat model); guesses are made from these scores
only, never from the Poisson masks, which are the mechanism's secret randomness.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from synthgen.errors import PrivacyParameterError
from synthgen.privacy.analysis.one_run import OneRunBound, bound_from_scores
from synthgen.privacy.dp_sgd import PrivateTraining


class GradientCanaries:
    """``count`` Dirac gradient canaries: add ``param_group()`` to the optimizer before
    ``make_private``, then ``attach`` to the ``PrivateTraining`` it returns."""

    def __init__(self, count: int, *, max_grad_norm: float, seed: int):
        if count < 2:
            raise PrivacyParameterError(f"an audit needs at least 2 canaries, got {count}")
        if not max_grad_norm > 0:
            raise PrivacyParameterError(f"max_grad_norm must be positive, got {max_grad_norm}")
        self.count = count
        self.max_grad_norm = float(max_grad_norm)
        # the auditor's secret: which canaries are in the training data
        self.included = (
            np.random.default_rng(np.random.SeedSequence([seed, 0xCA4A])).random(count) < 0.5
        )
        self.parameter = nn.Parameter(torch.zeros(count))
        self.scores = np.zeros(count)  # sum over steps of the released gradient / C
        self.steps = 0
        self._included = torch.as_tensor(self.included)

    def param_group(self) -> dict[str, Any]:
        """The canaries' coordinates, for the optimizer (never moved: lr 0)."""
        return {"params": [self.parameter], "lr": 0.0}

    def attach(self, training: PrivateTraining) -> None:
        """Insert the canaries around the production noise step of ``training``."""
        if training.grad_sample_mode != "ghost":
            raise PrivacyParameterError("gradient canaries are wired for ghost clipping only")
        optimizer = training.optimizer
        if not any(p is self.parameter for p in optimizer.params):
            raise PrivacyParameterError(
                "add GradientCanaries.param_group() to the optimizer before make_private"
            )
        production_pre_step: Callable[..., Any] = optimizer.pre_step
        production_add_noise: Callable[[], None] = optimizer.add_noise
        canary = self.parameter
        sample_rate = training.sample_rate

        def pre_step(closure: Any = None) -> Any:
            # no example touches the canary block: its per-example gradients are zero
            if canary.grad is None:
                canary.grad = torch.zeros_like(canary)
            return production_pre_step(closure)

        def add_noise() -> None:
            sampled = torch.as_tensor(optimizer.noise_source.poisson_mask(self.count, sample_rate))
            contribution = self.max_grad_norm * (sampled & self._included).to(canary.dtype)
            canary.summed_grad = canary.summed_grad + contribution  # type: ignore[attr-defined]
            production_add_noise()  # the noise under audit
            released = canary.grad
            assert released is not None
            self.scores += released.detach().double().numpy() / self.max_grad_norm
            self.steps += 1

        optimizer.pre_step = pre_step
        optimizer.add_noise = add_noise

    def bound(self, *, delta: float, confidence: float = 0.95) -> OneRunBound:
        """Empirical epsilon lower bound from the scores of the steps that ran."""
        if self.steps == 0:
            raise PrivacyParameterError("the audit ran no DP-SGD step")
        return bound_from_scores(self.scores, self.included, delta=delta, confidence=confidence)


# A canary example's gradient norm, in units of C: so large that clipping leaves C on its
# canary's coordinate (to about 1e-8 relative) whatever the denoiser's gradient adds
CANARY_GRADIENT_SCALE = 1e4


class PatientCanaries:
    """``count`` canary patients whose gradients go through the production clipping.

    Canary j is a patient of k near-duplicate records (the worst case for record-level
    privacy: k copies of one record), included in the training data with probability 1/2
    (the auditor's seed) and then Poisson-sampled by the run's own loader like any other
    example. Each of its records carries the id j in a ``canary`` field of the batch
    (-1 for training records); ``loss`` adds to each example a term whose gradient is
    CANARY_GRADIENT_SCALE * C times (its records that belong to canary j) on coordinate j
    of ``layer``, a linear layer of the model under audit that nothing else touches.
    Production clipping then leaves C on that coordinate per clipped *example*, so what a
    sampled canary adds to the released sum depends only on the clipping unit:

    - patient-level training (one example per patient): C, whatever k is;
    - record-level training (one example per record, each Poisson-sampled): C per sampled
      record, up to k * C, which is why record-level DP does not protect a patient.

    Unlike ``GradientCanaries`` nothing is injected at the noise step: the canaries are
    training data, and clipping, sampling and noise are all the production ones. Scores and
    the bound are the same: the released noisy gradient on the canary's coordinate, summed
    over steps, in units of C.
    """

    def __init__(self, count: int, *, records_per_patient: int, max_grad_norm: float, seed: int):
        if count < 2:
            raise PrivacyParameterError(f"an audit needs at least 2 canaries, got {count}")
        if records_per_patient < 1:
            raise PrivacyParameterError(
                f"a canary patient needs at least 1 record, got {records_per_patient}"
            )
        if not max_grad_norm > 0:
            raise PrivacyParameterError(f"max_grad_norm must be positive, got {max_grad_norm}")
        self.count = count
        self.records_per_patient = records_per_patient
        self.max_grad_norm = float(max_grad_norm)
        # the auditor's secret: which canary patients are in the training data
        self.included = (
            np.random.default_rng(np.random.SeedSequence([seed, 0xCA4A])).random(count) < 0.5
        )
        self.layer = nn.Linear(count, 1, bias=False)
        nn.init.zeros_(self.layer.weight)
        self.scores = np.zeros(count)
        self.steps = 0

    def param_group(self) -> dict[str, Any]:
        """The canaries' coordinates, for the optimizer (never moved: lr 0)."""
        return {"params": [self.layer.weight], "lr": 0.0}

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """[B] canary terms (their value is 0: the weights stay 0), to add to the
        production per-example losses. ``batch["canary"]`` is [B] (an example is a record)
        or [B, k] with ``record_mask`` (an example is a patient)."""
        ids = batch["canary"]
        onehot = (ids.unsqueeze(-1) == torch.arange(self.count)).to(self.layer.weight.dtype)
        if ids.dim() == 2:  # a record axis: count each example's real records of canary j
            mask = batch.get("record_mask", torch.ones(ids.shape))
            onehot = (onehot * mask.unsqueeze(-1).to(onehot.dtype)).sum(1)
        return CANARY_GRADIENT_SCALE * self.max_grad_norm * self.layer(onehot).squeeze(-1)

    def attach(self, training: PrivateTraining) -> None:
        """Read the released noisy gradient on the canary coordinates at every step."""
        if training.grad_sample_mode != "ghost":
            raise PrivacyParameterError("patient canaries are wired for ghost clipping only")
        optimizer = training.optimizer
        weight = self.layer.weight
        if not any(p is weight for p in optimizer.params):
            raise PrivacyParameterError(
                "add PatientCanaries.param_group() to the optimizer before make_private"
            )
        production_add_noise: Callable[[], None] = optimizer.add_noise

        def add_noise() -> None:
            production_add_noise()
            released = weight.grad
            assert released is not None
            self.scores += released.detach().double().reshape(-1).numpy() / self.max_grad_norm
            self.steps += 1

        optimizer.add_noise = add_noise

    def bound(self, *, delta: float, confidence: float = 0.95) -> OneRunBound:
        """Empirical epsilon lower bound from the scores of the steps that ran."""
        if self.steps == 0:
            raise PrivacyParameterError("the audit ran no DP-SGD step")
        return bound_from_scores(self.scores, self.included, delta=delta, confidence=confidence)
