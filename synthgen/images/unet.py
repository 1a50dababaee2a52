"""A class-conditional U-Net made only of layers Opacus computes per-example gradients for.

Why these layers: DP-SGD clips each example's gradient, so every parameter must belong to
a layer with a per-example gradient rule (Conv2d, Linear, GroupNorm, Embedding) and no
layer may mix rows of a batch. BatchNorm mixes rows and is excluded; GroupNorm normalises
each row on its own, which is also what makes the ``[B*K]`` noise-multiplicity layout
correct (row ``i*K + k`` never influences row ``j*K + l``). Attention is built from Linear
projections around a parameter-free softmax attention.

Layout (28 px, three levels 28 -> 14 -> 7, attention at 7 px)::

    conv_in -> [ResBlock x n] -> down -> [ResBlock x n] -> down -> [ResBlock+Attn x n]
            -> middle (ResBlock, Attn, ResBlock)
            -> [ResBlock+Attn x n] -> conv, up -> cat -> [ResBlock x n] -> conv, up -> cat -> ...
    -> GroupNorm -> SiLU -> conv_out

The network is the raw function F of EDM; the preconditioning around it lives in
``synthgen.images.edm``. It sees ``c_noise`` (a scalar per row) and a label per row, where
label ``num_classes`` is the null label used for classifier-free guidance.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class UNetConfig:
    """Constructor arguments of :class:`UNet`; stored in the model's ``config.json``."""

    image_channels: int = 1  # 1 grayscale, 3 RGB
    image_size: int = 28  # height = width, divisible by 2 ** (levels - 1)
    num_classes: int = 2  # real classes; one more embedding row is the null label
    base_channels: int = 32  # channels at the first level
    channel_mult: tuple[int, ...] = (1, 2, 2)  # per level; len() = number of levels
    blocks_per_level: int = 1  # ResBlocks per level in the encoder and the decoder
    attention_levels: tuple[int, ...] = (2,)  # levels (0 = full size) with self-attention
    attention_head_channels: int = 32  # channels per attention head
    embedding_mult: int = 4  # embedding width = base_channels * embedding_mult
    max_groups: int = 8  # GroupNorm groups (fewer when a width is not divisible)

    def __post_init__(self) -> None:
        if self.image_channels not in (1, 3):
            raise ValueError(f"image_channels must be 1 or 3, got {self.image_channels}")
        if self.num_classes < 1:
            raise ValueError("num_classes must be at least 1")
        levels = len(self.channel_mult)
        if levels < 1 or self.image_size % (2 ** (levels - 1)):
            raise ValueError(
                f"image size {self.image_size} is not divisible by 2**{levels - 1} "
                f"({levels} resolution levels)"
            )
        if any(not 0 <= a < levels for a in self.attention_levels):
            raise ValueError(f"attention_levels {self.attention_levels} out of range")

    def to_json_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["channel_mult"] = list(self.channel_mult)
        d["attention_levels"] = list(self.attention_levels)
        return d

    @classmethod
    def from_json_dict(cls, d: dict[str, Any]) -> UNetConfig:
        known = set(cls.__dataclass_fields__)
        kwargs = {k: v for k, v in d.items() if k in known}
        for key in ("channel_mult", "attention_levels"):
            if key in kwargs:
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)

    @classmethod
    def for_image(
        cls, *, image_size: int, image_channels: int, num_classes: int, **overrides: Any
    ) -> UNetConfig:
        """Defaults per image size: three levels at <= 32 px, four at 64 px (8 px lowest)."""
        levels = 3 if image_size <= 32 else 4
        mult = (1, 2, 2) if levels == 3 else (1, 2, 2, 2)
        base: dict[str, Any] = {
            "image_size": image_size,
            "image_channels": image_channels,
            "num_classes": num_classes,
            "channel_mult": mult,
            "attention_levels": (levels - 1,),
        }
        base.update(overrides)
        if "channel_mult" in overrides and "attention_levels" not in overrides:
            base["attention_levels"] = (len(overrides["channel_mult"]) - 1,)
        return cls.from_json_dict(base)


def _groups(channels: int, max_groups: int) -> int:
    for g in range(min(max_groups, channels), 0, -1):
        if channels % g == 0:
            return g
    return 1


