"""Mixed-type diffusion: Gaussian on numerics, masked on categoricals, one shared time.

The denoiser predicts a *residual* on top of the prior's optimal prediction: for numerics
``eps = sqrt(1 - alpha_bar) z_t + r`` (the posterior mean of the noise when z0 ~ N(0, I)),
for masked categoricals ``logits = log p_prior(category | class) + r``. The prior is the
per-class DP histograms, so a denoiser that has learned nothing samples them exactly, and
DP-SGD only has to learn the dependencies between columns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from synthgen.tabular.calibration import Calibration
from synthgen.tabular.diffusion.gaussian import T_MAX, GaussianDiffusion
from synthgen.tabular.diffusion.masked import MaskedDiffusion
from synthgen.tabular.encoder import TableEncoder


class MixedDiffusion:
    def __init__(self, encoder: TableEncoder):
        self.encoder = encoder
        self.gaussian = GaussianDiffusion()
        self.masked = MaskedDiffusion(encoder.category_sizes)
        sizes = encoder.category_sizes
        self.n_num, self.n_cat = encoder.n_numeric, encoder.n_categorical
        # embedding slots: each column has size + 1 of them (its categories, then MASK)
        self.slot_offsets = torch.tensor(
            [sum(k + 1 for k in sizes[:j]) for j in range(len(sizes))], dtype=torch.long
        )
        # where each padded logit [column, k] lives in the flat output (a dummy slot for padding)
        k_max = max(sizes, default=1)
        index = torch.full((len(sizes), k_max), 0, dtype=torch.long)
        start = self.n_num
        for j, k in enumerate(sizes):
            index[j, :k] = torch.arange(start, start + k)
            start += k
        self.logit_index = index

    # -- the denoiser with its prior -----------------------------------------------------------
    def category_slots(self, x_t: torch.Tensor) -> torch.Tensor:
        """Indices into the denoiser's embedding table: column j's categories, then its MASK."""
        return x_t + self.slot_offsets

    def predict(
        self,
        model: nn.Module,
        z_t: torch.Tensor,
        x_t: torch.Tensor,
        t: torch.Tensor,
        labels_in: torch.Tensor,
        labels: torch.Tensor,
        prior: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Noise prediction for numerics and padded logits [..., n_cat, K_max] for categoricals.

        ``labels_in`` is what the network sees (possibly the null label); ``labels`` is the
        true class, which selects the prior (part of the fixed per-class representation);
        ``prior`` may pass that selection precomputed. ``t`` broadcasts against the rows.
        """
        out = model(z_t, self.category_slots(x_t), t, labels_in)
        eps = self.gaussian.prior_eps(z_t, t) + out[..., : self.n_num]
        residual = out[..., self.logit_index] if self.n_cat else out[..., :0].unsqueeze(-1)
        # padded slots hold a prior of NEG_INF, so they keep (practically) zero probability
        if prior is None:
            prior = self.encoder.prior_log_probs[labels]
        logits = prior + residual  # [..., n_cat, K_max]
        return eps, logits

    # -- training ------------------------------------------------------------------------------
    def per_example_loss(
        self,
        model: nn.Module,
        batch: dict[str, torch.Tensor],
        *,
        multiplicity: int,
        label_dropout: float,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """[B] losses: for each example, the mean over K diffusion draws of the per-draw loss
        (squared noise error summed over numerics plus cross-entropy summed over masked
        categoricals, divided by the number of columns). Inputs are laid out [B, K, ...].

        A patient-level batch (``synthgen.tabular.entity_table``) has a record axis,
        ``[B, k, ...]`` fields and a ``record_mask`` [B, k]: each record gets K draws, laid
        out ``[B, k*K, ...]``, and the example's loss is the mean over its real records'
        draws (padding weighs 0), so the patient is one example, clipped once."""
        labels = batch["labels"]
        record_mask = batch.get("record_mask")
        if record_mask is None:  # one record per example: a record axis of length 1

            def per_record(x: torch.Tensor) -> torch.Tensor:
                return x.unsqueeze(1)
        else:

            def per_record(x: torch.Tensor) -> torch.Tensor:
                return x

        b, r, k = labels.shape[0], per_record(labels).shape[1], multiplicity
        n = r * k  # draws per example: K per record

        def draws(x: torch.Tensor) -> torch.Tensor:  # [B, r, ...] -> [B, r*K, ...]
            x = per_record(x)
            return x.unsqueeze(2).expand(b, r, k, *x.shape[2:]).reshape(b, n, *x.shape[2:])

        # stratified times: draw k of each record lands in [k/K, (k+1)/K), a cheap
        # variance reduction
        t = (torch.arange(k).repeat(r) + torch.rand(b, n, generator=generator)) / k * T_MAX
        y = draws(labels).contiguous()
        drop = torch.rand(b, n, generator=generator) < label_dropout
        y_in = torch.where(drop, torch.full_like(y, model_null_label(model)), y)
        cells = draws(batch["numeric_cells"])
        z0 = self.encoder.draw_z(
            y,
            cells,
            draws(batch["numeric_low"]),
            draws(batch["numeric_high"]),
            generator,
        )
        eps = torch.randn(z0.shape, generator=generator)
        z_t = self.gaussian.noise(z0, t, eps)
        x0 = draws(batch["categories"])
        x_t, masked = self.masked.mask(x0, t, generator)
        eps_hat, logits = self.predict(model, z_t, x_t, t, y_in, y)
        per_draw = ((eps_hat - eps) ** 2).sum(-1)
        if self.n_cat:
            per_draw = per_draw + self.masked.loss(logits, x0, masked)
        per_draw = per_draw / max(self.n_num + self.n_cat, 1)
        if record_mask is None:
            return per_draw.mean(1)
        weight = record_mask.to(per_draw.dtype).repeat_interleave(k, dim=1)
        return (per_draw * weight).sum(1) / weight.sum(1).clamp_min(1.0)

    # -- sampling ------------------------------------------------------------------------------
    @torch.inference_mode()
    def sample(
        self,
        model: nn.Module,
        labels: torch.Tensor,
        *,
        steps: int,
        guidance_scale: float,
        generator: torch.Generator,
        calibration: Calibration | None = None,
        calibrate_numeric: bool = True,
        on_step: Callable[[int], None] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Reverse process from pure noise / all masked to (z0, categories) for ``labels``.

        Categorical logits are formed only for the columns revealed at each step (about
        n_categorical / steps per row), not for every row and column. ``calibration``
        (see calibration.py) shifts the categorical logits and maps the final z.
        """
        offsets = (
            torch.from_numpy(calibration.logit_offsets).float() if calibration is not None else None
        )
        n = labels.shape[0]
        z = torch.randn(n, self.n_num, generator=generator)
        x = self.masked.sizes.expand(n, self.n_cat).clone()
        times = torch.linspace(T_MAX, 0.0, steps + 1)
        null = torch.full_like(labels, model_null_label(model))
        for i in range(steps):
            t, s = times[i], times[i + 1]
            tt = t.reshape(1)  # one time for all rows: its embedding is computed once
            slots = self.category_slots(x)
            out = model(z, slots, tt, labels)
            if guidance_scale != 1.0:
                out_null = model(z, slots, tt, null)
                out = out_null + guidance_scale * (out - out_null)
            if self.n_num:
                z = self.gaussian.residual_ddim_step(z, out[:, : self.n_num], tt, s.reshape(1))
            if self.n_cat:
                rows, cols = self.masked.reveal(x, float(t), float(s), generator).nonzero(
                    as_tuple=True
                )
                logits = (
                    self.encoder.prior_log_probs[labels[rows], cols]
                    + out[rows.unsqueeze(1), self.logit_index[cols]]
                )
                if offsets is not None:
                    logits = logits + offsets[labels[rows], cols]
                x[rows, cols] = self.masked.draw(logits, generator)
            if on_step is not None:
                on_step(i + 1)
        if calibration is not None and calibrate_numeric:
            z = calibration.apply_numeric(z, labels)
        return z, x


def model_null_label(model: nn.Module) -> int:
    inner: Any = getattr(model, "_module", model)  # Opacus wraps the model
    return int(inner.null_label)
