"""``sample_images``: synthetic images from a model directory (post-processing: free).

Sample i uses the generator seeded by (seed, i) and its label is fixed by the class counts
alone, so sample i is the same whatever the batch size, the device batch, or how many
samples follow it. With a class critic (``class_critic.py``) and ``candidates`` > 1, that
holds for the candidates; the critic's choice among them depends on the candidates only,
so the output is the same whatever the batch size, and a function of (seed, class counts,
candidates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from synthgen.artifacts import CONFIG, PREPROCESSING, WEIGHTS, load_weights, read_json
from synthgen.errors import ModelLoadError, SamplingError
from synthgen.images.spec import ImageSpec
from synthgen.progress import ProgressCallback, ProgressEvent, ignore_progress
from synthgen.requests import SampleOptions


@dataclass
class ImageModel:
    """A loaded model directory."""

    denoiser: Any  # synthgen.images.edm.Denoiser (eval mode)
    spec: ImageSpec
    config: dict[str, Any]
    class_proportions: list[float]
    critic: Any = None  # synthgen.images.class_critic.ClassCritic, if the model has one

    @classmethod
    def load(cls, model_dir: str | Path, *, device: str | None = None) -> ImageModel:
        import torch

        from synthgen.images.edm import Denoiser, EDMConfig
        from synthgen.images.unet import UNet, UNetConfig

        d = Path(model_dir)
        config = read_json(d / CONFIG)
        if config.get("modality") != "image":
            raise ModelLoadError(f"{d} is not an image model")
        spec = ImageSpec.from_json_dict(read_json(d / "spec.json"))
        proportions = read_json(d / PREPROCESSING)["class_proportions"]
        try:
            net = UNet(UNetConfig.from_json_dict(config["model"]))
            edm = EDMConfig.from_json_dict(config["diffusion"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelLoadError(f"{d / CONFIG} does not describe a model: {exc}") from exc
        load_weights(net, d / WEIGHTS)
        dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        denoiser = Denoiser(net, edm).to(dev).eval()
        critic = None
        if config.get("critic"):
            from synthgen.images.class_critic import load_critic

            critic = load_critic(
                d, config["critic"], channels=spec.channels, num_classes=spec.num_classes
            )
        return cls(
            denoiser=denoiser,
            spec=spec,
            config=config,
            class_proportions=[float(p) for p in proportions],
            critic=critic,
        )

    @property
    def device(self) -> Any:
        return next(self.denoiser.parameters()).device

    def counts_for(self, rows: int | None, class_counts: dict[str, int] | None) -> np.ndarray:
        """Images per class: as requested, else ``rows`` split by the model's (DP or
        declared) class proportions, rounded by largest remainder."""
        k = self.spec.num_classes
        if class_counts:
            counts = np.zeros(k, dtype=np.int64)
            for name, n in class_counts.items():
                if int(n) < 0:
                    raise SamplingError(f"negative count for class {name!r}")
                counts[self.spec.label_of(name)] += int(n)
            if rows is not None and int(counts.sum()) != rows:
                raise SamplingError(
                    f"--rows {rows} does not equal the sum of --class-counts ({int(counts.sum())})"
                )
            return counts
        if rows is None or rows < 1:
            raise SamplingError("ask for at least one image (--rows N or --class-counts)")
        p = np.asarray(self.class_proportions, dtype=np.float64)
        exact = p / p.sum() * rows
        counts = np.floor(exact).astype(np.int64)
        for i in np.argsort(-(exact - counts), kind="stable")[: rows - int(counts.sum())]:
            counts[i] += 1
        return counts

    def generate(
        self,
        labels: np.ndarray,
        *,
        seed: int = 0,
        sampler: str | None = None,
        steps: int | None = None,
        guidance_scale: float | None = None,
        batch_size: int | None = None,
        progress: ProgressCallback = ignore_progress,
        first_index: int = 0,
        critic_guidance: float | None = None,
        critic_max_step: float | None = None,
    ) -> np.ndarray:
        """uint8 images for ``labels`` (sample i of the call is sample ``first_index + i``).
        ``critic_guidance``: the class critic's guidance scale, ``critic_max_step`` the
        bound on each guidance step (defaults: the model's; guidance needs a critic)."""
        import torch

        from synthgen.images.config import SamplingConfig
        from synthgen.images.data import from_model_range
        from synthgen.images.edm import sigma_steps
        from synthgen.images.samplers import generate_batch, get_sampler
        from synthgen.images.trainer import autocast_dtype

        fallback = SamplingConfig()
        defaults = self.config.get("sampling", {})
        sampler = sampler or defaults.get("sampler", fallback.sampler)
        get_sampler(sampler)
        steps = int(steps or defaults.get("sampling_steps", fallback.sampling_steps))
        if not 1 <= steps <= 1000:
            raise SamplingError(f"steps must be between 1 and 1000, got {steps}")
        scale = float(
            defaults.get("guidance_scale", fallback.guidance_scale)
            if guidance_scale is None
            else guidance_scale
        )
        if scale < 0:
            raise SamplingError("guidance scale must be >= 0")
        own_batch = int(defaults.get("sampling_batch_size", fallback.sampling_batch_size))
        critic, critic_scale, max_step = self._critic_guidance(
            critic_guidance, critic_max_step, defaults
        )
        # critic guidance amplifies the last-bit rounding that differs between batch sizes
        # into visibly different samples: guided, every sample is computed at the same place
        # of a chunk of the model's own batch size, aligned to the sample numbers
        batch = own_batch if critic is not None else int(batch_size or own_batch)
        sigmas = sigma_steps(steps, self.denoiser.cfg, device=self.device)
        shape = (self.spec.channels, self.spec.image_size, self.spec.image_size)
        amp = autocast_dtype("auto", self.device)
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        out = np.empty((len(labels), *self.spec.image_shape), dtype=np.uint8)
        for start, stop, lo, hi in _spans(
            len(labels), first_index, batch, aligned=critic is not None
        ):
            computed = np.zeros(hi - lo, dtype=np.int64)  # rows outside the request: label 0
            offset = first_index + start - lo
            computed[offset : offset + stop - start] = labels[start:stop]
            lab = torch.as_tensor(computed, device=self.device)
            x = generate_batch(
                self.denoiser,
                lab,
                range(lo, hi),
                seed=seed,
                sigmas=sigmas,
                sampler=sampler,
                guidance_scale=scale,
                image_shape=shape,
                autocast_dtype=amp,
                critic=critic,
                critic_scale=critic_scale,
                critic_max_step=max_step,
            )
            out[start:stop] = from_model_range(x[offset : offset + stop - start])
            progress(ProgressEvent("sample", stop, len(labels)))
        return out

    def _critic_guidance(
        self, scale: float | None, max_step: float | None, defaults: dict[str, Any]
    ) -> tuple[Any, float, float]:
        """(critic on the model's device or None, its guidance scale, the step bound)."""
        import copy

        from synthgen.images.config import SamplingConfig

        fallback = SamplingConfig()
        w = float(
            defaults.get("critic_guidance", fallback.critic_guidance) if scale is None else scale
        )
        if not (math.isfinite(w) and 0 <= w <= 100):
            raise SamplingError(f"critic guidance must be between 0 and 100, got {w}")
        # models written before the bound existed get it too: unbounded was a defect
        bound = float(
            defaults.get("critic_guidance_max_step", fallback.critic_guidance_max_step)
            if max_step is None
            else max_step
        )
        if not (math.isfinite(bound) and 0 < bound <= 2):
            raise SamplingError(f"critic guidance's step bound must be in (0, 2], got {bound}")
        if self.critic is None:
            if scale:
                raise SamplingError(
                    "critic guidance needs a model trained with a class critic "
                    "(critic_epsilon_share > 0)"
                )
            return None, 0.0, bound
        if w == 0:
            return None, 0.0, bound
        critic = self.critic
        if self.device.type != "cpu":  # the stored critic stays on the CPU for margins
            critic = copy.deepcopy(critic).to(self.device)
        return critic, w, bound

    def sample(
        self,
        counts: np.ndarray,
        *,
        seed: int = 0,
        candidates: int | None = None,
        sampler: str | None = None,
        steps: int | None = None,
        guidance_scale: float | None = None,
        batch_size: int | None = None,
        progress: ProgressCallback = ignore_progress,
        critic_guidance: float | None = None,
        critic_max_step: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(images, labels) with ``counts[c]`` images of class c. With a class critic, each
        class's images are the ``counts[c]`` of ``candidates * counts[c]`` drawn under its
        label that the critic finds most clearly of that class (default: the model's
        ``candidates``; 1 draws each image once)."""
        from synthgen.images.class_critic import check_candidates, select_by_margin
        from synthgen.images.config import SamplingConfig

        default = self.config.get("sampling", {}).get("candidates", SamplingConfig().candidates)
        k = check_candidates(default if candidates is None else candidates)
        if self.critic is None:
            if candidates is not None and candidates > 1:
                raise SamplingError(
                    "candidates > 1 needs a model trained with a class critic "
                    "(critic_epsilon_share > 0)"
                )
            k = 1
        counts = np.asarray(counts, dtype=np.int64)
        labels = labels_for_counts(counts * k)
        images = self.generate(
            labels,
            seed=seed,
            sampler=sampler,
            steps=steps,
            guidance_scale=guidance_scale,
            batch_size=batch_size,
            progress=progress,
            critic_guidance=critic_guidance,
            critic_max_step=critic_max_step,
        )
        if k == 1:
            return images, labels
        keep = select_by_margin(self.critic.margins(images, labels), labels, counts)
        return images[keep], labels[keep]


def _spans(
    n: int, first_index: int, batch: int, *, aligned: bool
) -> list[tuple[int, int, int, int]]:
    """(start, stop, lo, hi): rows [start, stop) of a request for samples
    first_index .. first_index + n - 1 come from computing samples [lo, hi). Aligned: the
    computed spans are whole chunks [k batch, (k + 1) batch), whatever the request."""
    if not aligned:
        return [
            (s, min(s + batch, n), first_index + s, first_index + min(s + batch, n))
            for s in range(0, n, batch)
        ]
    spans = []
    for chunk in range(first_index // batch, (first_index + n - 1) // batch + 1 if n else 0):
        lo, hi = chunk * batch, (chunk + 1) * batch
        spans.append(
            (max(lo, first_index) - first_index, min(hi, first_index + n) - first_index, lo, hi)
        )
    return spans


def labels_for_counts(counts: np.ndarray) -> np.ndarray:
    """Class 0's images first, then class 1's, ...: sample i's label depends only on counts."""
    return np.repeat(np.arange(len(counts)), counts)


def sample_images(
    model_dir: str | Path,
    options: SampleOptions,
    *,
    out: str | Path,
    progress: ProgressCallback | None = None,
    batch_size: int | None = None,
    device: str | None = None,
) -> Path:
    """Write ``options.rows`` synthetic images to ``out``: a .npz in MedMNIST layout, or a
    PNG folder per class. ``options.sampler``: the model's own (``dpmpp2m`` by default),
    ``euler``, ``heun`` (deterministic), ``ancestral`` or ``churn`` (stochastic);
    ``candidates`` and ``critic_guidance``: the class critic's (defaults: the model's)."""
    from synthgen.images.output import write_images

    model = ImageModel.load(model_dir, device=device)
    counts = model.counts_for(options.rows, options.class_counts)
    images, labels = model.sample(
        counts,
        seed=options.seed,
        candidates=options.candidates,
        sampler=options.sampler,
        steps=options.steps,
        guidance_scale=options.guidance_scale,
        batch_size=batch_size,
        progress=progress or ignore_progress,
        critic_guidance=options.critic_guidance,
    )
    return write_images(Path(out), images, labels, model.spec.class_names)
