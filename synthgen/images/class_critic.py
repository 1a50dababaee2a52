"""The class critic: a small DP classifier that picks, among several samples drawn under a
label, the ones that show that label most clearly.

Why. A DP-trained denoiser learns the look of the images well before it learns what tells
the classes apart: on BreastMNIST at epsilon 10 its samples taught a downstream CNN a ROC
AUC of about 0.72, and the denoiser used as a classifier scored no better
(docs/research/2026-12-03-image-downstream-protocol-and-class-signal.md). A classifier spends its budget on
the class boundary alone, and a linear model on fixed features has so few parameters (258
for two classes) that DP-SGD's noise barely touches it: features of a *random*, untrained
conv net with a linear head are a strong DP baseline (Tramer and Boneh 2021, "Differentially
private learning needs better features"). Sampling then draws ``candidates`` images per
requested image under the label and keeps, class by class, those with the largest critic
margin for their label: rejection sampling towards p(x | y) p_critic(y | x).

Privacy. The feature network is random with a fixed public seed: no data touches it. The
feature standardisation comes from the diffusion model's own samples (post-processing of a
DP model, free). The head is trained with DP-SGD (Poisson sampling, clipping, Gaussian
noise, through ``synthgen.privacy.make_private``) on the private training images, and its
steps are composed in the run's accountant; its noise multiplier is fixed before training
starts from its share of epsilon, and the diffusion model's is calibrated for the rest.
Choosing among samples with the critic is post-processing of the two DP models.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from synthgen.errors import ModelLoadError, SamplingError

if TYPE_CHECKING:
    from synthgen.images.data import ImageSet

CRITIC_WEIGHTS = "class_critic.safetensors"
FEATURE_SEED = 20231  # public constant: the random feature network is not learned


@dataclass(frozen=True)
class CriticPlan:
    """The critic's DP-SGD run, fixed before any training (its cost is known in advance)."""

    steps: int
    sample_rate: float
    noise_multiplier: float | None  # None: not private (epsilon = inf)
    # the public N-hat the sample rate was chosen from (DP or declared, never the count)
    public_record_count: int = 0
    max_grad_norm: float = 1.0
    learning_rate: float = 3e-2
    width: int = 32
    feature_samples: int = 2048  # model samples the feature standardisation is taken from

    def history(self) -> list[tuple[float, float, int]]:
        """The accountant entry the run will add."""
        if self.noise_multiplier is None:
            return []
        return [(self.noise_multiplier, self.sample_rate, self.steps)]

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self)


class RandomFeatures(nn.Module):
    """A fixed conv net with PyTorch's default initialisation from ``FEATURE_SEED``: two
    3x3 conv blocks, pooling, two more, pooling, one more, global average pooling."""

    def __init__(self, channels: int, width: int):
        super().__init__()
        w = width
        layers: list[nn.Module] = []
        with torch.random.fork_rng(devices=[]):  # the caller's random stream is untouched
            torch.manual_seed(FEATURE_SEED)
            for cin, cout, pool in (
                (channels, w, False),
                (w, w, True),
                (w, 2 * w, False),
                (2 * w, 2 * w, True),
                (2 * w, 4 * w, False),
            ):
                layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU()]
                if pool:
                    layers.append(nn.MaxPool2d(2))
        self.body = nn.Sequential(*layers)
        self.body.requires_grad_(False)
        self.dim = 4 * w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(2, 3))


