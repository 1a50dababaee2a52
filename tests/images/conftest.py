"""Tiny seeded fixtures for the image tests: two-class 28 px images and a small U-Net."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pytest
import torch

from tests.conftest import SHARED_DATA

torch.set_num_threads(1)

BREASTMNIST = SHARED_DATA / "medmnist" / "breastmnist.npz"
# the smallest model that exercises every layer type: 3 levels, attention at 7 px
TINY_MODEL = {"base_channels": 4, "channel_mult": [1, 2, 2], "embedding_mult": 2,
              "attention_head_channels": 8}
TINY = {**TINY_MODEL, "batch_size": 8, "noise_multiplicity": 2, "physical_rows": 64,
        "secure_rng": False, "checkpoint_every": 2, "warmup_steps": 1, "sampling_steps": 3,
        "critic_steps": 20}


def two_class_images(n: int, seed: int, size: int = 28, channels: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Class 0: a bright square on the left; class 1: on the right; plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    base = rng.normal(40, 10, (n, size, size))
    for i, lab in enumerate(labels):
        left = 4 if lab == 0 else size // 2 + 2
        base[i, 8:20, left : left + 8] += 150
    images = np.clip(base, 0, 255).astype(np.uint8)
    if channels == 3:
        images = np.repeat(images[..., None], 3, axis=3)
    return images, labels.astype(np.uint8).reshape(-1, 1)


@pytest.fixture
def tiny_npz(tmp_path: Path) -> Path:
    """A MedMNIST-layout file (train/val/test) of 60/12/20 two-class images; its class
    list is declared in the file (60 images are too few for a DP-selected one)."""
    arrays: dict = {"class_names": np.array(["0", "1"])}
    for split, n, seed in (("train", 60, 1), ("val", 12, 2), ("test", 20, 3)):
        images, labels = two_class_images(n, seed)
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, labels
    path = tmp_path / "tiny.npz"
    np.savez(path, **arrays)
    return path
