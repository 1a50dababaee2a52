"""Per-example gradients of the noise-multiplicity loss, computed one example at a time.

For example i with K draws, the loss is L_i = mean_k loss(x_i, sigma_ik, n_ik, y_ik) and
DP-SGD needs grad L_i, one vector per example, before clipping. ``torch.func.vmap`` over
the examples, with each example's K draws as the inner batch, computes exactly that: B
gradient rows, never B*K. They are written to ``p.grad_sample`` (float32), where Opacus'
DPOptimizer clips each row to norm C and adds noise once per logical batch.

Why this rather than Opacus' hooks with a ``[B*K]`` batch and a fold afterwards (also
implemented, ``per_example_gradients="hooks"``): Opacus' conv rule materialises the
unfolded input and a zero-padded ``[B*K, ...]`` gradient per parameter; the vmap rule uses
grouped convolutions and sums over K inside. Measured on the project's 2-core CPU
(docs/research/2026-11-27-image-noise-multiplicity-and-step-time.md): about 1.5x a non-private step instead of about 2.9x, with K times less memory.
Both paths are tested against a manual per-example reference.

``make_private`` wraps the model in Opacus' GradSampleModule; the trainer removes its hooks
(functorch cannot run through full backward hooks), so the only per-example gradients the
optimizer sees are the ones written here.
"""

from __future__ import annotations

import torch
from torch import nn

from synthgen.images.edm import TrainingDraws, loss_weight


class VmapPerExampleGradients:
    def __init__(
        self, denoiser: nn.Module, *, sigma_data: float, autocast_dtype: torch.dtype | None = None
    ):
        from torch.func import functional_call, grad_and_value, vmap

        self.denoiser = denoiser
        self.names = [n for n, p in denoiser.named_parameters() if p.requires_grad]
        amp = autocast_dtype

        def example_loss(
            params: dict[str, torch.Tensor],
            buffers: dict[str, torch.Tensor],
            x: torch.Tensor,
            sigma: torch.Tensor,
            noise: torch.Tensor,
            labels: torch.Tensor,
            weight: torch.Tensor,
        ) -> torch.Tensor:
            # one example: x [K, C, H, W], sigma [K], noise [K, C, H, W], labels [K];
            # weight [K]: 1, or a patient's row weights (synthgen.images.patients)
            noisy = x + sigma.reshape(-1, 1, 1, 1) * noise
            with torch.autocast(
                device_type=x.device.type, dtype=amp or torch.float32, enabled=amp is not None
            ):
                denoised = functional_call(denoiser, (params, buffers), (noisy, sigma, labels))
            err = (denoised.float() - x.float()) ** 2
            return (weight * loss_weight(sigma, sigma_data) * err.flatten(1).mean(dim=1)).mean()

        self._per_example = vmap(grad_and_value(example_loss), in_dims=(None, None, 0, 0, 0, 0, 0))

    def __call__(
        self,
        draws: TrainingDraws,
        *,
        batch_size: int,
        multiplicity: int,
        row_weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Write ``p.grad_sample`` ([B, *p.shape]) for every trainable parameter; return the
        per-example losses ``[B]`` (for the private training log). ``multiplicity``: rows
        per example (k*K for a patient); ``row_weight`` [B*rows]: None, or a patient's row
        weights, whose mean over each example's rows is 1."""
        b, k = batch_size, multiplicity
        named = dict(self.denoiser.named_parameters())
        params = {n: named[n].detach() for n in self.names}
        buffers = dict(self.denoiser.named_buffers())

        def per_example(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(b, k, *t.shape[1:])

        weight = torch.ones_like(draws.sigma) if row_weight is None else row_weight
        grads, losses = self._per_example(
            params,
            buffers,
            per_example(draws.x),
            per_example(draws.sigma),
            per_example(draws.noise),
            per_example(draws.labels),
            per_example(weight.to(draws.sigma.dtype)),
        )
        for n in self.names:
            named[n].grad_sample = grads[n].float()  # type: ignore[attr-defined]
        return losses.detach()


def set_empty_grad_samples(module: nn.Module) -> None:
    """An empty Poisson batch: zero rows of per-example gradients for every parameter."""
    for p in module.parameters():
        if p.requires_grad:
            p.grad_sample = torch.zeros(  # type: ignore[attr-defined]
                (0, *p.shape), device=p.device, dtype=torch.float32
            )
