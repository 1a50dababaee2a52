"""How much class signal a trained model holds: the model itself as a classifier.

A class-conditional denoiser predicts an image better under its own class than under a
wrong one, so the class with the smallest weighted denoising error over a set of noise
draws is the model's guess (Li et al. 2023, "Your diffusion model is secretly a zero-shot
classifier"; Clark and Jaini 2023). Its ROC AUC on the real holdout and test splits shows
how much the model's samples can teach a downstream classifier: the synthetic images carry
the class knowledge the model has, and no more. Running the model is post-processing (no privacy
budget); reading the real splits makes this a private-area tool, like the benchmark
(``benchmarks/images_cpu.py --class-signal MODEL_DIR``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from synthgen.errors import InsufficientData

# Noise ranges (sigma, in the [-1, 1] image range) whose classifiers are reported: the
# model's class knowledge is not spread evenly over noise levels.
SIGMA_RANGES = ((0.05, 1.0), (0.1, 5.0), (1.0, 10.0))


def denoising_errors(denoiser: Any, images: np.ndarray, num_classes: int, *, draws: int = 16,
                     sigma_range: tuple[float, float] = (0.1, 5.0), seed: int = 0,
                     batch: int = 512) -> np.ndarray:
    """[N, num_classes]: each image's EDM-weighted denoising error under each label, averaged
    over ``draws`` noise levels (stratified, log-uniform in ``sigma_range``) and noises.
    Every class sees the same draws, so the differences between columns are paired."""
    import torch

    from synthgen.images.data import to_model_range
    from synthgen.images.edm import loss_weight

    lo, hi = sigma_range
    x = to_model_range(images)
    g = torch.Generator().manual_seed(seed)
    errors = torch.zeros(len(x), num_classes)
    with torch.no_grad():
        for m in range(draws):
            sigma = lo * (hi / lo) ** ((m + torch.rand(len(x), generator=g)) / draws)
            noisy = x + sigma[:, None, None, None] * torch.randn(x.shape, generator=g)
            weight = loss_weight(sigma, denoiser.cfg.sigma_data)
            for c in range(num_classes):
                for start in range(0, len(x), batch):
                    rows = slice(start, start + batch)
                    label = torch.full((len(noisy[rows]),), c, dtype=torch.long)
                    d = denoiser(noisy[rows], sigma[rows], label)
                    errors[rows, c] += weight[rows] * ((d - x[rows]) ** 2).mean(dim=(1, 2, 3))
    return (errors / draws).numpy()


def class_signal(model_dir: str | Path, *, draws: int = 16,
                 sigma_ranges: tuple[tuple[float, float], ...] = SIGMA_RANGES,
                 log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """One row per noise range: the model-as-classifier ROC AUC on the holdout and the test
    split (class probabilities: softmax of the negated errors)."""
    from synthgen.evaluate.images.classifier import roc_auc
    from synthgen.evaluate.images.files import load_image_model_files
    from synthgen.images.sample import ImageModel

    model_dir = Path(model_dir)
    model = ImageModel.load(model_dir, device="cpu")
    k = model.spec.num_classes
    real = load_image_model_files(model_dir)
    splits = {name: split for name, split in (("holdout", real.holdout), ("test", real.test))
              if split is not None and len(split) > 0}
    if not splits:
        raise InsufficientData("a class-signal measurement needs a holdout or a test split")
    rows = []
    for sigma_range in sigma_ranges:
        row: dict[str, Any] = {"sigma_range": list(sigma_range), "draws": draws}
        for name, split in splits.items():
            errors = denoising_errors(model.denoiser, split.images, k, draws=draws,
                                      sigma_range=sigma_range)
            row[f"auc_{name}"] = roc_auc(split.labels, _softmax(-errors))
        log(f"model as classifier, sigma {sigma_range[0]:g}-{sigma_range[1]:g}: "
            + "  ".join(f"ROC AUC {name} {row[f'auc_{name}']:.3f}" for name in splits))
        rows.append(row)
    return rows


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)
