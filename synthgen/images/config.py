"""The image recipe: every setting of a run, with defaults fixed in advance (never tuned on
the private data), and how ``--override``-style keys map onto it.

Defaults were chosen for BreastMNIST-sized sets (hundreds of 28 px images) on a 2-core CPU;
docs/research/ records the measurements behind them (the `*-image-*` entries).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from synthgen.errors import ConfigurationError
from synthgen.images.edm import EDMConfig
from synthgen.images.unet import UNetConfig


@dataclass(frozen=True)
class TrainingConfig:
    steps: int = 1000  # DP-SGD steps (--max-steps caps them; the "steps" override sets them)
    batch_size: int = 128  # expected Poisson batch (examples per step)
    noise_multiplicity: int = 2  # K diffusion draws averaged per example before clipping
    max_grad_norm: float = 1.0  # clipping norm C
    learning_rate: float = 2e-3  # Adam
    warmup_steps: int = 10  # linear learning-rate warm-up
    ema_sigma_rel: float = 0.15  # width of the power EMA, as a share of the run
    physical_rows: int = 256  # examples*K rows per forward/backward (memory bound)
    augment: str = "none"  # "none", "hflip", "hflip+shift" (per draw)
    checkpoint_every: int = 50  # steps between checkpoints in the private dir
    time_limit_minutes: float | None = None  # stop early and write the model (epsilon as run)
    class_count_epsilon_share: float = 0.02  # share of epsilon for the class proportions
    # share of epsilon for the DP class list when the classes are not declared
    # (class_selection.py). At BreastMNIST's sample rate and 1,000 steps it raises the
    # training noise multiplier by 1.4% at epsilon 3 (11.16 -> 11.31) and 1.2% at epsilon 10;
    # the threshold is then 110 images at epsilon 3 (noise std 24), 37 at epsilon 10 (std 8)
    class_selection_epsilon_share: float = 0.05
    # share of epsilon for the DP count of training images N-hat (batch, q, delta and the
    # critic's q come from it), unless public_record_count is declared; None: the tables'
    # rule (synthgen.privacy.record_count.record_count_share: 2%, more as epsilon falls,
    # so that the count's noise std stays within 25 images)
    record_count_epsilon_share: float | None = None
    secure_rng: bool = True  # privacy noise from the OS CSPRNG (False: seeded fast PRNG)
    per_example_gradients: str = "vmap"  # "vmap" (B rows directly) or "hooks" (B*K, folded)
    mixed_precision: str = "auto"  # "auto" (bf16 on CUDA), "off", "bf16"
    device: str = "auto"  # "auto" (CUDA when available), "cpu", "cuda"
    init_from: str | None = None  # model dir trained on PUBLIC images to start from (pretrained.py)
    # share of the steps, at the end, that train only the label pathway (UNet.
    # conditioning_parameter_names): clipping to C then spends the whole bound on the
    # parameters that carry the class, where the full gradient's clip scaled them down.
    # Off by default: 0.3 with C 0.15 gave BreastMNIST's best TSTR in 60 minutes (0.767)
    # but 0.750, 0.550 and 0.643 in three repeats (mean below the defaults); docs/research/2026-12-04-image-conditioning-phase.md
    conditioning_phase: float = 0.0
    # clipping bound C in that phase (None: max_grad_norm). The label pathway's per-example
    # gradients are about a third of the full ones' (median 0.38 against 1.33 on BreastMNIST
    # at 1,000 steps), so at C = 1 they go unclipped and the noise, sigma * C, is sized for
    # gradients they never reach. Epsilon depends on sigma and q only, not on C.
    conditioning_max_grad_norm: float | None = None
    # share of epsilon for the class critic (class_critic.py), a DP linear classifier on
    # random features that sampling uses to keep, of several candidates drawn under a label,
    # the ones that show it most clearly; 0: no critic. The diffusion model's noise is
    # calibrated for what is left (composed in RDP, so it loses less than this share).
    critic_epsilon_share: float = 0.1
    # the critic head's DP-SGD run. On BreastMNIST at the critic's epsilon 1 (8 seeds, real
    # validation split): 100 steps of 256 reach ROC AUC 0.801 +- 0.018, 350 of 128 (the first
    # default) 0.783 +- 0.039; docs/research/2026-12-04-image-class-critic.md
    critic_steps: int = 100
    critic_batch_size: int = 256

    @property
    def conditioning_clip(self) -> float:
        """The clipping bound of the conditioning phase."""
        return self.conditioning_max_grad_norm or self.max_grad_norm

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.noise_multiplicity < 1:
            raise ConfigurationError("steps, batch_size and noise_multiplicity must be >= 1")
        if not self.max_grad_norm > 0 or not self.learning_rate > 0:
            raise ConfigurationError("max_grad_norm and learning_rate must be positive")
        if self.augment not in ("none", "hflip", "hflip+shift"):
            raise ConfigurationError(
                f"augment must be none, hflip or hflip+shift, got {self.augment!r}"
            )
        if self.per_example_gradients not in ("vmap", "hooks"):
            raise ConfigurationError("per_example_gradients must be vmap or hooks")
        if self.mixed_precision not in ("auto", "off", "bf16"):
            raise ConfigurationError("mixed_precision must be auto, off or bf16")
        if not 0 <= self.conditioning_phase < 1:
            raise ConfigurationError("conditioning_phase must be in [0, 1)")
        if self.conditioning_max_grad_norm is not None and not self.conditioning_max_grad_norm > 0:
            raise ConfigurationError("conditioning_max_grad_norm must be positive")
        if (
            not 0 <= self.critic_epsilon_share < 0.5
            or self.critic_steps < 1
            or self.critic_batch_size < 1
        ):
            raise ConfigurationError(
                "critic_epsilon_share must be in [0, 0.5), critic_steps and critic_batch_size >= 1"
            )
        if not 0 < self.class_count_epsilon_share < 0.5:
            raise ConfigurationError("class_count_epsilon_share must be in (0, 0.5)")
        if not 0 < self.class_selection_epsilon_share < 0.5:
            raise ConfigurationError("class_selection_epsilon_share must be in (0, 0.5)")
        if self.record_count_epsilon_share is not None and not (
            0 < self.record_count_epsilon_share < 0.5
        ):
            raise ConfigurationError("record_count_epsilon_share must be in (0, 0.5)")


@dataclass(frozen=True)
class SamplingConfig:
    sampler: str = "dpmpp2m"  # default sampler of this model
    sampling_steps: int = 10  # reverse-diffusion steps (= network evaluations for dpmpp2m)
    guidance_scale: float = 1.0  # classifier-free guidance (1: conditional only)
    sampling_batch_size: int = 256  # images per network batch when sampling
    # candidates drawn per image when the model has a class critic: of each class's
    # candidates, the critic keeps those showing the class most clearly (1: no selection).
    # 1 since critic guidance (below) scored as well alone (0.767) as guidance 0.3 with 3
    # candidates (0.766) at a third of the sampling time; docs/research/2026-12-05-image-critic-guidance.md
    candidates: int = 1
    # when the model has a class critic: each denoised estimate moves this far up the
    # critic's log p(label | image) gradient (0: off)
    critic_guidance: float = 1.0
    # the largest change one guidance step may make to a denoised estimate, as a root mean
    # square per pixel in the model's [-1, 1] range. Unbounded, a few estimates' gradients
    # grew 30-100x at the last steps and a third of one class came out saturated black and
    # white (Frechet distance 405); bounded at 0.2, TSTR 0.785 and Frechet 2.0 on the same
    # model (docs/research/2026-12-05-image-critic-guidance.md)
    critic_guidance_max_step: float = 0.2

    def __post_init__(self) -> None:
        if not 1 <= self.candidates <= 64:
            raise ConfigurationError("candidates must be between 1 and 64")
        if not 0 <= self.critic_guidance <= 100:
            raise ConfigurationError("critic_guidance must be between 0 and 100")
        if not 0 < self.critic_guidance_max_step <= 2:
            raise ConfigurationError("critic_guidance_max_step must be in (0, 2]")


@dataclass(frozen=True)
class SourceOptions:
    image_size: int | None = None  # model size; default the file's (npz) or 28 (folders)
    channels: int | None = None  # declared 1 or 3; default 1 (folders, DICOM) or the .npz shape
    labels_csv: str | None = None  # DICOM labels CSV (default labels.csv in the folder)
    split: str = "official"  # MedMNIST: "official" (holdout = val) or "random"
    class_proportions: tuple[float, ...] | None = None  # declared public proportions
    # declared public class list: names (labels CSV, folders, .npz index order) or a count
    # (.npz); None: folder names, MedMNIST's published classes, or a DP-selected list
    classes: int | tuple[str, ...] | None = None
    # the source is PUBLIC data and this run makes a model for init_from (epsilon inf only):
    # the model directory then records a hash of each training image (pretrained.py)
    public_source: bool = False
    # images the split starts from (the official train split, or the whole pool for a
    # random split), or an upper bound, declared public by the steward: no DP count is drawn
    public_record_count: int | None = None


MODEL_KEYS = (
    "base_channels",
    "channel_mult",
    "blocks_per_level",
    "attention_levels",
    "attention_head_channels",
    "embedding_mult",
    "max_groups",
)
DEFAULT_MODEL: dict[str, Any] = {"base_channels": 8, "blocks_per_level": 1}  # 55k parameters


@dataclass(frozen=True)
class ImageRecipe:
    model: dict[str, Any]  # UNetConfig overrides (size, channels, classes come from the spec)
    diffusion: EDMConfig
    training: TrainingConfig
    sampling: SamplingConfig
    source: SourceOptions

    def unet_config(self, *, image_size: int, channels: int, num_classes: int) -> UNetConfig:
        return UNetConfig.for_image(
            image_size=image_size, image_channels=channels, num_classes=num_classes, **self.model
        )


def _field_names(cls: type) -> set[str]:
    return {f.name for f in fields(cls)}


def build_recipe(overrides: dict[str, Any] | None) -> ImageRecipe:
    """Defaults with ``overrides`` applied; unknown keys are an error, not ignored."""
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    groups: dict[str, dict[str, Any]] = {
        "model": dict(DEFAULT_MODEL),
        "diffusion": {},
        "training": {},
        "sampling": {},
        "source": {},
    }
    owners = {
        "diffusion": _field_names(EDMConfig),
        "training": _field_names(TrainingConfig),
        "sampling": _field_names(SamplingConfig),
        "source": _field_names(SourceOptions),
        "model": set(MODEL_KEYS),
    }
    for key, value in overrides.items():
        owner = next((g for g, names in owners.items() if key in names), None)
        if owner is None:
            known = sorted(set().union(*owners.values()))
            raise ConfigurationError(f"unknown image option {key!r} (known: {', '.join(known)})")
        if key in ("channel_mult", "attention_levels", "class_proportions"):
            value = tuple(value)
        if key == "classes" and not isinstance(value, int):
            value = tuple(str(v) for v in value)
        groups[owner][key] = value
    try:
        return ImageRecipe(
            model=groups["model"],
            diffusion=replace(EDMConfig(), **groups["diffusion"]),
            training=replace(TrainingConfig(), **groups["training"]),
            sampling=replace(SamplingConfig(), **groups["sampling"]),
            source=replace(SourceOptions(), **groups["source"]),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"invalid image option: {exc}") from exc


def recipe_from_json(d: dict[str, Any]) -> ImageRecipe:
    """Inverse of :func:`recipe_to_json` (group by group: key names never collide)."""
    try:
        source = dict(d["source"])
        if source.get("class_proportions") is not None:
            source["class_proportions"] = tuple(source["class_proportions"])
        if isinstance(source.get("classes"), list):
            source["classes"] = tuple(source["classes"])
        return ImageRecipe(
            model={k: tuple(v) if isinstance(v, list) else v for k, v in d["model"].items()},
            diffusion=EDMConfig.from_json_dict(d["diffusion"]),
            training=TrainingConfig(**d["training"]),
            sampling=SamplingConfig(**d["sampling"]),
            source=SourceOptions(**source),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigurationError(f"stored recipe cannot be read: {exc}") from exc


def recipe_to_json(recipe: ImageRecipe) -> dict[str, Any]:
    d = {
        "model": dict(recipe.model),
        "diffusion": recipe.diffusion.to_json_dict(),
        "training": asdict(recipe.training),
        "sampling": asdict(recipe.sampling),
        "source": asdict(recipe.source),
    }
    for key in ("channel_mult", "attention_levels"):
        if key in d["model"]:
            d["model"][key] = list(d["model"][key])
    if d["source"]["class_proportions"] is not None:
        d["source"]["class_proportions"] = list(d["source"]["class_proportions"])
    if isinstance(d["source"]["classes"], tuple):
        d["source"]["classes"] = list(d["source"]["classes"])
    return d