class ClassCritic(nn.Module):
    """Random features, standardised by statistics of the model's samples, and a linear
    head trained with DP-SGD. ``log_prior``: the log class proportions the head's training
    data had (the model's DP or declared ones), removed from its scores so that a rare class
    is not penalised for being rare."""

    mean: torch.Tensor
    std: torch.Tensor
    log_prior: torch.Tensor

    def __init__(self, channels: int, num_classes: int, width: int):
        super().__init__()
        self.features = RandomFeatures(channels, width)
        self.head = nn.Linear(self.features.dim, num_classes)
        self.register_buffer("mean", torch.zeros(self.features.dim))
        self.register_buffer("std", torch.ones(self.features.dim))
        self.register_buffer("log_prior", torch.zeros(num_classes))

    @torch.no_grad()
    def embed(self, images: np.ndarray, batch: int = 1024) -> torch.Tensor:
        """Standardised features of uint8 images (numpy, MedMNIST layout)."""
        from synthgen.images.data import to_model_range

        self.eval()
        out = [
            self.features(to_model_range(images[i : i + batch]).float())
            for i in range(0, len(images), batch)
        ]
        raw = torch.cat(out) if out else torch.zeros(0, self.features.dim)
        return (raw - self.mean) / self.std

    @torch.no_grad()
    def class_scores(self, images: np.ndarray) -> np.ndarray:
        """[N, k] prior-corrected log probabilities (log-likelihood up to a constant)."""
        return (F.log_softmax(self.head(self.embed(images)), dim=1) - self.log_prior).numpy()

    def log_prob_gradient(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Row by row, the gradient of log p_critic(label | x) with respect to x, for float
        images in the model range [N, C, H, W] (x is clamped to [-1, 1] first). Works inside
        a sampler's inference mode: the images are copied out of it."""
        with torch.inference_mode(False), torch.enable_grad():
            x = x.detach().clone().float().clamp(-1, 1).requires_grad_(True)
            z = (self.features(x) - self.mean) / self.std
            log_p = F.log_softmax(self.head(z), dim=1)
            # rows are independent (no batch statistics): the sum's gradient is per row
            chosen = log_p.gather(1, labels.detach().clone().view(-1, 1)).sum()
            (grad,) = torch.autograd.grad(chosen, x)
        return grad

    def margins(self, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """How much more the critic believes each image's own label than any other."""
        scores = self.class_scores(images)
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        own = scores[np.arange(len(labels)), labels]
        others = scores.copy()
        others[np.arange(len(labels)), labels] = -np.inf
        return own - others.max(axis=1)


def plan_critic(
    *,
    epsilon_share: float,
    epsilon: float,
    delta: float,
    n_train: int,
    steps: int,
    batch_size: int,
    private: bool,
) -> CriticPlan:
    """``n_train`` is the public N-hat of the run. The critic's noise multiplier for its own share of epsilon (calibrated alone; the
    composed total is smaller than the sum, and the diffusion model's noise is calibrated
    for the composition)."""
    from synthgen.privacy.accountant import calibrate_noise_multiplier

    sample_rate = min(1.0, batch_size / n_train)
    sigma = (
        calibrate_noise_multiplier(
            target_epsilon=epsilon_share * epsilon,
            delta=delta,
            sample_rate=sample_rate,
            steps=steps,
        )
        if private
        else None
    )
    return CriticPlan(
        steps=steps, sample_rate=sample_rate, noise_multiplier=sigma, public_record_count=n_train
    )


class _Rows:
    """Features and labels fetched by index list (what ``poisson_loader`` needs)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitems__(self, idx: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[idx], self.y[idx]


def train_critic(
    plan: CriticPlan,
    *,
    train: ImageSet,
    model_samples: np.ndarray,
    class_proportions: list[float],
    accountant: Any,
    noise: Any,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> ClassCritic:
    """Fit the critic's head on the private ``train`` ImageSet (DP-SGD per ``plan``; its
    steps are recorded in ``accountant``). ``model_samples``: images drawn from the trained DP model,
    whose feature statistics standardise the features."""
    k = len(class_proportions)
    critic = ClassCritic(train.channels, k, plan.width)
    stats = critic.embed(model_samples)  # mean 0, std 1: raw features, as buffers are fresh
    std = stats.std(dim=0)
    critic.mean.copy_(stats.mean(dim=0))
    # a feature (nearly) constant on the samples would be blown up on real images
    critic.std.copy_(std.clamp(min=1e-3 * float(std.median()) + 1e-12))
    p = torch.tensor(class_proportions, dtype=torch.float32).clamp(min=1e-6)
    critic.log_prior.copy_(torch.log(p / p.sum()))
    x = critic.embed(train.images)
    y = torch.as_tensor(np.asarray(train.labels, dtype=np.int64).reshape(-1))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        critic.head.reset_parameters()
    head = critic.head.train()  # Opacus records activations only in training mode
    optimizer = torch.optim.Adam(head.parameters(), lr=plan.learning_rate)
    if plan.noise_multiplier is None:
        _fit_nonprivate(head, optimizer, x, y, plan, seed=seed, progress=progress)
    else:
        _fit_private(
            head, optimizer, x, y, plan, accountant=accountant, noise=noise, progress=progress
        )
    return critic.eval()


def _fit_private(
    head: nn.Linear,
    optimizer: Any,
    x: torch.Tensor,
    y: torch.Tensor,
    plan: CriticPlan,
    *,
    accountant: Any,
    noise: Any,
    progress: Callable[[int, int], None] | None,
) -> None:
    from synthgen.privacy.dp_sgd import make_private

    assert plan.noise_multiplier is not None
    dp = make_private(
        head,
        optimizer,
        _Rows(x, y),
        noise_multiplier=plan.noise_multiplier,
        max_grad_norm=plan.max_grad_norm,
        expected_batch_size=round(plan.sample_rate * plan.public_record_count),
        public_record_count=plan.public_record_count,
        steps=plan.steps,
        accountant=accountant,
        noise=noise,
        grad_sample_mode="hooks",
    )
    for step, (xb, yb) in enumerate(dp.loader, start=1):
        if len(yb) == 0:
            dp.empty_backward()
        else:
            dp.loss_backward(F.cross_entropy(dp.module(xb), yb, reduction="none"))
        dp.step()
        if progress is not None:
            progress(step, plan.steps)
    dp.module.remove_hooks()  # type: ignore[operator]  # the head is used plainly from here


def _fit_nonprivate(
    head: nn.Linear,
    optimizer: Any,
    x: torch.Tensor,
    y: torch.Tensor,
    plan: CriticPlan,
    *,
    seed: int,
    progress: Callable[[int, int], None] | None,
) -> None:
    g = torch.Generator().manual_seed(seed)
    batch = max(1, round(plan.sample_rate * len(y)))
    for step in range(1, plan.steps + 1):
        idx = torch.randint(0, len(y), (batch,), generator=g)
        loss = F.cross_entropy(head(x[idx]), y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if progress is not None:
            progress(step, plan.steps)


def save_critic(critic: ClassCritic, model_dir: Path) -> None:
    from synthgen.artifacts import save_weights

    save_weights(critic, model_dir / CRITIC_WEIGHTS)


def load_critic(
    model_dir: Path, info: dict[str, Any], *, channels: int, num_classes: int
) -> ClassCritic:
    from synthgen.artifacts import load_weights

    try:
        critic = ClassCritic(channels, num_classes, int(info["width"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"the model's class critic is not described: {exc}") from exc
    load_weights(critic, model_dir / CRITIC_WEIGHTS)
    return critic.eval()


def select_by_margin(margins: np.ndarray, labels: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Indices of the kept candidates: for each class c, the ``counts[c]`` candidates of that
    class with the largest margin (ties: the earlier one), in candidate order."""
    keep = []
    for c, n in enumerate(counts):
        idx = np.flatnonzero(labels == c)
        if n > len(idx):
            raise SamplingError(f"class {c}: {n} images asked from {len(idx)} candidates")
        best = idx[np.argsort(-margins[idx], kind="stable")[:n]]
        keep.append(np.sort(best))
    return np.concatenate(keep) if keep else np.zeros(0, dtype=np.int64)


def check_candidates(candidates: int) -> int:
    if not isinstance(candidates, int) or not 1 <= candidates <= 64:
        raise SamplingError(f"candidates must be a whole number from 1 to 64, got {candidates!r}")
    return candidates
