"""A small CNN for the image utility metrics (TSTR / TRTR) and as their feature extractor.

Not trained with DP: it only ever runs inside validation, on the steward's side. The
protocol is fixed in advance (architecture, steps, learning rate); nothing is selected on
the real test split. It trains on the GPU when there is one (a TSTR ensemble of 1,500-step
CNNs costs minutes on CPU); the batches are drawn on the CPU from the seed, so a run draws
the same batches on either device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from synthgen.images.data import ImageSet, to_model_range


class SmallCNN(nn.Module):
    """Two conv blocks with pooling, a third conv, global average pooling, a linear head."""

    blur_kernel: torch.Tensor

    def __init__(self, channels: int, num_classes: int, width: int = 16, input_blur: float = 0.0):
        super().__init__()
        # A fixed Gaussian low-pass in front of the first convolution (not a parameter, not
        # saved): with input_blur > 0 the network sees only what survives it, on real and on
        # synthetic images alike. Non-persistent, so state dicts keep their keys.
        self.input_blur = input_blur
        self.register_buffer("blur_kernel", gaussian_kernel(input_blur, channels), persistent=False)

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
            )

        w = width
        self.body = nn.Sequential(
            block(channels, w),
            block(w, w),
            nn.MaxPool2d(2),
            block(w, 2 * w),
            block(2 * w, 2 * w),
            nn.MaxPool2d(2),
            block(2 * w, 4 * w),
        )
        self.head = nn.Linear(4 * w, num_classes)
        self.dropout = nn.Dropout(0.2)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_blur > 0:
            pad = int(self.blur_kernel.shape[-1]) // 2
            x = F.conv2d(
                F.pad(x, (pad, pad, pad, pad), mode="replicate"),
                self.blur_kernel,
                groups=x.shape[1],
            )
        return self.body(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


@dataclass
class TrainedClassifier:
    model: SmallCNN
    num_classes: int

    @torch.no_grad()
    def predict_proba(self, images: ImageSet | np.ndarray, batch: int = 512) -> np.ndarray:
        return self._apply(images, lambda x: F.softmax(self.model(x), dim=1), batch)

    @torch.no_grad()
    def features(self, images: ImageSet | np.ndarray, batch: int = 512) -> np.ndarray:
        return self._apply(images, self.model.features, batch)

    def _apply(self, images: ImageSet | np.ndarray, fn: object, batch: int) -> np.ndarray:
        arr = images.images if isinstance(images, ImageSet) else images
        self.model.eval()
        device = self.model.blur_kernel.device
        outs = []
        for start in range(0, len(arr), batch):
            x = to_model_range(arr[start : start + batch]).to(device)
            outs.append(fn(x).float().cpu().numpy())  # type: ignore[operator]
        return np.concatenate(outs) if outs else np.zeros((0, self.num_classes))


def train_classifier(
    images: ImageSet,
    *,
    num_classes: int,
    seed: int = 0,
    steps: int = 1200,
    batch_size: int = 64,
    learning_rate: float = 2e-3,
    width: int = 16,
    shift: int = 0,
    label_smoothing: float = 0.0,
    pixel_noise: float = 0.0,
    input_blur: float = 0.0,
    device: str | torch.device | None = None,
) -> TrainedClassifier:
    """AdamW for a fixed number of steps with a cosine schedule; classes are re-weighted to
    balance the loss (so a rare class still shapes the decision surface). No mirroring:
    it is not label-preserving for every modality (laterality). ``shift``: each training image moved by up to that many pixels along each axis (edge
    pixels repeated), a change of framing that preserves the label in every modality.
    ``label_smoothing``: cross-entropy against targets smoothed by that share (for training
    labels that are not always right, as a generator's may not be). ``pixel_noise``: Gaussian
    noise of that standard deviation (model range [-1, 1]) added to each training batch.
    ``input_blur``: the standard deviation in pixels of a fixed Gaussian low-pass in front of
    the network, at training and at prediction. ``device``: CUDA when available, else CPU."""
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = SmallCNN(images.channels, num_classes, width=width, input_blur=input_blur).to(dev)
    x = to_model_range(images.images).to(dev)
    y = torch.from_numpy(images.labels).to(dev)
    counts = torch.bincount(y, minlength=num_classes).float()
    weights = torch.where(
        counts > 0, counts.sum() / (num_classes * counts.clamp(min=1)), torch.zeros_like(counts)
    )
    opt = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    model.train()
    n = len(y)
    for _ in range(steps):
        idx = torch.randint(0, n, (min(batch_size, n),), generator=g).to(dev)
        xb, yb = x[idx], y[idx]
        if shift:
            xb = random_shift(xb, shift, g)
        if pixel_noise:
            xb = xb + pixel_noise * torch.randn(xb.shape, generator=g).to(dev)
        loss = F.cross_entropy(model(xb), yb, weight=weights, label_smoothing=label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return TrainedClassifier(model=model.eval(), num_classes=num_classes)


def random_shift(x: torch.Tensor, shift: int, generator: torch.Generator) -> torch.Tensor:
    """Each image of ``x`` [B, C, H, W] translated by its own offset in [-shift, shift]^2."""
    b, _, h, w = x.shape
    padded = F.pad(x, (shift, shift, shift, shift), mode="replicate")
    offsets = torch.randint(0, 2 * shift + 1, (b, 2), generator=generator).tolist()
    return torch.stack(
        [padded[i, :, dy : dy + h, dx : dx + w] for i, (dy, dx) in enumerate(offsets)]
    )


def gaussian_kernel(sigma: float, channels: int) -> torch.Tensor:
    """A normalised 2-D Gaussian of standard deviation ``sigma`` pixels, one per channel
    (depthwise weights [channels, 1, k, k]); the identity kernel when sigma is 0."""
    radius = max(1, math.ceil(3 * sigma)) if sigma > 0 else 0
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    line = torch.exp(-0.5 * (t / sigma) ** 2) if sigma > 0 else torch.ones(1)
    kernel = torch.outer(line, line)
    kernel = kernel / kernel.sum()
    return kernel.expand(channels, 1, *kernel.shape).clone()


def roc_auc(labels: np.ndarray, proba: np.ndarray) -> float:
    """ROC AUC: binary (score of class 1), or the macro mean of one-vs-rest AUCs over the
    classes present. Computed as the Mann-Whitney U statistic (ties count one half)."""
    labels = np.asarray(labels).reshape(-1)
    if proba.ndim == 1 or proba.shape[1] == 2:
        score = proba if proba.ndim == 1 else proba[:, 1]
        return _binary_auc(labels == 1, score)
    aucs = [
        _binary_auc(labels == c, proba[:, c])
        for c in range(proba.shape[1])
        if 0 < (labels == c).sum() < len(labels)
    ]
    return float(np.mean(aucs)) if aucs else float("nan")


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> float:
    from scipy.stats import rankdata

    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def accuracy(labels: np.ndarray, proba: np.ndarray) -> float:
    return float((proba.argmax(axis=1) == np.asarray(labels).reshape(-1)).mean())
