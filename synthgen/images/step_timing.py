"""How long one DP-SGD step takes on this machine, against its non-private twin.

The demo and the image benchmarks size a run's step count to a time budget with it: the
noise multiplier is calibrated for the planned steps, so a run sized this way spends its
whole epsilon. The probe trains on random images of the source's shape, so its timings
reveal nothing about the source.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

PROBE_BLOCKS = 3  # alternating blocks per mode in the step-time probe
PROBE_WARMUP_STEPS = 2  # untimed steps at the start of each block


def measure_step_times(
    *,
    n_train: int,
    image_shape: tuple[int, int, int],
    num_classes: int,
    overrides: dict[str, Any],
    steps: int = 3,
    seed: int = 0,
) -> dict[str, float]:
    """Median seconds of a DP step and of a non-private step at the same K and batch, about
    ``steps`` timed steps each, on random uint8 images (timing reveals nothing about the
    source)."""
    import torch

    from synthgen.images.config import build_recipe
    from synthgen.images.data import ImageSet
    from synthgen.images.edm import Denoiser
    from synthgen.images.trainer import (
        ImageTensorDataset,
        StepRecord,
        new_state,
        resolve_device,
        train_nonprivate,
        train_private,
    )
    from synthgen.images.unet import UNet
    from synthgen.privacy.accountant import RunAccountant
    from synthgen.privacy.secure_random import NoiseSource

    # random weights time the same as pretrained ones
    recipe = build_recipe({k: v for k, v in overrides.items() if k != "init_from"})
    c, h, _ = image_shape
    rng = np.random.default_rng(seed)
    shape = (n_train, h, h) if c == 1 else (n_train, h, h, c)
    data = ImageTensorDataset(
        ImageSet(rng.integers(0, 256, shape, dtype=np.uint8), rng.integers(0, num_classes, n_train))
    )
    device = resolve_device(recipe.training.device)
    cfg = recipe.training
    unet_cfg = recipe.unet_config(image_size=h, channels=c, num_classes=num_classes)

    def fresh() -> Any:
        torch.manual_seed(seed)
        return new_state(Denoiser(UNet(unet_cfg), recipe.diffusion).to(device), cfg, seed=seed)

    times: dict[str, list[float]] = {"dp": [], "nonprivate": []}

    def recorder(kind: str) -> Callable[[StepRecord], bool]:
        seen = 0

        def record(r: StepRecord) -> bool:
            nonlocal seen
            if device.type == "cuda":
                torch.cuda.synchronize()
            seen += 1
            if seen > PROBE_WARMUP_STEPS:
                times[kind].append(r.seconds)
            return False

        return record

    # Alternating blocks of consecutive steps, so that a change in the machine's load hits
    # both modes; each block's first steps run cold (fresh allocations) and are not timed.
    # One step per fresh model, as before 2026-12-03, read 0.77 s where training then ran
    # at a median of 0.53 s, and so sized the 60-minute benchmark to about 37 minutes.
    block = PROBE_WARMUP_STEPS + max(1, -(-steps // PROBE_BLOCKS))
    for _ in range(PROBE_BLOCKS):
        train_nonprivate(
            fresh(),
            data,
            cfg=cfg,
            edm=recipe.diffusion,
            steps=block,
            device=device,
            on_step=recorder("nonprivate"),
        )
        train_private(
            fresh(),
            data,
            cfg=cfg,
            edm=recipe.diffusion,
            noise_multiplier=1.0,
            steps=block,
            accountant=RunAccountant(),
            noise=NoiseSource(secure=cfg.secure_rng),
            device=device,
            on_step=recorder("dp"),
            public_record_count=len(data),
        )
    dp, nonprivate = float(np.median(times["dp"])), float(np.median(times["nonprivate"]))
    # the ratio compares medians (robust to a stray slow step); a run's length is a sum of
    # steps, so the plan uses means: sized on the median, a 60-minute run of 2026-12-05
    # (median 0.463 s, mean 0.473 s) met its time limit at 7,542 of 7,873 steps
    return {
        "dp_step_seconds": dp,
        "nonprivate_step_seconds": nonprivate,
        "dp_step_mean_seconds": float(np.mean(times["dp"])),
        "nonprivate_step_mean_seconds": float(np.mean(times["nonprivate"])),
        "dp_over_nonprivate": dp / nonprivate,
        "batch_size": cfg.batch_size,
        "noise_multiplicity": cfg.noise_multiplicity,
    }
