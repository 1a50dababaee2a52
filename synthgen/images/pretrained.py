"""Start DP training from a model trained on public images (``init_from``).

A DP run on a few hundred images learns little beyond what its noisy steps allow; a network
that already denoises images of the same size and channels (trained on public data, e.g.
another MedMNIST set) can spend those steps on what is specific to the private source.
Public pretraining with DP fine-tuning is what worked best for DP diffusion on CIFAR-10 and
medical images (Ghalebikesabi et al. 2023). Measured here (docs/research/2026-12-02-image-public-pretraining.md): pretraining on
PneumoniaMNIST improved BreastMNIST's Frechet distance and recall but not its TSTR AUC, so
it is an option, not the default.

Privacy: the initial weights are a constant of this run. The guarantee covers the private
source only if the pretraining images are public (or their own owner accounted for them),
and none of them is one of this run's private training images: a model pretrained on the
private images themselves (the same file, a re-encoded copy, a subset) carries them into
the weights with no DP accounting. So a public model is one trained with ``public_source``
(``epsilon = inf``, the steward declaring its data public): its directory records a hash of
the canonical pixels of each image it trained on (``public_images.json``, hashes of public
images only). A run with ``init_from`` hashes its own training images the same way, in
memory, and refuses the model if any is in that set (``PretrainingDataOverlap``); a model
without the record is refused too. The private hashes are never written anywhere. The
certificate names the public model and lists its images as an assumption.

What the hash cannot see: an image changed in any pixel (a lossy re-encoding, another
resize, a crop) is another image to it.

Class semantics do not carry over from one source to another, so every class row of the
label embedding starts from the pretrained null-label row: each class begins as the
public model's unconditional denoiser, and fine-tuning separates them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from synthgen.artifacts import (
    CERTIFICATE,
    CONFIG,
    WEIGHTS,
    file_sha256,
    read_json,
    read_weights,
)
from synthgen.errors import ConfigurationError, ModelLoadError, PretrainingDataOverlap
from synthgen.images.config import MODEL_KEYS

# architecture keys that must match; the class count may differ
_SHAPE_KEYS = ("image_channels", "image_size", *MODEL_KEYS)
LABEL_EMBEDDING = "label_embedding.weight"
PUBLIC_IMAGES = "public_images.json"  # only in the directory of a model of PUBLIC images
DIGEST = "sha256 of b'synthgen-image-v1', the array's shape and its uint8 pixels (C order)"


def image_digest(image: np.ndarray) -> str:
    """Hash of one image's canonical pixels: the uint8 array at the model's size and
    channels, as the loaders return it, so any file format that decodes to the same pixels
    (npz, PNG, a copy in another folder) gives the same hash."""
    pixels = np.ascontiguousarray(image, dtype=np.uint8)
    h = hashlib.sha256(b"synthgen-image-v1\0")
    h.update(repr(tuple(pixels.shape)).encode() + b"\0")
    h.update(pixels.tobytes())
    return h.hexdigest()


def public_image_record(
    images: np.ndarray, *, source: Path, inherited: Iterable[str] = ()
) -> dict[str, Any]:
    """``public_images.json`` of a model trained on PUBLIC ``images`` (with ``inherited``,
    the hashes of the public model it started from: its weights saw those too)."""
    digests = sorted({image_digest(im) for im in images} | set(inherited))
    return {
        "source": source.name,
        "source_sha256": file_sha256(source),
        "digest": DIGEST,
        "images": digests,
    }


def read_public_images(model_dir: Path) -> set[str]:
    """The image hashes a public model records; a model without them is not public."""
    try:
        record = read_json(Path(model_dir) / PUBLIC_IMAGES)
        images = record["images"]
        if record.get("digest") != DIGEST or not isinstance(images, list):
            raise KeyError("digest")
    except (FileNotFoundError, ModelLoadError, KeyError, TypeError) as exc:
        raise ConfigurationError(
            f"init_from: {model_dir} is not a public model: it records no hashes of the "
            "images it was trained on. Train it with public_source (--public-source, "
            "--epsilon inf) on public images"
        ) from exc
    return set(images)


def initialise_from_pretrained(
    net: Any, model_dir: str | Path, *, training_images: np.ndarray
) -> dict[str, Any]:
    """Load ``model_dir``'s weights into ``net`` (a fresh UNet) and return their provenance,
    after checking that none of ``training_images`` (this run's private training split)
    is among the images the public model saw."""
    import torch

    d = Path(model_dir)
    try:
        config = read_json(d / CONFIG)
        certificate = read_json(d / CERTIFICATE)
    except (FileNotFoundError, ModelLoadError) as exc:
        raise ConfigurationError(f"init_from: {d} is not a synthgen model directory") from exc
    if config.get("modality") != "image":
        raise ConfigurationError(f"init_from: {d} is not an image model")
    public = read_public_images(d)
    if any(image_digest(im) in public for im in training_images):
        # neither which images nor how many: the message goes to logs and job events
        raise PretrainingDataOverlap(
            f"init_from: {d} was trained on images that are also in this run's training "
            "set; their privacy cost would not be accounted here - start from a model "
            "trained on public images only"
        )
    theirs, ours = config.get("model", {}), net.cfg.to_json_dict()
    different = [k for k in _SHAPE_KEYS if theirs.get(k) != ours[k]]
    if different:
        shown = ", ".join(f"{k} {theirs.get(k)} vs {ours[k]}" for k in different)
        raise ConfigurationError(f"init_from: {d} has another architecture ({shown})")
    try:
        state = read_weights(d / WEIGHTS)
    except ModelLoadError as exc:
        raise ConfigurationError(f"init_from: {exc}") from exc
    null_row = state.pop(LABEL_EMBEDDING)[-1]
    missing, unexpected = net.load_state_dict(state, strict=False)
    if set(missing) != {LABEL_EMBEDDING} or unexpected:
        raise ConfigurationError(f"init_from: {d / WEIGHTS} does not fit this network")
    with torch.no_grad():
        net.label_embedding.weight.copy_(null_row.expand_as(net.label_embedding.weight))
    record = read_json(d / PUBLIC_IMAGES)
    return {
        "model": d.name,
        "weights_sha256": file_sha256(d / WEIGHTS),
        "source": record.get("source", "?"),
        "source_sha256": record.get("source_sha256"),
        "public_images": len(public),
        "epsilon": certificate.get("epsilon"),
        "private": certificate.get("private"),
        "steps": certificate.get("steps"),
    }
