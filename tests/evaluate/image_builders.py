"""A tiny image model directory trained for real, for the image validation tests.

A MedMNIST-layout subset of BreastMNIST (the first images of each official split) is
trained on with ``synthgen.images.train.train_images`` at a tiny recipe for a few steps
(seconds on one core): the model directory, its private split and its certificate are the
real thing; the synthetic images it samples are noise-like, which is all the tests need.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from synthgen.evaluate.images.inputs import ImageValidationOptions
from synthgen.requests import TrainRequest

REPO = Path(__file__).resolve().parents[2]
MEDMNIST = Path(os.environ.get("SYNTHGEN_SHARED_DATA", REPO.parent / "shared" / "data")) / "medmnist"
BREASTMNIST = MEDMNIST / "breastmnist.npz"
# the smallest U-Net that exercises every layer type (tests/images uses the same)
TINY_RECIPE = {
    "base_channels": 4, "channel_mult": [1, 2, 2], "embedding_mult": 2,
    "attention_head_channels": 8, "batch_size": 16, "noise_multiplicity": 2,
    "physical_rows": 64, "secure_rng": False, "checkpoint_every": 50, "warmup_steps": 1,
    "sampling_steps": 3,
}
# a few CNN steps instead of hundreds: the protocol is the same, the numbers are rough
FAST = ImageValidationOptions(
    cnn_width=8, cnn_min_steps=10, cnn_max_steps=30, tstr_networks=2, grid_images_per_class=4,
    closest_pairs=4,
)


def breastmnist_subset(folder: Path, *, n_train: int = 96, n_val: int = 40, n_test: int = 40) -> Path:
    """The first images of each official split, saved as ``folder/breastmnist.npz``. Its two
    classes are public metadata, declared twice: by the name (the loader knows MedMNIST's
    files) and by a ``class_names`` key, which survives an upload to the service (stored
    under another name)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / "breastmnist.npz"
    with np.load(BREASTMNIST) as data:
        arrays = {}
        for split, n in (("train", n_train), ("val", n_val), ("test", n_test)):
            arrays[f"{split}_images"] = data[f"{split}_images"][:n]
            arrays[f"{split}_labels"] = data[f"{split}_labels"][:n]
    arrays["class_names"] = np.array(["0", "1"])
    np.savez(out, **arrays)
    return out


def train_tiny_image_model(root: Path, *, steps: int = 3, epsilon: float = 10.0) -> Path:
    """A real image model directory (and ``MODEL.private``) under ``root``."""
    from synthgen.images.train import train_images

    source = breastmnist_subset(root / "source")
    out = root / "model"
    train_images(TrainRequest(
        source=source, epsilon=epsilon, out=out, max_steps=steps, seed=0,
        overrides=dict(TINY_RECIPE),
    ))
    return out


def save_images(path: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    np.savez(path, images=images, labels=np.asarray(labels).reshape(-1, 1))
    return path
