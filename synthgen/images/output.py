"""Writing synthetic images: a MedMNIST-style .npz, or a PNG folder per class."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from synthgen.errors import OutputError
from synthgen.images.data import save_npz


def write_images(
    out: Path, images: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...]
) -> Path:
    """``*.npz`` -> keys ``images`` (uint8 [N, H, W] or [N, H, W, C]) and ``labels``
    ([N, 1]); any other path -> a folder with one subfolder of PNGs per class."""
    out = Path(out)
    if out.suffix.lower() == ".npz":
        save_npz(out, images, labels)
        return out
    if out.suffix:
        raise OutputError(f"{out}: images are written as .npz, or as a PNG folder (no suffix)")
    return write_png_folder(out, images, labels, class_names)


def _folder_name(name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._ -]+", "_", name).strip(" .")
    return safe or "class"


def write_png_folder(
    out: Path, images: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...]
) -> Path:
    from synthgen.extras import require

    Image = require("PIL.Image", feature="writing PNG folders")
    if out.exists() and any(out.iterdir()):
        raise OutputError(f"{out} exists and is not empty")
    width = max(5, len(str(len(images))))
    for name in class_names:
        (out / _folder_name(name)).mkdir(parents=True, exist_ok=True)
    for i, (image, label) in enumerate(zip(images, labels.reshape(-1), strict=True)):
        folder = out / _folder_name(class_names[int(label)])
        Image.fromarray(image).save(folder / f"{i:0{width}d}.png")
    return out