class ResBlock(nn.Module):
    """GroupNorm -> SiLU -> Conv3x3 -> GroupNorm, modulated by the embedding (scale and
    shift, "adaptive group norm") -> SiLU -> Conv3x3, plus a 1x1 skip when the width
    changes; the sum is scaled by 1/sqrt(2) (as in EDM). The noise level and the label enter
    after the normalisation: a bias added before a GroupNorm whose groups hold one channel
    would be normalised away."""

    def __init__(self, in_channels: int, out_channels: int, embedding_dim: int, max_groups: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(in_channels, max_groups), in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.embedding = nn.Linear(embedding_dim, 2 * out_channels)
        self.norm2 = nn.GroupNorm(_groups(out_channels, max_groups), out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.embedding(emb)[:, :, None, None].chunk(2, dim=1)
        h = self.conv2(F.silu(self.norm2(h) * (1.0 + scale) + shift))
        skip = x if self.skip is None else self.skip(x)
        return (h + skip) * (1.0 / math.sqrt(2.0))


class SelfAttention(nn.Module):
    """Multi-head self-attention over pixels from Linear projections (Opacus-supported)."""

    def __init__(self, channels: int, head_channels: int, max_groups: int):
        super().__init__()
        self.heads = max(1, channels // head_channels)
        self.norm = nn.GroupNorm(_groups(channels, max_groups), channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = self.norm(x).flatten(2).transpose(1, 2)  # [B, HW, C]
        q, k, v = self.qkv(tokens).chunk(3, dim=-1)

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(b, h * w, self.heads, c // self.heads).transpose(1, 2)

        q, k, v = split(q), split(k), split(v)
        # explicit softmax attention (49 tokens at 7 px): parameter-free, and unlike the fused
        # kernel it has batching rules for torch.func.vmap (per-example gradients)
        weights = torch.softmax(q @ k.transpose(-1, -2) * (q.shape[-1] ** -0.5), dim=-1)
        attended = (weights @ v).transpose(1, 2).reshape(b, h * w, c)
        out = self.proj(attended).transpose(1, 2).reshape(b, c, h, w)
        return (x + out) * (1.0 / math.sqrt(2.0))


class Level(nn.Module):
    """ResBlocks at one resolution, each optionally followed by self-attention."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        blocks: int,
        attention: bool,
        cfg: UNetConfig,
        embedding_dim: int,
    ):
        super().__init__()
        self.blocks = nn.ModuleList()
        self.attentions = nn.ModuleList()
        for i in range(blocks):
            self.blocks.append(
                ResBlock(
                    in_channels if i == 0 else out_channels,
                    out_channels,
                    embedding_dim,
                    cfg.max_groups,
                )
            )
            self.attentions.append(
                SelfAttention(out_channels, cfg.attention_head_channels, cfg.max_groups)
                if attention
                else nn.Identity()
            )

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        for block, attention in zip(self.blocks, self.attentions, strict=True):
            x = attention(block(x, emb))
        return x


class NoiseEmbedding(nn.Module):
    """Sinusoidal features of c_noise (a scalar per row), as in transformer positions."""

    freqs: torch.Tensor

    def __init__(self, channels: int, max_period: float = 10000.0):
        super().__init__()
        half = channels // 2
        freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
        self.register_buffer("freqs", freqs, persistent=False)

    def forward(self, c_noise: torch.Tensor) -> torch.Tensor:
        # EDM's c_noise = ln(sigma)/4 lies in about [-1.6, 1.1]: scale it up to the range
        # where sinusoid features of different frequencies are distinguishable.
        angles = (1000.0 * c_noise.float())[:, None] * self.freqs[None, :]
        return torch.cat([angles.cos(), angles.sin()], dim=1)


class UNet(nn.Module):
    """F(x_in; c_noise, label) -> [B, C, H, W]. Rows are independent of each other."""

    def __init__(self, cfg: UNetConfig):
        super().__init__()
        self.cfg = cfg
        ch = cfg.base_channels
        emb = ch * cfg.embedding_mult
        widths = [ch * m for m in cfg.channel_mult]
        levels = len(widths)

        self.noise_features = NoiseEmbedding(ch)
        self.noise_mlp1 = nn.Linear(ch, emb)
        self.noise_mlp2 = nn.Linear(emb, emb)
        self.label_embedding = nn.Embedding(cfg.num_classes + 1, emb)  # last row: null label

        self.conv_in = nn.Conv2d(cfg.image_channels, widths[0], 3, padding=1)
        self.encoder = nn.ModuleList()
        self.downsample = nn.ModuleList()
        in_width = widths[0]
        for level, width in enumerate(widths):
            self.encoder.append(
                Level(
                    in_width, width, cfg.blocks_per_level, level in cfg.attention_levels, cfg, emb
                )
            )
            in_width = width
            if level < levels - 1:
                self.downsample.append(nn.Conv2d(width, width, 3, stride=2, padding=1))

        lowest = widths[-1]
        self.middle_block1 = ResBlock(lowest, lowest, emb, cfg.max_groups)
        self.middle_attention = SelfAttention(lowest, cfg.attention_head_channels, cfg.max_groups)
        self.middle_block2 = ResBlock(lowest, lowest, emb, cfg.max_groups)

        self.decoder = nn.ModuleList()
        self.upsample = nn.ModuleList()
        in_width = lowest
        for level in reversed(range(levels)):
            width = widths[level]
            self.decoder.append(
                Level(
                    in_width + width,
                    width,
                    cfg.blocks_per_level,
                    level in cfg.attention_levels,
                    cfg,
                    emb,
                )
            )
            in_width = width
            if level > 0:
                self.upsample.append(nn.Conv2d(width, widths[level - 1], 3, padding=1))
                in_width = widths[level - 1]

        self.norm_out = nn.GroupNorm(_groups(widths[0], cfg.max_groups), widths[0])
        self.conv_out = nn.Conv2d(widths[0], cfg.image_channels, 3, padding=1)

    @property
    def null_label(self) -> int:
        return self.cfg.num_classes

    def conditioning_parameter_names(self) -> list[str]:
        """The label pathway: the label embedding and each block's projection of the
        embedding into its scale and shift (what ``conditioning_phase`` trains alone)."""
        return [
            n
            for n, _ in self.named_parameters()
            if n.startswith("label_embedding.") or ".embedding." in n
        ]

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        emb = self.noise_mlp2(F.silu(self.noise_mlp1(self.noise_features(c_noise))))
        emb = F.silu(emb + self.label_embedding(labels))

        h = self.conv_in(x)
        skips = []
        for level, block in enumerate(self.encoder):
            h = block(h, emb)
            skips.append(h)
            if level < len(self.downsample):
                h = self.downsample[level](h)
        h = self.middle_block2(self.middle_attention(self.middle_block1(h, emb)), emb)
        for i, block in enumerate(self.decoder):
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
            if i < len(self.upsample):
                # convolve at the low resolution, then repeat pixels: a quarter of the
                # FLOPs of the usual upsample-then-convolve, at the same receptive field
                h = F.interpolate(self.upsample[i](h), scale_factor=2.0, mode="nearest")
        return self.conv_out(F.silu(self.norm_out(h)))


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


__all__ = ["ResBlock", "SelfAttention", "UNet", "UNetConfig", "count_parameters"]
